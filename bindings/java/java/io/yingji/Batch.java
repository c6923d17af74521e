package io.yingji;

import java.util.List;

/** What {@link Engine#pushBatch(String)} produced. */
public final class Batch {
    private final long accepted;
    private final List<String> rejected;
    private final List<String> outputs;

    Batch(long accepted, List<String> rejected, List<String> outputs) {
        this.accepted = accepted;
        this.rejected = rejected;
        this.outputs = outputs;
    }

    /** Events applied. */
    public long getAccepted() {
        return accepted;
    }

    /**
     * Events refused (each changed nothing), one JSON object each:
     * {@code {"event":N,"index":N,"code":"event","message":"...","detail":{"reason":...}}}.
     */
    public List<String> getRejected() {
        return rejected;
    }

    /** Outputs, one JSON object each, in order. */
    public List<String> getOutputs() {
        return outputs;
    }
}
