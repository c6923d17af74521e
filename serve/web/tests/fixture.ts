import type { View } from '../src/types';

/** A small view as the service sends it. */
export function view(): View {
  return {
    boot: 'b1', seq: 10, clock: '2024-07-28T03:00:00+08:00', updated: '2024-07-28T03:00:00+08:00',
    townships: [
      { code: '500235128', name: '南溪镇', level: 'yellow', signals: [{ signal: '暴雨预警', key: 'YY-003', level: 'yellow', since: '2024-07-28T02:00:00+08:00' }], tile: { row: 3, col: 5 } },
      { code: '500235131', name: '江口镇', level: 'none', signals: [], tile: { row: 2, col: 4 } },
      { code: '500235105', name: '龙角镇', level: 'none', signals: [], tile: null },
    ],
    stations: [
      { id: 'YY-003', township: '500235128', absent: false, last: '2024-07-28T03:00:00+08:00' },
      { id: 'YY-004', township: '500235131', absent: false, last: '2024-07-28T03:00:00+08:00' },
    ],
    calls: [{
      ref: 'r1', instance: 'i1', plan: '暴雨预案', chain: '镇级叫应', tier: 1, step: '叫应',
      people: [{ id: 'p1', name: '张三', channels: ['sms', 'voice'], called: '2024-07-28T02:05:00+08:00', answered: null, response_s: null }],
      deadline: '2024-07-28T02:15:00+08:00', overdue: false, escalations: [],
    }],
    plans: [{
      instance: 'i1', plan: '暴雨预案', area: '500235128', started: '2024-07-28T02:00:00+08:00', step: '叫应', response: null, measures: [],
      graph: { nodes: [{ id: '叫应', label: '叫应', kind: 'call' }, { id: '响应', label: '响应', kind: 'respond' }], edges: [{ from: '叫应', to: '响应', label: '应答' }] },
    }],
    timeline: [{ seq: 10, ts: '2024-07-28T02:05:00+08:00', type: 'notify', township: '500235128', signal: null, text: '呼叫 张三', output: { type: 'notify' } }],
  };
}
