package io.yingji;

/**
 * A snapshot that cannot be restored (not a yingji state document, another
 * format version, or — reason "config_mismatch" — taken by an engine with
 * another lateness or dedupe setting); the engine is unchanged.
 */
public class StateException extends YingjiException {
    private static final long serialVersionUID = 1L;

    StateException(int status, String code, String reason, String field, String detailJson,
            String message) {
        super(status, code, reason, field, detailJson, "[]", message);
    }
}
