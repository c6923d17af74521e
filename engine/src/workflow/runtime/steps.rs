//! Instances and their steps: starting an instance (on a level change, a
//! manual start or a declared response), waking it when a condition may hold
//! or an awaited event arrives, executing steps until it waits or closes, and
//! evaluating conditions and their operands.

use super::state::{Cur, Fork, Instance, StageBy, TimerKind, held_mut};
use super::{AREA_FIELD, Ctx, WorkflowRuntime, arc, head};
use crate::event::Event;
use crate::ir::FieldId;
use crate::output::{LevelChange, Output};
use crate::time::Timestamp;
use crate::value::{Level, Value};
use crate::workflow::ir::{
    CmpOp, Cond, Operand, PlanDef, Response, StepDef, StepIdx, StepKind, Trigger, Verify, WaitFor,
};
use crate::workflow::out::{
    AreaJoined, BranchStatus, Cause, EventRefused, Head, InstanceAt, Joined, Measure, PlanClosed,
    PlanStartRejected, PlanStarted, ResponseDeclared, StartReject, StepEntered, Supply,
    VerifyStage,
};

/// Stages (and what reached them) an instance starts with.
pub(super) type Inherited = ([Option<Timestamp>; 4], [Option<StageBy>; 4]);

/// The input line behind a cause (none for timers and other plans).
fn cause_event(c: &Cause) -> Option<u64> {
    match c {
        Cause::Event(e) | Cause::Level { event: e, .. } => Some(*e),
        Cause::Timer { .. } | Cause::Plan { .. } => None,
    }
}
use std::sync::Arc;

/// Whether an area is a village-level unit (村, 社区: the names China's
/// village and residents' committees carry), not an enterprise or site.
fn is_village(name: &str) -> bool {
    ["村", "社区", "村委会", "居委会"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// Most steps one instance may take without waiting (validation rejects
/// endless cycles; this only bounds a hand-built plan).
const STEP_BUDGET: usize = 10_000;

impl WorkflowRuntime {
    /// The area a level change is read under by a trigger reading `field`
    /// (none: the roster's station table, else the signal key).
    fn area_of(&self, c: &LevelChange, field: Option<FieldId>) -> Arc<str> {
        if let (Some(f), true) = (field, self.last_areas.0 == c.event) {
            if let Some((_, a)) = self.last_areas.1.iter().find(|(g, _)| *g == f) {
                return a.clone();
            }
        }
        match self.stations.get(c.key.as_ref()) {
            Some(a) => arc(a),
            None => c.key.clone(),
        }
    }

    pub(super) fn on_level(&mut self, c: &LevelChange, out: &mut Vec<Output>) {
        // each plan reads the change under its own trigger's `area:` field
        let per_plan: Vec<Option<Arc<str>>> = self
            .trigger_fields
            .iter()
            .map(|ts| {
                ts.iter()
                    .find(|(s, _)| s.as_str() == c.signal.as_ref())
                    .map(|(_, f)| self.area_of(c, *f))
            })
            .collect();
        let mut areas: Vec<Arc<str>> = Vec::new();
        for a in per_plan.iter().flatten() {
            if !areas.contains(a) {
                areas.push(a.clone());
            }
        }
        if areas.is_empty() {
            areas.push(self.area_of(c, None));
        }
        for area in &areas {
            self.state
                .levels
                .entry(c.signal.clone())
                .or_default()
                .entry(area.clone())
                .or_default()
                .insert(c.key.clone(), c.to);
        }
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
            let (Some(min), Some(Some(township))) = (starts, per_plan.get(p)) else {
                continue;
            };
            // a county-scoped plan runs once for the county the township is in
            let area = match (plan.county, self.county_of.get(township.as_ref())) {
                (true, Some(county)) => county.clone(),
                _ => township.clone(),
            };
            match self.open_of(p, &area) {
                Some(i) => {
                    if plan.county && c.to >= min {
                        self.join(i, township, &ctx, out);
                    }
                    self.resume(i, &ctx, out);
                }
                None if c.to > c.from && c.to >= min => {
                    let trigger = format!("{} {} ({})", c.signal, c.to.name(), c.key);
                    if plan.county {
                        self.starting_township = Some(township.clone());
                    }
                    self.start(p, area, trigger, c.to, Vec::new(), None, &ctx, out);
                    self.starting_township = None;
                }
                None => {}
            }
        }
    }

    pub(super) fn on_awaited(&mut self, kind: &str, ev: &Event, ctx: &Ctx, out: &mut Vec<Output>) {
        let area = self.str_field(ev, AREA_FIELD);
        let candidates_all = self.awaiting_plans_open(kind, area.as_deref());
        let mut candidates: Vec<u32> = match (self.derived.awaiting.get(kind), &area) {
            (Some(by_area), Some(a)) => by_area.get(a.as_ref()).cloned().unwrap_or_default(),
            (Some(by_area), None) => by_area.values().flatten().copied().collect(),
            (None, _) => Vec::new(),
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
                let awaits = !Self::awaiting_cursors(&set, inst, kind).is_empty();
                awaits && self.is_open(i) && area.as_ref().is_none_or(|a| *a == inst.area)
            })
            .collect();
        if waiting.is_empty() {
            let open: Vec<InstanceAt> = candidates_all
                .iter()
                .filter_map(|&i| {
                    let inst = self.inst(i).filter(|x| x.at.is_some())?;
                    let at = inst.at?;
                    Some(InstanceAt {
                        instance: inst.id.clone(),
                        step: self.names.step(inst.plan, at),
                    })
                })
                .collect();
            out.push(Output::EventRefused(EventRefused {
                id: 0,
                ts: ctx.ts,
                kind: arc(kind),
                area,
                reason: if open.is_empty() {
                    "no_open_instance"
                } else {
                    "not_awaited"
                },
                open,
                cause: ctx.cause.clone(),
            }));
            return;
        }
        let fields = self.event_fields(ev);
        let by = StageBy {
            event: Some(ev.seq),
            by: arc(kind),
        };
        for i in waiting {
            if let Some(inst) = self.inst_mut(i) {
                inst.last_event = fields.clone();
                if inst.stages[3].is_none() {
                    inst.stages[3] = Some(ctx.ts);
                    inst.stage_by[3] = Some(by.clone());
                }
            }
            let cursors = self
                .inst(i)
                .map(|inst| Self::awaiting_cursors(&set, inst, kind))
                .unwrap_or_default();
            for (c, at) in &cursors {
                if self.inst(i).and_then(|x| x.at_of(*c)) == Some(*at) {
                    self.proceed_c(i, *c, ctx, out);
                }
            }
            if cursors.iter().any(|(c, _)| matches!(c, Cur::Fork(_))) {
                self.check_join(i, ctx, out);
            }
        }
    }

    /// The cursors of `inst` at a step awaiting events of `kind`.
    fn awaiting_cursors(
        set: &crate::workflow::ir::PlanSet,
        inst: &Instance,
        kind: &str,
    ) -> Vec<(Cur, StepIdx)> {
        let Some(plan) = set.plans.get(inst.plan) else {
            return Vec::new();
        };
        inst.cursors()
            .into_iter()
            .filter(|(_, at)| {
                matches!(plan.steps.get(usize::from(*at)).map(|s| &s.kind),
                    Some(StepKind::Wait { until: WaitFor::Event(k), .. }) if k == kind)
            })
            .collect()
    }

    /// The open instances of plans that await events of `kind` in `area`
    /// (every area when `None`), in start order.
    fn awaiting_plans_open(&self, kind: &str, area: Option<&str>) -> Vec<u32> {
        let mut v: Vec<u32> = Vec::new();
        let rows: Vec<&Vec<(usize, u32)>> = match area {
            Some(a) => self.state.open.get(a).into_iter().collect(),
            None => self.state.open.values().collect(),
        };
        for row in rows {
            for &(p, n) in row {
                let awaits = self.set.plans.get(p).is_some_and(|plan| {
                    plan.steps.iter().any(|s| {
                        matches!(&s.kind, StepKind::Wait { until: WaitFor::Event(k), .. } if k == kind)
                    })
                });
                if awaits {
                    v.push(n);
                }
            }
        }
        v.sort_unstable();
        v
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

    #[allow(
        clippy::too_many_arguments,
        reason = "an instance's identity, trigger and cause"
    )]
    pub(super) fn start(
        &mut self,
        p: usize,
        area: Arc<str>,
        trigger: String,
        level: Level,
        last_event: Vec<(Arc<str>, Value)>,
        inherited: Option<Inherited>,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let set = self.set.clone();
        let Some(plan) = set.plans.get(p) else { return };
        let (stages, stage_by) = match inherited {
            Some(x) => x,
            None if level > Level::None => (
                [Some(ctx.ts), None, None, None],
                [
                    Some(StageBy {
                        event: cause_event(&ctx.cause),
                        by: arc(&trigger),
                    }),
                    None,
                    None,
                    None,
                ],
            ),
            None => ([None; 4], Default::default()),
        };
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
            stages,
            stage_by,
            runs: Vec::new(),
            last_event,
            affected: self.starting_township.take().into_iter().collect(),
            forks: Vec::new(),
            checks: Vec::new(),
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

    /// Records that instance `i` entered its current step (tracing only).
    fn trace_step(
        &self,
        inst: &Instance,
        step: &StepDef,
        at: StepIdx,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        if !self.set.trace {
            return;
        }
        let kind = step.kind.name();
        out.push(Output::StepEntered(StepEntered {
            head: head(
                self.names.plan(inst.plan),
                inst,
                self.names.step(inst.plan, at),
                ctx,
            ),
            kind,
        }));
    }

    /// Wakes an instance blocked on a condition or an answer: its own
    /// cursor, each of its parallel branches (in order), then its join.
    pub(super) fn resume(&mut self, i: u32, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(inst) = self.inst(i) else {
            return;
        };
        let cursors = inst.cursors();
        let forked = !inst.forks.is_empty();
        for (c, at) in cursors {
            self.resume_cur(i, c, at, ctx, out);
        }
        if forked {
            self.check_join(i, ctx, out);
        }
    }

    /// Wakes cursor `c` of instance `i` if it is still at step `was`.
    fn resume_cur(&mut self, i: u32, c: Cur, was: StepIdx, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let Some(inst) = self.inst(i) else {
            return;
        };
        if inst.at_of(c) != Some(was) {
            return;
        }
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
        let Some(step) = plan.steps.get(usize::from(was)) else {
            return;
        };
        match &step.kind {
            StepKind::AwaitAck { of, on_timeout, .. } => match inst.latest_run(*of) {
                Some(r) if r.answered => self.proceed_c(i, c, ctx, out),
                Some(r) if r.unanswered => self.goto_c(i, c, *on_timeout, ctx, out),
                _ => {}
            },
            StepKind::Wait {
                until: WaitFor::Cond(cond),
                ..
            } if self.holds(i, cond) => self.proceed_c(i, c, ctx, out),
            _ => {}
        }
    }

    /// Leaves the current step by its `next` transition.
    fn proceed(&mut self, i: u32, ctx: &Ctx, out: &mut Vec<Output>) {
        self.proceed_c(i, Cur::Main, ctx, out);
    }

    /// Leaves cursor `c`'s step by its `next` transition.
    pub(super) fn proceed_c(&mut self, i: u32, c: Cur, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let next = self.inst(i).and_then(|inst| {
            set.plans
                .get(inst.plan)?
                .steps
                .get(usize::from(inst.at_of(c)?))?
                .next
        });
        match next {
            Some(n) => self.goto_c(i, c, n, ctx, out),
            None => {
                // a last step with nowhere to go: the cursor parks (validation reports this)
                if let Some(inst) = held_mut(&mut self.state, &self.derived, i) {
                    let at = inst.at_of(c);
                    inst.move_to(c, at);
                }
            }
        }
    }

    /// Moves cursor `c` to step `to` and runs from there; a branch that moves
    /// may complete its parallel step's join.
    pub(super) fn goto_c(&mut self, i: u32, c: Cur, to: StepIdx, ctx: &Ctx, out: &mut Vec<Output>) {
        if let Some(inst) = held_mut(&mut self.state, &self.derived, i) {
            inst.move_to(c, Some(to));
        }
        self.run_cur(i, c, ctx, out);
        if matches!(c, Cur::Fork(_)) {
            self.check_join(i, ctx, out);
        }
    }

    /// Whether the join the instance waits at holds: `all` when every branch
    /// reached it, `any` when one did.
    fn join_holds(inst: &Instance, all: bool) -> bool {
        if all {
            inst.forks.iter().all(|f| f.done)
        } else {
            inst.forks.is_empty() || inst.forks.iter().any(|f| f.done)
        }
    }

    /// Passes the join instance `i` waits at, if it holds: reports it, stops
    /// the branches still running, and goes on.
    fn check_join(&mut self, i: u32, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let Some(inst) = self.inst(i) else {
            return;
        };
        let Some(at) = inst.at else {
            return;
        };
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
        let Some(StepKind::Join { all }) = plan.steps.get(usize::from(at)).map(|s| &s.kind) else {
            return;
        };
        if !Self::join_holds(inst, *all) {
            return;
        }
        self.pass_join(i, at, *all, ctx, out);
        self.proceed(i, ctx, out);
    }

    /// Reports that instance `i` passes join step `at` and stops its branches.
    fn pass_join(&mut self, i: u32, at: StepIdx, all: bool, ctx: &Ctx, out: &mut Vec<Output>) {
        let names = self.names.clone();
        let Some(inst) = self.inst_mut(i) else {
            return;
        };
        let forks = std::mem::take(&mut inst.forks);
        let Some(inst) = self.inst(i) else {
            return;
        };
        let branches = forks
            .iter()
            .map(|f| BranchStatus {
                branch: names.step(inst.plan, f.entry),
                status: if f.done {
                    "done"
                } else if f.at.is_some() {
                    "stopped"
                } else {
                    "parked"
                },
            })
            .collect();
        out.push(Output::Joined(Joined {
            head: head(names.plan(inst.plan), inst, names.step(inst.plan, at), ctx),
            mode: if all { "all" } else { "any" },
            branches,
        }));
    }

    fn level_of(&self, signal: &str, area: &str) -> Level {
        self.state
            .levels
            .get(signal)
            .and_then(|a| a.get(area))
            .and_then(|k| k.values().max().copied())
            .unwrap_or(Level::None)
    }

    /// A signal's level for an instance: in its area, or for a county-scoped
    /// instance the highest over its affected townships.
    fn inst_level(&self, signal: &str, inst: &Instance) -> Level {
        if inst.affected.is_empty() {
            return self.level_of(signal, &inst.area);
        }
        inst.affected
            .iter()
            .map(|a| self.level_of(signal, a))
            .max()
            .unwrap_or(Level::None)
    }

    /// Township `township` joins county-scoped instance `i`: recorded,
    /// reported, and its people called for the `in: affected` tiers already
    /// called (with those tiers' deadlines).
    fn join(&mut self, i: u32, township: &Arc<str>, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let names = self.names.clone();
        let Some(inst) = self.inst_mut(i) else { return };
        if inst.affected.contains(township) {
            return;
        }
        inst.affected.push(township.clone());
        let Some(inst) = self.inst(i) else { return };
        let at = inst
            .at
            .map_or_else(|| names.empty.clone(), |s| names.step(inst.plan, s));
        out.push(Output::AreaJoined(AreaJoined {
            head: head(names.plan(inst.plan), inst, at, ctx),
            joined: township.clone(),
            affected: inst.affected.clone(),
        }));
        let mut calls = Vec::new();
        for (ri, run) in inst.runs.iter().enumerate() {
            if run.answered || run.unanswered {
                continue;
            }
            let Some(ch) = run.chain.and_then(|c| set.chains.get(usize::from(c))) else {
                continue;
            };
            for (t, tier) in ch.tiers.iter().enumerate() {
                if !tier.per_affected || t >= usize::from(run.tiers_called) {
                    continue;
                }
                let deadline = run
                    .calls
                    .iter()
                    .find(|c| usize::from(c.tier) == t + 1)
                    .and_then(|c| c.deadline)
                    .unwrap_or(ctx.ts.ms.saturating_add(tier.timeout_ms));
                calls.push((ri as u32, usize::from(run.chain.unwrap_or(0)), t, deadline));
            }
        }
        for (ri, ci, t, deadline) in calls {
            let Some(ch) = set.chains.get(ci) else {
                continue;
            };
            let Some(tier) = ch.tiers.get(t) else {
                continue;
            };
            let people = self.roster.people_for(&tier.role, township);
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
        }
    }

    fn operand(&self, inst: &Instance, plan: &PlanDef, o: &Operand) -> Option<Value> {
        Some(match o {
            Operand::Level => {
                let l = plan
                    .triggers
                    .iter()
                    .filter_map(|t| match t {
                        Trigger::Signal { signal, .. } => Some(self.inst_level(signal, inst)),
                        _ => None,
                    })
                    .max()
                    .unwrap_or(Level::None);
                Value::Num(f64::from(l as u8))
            }
            Operand::SignalLevel(s) => Value::Num(f64::from(self.inst_level(s, inst) as u8)),
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
            Cond::CheckDone(s) => inst
                .checks
                .iter()
                .rev()
                .find(|c| c.step == *s)
                .is_some_and(|c| c.done.is_some()),
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
        self.run_cur(i, Cur::Main, ctx, out);
    }

    /// Executes steps of cursor `c` from its current one until it waits, the
    /// instance closes, or (a branch) it reaches its join.
    fn run_cur(&mut self, i: u32, c: Cur, ctx: &Ctx, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let names = self.names.clone();
        let mut declared: Vec<(usize, Arc<str>, Arc<str>, Response)> = Vec::new();
        let mut starts: Vec<(Arc<str>, String, Vec<Arc<str>>)> = Vec::new();
        let step_timer = |token: u64| match c {
            Cur::Main => TimerKind::Step { token },
            Cur::Fork(fork) => TimerKind::Fork { fork, token },
        };
        for _ in 0..STEP_BUDGET {
            let Some(inst) = self.inst(i) else {
                return;
            };
            let Some(plan) = set.plans.get(inst.plan) else {
                return;
            };
            let Some(at) = inst.at_of(c) else { break };
            let Some(step) = plan.steps.get(usize::from(at)) else {
                break;
            };
            if let (Cur::Fork(k), StepKind::Join { .. }) = (c, &step.kind) {
                // the branch is done: it waits for nothing more
                if let Some(f) = self
                    .inst_mut(i)
                    .and_then(|x| x.forks.get_mut(usize::from(k)))
                {
                    f.done = true;
                    f.at = None;
                    f.token += 1;
                }
                break;
            }
            if matches!(
                (c, &step.kind),
                (
                    Cur::Fork(_),
                    StepKind::Close { .. } | StepKind::Parallel { .. }
                )
            ) {
                // not in a branch (validation rejects it): the branch stops
                if let Some(inst) = self.inst_mut(i) {
                    inst.move_to(c, None);
                }
                break;
            }
            let h = head(names.plan(inst.plan), inst, names.step(inst.plan, at), ctx);
            self.trace_step(inst, step, at, ctx, out);
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
                        if inst.stages[1].is_none() {
                            inst.stages[1] = Some(ctx.ts);
                            inst.stage_by[1] = Some(StageBy {
                                event: cause_event(&ctx.cause),
                                by: arc(&format!("{}级响应", level.roman())),
                            });
                        }
                    }
                }
                StepKind::Branch { arms, otherwise } => {
                    let to = arms
                        .iter()
                        .find(|(c, _)| self.eval(inst, plan, c))
                        .map_or(*otherwise, |(_, t)| *t);
                    self.set_at_c(i, c, to);
                    continue;
                }
                StepKind::AwaitAck {
                    of,
                    timeout_ms,
                    on_timeout,
                } => match inst.latest_run(*of) {
                    Some(r) if r.answered => {}
                    Some(r) if r.unanswered => {
                        self.set_at_c(i, c, *on_timeout);
                        continue;
                    }
                    _ => {
                        let token = inst.token_of(c);
                        self.new_timer(ctx.ts.ms.saturating_add(*timeout_ms), i, step_timer(token));
                        break;
                    }
                },
                StepKind::Wait {
                    until, timeout_ms, ..
                } => {
                    let token = inst.token_of(c);
                    let done = match until {
                        WaitFor::Duration(ms) => {
                            self.new_timer(ctx.ts.ms.saturating_add(*ms), i, step_timer(token));
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
                            self.new_timer(ctx.ts.ms.saturating_add(*t), i, step_timer(token));
                        }
                        break;
                    }
                }
                StepKind::Close { verify } => {
                    self.close(i, verify, h, out);
                    break;
                }
                StepKind::Parallel { branches, join } => {
                    if let Some(inst) = self.inst_mut(i) {
                        inst.forks = branches
                            .iter()
                            .map(|&b| Fork {
                                entry: b,
                                at: Some(b),
                                token: 0,
                                done: false,
                            })
                            .collect();
                        inst.move_to(c, Some(*join));
                    }
                    // each branch runs until it waits, in order
                    for k in 0..branches.len() {
                        self.run_cur(i, Cur::Fork(k as u16), ctx, out);
                    }
                    continue;
                }
                StepKind::Check { name, due_ms } => {
                    self.open_check(i, at, name, *due_ms, ctx);
                }
                StepKind::StartPlan { plan, villages } => {
                    starts.push((
                        inst.id.clone(),
                        plan.clone(),
                        self.start_areas(inst, *villages),
                    ));
                }
                StepKind::Supplies { table, rows } => {
                    let table = arc(table);
                    for r in rows {
                        out.push(Output::Supply(Supply {
                            head: h.clone(),
                            table: table.clone(),
                            township: arc(&r.township),
                            item: arc(&r.item),
                            quantity: r.quantity,
                            unit: r.unit.as_deref().map(arc),
                        }));
                    }
                }
                StepKind::Join { all } => {
                    if !Self::join_holds(inst, *all) {
                        break;
                    }
                    self.pass_join(i, at, *all, ctx, out);
                }
            }
            match step.next {
                Some(n) => self.set_at_c(i, c, n),
                None => break,
            }
        }
        // response levels declared here may start other plans in the same area
        for (plan, from, area, level) in declared {
            self.on_declared(plan, &from, &area, level, ctx, out);
        }
        for (from, plan, areas) in starts {
            self.start_plans(&from, &plan, &areas, ctx, out);
        }
    }

    /// Where a `start_plan` step of `inst` starts its plan: its area, or
    /// each village of it (of each affected township for a county instance):
    /// the areas whose first parent it is and whose name is a village's or
    /// community's (`…村`, `…社区`), in roster order.
    fn start_areas(&self, inst: &Instance, villages: bool) -> Vec<Arc<str>> {
        if !villages {
            return vec![inst.area.clone()];
        }
        let within: Vec<&Arc<str>> = if inst.affected.is_empty() {
            vec![&inst.area]
        } else {
            inst.affected.iter().collect()
        };
        let mut v = Vec::new();
        for w in within {
            for a in &self.set.roster.areas {
                if a.parent.as_deref() == Some(w.as_ref()) && is_village(&a.name) {
                    v.push(arc(&a.name));
                }
            }
        }
        v
    }

    /// Instance `from` starts plan `plan` in `areas` (an instance already
    /// open there is reported, not restarted; an unknown plan is refused).
    fn start_plans(
        &mut self,
        from: &Arc<str>,
        plan: &str,
        areas: &[Arc<str>],
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let ctx = Ctx {
            ts: ctx.ts,
            cause: Cause::Plan {
                instance: from.clone(),
            },
        };
        let p = self.set.plans.iter().position(|x| x.name == plan);
        let trigger = format!("{from} 启动");
        for area in areas {
            let open = p.and_then(|p| self.open_of(p, area));
            match (p, open) {
                (Some(p), None) => {
                    // the warning that started the starter is this instance's too
                    let source = self.state.instances.iter().find(|x| x.id == *from);
                    let inherited = source.map(|src| {
                        (
                            [src.stages[0], None, None, None],
                            [src.stage_by[0].clone(), None, None, None],
                        )
                    });
                    self.start(
                        p,
                        area.clone(),
                        trigger.clone(),
                        Level::None,
                        Vec::new(),
                        inherited,
                        &ctx,
                        out,
                    );
                }
                (p, open) => {
                    let instance = open.and_then(|i| self.inst(i)).map(|i| i.id.clone());
                    out.push(Output::PlanStartRejected(PlanStartRejected {
                        id: 0,
                        ts: ctx.ts,
                        plan: arc(plan),
                        area: area.clone(),
                        reason: if p.is_some() {
                            StartReject::AlreadyOpen
                        } else {
                            StartReject::UnknownPlan
                        },
                        instance,
                        known: Vec::new(),
                        cause: ctx.cause.clone(),
                    }));
                }
            }
        }
    }

    fn set_at_c(&mut self, i: u32, c: Cur, to: StepIdx) {
        if let Some(inst) = held_mut(&mut self.state, &self.derived, i) {
            inst.move_to(c, Some(to));
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
                    // the warning and the response that started it are this instance's too
                    let source = self
                        .state
                        .instances
                        .iter()
                        .find(|x| x.id == *from && x.at.is_some());
                    let inherited = source.map(|src| {
                        (
                            [src.stages[0], Some(ctx.ts), None, None],
                            [
                                src.stage_by[0].clone(),
                                Some(StageBy {
                                    event: None,
                                    by: arc(&trigger),
                                }),
                                None,
                                None,
                            ],
                        )
                    });
                    self.start(
                        p,
                        area.clone(),
                        trigger,
                        Level::None,
                        Vec::new(),
                        inherited,
                        &ctx,
                        out,
                    );
                }
            }
        }
    }

    fn close(&mut self, i: u32, verify: &[Verify], h: Head, out: &mut Vec<Output>) {
        // 核实: in a plan that awaits a verification event (`wait: { event: .. }`)
        // that event; in one that awaits none, the closing step itself
        let awaits_event = self
            .inst(i)
            .and_then(|x| self.set.plans.get(x.plan))
            .is_some_and(|p| {
                p.steps.iter().any(|s| {
                    matches!(
                        s.kind,
                        StepKind::Wait {
                            until: WaitFor::Event(_),
                            ..
                        }
                    )
                })
            });
        let Some(inst) = held_mut(&mut self.state, &self.derived, i) else {
            return;
        };
        if !awaits_event && inst.stages[3].is_none() {
            inst.stages[3] = Some(h.ts);
            inst.stage_by[3] = Some(StageBy {
                event: cause_event(&h.cause),
                by: arc(&format!("close {}", h.step)),
            });
        }
        let stages: Vec<VerifyStage> = verify
            .iter()
            .map(|v| {
                let at = inst.stages.get(*v as usize).copied().flatten();
                let by = inst.stage_by.get(*v as usize).cloned().flatten();
                let missing = match v {
                    Verify::Warning => "missing: not started by a warning",
                    Verify::Response => "missing: no response level was declared",
                    Verify::Feedback => "missing: nobody answered a call",
                    Verify::Verified => "missing: no verification event arrived",
                };
                VerifyStage {
                    stage: v.name(),
                    at,
                    status: if at.is_some() { "done" } else { "missing" },
                    event: by.as_ref().and_then(|b| b.event),
                    by: match (at, by) {
                        (Some(_), Some(b)) => b.by,
                        (Some(_), None) => arc(v.name()),
                        (None, _) => arc(missing),
                    },
                }
            })
            .collect();
        let complete = stages.iter().all(|s| s.at.is_some());
        let mut unanswered: Vec<Arc<str>> = Vec::new();
        for c in inst.runs.iter().flat_map(|r| r.calls.iter()) {
            if c.acked.is_none() && c.declined.is_none() && !unanswered.contains(&c.person) {
                unanswered.push(c.person.clone());
            }
        }
        inst.at = None;
        inst.token += 1;
        inst.forks.clear();
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
