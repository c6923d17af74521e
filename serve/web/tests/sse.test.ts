import { describe, expect, it } from 'vitest';
import { backoff, SseParser } from '../src/sse';

describe('the SSE parser', () => {
  it('reads events split anywhere, with ids, names, comments and multi-line data', () => {
    const text = ': keep-alive\n\nid: 7\nevent: output\ndata: {"seq":7}\n\nevent: view\r\ndata: a\r\ndata: b\r\n\r\nevent: resync\ndata: {}\n\n';
    for (const size of [1, 2, 3, 7, text.length]) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < text.length; i += size) got.push(...p.feed(text.slice(i, i + size)));
      expect(got).toEqual([
        { id: '7', event: 'output', data: '{"seq":7}' },
        { id: null, event: 'view', data: 'a\nb' },
        { id: null, event: 'resync', data: '{}' },
      ]);
    }
  });
  it('an event without data is not dispatched; an unfinished one waits', () => {
    const p = new SseParser();
    expect(p.feed('event: x\n\n')).toEqual([]);
    expect(p.feed('data: 1\n')).toEqual([]);
    expect(p.feed('\n')).toEqual([{ id: null, event: 'message', data: '1' }]);
  });
});

describe('reconnect backoff', () => {
  it('doubles from 0.5 s and stops at 10 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 20].map(backoff)).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
  });
});
