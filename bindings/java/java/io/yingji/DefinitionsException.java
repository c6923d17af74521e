package io.yingji;

/** Definitions that did not compile; {@link #getDiagnosticsJson()} says why (file, line, column, code, hint). */
public class DefinitionsException extends YingjiException {
    private static final long serialVersionUID = 1L;

    DefinitionsException(int status, String code, String diagnosticsJson, String message) {
        super(status, code, null, null, "{}", diagnosticsJson, message);
    }
}
