package io.yingji;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * Compiled definitions (policies, plans, event kinds). The constructors
 * throw {@link DefinitionsException} (with the diagnostics) when the
 * definitions do not compile. Several threads may use one {@code
 * Definitions} at once; {@link #close()} while another thread uses it is a
 * {@link BusyException} (nothing is freed).
 */
public final class Definitions implements AutoCloseable {
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private long handle;

    private Definitions(long handle) {
        this.handle = handle;
    }

    private static Definitions checked(String result) {
        Definitions d = new Definitions(Long.parseUnsignedLong(Native.value(result)));
        try {
            d.warningsJson();
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        return d;
    }

    /** Loads one text named {@code name} (".yaml"/".yml" selects YAML, else the .yj language). */
    public static Definitions fromText(String name, String text) {
        return checked(Native.defsFromText(name, text));
    }

    /** Loads .yj / YAML files and folders (folders recursively). */
    public static Definitions fromPaths(String... paths) {
        StringBuilder b = new StringBuilder();
        for (String p : paths) {
            if (p == null || p.indexOf('\0') >= 0) {
                throw new YingjiException(1, "invalid_argument", null, null, "{}", "[]",
                        "a path is null or holds a NUL character");
            }
            b.append(p).append('\0');
        }
        return checked(Native.defsFromPaths(b.toString()));
    }

    interface Call<T> {
        T run(long handle);
    }

    <T> T read(Call<T> call) {
        if (!lock.readLock().tryLock()) {
            throw new BusyException("the definitions are being closed by another thread");
        }
        try {
            if (handle == 0) {
                throw new ClosedException("the definitions are closed");
            }
            return call.run(handle);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The warnings, a JSON array (often "[]"). */
    public String warningsJson() {
        return read(h -> Native.value(Native.defsCheck(h)));
    }

    /** Every diagnostic rendered for a terminal (rustc style), or "". */
    public String rendered() {
        return read(h -> Native.value(Native.defsRendered(h)));
    }

    /** {@code {"ok":true,"files":1,"event_kinds":[...],"signals":[...],"warnings":0,"errors":0}}. */
    public String summaryJson() {
        return read(h -> Native.value(Native.defsSummary(h)));
    }

    /** A new engine with the default settings. */
    public Engine engine() {
        return new Engine(this, null);
    }

    /** A new engine with these settings. */
    public Engine engine(Config config) {
        return new Engine(this, config);
    }

    /** Releases the definitions (engines made from them keep working); a second close does nothing. */
    @Override
    public void close() {
        if (!lock.writeLock().tryLock()) {
            throw new BusyException("the definitions are in use by another thread; nothing was freed");
        }
        try {
            if (handle != 0) {
                Native.value(Native.defsFree(handle));
                handle = 0;
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** The native library's version ("0.1.0"). */
    public static String version() {
        return Native.value(Native.version());
    }
}
