import { describe, expect, it } from 'vitest';
import { applyEntry, applyTick, durationSeconds, fromView, rebase, TIMELINE_MAX } from '../src/state';
import type { Entry } from '../src/types';
import { view } from './fixture';

const entry = (seq: number, type: string, output: Record<string, unknown>, extra: Partial<Entry> = {}): Entry =>
  ({ seq, ts: String(output['ts'] ?? '2024-07-28T03:10:00+08:00'), type, township: null, signal: null, text: `${type} text`, output: { type, ...output }, ...extra });

describe('view normalisation', () => {
  it('fills missing lists and drops junk items', () => {
    const s = fromView({ boot: 'x', seq: 3, townships: [null, { code: '1', name: 'a', level: 'red' }], calls: 'no' });
    expect(s.view.townships).toHaveLength(1);
    expect(s.view.townships[0]!.signals).toEqual([]);
    expect(s.view.calls).toEqual([]);
    expect(s.view.timeline).toEqual([]);
    expect(fromView(null).view.seq).toBe(0);
  });
});

describe('the reducer (view + stream outputs)', () => {
  it('a level_changed to red turns the township red; its clear brings back the other signals', () => {
    let s = fromView(view());
    s = applyEntry(s, entry(11, 'level_changed', { signal: '暴雨预警', key: 'YY-003b', from: 'none', to: 'red' }, { township: '500235128', signal: '暴雨预警' })).state;
    const t = () => s.view.townships.find((x) => x.code === '500235128')!;
    expect(t().level).toBe('red');
    expect(t().signals).toHaveLength(2);
    s = applyEntry(s, entry(12, 'level_changed', { signal: '暴雨预警', key: 'YY-003b', from: 'red', to: 'none' }, { township: '500235128', signal: '暴雨预警' })).state;
    expect(t().level).toBe('yellow');
    expect(s.view.seq).toBe(12);
    expect(s.view.timeline.map((e) => e.seq)).toEqual([10, 11, 12]);
  });

  it('a level change of a key in no township (a catchment) goes to other_signals, without a refetch', () => {
    let r = applyEntry(fromView(view()), entry(11, 'level_changed', { signal: '流域面雨量预警', key: '磨刀溪流域', to: 'orange' }, { signal: '流域面雨量预警' }));
    expect(r.refetch).toBe(false);
    expect(r.state.view.other_signals).toEqual([{ signal: '流域面雨量预警', key: '磨刀溪流域', level: 'orange', since: '2024-07-28T03:10:00+08:00' }]);
    r = applyEntry(r.state, entry(12, 'level_changed', { signal: '流域面雨量预警', key: '磨刀溪流域', to: 'none' }, { signal: '流域面雨量预警' }));
    expect(r.state.view.other_signals).toEqual([]);
  });

  it('an output already seen (seq not above the state) changes nothing', () => {
    const s0 = fromView(view());
    const r = applyEntry(s0, entry(10, 'level_changed', { signal: '暴雨预警', key: 'YY-003', to: 'red' }, { township: '500235128' }));
    expect(r.state).toBe(s0);
    expect(r.refetch).toBe(false);
  });

  it('a gap in seq asks for the view', () => {
    const r = applyEntry(fromView(view()), entry(13, 'measure', { instance: 'i1', measure: 'm' }));
    expect(r.refetch).toBe(true);
  });

  it('notify, acked and escalated fill the 叫应 board', () => {
    let s = fromView(view());
    s = applyEntry(s, entry(11, 'notify', { ref: 'r1', instance: 'i1', chain: '镇级叫应', tier: 1, person: 'p2', name: '李四', channels: ['voice'], step: '叫应' })).state;
    expect(s.view.calls[0]!.people.map((p) => p.id)).toEqual(['p1', 'p2']);
    s = applyEntry(s, entry(12, 'acked', { ref: 'r1', person: 'p1', instance: 'i1', tier: 1, after: '1m12s', step: '叫应' })).state;
    const p1 = s.view.calls[0]!.people.find((p) => p.id === 'p1')!;
    expect(p1.answered).toBe('2024-07-28T03:10:00+08:00');
    expect(p1.response_s).toBe(72);
    s = applyEntry(s, entry(13, 'escalated', { instance: 'i1', chain: '镇级叫应', from_tier: 1, to_tier: 2, step: '叫应' })).state;
    expect(s.view.calls[0]!.overdue).toBe(true);
    expect(s.view.calls[0]!.escalations).toEqual([{ from_tier: 1, to_tier: 2, ts: '2024-07-28T03:10:00+08:00' }]);
    s = applyEntry(s, entry(14, 'notify', { ref: 'r2', instance: 'i1', plan: '暴雨预案', chain: '镇级叫应', tier: 2, person: 'p9', name: '王五', channels: ['voice'], deadline: null, step: '叫应' })).state;
    expect(s.view.calls.map((c) => [c.ref, c.tier])).toEqual([['r1', 1], ['r2', 2]]);
  });

  it('an ack for a call the page does not have asks for the view', () => {
    expect(applyEntry(fromView(view()), entry(11, 'acked', { ref: 'nope', person: 'p1' })).refetch).toBe(true);
  });

  it('response_declared, measure and the step move the plan; plan_closed removes it and its calls', () => {
    let s = fromView(view());
    s = applyEntry(s, entry(11, 'response_declared', { instance: 'i1', level: 'II', step: '响应' })).state;
    expect(s.view.plans[0]!.response).toBe('Ⅱ级');
    expect(s.view.plans[0]!.step).toBe('响应');
    s = applyEntry(s, entry(12, 'measure', { instance: 'i1', measure: '转移群众', target: '南溪镇', step: '响应' }, { text: '07-28 03:10  南溪镇 【防汛】措施 转移群众 @ 南溪镇' })).state;
    expect(s.view.plans[0]!.measures).toEqual([{ measure: '转移群众', ts: '2024-07-28T03:10:00+08:00', text: '转移群众 @ 南溪镇' }]);
    s = applyEntry(s, entry(13, 'plan_closed', { instance: 'i1', step: '结束' })).state;
    expect(s.view.plans).toEqual([]);
    expect(s.view.calls).toEqual([]);
  });

  it('plan_started adds the plan and asks for the view (the flowchart comes with it)', () => {
    const r = applyEntry(fromView(view()), entry(11, 'plan_started', { instance: 'i2', plan: '地灾预案', area: '500235131', step: '启动' }));
    expect(r.refetch).toBe(true);
    expect(r.state.view.plans.map((p) => p.instance)).toEqual(['i1', 'i2']);
  });

  it('absence and recovered mark the station', () => {
    let s = fromView(view());
    s = applyEntry(s, entry(11, 'absence', { signal: '无数据', key: 'YY-004', last_seen: '2024-07-28T01:00:00+08:00', missing: '2h' })).state;
    expect(s.view.stations.find((x) => x.id === 'YY-004')!.absent).toBe(true);
    s = applyEntry(s, entry(12, 'recovered', { signal: '无数据', key: 'YY-004', last_seen: '2024-07-28T03:10:00+08:00' })).state;
    expect(s.view.stations.find((x) => x.id === 'YY-004')!.absent).toBe(false);
  });

  it('an unknown output type goes to the timeline and is remembered, nothing else changes', () => {
    const s0 = fromView(view());
    const s = applyEntry(s0, entry(11, 'flood_gate', { gate: 'G1', open: true })).state;
    expect(s.unknownTypes).toEqual(['flood_gate']);
    expect(s.view.timeline.at(-1)!.type).toBe('flood_gate');
    expect(s.view.townships).toEqual(s0.view.townships);
    expect(s.view.calls).toEqual(s0.view.calls);
  });

  it('the timeline keeps the last TIMELINE_MAX entries', () => {
    let s = fromView(view());
    for (let i = 11; i < 11 + TIMELINE_MAX + 5; i++) s = applyEntry(s, entry(i, 'late', {})).state;
    expect(s.view.timeline).toHaveLength(TIMELINE_MAX);
    expect(s.view.timeline.at(-1)!.seq).toBe(10 + TIMELINE_MAX + 5);
  });
});

describe('resync logic', () => {
  it('a view tick at the same seq updates the clock only', () => {
    const r = applyTick(fromView(view()), { seq: 10, clock: '2024-07-28T03:30:00+08:00', updated: '2024-07-28T03:20:00+08:00' });
    expect(r.refetch).toBe(false);
    expect(r.state.view.clock).toBe('2024-07-28T03:30:00+08:00');
  });
  it('a tick whose seq went back (a new service run) or is ahead, or another boot, asks for the view', () => {
    expect(applyTick(fromView(view()), { seq: 3 }).refetch).toBe(true);
    expect(applyTick(fromView(view()), { seq: 12 }).refetch).toBe(true);
    expect(applyTick(fromView(view()), { seq: 10, boot: 'b2' }).refetch).toBe(true);
  });
  it('a fetched view older than the stream gets the newer outputs applied again on top', () => {
    const fresh = fromView(view()); // seq 10, 南溪镇 yellow, no graph change
    const recent = [
      entry(9, 'level_changed', { signal: '暴雨预警', key: 'YY-003', to: 'red' }, { township: '500235128' }),
      entry(11, 'response_declared', { instance: 'i1', level: 'II' }),
      entry(12, 'level_changed', { signal: '暴雨预警', key: 'YY-004', to: 'orange' }, { township: '500235131' }),
    ];
    const s = rebase(fresh, recent, ['x']);
    expect(s.view.seq).toBe(12);
    expect(s.view.plans[0]!.response).toBe('Ⅱ级');
    expect(s.view.plans[0]!.graph).not.toBeNull();
    expect(s.view.townships.find((t) => t.code === '500235128')!.level).toBe('yellow'); // seq 9 is in the view already
    expect(s.view.townships.find((t) => t.code === '500235131')!.level).toBe('orange');
    expect(s.unknownTypes).toEqual(['x']);
  });
  it('recent outputs that do not continue the view (a hole) are not applied', () => {
    const s = rebase(fromView(view()), [entry(13, 'response_declared', { instance: 'i1', level: 'II' })]);
    expect(s.view.seq).toBe(10);
    expect(s.view.plans[0]!.response).toBeNull();
  });
});

describe('durations', () => {
  it('reads the outputs’ durations', () => {
    expect(durationSeconds('1m12s')).toBe(72);
    expect(durationSeconds('2h')).toBe(7200);
    expect(durationSeconds('90s')).toBe(90);
    expect(durationSeconds('1d2h3m4s')).toBe(93784);
    expect(durationSeconds('')).toBeNull();
    expect(durationSeconds('soon')).toBeNull();
  });
});
