package io.yingji;

/**
 * The engine (or definitions) is in use by a call on another thread; nothing
 * was done. Use an engine from one thread at a time (or a lock), or retry.
 */
public class BusyException extends YingjiException {
    private static final long serialVersionUID = 1L;

    BusyException(String message) {
        super(11, "busy", null, null, "{}", "[]", message);
    }
}
