// The page's state: a view from the service, advanced by the outputs on the
// stream. Pure functions; the DOM never holds state of its own.
import { highest, responseLevel } from './levels';
import type { Call, Entry, Plan, View, ViewTick } from './types';

/** How many timeline entries the page keeps (the service's default). */
export const TIMELINE_MAX = 2000;

export interface State {
  view: View;
  /** the output types the reducer saw that it does not know */
  unknownTypes: string[];
}

/** What the page must do after an event. */
export interface Step {
  state: State;
  /** fetch `/api/view` again: the stream cannot be trusted to have it all */
  refetch: boolean;
}

/** An empty view, before the first fetch. */
export function emptyView(): View {
  return { boot: '', seq: 0, clock: null, updated: null, townships: [], stations: [], calls: [], plans: [], timeline: [] };
}

/** Normalise a view as fetched: missing lists become empty, bad items are dropped. */
export function fromView(raw: unknown): State {
  const v = (raw ?? {}) as Partial<View>;
  const list = <T>(x: unknown): T[] => (Array.isArray(x) ? (x.filter((i) => i && typeof i === 'object') as T[]) : []);
  const view: View = {
    boot: typeof v.boot === 'string' ? v.boot : '',
    seq: typeof v.seq === 'number' ? v.seq : 0,
    clock: v.clock ?? null,
    updated: v.updated ?? null,
    townships: list<View['townships'][number]>(v.townships).map((t) => ({ ...t, signals: list(t.signals) })),
    other_signals: list(v.other_signals),
    stations: list(v.stations),
    calls: list<Call>(v.calls).map((c) => ({ ...c, people: list(c.people), escalations: list(c.escalations) })),
    plans: list<Plan>(v.plans).map((p) => ({ ...p, measures: list(p.measures) })),
    timeline: list<Entry>(v.timeline).slice(-TIMELINE_MAX),
  };
  return { view, unknownTypes: [] };
}

function str(o: Record<string, unknown>, k: string): string | null {
  const v = o[k];
  return typeof v === 'string' ? v : null;
}

function num(o: Record<string, unknown>, k: string): number | null {
  const v = o[k];
  return typeof v === 'number' ? v : null;
}

/** Seconds in a duration as the outputs write it (`1h2m3s`, `90s`, `2m`); null if not one. */
export function durationSeconds(s: string | null | undefined): number | null {
  if (!s) return null;
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(s.trim());
  if (!m || s.trim() === '') return null;
  const [, d, h, mi, se, ms] = m;
  if (!d && !h && !mi && !se && !ms) return null;
  return (+(d ?? 0)) * 86400 + (+(h ?? 0)) * 3600 + (+(mi ?? 0)) * 60 + (+(se ?? 0)) + (+(ms ?? 0)) / 1000;
}

/** Output types the reducer applies to the panels (others go to the timeline only). */
export const KNOWN_TYPES = new Set([
  'level_changed', 'absence', 'recovered', 'notify', 'acked', 'escalated', 'unanswered',
  'plan_started', 'plan_closed', 'step_entered', 'response_declared', 'measure',
  'late', 'table_miss', 'report_due', 'report_late', 'report_missing', 'notify_failed',
  'ack_rejected', 'timed_out', 'plan_start_rejected', 'event_refused', 'area_joined', 'joined',
  'check_overdue', 'check_done', 'declined', 'supply', 'script_error', 'script_suppressed',
]);

/** Apply one output from the stream. Entries at or below the state's seq were seen: ignored. */
export function applyEntry(state: State, e: Entry): Step {
  const v = state.view;
  if (typeof e.seq !== 'number' || e.seq <= v.seq) return { state, refetch: false };
  // a gap: the page missed outputs (the server resends from Last-Event-ID; a hole means resync)
  let refetch = v.seq > 0 && e.seq > v.seq + 1;
  const o = (e.output ?? {}) as Record<string, unknown>;
  const type = typeof e.type === 'string' ? e.type : String(o['type'] ?? 'unknown');
  const view: View = { ...v, seq: e.seq, timeline: [...v.timeline, e].slice(-TIMELINE_MAX) };
  let unknownTypes = state.unknownTypes;
  const ts = e.ts ?? str(o, 'ts');
  if (ts) view.updated = ts;

  const instance = str(o, 'instance');
  // every plan output names the step the instance is at
  if (instance && o['step'] !== undefined) {
    view.plans = view.plans.map((p) => (p.instance === instance && typeof o['step'] === 'string' ? { ...p, step: o['step'] as string } : p));
  }

  switch (type) {
    case 'level_changed': {
      const code = e.township ?? null;
      const key = str(o, 'key') ?? '';
      const signal = str(o, 'signal') ?? e.signal ?? '';
      const to = str(o, 'to') ?? 'none';
      if (!code) {
        // a key in no township (a catchment): the list beside the map
        const others = (view.other_signals ?? []).filter((x) => !(x.signal === signal && x.key === key));
        view.other_signals = to === 'none' ? others : [...others, { signal, key, level: to, since: ts }];
        break;
      }
      const t = view.townships.find((x) => x.code === code || x.name === code);
      if (!t) { refetch = true; break; }
      const others = t.signals.filter((s) => !(s.signal === signal && s.key === key));
      const signals = to === 'none' ? others : [...others, { signal, key, level: to, since: ts }];
      view.townships = view.townships.map((x) => (x === t ? { ...x, signals, level: highest(signals.map((s) => s.level)) } : x));
      break;
    }
    case 'absence':
    case 'recovered': {
      const key = str(o, 'key');
      const absent = type === 'absence';
      if (!view.stations.some((s) => s.id === key)) { refetch = true; break; }
      view.stations = view.stations.map((s) => (s.id === key ? { ...s, absent, last: str(o, 'last_seen') ?? s.last } : s));
      break;
    }
    case 'notify': {
      const ref = str(o, 'ref') ?? '';
      const person = { id: str(o, 'person') ?? '', name: str(o, 'name'), channels: Array.isArray(o['channels']) ? (o['channels'] as string[]) : [], called: ts, answered: null, response_s: null };
      const existing = view.calls.find((c) => c.ref === ref);
      if (existing) {
        view.calls = view.calls.map((c) => (c === existing ? { ...c, people: [...c.people.filter((p) => p.id !== person.id), person] } : c));
      } else {
        view.calls = [...view.calls, {
          ref, instance: instance ?? '', plan: str(o, 'plan') ?? '', chain: str(o, 'chain') ?? '', tier: num(o, 'tier') ?? 1,
          step: str(o, 'step'), people: [person], deadline: str(o, 'deadline'), overdue: false, escalations: [],
        }];
      }
      break;
    }
    case 'acked': {
      const ref = str(o, 'ref');
      const pid = str(o, 'person');
      const after = str(o, 'after');
      const c = view.calls.find((x) => x.ref === ref);
      if (!c) { refetch = true; break; }
      view.calls = view.calls.map((x) => (x !== c ? x : {
        ...x,
        people: x.people.map((p) => (p.id === pid ? { ...p, answered: ts, after, response_s: durationSeconds(after) } : p)),
      }));
      break;
    }
    case 'escalated': {
      const chain = str(o, 'chain');
      const esc = { from_tier: num(o, 'from_tier') ?? 0, to_tier: num(o, 'to_tier') ?? 0, ts: ts ?? '' };
      view.calls = view.calls.map((c) => (c.instance === instance && c.chain === chain && c.tier === esc.from_tier
        ? { ...c, overdue: true, escalations: [...(c.escalations ?? []), esc] } : c));
      break;
    }
    case 'unanswered':
    case 'plan_closed': {
      if (type === 'plan_closed') {
        view.calls = view.calls.filter((c) => c.instance !== instance);
        view.plans = view.plans.filter((p) => p.instance !== instance);
      } else {
        const chain = str(o, 'chain');
        view.calls = view.calls.map((c) => (c.instance === instance && c.chain === chain ? { ...c, overdue: true } : c));
      }
      break;
    }
    case 'plan_started': {
      if (!view.plans.some((p) => p.instance === instance)) {
        view.plans = [...view.plans, { instance: instance ?? '', plan: str(o, 'plan') ?? '', area: str(o, 'area'), started: ts, step: str(o, 'step'), response: null, measures: [], graph: null }];
      }
      // the flowchart comes with the view
      refetch = true;
      break;
    }
    case 'response_declared': {
      const r = responseLevel(o['level']);
      view.plans = view.plans.map((p) => (p.instance === instance ? { ...p, response: r } : p));
      break;
    }
    case 'measure': {
      // the view writes a measure as `措施 @ 对象`
      const measure = str(o, 'measure') ?? '';
      const target = str(o, 'target');
      const m = { measure, ts: ts ?? '', text: target ? `${measure} @ ${target}` : measure };
      view.plans = view.plans.map((p) => (p.instance === instance ? { ...p, measures: [...p.measures, m] } : p));
      break;
    }
    default:
      if (!KNOWN_TYPES.has(type) && !unknownTypes.includes(type)) unknownTypes = [...unknownTypes, type];
  }
  return { state: { view, unknownTypes }, refetch };
}

/** Apply a `view` tick; a seq that went back (a new service run) or a new boot asks for the view. */
export function applyTick(state: State, t: ViewTick): Step {
  const v = state.view;
  const newBoot = typeof t.boot === 'string' && t.boot !== '' && v.boot !== '' && t.boot !== v.boot;
  const back = typeof t.seq === 'number' && t.seq < v.seq;
  const ahead = typeof t.seq === 'number' && t.seq > v.seq;
  const view: View = { ...v, clock: t.clock ?? v.clock, updated: t.updated ?? v.updated };
  return { state: { ...state, view }, refetch: newBoot || back || ahead };
}

/**
 * A freshly fetched view is the truth up to its seq; the outputs the
 * stream brought after that seq (fetched while they arrived) are applied
 * on top of it again, so nothing newer is lost and nothing is applied twice.
 * Recent entries from another boot (before a restart) are ignored.
 */
export function rebase(fresh: State, recent: Entry[], unknownTypes: string[] = []): State {
  let st: State = { ...fresh, unknownTypes };
  const after = recent.filter((e) => typeof e.seq === 'number' && e.seq > fresh.view.seq).sort((a, b) => a.seq - b.seq);
  // only a run that continues the view's seq can be trusted
  if (after.length === 0 || after[0]!.seq !== fresh.view.seq + 1) return st;
  for (const e of after) st = applyEntry(st, e).state;
  return st;
}
