//! Output records: what the engine says, each explaining itself.
//!
//! A leaf of the runtime: the payloads of every operator's outputs live
//! here ([`plan`] for the plan runtime, [`script`] for the script reporter;
//! reporting deadlines' [`Notice`](crate::assess::deadline::Notice) is the
//! assessment module's own record type), so no operator and no output type
//! depend on each other in a cycle.

pub mod plan;
pub mod script;
pub mod text;

use crate::time::Timestamp;
use crate::value::{Level, Value};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// Named values in declaration order, written as a JSON object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Values(pub Vec<(Arc<str>, Value)>);

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k.as_ref(), v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // a JSON object keeps its members in order (serde_json's
        // `preserve_order` is not on, so read the members one by one)
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Values;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of named values")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Values, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = m.next_entry::<String, Value>()? {
                    v.push((Arc::from(k), x));
                }
                Ok(Values(v))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Why a level changed ([`LevelChange::reason`]); written as `raise`,
/// `clear` or `step_down`.
///
/// ```
/// use yingji_engine::output::ChangeReason;
/// assert_eq!(ChangeReason::StepDown.as_str(), "step_down");
/// assert_eq!(serde_json::to_string(&ChangeReason::Raise).unwrap(), r#""raise""#);
/// let back: ChangeReason = serde_json::from_str(r#""clear""#).unwrap();
/// assert_eq!(back, ChangeReason::Clear);
/// assert!(serde_json::from_str::<ChangeReason>(r#""lower""#).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// A higher level's condition holds (for its `for`).
    Raise,
    /// The level's condition stopped holding (after its `hold`): down to
    /// the highest level that still holds, or none.
    Clear,
    /// One level down at a time (`step down`).
    StepDown,
}

impl ChangeReason {
    /// The word as written in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeReason::Raise => "raise",
            ChangeReason::Clear => "clear",
            ChangeReason::StepDown => "step_down",
        }
    }
}

impl std::fmt::Display for ChangeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The closed sets of words some output fields hold, and their
/// deserializers: a field such as [`LevelChange::reason`] is written as one
/// of a few fixed words, and reading an output back accepts only those.
pub mod closed {
    use serde::{Deserialize, Deserializer};

    /// A word of a closed set: `&'static str` (an alias, so that reading an
    /// output back does not borrow from its text).
    pub type Word = &'static str;

    /// [`VerifyStage::stage`](super::plan::VerifyStage::stage).
    pub const VERIFY_STAGES: &[&str] = &["预警", "响应", "反馈", "核实"];
    /// [`VerifyStage::status`](super::plan::VerifyStage::status).
    pub const VERIFY_STATUSES: &[&str] = &["done", "missing"];
    /// [`NotifyFailed::why`](super::plan::NotifyFailed::why).
    pub const NOTIFY_FAILURES: &[&str] = &["area_not_in_roster", "no_holder"];
    /// [`EventRefused::reason`](super::plan::EventRefused::reason).
    pub const REFUSALS: &[&str] = &[
        "no_open_instance",
        "not_awaited",
        "no_open_check",
        "already_done",
    ];
    /// [`StepEntered::kind`](super::plan::StepEntered::kind).
    pub const STEP_KINDS: &[&str] = &[
        "notify",
        "await_ack",
        "measures",
        "declare_response",
        "branch",
        "wait",
        "close",
        "parallel",
        "join",
        "check",
        "start_plan",
        "supplies",
    ];
    /// [`Joined::mode`](super::plan::Joined::mode).
    pub const JOIN_MODES: &[&str] = &["all", "any"];
    /// [`BranchStatus::status`](super::plan::BranchStatus::status).
    pub const BRANCH_STATUSES: &[&str] = &["done", "stopped", "parked"];
    /// [`ScriptError::limit`](super::script::ScriptError::limit).
    pub const SCRIPT_LIMITS: &[&str] = &[
        "operations",
        "time",
        "call_depth",
        "variables",
        "string_size",
        "array_size",
        "map_size",
        "data_size",
        "non_finite_argument",
        "none",
    ];

    fn one_of<'de, D: Deserializer<'de>>(
        d: D,
        set: &'static [&'static str],
    ) -> Result<&'static str, D::Error> {
        let s = String::deserialize(d)?;
        set.iter().copied().find(|w| *w == s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not one of {}", set.join(", ")))
        })
    }

    /// Reads a [`VERIFY_STAGES`] word.
    pub fn verify_stage<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        one_of(d, VERIFY_STAGES)
    }
    /// Reads a [`JOIN_MODES`] word.
    pub fn join_mode<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        one_of(d, JOIN_MODES)
    }
    /// Reads a [`BRANCH_STATUSES`] word.
    pub fn branch_status<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        one_of(d, BRANCH_STATUSES)
    }
    /// Reads a [`VERIFY_STATUSES`] word.
    pub fn verify_status<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        one_of(d, VERIFY_STATUSES)
    }
    /// Reads a [`NOTIFY_FAILURES`] word.
    pub fn notify_failure<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        one_of(d, NOTIFY_FAILURES)
    }
    /// Reads a [`REFUSALS`] word.
    pub fn refusal<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        one_of(d, REFUSALS)
    }
    /// Reads a [`STEP_KINDS`] word.
    pub fn step_kind<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        one_of(d, STEP_KINDS)
    }
    /// Reads an optional [`SCRIPT_LIMITS`] word.
    pub fn script_limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'static str>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => SCRIPT_LIMITS
                .iter()
                .copied()
                .find(|w| *w == s)
                .map(Some)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "`{s}` is not one of {}",
                        SCRIPT_LIMITS.join(", ")
                    ))
                }),
        }
    }
}

impl Values {
    /// The value named `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v)
    }
}

/// A signal's warning level for a key changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelChange {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// Event time of the change.
    pub ts: Timestamp,
    /// The signal.
    pub signal: Arc<str>,
    /// The key (station, slope, ...).
    pub key: Arc<str>,
    /// The level before.
    pub from: Level,
    /// The level now.
    pub to: Level,
    /// The rule that now holds (`orange when r3 >= 50`); `null` when none does.
    pub rule: Option<Arc<str>>,
    /// Where that rule is written.
    pub rule_at: Option<Arc<str>>,
    /// The signal's named values at that moment.
    pub values: Values,
    /// The input position (line) of the event that caused the change.
    pub event: u64,
    /// Why: `raise`, `clear` (the level's condition stopped holding, after
    /// its `hold`), or `step_down` (one level at a time).
    pub reason: ChangeReason,
    /// Since when the deciding condition has held (for `raise`: the `when`
    /// condition of the new level; for `clear`/`step_down`: the condition
    /// that ended the old level).
    pub since: Timestamp,
}

/// An event arrived behind the watermark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Late {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// The event's own time.
    pub ts: Timestamp,
    /// Its kind.
    pub kind: Arc<str>,
    /// Input position.
    pub event: u64,
    /// The watermark it fell behind.
    pub watermark: Timestamp,
    /// The signals for which it is late (all that read its kind, or some
    /// with a shorter lateness).
    pub signals: Vec<Arc<str>>,
    /// Whether it was applied anyway (late policy `apply`) or left out.
    pub applied: bool,
}

/// A key sent nothing for the signal's `missing` duration (失联).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Absence {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// When the silence reached the limit (last reading + limit).
    pub ts: Timestamp,
    /// The signal.
    pub signal: Arc<str>,
    /// The key.
    pub key: Arc<str>,
    /// Its last reading (`null` for a roster key never heard from).
    pub last_seen: Option<Timestamp>,
    /// The limit, as written (`30m`).
    pub missing: String,
}

/// A key that was absent reported again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovered {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// Time of the reading that ended the silence.
    pub ts: Timestamp,
    /// The signal.
    pub signal: Arc<str>,
    /// The key.
    pub key: Arc<str>,
    /// Its last reading before the silence.
    pub last_seen: Option<Timestamp>,
    /// Input position of the reading.
    pub event: u64,
}

/// A key of a table-driven signal that has no row in its table: its rules
/// read the row's columns, so they cannot fire for it. Reported at the
/// key's first reading (once per key while the engine holds it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableMiss {
    /// The output's id (see [`Recovered::id`]).
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,
    /// Time of the reading.
    pub ts: Timestamp,
    /// The signal.
    pub signal: Arc<str>,
    /// The key without a row.
    pub key: Arc<str>,
    /// The table.
    pub table: Arc<str>,
    /// Input position of the reading.
    pub event: u64,
}

/// Everything the engine emits: one variant per output `type`, each with
/// its payload type (written as one JSON object with the `type` first).
///
/// New variants come with new releases (the enum is `#[non_exhaustive]`);
/// the JSON of an existing one keeps its members and meaning (see
/// `docs/semver.md`). An output read back from its JSON writes the same
/// bytes again.
///
/// ```
/// use yingji_engine::Output;
/// let line = r#"{"type":"absence","id":7,"ts":"2024-07-29T01:30:00+08:00","signal":"失联","key":"A","last_seen":"2024-07-29T01:00:00+08:00","missing":"30m"}"#;
/// let o: Output = serde_json::from_str(line)?;
/// assert_eq!(o.type_name(), "absence");
/// assert_eq!(o.id(), 7);
/// assert!(matches!(&o, Output::Absence(a) if &*a.key == "A"));
/// assert_eq!(o.to_json(), line);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Output {
    /// `{"type":"level_changed", ...}`
    LevelChanged(LevelChange),
    /// `{"type":"late", ...}`: an event behind the watermark.
    Late(Late),
    /// `{"type":"absence", ...}`: a key went silent.
    Absence(Absence),
    /// `{"type":"recovered", ...}`: an absent key reported again.
    Recovered(Recovered),
    /// `{"type":"table_miss", ...}`: a key with no row in its signal's table.
    TableMiss(TableMiss),
    /// `{"type":"report_due", ...}`: a report became due (事故灾害报送).
    ReportDue(crate::assess::deadline::Notice),
    /// `{"type":"report_late", ...}`: a report arrived after its deadline.
    ReportLate(crate::assess::deadline::Notice),
    /// `{"type":"report_missing", ...}`: a deadline passed without its report.
    ReportMissing(crate::assess::deadline::Notice),
    /// `{"type":"plan_started", ...}`: a plan instance began.
    PlanStarted(plan::PlanStarted),
    /// `{"type":"notify", ...}`: a person is called.
    Notify(plan::Notify),
    /// `{"type":"escalated", ...}`: a tier timed out, the next is called.
    Escalated(plan::Escalated),
    /// `{"type":"acked", ...}`: a call was answered.
    Acked(plan::Acked),
    /// `{"type":"ack_rejected", ...}`: an ack that changed nothing.
    AckRejected(plan::AckRejected),
    /// `{"type":"unanswered", ...}`: a chain ran out of tiers.
    Unanswered(plan::Unanswered),
    /// `{"type":"measure", ...}`: a measure is ordered.
    Measure(plan::Measure),
    /// `{"type":"response_declared", ...}`: a response level is declared.
    ResponseDeclared(plan::ResponseDeclared),
    /// `{"type":"timed_out", ...}`: a waiting step gave up.
    TimedOut(plan::TimedOut),
    /// `{"type":"plan_closed", ...}`: an instance ended.
    PlanClosed(plan::PlanClosed),
    /// `{"type":"notify_failed", ...}`: a call reached nobody.
    NotifyFailed(plan::NotifyFailed),
    /// `{"type":"plan_start_rejected", ...}`: a manual start refused.
    PlanStartRejected(plan::PlanStartRejected),
    /// `{"type":"event_refused", ...}`: an awaited kind of event nobody waited for.
    EventRefused(plan::EventRefused),
    /// `{"type":"step_entered", ...}`: an instance entered a step (tracing).
    StepEntered(plan::StepEntered),
    /// `{"type":"area_joined", ...}`: a township joined a county-scoped instance.
    AreaJoined(plan::AreaJoined),
    /// `{"type":"script_error", ...}`: a script function failed or hit a limit.
    ScriptError(script::ScriptError),
    /// `{"type":"script_suppressed", ...}`: failures of a script function left out (rate limit).
    ScriptSuppressed(script::ScriptSuppressed),
    /// `{"type":"joined", ...}`: an instance passed the join of parallel branches.
    Joined(plan::Joined),
    /// `{"type":"check_overdue", ...}`: a check not reported done by its deadline.
    CheckOverdue(plan::CheckOverdue),
    /// `{"type":"check_done", ...}`: a check reported done.
    CheckDone(plan::CheckDone),
    /// `{"type":"declined", ...}`: a called person declined.
    Declined(plan::Declined),
    /// `{"type":"supply", ...}`: supplies to pre-position in a township.
    Supply(plan::Supply),
}

impl Output {
    /// Event time of the output.
    pub fn ts(&self) -> Timestamp {
        match self {
            Output::LevelChanged(c) => c.ts,
            Output::Late(o) => o.ts,
            Output::Absence(o) => o.ts,
            Output::Recovered(o) => o.ts,
            Output::TableMiss(o) => o.ts,
            Output::ReportDue(n) | Output::ReportLate(n) | Output::ReportMissing(n) => n.ts,
            Output::PlanStarted(o) => o.head.ts,
            Output::Notify(o) => o.head.ts,
            Output::Escalated(o) => o.head.ts,
            Output::Acked(o) => o.head.ts,
            Output::AckRejected(o) => o.ts,
            Output::Unanswered(o) => o.head.ts,
            Output::Measure(o) => o.head.ts,
            Output::ResponseDeclared(o) => o.head.ts,
            Output::TimedOut(o) => o.head.ts,
            Output::PlanClosed(o) => o.head.ts,
            Output::NotifyFailed(o) => o.head.ts,
            Output::PlanStartRejected(o) => o.ts,
            Output::EventRefused(o) => o.ts,
            Output::StepEntered(o) => o.head.ts,
            Output::AreaJoined(o) => o.head.ts,
            Output::ScriptError(o) => o.ts,
            Output::ScriptSuppressed(o) => o.ts,
            Output::Joined(o) => o.head.ts,
            Output::CheckOverdue(o) => o.head.ts,
            Output::CheckDone(o) => o.head.ts,
            Output::Declined(o) => o.head.ts,
            Output::Supply(o) => o.head.ts,
        }
    }

    /// The output's id (see [`LevelChange::id`]); `0` before the engine
    /// numbers it.
    pub fn id(&self) -> u64 {
        match self {
            Output::LevelChanged(c) => c.id,
            Output::Late(o) => o.id,
            Output::Absence(o) => o.id,
            Output::Recovered(o) => o.id,
            Output::TableMiss(o) => o.id,
            Output::ReportDue(n) | Output::ReportLate(n) | Output::ReportMissing(n) => n.id,
            Output::PlanStarted(o) => o.head.id,
            Output::Notify(o) => o.head.id,
            Output::Escalated(o) => o.head.id,
            Output::Acked(o) => o.head.id,
            Output::AckRejected(o) => o.id,
            Output::Unanswered(o) => o.head.id,
            Output::Measure(o) => o.head.id,
            Output::ResponseDeclared(o) => o.head.id,
            Output::TimedOut(o) => o.head.id,
            Output::PlanClosed(o) => o.head.id,
            Output::NotifyFailed(o) => o.head.id,
            Output::PlanStartRejected(o) => o.id,
            Output::EventRefused(o) => o.id,
            Output::StepEntered(o) => o.head.id,
            Output::AreaJoined(o) => o.head.id,
            Output::ScriptError(o) => o.id,
            Output::ScriptSuppressed(o) => o.id,
            Output::Joined(o) => o.head.id,
            Output::CheckOverdue(o) => o.head.id,
            Output::CheckDone(o) => o.head.id,
            Output::Declined(o) => o.head.id,
            Output::Supply(o) => o.head.id,
        }
    }

    /// Sets the id (the engine numbers outputs as it emits them; a test
    /// comparing with an unnumbered output sets it back to 0).
    pub fn set_id(&mut self, id: u64) {
        let slot = match self {
            Output::LevelChanged(c) => &mut c.id,
            Output::Late(o) => &mut o.id,
            Output::Absence(o) => &mut o.id,
            Output::Recovered(o) => &mut o.id,
            Output::TableMiss(o) => &mut o.id,
            Output::ReportDue(n) | Output::ReportLate(n) | Output::ReportMissing(n) => &mut n.id,
            Output::PlanStarted(o) => &mut o.head.id,
            Output::Notify(o) => &mut o.head.id,
            Output::Escalated(o) => &mut o.head.id,
            Output::Acked(o) => &mut o.head.id,
            Output::AckRejected(o) => &mut o.id,
            Output::Unanswered(o) => &mut o.head.id,
            Output::Measure(o) => &mut o.head.id,
            Output::ResponseDeclared(o) => &mut o.head.id,
            Output::TimedOut(o) => &mut o.head.id,
            Output::PlanClosed(o) => &mut o.head.id,
            Output::NotifyFailed(o) => &mut o.head.id,
            Output::PlanStartRejected(o) => &mut o.id,
            Output::EventRefused(o) => &mut o.id,
            Output::StepEntered(o) => &mut o.head.id,
            Output::AreaJoined(o) => &mut o.head.id,
            Output::ScriptError(o) => &mut o.id,
            Output::ScriptSuppressed(o) => &mut o.id,
            Output::Joined(o) => &mut o.head.id,
            Output::CheckOverdue(o) => &mut o.head.id,
            Output::CheckDone(o) => &mut o.head.id,
            Output::Declined(o) => &mut o.head.id,
            Output::Supply(o) => &mut o.head.id,
        };
        *slot = id;
    }

    /// The output's `type` as written in JSON (`level_changed`, `notify`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Output::LevelChanged(_) => "level_changed",
            Output::Late(_) => "late",
            Output::Absence(_) => "absence",
            Output::Recovered(_) => "recovered",
            Output::TableMiss(_) => "table_miss",
            Output::ReportDue(_) => "report_due",
            Output::ReportLate(_) => "report_late",
            Output::ReportMissing(_) => "report_missing",
            Output::PlanStarted(_) => "plan_started",
            Output::Notify(_) => "notify",
            Output::Escalated(_) => "escalated",
            Output::Acked(_) => "acked",
            Output::AckRejected(_) => "ack_rejected",
            Output::Unanswered(_) => "unanswered",
            Output::Measure(_) => "measure",
            Output::ResponseDeclared(_) => "response_declared",
            Output::TimedOut(_) => "timed_out",
            Output::PlanClosed(_) => "plan_closed",
            Output::NotifyFailed(_) => "notify_failed",
            Output::PlanStartRejected(_) => "plan_start_rejected",
            Output::EventRefused(_) => "event_refused",
            Output::StepEntered(_) => "step_entered",
            Output::AreaJoined(_) => "area_joined",
            Output::ScriptError(_) => "script_error",
            Output::ScriptSuppressed(_) => "script_suppressed",
            Output::Joined(_) => "joined",
            Output::CheckOverdue(_) => "check_overdue",
            Output::CheckDone(_) => "check_done",
            Output::Declined(_) => "declined",
            Output::Supply(_) => "supply",
        }
    }

    /// One JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"type\":\"error\",\"message\":\"{e}\"}}"))
    }
}

impl From<crate::assess::deadline::DeadlineOutput> for Output {
    fn from(d: crate::assess::deadline::DeadlineOutput) -> Output {
        use crate::assess::deadline::DeadlineOutput as D;
        match d {
            D::ReportDue(n) => Output::ReportDue(n),
            D::ReportLate(n) => Output::ReportLate(n),
            D::ReportMissing(n) => Output::ReportMissing(n),
        }
    }
}
