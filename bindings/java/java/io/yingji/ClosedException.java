package io.yingji;

/** An engine or definitions used after {@code close()}. */
public class ClosedException extends YingjiException {
    private static final long serialVersionUID = 1L;

    ClosedException(String message) {
        super(7, "bad_handle", null, null, "{}", "[]", message);
    }
}
