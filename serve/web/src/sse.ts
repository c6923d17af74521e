// Server-sent events over fetch: the page sets Last-Event-ID itself on every
// new connection and reconnects with backoff (EventSource gives up on an
// error status and does not back off).

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

/** An incremental text/event-stream parser (WHATWG rules for the fields the service sends). */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  private hasId = false;

  /** Feed a chunk of text; returns the events completed by it. */
  feed(chunk: string): SseEvent[] {
    this.buf += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // a lone \r at the end may be the first half of \r\n
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length > 0) {
          out.push({ id: this.hasId ? this.id : null, event: this.event || 'message', data: this.data.join('\n') });
        }
        this.data = [];
        this.event = '';
        this.hasId = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) { this.id = value; this.hasId = true; }
    }
    return out;
  }
}

/** The delay before reconnect attempt `n` (0-based): 0.5 s doubling to 10 s. */
export function backoff(n: number): number {
  return Math.min(10_000, 500 * 2 ** Math.min(n, 5));
}

export interface StreamHandlers {
  /** the id to resume from (Last-Event-ID), or null */
  lastEventId(): string | null;
  onOpen(reconnect: boolean): void;
  onEvent(e: SseEvent): void;
  onDown(attempt: number, delayMs: number, why: string): void;
}

/** Follow an SSE URL until `stop()` is called, reconnecting with backoff. */
export function follow(url: string, h: StreamHandlers): { stop(): void } {
  let stopped = false;
  let ctl: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let attempt = 0;
  let opened = false;

  const run = async (): Promise<void> => {
    if (stopped) return;
    ctl = new AbortController();
    let why = '';
    try {
      const headers: Record<string, string> = { Accept: 'text/event-stream' };
      const last = h.lastEventId();
      if (last) headers['Last-Event-ID'] = last;
      const res = await fetch(url, { headers, signal: ctl.signal, cache: 'no-store' });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      h.onOpen(opened);
      opened = true;
      attempt = 0;
      const parser = new SseParser();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const ev of parser.feed(value)) h.onEvent(ev);
      }
      why = '连接已关闭';
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    if (stopped) return;
    const delay = backoff(attempt);
    h.onDown(attempt, delay, why);
    attempt += 1;
    timer = setTimeout(() => void run(), delay);
  };
  void run();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      ctl?.abort();
    },
  };
}
