import io.yingji.Batch;
import io.yingji.BusyException;
import io.yingji.ClosedException;
import io.yingji.Config;
import io.yingji.ConfigException;
import io.yingji.DefinitionsException;
import io.yingji.Definitions;
import io.yingji.Engine;
import io.yingji.EventException;
import io.yingji.StateException;
import io.yingji.YingjiException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A JUnit-free test of the Java binding (bindings/java/test.sh runs it):
 * the rainstorm sample gives exactly `yingji run`'s outputs line by line,
 * as a batch and across a snapshot; every kind of bad setting, bad event and
 * misuse is the typed exception it should be.
 *
 * usage (from the repository root, so that outputs name policies/rainstorm.yj
 * as the CLI does): java -cp yingji.jar:. TestMain . EXPECTED_OUTPUTS_JSONL
 */
public final class TestMain {
    private static int checks = 0;
    private static int failures = 0;

    private static void check(boolean ok, String what) {
        checks++;
        if (!ok) {
            failures++;
            System.err.println("FAIL: " + what);
        }
    }

    interface Body {
        void run() throws Exception;
    }

    private static <T extends Throwable> T expect(Class<T> type, Body body, String what) {
        try {
            body.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) {
                checks++;
                return type.cast(t);
            }
            check(false, what + ": expected " + type.getSimpleName() + ", got " + t);
            return null;
        }
        check(false, what + ": expected " + type.getSimpleName() + ", nothing was thrown");
        return null;
    }

    static final String RAIN = "event rain { station: string, mm: number }\n"
            + "signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }";
    static final String A = "{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":12}";

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: TestMain REPO_ROOT EXPECTED_OUTPUTS_JSONL");
            System.exit(2);
        }
        Path root = Paths.get(args[0]);
        List<String> expected = nonBlank(Files.readAllLines(Paths.get(args[1]), StandardCharsets.UTF_8));
        String sample = new String(Files.readAllBytes(root.resolve("samples/rain.jsonl")), StandardCharsets.UTF_8);
        List<String> lines = Files.readAllLines(root.resolve("samples/rain.jsonl"), StandardCharsets.UTF_8);
        check(expected.size() > 10, "the CLI printed " + expected.size() + " outputs");
        System.out.println("yingji " + Definitions.version());

        try (Definitions defs = Definitions.fromPaths(root.equals(Paths.get(".")) ? "policies/rainstorm.yj"
                : root.resolve("policies/rainstorm.yj").toString())) {
            check(defs.summaryJson().contains("\"signals\":[\"暴雨预警\"]"), "summary: " + defs.summaryJson());
            sampleLineByLine(defs, lines, expected);
            sampleBatch(defs, sample, expected);
            snapshotRestore(defs, lines, expected);
            threads(defs, lines, sample, expected);
        }
        badConfig();
        configTakesEffect();
        badEvents();
        badDefinitions();
        clockAndClose();
        System.out.println(checks + " checks, " + failures + " failed");
        System.exit(failures == 0 ? 0 : 1);
    }

    static List<String> nonBlank(List<String> in) {
        List<String> out = new ArrayList<>();
        for (String s : in) {
            if (!s.trim().isEmpty()) {
                out.add(s);
            }
        }
        return out;
    }

    static void sampleLineByLine(Definitions defs, List<String> lines, List<String> expected) {
        List<String> got = new ArrayList<>();
        try (Engine engine = defs.engine()) {
            for (String line : lines) {
                got.addAll(engine.push(line));
            }
            got.addAll(engine.flush());
            check(engine.events() == lines.size(), "events " + engine.events() + " vs " + lines.size());
        }
        check(got.equals(expected), "line by line: " + got.size() + " outputs vs the CLI's " + expected.size());
        System.out.println("line by line: " + got.size() + " outputs, identical to the CLI's: " + got.equals(expected));
    }

    static void sampleBatch(Definitions defs, String sample, List<String> expected) {
        try (Engine engine = new Engine(defs, new Config())) {
            Batch b = engine.pushBatch(sample);
            List<String> got = new ArrayList<>(b.getOutputs());
            got.addAll(engine.flush());
            check(b.getRejected().isEmpty(), "rejected: " + b.getRejected());
            check(got.equals(expected), "batch: outputs differ from the CLI's");
            System.out.println("batch + flush: " + b.getAccepted() + " accepted, identical: " + got.equals(expected));
        }
    }

    static void snapshotRestore(Definitions defs, List<String> lines, List<String> expected) {
        int half = lines.size() / 3;
        List<String> got = new ArrayList<>();
        String snapshot;
        try (Engine first = defs.engine()) {
            for (String line : lines.subList(0, half)) {
                got.addAll(first.push(line));
            }
            snapshot = first.snapshot();
        }
        check(snapshot.contains("\"format\":\"yingji-state\""), "snapshot");
        try (Engine second = defs.engine(new Config().maxAhead("7d"))) {
            String report = second.restore(snapshot);
            check(report.contains("\"reset\":[]"), "restore report " + report);
            for (String line : lines.subList(half, lines.size())) {
                got.addAll(second.push(line));
            }
            got.addAll(second.flush());
        }
        check(got.equals(expected), "across a snapshot: outputs differ from the CLI's");
        System.out.println("snapshot after " + half + " events, restored: identical " + got.equals(expected));
        // another lateness: the state was made for 5m
        try (Engine other = defs.engine(new Config().lateness("10m"))) {
            StateException e = expect(StateException.class, () -> other.restore(snapshot), "restore with lateness 10m");
            if (e != null) {
                check("config_mismatch".equals(e.getReason()) && "lateness".equals(e.getField()),
                        "mismatch reason/field: " + e.getReason() + " " + e.getField());
                check(e.getMessage().contains("lateness"), e.getMessage());
            }
            check(other.events() == 0, "unchanged after a refused restore");
            expect(StateException.class, () -> other.restore("{\"format\":\"yingji-state\",\"version\":99}"),
                    "restore of another version");
            expect(EventException.class, () -> other.restore("{"), "restore of text that is not JSON");
        }
    }

    static void threads(Definitions defs, List<String> lines, String sample, List<String> expected)
            throws InterruptedException {
        // one engine per thread, one Definitions shared: each gives the CLI's outputs
        List<Thread> ts = new ArrayList<>();
        AtomicInteger same = new AtomicInteger();
        AtomicReference<Throwable> error = new AtomicReference<>();
        for (int i = 0; i < 4; i++) {
            Thread t = new Thread(() -> {
                try (Engine e = defs.engine()) {
                    List<String> got = new ArrayList<>();
                    for (String line : lines) {
                        got.addAll(e.push(line));
                    }
                    got.addAll(e.flush());
                    if (got.equals(expected)) {
                        same.incrementAndGet();
                    }
                } catch (Throwable t2) {
                    error.set(t2);
                }
            });
            ts.add(t);
            t.start();
        }
        for (Thread t : ts) {
            t.join();
        }
        check(error.get() == null, "thread error: " + error.get());
        check(same.get() == 4, "threads with the CLI's outputs: " + same.get() + " of 4");

        // one engine hammered by two threads: the second call is refused, never corrupting
        AtomicInteger busy = new AtomicInteger();
        AtomicInteger pushed = new AtomicInteger();
        AtomicReference<Throwable> wrong = new AtomicReference<>();
        try (Engine shared = defs.engine(new Config().maxAhead("off"))) {
            Thread batcher = new Thread(() -> {
                long until = System.nanoTime() + 10_000_000_000L;
                while (busy.get() == 0 && System.nanoTime() < until) {
                    try {
                        shared.pushBatch(sample);
                        pushed.addAndGet(lines.size());
                    } catch (BusyException e) {
                        busy.incrementAndGet();
                    } catch (Throwable t2) {
                        wrong.set(t2);
                        return;
                    }
                }
            });
            batcher.start();
            while (batcher.isAlive()) {
                try {
                    shared.level("暴雨预警", "YY-004");
                    shared.push(lines.get(0));
                    pushed.incrementAndGet();
                } catch (BusyException e) {
                    busy.incrementAndGet();
                } catch (Throwable t2) {
                    wrong.set(t2);
                }
            }
            batcher.join();
            check(wrong.get() == null, "unexpected error with two threads: " + wrong.get());
            check(busy.get() > 0, "no BusyException in 10 s of overlapping calls");
            check(shared.events() == pushed.get(), "events " + shared.events() + " vs pushed " + pushed.get());
            System.out.println("threads: 4 engines identical; one engine, two threads: " + busy.get()
                    + " BusyException(s), " + pushed.get() + " events counted exactly");
        }
    }

    static void badConfig() {
        try (Definitions defs = Definitions.fromText("rain.yj", RAIN)) {
            Object[][] bad = {
                {new Config().lateness("5 minutes"), "lateness"},
                {new Config().lateness((String) null), "lateness"},
                {new Config().late("drop"), "late"},
                {new Config().maxAhead("never"), "max_ahead"},
                {new Config().idleTtl("0s"), "idle_ttl"},
                {new Config().idleTtl("10m"), "idle_ttl"}, // shorter than the 1 h window
                {new Config().maxLine(0), "max_line"},
                {new Config().maxLine(-5), "max_line"},
            };
            for (Object[] c : bad) {
                Config config = (Config) c[0];
                String field = (String) c[1];
                ConfigException e = expect(ConfigException.class, () -> new Engine(defs, config), config.toString());
                if (e != null) {
                    check(field.equals(e.getField()), config + ": field " + e.getField());
                    check("bad_config".equals(e.getReason()), config + ": reason " + e.getReason());
                    check(e.getMessage().contains("`" + field + "`"), e.getMessage());
                    check(e.getStatus() == 12 && "config".equals(e.getCode()), "code " + e.getCode());
                }
            }
            ConfigException e = expect(ConfigException.class, () -> new Config().lateness(Duration.ofMinutes(-1)),
                    "negative Duration");
            check(e != null && "lateness".equals(e.getField()), "negative Duration field");
            e = expect(ConfigException.class, () -> new Config().maxAhead(Duration.ofNanos(5)), "nanoseconds");
            check(e != null && "max_ahead".equals(e.getField()), "nanosecond Duration field");
            try (Engine ok = new Engine(defs, new Config().dedupeKindKeyTs(true).idleTtl("off").late("apply"))) {
                check(ok.events() == 0, "good settings");
            }
            System.out.println("bad config: every kind refused, naming the field");
        }
    }

    static void configTakesEffect() {
        String b = "{\"ts\":\"2024-08-01T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"B\",\"mm\":0}";
        try (Definitions defs = Definitions.fromText("rain.yj", RAIN)) {
            try (Engine e = defs.engine()) {
                e.push(A);
                EventException x = expect(EventException.class, () -> e.push(b), "a 3-day gap with the 1-day guard");
                check(x != null && "clock_suspect".equals(x.getReason()), "reason " + (x == null ? null : x.getReason()));
            }
            try (Engine e = defs.engine(new Config().maxAhead("off").lateness(Duration.ofMinutes(1)))) {
                e.push(A);
                e.push(b);
                List<String> out = e.flush();
                check(out.size() == 1 && out.get(0).contains("\"to\":\"red\""), "after the gap: " + out);
            }
        }
    }

    static void badEvents() {
        try (Definitions defs = Definitions.fromText("rain.yj", RAIN); Engine e = defs.engine(new Config().maxLine(200))) {
            String[][] cases = {
                {"{oops", "malformed_json", "not_json", null},
                {"{\"kind\":\"rain\",\"station\":\"A\",\"mm\":1}", "event", "missing_member", null},
                {"{\"ts\":\"soon\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":1}", "event", "bad_timestamp", null},
                {"{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":\"x\"}", "event", "wrong_type", "mm"},
                {"{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\"}", "event", "missing_field", "mm"},
                {"{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"" + "x".repeat(300) + "\",\"mm\":1}",
                    "event", "too_long", null},
            };
            for (String[] c : cases) {
                EventException x = expect(EventException.class, () -> e.push(c[0]), c[0]);
                if (x != null) {
                    check(c[1].equals(x.getCode()), c[0] + ": code " + x.getCode());
                    check(c[2].equals(x.getReason()), c[0] + ": reason " + x.getReason() + " (" + x.getMessage() + ")");
                    check(c[3] == null || c[3].equals(x.getField()), c[0] + ": field " + x.getField());
                }
            }
            check(e.events() == cases.length, "refused events are numbered: " + e.events());
            Batch b = e.pushBatch(A + "\n{oops\n");
            check(b.getAccepted() == 1 && b.getRejected().size() == 1
                    && b.getRejected().get(0).contains("\"reason\":\"not_json\""), "batch rejected: " + b.getRejected());
            expect(EventException.class, () -> e.pushBatch("[{\"ts\":"), "an array batch that is not JSON");
            expect(YingjiException.class, () -> e.push(null), "a null event");
            System.out.println("bad events: codes and reasons as expected");
        }
    }

    static void badDefinitions() {
        DefinitionsException d = expect(DefinitionsException.class,
                () -> Definitions.fromText("bad.yj", "event rain { mm: numbr }"), "bad definitions");
        check(d != null && d.getDiagnosticsJson().contains("\"code\":\"E0105\"")
                && d.getDiagnosticsJson().contains("\"file\":\"bad.yj\""), "diagnostics " + (d == null ? null : d.getDiagnosticsJson()));
        check(d != null && "definitions".equals(d.getCode()) && d.getStatus() == 4, "definitions code");
        d = expect(DefinitionsException.class, () -> Definitions.fromPaths("/no/such/folder"), "a missing path");
        check(d != null && d.getDiagnosticsJson().contains("E0004"), "missing path diagnostics");
    }

    static void clockAndClose() {
        String silent = "event rain { station: string, mm: number }\nsignal 失联 { from rain key station missing 30m }";
        try (Definitions defs = Definitions.fromText("silent.yj", silent)) {
            Engine e = defs.engine();
            check(e.clock() == null, "no clock before the first event");
            e.push("{\"ts\":\"2024-07-29T01:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":0}");
            List<String> out = e.advanceTo(OffsetDateTime.of(2024, 7, 29, 2, 0, 0, 0, ZoneOffset.ofHours(8)));
            check(out.size() == 1 && out.get(0).contains("\"type\":\"absence\"") && out.get(0).contains("\"id\":1"),
                    "absence with an id: " + out);
            check("2024-07-29T02:00:00+08:00".equals(e.clock()), "clock " + e.clock());
            YingjiException x = expect(YingjiException.class, () -> e.advanceTo("tomorrow"), "a bad time");
            check(x != null && "invalid_argument".equals(x.getCode()) && x.getMessage().contains("`tomorrow`"),
                    "bad time: " + (x == null ? null : x.getMessage()));
            expect(YingjiException.class, () -> e.finish("2024-07-29T00:00:00+08:00"), "finish before the clock");
            check(e.finish("2024-07-29T03:00:00+08:00").isEmpty(), "nothing more due");
            e.close();
            e.close(); // a second close does nothing
            expect(ClosedException.class, () -> e.push("{}"), "push after close");
            Engine kept = defs.engine();
            defs.close();
            check(kept.events() == 0, "an engine outlives its definitions");
            kept.close();
            expect(ClosedException.class, defs::engine, "engine() after close");
        }
    }
}
