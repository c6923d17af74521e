// The 叫应 board, plan progress (without the chart, see flow.ts) and the timeline.
import { channelWords } from './channels';
import { fmtSecs, fmtTime, h } from './dom';
import { asLevel, LEVEL_WORD, rank, responseWords } from './levels';
import { KNOWN_TYPES } from './state';
import type { Call, CallPerson, Entry, Plan, Township } from './types';

/** Chinese names of the output types. */
export const TYPE_WORD: Record<string, string> = {
  level_changed: '预警变化', absence: '测站缺报', recovered: '测站恢复', notify: '叫应呼叫', acked: '应答',
  escalated: '升级呼叫', unanswered: '无人应答', plan_started: '预案启动', plan_closed: '预案结束',
  step_entered: '进入步骤', response_declared: '响应宣布', measure: '处置措施', late: '迟到数据',
  table_miss: '缺表项', report_due: '报告待报', report_late: '报告迟报', report_missing: '报告缺报',
  notify_failed: '呼叫失败', ack_rejected: '应答被拒', timed_out: '步骤超时', plan_start_rejected: '预案未启动',
  event_refused: '事件被拒', area_joined: '乡镇加入', joined: '分支汇合', check_overdue: '检查逾期',
  check_done: '检查完成', declined: '拒绝', supply: '物资前置', script_error: '脚本错误', script_suppressed: '脚本抑制',
};

/** A generic line for an output: its type and its fields (for types the page does not know). */
export function genericText(e: Entry): string {
  const o = e.output ?? {};
  const fields = Object.entries(o)
    .filter(([k]) => k !== 'type' && k !== 'id')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${e.type}${fields.length ? '：' + fields.join('，') : ''}`;
}

/**
 * The words of an entry: the service's text (a `yingji run --format text`
 * line) without its leading time, which the row shows already; the generic
 * text when there is none.
 */
export function entryText(e: Entry): string {
  if (!e.text || e.text.trim() === '') return genericText(e);
  const m = /^(\d{2}-\d{2} \d{2}:\d{2})\s+/.exec(e.text);
  return m && fmtTime(e.ts).startsWith(m[1]!) ? e.text.slice(m[0].length) : e.text;
}

/** One timeline row. Known types show the service's text; unknown ones are marked and show their fields. */
export function entryRow(e: Entry, names: Map<string, string>): HTMLElement {
  const known = KNOWN_TYPES.has(e.type);
  const town = e.township ? (names.get(e.township) ?? e.township) : null;
  const lvl = e.type === 'level_changed' ? asLevel((e.output ?? {})['to']) : null;
  const text = entryText(e);
  return h('li', { class: `entry${known ? '' : ' generic'}`, 'data-type': e.type, 'data-seq': e.seq },
    h('time', { datetime: e.ts ?? '' }, fmtTime(e.ts)),
    h('span', { class: 'etype' }, known ? (TYPE_WORD[e.type] ?? e.type) : `未知类型 ${e.type}`),
    town && !text.startsWith(town) ? h('span', { class: 'etown' }, town) : null,
    lvl ? h('span', { class: `badge lv-${lvl}` }, LEVEL_WORD[lvl]) : null,
    h('span', { class: 'etext' }, text),
    known ? null : h('code', { class: 'efields' }, JSON.stringify(e.output ?? {})),
  );
}

export interface TimelineFilter {
  township: string;
  signal: string;
  type: string;
}

export function filterEntries(entries: Entry[], f: TimelineFilter): Entry[] {
  return entries.filter((e) => (!f.township || e.township === f.township)
    && (!f.signal || e.signal === f.signal)
    && (!f.type || e.type === f.type));
}

/** `第2级`; tier 0 is a chain's fallback (兜底) call. */
export function tierWord(t: number | null | undefined): string {
  if (t === 0) return '兜底';
  return typeof t === 'number' ? `第${t}级` : '—';
}

function personRow(c: Call, p: CallPerson, onAck: ((c: Call, p: CallPerson) => void) | null): HTMLElement {
  const answered = !!p.answered;
  const late = !answered && (p.overdue ?? c.overdue ?? false);
  const key = answered ? 'answered' : late ? 'overdue' : 'pending';
  const state = answered ? (p.in_time === false ? '已应答（超时）' : '已应答') : late ? '超时未应答' : '待应答';
  return h('tr', { class: key, 'data-person': p.id, 'data-state': key },
    h('td', {}, tierWord(p.tier ?? c.tier)),
    h('td', { class: 'wrap' }, p.role ?? '—'),
    h('td', { class: 'wrap' }, p.name ?? p.id),
    h('td', { class: 'wrap' }, channelWords(p.channels)),
    h('td', {}, fmtTime(p.called)),
    h('td', {}, answered ? fmtTime(p.answered) : '—'),
    h('td', {}, answered ? (p.response_s !== null && p.response_s !== undefined ? fmtSecs(p.response_s) : (p.after ?? '—')) : '—'),
    h('td', { class: 'state' }, state),
    h('td', {}, answered || !onAck ? null
      : h('button', { type: 'button', class: 'ack', 'aria-label': `为${p.name ?? p.id}应答（演练）`, onclick: () => onAck(c, p) }, '应答')),
  );
}

/** The 叫应 board: one card per open chain (instance + chain), its tiers and people. */
export function callsBoard(calls: Call[], onAck: ((c: Call, p: CallPerson) => void) | null): HTMLElement[] {
  const chains = new Map<string, Call[]>();
  for (const c of calls) {
    const k = `${c.instance}\u0000${c.chain}`;
    chains.set(k, [...(chains.get(k) ?? []), c]);
  }
  if (chains.size === 0) return [h('p', { class: 'empty' }, '当前没有进行中的叫应。')];
  return [...chains.values()].map((tiers) => {
    tiers.sort((a, b) => a.tier - b.tier);
    const first = tiers[0]!;
    const esc = tiers.flatMap((t) => t.escalations ?? []);
    const pending = tiers.flatMap((t) => t.people.filter((p) => !p.answered).map((p) => p.name ?? p.id));
    const overdue = tiers.some((t) => t.overdue);
    return h('section', { class: `chain${overdue ? ' overdue' : ''}`, 'data-chain': first.chain, 'data-instance': first.instance, 'aria-label': `叫应链 ${first.chain}` },
      h('h3', {}, `${first.chain}`, h('span', { class: 'sub' }, ` ${first.plan} · ${first.instance}`), overdue ? h('span', { class: 'badge warn' }, '超时') : null),
      h('table', {},
        h('thead', {}, h('tr', {}, ...['层级', '角色', '人员', '渠道', '呼叫时间', '应答时间', '响应用时', '状态', '演练'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, ...tiers.flatMap((t) => t.people.map((p) => personRow(t, p, onAck)))),
      ),
      h('p', { class: 'meta' },
        `待应答：${pending.length ? pending.join('、') : '无'}`,
        tiers.some((t) => t.deadline) ? `　时限：${fmtTime(tiers[tiers.length - 1]!.deadline)}` : '',
      ),
      esc.length ? h('ul', { class: 'escalations', 'aria-label': '升级记录' }, ...esc.map((e) => h('li', {}, `${fmtTime(e.ts)} ${tierWord(e.from_tier)} → ${tierWord(e.to_tier)}`))) : null,
    );
  });
}

/** The text part of a plan card: name, area, step, response level, measures. */
export function planHead(p: Plan, names: Map<string, string>): HTMLElement {
  const area = p.township ? (names.get(p.township) ?? p.area ?? null) : p.area ? (names.get(p.area) ?? p.area) : null;
  return h('div', { class: 'plan-head' },
    h('h3', {}, p.plan, area ? h('span', { class: 'sub' }, ` · ${area}`) : null, h('span', { class: 'sub' }, ` · ${p.instance}`)),
    h('p', {},
      // plans without response levels (会商, 物资前置) show none
      p.response || (p.graph?.nodes ?? []).some((n) => n.kind === 'declare_response' || n.response)
        ? [h('span', { class: `response${p.response ? ' on' : ''}`, 'data-response': p.response ?? '' }, responseWords(p.response)), '　'] : null,
      `当前步骤：`, h('strong', { class: 'step' }, p.step ?? '—'),
      `　启动：${fmtTime(p.started)}`),
    p.measures.length
      ? h('ol', { class: 'measures', 'aria-label': '已下达措施', tabindex: 0 }, ...p.measures.map((m) => h('li', {}, h('time', {}, fmtTime(m.ts)), ' ', m.text && m.text !== '' ? m.text : m.measure)))
      : h('p', { class: 'empty' }, '尚未下达措施。'),
  );
}

/** The township list beside the map (text for screen readers and the tests; the map is a picture). */
export function townshipList(ts: Township[], missing: Set<string>): HTMLElement {
  // warned townships first (highest level first), then by code
  const sorted = [...ts].sort((a, b) => rank(b.level) - rank(a.level) || a.code.localeCompare(b.code));
  return h('ul', { class: 'townships', 'aria-label': '乡镇预警列表', tabindex: 0 }, ...sorted.map((t) => {
    const lv = asLevel(t.level);
    return h('li', { 'data-township': t.code, 'data-level': lv, class: `lv-${lv}${missing.has(t.code) ? ' missing' : ''}` },
      h('span', { class: `dot lv-${lv}`, 'aria-hidden': 'true' }),
      t.name, ' ', h('span', { class: 'lvword' }, LEVEL_WORD[lv]),
      missing.has(t.code) ? h('span', { class: 'badge miss' }, '地图缺失') : null);
  }));
}
