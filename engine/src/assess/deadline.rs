//! Reporting deadlines (事故灾害报送): which reports are due for a subject
//! record (an accident, a disaster), and whether each came on time, late, or
//! not at all.
//!
//! The same function decides both modes: [`check_subject`] looks at a
//! subject, the reports seen so far and the time `as_of`. In batch
//! ([`check_batch`]) `as_of` is the end of the data; live, a [`Tracker`]
//! re-decides a subject whenever one of its reports arrives or one of its
//! deadlines passes ([`Tracker::advance`]) and emits what changed, so the two
//! modes agree by construction.
//!
//! Semantics:
//! - a report is on time when it arrives at or before its deadline; one
//!   millisecond later it is late by that much;
//! - a report is missing once the time is strictly after its deadline and
//!   none has arrived (a late report afterwards is also reported late);
//! - `within D after S` counts from stage `S`'s report if it came on time, or
//!   from `S`'s deadline if it did not (so a late predecessor does not move
//!   later deadlines);
//! - `every P` wants one report in each period `(due_{k-1}, due_k]`; it has no
//!   "late", only missing periods; it stops after the `until` stage's report;
//! - live only: a subject closes a retention (30 days by default) after its
//!   last report or deadline, or after its repeating reports went missing,
//!   and is then dropped; later reports about it are refused (exact rules on
//!   [`Tracker`]).

use super::records::{Record, RecordError};
use super::{AssessProgram, DeadlineRule, DeadlineSet, Timing};
use crate::eval::eval;
use crate::time::{MS_PER_DAY, MS_PER_MINUTE, Timestamp};
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The most periods one repeating rule checks per subject (bounds work on
/// absurd inputs: a year of hourly reports is 8,760).
pub const MAX_OCCURRENCES: u32 = 100_000;

/// The most missed periods in a row one repeating obligation lists one by
/// one; the rest of the run is one [`Check`] whose [`Check::missed`] says how
/// many periods it stands for (one `report_missing`). 64 is more than a
/// 12-hour series misses in the default retention (30 days), so the live
/// tracker lists every missed period of ordinary series; a subject dated
/// centuries back (a year typed `1012`) gives 64 + 1 outputs, not 100,000.
pub const MAX_MISSED_RUN: u32 = 64;

/// The outcome of one reporting obligation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Arrived at or before the deadline.
    Met {
        /// The report's id.
        report: Arc<str>,
        /// When it arrived.
        received: Timestamp,
    },
    /// Arrived after the deadline.
    Late {
        /// The report's id.
        report: Arc<str>,
        /// When it arrived.
        received: Timestamp,
        /// By how much it was late.
        late_by_ms: i64,
    },
    /// The deadline has passed and no report arrived.
    Missing,
    /// Not yet due.
    Pending,
}

/// One reporting obligation of one subject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The deadline set (`生产安全事故报送`).
    pub deadlines: Arc<str>,
    /// The stage (`单位报县`).
    pub stage: Arc<str>,
    /// For repeating reports, which period (1, 2, …); for a collapsed run
    /// of missed periods (see [`Check::missed`]), the first of them.
    pub occurrence: Option<u32>,
    /// A run of missed periods collapsed into this one check: how many
    /// periods it stands for (from `occurrence` on; `from` is the start of
    /// the first, `due` the deadline of the last). `None` for a single
    /// obligation. See [`MAX_MISSED_RUN`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<u32>,
    /// The subject record's id.
    pub subject: Arc<str>,
    /// The subject's unit.
    pub unit: Arc<str>,
    /// The subject's own time (periods attribute obligations by it).
    #[serde(skip)]
    pub subject_ts: Timestamp,
    /// What the deadline counts from (the subject's time, an earlier stage,
    /// or the previous period's deadline).
    pub from: Timestamp,
    /// The deadline.
    pub due: Timestamp,
    /// The outcome.
    #[serde(flatten)]
    pub status: Status,
    /// The rule as written.
    pub rule: Arc<str>,
    /// Where the rule is written.
    pub rule_at: Arc<str>,
}

/// Set, subject, stage, occurrence.
type CheckKey = (Arc<str>, Arc<str>, Arc<str>, Option<u32>);

impl Check {
    /// A stable key: set, subject, stage, occurrence.
    fn key(&self) -> CheckKey {
        (
            self.deadlines.clone(),
            self.subject.clone(),
            self.stage.clone(),
            self.occurrence,
        )
    }

    /// The id evidence cites: the report for met and late, else
    /// `subject/stage` (`A-001/单位报县`, `A-001/续报#3`).
    pub fn evidence_id(&self) -> Arc<str> {
        match &self.status {
            Status::Met { report, .. } | Status::Late { report, .. } => report.clone(),
            Status::Missing | Status::Pending => match self.occurrence {
                Some(k) => Arc::from(format!("{}/{}#{k}", self.subject, self.stage)),
                None => Arc::from(format!("{}/{}", self.subject, self.stage)),
            },
        }
    }
}

/// What the deadline side emits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DeadlineOutput {
    /// A report is due (emitted once, when its deadline becomes known).
    ReportDue(Notice),
    /// A report arrived after its deadline.
    ReportLate(Notice),
    /// A deadline passed without a report.
    ReportMissing(Notice),
}

/// The body of a [`DeadlineOutput`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// Event time of the output: when the deadline became known (due), the
    /// deadline (missing), or the report's arrival (late).
    pub ts: Timestamp,
    /// The obligation.
    #[serde(flatten)]
    pub check: Check,
    /// How late, as policies write durations (`1s`, `2h`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_by: Option<String>,
}

impl DeadlineOutput {
    /// The obligation concerned.
    pub fn check(&self) -> &Check {
        match self {
            DeadlineOutput::ReportDue(n)
            | DeadlineOutput::ReportLate(n)
            | DeadlineOutput::ReportMissing(n) => &n.check,
        }
    }
    /// The output's `type` (`report_due`, `report_late`, `report_missing`).
    pub fn type_name(&self) -> &'static str {
        match self {
            DeadlineOutput::ReportDue(_) => "report_due",
            DeadlineOutput::ReportLate(_) => "report_late",
            DeadlineOutput::ReportMissing(_) => "report_missing",
        }
    }
    /// One JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"type\":\"error\",\"message\":\"{e}\"}}"))
    }
}

/// A duration as people read it: `1s`, `40m`, `4d21h50m`, `250ms` (the
/// one formatter of that form is [`crate::time::format_duration_parts`]).
///
/// ```
/// use yingji_engine::assess::deadline::human_duration;
/// assert_eq!(human_duration(1_000), "1s");
/// assert_eq!(human_duration(7070 * 60_000), "4d21h50m");
/// assert_eq!(human_duration(1_500), "1s500ms");
/// ```
pub fn human_duration(ms: i64) -> String {
    crate::time::format_duration_parts(ms)
}

fn applies(rule: &DeadlineRule, subject: &Record) -> bool {
    rule.when
        .as_ref()
        .is_none_or(|w| eval(w, &super::record_scope(&subject.fields)).is_true())
}

/// The first local `at_local_ms` time of day strictly after `t`.
fn next_local_time(t: Timestamp, at_local_ms: i64) -> Timestamp {
    let off = i64::from(t.offset_min) * MS_PER_MINUTE;
    let local = t.ms.saturating_add(off);
    let mut candidate = local.div_euclid(MS_PER_DAY) * MS_PER_DAY + at_local_ms;
    if candidate <= local {
        candidate += MS_PER_DAY;
    }
    Timestamp {
        ms: candidate - off,
        offset_min: t.offset_min,
    }
}

/// Decides every obligation of one subject as of `as_of`.
///
/// `reports` are the subject's reports (any order); `stage_of` gives a
/// report's stage.
pub fn check_subject(
    set: &DeadlineSet,
    subject: &Record,
    reports: &[&Record],
    as_of: Timestamp,
) -> Vec<Check> {
    let stage_of = |r: &Record| -> Option<Arc<str>> {
        match r.fields.get(usize::from(set.stage)) {
            Some(Value::Str(s)) => Some(s.clone()),
            _ => None,
        }
    };
    let mut by_stage: HashMap<Arc<str>, Vec<&Record>> = HashMap::new();
    for r in reports {
        if let Some(s) = stage_of(r) {
            by_stage.entry(s).or_default().push(r);
        }
    }
    for v in by_stage.values_mut() {
        v.sort_by_key(|r| (r.ts, r.line));
    }
    let name: Arc<str> = Arc::from(set.name.as_str());
    // stage → the time later stages count from
    let mut bases: HashMap<&str, Timestamp> = HashMap::new();
    let mut out = Vec::new();
    for rule in &set.rules {
        if !applies(rule, subject) {
            continue;
        }
        let stage: Arc<str> = Arc::from(rule.stage.as_str());
        let reports_of = by_stage.get(&stage).map_or(&[][..], Vec::as_slice);
        let mk = |from: Timestamp, due: Timestamp, occurrence: Option<u32>, status: Status| Check {
            deadlines: name.clone(),
            stage: stage.clone(),
            occurrence,
            missed: None,
            subject: subject.id.clone(),
            unit: subject.unit.clone(),
            subject_ts: subject.ts,
            from,
            due,
            status,
            rule: Arc::from(rule.text.as_str()),
            rule_at: Arc::from(rule.at.as_str()),
        };
        match &rule.timing {
            Timing::Within { ms, after } => {
                let base = match after {
                    None => subject.ts,
                    Some(prev) => match bases.get(prev.as_str()) {
                        Some(b) => *b,
                        // the earlier stage is not settled yet (or does not apply)
                        None => continue,
                    },
                };
                let due = base.plus_ms(*ms);
                let status = match reports_of.first() {
                    Some(r) if r.ts.ms <= due.ms => Status::Met {
                        report: r.id.clone(),
                        received: r.ts,
                    },
                    Some(r) if r.ts.ms <= as_of.ms => Status::Late {
                        report: r.id.clone(),
                        received: r.ts,
                        late_by_ms: r.ts.ms - due.ms,
                    },
                    _ if as_of.ms > due.ms => Status::Missing,
                    _ => Status::Pending,
                };
                match &status {
                    Status::Met { received, .. } => {
                        bases.insert(rule.stage.as_str(), *received);
                    }
                    Status::Late { .. } | Status::Missing => {
                        bases.insert(rule.stage.as_str(), due);
                    }
                    Status::Pending => {}
                }
                out.push(mk(base, due, None, status));
            }
            Timing::Every {
                ms,
                at_local_ms,
                until,
            } => {
                if *ms <= 0 {
                    continue;
                }
                let stop = until
                    .as_ref()
                    .and_then(|u| by_stage.get(u.as_str()))
                    .and_then(|v| v.first())
                    .map(|r| r.ts);
                let first = match at_local_ms {
                    Some(t) => next_local_time(subject.ts, *t),
                    None => subject.ts.plus_ms(*ms),
                };
                let mut prev = subject.ts.plus_ms(-1);
                // missed periods in a row so far, and the collapsed rest of
                // the run (first period, its start, how many)
                let mut run: u32 = 0;
                let mut collapsed: Option<(u32, Timestamp, u32)> = None;
                for k in 1..=MAX_OCCURRENCES {
                    let due = first.plus_ms((i64::from(k) - 1).saturating_mul(*ms));
                    if stop.is_some_and(|s| due.ms > s.ms) {
                        break;
                    }
                    let hit = reports_of
                        .iter()
                        .find(|r| r.ts.ms > prev.ms && r.ts.ms <= due.ms && r.ts.ms <= as_of.ms);
                    let status = match hit {
                        Some(r) => Status::Met {
                            report: r.id.clone(),
                            received: r.ts,
                        },
                        None if as_of.ms > due.ms => Status::Missing,
                        None => Status::Pending,
                    };
                    let pending = status == Status::Pending;
                    let from = if k == 1 { subject.ts } else { prev };
                    if status == Status::Missing {
                        run = run.saturating_add(1);
                        if run > MAX_MISSED_RUN {
                            let c = collapsed.get_or_insert((k, from, 0));
                            c.2 += 1;
                            // missing, so `due` is before `as_of`: go on
                            prev = due;
                            continue;
                        }
                    } else {
                        run = 0;
                        if let Some((k0, from0, n)) = collapsed.take() {
                            out.push(collapse(mk(from0, prev, Some(k0), Status::Missing), n));
                        }
                    }
                    out.push(mk(from, due, Some(k), status));
                    if pending || due.ms >= as_of.ms {
                        break;
                    }
                    prev = due;
                }
                if let Some((k0, from0, n)) = collapsed.take() {
                    out.push(collapse(mk(from0, prev, Some(k0), Status::Missing), n));
                }
            }
        }
    }
    out
}

/// Marks `c` as standing for `n` missed periods in a row.
fn collapse(mut c: Check, n: u32) -> Check {
    c.missed = Some(n);
    c
}

/// Every obligation of every subject in `records`, decided as of `as_of`.
pub fn check_batch(p: &AssessProgram, records: &[Record], as_of: Timestamp) -> Vec<Check> {
    let mut out = Vec::new();
    for set in &p.deadlines {
        let mut reports: HashMap<&str, Vec<&Record>> = HashMap::new();
        for r in records.iter().filter(|r| r.kind == set.report) {
            if let Some(Value::Str(link)) = r.fields.get(usize::from(set.link)) {
                reports.entry(link).or_default().push(r);
            }
        }
        for s in records.iter().filter(|r| r.kind == set.subject) {
            let rs = reports.get(s.id.as_ref()).map_or(&[][..], Vec::as_slice);
            out.extend(check_subject(set, s, rs, as_of));
        }
    }
    out
}

/// The outputs a batch of checks amounts to: `report_due` for each, plus
/// `report_late` / `report_missing` where so.
pub fn outputs(checks: &[Check]) -> Vec<DeadlineOutput> {
    let mut out = Vec::new();
    for c in checks {
        out.push(DeadlineOutput::ReportDue(Notice {
            id: 0,
            ts: c.from,
            check: c.clone(),
            late_by: None,
        }));
        match &c.status {
            Status::Late {
                received,
                late_by_ms,
                ..
            } => out.push(DeadlineOutput::ReportLate(Notice {
                id: 0,
                ts: *received,
                check: c.clone(),
                late_by: Some(human_duration(*late_by_ms)),
            })),
            Status::Missing => out.push(DeadlineOutput::ReportMissing(Notice {
                id: 0,
                ts: c.due,
                check: c.clone(),
                late_by: None,
            })),
            Status::Met { .. } | Status::Pending => {}
        }
    }
    out
}

/// How long, by default, the live tracker keeps a subject after the last
/// thing that concerns it, remembers a closed subject, and lets a report wait
/// for its subject: 30 days of event time (see [`Tracker`]).
pub const DEFAULT_RETENTION_MS: i64 = 30 * MS_PER_DAY;

/// The longest retention accepted (100 years); longer ones are capped.
pub const MAX_RETENTION_MS: i64 = 36_525 * MS_PER_DAY;

/// One subject the tracker follows, in one deadline set.
struct Open {
    set: usize,
    subject: Record,
    /// The subject record's token.
    token: u64,
    /// The reports taken for it, with their tokens.
    reports: Vec<(u64, Record)>,
    /// Last status emitted per obligation.
    seen: HashMap<CheckKey, Status>,
    /// Periods already reported missing per collapsed run (keyed by its
    /// first period).
    collapsed: HashMap<CheckKey, u32>,
    /// The earliest deadline not yet passed at the last decision
    /// (re-decide when time passes it).
    wake: Option<i64>,
    /// When it closes, as of its last decision (`None`: not while
    /// something is still pending).
    close_at: Option<i64>,
}

/// A report whose subject the tracker does not hold (yet).
struct Orphan {
    record: Record,
    /// `(set, subject id)` for every set it could belong to.
    links: Vec<(usize, Arc<str>)>,
}

/// Where a record goes.
enum Route {
    /// Not a report of any deadline set.
    NotReport,
    /// To these followed subjects (keys in `Tracker::open`).
    Attach(Vec<(u64, usize)>),
    /// Waits for its subject, in these sets.
    Wait(Vec<(usize, Arc<str>)>),
    /// Refused (see [`Tracker::admit`]).
    Refuse(RecordError),
}

/// What the tracker holds at one moment (see [`Tracker::held`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Subjects followed (one per subject and deadline set).
    pub subjects: usize,
    /// Reports held for those subjects.
    pub reports: usize,
    /// Reports waiting for a subject not seen yet.
    pub waiting: usize,
    /// Closed subjects still remembered (to refuse their late reports).
    pub closed: usize,
}

/// Live deadlines: feed records as they arrive ([`Tracker::observe`]) and the
/// event-time clock ([`Tracker::advance`]); outputs come out as deadlines
/// become known, pass, or are met late.
///
/// # Bounded memory: closing subjects
///
/// Nothing is held forever. With the retention `R` ([`DEFAULT_RETENTION_MS`],
/// 30 days, or [`Tracker::with_retention`]), all in event time:
///
/// - **When a subject closes.** Its closing time is `R` after the latest of:
///   its own time, every report taken for it, the deadline of every one-off
///   (`due … within`) obligation, the deadline of every met period of a
///   repeating (`repeat … every`) obligation, and, for a repeating obligation
///   whose latest periods were all missed, the deadline of the first of those
///   missed periods. It has no closing time while a one-off obligation is
///   pending, or while a repeating one awaits a period after a met one (or its
///   first). So a subject whose reports all came closes `R` after the last
///   one; one whose reports went missing closes `R` after they went missing;
///   and a repetition nobody reports any more (a `续报` series without its
///   `结案`) ends `R` after its first missed period in a row.
/// - **Closing.** Once the clock passes the closing time, the subject is
///   decided one last time *as of its closing time* (so what is emitted does
///   not depend on how often the clock moved: missed periods up to the closing
///   time are reported missing, later ones never are, and the period pending
///   at the closing time stays announced but unresolved), then dropped with
///   its reports ([`Tracker::drain_dropped`] names them).
/// - **A report after closing** (its time, or the clock if later, is past
///   the closing time) is refused by [`Tracker::admit`] with
///   [`RecordError::SubjectClosed`], which names the subject, the deadline
///   set and the closing time; it changes nothing and emits nothing (a batch
///   run, `yingji assess`, still counts it). [`Tracker::observe`] ignores
///   such a report. The closed subject is remembered until `R` after its
///   closing time.
/// - **A report before its subject** waits for it until the clock passes
///   the report's time plus `R`, then is dropped without output (it goes to
///   the first subject record naming it that arrives). A report
///   about a subject the tracker does not know — never seen, or closed and
///   no longer remembered — that is already older than that when it arrives
///   is refused with [`RecordError::TooOld`].
/// - **A subject record dated more than `R` behind the clock** is refused
///   with [`RecordError::SubjectTooOld`] ("record dated … is more than 30d
///   behind the clock …"): its obligations would have closed before it
///   arrived.
/// - **Long runs of missed periods** are bounded: a repeating obligation
///   lists at most [`MAX_MISSED_RUN`] missed periods in a row one by one; the
///   rest of the run is one check that says how many periods it stands for
///   ([`Check::missed`]), and each decision reports the periods of it not
///   reported before as one `report_missing`. So one advance emits a bounded
///   number of outputs per subject however far the clock jumps.
/// - A subject record whose id the tracker already follows or remembers as
///   closed, in the same set, is a duplicate and ignored.
///
/// Closing depends only on the records and the clock, so replaying the
/// records still held (and remembering the closed subjects) rebuilds the
/// same state: see [`crate::assess::live`].
///
/// ```
/// # use yingji_engine::assess::{AssessProgram, DeadlineRule, DeadlineSet, RecordField, RecordKind, Timing};
/// # use yingji_engine::assess::records::RecordError;
/// # use yingji_engine::value::Type;
/// use yingji_engine::assess::deadline::{DeadlineOutput, Tracker};
/// use yingji_engine::time::Timestamp;
/// # let kind = |name: &str, fields: Vec<RecordField>| RecordKind { name: name.into(), fields, derived: false };
/// # let field = |name: &str, slot| RecordField { name: name.into(), slot, ty: Type::String, optional: false };
/// # let program = AssessProgram {
/// #     fields: vec!["about".into(), "stage".into()],
/// #     kinds: vec![kind("accident", vec![]), kind("report", vec![field("about", 0), field("stage", 1)])],
/// #     deadlines: vec![DeadlineSet {
/// #         name: "报送".into(), at: String::new(), subject: 0, report: 1, link: 0, stage: 1,
/// #         rules: vec![DeadlineRule {
/// #             stage: "单位报县".into(), when: None, text: "due 单位报县 within 1h".into(), at: String::new(),
/// #             timing: Timing::Within { ms: 3_600_000, after: None },
/// #         }],
/// #     }],
/// #     ..AssessProgram::default()
/// # };
/// // `program` has one deadline set: `due 单位报县 within 1h` for accidents
/// const DAY: i64 = 86_400_000;
/// let mut t = Tracker::new(program).with_retention(DAY);
/// let mut out = Vec::new();
/// let accident = r#"{"kind":"accident","id":"A1","unit":"江口镇","ts":"2024-07-29T08:00:00+08:00"}"#;
/// t.observe_line(accident, 1, &mut out)?;
/// // nothing comes: missing at 09:00; A1 closes a day after that deadline
/// let closing = Timestamp::parse("2024-07-30T09:00:00+08:00")?;
/// t.advance(closing.ms, &mut out);
/// assert_eq!(t.held().subjects, 1);
/// t.advance(closing.ms + 1, &mut out);
/// assert_eq!((t.held().subjects, t.held().closed), (0, 1));
/// let kinds: Vec<&str> = out.iter().map(DeadlineOutput::type_name).collect();
/// assert_eq!(kinds, ["report_due", "report_missing"]);
/// // the report comes after that: refused, and nothing changes
/// let report = r#"{"kind":"report","id":"R1","unit":"江口镇","ts":"2024-07-30T10:00:00+08:00","about":"A1","stage":"单位报县"}"#;
/// let err = t.observe_line(report, 2, &mut out).unwrap_err();
/// assert!(matches!(err, RecordError::SubjectClosed { .. }));
/// assert!(err.to_string().contains("closed at 2024-07-30T09:00:00+08:00"), "{err}");
/// assert_eq!(out.len(), 2);
/// # Ok::<(), RecordError>(())
/// ```
pub struct Tracker {
    program: AssessProgram,
    retention: i64,
    /// Followed subjects by (subject token, set): in the order observed.
    open: BTreeMap<(u64, usize), Open>,
    /// (set, subject id) → its key in `open`.
    index: HashMap<(usize, Arc<str>), (u64, usize)>,
    /// Reports waiting for their subject, by token.
    orphans: BTreeMap<u64, Orphan>,
    /// (set, subject id) → tokens of the reports waiting for it, in order.
    waiting: HashMap<(usize, Arc<str>), Vec<u64>>,
    /// (time it is dropped after, token) of every waiting report.
    orphan_expiry: BTreeSet<(i64, u64)>,
    /// Closed subjects still remembered: (set, id) → closing time.
    closed: HashMap<(usize, Arc<str>), i64>,
    /// (time it is forgotten after, set, id) of every closed subject.
    closed_expiry: BTreeSet<(i64, usize, Arc<str>)>,
    /// How many holders each held record has (subjects, waiting lists).
    refs: HashMap<u64, u32>,
    next_token: u64,
    /// Tokens of records no longer held, not yet drained.
    dropped: Vec<u64>,
    now: i64,
}

impl Tracker {
    /// A tracker for `program`'s deadline sets, with the default retention
    /// ([`DEFAULT_RETENTION_MS`]).
    pub fn new(program: AssessProgram) -> Tracker {
        Tracker {
            program,
            retention: DEFAULT_RETENTION_MS,
            open: BTreeMap::new(),
            index: HashMap::new(),
            orphans: BTreeMap::new(),
            waiting: HashMap::new(),
            orphan_expiry: BTreeSet::new(),
            closed: HashMap::new(),
            closed_expiry: BTreeSet::new(),
            refs: HashMap::new(),
            next_token: 0,
            dropped: Vec::new(),
            now: i64::MIN,
        }
    }

    /// Sets the retention `R` in milliseconds (see [`Tracker`]); values are
    /// kept within `1 ..= MAX_RETENTION_MS`. Set it before observing.
    ///
    /// ```
    /// # use yingji_engine::assess::{deadline::Tracker, AssessProgram};
    /// let t = Tracker::new(AssessProgram::default()).with_retention(0);
    /// assert_eq!(t.retention(), 1);
    /// ```
    pub fn with_retention(mut self, ms: i64) -> Tracker {
        self.retention = ms.clamp(1, MAX_RETENTION_MS);
        self
    }

    /// The retention in milliseconds.
    pub fn retention(&self) -> i64 {
        self.retention
    }

    /// The latest event time seen.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// How many subjects are followed (one per subject and deadline set).
    pub fn open_subjects(&self) -> usize {
        self.open.len()
    }

    /// What the tracker holds now; every count stays bounded by what arrives
    /// within a retention.
    ///
    /// ```
    /// # use yingji_engine::assess::{deadline::{Held, Tracker}, AssessProgram};
    /// assert_eq!(Tracker::new(AssessProgram::default()).held(), Held::default());
    /// ```
    pub fn held(&self) -> Held {
        Held {
            subjects: self.open.len(),
            reports: self.open.values().map(|o| o.reports.len()).sum(),
            waiting: self.orphans.len(),
            closed: self.closed.len(),
        }
    }

    /// The token the next record taken will get (tokens count records taken,
    /// in order).
    pub fn next_token(&self) -> u64 {
        self.next_token
    }

    /// Moves the tokens of the records no longer held (their subject closed,
    /// or they waited in vain) into `into`.
    pub fn drain_dropped(&mut self, into: &mut Vec<u64>) {
        into.append(&mut self.dropped);
    }

    /// Closed subjects still remembered: `(deadline set, subject id, closing
    /// time)`, sorted.
    pub fn closed_subjects(&self) -> Vec<(String, Arc<str>, i64)> {
        let mut v: Vec<_> = self
            .closed
            .iter()
            .filter_map(|((set, id), at)| {
                let name = self.program.deadlines.get(*set)?.name.clone();
                Some((name, id.clone(), *at))
            })
            .collect();
        v.sort();
        v
    }

    /// Remembers a subject as closed at `at` (restoring a snapshot): its
    /// reports are refused until `R` after `at`. Unknown sets, subjects the
    /// tracker follows, and closings already forgotten are skipped.
    pub fn remember_closed(&mut self, set: &str, id: Arc<str>, at: i64) {
        let Some(i) = self.program.deadlines.iter().position(|d| d.name == set) else {
            return;
        };
        let until = at.saturating_add(self.retention);
        if until < self.now || self.index.contains_key(&(i, id.clone())) {
            return;
        }
        if let Some(old) = self.closed.insert((i, id.clone()), at) {
            self.closed_expiry
                .remove(&(old.saturating_add(self.retention), i, id.clone()));
        }
        self.closed_expiry.insert((until, i, id));
    }

    /// Whether [`Tracker::observe`] would take this (checked, graded) record
    /// now: a report about a closed subject, or about an unknown subject and
    /// older than the retention, is refused (see [`Tracker`]). Nothing changes.
    ///
    /// A subject record dated more than the retention behind the clock is
    /// refused too ([`RecordError::SubjectTooOld`]): its deadlines would
    /// have closed before it arrived, and a mistyped year (`1012`) would
    /// otherwise open a series of periods reaching from then to now.
    pub fn admit(&self, r: &Record) -> Result<(), RecordError> {
        if r.ts.ms.saturating_add(self.retention) < self.now {
            if let Some(set) = self.program.deadlines.iter().find(|d| d.subject == r.kind) {
                return Err(RecordError::SubjectTooOld {
                    kind: self
                        .program
                        .kinds
                        .get(usize::from(set.subject))
                        .map_or_else(|| Arc::from(""), |k| Arc::from(k.name.as_str())),
                    subject: r.id.clone(),
                    ts: r.ts,
                    now: Timestamp {
                        ms: self.now,
                        offset_min: r.ts.offset_min,
                    },
                    retention: Arc::from(human_duration(self.retention)),
                });
            }
        }
        match self.route(r, self.now.max(r.ts.ms)) {
            Route::Refuse(e) => Err(e),
            Route::NotReport | Route::Attach(_) | Route::Wait(_) => Ok(()),
        }
    }

    /// Takes one (checked, graded) record: a subject opens its obligations, a
    /// report settles one. The clock first advances to the record's time, so
    /// a report one millisecond after its deadline yields `report_missing`
    /// (at the deadline) and then `report_late`. A record [`Tracker::admit`]
    /// refuses changes nothing (not even the clock); a duplicate subject is
    /// ignored.
    pub fn observe(&mut self, r: &Record, out: &mut Vec<DeadlineOutput>) {
        let _ = self.take(r, out);
    }

    /// [`Tracker::observe`], returning the record's token when the tracker
    /// holds it (until [`Tracker::drain_dropped`] names it).
    pub fn take(&mut self, r: &Record, out: &mut Vec<DeadlineOutput>) -> Option<u64> {
        if self.admit(r).is_err() {
            // refused: nothing changes, not even the clock
            return None;
        }
        // time first moves to the record: deadlines before it pass (missing),
        // subjects close, then the record counts (a report after its deadline
        // is late)
        if r.ts.ms > self.now {
            self.advance(r.ts.ms, out);
        }
        let token = self.next_token;
        self.next_token += 1;
        let mut touched = false;
        let mut adopted: Vec<u64> = Vec::new();
        for (i, set) in self.program.deadlines.iter().enumerate() {
            if r.kind != set.subject {
                continue;
            }
            let id = (i, r.id.clone());
            if self.index.contains_key(&id) || self.closed.contains_key(&id) {
                continue;
            }
            let mut reports = Vec::new();
            for t in self.waiting.remove(&id).unwrap_or_default() {
                if let Some(o) = self.orphans.get(&t) {
                    reports.push((t, o.record.clone()));
                    *self.refs.entry(t).or_default() += 1;
                    adopted.push(t);
                }
            }
            *self.refs.entry(token).or_default() += 1;
            self.index.insert(id, (token, i));
            self.open.insert(
                (token, i),
                Open {
                    set: i,
                    subject: r.clone(),
                    token,
                    reports,
                    seen: HashMap::new(),
                    collapsed: HashMap::new(),
                    wake: Some(i64::MIN),
                    close_at: None,
                },
            );
            touched = true;
        }
        adopted.sort_unstable();
        adopted.dedup();
        for t in adopted {
            self.unwait(t);
        }
        match self.route(r, self.now) {
            Route::Attach(keys) => {
                for key in keys {
                    if let Some(o) = self.open.get_mut(&key) {
                        o.reports.push((token, r.clone()));
                        o.wake = Some(i64::MIN);
                        *self.refs.entry(token).or_default() += 1;
                        touched = true;
                    }
                }
            }
            Route::Wait(links) => {
                for l in &links {
                    self.waiting.entry(l.clone()).or_default().push(token);
                }
                self.orphan_expiry
                    .insert((r.ts.ms.saturating_add(self.retention), token));
                self.orphans.insert(
                    token,
                    Orphan {
                        record: r.clone(),
                        links,
                    },
                );
                *self.refs.entry(token).or_default() += 1;
            }
            Route::NotReport | Route::Refuse(_) => {}
        }
        if touched {
            self.advance(self.now, out);
        }
        self.refs.contains_key(&token).then_some(token)
    }

    /// Reads one JSONL record line (checked and graded like a batch record,
    /// then [`Tracker::admit`]ted) and observes it. A refused line changes
    /// nothing.
    pub fn observe_line(
        &mut self,
        line: &str,
        seq: u64,
        out: &mut Vec<DeadlineOutput>,
    ) -> Result<(), RecordError> {
        let mut r = super::records::parse_record(&self.program, line, seq)?;
        super::records::grade(&self.program, &mut r);
        self.admit(&r)?;
        self.observe(&r, out);
        Ok(())
    }

    /// The earliest event time at which [`Tracker::advance`] would change
    /// anything: emit a deadline that passed, close a subject, drop a report
    /// that waited in vain or forget a closed subject; `None` when nothing is
    /// scheduled (no subject with a pending deadline or a closing time, no
    /// waiting report, no closed subject remembered).
    ///
    /// Comparisons are strict: a deadline `d` passes (and a report is
    /// missing) only once the clock is *after* `d` (a report exactly at `d`
    /// is on time), and likewise for closing and expiry times. So the value
    /// is the earliest such time plus one millisecond: `advance(t)` fires it
    /// for every `t >= next_due()`, and `advance` to any earlier time emits
    /// nothing.
    ///
    /// ```
    /// # use yingji_engine::assess::{deadline::Tracker, AssessProgram};
    /// assert_eq!(Tracker::new(AssessProgram::default()).next_due(), None);
    /// ```
    pub fn next_due(&self) -> Option<i64> {
        let subjects = self
            .open
            .values()
            .flat_map(|o| [o.wake, o.close_at])
            .flatten();
        let orphans = self.orphan_expiry.first().map(|&(t, _)| t);
        let closed = self.closed_expiry.first().map(|(t, _, _)| *t);
        subjects
            .chain(orphans)
            .chain(closed)
            .min()
            .map(|t| t.saturating_add(1))
    }

    /// Moves event time to `now_ms` (never backwards) and emits every
    /// deadline that passed, in deadline order within a subject; subjects
    /// whose closing time passed are decided as of it and dropped.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<DeadlineOutput>) {
        self.now = self.now.max(now_ms);
        let now = self.now;
        while let Some(&(until, t)) = self.orphan_expiry.first() {
            if until >= now {
                break;
            }
            self.orphan_expiry.pop_first();
            self.unwait(t);
        }
        let due: Vec<(u64, usize)> = self
            .open
            .iter()
            .filter(|(_, o)| o.wake.is_some_and(|w| w < now) || o.close_at.is_some_and(|c| c < now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let Some(o) = self.open.get_mut(&key) else {
                continue;
            };
            let Some(set) = self.program.deadlines.get(o.set) else {
                continue;
            };
            let close = decide(set, o, now, self.retention, out);
            if close.is_some_and(|c| c < now) {
                self.close(key);
            }
        }
        while let Some((until, i, id)) = self.closed_expiry.first().cloned() {
            if until >= now {
                break;
            }
            self.closed_expiry.pop_first();
            self.closed.remove(&(i, id));
        }
    }

    /// Drops a closed subject and its reports; remembers it as closed.
    fn close(&mut self, key: (u64, usize)) {
        let Some(o) = self.open.remove(&key) else {
            return;
        };
        let id = (o.set, o.subject.id.clone());
        self.index.remove(&id);
        let at = o.close_at.unwrap_or(self.now);
        self.closed_expiry
            .insert((at.saturating_add(self.retention), o.set, id.1.clone()));
        self.closed.insert(id, at);
        self.release(o.token);
        for (t, _) in &o.reports {
            self.release(*t);
        }
    }

    /// Stops a report waiting (adopted, or waited in vain).
    fn unwait(&mut self, token: u64) {
        let Some(o) = self.orphans.remove(&token) else {
            return;
        };
        for l in &o.links {
            if let Some(v) = self.waiting.get_mut(l) {
                v.retain(|t| *t != token);
                if v.is_empty() {
                    self.waiting.remove(l);
                }
            }
        }
        self.orphan_expiry
            .remove(&(o.record.ts.ms.saturating_add(self.retention), token));
        self.release(token);
    }

    fn release(&mut self, token: u64) {
        if let Some(n) = self.refs.get_mut(&token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.refs.remove(&token);
                self.dropped.push(token);
            }
        }
    }

    /// When `o` closes if the clock moves to `clock` (`None`: not by then).
    fn closes_by(&self, o: &Open, clock: i64) -> Option<i64> {
        if let Some(c) = o.close_at {
            // a closing time, once known, only moves with a new report
            return (c < clock).then_some(c);
        }
        if o.wake.is_none_or(|w| w >= clock) {
            return None;
        }
        let set = self.program.deadlines.get(o.set)?;
        let refs: Vec<&Record> = o.reports.iter().map(|(_, r)| r).collect();
        let checks = check_subject(set, &o.subject, &refs, at(clock));
        closing(&checks, &o.subject, &refs, clock, self.retention).filter(|c| *c < clock)
    }

    /// Where record `r` goes when the clock is at `clock`.
    fn route(&self, r: &Record, clock: i64) -> Route {
        let mut links = Vec::new();
        let mut attach = Vec::new();
        let mut closed: Option<(usize, Arc<str>, i64)> = None;
        for (i, set) in self.program.deadlines.iter().enumerate() {
            if r.kind != set.report {
                continue;
            }
            let Some(link) = link_of(&self.program, i, r) else {
                continue;
            };
            let key = (i, link);
            let held = self
                .index
                .get(&key)
                .and_then(|k| Some((*k, self.open.get(k)?)));
            let closing = match held {
                Some((k, o)) => match self.closes_by(o, clock) {
                    None => {
                        attach.push(k);
                        continue;
                    }
                    Some(c) => Some(c),
                },
                None => self.closed.get(&key).copied(),
            };
            match closing {
                Some(c) if c.saturating_add(self.retention) >= clock => {
                    if closed.is_none() {
                        closed = Some((i, key.1, c));
                    }
                }
                _ => links.push(key),
            }
        }
        let offset = r.ts.offset_min;
        let stamp = |ms: i64| Timestamp {
            ms,
            offset_min: offset,
        };
        if !attach.is_empty() {
            Route::Attach(attach)
        } else if let Some((i, subject, c)) = closed {
            let set = self.program.deadlines.get(i);
            Route::Refuse(RecordError::SubjectClosed {
                report: r.id.clone(),
                kind: set
                    .and_then(|s| self.program.kinds.get(usize::from(s.subject)))
                    .map_or_else(|| Arc::from(""), |k| Arc::from(k.name.as_str())),
                subject,
                deadlines: set.map_or_else(|| Arc::from(""), |s| Arc::from(s.name.as_str())),
                closed_at: stamp(c),
                retention: Arc::from(human_duration(self.retention)),
            })
        } else if links.is_empty() {
            Route::NotReport
        } else if r.ts.ms.saturating_add(self.retention) < clock {
            Route::Refuse(RecordError::TooOld {
                report: r.id.clone(),
                subject: links.first().map_or_else(|| Arc::from(""), |l| l.1.clone()),
                ts: r.ts,
                now: stamp(clock),
                retention: Arc::from(human_duration(self.retention)),
            })
        } else {
            Route::Wait(links)
        }
    }
}

/// The subject id report `r` names for deadline set `i`.
fn link_of(p: &AssessProgram, i: usize, r: &Record) -> Option<Arc<str>> {
    let set = p.deadlines.get(i)?;
    if r.kind != set.report {
        return None;
    }
    match r.fields.get(usize::from(set.link)) {
        Some(Value::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp { ms, offset_min: 0 }
}

/// Re-decides one subject as of `now` (or as of its closing time, when that
/// passed), emits what changed, and returns its closing time.
fn decide(
    set: &DeadlineSet,
    o: &mut Open,
    now: i64,
    retention: i64,
    out: &mut Vec<DeadlineOutput>,
) -> Option<i64> {
    let refs: Vec<&Record> = o.reports.iter().map(|(_, r)| r).collect();
    let mut checks = check_subject(set, &o.subject, &refs, at(now));
    let close = closing(&checks, &o.subject, &refs, now, retention);
    if let Some(c) = close.filter(|c| *c < now) {
        // the last decision is as of the closing time (nothing after it counts)
        checks = check_subject(set, &o.subject, &refs, at(c));
    }
    let mut wake: Option<i64> = None;
    for c in checks {
        let key = c.key();
        if let Some(n) = c.missed {
            collapsed_news(o, key, c, n, out);
            continue;
        }
        let before = o.seen.get(&key).cloned();
        if before.is_none() {
            out.push(DeadlineOutput::ReportDue(Notice {
                id: 0,
                ts: c.from,
                check: c.clone(),
                late_by: None,
            }));
        }
        match &c.status {
            Status::Missing if before != Some(Status::Missing) => {
                out.push(DeadlineOutput::ReportMissing(Notice {
                    id: 0,
                    ts: c.due,
                    check: c.clone(),
                    late_by: None,
                }))
            }
            Status::Late {
                received,
                late_by_ms,
                ..
            } if !matches!(before, Some(Status::Late { .. })) => {
                out.push(DeadlineOutput::ReportLate(Notice {
                    id: 0,
                    ts: *received,
                    check: c.clone(),
                    late_by: Some(human_duration(*late_by_ms)),
                }));
            }
            _ => {}
        }
        if c.due.ms >= now {
            wake = Some(wake.map_or(c.due.ms, |w| w.min(c.due.ms)));
        }
        o.seen.insert(key, c.status);
    }
    o.wake = wake;
    o.close_at = close;
    close
}

/// A collapsed run of `n` missed periods (see [`MAX_MISSED_RUN`]), live:
/// announces it once (`report_due`), then reports missing only the periods
/// not reported before, as one `report_missing` whose check stands for them
/// (`occurrence` the first new period, `missed` how many): at most two
/// outputs per run and decision, however far the clock moved.
fn collapsed_news(o: &mut Open, key: CheckKey, c: Check, n: u32, out: &mut Vec<DeadlineOutput>) {
    if !o.seen.contains_key(&key) {
        out.push(DeadlineOutput::ReportDue(Notice {
            id: 0,
            ts: c.from,
            check: c.clone(),
            late_by: None,
        }));
    }
    let done = o.collapsed.get(&key).copied().unwrap_or(0);
    if n > done {
        // the collapsed periods are of equal length (the first period of a
        // series is never collapsed)
        let period = (c.due.ms - c.from.ms) / i64::from(n.max(1));
        let mut news = c.clone();
        news.occurrence = c.occurrence.map(|k| k.saturating_add(done));
        news.missed = Some(n - done);
        news.from = c.from.plus_ms(period.saturating_mul(i64::from(done)));
        out.push(DeadlineOutput::ReportMissing(Notice {
            id: 0,
            ts: news.due,
            check: news,
            late_by: None,
        }));
        o.collapsed.insert(key.clone(), n);
    }
    o.seen.insert(key, c.status);
}

/// A subject's closing time given its obligations decided as of `as_of`
/// (the rule is spelled out on [`Tracker`]); `None` while it has none.
fn closing(
    checks: &[Check],
    subject: &Record,
    reports: &[&Record],
    as_of: i64,
    retention: i64,
) -> Option<i64> {
    let mut last = reports
        .iter()
        .map(|r| r.ts.ms)
        .fold(subject.ts.ms, i64::max);
    let mut i = 0;
    while let Some(c) = checks.get(i) {
        if c.occurrence.is_none() {
            match c.status {
                Status::Pending => return None,
                Status::Met { .. } | Status::Late { .. } | Status::Missing => {
                    last = last.max(c.due.ms)
                }
            }
            i += 1;
            continue;
        }
        // one repeating obligation: its periods 1, 2, … in a row
        let mut run_start: Option<i64> = None;
        let mut live = false;
        let mut first = true;
        while let Some(p) = checks.get(i) {
            if p.occurrence.is_none() || (!first && p.occurrence == Some(1)) {
                break;
            }
            first = false;
            live = false;
            match p.status {
                Status::Met { .. } | Status::Late { .. } => {
                    last = last.max(p.due.ms);
                    run_start = None;
                    // met ahead of its deadline: the next period is not out yet
                    live = p.due.ms >= as_of;
                }
                Status::Missing => {
                    run_start.get_or_insert(p.due.ms);
                }
                Status::Pending => live = true,
            }
            i += 1;
        }
        match run_start {
            Some(s) => last = last.max(s),
            None if live => return None,
            None => {}
        }
    }
    Some(last.saturating_add(retention))
}
