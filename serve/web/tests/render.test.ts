import { describe, expect, it } from 'vitest';
import { fmtSecs, fmtTime } from '../src/dom';
import { elkGraph, nodeLines, shortLabel, textWidth } from '../src/flow';
import { centre, countyMap, tileMap } from '../src/geo';
import { callsBoard, entryRow, entryText, filterEntries, genericText, tierWord, townshipList } from '../src/panels';
import type { Entry } from '../src/types';
import { view } from './fixture';

const names = new Map([['500235128', '南溪镇']]);

describe('generic rendering of unknown output types', () => {
  const e: Entry = { seq: 5, ts: '2024-07-28T03:10:00+08:00', type: 'flood_gate', township: '500235128', signal: null, text: null, output: { type: 'flood_gate', id: 5, gate: 'G1', open: true } };
  it('shows the type and every field', () => {
    expect(genericText(e)).toBe('flood_gate：gate=G1，open=true');
    const li = entryRow(e, names);
    expect(li.classList.contains('generic')).toBe(true);
    expect(li.textContent).toContain('未知类型 flood_gate');
    expect(li.textContent).toContain('南溪镇');
    expect(li.textContent).toContain('gate=G1');
    expect(li.querySelector('code')!.textContent).toBe(JSON.stringify(e.output));
  });
  it('uses the service’s text when it has one; known types show their Chinese name', () => {
    expect(entryRow({ ...e, text: '闸门 G1 开启' }, names).querySelector('.etext')!.textContent).toBe('闸门 G1 开启');
    const known = entryRow({ ...e, type: 'level_changed', text: '南溪镇 暴雨预警 红色', output: { to: 'red' } }, names);
    expect(known.classList.contains('generic')).toBe(false);
    expect(known.textContent).toContain('预警变化');
    expect(known.querySelector('.badge')!.textContent).toBe('红色');
  });
  it('the service’s line loses its leading time (the row has it) and keeps the rest', () => {
    const line = { ...e, type: 'acked', text: '07-28 03:10  南溪镇    【防汛】应答  张三 第2级，用时 3m' };
    expect(entryText(line)).toBe('南溪镇    【防汛】应答  张三 第2级，用时 3m');
    const row = entryRow(line, names);
    expect(row.querySelector('.etown')).toBeNull(); // the text names the township already
    expect(entryText({ ...line, ts: '2024-07-29T03:10:00+08:00' })).toBe(line.text); // another day: kept whole
  });
  it('names from the service are text, never markup', () => {
    const li = entryRow({ ...e, text: '<img src=x onerror=alert(1)>' }, names);
    expect(li.querySelector('img')).toBeNull();
  });
});

describe('map tooltips', () => {
  it('escape what they show (tooltips are HTML; station ids come from the field)', async () => {
    const { escapeHtml } = await import('../src/riskmap');
    expect(escapeHtml('<img src=x onerror="alert(1)">&')).toBe('&#60;img src=x onerror=&#34;alert(1)&#34;&#62;&#38;');
  });
});

describe('timeline filter', () => {
  it('by township, signal and type', () => {
    const es: Entry[] = [
      { seq: 1, type: 'level_changed', township: 'a', signal: 's1' },
      { seq: 2, type: 'notify', township: 'b', signal: null },
      { seq: 3, type: 'level_changed', township: 'b', signal: 's2' },
    ];
    expect(filterEntries(es, { township: 'b', signal: '', type: '' }).map((e) => e.seq)).toEqual([2, 3]);
    expect(filterEntries(es, { township: '', signal: 's2', type: '' }).map((e) => e.seq)).toEqual([3]);
    expect(filterEntries(es, { township: '', signal: '', type: 'level_changed' }).map((e) => e.seq)).toEqual([1, 3]);
  });
});

describe('the 叫应 board', () => {
  it('one card per chain, pending people with an 应答 button, overdue marked in words', () => {
    const v = view();
    v.calls[0]!.overdue = true;
    v.calls.push({ ...v.calls[0]!, ref: 'r2', tier: 2, overdue: false, people: [{ id: 'p3', name: '赵六', channels: ['voice'], called: '2024-07-28T02:15:00+08:00', answered: '2024-07-28T02:16:05+08:00', response_s: 65 }] });
    let acked = '';
    const [card] = callsBoard(v.calls, (c, p) => { acked = `${c.ref}/${p.id}`; });
    expect(card!.querySelectorAll('tbody tr')).toHaveLength(2);
    const rows = [...card!.querySelectorAll('tbody tr')];
    expect(rows[0]!.getAttribute('data-state')).toBe('overdue');
    expect(rows[0]!.textContent).toContain('超时未应答');
    expect(rows[0]!.textContent).toContain('短信、语音电话');
    expect(rows[1]!.textContent).toContain('已应答');
    expect(rows[1]!.textContent).toContain('1分05秒');
    expect(rows[1]!.querySelector('button')).toBeNull();
    (rows[0]!.querySelector('button') as HTMLButtonElement).click();
    expect(acked).toBe('r1/p1');
    expect(card!.textContent).toContain('待应答：张三');
  });
  it('tier 0 is the fallback call (兜底)', () => {
    expect(tierWord(0)).toBe('兜底');
    expect(tierWord(3)).toBe('第3级');
    expect(tierWord(null)).toBe('—');
  });
  it('says so when there is none', () => {
    expect(callsBoard([], null)[0]!.textContent).toContain('没有进行中的叫应');
  });
});

describe('tile map and GeoJSON fallback', () => {
  const ts = view().townships;
  it('tiles at the given positions, townships without one in a row below', () => {
    const m = tileMap(ts);
    expect(m.kind).toBe('tiles');
    const c = Object.fromEntries(m.geo.features.map((f) => [f.properties.code, centre(f)]));
    expect(c['500235128']).toEqual([5.5, -3.5]);
    expect(c['500235105']![1]).toBeLessThan(-5);
  });
  it('a GeoJSON lacking a township: the others drawn, the missing one listed', () => {
    const sq = (x: number) => ({ type: 'Polygon', coordinates: [[[x, 0], [x + 1, 0], [x + 1, 1], [x, 1], [x, 0]]] });
    const geo = { type: 'FeatureCollection', features: [
      { type: 'Feature', properties: { code: '500235128' }, geometry: sq(0) },
      { type: 'Feature', properties: { code: 500235131 }, geometry: sq(1) },
      { type: 'Feature', properties: { code: '999' }, geometry: sq(2) },
      { type: 'Feature', properties: {}, geometry: null },
    ] };
    const m = countyMap(geo, ts);
    expect(m.kind).toBe('geojson');
    expect(m.geo.features.map((f) => f.properties.code)).toEqual(['500235128', '500235131']);
    expect([...m.missing]).toEqual(['500235105']);
    const list = townshipList(ts, m.missing);
    const miss = list.querySelector('[data-township="500235105"]')!;
    expect(miss.classList.contains('missing')).toBe(true);
    expect(miss.textContent).toContain('地图缺失');
  });
  it('an unusable GeoJSON falls back to tiles with the reason', () => {
    expect(countyMap({ type: 'Feature' }, ts)).toMatchObject({ kind: 'tiles', problem: 'GeoJSON 不是 FeatureCollection' });
    expect(countyMap({ type: 'FeatureCollection', features: [{ properties: { code: '500235128' }, geometry: { type: 'Polygon', coordinates: [[[0, 'x']]] } }] }, ts).kind).toBe('tiles');
  });
});

describe('formatting and the flowchart graph', () => {
  it('times in event time, durations in Chinese', () => {
    expect(fmtTime('2024-07-28T03:10:05+08:00')).toBe('07-28 03:10:05');
    expect(fmtTime(null)).toBe('—');
    expect(fmtSecs(42)).toBe('42秒');
    expect(fmtSecs(3725)).toBe('1小时02分');
  });
  it('edges to unknown steps are dropped; CJK labels are wider', () => {
    const g = elkGraph([{ id: 'a', label: '叫应' }, { id: 'b' }], [{ from: 'a', to: 'b', label: '应答' }, { from: 'a', to: 'zz' }]);
    expect(g.edges).toHaveLength(1);
    expect(textWidth('叫应')).toBeGreaterThan(textWidth('ab'));
    expect(shortLabel('level >= red and response == II')).toBe('level >= red and …');
    expect(nodeLines({ id: 'x', label: '四级响应\n启动 IV级响应', response: 'IV' })).toEqual(['四级响应', '启动 IV级响应']);
    expect(nodeLines({ id: 'y', label: '响应前', kind: 'declare_response', response: 'II' }).at(-1)).toBe('响应前');
    expect(nodeLines({ id: 'z', label: '升级', response: 'II' })).toEqual(['升级', '启动Ⅱ级响应']);
  });
});
