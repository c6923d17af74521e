// The JSON the service sends (see docs/web.md).

/** A warning level as the outputs write it. */
export type Level = 'none' | 'blue' | 'yellow' | 'orange' | 'red';

export interface SignalState {
  signal: string;
  key: string;
  level: Level | string;
  since?: string | null;
}

export interface Township {
  code: string;
  name: string;
  level: Level | string;
  signals: SignalState[];
  tile?: { row: number; col: number } | null;
}

export interface Station {
  id: string;
  township?: string | null;
  absent: boolean;
  last?: string | null;
}

export interface CallPerson {
  id: string;
  name?: string | null;
  channels?: string[];
  called?: string | null;
  answered?: string | null;
  response_s?: number | null;
  role?: string | null;
  /** the tier this person was called at, when the service gives it per person */
  tier?: number | null;
  /** answered within the tier's timeout */
  in_time?: boolean | null;
  /** called, unanswered, past the deadline at the engine's clock */
  overdue?: boolean;
  /** `after` of an `acked` seen on the stream before the view caught up */
  after?: string | null;
}

export interface Escalation {
  from_tier: number;
  to_tier: number;
  ts: string;
}

export interface Call {
  ref: string;
  instance: string;
  plan: string;
  chain: string;
  tier: number;
  step?: string | null;
  people: CallPerson[];
  deadline?: string | null;
  overdue?: boolean;
  escalations?: Escalation[];
}

export interface Measure {
  measure: string;
  ts: string;
  text?: string | null;
}

export interface GraphNode {
  id: string;
  label?: string | null;
  kind?: string | null;
  /** the response level a step declares (`II`) */
  response?: string | null;
}

export interface GraphEdge {
  from: string;
  to: string;
  label?: string | null;
}

export interface Plan {
  instance: string;
  plan: string;
  area?: string | null;
  /** the area's township code, when the area is one */
  township?: string | null;
  started?: string | null;
  step?: string | null;
  response?: string | null;
  measures: Measure[];
  graph?: { nodes: GraphNode[]; edges: GraphEdge[] } | null;
}

/** One output as the timeline and the stream carry it. */
export interface Entry {
  seq: number;
  ts?: string | null;
  type: string;
  township?: string | null;
  signal?: string | null;
  text?: string | null;
  output?: Record<string, unknown> | null;
}

/** `GET /api/view`. */
export interface View {
  boot: string;
  seq: number;
  clock?: string | null;
  updated?: string | null;
  townships: Township[];
  /** signals whose key lies in no township (a catchment, the county) */
  other_signals?: SignalState[];
  stations: Station[];
  calls: Call[];
  plans: Plan[];
  timeline: Entry[];
}

/** `event: view` on the stream. */
export interface ViewTick {
  seq: number;
  clock?: string | null;
  updated?: string | null;
  boot?: string | null;
}
