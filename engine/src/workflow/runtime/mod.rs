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
//!
//! # Files
//!
//! - `mod.rs`: [`WorkflowRuntime`] itself, its construction and its public
//!   entry points ([`WorkflowRuntime::on_event`], [`WorkflowRuntime::on_output`],
//!   [`WorkflowRuntime::restore`], the accessors), the event kinds plans need
//!   ([`required_kinds`], [`merge_kinds`]) and the shared texts records carry;
//! - `state.rs`: the serialisable [`WorkflowState`] (instances, call runs,
//!   calls, timers, [`LAYOUT`], what compacted instances leave behind) with its
//!   serde helpers, the lookups derived from it and their rebuild on restore,
//!   and the compaction of closed instances;
//! - `steps.rs`: starting instances (signal levels, manual starts, declared
//!   responses), waking them, executing their steps, evaluating conditions,
//!   and closing them;
//! - `calls.rs`: notify steps' call runs: calling chains tier by tier, roles
//!   and fallbacks, and what happens when a tier times out;
//! - `acks.rs`: acknowledgements: matching an ack to its call, rejecting it
//!   (and why), and deferring acks to the end of their instant;
//! - `timers.rs`: the timer queue: adding timers, firing the due ones.

mod acks;
mod calls;
mod checks;
mod state;
mod steps;
mod timers;

pub use state::{Call, CallRun, CheckState, Fork, Instance, LAYOUT, StageBy, WorkflowState};

use crate::event::Event;
use crate::ir::{FieldDef, FieldId, KindDef, Program};
use crate::output::Output;
use crate::time::{Timestamp, format_duration};
use crate::value::{Level, Type, Value};
use crate::workflow::ir::{PlanSet, StepIdx, StepKind, Trigger, WaitFor};
use crate::workflow::out::{Cause, Head, PlanStartRejected, StartReject};
use crate::workflow::roster::RosterIndex;
use rustc_hash::{FxHashMap, FxHashSet};
use state::{ClosedRef, Derived, Timer};
use std::cmp::Reverse;
use std::sync::Arc;

/// The event kind of acknowledgements: `{"kind":"ack","person":..,"ref":..}`.
pub const ACK_KIND: &str = "ack";
/// The event kind of manual starts: `{"kind":"plan_start","plan":..,"area":..}`.
pub const START_KIND: &str = "plan_start";
/// The field of awaited events that names their area.
pub const AREA_FIELD: &str = "area";
/// The event kind that reports a check done:
/// `{"kind":"check_report","check":..,"area":..,"person":..}`.
pub const CHECK_KIND: &str = "check_report";

/// A field an event kind needs: name, type, optional.
pub type FieldSpec = (String, Type, bool);

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
                s("answer", Type::String, true),
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
    if set
        .plans
        .iter()
        .flat_map(|p| p.steps.iter())
        .any(|st| matches!(st.kind, StepKind::Check { .. }))
    {
        kinds.push((
            CHECK_KIND.to_string(),
            vec![
                s("check", Type::String, false),
                s(AREA_FIELD, Type::String, false),
                s("person", Type::String, true),
            ],
        ));
    }
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
    /// Event fields naming an area: every field a trigger names.
    area_fields: Vec<FieldId>,
    /// Per plan, its signal triggers' area fields (`None`: the roster's
    /// station table, else the key), so each plan reads its own `area:`.
    trigger_fields: Vec<Vec<(String, Option<FieldId>)>>,
    /// The event kinds some `wait` step awaits.
    awaited_kinds: FxHashSet<String>,
    /// Area → the root of its tree (the county), for county-scoped plans.
    county_of: FxHashMap<String, Arc<str>>,
    /// Whether some plan has a calendar trigger.
    has_calendar: bool,
    /// The township a county-scoped instance about to start begins with.
    starting_township: Option<Arc<str>>,
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

/// Every area of the roster's tree → the root above it (an area with no
/// parent is its own root).
fn county_of(set: &PlanSet) -> FxHashMap<String, Arc<str>> {
    let parent: FxHashMap<&str, &str> = set
        .roster
        .areas
        .iter()
        .filter_map(|a| Some((a.name.as_str(), a.parent.as_deref()?)))
        .collect();
    set.roster
        .areas
        .iter()
        .map(|a| {
            let mut cur = a.name.as_str();
            for _ in 0..crate::workflow::roster::MAX_DEPTH {
                match parent.get(cur) {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            (a.name.clone(), arc(cur))
        })
        .collect()
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
        let mut area_fields = Vec::new();
        let mut trigger_fields = Vec::new();
        for p in &set.plans {
            let mut mine = Vec::new();
            for t in &p.triggers {
                if let Trigger::Signal {
                    signal, area_field, ..
                } = t
                {
                    let id = area_field.as_ref().and_then(|f| slot.get(f).copied());
                    if let Some(id) = id {
                        if !area_fields.contains(&id) {
                            area_fields.push(id);
                        }
                    }
                    mine.push((signal.clone(), id));
                }
            }
            trigger_fields.push(mine);
        }
        WorkflowRuntime {
            roster: Arc::new(RosterIndex::new(&set)),
            names: Arc::new(Names::new(&set)),
            stations: set.roster.stations.iter().cloned().collect(),
            fields: program.fields.iter().map(|f| arc(f)).collect(),
            slot,
            area_fields,
            trigger_fields,
            county_of: county_of(&set),
            has_calendar: set
                .plans
                .iter()
                .flat_map(|p| p.triggers.iter())
                .any(|t| matches!(t, Trigger::Calendar { .. })),
            starting_township: None,
            awaited_kinds: set
                .plans
                .iter()
                .flat_map(|p| p.steps.iter())
                .filter_map(|st| match &st.kind {
                    StepKind::Wait {
                        until: WaitFor::Event(k),
                        ..
                    } => Some(k.clone()),
                    _ => None,
                })
                .collect(),
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
            bytes += i.forks.capacity() * size_of::<Fork>();
            bytes += i.checks.capacity() * size_of::<CheckState>();
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
        if self.has_calendar && !self.state.calendar_armed {
            self.arm_calendar(ev.ts);
        }
        self.fire_due(ev.ts.ms, out);
        let ts = Timestamp {
            ms: self.state.now_ms,
            offset_min: ev.ts.offset_min,
        };
        let mut areas = std::mem::take(&mut self.last_areas.1);
        areas.clear();
        areas.extend(self.area_fields.iter().filter_map(
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
            CHECK_KIND => self.on_check_report(ev, &ctx, out),
            START_KIND => {
                let (Some(plan), Some(area)) =
                    (self.str_field(ev, "plan"), self.str_field(ev, AREA_FIELD))
                else {
                    return;
                };
                let p = self.set.plans.iter().position(|p| p.name == *plan);
                let manual = p
                    .and_then(|p| self.set.plans.get(p))
                    .is_some_and(|d| d.triggers.iter().any(|t| matches!(t, Trigger::Manual)));
                let open = p.and_then(|p| self.open_of(p, &area));
                let reason = match p {
                    None => Some(StartReject::UnknownPlan),
                    Some(_) if !self.roster.knows_area(&area) => Some(StartReject::UnknownArea),
                    Some(_) if !manual => Some(StartReject::NotManual),
                    Some(_) if open.is_some() => Some(StartReject::AlreadyOpen),
                    Some(_) => None,
                };
                match (reason, p) {
                    (None, Some(p)) => {
                        let fields = self.event_fields(ev);
                        self.start(
                            p,
                            area,
                            "manual".into(),
                            Level::None,
                            fields,
                            None,
                            &ctx,
                            out,
                        );
                    }
                    (reason, _) => {
                        let instance = open.and_then(|i| self.inst(i)).map(|i| i.id.clone());
                        let known = match reason {
                            Some(StartReject::UnknownPlan) => self.names.plans.clone(),
                            _ => Vec::new(),
                        };
                        out.push(Output::PlanStartRejected(PlanStartRejected {
                            id: 0,
                            ts,
                            plan,
                            area,
                            reason: reason.unwrap_or(StartReject::UnknownPlan),
                            instance,
                            known,
                            cause: Cause::Event(ev.seq),
                        }));
                    }
                }
            }
            kind if self.awaited_kinds.contains(kind) => self.on_awaited(kind, ev, &ctx, out),
            _ => {}
        }
    }

    /// Reacts to an output of the signals: a level change starts or wakes
    /// instances. Instances this closes are compacted before it returns.
    pub fn on_output(&mut self, o: &Output, out: &mut Vec<Output>) {
        let Output::LevelChanged(c) = o else { return };
        self.on_level(c, out);
        self.compact();
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
