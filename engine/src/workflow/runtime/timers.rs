//! The timer queue: timers live in a binary heap ordered by due time and
//! sequence; firing one runs a step's timeout or wait, or a tier's timeout.
//! Obsolete timers are dropped when they surface.

use super::state::{Cur, Timer, TimerKind};
use super::{Ctx, WorkflowRuntime, arc, head};
use crate::output::Output;
use crate::time::{Timestamp, format_duration};
use crate::workflow::ir::{StepKind, WaitFor};
use crate::workflow::out::{Cause, TimedOut};
use std::cmp::Reverse;

impl WorkflowRuntime {
    /// When the earliest timer is due (the shell merges it into the one
    /// event-time timeline).
    pub fn next_due(&self) -> Option<i64> {
        self.state.timers.peek().map(|Reverse(t)| t.due)
    }

    /// Fires every timer due at or before `t` (the instant the shell is
    /// processing, after its events and acks). Instances this closes are
    /// compacted before it returns.
    pub fn fire_through(&mut self, t: i64, out: &mut Vec<Output>) {
        self.fire_until(t, out);
        self.state.now_ms = self.state.now_ms.max(t);
        self.compact();
    }

    /// Fires every timer due strictly before `now_ms`, then moves the clock
    /// there. Instances this closes are compacted before it returns.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        self.fire_due(now_ms, out);
        self.compact();
    }

    pub(super) fn fire_due(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        self.fire_until(now_ms.saturating_sub(1), out);
        self.state.now_ms = self.state.now_ms.max(now_ms);
    }

    /// Fires the timers due at or before `last`, in due order.
    fn fire_until(&mut self, last: i64, out: &mut Vec<Output>) {
        while let Some(Reverse(timer)) = self.state.timers.peek().copied() {
            if timer.due > last {
                break;
            }
            self.state.timers.pop();
            self.state.now_ms = self.state.now_ms.max(timer.due);
            self.fire(timer, out);
        }
    }

    pub(super) fn new_timer(&mut self, due: i64, inst: u32, kind: TimerKind) {
        self.state.timer_seq += 1;
        let seq = self.state.timer_seq;
        self.state.timers.push(Reverse(Timer {
            due,
            seq,
            inst,
            kind,
        }));
    }

    fn fire(&mut self, t: Timer, out: &mut Vec<Output>) {
        let due = Timestamp {
            ms: t.due,
            offset_min: self.state.offset_min,
        };
        if let TimerKind::Calendar { plan, trigger } = t.kind {
            return self.fire_calendar(plan, trigger, due, out);
        }
        if !self.is_open(t.inst) {
            return;
        }
        if let TimerKind::Check { check } = t.kind {
            return self.check_due(t.inst, check, due, out);
        }
        let set = self.set.clone();
        let Some(inst) = self.inst(t.inst) else {
            return;
        };
        let Some(plan) = set.plans.get(inst.plan) else {
            return;
        };
        let step_cursor = match t.kind {
            TimerKind::Step { token } => Some((Cur::Main, token)),
            TimerKind::Fork { fork, token } => Some((Cur::Fork(fork), token)),
            TimerKind::Tier { .. } | TimerKind::Check { .. } | TimerKind::Calendar { .. } => None,
        };
        match t.kind {
            TimerKind::Step { .. } | TimerKind::Fork { .. } => {
                let Some((c, token)) = step_cursor else {
                    return;
                };
                if token != inst.token_of(c) {
                    return;
                }
                let Some(step) = inst.at_of(c).and_then(|s| plan.steps.get(usize::from(s))) else {
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
                        .at_of(c)
                        .map_or_else(|| names.empty.clone(), |s| names.step(inst.plan, s));
                    out.push(Output::TimedOut(TimedOut {
                        head: head(names.plan(inst.plan), inst, step_name, &ctx),
                        timeout: format_duration(ms),
                        to: arc(to_name),
                    }));
                }
                if let Some(s) = to {
                    self.goto_c(t.inst, c, s, &ctx, out);
                }
            }
            TimerKind::Tier { run, tier } => self.tier_timeout(t.inst, run, tier, due, out),
            TimerKind::Check { .. } | TimerKind::Calendar { .. } => {}
        }
    }
}
