//! The timeline: events and the operators' timers, released instant by
//! instant in event-time order.
//!
//! **What is released when.** An instant `t` is processed once nothing
//! stamped `t` can still arrive in time: when the watermark (the stream's
//! clock less the largest lateness) has passed it, or at the end of input.
//! The next instant is the earliest of the next buffered event and every
//! operator's next timer; instants before it are all processed first, so
//! outputs come out in event-time order.
//!
//! **The rule at one instant `t`:**
//! 1. timers due before `t` have fired (they were earlier instants);
//! 2. every event stamped `t` that is not an ack is applied, in kind
//!    (declaration) order and then content order — never in arrival order or
//!    by the spelling of kind names: signals move, their level changes go to
//!    the plans (which may start and call their first tier at `t`), records
//!    go to the reporting deadlines;
//! 3. acks stamped `t` are applied: an ack from a person whose call is open
//!    counts, including a call opened at `t` by step 2, and an ack at exactly
//!    its tier's deadline is in time and stops that escalation;
//! 4. the timers due at `t` fire: absences (a reading at exactly the
//!    deadline came in step 2, in time), plan steps and tier escalations
//!    (calling the next tier at `t`), reporting deadlines;
//! 5. acks of step 3 that found no call are tried again after each round of
//!    step 4 (a person called at `t` by an escalation at `t` answered in
//!    time); those that still find none are rejected at the end of the
//!    instant (`not_called_yet` when the person is in a tier not called yet).

use super::Engine;
use super::reorder::Queued;
use crate::output::Output;
use crate::time::Timestamp;

impl Engine {
    /// The earliest timer of any operator.
    fn next_timer(&self) -> Option<i64> {
        // reporting deadlines fire between instants (`LiveDeadlines::advance`
        // before each instant and at the watermark), so they need no instant
        let plans = self.workflow.as_ref().and_then(|w| w.next_due());
        [self.signals.next_due(), plans].into_iter().flatten().min()
    }

    /// Processes every instant before `wm` (through `wm` when `inclusive`:
    /// the end of input), in time order.
    pub(super) fn release(&mut self, wm: i64, inclusive: bool, out: &mut Vec<Output>) {
        loop {
            let t = match (self.pending.next_time(), self.next_timer()) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if t > wm || (t == wm && !inclusive) {
                break;
            }
            self.run_instant(t, out);
        }
        let done = if inclusive { wm } else { wm.saturating_sub(1) };
        if let Some(d) = self.deadlines.as_mut() {
            // deadlines due before the watermark (through it at the end of input)
            d.advance(done.saturating_add(1), out);
        }
        self.released = self.released.max(done);
        if let Some(ttl) = self.config.idle_ttl_ms {
            self.signals.forget_idle(wm, ttl, &mut self.stats.evicted);
        }
        self.forget_old(wm);
    }

    /// One instant (see the module docs for the rule).
    fn run_instant(&mut self, t: i64, out: &mut Vec<Output>) {
        let offset = self.offset_min;
        let mut group = std::mem::take(&mut self.group);
        group.clear();
        if self.pending.next_time() == Some(t) {
            self.pending.pop_group(&mut group);
        }
        if let Some(d) = self.deadlines.as_mut() {
            // 1. deadlines due before t
            d.advance(t, out);
        }
        if let Some(w) = self.workflow.as_mut() {
            w.begin_instant();
        }
        // 2. events that are not acks, then 3. acks (a stable partition keeps
        // the release order within each)
        let is_ack = |q: &Queued, w: &Option<crate::workflow::WorkflowRuntime>| {
            w.as_ref().is_some_and(|w| w.is_ack(&q.ev))
        };
        for pass in [false, true] {
            for q in group.iter_mut() {
                if is_ack(q, &self.workflow) == pass {
                    self.apply_event(q, out);
                }
            }
        }
        // 4. timers due at t, 5. acks retried after each round
        loop {
            self.signals.fire_through(t, offset, out);
            if let Some(w) = self.workflow.as_mut() {
                w.fire_through(t, out);
            }
            if let Some(d) = self.deadlines.as_mut() {
                // due at t: after the records stamped t (a report at its deadline is in time)
                d.advance(t.saturating_add(1), out);
            }
            let again = self
                .workflow
                .as_mut()
                .is_some_and(|w| w.retry_deferred(out));
            if !again || self.next_timer().is_none_or(|n| n > t) {
                break;
            }
        }
        if let Some(w) = self.workflow.as_mut() {
            w.end_instant(out);
        }
        self.released = self.released.max(t);
        for q in group.drain(..) {
            if self.spare_events.len() < super::SPARE_EVENTS {
                self.spare_events.push(q.ev);
            }
        }
        self.group = group;
    }

    /// Applies one released event to every operator that takes it.
    fn apply_event(&mut self, q: &mut Queued, out: &mut Vec<Output>) {
        if let (Some(d), Some(rec)) = (self.deadlines.as_mut(), q.record.take()) {
            let (r, line) = *rec;
            d.observe(&line, q.ev.seq, &r, out);
        }
        let first = out.len();
        if self.signals.apply_event(&q.ev, &q.skip, out) {
            self.stats.applied += 1;
        }
        if let Some(wf) = self.workflow.as_mut() {
            // the event itself (acks, manual starts), then reactions to level changes
            let mut produced = std::mem::take(&mut self.produced);
            let mut reactions = std::mem::take(&mut self.reactions);
            produced.extend(out.drain(first..));
            wf.on_event(&q.ev, out);
            for o in produced.drain(..) {
                wf.on_output(&o, &mut reactions);
                out.push(o);
                out.append(&mut reactions);
            }
            self.produced = produced;
            self.reactions = reactions;
        }
    }

    /// End of input: every buffered event and every timer due by the clock.
    pub(super) fn end_of_input(&mut self, out: &mut Vec<Output>) {
        // events ahead of the clock (a source running ahead) are released too
        let Some(end) = self.end_time() else {
            return;
        };
        self.clock.force(end);
        self.release(end, true, out);
        let ts = Timestamp {
            ms: end,
            offset_min: self.offset_min,
        };
        self.signals.scripts.flush(ts);
        out.append(&mut self.signals.scripts.pending);
    }

    /// Duplicate filters only need what could still arrive in time.
    fn forget_old(&mut self, wm: i64) {
        let horizon = wm.saturating_sub(self.max_lateness());
        let by_time = &mut self.dedupe_by_time;
        // (restored filters: their time order is rebuilt once)
        if by_time.ids.len() != self.seen_ids.len() {
            by_time.ids = self
                .seen_ids
                .iter()
                .map(|(id, t)| std::cmp::Reverse((*t, id.clone())))
                .collect();
        }
        if by_time.kkt.len() != self.seen_kkt.len() {
            by_time.kkt = self
                .seen_kkt
                .iter()
                .map(|(k, key, t)| std::cmp::Reverse((*t, *k, key.clone())))
                .collect();
        }
        // the filters keep what could still arrive in time (once they hold
        // more than 1024 ids, or any kind-key-time entry)
        if self.seen_ids.len() > 1024 || !self.seen_kkt.is_empty() {
            while let Some(std::cmp::Reverse((t, _))) = by_time.ids.peek() {
                if *t >= horizon {
                    break;
                }
                if let Some(std::cmp::Reverse((_, id))) = by_time.ids.pop() {
                    self.seen_ids.remove(&id);
                }
            }
            while let Some(std::cmp::Reverse((t, _, _))) = by_time.kkt.peek() {
                if *t >= horizon {
                    break;
                }
                if let Some(std::cmp::Reverse((t, k, key))) = by_time.kkt.pop() {
                    self.seen_kkt.remove(&(k, key, t));
                }
            }
        }
    }
}
