package io.yingji;

/**
 * Every failure of yingji: a stable {@link #getCode() code} ("definitions",
 * "event", "malformed_json", "invalid_argument", "state", "busy", ...), the
 * same as a number ({@link #getStatus()}, as {@code YJ_ERR_*} in the C
 * header), a {@link #getReason() reason} refining it (for event errors
 * "missing_field", "wrong_type", "bad_timestamp", "not_json",
 * "too_far_ahead", "clock_suspect", "too_long", ...; "bad_config",
 * "config_mismatch"), and the structured detail as JSON.
 *
 * <p>Subclasses by kind: {@link DefinitionsException},
 * {@link EventException}, {@link ConfigException}, {@link StateException},
 * {@link BusyException}, {@link ClosedException}.
 */
public class YingjiException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String code;
    private final String reason;
    private final String field;
    private final String detailJson;
    private final String diagnosticsJson;

    YingjiException(int status, String code, String reason, String field, String detailJson,
            String diagnosticsJson, String message) {
        super(message);
        this.status = status;
        this.code = code;
        this.reason = reason;
        this.field = field;
        this.detailJson = detailJson;
        this.diagnosticsJson = diagnosticsJson;
    }

    static YingjiException of(int status, String code, String reason, String field,
            String detailJson, String diagnosticsJson, String message) {
        if ("config".equals(code) || "bad_config".equals(reason)) {
            return new ConfigException(status, code, reason, field, detailJson, message);
        }
        switch (code) {
            case "definitions":
                return new DefinitionsException(status, code, diagnosticsJson, message);
            case "event":
            case "malformed_json":
                return new EventException(status, code, reason, field, detailJson, message);
            case "state":
                return new StateException(status, code, reason, field, detailJson, message);
            case "busy":
                return new BusyException(message);
            case "bad_handle":
                return new ClosedException(message);
            default:
                return new YingjiException(status, code, reason, field, detailJson, diagnosticsJson,
                        message);
        }
    }

    /** The stable code name ("event", "definitions", ...). */
    public String getCode() {
        return code;
    }

    /** The code as a number (as YJ_ERR_* in the C header). */
    public int getStatus() {
        return status;
    }

    /** The reason refining the code ("missing_field", "bad_config", ...), or null. */
    public String getReason() {
        return reason;
    }

    /** The field or setting the error names ("mm", "lateness", ...), or null. */
    public String getField() {
        return field;
    }

    /** The structured detail as a JSON object ("{}" when there is none). */
    public String getDetailJson() {
        return detailJson;
    }

    /** Diagnostics as a JSON array ("[]" unless definitions did not compile). */
    public String getDiagnosticsJson() {
        return diagnosticsJson;
    }
}
