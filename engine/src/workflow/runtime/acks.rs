//! Acknowledgements: an ack is matched to its call (by reference, or by the
//! person's single open call), recorded, or rejected with its reason. While
//! the shell processes one instant, acks whose call does not exist yet are
//! kept and retried (the call may open at the same instant).

use super::state::{ClosedRef, StageBy, held_mut};
use super::{ACK_KIND, Ctx, WorkflowRuntime, arc, head};
use crate::event::Event;
use crate::output::Output;
use crate::time::{Timestamp, format_duration};
use crate::workflow::ir::ChainKind;
use crate::workflow::out::{AckReject, AckRejected, Acked, Cause, Declined};
use std::sync::Arc;

impl WorkflowRuntime {
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
                run.uncalled(ch)
                    .into_iter()
                    .filter_map(|t| ch.tiers.get(t))
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

    pub(super) fn on_ack(&mut self, ev: &Event, ctx: &Ctx, out: &mut Vec<Output>) {
        let Some(person) = self.str_field(ev, "person") else {
            return;
        };
        let r = self.str_field(ev, "ref");
        let decline = match self.str_field(ev, "answer").as_deref() {
            None | Some("accept" | "接受" | "yes") => false,
            Some("decline" | "拒绝" | "no") => true,
            Some(_) => return self.reject(ev, person, r, None, AckReject::UnknownAnswer, out),
        };
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
                let mut held_closed: Option<(u32, u32)> = None;
                for &(ii, ri) in self.derived.unanswered.get(&person).into_iter().flatten() {
                    if self.is_open(ii) {
                        open.push((ii, ri));
                        if open.len() > 1 {
                            break; // ambiguous whatever else there is
                        }
                    } else {
                        closed = true;
                        held_closed = held_closed.max(Some((ii, ri)));
                    }
                }
                match open.as_slice() {
                    [one] => *one,
                    [] if closed => {
                        // name the instance that closed on the person's call
                        let names = held_closed
                            .and_then(|t| self.names_of(t))
                            .or_else(|| self.state.closed_last.get(&person).cloned());
                        return self.reject(ev, person, None, names, AckReject::Closed, out);
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
        if mine.iter().all(|&i| {
            run.calls
                .get(i)
                .is_some_and(|c| c.acked.is_some() || c.declined.is_some())
        }) {
            let names = self.names_of(target);
            return self.reject(ev, person, r, names, AckReject::Duplicate, out);
        }
        if decline {
            self.decline(target, &mine, &person, ctx, out);
            self.resume(target.0, ctx, out);
            return;
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
                } else if let Some(n) = def.need_n {
                    let all: Vec<bool> = calls.map(|c| c.acked.is_some()).collect();
                    let need = usize::from(n).min(all.len());
                    all.iter().filter(|a| **a).count() >= need
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
            Some(ch) if matches!(ch.kind, ChainKind::Escalation | ChainKind::Dispatch) => {
                run.tier_answered.iter().any(|a| *a) || tier == 0
            }
            Some(ch) if ch.kind == ChainKind::Relay => {
                run.tier_answered.last().copied().unwrap_or(false)
            }
            Some(_) => run.tier_answered.iter().all(|a| *a),
        };
        // a relay passes the call on once the tier called last has answered
        let pass_on = match chain {
            Some(ch) if ch.kind == ChainKind::Relay && !run.unanswered => {
                let t = usize::from(run.tiers_called);
                let answered_last = t
                    .checked_sub(1)
                    .and_then(|i| run.tier_answered.get(i))
                    .copied()
                    .unwrap_or(false);
                (answered_last && t < ch.tiers.len()).then_some(t)
            }
            _ => None,
        };
        let answers_chain = !was && run.answered;
        let call_ref = run.call_ref.clone();
        let step = names.step(inst.plan, run.step);
        if inst.stages[2].is_none() {
            inst.stages[2] = Some(ctx.ts);
            inst.stage_by[2] = Some(StageBy {
                event: match ctx.cause {
                    Cause::Event(e) => Some(e),
                    _ => None,
                },
                by: arc(&format!("ack {person}")),
            });
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
        if let (Some(next), Some(ch)) = (pass_on, chain) {
            self.call_tier(ii, ri, ch, next, ctx, out);
        }
    }

    /// `person` declined their calls `mine` of run `(ii, ri)`: recorded and
    /// reported; in an escalation or dispatch chain, a tier that can no
    /// longer give the answers it needs passes the call on at once.
    fn decline(
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
            runs.remove(&(ii, ri));
            if runs.is_empty() {
                self.derived.unanswered.remove(person);
            }
        }
        let Some(inst) = held_mut(&mut self.state, &self.derived, ii) else {
            return;
        };
        let Some(run) = inst.runs.get_mut(ri as usize) else {
            return;
        };
        let mut tier = None;
        for &ci in mine {
            if let Some(c) = run.calls.get_mut(ci) {
                if c.acked.is_none() && c.declined.is_none() {
                    c.declined = Some(ctx.ts);
                    tier.get_or_insert(c.tier);
                }
            }
        }
        let Some(tier) = tier else { return };
        let chain = run.chain.and_then(|c| set.chains.get(usize::from(c)));
        let role = match chain.and_then(|ch| ch.tiers.get(usize::from(tier).checked_sub(1)?)) {
            Some(t) => names.role(&t.role),
            None => names.empty.clone(),
        };
        // can the tier still give the answers it needs?
        let stuck = chain.is_some_and(|ch| {
            if !matches!(ch.kind, ChainKind::Escalation | ChainKind::Dispatch) || tier == 0 {
                return false;
            }
            let Some(def) = ch.tiers.get(usize::from(tier) - 1) else {
                return false;
            };
            let calls: Vec<&super::state::Call> =
                run.calls.iter().filter(|c| c.tier == tier).collect();
            let need = if def.need_all {
                calls.len()
            } else {
                def.need_n.map_or(1, |n| usize::from(n).min(calls.len()))
            };
            let possible = calls.iter().filter(|c| c.declined.is_none()).count();
            !run.answered && possible < need
        });
        let call_ref = run.call_ref.clone();
        let step = names.step(inst.plan, run.step);
        out.push(Output::Declined(Declined {
            head: head(names.plan(inst.plan), inst, step, ctx),
            person: person.clone(),
            call_ref,
            tier,
            role,
        }));
        if stuck {
            self.escalate_from(ii, ri, tier - 1, ctx.clone(), out);
        }
    }
}
