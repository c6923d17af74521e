//! Call runs of notify steps: the calls of a chain's tiers (escalation: one
//! tier at a time; responsibility: all at once), of a role, and of a chain's
//! fallback, and what a tier's timeout does (escalate, or give up).

use super::state::{Call, CallRun, TimerKind, held_mut};
use super::{Ctx, WorkflowRuntime, arc, head};
use crate::output::Output;
use crate::time::{Timestamp, format_duration};
use crate::workflow::ir::{ChainDef, ChainIdx, ChainKind, StepIdx};
use crate::workflow::out::{Cause, Escalated, Notify, NotifyFailed, Unanswered};
use std::sync::Arc;

impl WorkflowRuntime {
    pub(super) fn start_run(
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
            order: Vec::new(),
        });
        // a reference made again (names that run into each other) now means this run
        self.state.closed_refs.remove(&call_ref);
        self.state.refs.insert(call_ref, (i, ri));
        match (chain.and_then(|c| set.chains.get(usize::from(c))), role) {
            (Some(ch), _) => match ch.kind {
                ChainKind::Escalation | ChainKind::Relay => self.call_tier(i, ri, ch, 0, ctx, out),
                ChainKind::Dispatch => {
                    // nearest first: the fewest area links to a holder; nobody: last
                    let area = self.area_str(i);
                    let mut order: Vec<(usize, u16)> = ch
                        .tiers
                        .iter()
                        .enumerate()
                        .map(|(t, tier)| {
                            let d = self
                                .roster
                                .distance(&tier.role, &area)
                                .unwrap_or(usize::MAX);
                            (d, t as u16)
                        })
                        .collect();
                    order.sort();
                    let order: Vec<u16> = order.into_iter().map(|(_, t)| t).collect();
                    let first = order.first().copied().map_or(0, usize::from);
                    if let Some(run) = self.inst_mut(i).and_then(|x| x.runs.get_mut(ri as usize)) {
                        run.order = order;
                    }
                    self.call_tier(i, ri, ch, first, ctx, out);
                }
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

    pub(super) fn call_tier(
        &mut self,
        i: u32,
        ri: u32,
        ch: &ChainDef,
        t: usize,
        ctx: &Ctx,
        out: &mut Vec<Output>,
    ) {
        let Some(tier) = ch.tiers.get(t) else { return };
        let affected = self.inst(i).map(|x| x.affected.clone()).unwrap_or_default();
        let people = if tier.per_affected && !affected.is_empty() {
            // the role in each affected township, each person once
            let mut v: Vec<usize> = Vec::new();
            for a in &affected {
                for p in self.roster.people_for(&tier.role, a) {
                    if !v.contains(&p) {
                        v.push(p);
                    }
                }
            }
            v
        } else {
            self.roster.people_for(&tier.role, &self.area_str(i))
        };
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
            let pos = run.position(t);
            run.tiers_called = run.tiers_called.max((pos + 1) as u16);
        }
        if people.is_empty() && ch.kind == ChainKind::Dispatch {
            // a tier with nobody to send cannot respond: the next one is called now
            self.escalate_from(i, ri, t as u16, ctx.clone(), out);
            return;
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
    pub(super) fn call_people(
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
        if people.is_empty() {
            let known = roster.knows_area(&inst.area);
            out.push(Output::NotifyFailed(NotifyFailed {
                head: h,
                chain,
                tier,
                message: arc(&if known {
                    format!(
                        "nobody holds the role `{role}` in `{}`, an area enclosing it or one within it",
                        inst.area
                    )
                } else {
                    format!("the area `{}` is not in the roster", inst.area)
                }),
                role,
                why: if known {
                    "no_holder"
                } else {
                    "area_not_in_roster"
                },
            }));
            return;
        }
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
                declined: None,
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

    pub(super) fn tier_timeout(
        &mut self,
        i: u32,
        ri: u32,
        t: u16,
        due: Timestamp,
        out: &mut Vec<Output>,
    ) {
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
        self.escalate_from(i, ri, t, ctx, out);
    }

    /// Tier `t` (0-based) of run `ri` cannot respond (it timed out, or every
    /// person of it declined): the next tier is called, or, after the last,
    /// the chain is unanswered and the fallback called.
    pub(super) fn escalate_from(
        &mut self,
        i: u32,
        ri: u32,
        t: u16,
        ctx: Ctx,
        out: &mut Vec<Output>,
    ) {
        let set = self.set.clone();
        let names = self.names.clone();
        let Some(inst) = self.inst(i) else {
            return;
        };
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
        let one_at_a_time = matches!(ch.kind, ChainKind::Escalation | ChainKind::Dispatch);
        if one_at_a_time
            && (run.answered
                || run.unanswered
                || usize::from(run.tiers_called) > run.position(usize::from(t)) + 1)
        {
            // answered, given up, or already passed on (a decline came first)
            return;
        }
        let h = head(
            names.plan(inst.plan),
            inst,
            names.step(inst.plan, run.step),
            &ctx,
        );
        let pending_of = |tier_no: Option<u16>| -> Vec<Arc<str>> {
            // each person once, in calling order (one person may hold two tiers)
            let mut v: Vec<Arc<str>> = Vec::new();
            for c in &run.calls {
                if c.acked.is_none()
                    && c.declined.is_none()
                    && tier_no.is_none_or(|n| c.tier == n)
                    && !v.contains(&c.person)
                {
                    v.push(c.person.clone());
                }
            }
            v
        };
        // a responsibility tier stands alone; a relay is broken by any tier
        let next = if one_at_a_time {
            run.next_tier(ch, usize::from(t))
        } else {
            None
        };
        if let Some(next) = next {
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
            ChainKind::Escalation | ChainKind::Dispatch => {
                ch.tiers.iter().map(|x| names.role(&x.role)).collect()
            }
            ChainKind::Responsibility | ChainKind::Relay => vec![names.role(&tier.role)],
        };
        let fallback_done = run.fallback_called;
        // an escalation chain: everyone still pending; a responsibility or relay
        // tier stands for itself: its own people
        let pending = match ch.kind {
            ChainKind::Escalation | ChainKind::Dispatch => pending_of(None),
            ChainKind::Responsibility | ChainKind::Relay => pending_of(Some(t + 1)),
        };
        out.push(Output::Unanswered(Unanswered {
            head: h.clone(),
            chain: chain_name,
            roles,
            pending,
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
}
