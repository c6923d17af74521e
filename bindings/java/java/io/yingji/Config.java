package io.yingji;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Run settings of an {@link Engine}: the flags of {@code yingji run}, under
 * the names every binding uses (those of {@code yingji run}'s flags). Unset
 * settings keep their defaults (lateness 5m, late "emit", max_ahead 1d,
 * idle_ttl off, dedupe_kind_key_ts false, max_line 1 MiB). Values are checked when an engine is made: a bad
 * one is a {@link ConfigException} naming it ({@link ConfigException#getField()}).
 *
 * <pre>{@code
 * Engine engine = new Engine(defs, new Config().lateness("10m").maxAhead("3d"));
 * }</pre>
 *
 * <p>A snapshot records the settings its state depends on: restoring it into
 * an engine with another lateness or dedupe_kind_key_ts is a
 * {@link StateException} (reason "config_mismatch").
 */
public final class Config {
    private final Map<String, String> members = new LinkedHashMap<>();

    /** The defaults. */
    public Config() {}

    private Config put(String name, String json) {
        members.put(name, json);
        return this;
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private static String millis(String name, Duration d) {
        if (d.isNegative()) {
            throw new ConfigException(12, "config", "bad_config", name,
                    "{\"reason\":\"bad_config\",\"field\":\"" + name + "\"}",
                    "setting `" + name + "`: " + d + " is negative");
        }
        if (d.getNano() % 1_000_000 != 0) {
            throw new ConfigException(12, "config", "bad_config", name,
                    "{\"reason\":\"bad_config\",\"field\":\"" + name + "\"}",
                    "setting `" + name + "`: " + d + " is not a whole number of milliseconds");
        }
        return quote(d.toMillis() + "ms");
    }

    /** Allowed lateness, a duration text ("30s", "5m", "2h", "1d"). */
    public Config lateness(String duration) {
        return put("lateness", duration == null ? "null" : quote(duration));
    }

    /** Allowed lateness. */
    public Config lateness(Duration duration) {
        return put("lateness", millis("lateness", duration));
    }

    /** "emit" a late output and leave the event out, or "apply" it flagged. */
    public Config late(String policy) {
        return put("late", policy == null ? "null" : quote(policy));
    }

    /** Refuse events further ahead of the stream's clock than this; "off" or null: no guard. */
    public Config maxAhead(String durationOrOff) {
        return put("max_ahead", durationOrOff == null ? "null" : quote(durationOrOff));
    }

    /** Refuse events further ahead of the stream's clock than this. */
    public Config maxAhead(Duration duration) {
        return put("max_ahead", millis("max_ahead", duration));
    }

    /** Forget keys silent for this long; null or "off": never. */
    public Config idleTtl(String duration) {
        return put("idle_ttl", duration == null ? "null" : quote(duration));
    }

    /** Forget keys silent for this long. */
    public Config idleTtl(Duration duration) {
        return put("idle_ttl", millis("idle_ttl", duration));
    }

    /** Also treat events with the same kind, key and time as duplicates (same id always are). */
    public Config dedupeKindKeyTs(boolean on) {
        return put("dedupe_kind_key_ts", Boolean.toString(on));
    }

    /** The longest event accepted, in bytes. */
    public Config maxLine(long bytes) {
        return put("max_line", Long.toString(bytes));
    }

    /** The settings as the JSON object the engine reads (only those set). */
    public String toJson() {
        StringBuilder b = new StringBuilder("{");
        for (Map.Entry<String, String> e : members.entrySet()) {
            if (b.length() > 1) {
                b.append(',');
            }
            b.append(quote(e.getKey())).append(':').append(e.getValue());
        }
        return b.append('}').toString();
    }

    @Override
    public String toString() {
        return "Config" + toJson();
    }
}
