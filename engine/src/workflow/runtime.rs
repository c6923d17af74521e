//! Running plan instances: calls, acknowledgements, timers and steps.
//!
//! One instance runs per plan and area at a time (`县防汛应急预案@青龙镇#1`).
//! The runtime is driven by event time only:
//!
//! - [`WorkflowRuntime::on_event`] first fires every timer that is due
//!   *strictly before* the event's time, then applies the event (an `ack`, a
//!   manual `plan_start`, or an event a `wait` step awaits). So **an ack whose
//!   time equals a tier's deadline is in time**: the deadline has not passed yet.
//! - [`WorkflowRuntime::on_output`] reacts to signals' level changes: it starts
//!   instances and wakes waiting ones.
//! - [`WorkflowRuntime::advance`] fires due timers without an event (at the
//!   end of a stream, or on a clock tick).
//!
//! A timer's outputs carry the timer's due time, not the time of the event
//! that made the runtime notice it, so results do not depend on how sparse the
//! input is. The runtime's clock never goes backwards: an event older than one
//! already seen is applied at the later time.
//!
//! Timers live in a binary heap (logarithmic per timer); a timer made obsolete
//! (its tier answered, its step left, its instance closed) is dropped when it
//! surfaces.
//!
//! # Cost per event
//!
//! Nothing an event, a timer or a level change does scans all instances, all
//! areas or the whole roster: people are looked up by role and area in a
//! [`RosterIndex`] built once; open instances and per-area counts are hash
//! maps keyed by area; call references are a hash map; instances awaiting an
//! event kind are indexed by kind and area; and who has an unanswered call is
//! indexed by person (for acks without a reference). So the cost of an event
//! does not grow with the number of chains running.
//!
//! # Closed instances are compacted
//!
//! An instance is held (in [`WorkflowState::instances`]) while it is open.
//! When it closes, it is compacted as soon as the call that closed it returns
//! ([`WorkflowRuntime::on_event`], [`WorkflowRuntime::on_output`] or
//! [`WorkflowRuntime::advance`]): only what a later input can still refer to
//! is kept, so that every later output is exactly what it would have been
//! had the instance been kept whole:
//!
//! - each of its call references, with the byte length of the instance id it
//!   starts with and its plan and step: a later ack carrying it is rejected as
//!   `closed` naming that instance and step (the reference text plus ≈ 45
//!   bytes of table entry; the whole instance took ≈ 1.2 KB). These are kept
//!   for as long as the runtime runs, because an answer may come at any time;
//!   they are what still grows with the length of the stream;
//! - the ids of people it left with an unanswered call: a later ack without a
//!   reference from such a person, when they have no open call, is rejected as
//!   `closed` (this set is bounded by the roster).
//!
//! Its timers are no longer looked at when they surface (a closed instance's
//! timers never fired anyway), and nothing else refers to a closed instance:
//! level changes, awaited events and manual starts only reach open ones, and
//! its number is never reused. [`WorkflowRuntime::instance`] therefore finds
//! open instances only.
//!
//! All mutable state is in [`WorkflowState`], which is serialisable for
//! snapshots. Its `layout` says how it is written: snapshots written before
//! compaction existed (no `layout`, read as 0: every instance ever started,
//! numbered by position) are read and compacted on restore; a layout newer
//! than [`LAYOUT`] is refused when the state is read.

use crate::event::Event;
use crate::ir::{FieldDef, FieldId, KindDef, Program};
use crate::output::{LevelChange, Output};
use crate::time::{Timestamp, format_duration};
use crate::value::{Level, Type, Value};
use crate::workflow::ir::{
    ChainDef, ChainIdx, ChainKind, CmpOp, Cond, Operand, PlanDef, PlanSet, Response, StepIdx,
    StepKind, Trigger, Verify, WaitFor,
};
use crate::workflow::out::{
    AckReject, AckRejected, Acked, Cause, Escalated, Head, Measure, Notify, PlanClosed,
    PlanStarted, ResponseDeclared, TimedOut, Unanswered, VerifyStage,
};
use crate::workflow::roster::RosterIndex;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// The event kind of acknowledgements: `{"kind":"ack","person":..,"ref":..}`.
pub const ACK_KIND: &str = "ack";
/// The event kind of manual starts: `{"kind":"plan_start","plan":..,"area":..}`.
pub const START_KIND: &str = "plan_start";
/// The field of awaited events that names their area.
pub const AREA_FIELD: &str = "area";

/// Most steps one instance may take without waiting (validation rejects
/// endless cycles; this only bounds a hand-built plan).
const STEP_BUDGET: usize = 10_000;

/// A field an event kind needs: name, type, optional.
pub type FieldSpec = (String, Type, bool);

/// Current warning levels: signal → area → key → level.
type LevelTable = FxHashMap<Arc<str>, FxHashMap<Arc<str>, FxHashMap<Arc<str>, Level>>>;

/// The event kinds plans need, with their fields: `ack`, `plan_start`, and
/// every kind a `wait` step awaits (with an optional `area`).
pub fn required_kinds(set: &PlanSet) -> Vec<(String, Vec<FieldSpec>)> {
    let s = |n: &str, t: Type, opt: bool| (n.to_string(), t, opt);
    let mut kinds = vec![
        (
            ACK_KIND.to_string(),
            vec![
                s("person", Type::String, false),
                s("ref", Type::String, true),
            ],
        ),
        (
            START_KIND.to_string(),
            vec![
                s("plan", Type::String, false),
                s(AREA_FIELD, Type::String, false),
            ],
        ),
    ];
    for p in &set.plans {
        for st in &p.steps {
            if let StepKind::Wait {
                until: WaitFor::Event(k),
                ..
            } = &st.kind
            {
                if !kinds.iter().any(|(n, _)| n == k) {
                    kinds.push((k.clone(), vec![s(AREA_FIELD, Type::String, true)]));
                }
            }
        }
    }
    kinds
}

/// Adds the kinds plans need ([`required_kinds`]) to a program: new kinds are
/// appended, fields missing from an existing kind of the same name are added
/// (optional), and new field names get new slots.
pub fn merge_kinds(program: &mut Program, set: &PlanSet) {
    for (kind, fields) in required_kinds(set) {
        let mut defs = Vec::new();
        for (name, ty, optional) in fields {
            let id = match program.fields.iter().position(|f| *f == name) {
                Some(i) => i as FieldId,
                None => {
                    program.fields.push(name);
                    (program.fields.len() - 1) as FieldId
                }
            };
            defs.push(FieldDef { id, ty, optional });
        }
        match program.kinds.iter_mut().find(|k| k.name == kind) {
            Some(existing) => {
                for d in defs {
                    if !existing.fields.iter().any(|f| f.id == d.id) {
                        existing.fields.push(FieldDef {
                            optional: true,
                            ..d
                        });
                    }
                }
            }
            None => program.kinds.push(KindDef {
                name: kind,
                fields: defs,
            }),
        }
    }
}

/// One call of one person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Call {
    /// The person's id.
    pub person: Arc<str>,
    /// 1-based tier (0: role notification or fallback).
    pub tier: u16,
    /// When called.
    pub called: Timestamp,
    /// The tier's deadline, if an answer is awaited.
    pub deadline: Option<i64>,
    /// When answered.
    pub acked: Option<Timestamp>,
}

/// The calls one notify step made (one per entry into the step).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CallRun {
    /// The notify step.
    pub step: StepIdx,
    /// The reference acks carry.
    pub call_ref: Arc<str>,
    /// The chain, if any.
    pub chain: Option<ChainIdx>,
    /// Every call made.
    pub calls: Vec<Call>,
    /// How many tiers have been called.
    pub tiers_called: u16,
    /// Per tier: answered (by one person, or by all when the tier needs all).
    pub tier_answered: Vec<bool>,
    /// Whether the run counts as answered.
    pub answered: bool,
    /// Whether the chain ran out of tiers (or a responsibility tier timed out).
    pub unanswered: bool,
    /// Whether the fallback has been called.
    pub fallback_called: bool,
}

/// One running (or closed) plan instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instance {
    /// The instance's number in this runtime: how many instances were started
    /// before it. Timers and call references name instances by it; it is never
    /// reused.
    #[serde(default)]
    pub no: u32,
    /// `plan@area#n`.
    pub id: Arc<str>,
    /// Index of the plan.
    pub plan: usize,
    /// The area.
    pub area: Arc<str>,
    /// The current step (`None` once closed).
    pub at: Option<StepIdx>,
    /// Changes whenever the current step changes (step timers carry it).
    pub token: u64,
    /// Response level in force.
    pub response: Response,
    /// When each stage of 预警→响应→反馈→核实 was first reached.
    pub stages: [Option<Timestamp>; 4],
    /// Call runs, oldest first.
    pub runs: Vec<CallRun>,
    /// Fields of the last event the instance consumed (for `event.x`).
    pub last_event: Vec<(Arc<str>, Value)>,
}

impl Instance {
    fn latest_run(&self, step: StepIdx) -> Option<&CallRun> {
        self.runs.iter().rev().find(|r| r.step == step)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum TimerKind {
    /// A tier of a call run times out.
    Tier { run: u32, tier: u16 },
    /// The current step's wait or timeout ends (valid while the token matches).
    Step { token: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Timer {
    due: i64,
    seq: u64,
    inst: u32,
    kind: TimerKind,
}

/// The layout of [`WorkflowState`] this build writes: 1 = open instances only,
/// closed ones compacted, instances numbered by [`Instance::no`]. (0: every
/// instance ever started, numbered by position; read and compacted on restore.)
pub const LAYOUT: u32 = 1;

/// What is kept of a call reference of a compacted (closed) instance: enough
/// to reject a later ack exactly as it was rejected while the instance was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ClosedRef(
    /// Byte length of the instance id the reference starts with.
    u32,
    /// The instance's plan.
    u32,
    /// The notify step that made the call.
    StepIdx,
);

/// Everything that changes while the runtime runs (serialisable for snapshots).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkflowState {
    /// How this state is written ([`LAYOUT`]; 0 when absent: written before
    /// compaction existed). A newer layout is refused when read.
    #[serde(default, deserialize_with = "known_layout")]
    layout: u32,
    /// The instances held: every open instance (a closed one is compacted when
    /// the call that closed it returns). Written in start order.
    #[serde(serialize_with = "by_number")]
    pub instances: Vec<Instance>,
    /// The number the next instance gets.
    #[serde(default)]
    next_no: u32,
    /// Open instance per area: `(plan idx, instance number)`. Written as
    /// `[plan, area, number]` in start order.
    #[serde(with = "area_rows_by_number")]
    open: FxHashMap<Arc<str>, Vec<(usize, u32)>>,
    /// How many instances each area has had, per plan: `(plan idx, count)`.
    /// Written as `[plan, area, count]` ordered by plan and area.
    #[serde(with = "area_rows_by_key")]
    counts: FxHashMap<Arc<str>, Vec<(usize, u32)>>,
    timers: BinaryHeap<Reverse<Timer>>,
    timer_seq: u64,
    /// The clock: the latest event time seen.
    pub now_ms: i64,
    /// Offset of the latest event (for printing timer times).
    offset_min: i16,
    /// Call reference → (instance number, run) of held instances.
    #[serde(serialize_with = "sorted_map")]
    refs: FxHashMap<Arc<str>, (u32, u32)>,
    /// Call references of compacted instances.
    #[serde(default, serialize_with = "sorted_map")]
    closed_refs: FxHashMap<Arc<str>, ClosedRef>,
    /// People a compacted instance left with an unanswered call.
    #[serde(default, serialize_with = "sorted_set")]
    closed_unanswered: FxHashSet<Arc<str>>,
    /// Current warning levels: (signal, area) → key → level.
    levels: LevelTable,
}

fn known_layout<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v > LAYOUT {
        return Err(serde::de::Error::custom(format!(
            "plan state layout {v} is newer than this build reads ({LAYOUT})"
        )));
    }
    Ok(v)
}

fn by_number<S: Serializer>(v: &[Instance], s: S) -> Result<S::Ok, S::Error> {
    let mut sorted: Vec<&Instance> = v.iter().collect();
    sorted.sort_by_key(|i| i.no);
    s.collect_seq(sorted)
}

fn sorted_map<K, V, S>(m: &FxHashMap<K, V>, s: S) -> Result<S::Ok, S::Error>
where
    K: Serialize + Ord,
    V: Serialize,
    S: Serializer,
{
    let mut sorted: Vec<(&K, &V)> = m.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    s.collect_map(sorted)
}

fn sorted_set<S: Serializer>(m: &FxHashSet<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    let mut sorted: Vec<&Arc<str>> = m.iter().collect();
    sorted.sort();
    s.collect_seq(sorted)
}

/// Rows of an area table flattened to `[plan, area, value]` triples (the form
/// snapshots have always used).
type AreaRows = FxHashMap<Arc<str>, Vec<(usize, u32)>>;

fn flatten_rows(m: &AreaRows) -> Vec<(usize, &Arc<str>, u32)> {
    m.iter()
        .flat_map(|(a, row)| row.iter().map(move |(p, v)| (*p, a, *v)))
        .collect()
}

fn unflatten_rows(rows: Vec<(usize, Arc<str>, u32)>) -> AreaRows {
    let mut m: AreaRows = FxHashMap::default();
    for (p, a, v) in rows {
        m.entry(a).or_default().push((p, v));
    }
    m
}

mod area_rows_by_number {
    use super::{AreaRows, flatten_rows, unflatten_rows};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(m: &AreaRows, s: S) -> Result<S::Ok, S::Error> {
        let mut rows = flatten_rows(m);
        rows.sort_by_key(|r| r.2);
        s.collect_seq(rows)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AreaRows, D::Error> {
        Ok(unflatten_rows(Vec::<(usize, Arc<str>, u32)>::deserialize(
            d,
        )?))
    }
}

mod area_rows_by_key {
    use super::{AreaRows, flatten_rows, unflatten_rows};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(m: &AreaRows, s: S) -> Result<S::Ok, S::Error> {
        let mut rows = flatten_rows(m);
        rows.sort();
        s.collect_seq(rows)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AreaRows, D::Error> {
        Ok(unflatten_rows(Vec::<(usize, Arc<str>, u32)>::deserialize(
            d,
        )?))
    }
}

/// Lookups derived from [`WorkflowState`] (rebuilt on restore, not written).
#[derive(Debug, Default)]
struct Derived {
    /// Instance number → position in [`WorkflowState::instances`].
    pos: FxHashMap<u32, usize>,
    /// How many instances are open.
    open: usize,
    /// Event kind → area → numbers of instances that entered a step awaiting
    /// that kind there (checked against the instance when used).
    awaiting: FxHashMap<Arc<str>, FxHashMap<Arc<str>, Vec<u32>>>,
    /// Person → (instance number, run) of held runs where they have an
    /// unanswered call.
    unanswered: FxHashMap<Arc<str>, FxHashSet<(u32, u32)>>,
    /// Instances closed during the current call, compacted when it returns.
    closing: Vec<u32>,
}

/// Texts records carry, shared instead of built per record.
#[derive(Debug, Default)]
struct Names {
    /// Plan names.
    plans: Vec<Arc<str>>,
    /// Step ids per plan.
    steps: Vec<Vec<Arc<str>>>,
    /// Chain names.
    chains: Vec<Arc<str>>,
    /// Per chain and tier, what its timer waits for (`叫应 tier 1 (县防汛负责人) 5m`).
    tier_timers: Vec<Vec<Arc<str>>>,
    /// Roles named by chains and steps.
    roles: FxHashMap<String, Arc<str>>,
    /// The empty text.
    empty: Arc<str>,
}

impl Names {
    fn new(set: &PlanSet) -> Names {
        Names {
            plans: set.plans.iter().map(|p| arc(&p.name)).collect(),
            steps: set
                .plans
                .iter()
                .map(|p| p.steps.iter().map(|s| arc(&s.id)).collect())
                .collect(),
            chains: set.chains.iter().map(|c| arc(&c.name)).collect(),
            tier_timers: set
                .chains
                .iter()
                .map(|ch| {
                    ch.tiers
                        .iter()
                        .enumerate()
                        .map(|(t, tier)| {
                            arc(&format!(
                                "{} tier {} ({}) {}",
                                ch.name,
                                t + 1,
                                tier.role,
                                format_duration(tier.timeout_ms)
                            ))
                        })
                        .collect()
                })
                .collect(),
            roles: set
                .chains
                .iter()
                .flat_map(|ch| {
                    ch.tiers
                        .iter()
                        .map(|t| t.role.as_str())
                        .chain(ch.fallback.iter().map(String::as_str))
                })
                .chain(set.plans.iter().flat_map(|p| {
                    p.steps.iter().filter_map(|s| match &s.kind {
                        StepKind::NotifyRole { role } => Some(role.as_str()),
                        _ => None,
                    })
                }))
                .map(|r| (r.to_string(), arc(r)))
                .collect(),
            empty: arc(""),
        }
    }

    fn role(&self, r: &str) -> Arc<str> {
        self.roles.get(r).cloned().unwrap_or_else(|| arc(r))
    }

    fn plan(&self, p: usize) -> Arc<str> {
        self.plans.get(p).unwrap_or(&self.empty).clone()
    }

    fn step(&self, p: usize, s: StepIdx) -> Arc<str> {
        self.steps
            .get(p)
            .and_then(|v| v.get(usize::from(s)))
            .unwrap_or(&self.empty)
            .clone()
    }
}

/// Where the effect of a change starts.
#[derive(Clone)]
struct Ctx {
    ts: Timestamp,
    cause: Cause,
}

/// Runs every instance of a [`PlanSet`].
#[derive(Debug)]
pub struct WorkflowRuntime {
    set: Arc<PlanSet>,
    /// People by role and area.
    roster: Arc<RosterIndex>,
    /// Shared texts of plans, steps and chains.
    names: Arc<Names>,
    stations: FxHashMap<String, String>,
    /// Field names by slot, and the slots the runtime reads.
    fields: Vec<Arc<str>>,
    slot: FxHashMap<String, FieldId>,
    /// Event fields naming an area, by signal (from the triggers).
    area_fields: FxHashMap<String, FieldId>,
    /// Area fields of the latest event, for the level changes it causes.
    last_areas: (u64, Vec<(FieldId, Arc<str>)>),
    state: WorkflowState,
    derived: Derived,
    /// While the shell processes one instant: acks that found no call yet
    /// (their call may still open at this instant), retried after the
    /// instant's timers and rejected at its end (see [`WorkflowRuntime::end_instant`]).
    deferring: bool,
    deferred: Vec<Event>,
}

fn arc(s: &str) -> Arc<str> {
    Arc::from(s)
}

impl WorkflowRuntime {
    /// A runtime for `set`, reading events parsed against `program` (which
    /// should include [`required_kinds`]; see [`merge_kinds`]).
    pub fn new(set: PlanSet, program: &Program) -> WorkflowRuntime {
        let slot: FxHashMap<String, FieldId> = program
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.clone(), i as FieldId))
            .collect();
        let mut area_fields = FxHashMap::default();
        for p in &set.plans {
            for t in &p.triggers {
                if let Trigger::Signal {
                    signal,
                    area_field: Some(f),
                    ..
                } = t
                {
                    if let Some(&id) = slot.get(f) {
                        area_fields.insert(signal.clone(), id);
                    }
                }
            }
        }
        WorkflowRuntime {
            roster: Arc::new(RosterIndex::new(&set)),
            names: Arc::new(Names::new(&set)),
            stations: set.roster.stations.iter().cloned().collect(),
            fields: program.fields.iter().map(|f| arc(f)).collect(),
            slot,
            area_fields,
            last_areas: (0, Vec::new()),
            set: Arc::new(set),
            state: WorkflowState {
                layout: LAYOUT,
                ..WorkflowState::default()
            },
            derived: Derived::default(),
            deferring: false,
            deferred: Vec::new(),
        }
    }

    /// The plans, chains and roster.
    pub fn plans(&self) -> &PlanSet {
        &self.set
    }

    /// The state, for snapshots.
    pub fn state(&self) -> &WorkflowState {
        &self.state
    }

    /// Replaces the state with a snapshot taken from a runtime over the same
    /// plans. A state written before compaction existed (layout 0) has its
    /// instances numbered by position and its closed instances compacted;
    /// what it then holds is what this runtime would hold had it run the
    /// same stream.
    pub fn restore(&mut self, state: WorkflowState) {
        self.state = state;
        if self.state.layout == 0 {
            for (n, inst) in self.state.instances.iter_mut().enumerate() {
                inst.no = n as u32;
            }
            self.state.next_no = self.state.instances.len() as u32;
            self.state.layout = LAYOUT;
        }
        let after_last = self
            .state
            .instances
            .iter()
            .map(|i| i.no.saturating_add(1))
            .max()
            .unwrap_or(0);
        self.state.next_no = self.state.next_no.max(after_last);
        self.rebuild_derived();
        self.compact();
    }

    /// Rebuilds every lookup [`Derived`] holds from the state.
    fn rebuild_derived(&mut self) {
        let mut d = Derived::default();
        let open: FxHashSet<u32> = self
            .state
            .open
            .values()
            .flat_map(|row| row.iter().map(|(_, n)| *n))
            .collect();
        d.open = open.len();
        for (p, inst) in self.state.instances.iter().enumerate() {
            d.pos.insert(inst.no, p);
            if inst.at.is_none() || self.open_of(inst.plan, &inst.area) != Some(inst.no) {
                // closed, or not where an open instance is found: compacted
                d.closing.push(inst.no);
            }
            let step = self
                .set
                .plans
                .get(inst.plan)
                .and_then(|plan| plan.steps.get(usize::from(inst.at?)));
            if let Some(StepKind::Wait {
                until: WaitFor::Event(k),
                ..
            }) = step.map(|s| &s.kind)
            {
                d.awaiting
                    .entry(arc(k))
                    .or_default()
                    .entry(inst.area.clone())
                    .or_default()
                    .push(inst.no);
            }
            for (ri, run) in inst.runs.iter().enumerate() {
                for c in run.calls.iter().filter(|c| c.acked.is_none()) {
                    d.unanswered
                        .entry(c.person.clone())
                        .or_default()
                        .insert((inst.no, ri as u32));
                }
            }
        }
        self.derived = d;
    }

    /// Number of open instances.
    pub fn open_instances(&self) -> usize {
        self.derived.open
    }

    /// Number of instances held: the open ones (closed instances are
    /// compacted when the call that closed them returns; see the module docs).
    pub fn held_instances(&self) -> usize {
        self.state.instances.len()
    }

    /// Number of call references of closed (compacted) instances remembered,
    /// so that late acks carrying them are rejected as `closed`.
    pub fn closed_refs(&self) -> usize {
        self.state.closed_refs.len()
    }

    /// The open instance with this id (closed instances are compacted).
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.state
            .instances
            .iter()
            .filter(|i| i.id.as_ref() == id)
            .min_by_key(|i| i.no)
    }

    /// Number of timers pending (obsolete ones included until they surface).
    pub fn pending_timers(&self) -> usize {
        self.state.timers.len()
    }

    /// Approximate heap bytes of the state: instances, their runs and calls,
    /// call references (also those of compacted instances), timers, counts,
    /// levels and the lookups derived from them. Shared texts (ids, names) are
    /// counted once per holder, so this is an upper bound.
    pub fn state_bytes(&self) -> usize {
        use std::mem::size_of;
        // a hash table entry: the entry, a control byte, at 7/8 load
        fn table<T>(n: usize) -> usize {
            n * (size_of::<T>() + 1) * 8 / 7
        }
        let text = |s: &str| s.len() + 2 * size_of::<usize>();
        let st = &self.state;
        let mut bytes = st.instances.capacity() * size_of::<Instance>();
        for i in &st.instances {
            bytes += text(&i.id) + text(&i.area);
            bytes += i.runs.capacity() * size_of::<CallRun>();
            bytes += i.last_event.capacity() * size_of::<(Arc<str>, Value)>();
            for r in &i.runs {
                bytes += text(&r.call_ref);
                bytes += r.calls.capacity() * size_of::<Call>();
                bytes += r.tier_answered.capacity();
            }
        }
        bytes += table::<(Arc<str>, (u32, u32))>(st.refs.len());
        bytes += table::<(Arc<str>, ClosedRef)>(st.closed_refs.len());
        bytes += st.closed_refs.keys().map(|k| text(k)).sum::<usize>();
        bytes += table::<Arc<str>>(st.closed_unanswered.len());
        for m in [&st.open, &st.counts] {
            bytes += table::<(Arc<str>, Vec<(usize, u32)>)>(m.len());
            bytes += m
                .iter()
                .map(|(a, row)| text(a) + row.capacity() * size_of::<(usize, u32)>())
                .sum::<usize>();
        }
        bytes += st.timers.capacity() * size_of::<Reverse<Timer>>();
        for (signal, areas) in &st.levels {
            bytes += text(signal) + table::<(Arc<str>, FxHashMap<Arc<str>, Level>)>(areas.len());
            for keys in areas.values() {
                bytes += table::<(Arc<str>, Level)>(keys.len());
            }
        }
        let d = &self.derived;
        bytes += table::<(u32, usize)>(d.pos.len());
        bytes += table::<(Arc<str>, FxHashSet<(u32, u32)>)>(d.unanswered.len());
        bytes += d
            .unanswered
            .values()
            .map(|runs| table::<(u32, u32)>(runs.len()))
            .sum::<usize>();
        for areas in d.awaiting.values() {
            bytes += table::<(Arc<str>, Vec<u32>)>(areas.len());
            bytes += areas.values().map(|v| v.capacity() * 4).sum::<usize>();
        }
        bytes
    }

    /// When the earliest timer is due (the shell merges it into the one
    /// event-time timeline).
    pub fn next_due(&self) -> Option<i64> {
        self.state.timers.peek().map(|Reverse(t)| t.due)
    }

    /// Fires every timer due at or before `t` (the instant the shell is
    /// processing, after its events and acks). Instances this closes are
    /// compacted before it returns.
    pub fn fire_through(&mut self, t: i64, out: &mut Vec<Output>) {
        while let Some(Reverse(timer)) = self.state.timers.peek().copied() {
            if timer.due > t {
                break;
            }
            self.state.timers.pop();
            self.state.now_ms = self.state.now_ms.max(timer.due);
            self.fire(timer, out);
        }
        self.state.now_ms = self.state.now_ms.max(t);
        self.compact();
    }

    /// Whether events of this kind are acks (applied after the other events
    /// of their instant, see [`WorkflowRuntime::begin_instant`]).
    pub fn is_ack(&self, ev: &Event) -> bool {
        ev.kind_name.as_ref() == ACK_KIND
    }

    /// Starts an instant: from now until [`WorkflowRuntime::end_instant`],
    /// an ack whose call does not exist (yet) is kept, not rejected, since
    /// the call may open at this same instant (a trigger or an escalation).
    pub fn begin_instant(&mut self) {
        self.deferring = true;
    }

    /// Retries the acks kept at this instant; returns whether any counted.
    pub fn retry_deferred(&mut self, out: &mut Vec<Output>) -> bool {
        if self.deferred.is_empty() {
            return false;
        }
        let before = self.deferred.len();
        let kept = std::mem::take(&mut self.deferred);
        for ev in &kept {
            self.on_event(ev, out);
        }
        self.deferred.len() < before
    }

    /// Ends an instant: the acks still without a call are rejected
    /// (`not_called_yet` when the person is in a tier of an open chain that
    /// has not been called).
    pub fn end_instant(&mut self, out: &mut Vec<Output>) {
        self.deferring = false;
        let kept = std::mem::take(&mut self.deferred);
        for ev in &kept {
            self.on_event(ev, out);
        }
    }

    /// Fires every timer due strictly before `now_ms`, then moves the clock
    /// there. Instances this closes are compacted before it returns.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        self.fire_due(now_ms, out);
        self.compact();
    }

    fn fire_due(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        while let Some(Reverse(t)) = self.state.timers.peek().copied() {
            if t.due >= now_ms {
                break;
            }
            self.state.timers.pop();
            self.fire(t, out);
        }
        self.state.now_ms = self.state.now_ms.max(now_ms);
    }

    /// Applies one input event: fires due timers, then handles acks, manual
    /// starts and awaited events. Events of other kinds only move the clock
    /// (and remember the area fields their level changes need). Instances
    /// this closes are compacted before it returns.
    pub fn on_event(&mut self, ev: &Event, out: &mut Vec<Output>) {
        self.apply_event(ev, out);
        self.compact();
    }

    fn apply_event(&mut self, ev: &Event, out: &mut Vec<Output>) {
        self.state.offset_min = ev.ts.offset_min;
        self.fire_due(ev.ts.ms, out);
        let ts = Timestamp {
            ms: self.state.now_ms,
            offset_min: ev.ts.offset_min,
        };
        let mut areas = std::mem::take(&mut self.last_areas.1);
        areas.clear();
        areas.extend(self.area_fields.values().filter_map(
            |&f| match ev.fields.get(usize::from(f)) {
                Some(Value::Str(s)) => Some((f, s.clone())),
                _ => None,
            },
        ));
        self.last_areas = (ev.seq, areas);
        let ctx = Ctx {
            ts,
            cause: Cause::Event(ev.seq),
        };
        match ev.kind_name.as_ref() {
            ACK_KIND => self.on_ack(ev, &ctx, out),
            START_KIND => {
                let (Some(plan), Some(area)) =
                    (self.str_field(ev, "plan"), self.str_field(ev, AREA_FIELD))
                else {
                    return;
                };
                let Some(p) = self.set.plans.iter().position(|p| p.name == *plan) else {
                    return;
                };
                let manual = self
                    .set
                    .plans
                    .get(p)
                    .is_some_and(|d| d.triggers.iter().any(|t| matches!(t, Trigger::Manual)));
                if manual && self.open_of(p, &area).is_none() {
                    let fields = self.event_fields(ev);
                    self.start(p, area, "manual".into(), Level::None, fields, &ctx, out);
                }
            }
            kind => self.on_awaited(kind, ev, &ctx, out),
        }
    }

    /// Reacts to an output of the signals: a level change starts or wakes
    /// instances. Instances this closes are compacted before it returns.
    pub fn on_output(&mut self, o: &Output, out: &mut Vec<Output>) {
        let Output::LevelChanged(c) = o else { return };
        self.on_level(c, out);
        self.compact();
    }

    /// Compacts the instances closed since the last call (see the module docs).
    fn compact(&mut self) {
        if self.derived.closing.is_empty() {
            return;
        }
        let closing = std::mem::take(&mut self.derived.closing);
        for no in closing {
            let Some(p) = self.derived.pos.remove(&no) else {
                continue;
            };
            if p >= self.state.instances.len() {
                continue;
            }
            let inst = self.state.instances.swap_remove(p);
            if let Some(moved) = self.state.instances.get(p) {
                self.derived.pos.insert(moved.no, p);
            }
            // a closed instance leaves no open entry; one restored from an
            // inconsistent snapshot might
            if let Some(row) = self.state.open.get_mut(&inst.area) {
                let before = row.len();
                row.retain(|(_, n)| *n != no);
                self.derived.open = self.derived.open.saturating_sub(before - row.len());
                if row.is_empty() {
                    self.state.open.remove(&inst.area);
                }
            }
            for (ri, run) in inst.runs.iter().enumerate() {
                let here = (no, ri as u32);
                if self.state.refs.get(&run.call_ref) == Some(&here) {
                    self.state.refs.remove(&run.call_ref);
                    let cut = if run.call_ref.starts_with(inst.id.as_ref()) {
                        inst.id.len() as u32
                    } else {
                        u32::MAX
                    };
                    self.state.closed_refs.insert(
                        run.call_ref.clone(),
                        ClosedRef(cut, inst.plan as u32, run.step),
                    );
                }
                for c in run.calls.iter().filter(|c| c.acked.is_none()) {
                    if let Some(set) = self.derived.unanswered.get_mut(&c.person) {
                        set.remove(&here);
                        if set.is_empty() {
                            self.derived.unanswered.remove(&c.person);
                        }
                    }
                    self.state.closed_unanswered.insert(c.person.clone());
                }
            }
            for areas in self.derived.awaiting.values_mut() {
                if let Some(v) = areas.get_mut(&inst.area) {
                    v.retain(|n| *n != no);
                    if v.is_empty() {
                        areas.remove(&inst.area);
                    }
                }
            }
            self.derived.awaiting.retain(|_, areas| !areas.is_empty());
        }
    }

    fn inst(&self, no: u32) -> Option<&Instance> {
        self.state.instances.get(*self.derived.pos.get(&no)?)
    }

    fn inst_mut(&mut self, no: u32) -> Option<&mut Instance> {
        held_mut(&mut self.state, &self.derived, no)
    }

    fn str_field(&self, ev: &Event, name: &str) -> Option<Arc<str>> {
        let id = self.slot.get(name)?;
        match ev.fields.get(usize::from(*id)) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn event_fields(&self, ev: &Event) -> Vec<(Arc<str>, Value)> {
        ev.fields
            .iter()
            .enumerate()
            .filter(|(_, v)| !matches!(v, Value::Null))
            .filter_map(|(i, v)| self.fields.get(i).map(|n| (n.clone(), v.clone())))
            .collect()
    }

    fn open_of(&self, plan: usize, area: &str) -> Option<u32> {
        self.state
            .open
            .get(area)?
            .iter()
            .find(|(p, _)| *p == plan)
            .map(|(_, n)| *n)
    }

    fn area_of(&self, c: &LevelChange) -> Arc<str> {
        if self.last_areas.0 == c.event {
            if let Some(f) = self.area_fields.get(c.signal.as_ref()) {
                if let Some((_, a)) = self.last_areas.1.iter().find(|(g, _)| g == f) {
                    return a.clone();
                }
            }
        }
        match self.stations.get(c.key.as_ref()) {
            Some(a) => arc(a),
            None => c.key.clone(),
        }
    }

    fn on_level(&mut self, c: &LevelChange, out: &mut Vec<Output>) {
        let area = self.area_of(c);
        self.state
            .levels
            .entry(c.signal.clone())
            .or_default()
            .entry(area.clone())
            .or_default()
            .insert(c.key.clone(), c.to);
        let ctx = Ctx {
            ts: c.ts,
            cause: Cause::Level {
                signal: c.signal.clone(),
                key: c.key.clone(),
                event: c.event,
            },
        };
        let set = self.set.clone();
        for (p, plan) in set.plans.iter().enumerate() {
            let starts = plan.triggers.iter().find_map(|t| match t {
                Trigger::Signal {
                    signal, min_level, ..
                } if signal.as_str() == c.signal.as_ref() => Some(*min_level),
                _ => None,
            });
            let Some(min) = starts else { continue };
            match self.open_of(p, &area) {
                Some(i) => self.resume(i, &ctx, out),
                None if c.to > c.from && c.to >= min => {
                    let trigger = format!("{} {} ({})", c.signal, c.to.name(), c.key);
                    self.start(p, area.clone(), trigger, c.to, Vec::new(), &ctx, out);
                }
                None => {}
            }
        }
    }

    fn on_awaited(&mut self, kind: &str, ev: &Event, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(by_area) = self.derived.awaiting.get(kind) else {
            return;
        };
        let area = self.str_field(ev, AREA_FIELD);
        let mut candidates: Vec<u32> = match &area {
            Some(a) => by_area.get(a.as_ref()).cloned().unwrap_or_default(),
            None => by_area.values().flatten().copied().collect(),
        };
        // open instances in start order, as they were always visited
        candidates.sort_unstable();
        candidates.dedup();
        let set = self.set.clone();
        let waiting: Vec<u32> = candidates
            .into_iter()
            .filter(|&i| {
                let Some(inst) = self.inst(i) else {
                    return false;
                };
                let at = inst.at.and_then(|s| set.plans.get(inst.plan)?.steps.get(usize::from(s)));
                let awaits = matches!(at.map(|s| &s.kind), Some(StepKind::Wait { until: WaitFor::Event(k), .. }) if k == kind);
                awaits && self.is_open(i) && area.as_ref().is_none_or(|a| *a == inst.area)
            })
            .collect();
        if waiting.is_empty() {
            return;
        }
        let fields = self.event_fields(ev);
        for i in waiting {
            if let Some(inst) = self.inst_mut(i) {
                inst.last_event = fields.clone();
            }
            self.proceed(i, ctx, out);
        }
    }

    /// Remembers that instance `i` entered a step awaiting events of `kind`.
    fn note_awaiting(&mut self, kind: &str, i: u32) {
        let Some(area) = self.inst(i).map(|x| x.area.clone()) else {
            return;
        };
        let row = match self.derived.awaiting.get_mut(kind) {
            Some(by_area) => by_area.entry(area).or_default(),
            None => self
                .derived
                .awaiting
                .entry(arc(kind))
                .or_default()
                .entry(area)
                .or_default(),
        };
        if !row.contains(&i) {
            row.push(i);
        }
    }

    /// The instance id and step id a rejected ack names.
    fn names_of(&self, (i, r): (u32, u32)) -> Option<(Arc<str>, Arc<str>)> {
        let inst = self.inst(i)?;
        let run = inst.runs.get(r as usize)?;
        self.set
            .plans
            .get(inst.plan)?
            .steps
            .get(usize::from(run.step))?;
        Some((inst.id.clone(), self.names.step(inst.plan, run.step)))
    }

    /// The instance id and step id of a compacted instance's call reference.
    fn closed_names(&self, call_ref: &str, c: ClosedRef) -> Option<(Arc<str>, Arc<str>)> {
        let ClosedRef(cut, plan, step) = c;
        let id = call_ref.get(..usize::try_from(cut).ok()?)?;
        self.set
            .plans
            .get(usize::try_from(plan).ok()?)?
            .steps
            .get(usize::from(step))?;
        Some((arc(id), self.names.step(plan as usize, step)))
    }

    fn reject(
        &mut self,
        ev: &Event,
        person: Arc<str>,
        r: Option<Arc<str>>,
        names: Option<(Arc<str>, Arc<str>)>,
        reason: AckReject,
        out: &mut Vec<Output>,
    ) {
        let (mut reason, mut names) = (reason, names);
        if matches!(reason, AckReject::UnknownCall | AckReject::UnknownPerson) {
            if self.deferring {
                // the call may still open at this instant
                self.deferred.push(ev.clone());
                return;
            }
            if let Some(run) = self.awaits_later_tier(&person, r.as_deref()) {
                reason = AckReject::NotCalledYet;
                names = names.or_else(|| self.names_of(run));
            }
        }
        let (instance, step) = match names {
            Some((i, s)) => (Some(i), Some(s)),
            None => (None, None),
        };
        out.push(Output::AckRejected(AckRejected {
            id: 0,
            ts: Timestamp {
                ms: self.state.now_ms,
                offset_min: ev.ts.offset_min,
            },
            instance,
            step,
            person,
            call_ref: r,
            reason,
            cause: Cause::Event(ev.seq),
        }));
    }

    /// The open chain run (instance number, run) in whose tiers not called
    /// yet `person` is: the run `call_ref` names, or without a reference the
    /// first such run in start order.
    fn awaits_later_tier(&self, person: &str, call_ref: Option<&str>) -> Option<(u32, u32)> {
        let runs: Vec<(u32, u32)> = match call_ref {
            Some(r) => self.state.refs.get(r).copied().into_iter().collect(),
            None => self
                .state
                .instances
                .iter()
                .filter(|i| i.at.is_some())
                .flat_map(|i| (0..i.runs.len() as u32).map(move |r| (i.no, r)))
                .collect(),
        };
        // the earliest such run (instance numbers are start order; the order
        // instances are held in is not, after compaction or a restore)
        runs.into_iter()
            .filter(|&(ii, ri)| {
                let Some(inst) = self.inst(ii).filter(|i| i.at.is_some()) else {
                    return false;
                };
                let Some(run) = inst.runs.get(ri as usize) else {
                    return false;
                };
                let Some(ch) = run.chain.and_then(|c| self.set.chains.get(usize::from(c))) else {
                    return false;
                };
                if run.answered || run.unanswered {
                    return false;
                }
                ch.tiers
                    .iter()
                    .skip(usize::from(run.tiers_called))
                    .any(|tier| {
                        self.roster
                            .people_for(&tier.role, &inst.area)
                            .iter()
                            .any(|&p| {
                                self.roster
                                    .person(p)
                                    .is_some_and(|x| x.id.as_ref() == person)
                            })
                    })
            })
            .min()
    }

    /// Whether instance `inst` is open: held and not closed. (A held
    /// instance is in [`WorkflowState::open`] exactly while its step is set:
    /// `start` and `close` change both, and a restore compacts any instance
    /// that is not.)
    fn is_open(&self, inst: u32) -> bool {
        self.inst(inst).is_some_and(|i| i.at.is_some())
    }

    fn on_ack(&mut self, ev: &Event, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(person) = self.str_field(ev, "person") else {
            return;
        };
        let r = self.str_field(ev, "ref");
        let target = match &r {
            Some(r) => match self.state.refs.get(r).copied() {
                None => {
                    if let Some(&c) = self.state.closed_refs.get(r) {
                        let names = self.closed_names(r, c);
                        return self.reject(
                            ev,
                            person,
                            Some(r.clone()),
                            names,
                            AckReject::Closed,
                            out,
                        );
                    }
                    return self.reject(
                        ev,
                        person,
                        Some(r.clone()),
                        None,
                        AckReject::UnknownCall,
                        out,
                    );
                }
                Some(t) => t,
            },
            None => {
                // no reference: the person's single open, unanswered call
                let mut open = Vec::new();
                let mut closed = self.state.closed_unanswered.contains(&person);
                for &(ii, ri) in self.derived.unanswered.get(&person).into_iter().flatten() {
                    if self.is_open(ii) {
                        open.push((ii, ri));
                        if open.len() > 1 {
                            break; // ambiguous whatever else there is
                        }
                    } else {
                        closed = true;
                    }
                }
                match open.as_slice() {
                    [one] => *one,
                    [] if closed => {
                        return self.reject(ev, person, None, None, AckReject::Closed, out);
                    }
                    [] => return self.reject(ev, person, None, None, AckReject::UnknownCall, out),
                    _ => return self.reject(ev, person, None, None, AckReject::Ambiguous, out),
                }
            }
        };
        if !self.is_open(target.0) {
            let names = self.names_of(target);
            return self.reject(ev, person, r, names, AckReject::Closed, out);
        }
        let Some(run) = self
            .inst(target.0)
            .and_then(|i| i.runs.get(target.1 as usize))
        else {
            return self.reject(ev, person, r, None, AckReject::UnknownCall, out);
        };
        let mine: Vec<usize> = run
            .calls
            .iter()
            .enumerate()
            .filter(|(_, c)| c.person == person)
            .map(|(i, _)| i)
            .collect();
        if mine.is_empty() {
            let names = self.names_of(target);
            return self.reject(ev, person, r, names, AckReject::UnknownPerson, out);
        }
        if mine
            .iter()
            .all(|&i| run.calls.get(i).is_some_and(|c| c.acked.is_some()))
        {
            let names = self.names_of(target);
            return self.reject(ev, person, r, names, AckReject::Duplicate, out);
        }
        self.ack(target, &mine, &person, ctx, out);
        self.resume(target.0, ctx, out);
    }

    fn ack(
        &mut self,
        (ii, ri): (u32, u32),
        mine: &[usize],
        person: &Arc<str>,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let set = self.set.clone();
        let names = self.names.clone();
        if let Some(runs) = self.derived.unanswered.get_mut(person) {
            // every call of this person in the run is answered below
            runs.remove(&(ii, ri));
            if runs.is_empty() {
                self.derived.unanswered.remove(person);
            }
        }
        let Some(inst) = held_mut(&mut self.state, &self.derived, ii) else {
            return;
        };
        if set.plans.get(inst.plan).is_none() {
            return;
        }
        let Some(run) = inst.runs.get_mut(ri as usize) else {
            return;
        };
        let chain = run.chain.and_then(|c| set.chains.get(usize::from(c)));
        let mut first: Option<(u16, Timestamp, bool)> = None;
        for &ci in mine {
            if let Some(c) = run.calls.get_mut(ci) {
                if c.acked.is_none() {
                    c.acked = Some(ctx.ts);
                    let in_time = c.deadline.is_none_or(|d| ctx.ts.ms <= d);
                    first.get_or_insert((c.tier, c.called, in_time));
                }
            }
        }
        let Some((tier, called, in_time)) = first else {
            return;
        };
        // which tiers are now answered
        if let Some(ch) = chain {
            for (t, def) in ch.tiers.iter().enumerate() {
                let tier_no = (t + 1) as u16;
                let mut calls = run.calls.iter().filter(|c| c.tier == tier_no).peekable();
                if calls.peek().is_none() {
                    continue;
                }
                let answered = if def.need_all {
                    calls.all(|c| c.acked.is_some())
                } else {
                    calls.any(|c| c.acked.is_some())
                };
                if let Some(a) = run.tier_answered.get_mut(t) {
                    *a = answered;
                }
            }
        }
        let was = run.answered;
        run.answered = match chain {
            None => true,
            Some(ch) if ch.kind == ChainKind::Escalation => {
                run.tier_answered.iter().any(|a| *a) || tier == 0
            }
            Some(_) => run.tier_answered.iter().all(|a| *a),
        };
        let answers_chain = !was && run.answered;
        let call_ref = run.call_ref.clone();
        let step = names.step(inst.plan, run.step);
        if let Some(s) = inst.stages.get_mut(2) {
            s.get_or_insert(ctx.ts);
        }
        out.push(Output::Acked(Acked {
            head: head(names.plan(inst.plan), inst, step, ctx),
            person: person.clone(),
            call_ref,
            tier,
            after: format_duration(ctx.ts.ms - called.ms),
            in_time,
            answers_chain,
        }));
    }

    fn new_timer(&mut self, due: i64, inst: u32, kind: TimerKind) {
        self.state.timer_seq += 1;
        let seq = self.state.timer_seq;
        self.state.timers.push(Reverse(Timer {
            due,
            seq,
            inst,
            kind,
        }));
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "an instance's identity, trigger and cause"
    )]
    fn start(
        &mut self,
        p: usize,
        area: Arc<str>,
        trigger: String,
        level: Level,
        last_event: Vec<(Arc<str>, Value)>,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let set = self.set.clone();
        let Some(plan) = set.plans.get(p) else { return };
        let row = match self.state.counts.get_mut(&area) {
            Some(row) => row,
            None => self.state.counts.entry(area.clone()).or_default(),
        };
        let n = match row.iter_mut().find(|(q, _)| *q == p) {
            Some(c) => {
                c.1 += 1;
                c.1
            }
            None => {
                row.push((p, 1));
                1
            }
        };
        let idx = self.state.next_no;
        self.state.next_no = idx.saturating_add(1);
        let inst = Instance {
            no: idx,
            id: arc(&format!("{}@{}#{n}", plan.name, area)),
            plan: p,
            area: area.clone(),
            at: Some(plan.start),
            token: 0,
            response: Response::None,
            stages: [(level > Level::None).then_some(ctx.ts), None, None, None],
            runs: Vec::new(),
            last_event,
        };
        let step = self.names.step(p, plan.start);
        out.push(Output::PlanStarted(PlanStarted {
            head: head(self.names.plan(p), &inst, step, ctx),
            trigger: arc(&trigger),
            level,
        }));
        self.derived.pos.insert(idx, self.state.instances.len());
        self.state.instances.push(inst);
        self.state.open.entry(area).or_default().push((p, idx));
        self.derived.open += 1;
        self.run(idx, ctx, out);
    }

    /// Wakes an instance blocked on a condition or an answer.
    fn resume(&mut self, i: u32, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let Some(inst) = self.inst(i) else {
            return;
        };
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
        let Some(step) = inst.at.and_then(|s| plan.steps.get(usize::from(s))) else {
            return;
        };
        match &step.kind {
            StepKind::AwaitAck { of, on_timeout, .. } => match inst.latest_run(*of) {
                Some(r) if r.answered => self.proceed(i, ctx, out),
                Some(r) if r.unanswered => self.goto(i, *on_timeout, ctx, out),
                _ => {}
            },
            StepKind::Wait {
                until: WaitFor::Cond(c),
                ..
            } if self.holds(i, c) => self.proceed(i, ctx, out),
            _ => {}
        }
    }

    /// Leaves the current step by its `next` transition.
    fn proceed(&mut self, i: u32, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let next = self.inst(i).and_then(|inst| {
            set.plans
                .get(inst.plan)?
                .steps
                .get(usize::from(inst.at?))?
                .next
        });
        match next {
            Some(n) => self.goto(i, n, ctx, out),
            None => {
                // a last step with nowhere to go: the instance parks (validation reports this)
                if let Some(inst) = held_mut(&mut self.state, &self.derived, i) {
                    inst.token += 1;
                }
            }
        }
    }

    fn goto(&mut self, i: u32, to: StepIdx, ctx: &Ctx, out: &mut Vec<Output>) {
        if let Some(inst) = held_mut(&mut self.state, &self.derived, i) {
            inst.at = Some(to);
            inst.token += 1;
        }
        self.run(i, ctx, out);
    }

    fn level_of(&self, signal: &str, area: &str) -> Level {
        self.state
            .levels
            .get(signal)
            .and_then(|a| a.get(area))
            .and_then(|k| k.values().max().copied())
            .unwrap_or(Level::None)
    }

    fn operand(&self, inst: &Instance, plan: &PlanDef, o: &Operand) -> Option<Value> {
        Some(match o {
            Operand::Level => {
                let l = plan
                    .triggers
                    .iter()
                    .filter_map(|t| match t {
                        Trigger::Signal { signal, .. } => Some(self.level_of(signal, &inst.area)),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(Level::None);
                Value::Num(f64::from(l as u8))
            }
            Operand::SignalLevel(s) => Value::Num(f64::from(self.level_of(s, &inst.area) as u8)),
            Operand::Response => Value::Num(f64::from(inst.response.rank()) + 10.0),
            Operand::ResponseLit(r) => Value::Num(f64::from(r.rank()) + 10.0),
            Operand::LevelLit(l) => Value::Num(f64::from(*l as u8)),
            Operand::EventField(f) => inst
                .last_event
                .iter()
                .find(|(n, _)| n.as_ref() == f)
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null),
            Operand::Num(n) => Value::Num(*n),
            Operand::Str(s) => Value::Str(arc(s)),
        })
    }

    fn eval(&self, inst: &Instance, plan: &PlanDef, c: &Cond) -> bool {
        match c {
            Cond::Const(b) => *b,
            Cond::And(v) => v.iter().all(|x| self.eval(inst, plan, x)),
            Cond::Or(v) => v.iter().any(|x| self.eval(inst, plan, x)),
            Cond::Not(x) => !self.eval(inst, plan, x),
            Cond::Answered(s) => inst.latest_run(*s).is_some_and(|r| r.answered),
            Cond::Unanswered(s) => inst.latest_run(*s).is_some_and(|r| r.unanswered),
            Cond::Cmp(a, op, b) => {
                let (Some(a), Some(b)) = (self.operand(inst, plan, a), self.operand(inst, plan, b))
                else {
                    return false;
                };
                let ord = match (&a, &b) {
                    (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
                    (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
                    (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
                    _ => None,
                };
                let Some(ord) = ord else { return false };
                match op {
                    CmpOp::Eq => ord.is_eq(),
                    CmpOp::Ne => ord.is_ne(),
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Le => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    CmpOp::Ge => ord.is_ge(),
                }
            }
        }
    }

    fn holds(&self, i: u32, c: &Cond) -> bool {
        let Some(inst) = self.inst(i) else {
            return false;
        };
        let Some(plan) = self.set.plans.get(inst.plan) else {
            return false;
        };
        self.eval(inst, plan, c)
    }

    /// Executes steps from the current one until the instance waits or closes.
    fn run(&mut self, i: u32, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let names = self.names.clone();
        let mut declared: Vec<(usize, Arc<str>, Arc<str>, Response)> = Vec::new();
        for _ in 0..STEP_BUDGET {
            let Some(inst) = self.inst(i) else {
                return;
            };
            let Some(plan) = set.plans.get(inst.plan) else {
                return;
            };
            let Some(at) = inst.at else { break };
            let Some(step) = plan.steps.get(usize::from(at)) else {
                break;
            };
            let h = head(names.plan(inst.plan), inst, names.step(inst.plan, at), ctx);
            match &step.kind {
                StepKind::NotifyChain { chain } => {
                    self.start_run(i, at, Some(*chain), None, ctx, out);
                }
                StepKind::NotifyRole { role } => {
                    self.start_run(i, at, None, Some(role), ctx, out);
                }
                StepKind::Measure { measures, area } => {
                    let level = self.plan_level(inst, plan);
                    let target = area.as_deref().map_or_else(
                        || inst.area.clone(),
                        |t| {
                            arc(&t
                                .replace("{{area}}", &inst.area)
                                .replace("{{town}}", &inst.area))
                        },
                    );
                    for m in measures {
                        out.push(Output::Measure(Measure {
                            head: h.clone(),
                            measure: arc(m),
                            target: target.clone(),
                            response: inst.response,
                            level,
                        }));
                    }
                }
                StepKind::DeclareResponse { level } => {
                    let warning = self.plan_level(inst, plan);
                    out.push(Output::ResponseDeclared(ResponseDeclared {
                        head: h,
                        level: *level,
                        from: inst.response,
                        warning,
                    }));
                    declared.push((inst.plan, inst.id.clone(), inst.area.clone(), *level));
                    if let Some(inst) = held_mut(&mut self.state, &self.derived, i) {
                        inst.response = *level;
                        if let Some(s) = inst.stages.get_mut(1) {
                            s.get_or_insert(ctx.ts);
                        }
                    }
                }
                StepKind::Branch { arms, otherwise } => {
                    let to = arms
                        .iter()
                        .find(|(c, _)| self.eval(inst, plan, c))
                        .map_or(*otherwise, |(_, t)| *t);
                    self.set_at(i, to);
                    continue;
                }
                StepKind::AwaitAck {
                    of,
                    timeout_ms,
                    on_timeout,
                } => match inst.latest_run(*of) {
                    Some(r) if r.answered => {}
                    Some(r) if r.unanswered => {
                        self.set_at(i, *on_timeout);
                        continue;
                    }
                    _ => {
                        let token = inst.token;
                        self.new_timer(
                            ctx.ts.ms.saturating_add(*timeout_ms),
                            i,
                            TimerKind::Step { token },
                        );
                        break;
                    }
                },
                StepKind::Wait {
                    until, timeout_ms, ..
                } => {
                    let token = inst.token;
                    let done = match until {
                        WaitFor::Duration(ms) => {
                            self.new_timer(
                                ctx.ts.ms.saturating_add(*ms),
                                i,
                                TimerKind::Step { token },
                            );
                            false
                        }
                        WaitFor::Cond(c) => self.eval(inst, plan, c),
                        WaitFor::Event(k) => {
                            self.note_awaiting(k, i);
                            false
                        }
                    };
                    if !done {
                        if let (Some(t), false) =
                            (timeout_ms, matches!(until, WaitFor::Duration(_)))
                        {
                            self.new_timer(
                                ctx.ts.ms.saturating_add(*t),
                                i,
                                TimerKind::Step { token },
                            );
                        }
                        break;
                    }
                }
                StepKind::Close { verify } => {
                    self.close(i, verify, h, out);
                    break;
                }
            }
            match step.next {
                Some(n) => self.set_at(i, n),
                None => break,
            }
        }
        // response levels declared here may start other plans in the same area
        for (plan, from, area, level) in declared {
            self.on_declared(plan, &from, &area, level, ctx, out);
        }
    }

    fn set_at(&mut self, i: u32, to: StepIdx) {
        if let Some(inst) = held_mut(&mut self.state, &self.derived, i) {
            inst.at = Some(to);
            inst.token += 1;
        }
    }

    fn plan_level(&self, inst: &Instance, plan: &PlanDef) -> Level {
        match self.operand(inst, plan, &Operand::Level) {
            Some(Value::Num(n)) => Level::from_rank(n as u8),
            _ => Level::None,
        }
    }

    /// Instance `from` (of plan `from_plan`) declared a response level.
    fn on_declared(
        &mut self,
        from_plan: usize,
        from: &Arc<str>,
        area: &Arc<str>,
        level: Response,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let set = self.set.clone();
        let from_plan = set.plans.get(from_plan).map(|p| p.name.clone());
        let ctx = Ctx {
            ts: ctx.ts,
            cause: Cause::Plan {
                instance: from.clone(),
            },
        };
        for (p, plan) in set.plans.iter().enumerate() {
            let fires = plan.triggers.iter().any(|t| match t {
                Trigger::Response {
                    plan: who,
                    min_level,
                } => {
                    level >= *min_level
                        && who.as_ref().is_none_or(|w| Some(w) == from_plan.as_ref())
                }
                _ => false,
            });
            if !fires || Some(&plan.name) == from_plan.as_ref() {
                continue;
            }
            match self.open_of(p, area) {
                Some(i) => self.resume(i, &ctx, out),
                None => {
                    let trigger = format!("{} 响应 {}", from, level.roman());
                    self.start(p, area.clone(), trigger, Level::None, Vec::new(), &ctx, out);
                }
            }
        }
    }

    fn start_run(
        &mut self,
        i: u32,
        step: StepIdx,
        chain: Option<ChainIdx>,
        role: Option<&str>,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let set = self.set.clone();
        let names = self.names.clone();
        let Some(inst) = held_mut(&mut self.state, &self.derived, i) else {
            return;
        };
        if set.plans.get(inst.plan).is_none() {
            return;
        }
        let step_id = names.step(inst.plan, step);
        let entries = inst.runs.iter().filter(|r| r.step == step).count();
        let call_ref = if entries == 0 {
            arc(&format!("{}/{}", inst.id, step_id))
        } else {
            arc(&format!("{}/{}#{}", inst.id, step_id, entries + 1))
        };
        let ntiers = chain
            .and_then(|c| set.chains.get(usize::from(c)))
            .map_or(0, |c| c.tiers.len());
        let ri = inst.runs.len() as u32;
        inst.runs.push(CallRun {
            step,
            call_ref: call_ref.clone(),
            chain,
            calls: Vec::new(),
            tiers_called: 0,
            tier_answered: vec![false; ntiers],
            answered: false,
            unanswered: false,
            fallback_called: false,
        });
        // a reference made again (names that run into each other) now means this run
        self.state.closed_refs.remove(&call_ref);
        self.state.refs.insert(call_ref, (i, ri));
        match (chain.and_then(|c| set.chains.get(usize::from(c))), role) {
            (Some(ch), _) => match ch.kind {
                ChainKind::Escalation => self.call_tier(i, ri, ch, 0, ctx, out),
                ChainKind::Responsibility => {
                    for t in 0..ch.tiers.len() {
                        self.call_tier(i, ri, ch, t, ctx, out);
                    }
                }
            },
            (None, Some(role)) => {
                let people = self.roster.people_for(role, &self.area_str(i));
                self.call_people(i, ri, None, 0, role, &people, None, ctx, out);
            }
            (None, None) => {}
        }
    }

    fn area_str(&self, i: u32) -> Arc<str> {
        self.inst(i)
            .map_or_else(|| self.names.empty.clone(), |x| x.area.clone())
    }

    fn call_tier(
        &mut self,
        i: u32,
        ri: u32,
        ch: &ChainDef,
        t: usize,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let Some(tier) = ch.tiers.get(t) else { return };
        let people = self.roster.people_for(&tier.role, &self.area_str(i));
        let deadline = ctx.ts.ms.saturating_add(tier.timeout_ms);
        self.call_people(
            i,
            ri,
            Some(ch),
            (t + 1) as u16,
            &tier.role,
            &people,
            Some(deadline),
            ctx,
            out,
        );
        if let Some(run) = self.inst_mut(i).and_then(|x| x.runs.get_mut(ri as usize)) {
            run.tiers_called = run.tiers_called.max((t + 1) as u16);
        }
        self.new_timer(
            deadline,
            i,
            TimerKind::Tier {
                run: ri,
                tier: t as u16,
            },
        );
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one place builds every notify record"
    )]
    fn call_people(
        &mut self,
        i: u32,
        ri: u32,
        ch: Option<&ChainDef>,
        tier: u16,
        role: &str,
        people: &[usize],
        deadline: Option<i64>,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let set = self.set.clone();
        let names = self.names.clone();
        let roster = self.roster.clone();
        let Some(inst) = held_mut(&mut self.state, &self.derived, i) else {
            return;
        };
        if set.plans.get(inst.plan).is_none() {
            return;
        }
        let Some(run) = inst.runs.get(ri as usize) else {
            return;
        };
        let h = head(
            names.plan(inst.plan),
            inst,
            names.step(inst.plan, run.step),
            ctx,
        );
        let chain = ch.map(|c| {
            run.chain
                .and_then(|ci| names.chains.get(usize::from(ci)))
                .filter(|n| n.as_ref() == c.name)
                .cloned()
                .unwrap_or_else(|| arc(&c.name))
        });
        let role = names.role(role);
        let call_ref = run.call_ref.clone();
        let mut calls = Vec::new();
        for &p in people {
            let Some(person) = roster.person(p) else {
                continue;
            };
            calls.push(Call {
                person: person.id.clone(),
                tier,
                called: ctx.ts,
                deadline,
                acked: None,
            });
            out.push(Output::Notify(Notify {
                head: h.clone(),
                chain: chain.clone(),
                tier,
                role: role.clone(),
                person: person.id.clone(),
                name: person.name.clone(),
                channels: person.channels.clone(),
                call_ref: call_ref.clone(),
                deadline: deadline.map(|ms| Timestamp {
                    ms,
                    offset_min: ctx.ts.offset_min,
                }),
            }));
        }
        let called: Vec<Arc<str>> = calls.iter().map(|c| c.person.clone()).collect();
        if let Some(run) = inst.runs.get_mut(ri as usize) {
            run.calls.extend(calls);
        }
        for person in called {
            self.derived
                .unanswered
                .entry(person)
                .or_default()
                .insert((i, ri));
        }
    }

    fn fire(&mut self, t: Timer, out: &mut Vec<Output>) {
        if !self.is_open(t.inst) {
            return;
        }
        let set = self.set.clone();
        let due = Timestamp {
            ms: t.due,
            offset_min: self.state.offset_min,
        };
        let Some(inst) = self.inst(t.inst) else {
            return;
        };
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
        match t.kind {
            TimerKind::Step { token } => {
                if token != inst.token {
                    return;
                }
                let Some(step) = inst.at.and_then(|s| plan.steps.get(usize::from(s))) else {
                    return;
                };
                let (what, to, timeout) = match &step.kind {
                    StepKind::Wait {
                        until: WaitFor::Duration(ms),
                        ..
                    } => (
                        format!("{} 等待 {}", step.id, format_duration(*ms)),
                        step.next,
                        None,
                    ),
                    StepKind::Wait {
                        timeout_ms: Some(ms),
                        on_timeout,
                        ..
                    } => (
                        format!("{} 超时 {}", step.id, format_duration(*ms)),
                        on_timeout.or(step.next),
                        Some(*ms),
                    ),
                    StepKind::AwaitAck {
                        timeout_ms,
                        on_timeout,
                        ..
                    } => (
                        format!("{} 超时 {}", step.id, format_duration(*timeout_ms)),
                        Some(*on_timeout),
                        Some(*timeout_ms),
                    ),
                    _ => return,
                };
                let ctx = Ctx {
                    ts: due,
                    cause: Cause::Timer {
                        what: arc(&what),
                        due,
                    },
                };
                if let Some(ms) = timeout {
                    let to_name = to
                        .and_then(|s| plan.steps.get(usize::from(s)))
                        .map_or("", |s| s.id.as_str());
                    let names = &self.names;
                    let step_name = inst
                        .at
                        .map_or_else(|| names.empty.clone(), |s| names.step(inst.plan, s));
                    out.push(Output::TimedOut(TimedOut {
                        head: head(names.plan(inst.plan), inst, step_name, &ctx),
                        timeout: format_duration(ms),
                        to: arc(to_name),
                    }));
                }
                if let Some(s) = to {
                    self.goto(t.inst, s, &ctx, out);
                }
            }
            TimerKind::Tier { run, tier } => self.tier_timeout(t.inst, run, tier, due, out),
        }
    }

    fn tier_timeout(&mut self, i: u32, ri: u32, t: u16, due: Timestamp, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let names = self.names.clone();
        let Some(inst) = self.inst(i) else {
            return;
        };
        if set.plans.get(inst.plan).is_none() {
            return;
        }
        let Some(run) = inst.runs.get(ri as usize) else {
            return;
        };
        let Some(ch) = run.chain.and_then(|c| set.chains.get(usize::from(c))) else {
            return;
        };
        let chain_name = run
            .chain
            .and_then(|c| names.chains.get(usize::from(c)))
            .cloned()
            .unwrap_or_else(|| arc(&ch.name));
        let Some(tier) = ch.tiers.get(usize::from(t)) else {
            return;
        };
        if run
            .tier_answered
            .get(usize::from(t))
            .copied()
            .unwrap_or(false)
        {
            return;
        }
        if ch.kind == ChainKind::Escalation && run.answered {
            return;
        }
        let what = run
            .chain
            .and_then(|c| names.tier_timers.get(usize::from(c))?.get(usize::from(t)))
            .cloned()
            .unwrap_or_else(|| {
                arc(&format!(
                    "{} tier {} ({}) {}",
                    ch.name,
                    t + 1,
                    tier.role,
                    format_duration(tier.timeout_ms)
                ))
            });
        let ctx = Ctx {
            ts: due,
            cause: Cause::Timer { what, due },
        };
        let h = head(
            names.plan(inst.plan),
            inst,
            names.step(inst.plan, run.step),
            &ctx,
        );
        let pending_of = |tier_no: Option<u16>| -> Vec<Arc<str>> {
            run.calls
                .iter()
                .filter(|c| c.acked.is_none() && tier_no.is_none_or(|n| c.tier == n))
                .map(|c| c.person.clone())
                .collect()
        };
        let next = usize::from(t) + 1;
        let last = ch.kind == ChainKind::Responsibility || next >= ch.tiers.len();
        if !last {
            let to = ch.tiers.get(next).map_or("", |x| x.role.as_str());
            out.push(Output::Escalated(Escalated {
                head: h,
                chain: chain_name,
                from_tier: t + 1,
                from_role: names.role(&tier.role),
                to_tier: (next + 1) as u16,
                to_role: names.role(to),
                timeout: format_duration(tier.timeout_ms),
                pending: pending_of(Some(t + 1)),
            }));
            self.call_tier(i, ri, ch, next, &ctx, out);
            return;
        }
        let roles: Vec<Arc<str>> = match ch.kind {
            ChainKind::Escalation => ch.tiers.iter().map(|x| names.role(&x.role)).collect(),
            ChainKind::Responsibility => vec![names.role(&tier.role)],
        };
        let fallback_done = run.fallback_called;
        out.push(Output::Unanswered(Unanswered {
            head: h.clone(),
            chain: chain_name,
            roles,
            pending: pending_of(None),
            fallback: ch.fallback.iter().map(|f| names.role(f)).collect(),
        }));
        if let Some(r) = self.inst_mut(i).and_then(|x| x.runs.get_mut(ri as usize)) {
            r.unanswered = true;
            r.fallback_called = true;
        }
        if !fallback_done {
            let area = self.area_str(i);
            for role in &ch.fallback {
                let people = self.roster.people_for(role, &area);
                self.call_people(i, ri, Some(ch), 0, role, &people, None, &ctx, out);
            }
        }
        self.resume(i, &ctx, out);
    }

    fn close(&mut self, i: u32, verify: &[Verify], h: Head, out: &mut Vec<Output>) {
        let Some(inst) = held_mut(&mut self.state, &self.derived, i) else {
            return;
        };
        if let Some(s) = inst.stages.get_mut(3) {
            *s = Some(h.ts);
        }
        let stages: Vec<VerifyStage> = verify
            .iter()
            .map(|v| VerifyStage {
                stage: v.name(),
                at: inst.stages.get(*v as usize).copied().flatten(),
            })
            .collect();
        let complete = stages.iter().all(|s| s.at.is_some());
        let unanswered = inst
            .runs
            .iter()
            .flat_map(|r| r.calls.iter())
            .filter(|c| c.acked.is_none())
            .map(|c| c.person.clone())
            .collect();
        inst.at = None;
        inst.token += 1;
        out.push(Output::PlanClosed(PlanClosed {
            head: h,
            verify: stages,
            complete,
            unanswered,
        }));
        let (plan, area) = (inst.plan, inst.area.clone());
        if let Some(row) = self.state.open.get_mut(&area) {
            let before = row.len();
            row.retain(|&(p, n)| !(p == plan && n == i));
            self.derived.open = self.derived.open.saturating_sub(before - row.len());
            if row.is_empty() {
                self.state.open.remove(&area);
            }
        }
        self.derived.closing.push(i);
    }
}

/// The held instance numbered `no` (a function, so that other fields of the
/// runtime stay borrowable).
fn held_mut<'a>(st: &'a mut WorkflowState, d: &Derived, no: u32) -> Option<&'a mut Instance> {
    st.instances.get_mut(*d.pos.get(&no)?)
}

fn head(plan: Arc<str>, inst: &Instance, step: Arc<str>, ctx: &Ctx) -> Head {
    Head {
        id: 0,
        ts: ctx.ts,
        plan,
        instance: inst.id.clone(),
        area: inst.area.clone(),
        step,
        cause: ctx.cause.clone(),
    }
}
