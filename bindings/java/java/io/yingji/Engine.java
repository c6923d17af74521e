package io.yingji;

import java.time.OffsetDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A running engine over {@link Definitions}. Events are JSON objects (one
 * JSONL line each); outputs are JSON objects, one string each, exactly as
 * {@code yingji run} writes them (with their {@code id} and the
 * {@code event} number that caused them: every event pushed, accepted or
 * refused, takes the next number from 1).
 *
 * <p>The engine holds events back for the allowed lateness, so outputs may
 * come with later events; {@link #flush()} releases the rest at the end of
 * a stream, {@link #advanceTo(String)} moves the clock while the feed is
 * quiet. Use from one thread at a time: a call while another thread's call
 * on this engine runs throws {@link BusyException} and does nothing.
 */
public final class Engine implements AutoCloseable {
    private final ReentrantLock lock = new ReentrantLock();
    private long handle;

    /** A new engine with the default settings. */
    public Engine(Definitions defs) {
        this(defs, null);
    }

    /** A new engine with these settings ({@link ConfigException} for a bad one). */
    public Engine(Definitions defs, Config config) {
        String json = config == null ? null : config.toJson();
        this.handle = defs.read(h -> Long.parseUnsignedLong(Native.value(Native.engineNew(h, json))));
    }

    private interface Call<T> {
        T run(long handle);
    }

    private <T> T call(Call<T> call) {
        if (!lock.tryLock()) {
            throw new BusyException("the engine is in use by another call (another thread); nothing was done: "
                    + "use an engine from one thread at a time");
        }
        try {
            if (handle == 0) {
                throw new ClosedException("the engine is closed");
            }
            return call.run(handle);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Applies one event and returns its outputs (often none). A refused event
     * changes nothing: {@link EventException} with a code and a reason.
     */
    public List<String> push(String eventJson) {
        return call(h -> Native.lines(Native.enginePush(h, eventJson)));
    }

    /**
     * Applies a batch: JSONL (one event per line; blank lines skipped but
     * numbered) or a JSON array of events. Refused events are listed, not
     * thrown; only an array that is not JSON fails as a whole.
     */
    public Batch pushBatch(String batch) {
        return call(h -> {
            List<String> lines = Native.lines(Native.enginePushBatch(h, batch));
            long accepted = Long.parseLong(lines.get(0));
            int rejected = Integer.parseInt(lines.get(1));
            return new Batch(accepted,
                    Collections.unmodifiableList(lines.subList(2, 2 + rejected)),
                    Collections.unmodifiableList(lines.subList(2 + rejected, lines.size())));
        });
    }

    /** End of stream: the outputs of every event held back for lateness. */
    public List<String> flush() {
        return call(h -> Native.lines(Native.engineFlush(h)));
    }

    /**
     * Moves the clock to {@code ts} (RFC 3339 with an offset) as if an empty
     * event stamped {@code ts} had arrived; returns what that releases. A time
     * at or before the clock changes nothing.
     */
    public List<String> advanceTo(String ts) {
        return call(h -> Native.lines(Native.engineAdvanceTo(h, ts)));
    }

    /** {@link #advanceTo(String)} with a java.time value. */
    public List<String> advanceTo(OffsetDateTime ts) {
        return advanceTo(ts.format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
    }

    /** End of input: releases every event held back (as {@link #flush()}). */
    public List<String> finish() {
        return call(h -> Native.lines(Native.engineFinish(h, null)));
    }

    /** End of input, then runs the clock to {@code until} so that timers due by then fire. */
    public List<String> finish(String until) {
        return call(h -> Native.lines(Native.engineFinish(h, until)));
    }

    /** The stream's clock as RFC 3339 text, or null before the first event. */
    public String clock() {
        String c = call(h -> Native.value(Native.engineClock(h)));
        return c.isEmpty() ? null : c;
    }

    /** The current level of {@code key} in {@code signal}: "none", "blue", ... "red". */
    public String level(String signal, String key) {
        return call(h -> Native.value(Native.engineLevel(h, signal, key)));
    }

    /** How many events have been pushed (accepted or refused). */
    public long events() {
        return call(h -> Long.parseLong(Native.value(Native.engineEvents(h))));
    }

    /** The complete state as a JSON document (as {@code yingji run --state} writes it). */
    public String snapshot() {
        return call(h -> Native.value(Native.engineSnapshot(h)));
    }

    /**
     * Replaces the state with a snapshot; returns {@code {"kept":[...],"reset":[...]}}.
     * {@link StateException} for a document that is not a usable snapshot (or
     * one taken with another lateness or dedupe); the engine is then unchanged.
     */
    public String restore(String snapshot) {
        return call(h -> Native.value(Native.engineRestore(h, snapshot)));
    }

    /** Releases the engine; a second close does nothing; in use: {@link BusyException}. */
    @Override
    public void close() {
        if (!lock.tryLock()) {
            throw new BusyException("the engine is in use by another thread; nothing was freed");
        }
        try {
            if (handle != 0) {
                Native.value(Native.engineFree(handle));
                handle = 0;
            }
        } finally {
            lock.unlock();
        }
    }
}
