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
//! (its tier answered, its step left) is dropped when it surfaces.
//!
//! All mutable state is in [`WorkflowState`], which is serialisable for
//! snapshots.

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
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
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

/// Everything that changes while the runtime runs (serialisable for snapshots).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WorkflowState {
    /// Every instance started, open or closed.
    pub instances: Vec<Instance>,
    /// Open instance per `plan idx` and area.
    open: Vec<(usize, Arc<str>, u32)>,
    /// How many instances each plan and area has had.
    counts: Vec<(usize, Arc<str>, u32)>,
    timers: BinaryHeap<Reverse<Timer>>,
    timer_seq: u64,
    /// The clock: the latest event time seen.
    pub now_ms: i64,
    /// Offset of the latest event (for printing timer times).
    offset_min: i16,
    /// Call reference → (instance, run).
    refs: FxHashMap<Arc<str>, (u32, u32)>,
    /// Current warning levels: (signal, area) → key → level.
    levels: LevelTable,
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
    /// Area → parent.
    parents: FxHashMap<String, String>,
    stations: FxHashMap<String, String>,
    /// Field names by slot, and the slots the runtime reads.
    fields: Vec<Arc<str>>,
    slot: FxHashMap<String, FieldId>,
    /// Event fields naming an area, by signal (from the triggers).
    area_fields: FxHashMap<String, FieldId>,
    /// Area fields of the latest event, for the level changes it causes.
    last_areas: (u64, Vec<(FieldId, Arc<str>)>),
    state: WorkflowState,
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
            parents: set
                .roster
                .areas
                .iter()
                .filter_map(|a| a.parent.clone().map(|p| (a.name.clone(), p)))
                .collect(),
            stations: set.roster.stations.iter().cloned().collect(),
            fields: program.fields.iter().map(|f| arc(f)).collect(),
            slot,
            area_fields,
            last_areas: (0, Vec::new()),
            set: Arc::new(set),
            state: WorkflowState::default(),
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

    /// Replaces the state with a snapshot taken from a runtime over the same plans.
    pub fn restore(&mut self, state: WorkflowState) {
        self.state = state;
    }

    /// Number of open instances.
    pub fn open_instances(&self) -> usize {
        self.state.open.len()
    }

    /// The instance with this id.
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.state.instances.iter().find(|i| i.id.as_ref() == id)
    }

    /// Number of timers pending (obsolete ones included until they surface).
    pub fn pending_timers(&self) -> usize {
        self.state.timers.len()
    }

    /// Fires every timer due strictly before `now_ms`, then moves the clock there.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<Output>) {
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
    /// (and remember the area fields their level changes need).
    pub fn on_event(&mut self, ev: &Event, out: &mut Vec<Output>) {
        self.state.offset_min = ev.ts.offset_min;
        self.advance(ev.ts.ms, out);
        let ts = Timestamp {
            ms: self.state.now_ms,
            offset_min: ev.ts.offset_min,
        };
        let areas = self
            .area_fields
            .values()
            .filter_map(|&f| match ev.fields.get(usize::from(f)) {
                Some(Value::Str(s)) => Some((f, s.clone())),
                _ => None,
            })
            .collect();
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

    /// Reacts to an output of the signals: a level change starts or wakes instances.
    pub fn on_output(&mut self, o: &Output, out: &mut Vec<Output>) {
        let Output::LevelChanged(c) = o else { return };
        self.on_level(c, out);
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
            .iter()
            .find(|(p, a, _)| *p == plan && a.as_ref() == area)
            .map(|(_, _, i)| *i)
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
        let area = self.str_field(ev, AREA_FIELD);
        let set = self.set.clone();
        let waiting: Vec<u32> = self
            .state
            .open
            .iter()
            .map(|(_, _, i)| *i)
            .filter(|&i| {
                let Some(inst) = self.state.instances.get(i as usize) else {
                    return false;
                };
                let at = inst.at.and_then(|s| set.plans.get(inst.plan)?.steps.get(usize::from(s)));
                let awaits = matches!(at.map(|s| &s.kind), Some(StepKind::Wait { until: WaitFor::Event(k), .. }) if k == kind);
                awaits && area.as_ref().is_none_or(|a| *a == inst.area)
            })
            .collect();
        if waiting.is_empty() {
            return;
        }
        let fields = self.event_fields(ev);
        for i in waiting {
            if let Some(inst) = self.state.instances.get_mut(i as usize) {
                inst.last_event = fields.clone();
            }
            self.proceed(i, ctx, out);
        }
    }

    fn reject(
        &self,
        ev: &Event,
        person: Arc<str>,
        r: Option<Arc<str>>,
        at: Option<(u32, u32)>,
        reason: AckReject,
        out: &mut Vec<Output>,
    ) {
        let (instance, step) = match at.and_then(|(i, r)| {
            let inst = self.state.instances.get(i as usize)?;
            let run = inst.runs.get(r as usize)?;
            let step = self
                .set
                .plans
                .get(inst.plan)?
                .steps
                .get(usize::from(run.step))?;
            Some((inst.id.clone(), arc(&step.id)))
        }) {
            Some((i, s)) => (Some(i), Some(s)),
            None => (None, None),
        };
        out.push(Output::AckRejected(AckRejected {
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

    fn is_open(&self, inst: u32) -> bool {
        self.state
            .instances
            .get(inst as usize)
            .is_some_and(|i| i.at.is_some())
            && self.state.open.iter().any(|(_, _, i)| *i == inst)
    }

    fn on_ack(&mut self, ev: &Event, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(person) = self.str_field(ev, "person") else {
            return;
        };
        let r = self.str_field(ev, "ref");
        let target = match &r {
            Some(r) => match self.state.refs.get(r).copied() {
                None => {
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
                let mut closed = false;
                for (ii, inst) in self.state.instances.iter().enumerate() {
                    for (ri, run) in inst.runs.iter().enumerate() {
                        if run
                            .calls
                            .iter()
                            .any(|c| c.person == person && c.acked.is_none())
                        {
                            if self.is_open(ii as u32) {
                                open.push((ii as u32, ri as u32));
                            } else {
                                closed = true;
                            }
                        }
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
            return self.reject(ev, person, r, Some(target), AckReject::Closed, out);
        }
        let Some(run) = self
            .state
            .instances
            .get(target.0 as usize)
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
            return self.reject(ev, person, r, Some(target), AckReject::UnknownPerson, out);
        }
        if mine
            .iter()
            .all(|&i| run.calls.get(i).is_some_and(|c| c.acked.is_some()))
        {
            return self.reject(ev, person, r, Some(target), AckReject::Duplicate, out);
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
        let Some(inst) = self.state.instances.get_mut(ii as usize) else {
            return;
        };
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
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
        let step = plan
            .steps
            .get(usize::from(run.step))
            .map_or("", |s| s.id.as_str());
        if let Some(s) = inst.stages.get_mut(2) {
            s.get_or_insert(ctx.ts);
        }
        out.push(Output::Acked(Acked {
            head: head(&plan.name, inst, step, ctx),
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
        let n = match self
            .state
            .counts
            .iter_mut()
            .find(|(q, a, _)| *q == p && *a == area)
        {
            Some(c) => {
                c.2 += 1;
                c.2
            }
            None => {
                self.state.counts.push((p, area.clone(), 1));
                1
            }
        };
        let idx = self.state.instances.len() as u32;
        let inst = Instance {
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
        let step = plan
            .steps
            .get(usize::from(plan.start))
            .map_or("", |s| s.id.as_str());
        out.push(Output::PlanStarted(PlanStarted {
            head: head(&plan.name, &inst, step, ctx),
            trigger: arc(&trigger),
            level,
        }));
        self.state.instances.push(inst);
        self.state.open.push((p, area, idx));
        self.run(idx, ctx, out);
    }

    /// Wakes an instance blocked on a condition or an answer.
    fn resume(&mut self, i: u32, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let Some(inst) = self.state.instances.get(i as usize) else {
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
        let next = self.state.instances.get(i as usize).and_then(|inst| {
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
                if let Some(inst) = self.state.instances.get_mut(i as usize) {
                    inst.token += 1;
                }
            }
        }
    }

    fn goto(&mut self, i: u32, to: StepIdx, ctx: &Ctx, out: &mut Vec<Output>) {
        if let Some(inst) = self.state.instances.get_mut(i as usize) {
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
        let Some(inst) = self.state.instances.get(i as usize) else {
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
        let mut declared: Vec<(Arc<str>, Arc<str>, Response)> = Vec::new();
        for _ in 0..STEP_BUDGET {
            let Some(inst) = self.state.instances.get(i as usize) else {
                return;
            };
            let Some(plan) = set.plans.get(inst.plan) else {
                return;
            };
            let Some(at) = inst.at else { break };
            let Some(step) = plan.steps.get(usize::from(at)) else {
                break;
            };
            let h = head(&plan.name, inst, &step.id, ctx);
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
                    declared.push((inst.id.clone(), inst.area.clone(), *level));
                    if let Some(inst) = self.state.instances.get_mut(i as usize) {
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
                        WaitFor::Event(_) => false,
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
        for (from, area, level) in declared {
            self.on_declared(&from, &area, level, ctx, out);
        }
    }

    fn set_at(&mut self, i: u32, to: StepIdx) {
        if let Some(inst) = self.state.instances.get_mut(i as usize) {
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

    fn on_declared(
        &mut self,
        from: &Arc<str>,
        area: &Arc<str>,
        level: Response,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let set = self.set.clone();
        let from_plan = self
            .state
            .instances
            .iter()
            .find(|i| i.id == *from)
            .and_then(|i| set.plans.get(i.plan))
            .map(|p| p.name.clone());
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

    fn people_for(&self, role: &str, area: &str) -> Vec<usize> {
        let related = |a: &str| self.is_within(area, a) || self.is_within(a, area);
        self.set
            .roster
            .people
            .iter()
            .enumerate()
            .filter(|(_, p)| p.roles.iter().any(|r| r == role) && related(&p.area))
            .map(|(i, _)| i)
            .collect()
    }

    /// Whether `inner` is `outer` or lies within it.
    fn is_within(&self, inner: &str, outer: &str) -> bool {
        let mut cur = inner;
        for _ in 0..64 {
            if cur == outer {
                return true;
            }
            match self.parents.get(cur) {
                Some(p) => cur = p,
                None => return false,
            }
        }
        false
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
        let Some(inst) = self.state.instances.get_mut(i as usize) else {
            return;
        };
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
        let step_id = plan
            .steps
            .get(usize::from(step))
            .map_or("", |s| s.id.as_str());
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
                let people = self.people_for(role, &self.area_str(i));
                self.call_people(i, ri, None, 0, role, &people, None, ctx, out);
            }
            (None, None) => {}
        }
    }

    fn area_str(&self, i: u32) -> Arc<str> {
        self.state
            .instances
            .get(i as usize)
            .map_or_else(|| arc(""), |x| x.area.clone())
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
        let people = self.people_for(&tier.role, &self.area_str(i));
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
        if let Some(run) = self
            .state
            .instances
            .get_mut(i as usize)
            .and_then(|x| x.runs.get_mut(ri as usize))
        {
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
        let Some(inst) = self.state.instances.get_mut(i as usize) else {
            return;
        };
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
        let Some(run) = inst.runs.get(ri as usize) else {
            return;
        };
        let step = plan
            .steps
            .get(usize::from(run.step))
            .map_or("", |s| s.id.as_str());
        let h = head(&plan.name, inst, step, ctx);
        let call_ref = run.call_ref.clone();
        let mut calls = Vec::new();
        for &p in people {
            let Some(person) = set.roster.people.get(p) else {
                continue;
            };
            let id = arc(&person.id);
            calls.push(Call {
                person: id.clone(),
                tier,
                called: ctx.ts,
                deadline,
                acked: None,
            });
            out.push(Output::Notify(Notify {
                head: h.clone(),
                chain: ch.map(|c| arc(&c.name)),
                tier,
                role: arc(role),
                person: id,
                name: arc(&person.name),
                channels: person.channels.iter().map(|c| arc(c)).collect(),
                call_ref: call_ref.clone(),
                deadline: deadline.map(|ms| Timestamp {
                    ms,
                    offset_min: ctx.ts.offset_min,
                }),
            }));
        }
        if let Some(run) = inst.runs.get_mut(ri as usize) {
            run.calls.extend(calls);
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
        let Some(inst) = self.state.instances.get(t.inst as usize) else {
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
                    out.push(Output::TimedOut(TimedOut {
                        head: head(&plan.name, inst, &step.id, &ctx),
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
        let Some(inst) = self.state.instances.get(i as usize) else {
            return;
        };
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
        let Some(run) = inst.runs.get(ri as usize) else {
            return;
        };
        let Some(ch) = run.chain.and_then(|c| set.chains.get(usize::from(c))) else {
            return;
        };
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
        let step = plan
            .steps
            .get(usize::from(run.step))
            .map_or("", |s| s.id.as_str());
        let what = format!(
            "{} tier {} ({}) {}",
            ch.name,
            t + 1,
            tier.role,
            format_duration(tier.timeout_ms)
        );
        let ctx = Ctx {
            ts: due,
            cause: Cause::Timer {
                what: arc(&what),
                due,
            },
        };
        let h = head(&plan.name, inst, step, &ctx);
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
                chain: arc(&ch.name),
                from_tier: t + 1,
                from_role: arc(&tier.role),
                to_tier: (next + 1) as u16,
                to_role: arc(to),
                timeout: format_duration(tier.timeout_ms),
                pending: pending_of(Some(t + 1)),
            }));
            self.call_tier(i, ri, ch, next, &ctx, out);
            return;
        }
        let roles: Vec<Arc<str>> = match ch.kind {
            ChainKind::Escalation => ch.tiers.iter().map(|x| arc(&x.role)).collect(),
            ChainKind::Responsibility => vec![arc(&tier.role)],
        };
        let fallback_done = run.fallback_called;
        out.push(Output::Unanswered(Unanswered {
            head: h.clone(),
            chain: arc(&ch.name),
            roles,
            pending: pending_of(None),
            fallback: ch.fallback.iter().map(|f| arc(f)).collect(),
        }));
        if let Some(r) = self
            .state
            .instances
            .get_mut(i as usize)
            .and_then(|x| x.runs.get_mut(ri as usize))
        {
            r.unanswered = true;
            r.fallback_called = true;
        }
        if !fallback_done {
            let area = self.area_str(i);
            for role in &ch.fallback {
                let people = self.people_for(role, &area);
                self.call_people(i, ri, Some(ch), 0, role, &people, None, &ctx, out);
            }
        }
        self.resume(i, &ctx, out);
    }

    fn close(&mut self, i: u32, verify: &[Verify], h: Head, out: &mut Vec<Output>) {
        let Some(inst) = self.state.instances.get_mut(i as usize) else {
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
        self.state.open.retain(|(_, _, x)| *x != i);
    }
}

fn head(plan: &str, inst: &Instance, step: &str, ctx: &Ctx) -> Head {
    Head {
        ts: ctx.ts,
        plan: arc(plan),
        instance: inst.id.clone(),
        area: inst.area.clone(),
        step: arc(step),
        cause: ctx.cause.clone(),
    }
}
