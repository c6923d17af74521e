//! The payload of every [`Output`](crate::Output) variant, and the types
//! inside them.
//!
//! | `type` | variant | payload |
//! |---|---|---|
//! | `level_changed` | [`Output::LevelChanged`](crate::Output::LevelChanged) | [`LevelChange`] |
//! | `late` | [`Output::Late`](crate::Output::Late) | [`Late`] |
//! | `absence` | [`Output::Absence`](crate::Output::Absence) | [`Absence`] |
//! | `recovered` | [`Output::Recovered`](crate::Output::Recovered) | [`Recovered`] |
//! | `table_miss` | [`Output::TableMiss`](crate::Output::TableMiss) | [`TableMiss`] |
//! | `report_due`, `report_late`, `report_missing` | [`Output::ReportDue`](crate::Output::ReportDue), … | [`Notice`] ([`Check`], [`Status`]) |
//! | `plan_started` | [`Output::PlanStarted`](crate::Output::PlanStarted) | [`PlanStarted`] |
//! | `notify` | [`Output::Notify`](crate::Output::Notify) | [`Notify`] |
//! | `escalated` | [`Output::Escalated`](crate::Output::Escalated) | [`Escalated`] |
//! | `acked` | [`Output::Acked`](crate::Output::Acked) | [`Acked`] |
//! | `ack_rejected` | [`Output::AckRejected`](crate::Output::AckRejected) | [`AckRejected`] ([`AckReject`]) |
//! | `unanswered` | [`Output::Unanswered`](crate::Output::Unanswered) | [`Unanswered`] |
//! | `measure` | [`Output::Measure`](crate::Output::Measure) | [`Measure`] |
//! | `response_declared` | [`Output::ResponseDeclared`](crate::Output::ResponseDeclared) | [`ResponseDeclared`] ([`Response`]) |
//! | `timed_out` | [`Output::TimedOut`](crate::Output::TimedOut) | [`TimedOut`] |
//! | `plan_closed` | [`Output::PlanClosed`](crate::Output::PlanClosed) | [`PlanClosed`] ([`VerifyStage`]) |
//! | `notify_failed` | [`Output::NotifyFailed`](crate::Output::NotifyFailed) | [`NotifyFailed`] |
//! | `plan_start_rejected` | [`Output::PlanStartRejected`](crate::Output::PlanStartRejected) | [`PlanStartRejected`] ([`StartReject`]) |
//! | `event_refused` | [`Output::EventRefused`](crate::Output::EventRefused) | [`EventRefused`] ([`InstanceAt`]) |
//! | `step_entered` | [`Output::StepEntered`](crate::Output::StepEntered) | [`StepEntered`] |
//! | `area_joined` | [`Output::AreaJoined`](crate::Output::AreaJoined) | [`AreaJoined`] |
//! | `script_error` | [`Output::ScriptError`](crate::Output::ScriptError) | [`ScriptError`] |
//! | `script_suppressed` | [`Output::ScriptSuppressed`](crate::Output::ScriptSuppressed) | [`ScriptSuppressed`] |
//! | `joined` | [`Output::Joined`](crate::Output::Joined) | [`Joined`] ([`BranchStatus`]) |
//! | `check_overdue` | [`Output::CheckOverdue`](crate::Output::CheckOverdue) | [`CheckOverdue`] |
//! | `check_done` | [`Output::CheckDone`](crate::Output::CheckDone) | [`CheckDone`] |
//! | `declined` | [`Output::Declined`](crate::Output::Declined) | [`Declined`] |
//! | `supply` | [`Output::Supply`](crate::Output::Supply) | [`Supply`] |
//!
//! Plan records share a [`Head`] (id, time, plan, instance, area, step,
//! [`Cause`]). Fields that hold one of a few fixed words list them in
//! [`closed`]. The JSON of each type is described in `docs/reference.md`
//! (outputs) and `docs/schemas/<type>.schema.json`.
//!
//! ```
//! use yingji::{Output, output::LevelChange};
//! let line = r#"{"type":"level_changed","id":1,"ts":"2024-07-29T03:00:00+08:00","signal":"暴雨","key":"A","from":"none","to":"red","rule":"red when mm >= 50","rule_at":"a.yj:2:3","values":{"mm":60},"event":4,"reason":"raise","since":"2024-07-29T03:00:00+08:00"}"#;
//! let o: Output = serde_json::from_str(line)?;
//! let Output::LevelChanged(LevelChange { to, event, reason, .. }) = &o else { panic!() };
//! assert_eq!((*to, *event, *reason), (yingji::Level::Red, 4, yingji::output::ChangeReason::Raise));
//! assert_eq!(reason.as_str(), "raise");
//! assert_eq!(serde_json::to_string(&o)?, line); // byte for byte
//! # Ok::<(), serde_json::Error>(())
//! ```

pub use yingji_engine::assess::deadline::{Check, Notice, Status};
pub use yingji_engine::output::closed;
pub use yingji_engine::output::plan::{
    AckReject, AckRejected, Acked, AreaJoined, BranchStatus, Cause, CheckDone, CheckOverdue,
    Declined, Escalated, EventRefused, Head, InstanceAt, Joined, Measure, Notify, NotifyFailed,
    PlanClosed, PlanStartRejected, PlanStarted, ResponseDeclared, StartReject, StepEntered, Supply,
    TimedOut, Unanswered, VerifyStage,
};
pub use yingji_engine::output::script::{ScriptError, ScriptSuppressed};
pub use yingji_engine::output::{
    Absence, ChangeReason, Late, LevelChange, Recovered, TableMiss, Values,
};
pub use yingji_engine::workflow::ir::Response;
