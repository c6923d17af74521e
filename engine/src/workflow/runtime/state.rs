//! The plan runtime's state: everything [`WorkflowState`] holds and how it is
//! written (field order and the serde helpers keep snapshots byte-identical),
//! the lookups derived from it ([`Derived`], rebuilt on restore, never
//! written), and the compaction of closed instances (see the module docs of
//! [`super`]).

use super::{WorkflowRuntime, arc};
use crate::time::Timestamp;
use crate::value::{Level, Value};
use crate::workflow::ir::{ChainIdx, Response, StepIdx, StepKind, WaitFor};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// Current warning levels: signal → area → key → level.
type LevelTable = FxHashMap<Arc<str>, FxHashMap<Arc<str>, FxHashMap<Arc<str>, Level>>>;

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
    /// When the person declined (`"answer":"decline"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declined: Option<Timestamp>,
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
    /// A dispatch chain's tiers (0-based) in calling order, nearest first
    /// (empty: the order written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order: Vec<u16>,
}

impl CallRun {
    /// The tier called after tier `t` (0-based) of `ch`, if any.
    pub(super) fn next_tier(&self, ch: &crate::workflow::ir::ChainDef, t: usize) -> Option<usize> {
        if self.order.is_empty() {
            return (t + 1 < ch.tiers.len()).then_some(t + 1);
        }
        let pos = self.order.iter().position(|&x| usize::from(x) == t)?;
        self.order.get(pos + 1).map(|&x| usize::from(x))
    }

    /// Where tier `t` (0-based) is in the calling order.
    pub(super) fn position(&self, t: usize) -> usize {
        if self.order.is_empty() {
            return t;
        }
        self.order
            .iter()
            .position(|&x| usize::from(x) == t)
            .unwrap_or(t)
    }

    /// The tiers (0-based) not called yet, in calling order.
    pub(super) fn uncalled(&self, ch: &crate::workflow::ir::ChainDef) -> Vec<usize> {
        let called = usize::from(self.tiers_called);
        if self.order.is_empty() {
            return (called..ch.tiers.len()).collect();
        }
        self.order
            .iter()
            .skip(called)
            .map(|&x| usize::from(x))
            .collect()
    }
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
    /// What reached each stage (the input event and a description).
    #[serde(default)]
    pub stage_by: [Option<StageBy>; 4],
    /// Call runs, oldest first.
    pub runs: Vec<CallRun>,
    /// Fields of the last event the instance consumed (for `event.x`).
    pub last_event: Vec<(Arc<str>, Value)>,
    /// A county-scoped instance's affected townships, in the order they
    /// reached the trigger (empty for other instances).
    #[serde(default)]
    pub affected: Vec<Arc<str>>,
    /// The branches of the parallel step the instance is in (empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forks: Vec<Fork>,
    /// The checks its `check` steps opened, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckState>,
}

/// A check a `check` step opened.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckState {
    /// The check step.
    pub step: StepIdx,
    /// The check's name.
    pub name: Arc<str>,
    /// When it was opened.
    pub opened: Timestamp,
    /// Its deadline (a report at this time is in time).
    pub due: i64,
    /// When it was reported done.
    pub done: Option<Timestamp>,
}

/// One branch of a parallel step: a cursor of its own, moving through the
/// branch's steps until it reaches the join.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fork {
    /// The branch's entry step (names the branch in outputs).
    pub entry: StepIdx,
    /// The branch's current step (`None` once it reached the join or stopped).
    pub at: Option<StepIdx>,
    /// Changes whenever the branch's step changes (its step timers carry it).
    pub token: u64,
    /// Whether the branch reached the join.
    pub done: bool,
}

/// Which cursor of an instance a step runs under: the instance's own, or one
/// of its parallel branches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cur {
    /// The instance's own cursor.
    Main,
    /// Branch `n` of the parallel step the instance is in.
    Fork(u16),
}

/// What satisfied a stage of the closing verification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageBy {
    /// The input line of the event (none when a timer did it).
    pub event: Option<u64>,
    /// As text (`暴雨预警 orange (YY-003)`, `ack NX01`, `灾情核实`).
    pub by: Arc<str>,
}

impl Instance {
    /// The step cursor `c` is at.
    pub(super) fn at_of(&self, c: Cur) -> Option<StepIdx> {
        match c {
            Cur::Main => self.at,
            Cur::Fork(k) => self.forks.get(usize::from(k)).and_then(|f| f.at),
        }
    }

    /// The token of cursor `c` (step timers carry it).
    pub(super) fn token_of(&self, c: Cur) -> u64 {
        match c {
            Cur::Main => self.token,
            Cur::Fork(k) => self.forks.get(usize::from(k)).map_or(u64::MAX, |f| f.token),
        }
    }

    /// Moves cursor `c` to `to` (its token changes).
    pub(super) fn move_to(&mut self, c: Cur, to: Option<StepIdx>) {
        match c {
            Cur::Main => {
                self.at = to;
                self.token += 1;
            }
            Cur::Fork(k) => {
                if let Some(f) = self.forks.get_mut(usize::from(k)) {
                    f.at = to;
                    f.token += 1;
                }
            }
        }
    }

    /// Every cursor at a step: the instance's own, then its branches'.
    pub(super) fn cursors(&self) -> Vec<(Cur, StepIdx)> {
        let mut v: Vec<(Cur, StepIdx)> = self.at.map(|a| (Cur::Main, a)).into_iter().collect();
        for (k, f) in self.forks.iter().enumerate() {
            if let Some(a) = f.at {
                v.push((Cur::Fork(k as u16), a));
            }
        }
        v
    }

    pub(super) fn latest_run(&self, step: StepIdx) -> Option<&CallRun> {
        self.runs.iter().rev().find(|r| r.step == step)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) enum TimerKind {
    /// A tier of a call run times out.
    Tier { run: u32, tier: u16 },
    /// The current step's wait or timeout ends (valid while the token matches).
    Step { token: u64 },
    /// A parallel branch's wait or timeout ends (valid while its token matches).
    Fork { fork: u16, token: u64 },
    /// A check's deadline (`inst` is the instance).
    Check { check: u16 },
    /// A calendar trigger's date (`inst` is unused).
    Calendar { plan: u32, trigger: u16 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct Timer {
    pub(super) due: i64,
    pub(super) seq: u64,
    pub(super) inst: u32,
    pub(super) kind: TimerKind,
}

/// The layout of [`WorkflowState`] this build writes: 1 = open instances only,
/// closed ones compacted, instances numbered by [`Instance::no`]. (0: every
/// instance ever started, numbered by position; read and compacted on restore.)
pub const LAYOUT: u32 = 1;

/// What is kept of a call reference of a compacted (closed) instance: enough
/// to reject a later ack exactly as it was rejected while the instance was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct ClosedRef(
    /// Byte length of the instance id the reference starts with.
    pub(super) u32,
    /// The instance's plan.
    pub(super) u32,
    /// The notify step that made the call.
    pub(super) StepIdx,
);

/// Everything that changes while the runtime runs (serialisable for snapshots).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkflowState {
    /// How this state is written ([`LAYOUT`]; 0 when absent: written before
    /// compaction existed). A newer layout is refused when read.
    #[serde(default, deserialize_with = "known_layout")]
    pub(super) layout: u32,
    /// The instances held: every open instance (a closed one is compacted when
    /// the call that closed it returns). Written in start order.
    #[serde(serialize_with = "by_number")]
    pub instances: Vec<Instance>,
    /// The number the next instance gets.
    #[serde(default)]
    pub(super) next_no: u32,
    /// Open instance per area: `(plan idx, instance number)`. Written as
    /// `[plan, area, number]` in start order.
    #[serde(with = "area_rows_by_number")]
    pub(super) open: FxHashMap<Arc<str>, Vec<(usize, u32)>>,
    /// How many instances each area has had, per plan: `(plan idx, count)`.
    /// Written as `[plan, area, count]` ordered by plan and area.
    #[serde(with = "area_rows_by_key")]
    pub(super) counts: FxHashMap<Arc<str>, Vec<(usize, u32)>>,
    pub(super) timers: BinaryHeap<Reverse<Timer>>,
    pub(super) timer_seq: u64,
    /// The clock: the latest event time seen.
    pub now_ms: i64,
    /// Offset of the latest event (for printing timer times).
    pub(super) offset_min: i16,
    /// Call reference → (instance number, run) of held instances.
    #[serde(serialize_with = "sorted_map")]
    pub(super) refs: FxHashMap<Arc<str>, (u32, u32)>,
    /// Call references of compacted instances.
    #[serde(default, serialize_with = "sorted_map")]
    pub(super) closed_refs: FxHashMap<Arc<str>, ClosedRef>,
    /// People a compacted instance left with an unanswered call.
    #[serde(default, serialize_with = "sorted_set")]
    pub(super) closed_unanswered: FxHashSet<Arc<str>>,
    /// For each of them, the latest such instance and its notify step (what
    /// a later ack without a reference is rejected as `closed` naming).
    #[serde(
        default,
        skip_serializing_if = "FxHashMap::is_empty",
        serialize_with = "sorted_map"
    )]
    pub(super) closed_last: FxHashMap<Arc<str>, (Arc<str>, Arc<str>)>,
    /// Current warning levels: (signal, area) → key → level.
    pub(super) levels: LevelTable,
    /// Whether the calendar triggers' first dates have been set (at the
    /// first event).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) calendar_armed: bool,
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
pub(super) struct Derived {
    /// Instance number → position in [`WorkflowState::instances`].
    pub(super) pos: FxHashMap<u32, usize>,
    /// How many instances are open.
    pub(super) open: usize,
    /// Event kind → area → numbers of instances that entered a step awaiting
    /// that kind there (checked against the instance when used).
    pub(super) awaiting: FxHashMap<Arc<str>, FxHashMap<Arc<str>, Vec<u32>>>,
    /// Person → (instance number, run) of held runs where they have an
    /// unanswered call.
    pub(super) unanswered: FxHashMap<Arc<str>, FxHashSet<(u32, u32)>>,
    /// Instances closed during the current call, compacted when it returns.
    pub(super) closing: Vec<u32>,
}

impl WorkflowRuntime {
    /// Rebuilds every lookup [`Derived`] holds from the state.
    pub(super) fn rebuild_derived(&mut self) {
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
            for (_, at) in inst.cursors() {
                let step = self
                    .set
                    .plans
                    .get(inst.plan)
                    .and_then(|plan| plan.steps.get(usize::from(at)));
                if let Some(StepKind::Wait {
                    until: WaitFor::Event(k),
                    ..
                }) = step.map(|s| &s.kind)
                {
                    let row = d
                        .awaiting
                        .entry(arc(k))
                        .or_default()
                        .entry(inst.area.clone())
                        .or_default();
                    if !row.contains(&inst.no) {
                        row.push(inst.no);
                    }
                }
            }
            for (ri, run) in inst.runs.iter().enumerate() {
                for c in run
                    .calls
                    .iter()
                    .filter(|c| c.acked.is_none() && c.declined.is_none())
                {
                    d.unanswered
                        .entry(c.person.clone())
                        .or_default()
                        .insert((inst.no, ri as u32));
                }
            }
        }
        self.derived = d;
    }

    /// Compacts the instances closed since the last call (see the module docs).
    pub(super) fn compact(&mut self) {
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
                for c in run
                    .calls
                    .iter()
                    .filter(|c| c.acked.is_none() && c.declined.is_none())
                {
                    if let Some(set) = self.derived.unanswered.get_mut(&c.person) {
                        set.remove(&here);
                        if set.is_empty() {
                            self.derived.unanswered.remove(&c.person);
                        }
                    }
                    self.state.closed_unanswered.insert(c.person.clone());
                    self.state.closed_last.insert(
                        c.person.clone(),
                        (inst.id.clone(), self.names.step(inst.plan, run.step)),
                    );
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

    pub(super) fn inst(&self, no: u32) -> Option<&Instance> {
        self.state.instances.get(*self.derived.pos.get(&no)?)
    }

    pub(super) fn inst_mut(&mut self, no: u32) -> Option<&mut Instance> {
        held_mut(&mut self.state, &self.derived, no)
    }

    pub(super) fn open_of(&self, plan: usize, area: &str) -> Option<u32> {
        self.state
            .open
            .get(area)?
            .iter()
            .find(|(p, _)| *p == plan)
            .map(|(_, n)| *n)
    }

    /// Whether instance `inst` is open: held and not closed. (A held
    /// instance is in [`WorkflowState::open`] exactly while its step is set:
    /// `start` and `close` change both, and a restore compacts any instance
    /// that is not.)
    pub(super) fn is_open(&self, inst: u32) -> bool {
        self.inst(inst).is_some_and(|i| i.at.is_some())
    }
}

/// The held instance numbered `no` (a function, so that other fields of the
/// runtime stay borrowable).
pub(super) fn held_mut<'a>(
    st: &'a mut WorkflowState,
    d: &Derived,
    no: u32,
) -> Option<&'a mut Instance> {
    st.instances.get_mut(*d.pos.get(&no)?)
}
