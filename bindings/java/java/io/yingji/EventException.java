package io.yingji;

/**
 * An event the engine refused (code "event", or "malformed_json" for text
 * that is not a JSON object); nothing was applied. {@link #getReason()} says
 * which way ("missing_field", "wrong_type", "bad_timestamp", "not_json",
 * "too_far_ahead", "clock_suspect", "too_long", ...), {@link #getField()}
 * names the field where there is one.
 */
public class EventException extends YingjiException {
    private static final long serialVersionUID = 1L;

    EventException(int status, String code, String reason, String field, String detailJson,
            String message) {
        super(status, code, reason, field, detailJson, "[]", message);
    }
}
