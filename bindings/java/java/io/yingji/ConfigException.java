package io.yingji;

/** A run setting the engine cannot use (reason "bad_config"); {@link #getField()} names it. */
public class ConfigException extends YingjiException {
    private static final long serialVersionUID = 1L;

    ConfigException(int status, String code, String reason, String field, String detailJson,
            String message) {
        super(status, code, reason, field, detailJson, "[]", message);
    }
}
