package io.yingji;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The native methods (libyingji_java.so) and the decoding of their results.
 *
 * <p>Every native method returns one string: {@code "O"} and the value, or
 * {@code "E"} and an error (status, code, reason, field, detail JSON,
 * diagnostics JSON and the message, one per line). Handles are numbers.
 */
final class Native {
    private Native() {}

    static {
        String path = System.getProperty("yingji.library");
        if (path != null && !path.isEmpty()) {
            System.load(path);
        } else {
            System.loadLibrary("yingji_java");
        }
    }

    static native String defsFromText(String name, String text);
    static native String defsFromPaths(String nulJoinedPaths);
    static native String defsCheck(long defs);
    static native String defsDiagnostics(long defs);
    static native String defsRendered(long defs);
    static native String defsSummary(long defs);
    static native String defsFree(long defs);
    static native String engineNew(long defs, String configJson);
    static native String enginePush(long engine, String event);
    static native String enginePushBatch(long engine, String batch);
    static native String engineFlush(long engine);
    static native String engineAdvanceTo(long engine, String ts);
    static native String engineFinish(long engine, String until);
    static native String engineClock(long engine);
    static native String engineLevel(long engine, String signal, String key);
    static native String engineEvents(long engine);
    static native String engineSnapshot(long engine);
    static native String engineRestore(long engine, String snapshot);
    static native String engineFree(long engine);
    static native String version();

    /** The value of a result, or its error thrown as the matching exception. */
    static String value(String result) {
        if (result == null) {
            throw new YingjiException(9, "internal", null, null, "{}", "[]",
                    "the native library returned nothing");
        }
        if (result.startsWith("O")) {
            return result.substring(1);
        }
        String[] f = result.substring(1).split("\n", 7);
        if (!result.startsWith("E") || f.length != 7) {
            throw new YingjiException(9, "internal", null, null, "{}", "[]",
                    "unreadable result from the native library: " + result);
        }
        int status;
        try {
            status = Integer.parseInt(f[0]);
        } catch (NumberFormatException e) {
            status = 9;
        }
        throw YingjiException.of(status, f[1], f[2].isEmpty() ? null : f[2],
                f[3].isEmpty() ? null : f[3], f[4], f[5], f[6]);
    }

    /** A result's value as lines (outputs: one JSON object per line). */
    static List<String> lines(String result) {
        String v = value(result);
        if (v.isEmpty()) {
            return Collections.emptyList();
        }
        List<String> out = new ArrayList<>();
        Collections.addAll(out, v.split("\n", -1));
        return Collections.unmodifiableList(out);
    }
}
