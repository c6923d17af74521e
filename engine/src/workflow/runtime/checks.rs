//! Plans started on a calendar, and checks that must be reported done.
//!
//! A calendar trigger (`calendar: "04-01"`) is a timer on the one clock: its
//! first date is set at the stream's first event (the first occurrence at or
//! after it, in the local time of that event's offset); when event time
//! reaches it, an instance starts in each listed area, and the same date of
//! the next year is set.
//!
//! A `check` step opens a check with a deadline and goes on. A
//! `check_report` event naming the check and the area marks it done
//! (`check_done`, in time when at or before the deadline); a check not done
//! when its deadline passes is a `check_overdue` output (the deadline is
//! inclusive, like every deadline: a report stamped at it is in time).

use super::state::{CheckState, TimerKind};
use super::{AREA_FIELD, Ctx, WorkflowRuntime, arc, head};
use crate::event::Event;
use crate::output::Output;
use crate::time::{MS_PER_DAY, Timestamp, civil_from_days, days_from_civil, format_duration};
use crate::value::Level;
use crate::workflow::ir::{StepIdx, Trigger};
use crate::workflow::out::{
    Cause, CheckDone, CheckOverdue, EventRefused, InstanceAt, PlanStartRejected, StartReject,
};

/// The timer slot calendar timers use for their (absent) instance.
const NO_INSTANCE: u32 = u32::MAX;

/// The first time at or after `now` (local time at `offset_min`) that is
/// `month-day` at `minute` past midnight; `None` past the calendar's range.
fn next_date(now: Timestamp, month: u8, day: u8, minute: u16) -> Option<i64> {
    let off = i64::from(now.offset_min) * 60_000;
    let local_days = (now.ms + off).div_euclid(MS_PER_DAY);
    let (year, _, _) = civil_from_days(local_days);
    for y in [year, year + 1, year + 2] {
        let days = days_from_civil(y, i64::from(month), i64::from(day));
        // a day that does not exist in this year (29 February) is skipped
        if civil_from_days(days) != (y, i64::from(month), i64::from(day)) {
            continue;
        }
        let t = days
            .checked_mul(MS_PER_DAY)?
            .checked_add(i64::from(minute) * 60_000)?
            .checked_sub(off)?;
        if t >= now.ms {
            return Some(t);
        }
    }
    None
}

impl WorkflowRuntime {
    /// Sets every calendar trigger's first date, at the first event.
    pub(super) fn arm_calendar(&mut self, now: Timestamp) {
        self.state.calendar_armed = true;
        let set = self.set.clone();
        for (p, plan) in set.plans.iter().enumerate() {
            for (k, t) in plan.triggers.iter().enumerate() {
                if let Trigger::Calendar {
                    month, day, minute, ..
                } = t
                {
                    if let Some(due) = next_date(now, *month, *day, *minute) {
                        self.new_timer(
                            due,
                            NO_INSTANCE,
                            TimerKind::Calendar {
                                plan: p as u32,
                                trigger: k as u16,
                            },
                        );
                    }
                }
            }
        }
    }

    /// A calendar date came: an instance starts in each listed area (one
    /// already open there is reported, not restarted), and next year's date
    /// is set.
    pub(super) fn fire_calendar(&mut self, p: u32, k: u16, due: Timestamp, out: &mut Vec<Output>) {
        let set = self.set.clone();
        let p = p as usize;
        let Some(plan) = set.plans.get(p) else {
            return;
        };
        let Some(Trigger::Calendar {
            at,
            month,
            day,
            minute,
            areas,
        }) = plan.triggers.get(usize::from(k))
        else {
            return;
        };
        let what = arc(&format!("日历 {at}"));
        let ctx = Ctx {
            ts: due,
            cause: Cause::Timer {
                what: what.clone(),
                due,
            },
        };
        for area in areas {
            let area = arc(area);
            match self.open_of(p, &area) {
                None => self.start(
                    p,
                    area,
                    what.to_string(),
                    Level::None,
                    Vec::new(),
                    None,
                    &ctx,
                    out,
                ),
                Some(open) => {
                    let instance = self.inst(open).map(|i| i.id.clone());
                    out.push(Output::PlanStartRejected(PlanStartRejected {
                        id: 0,
                        ts: due,
                        plan: self.names.plan(p),
                        area,
                        reason: StartReject::AlreadyOpen,
                        instance,
                        known: Vec::new(),
                        cause: ctx.cause.clone(),
                    }));
                }
            }
        }
        let after = Timestamp {
            ms: due.ms.saturating_add(1),
            offset_min: due.offset_min,
        };
        if let Some(next) = next_date(after, *month, *day, *minute) {
            self.new_timer(
                next,
                NO_INSTANCE,
                TimerKind::Calendar {
                    plan: p as u32,
                    trigger: k,
                },
            );
        }
    }

    /// A `check` step: the check opens with its deadline.
    pub(super) fn open_check(&mut self, i: u32, step: StepIdx, name: &str, due_ms: i64, ctx: &Ctx) {
        let due = ctx.ts.ms.saturating_add(due_ms);
        let Some(inst) = self.inst_mut(i) else {
            return;
        };
        let idx = inst.checks.len() as u16;
        inst.checks.push(CheckState {
            step,
            name: arc(name),
            opened: ctx.ts,
            due,
            done: None,
        });
        self.new_timer(due, i, TimerKind::Check { check: idx });
    }

    /// A check's deadline passed: overdue unless reported done.
    pub(super) fn check_due(&mut self, i: u32, check: u16, due: Timestamp, out: &mut Vec<Output>) {
        let names = self.names.clone();
        let Some(inst) = self.inst(i) else {
            return;
        };
        let Some(c) = inst.checks.get(usize::from(check)) else {
            return;
        };
        if c.done.is_some() {
            return;
        }
        let ctx = Ctx {
            ts: due,
            cause: Cause::Timer {
                what: arc(&format!(
                    "{} 限 {}",
                    c.name,
                    format_duration(c.due - c.opened.ms)
                )),
                due,
            },
        };
        out.push(Output::CheckOverdue(CheckOverdue {
            head: head(
                names.plan(inst.plan),
                inst,
                names.step(inst.plan, c.step),
                &ctx,
            ),
            check: c.name.clone(),
            opened: c.opened,
            due,
        }));
    }

    /// A `check_report`: the earliest open check of that name in the area's
    /// open instances is done; a report nobody waits for is refused
    /// (`event_refused`: `no_open_check`, or `already_done`).
    pub(super) fn on_check_report(&mut self, ev: &Event, ctx: &Ctx, out: &mut Vec<Output>) {
        let (Some(check), Some(area)) =
            (self.str_field(ev, "check"), self.str_field(ev, AREA_FIELD))
        else {
            return;
        };
        let person = self.str_field(ev, "person");
        let mut open: Vec<u32> = self
            .state
            .open
            .get(area.as_ref())
            .map(|row| row.iter().map(|(_, n)| *n).collect())
            .unwrap_or_default();
        open.sort_unstable();
        let mut found: Option<(u32, usize)> = None;
        let mut done_before = false;
        let mut having: Vec<InstanceAt> = Vec::new();
        for &n in &open {
            let Some(inst) = self.inst(n) else { continue };
            for (ci, c) in inst.checks.iter().enumerate() {
                if c.name != check {
                    continue;
                }
                if c.done.is_some() {
                    done_before = true;
                    having.push(InstanceAt {
                        instance: inst.id.clone(),
                        step: self.names.step(inst.plan, c.step),
                    });
                } else if found.is_none() {
                    found = Some((n, ci));
                }
            }
        }
        let Some((n, ci)) = found else {
            out.push(Output::EventRefused(EventRefused {
                id: 0,
                ts: ctx.ts,
                kind: arc(super::CHECK_KIND),
                area: Some(area),
                reason: if done_before {
                    "already_done"
                } else {
                    "no_open_check"
                },
                open: having,
                cause: ctx.cause.clone(),
            }));
            return;
        };
        let names = self.names.clone();
        let Some(inst) = self.inst_mut(n) else {
            return;
        };
        let Some(c) = inst.checks.get_mut(ci) else {
            return;
        };
        c.done = Some(ctx.ts);
        let c = c.clone();
        let Some(inst) = self.inst(n) else {
            return;
        };
        out.push(Output::CheckDone(CheckDone {
            head: head(
                names.plan(inst.plan),
                inst,
                names.step(inst.plan, c.step),
                ctx,
            ),
            check: c.name.clone(),
            due: Timestamp {
                ms: c.due,
                offset_min: ctx.ts.offset_min,
            },
            in_time: ctx.ts.ms <= c.due,
            after: format_duration(ctx.ts.ms - c.opened.ms),
            by: person,
        }));
        // a wait on `done(step)` may end now
        self.resume(n, ctx, out);
    }
}
