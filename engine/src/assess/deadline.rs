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
//!   "late", only missing periods; it stops after the `until` stage's report.

use super::records::Record;
use super::{AssessProgram, DeadlineRule, DeadlineSet, Timing};
use crate::eval::eval;
use crate::time::{MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, MS_PER_SECOND, Timestamp};
use crate::value::Value;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The most periods one repeating rule checks per subject (bounds work on
/// absurd inputs: a year of hourly reports is 8,760).
pub const MAX_OCCURRENCES: u32 = 100_000;

/// The outcome of one reporting obligation.
#[derive(Clone, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    /// The deadline set (`生产安全事故报送`).
    pub deadlines: Arc<str>,
    /// The stage (`单位报县`).
    pub stage: Arc<str>,
    /// For repeating reports, which period (1, 2, …).
    pub occurrence: Option<u32>,
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notice {
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

/// A duration as people read it: `1s`, `40m`, `4d21h50m`, `250ms`.
///
/// ```
/// use yingji_engine::assess::deadline::human_duration;
/// assert_eq!(human_duration(1_000), "1s");
/// assert_eq!(human_duration(7070 * 60_000), "4d21h50m");
/// assert_eq!(human_duration(1_500), "1s500ms");
/// ```
pub fn human_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms.unsigned_abs();
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    for (unit, n) in [
        ("d", MS_PER_DAY),
        ("h", MS_PER_HOUR),
        ("m", MS_PER_MINUTE),
        ("s", MS_PER_SECOND),
        ("ms", 1),
    ] {
        let n = n.unsigned_abs();
        if rest >= n {
            out.push_str(&format!("{}{unit}", rest / n));
            rest %= n;
        }
    }
    out
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
                    out.push(mk(from, due, Some(k), status));
                    if pending || due.ms >= as_of.ms {
                        break;
                    }
                    prev = due;
                }
            }
        }
    }
    out
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
                ts: *received,
                check: c.clone(),
                late_by: Some(human_duration(*late_by_ms)),
            })),
            Status::Missing => out.push(DeadlineOutput::ReportMissing(Notice {
                ts: c.due,
                check: c.clone(),
                late_by: None,
            })),
            Status::Met { .. } | Status::Pending => {}
        }
    }
    out
}

struct Open {
    set: usize,
    subject: Record,
    reports: Vec<Record>,
    /// Last status emitted per obligation.
    seen: HashMap<CheckKey, Status>,
    /// The earliest pending deadline (re-decide when time passes it).
    wake: Option<i64>,
}

/// Live deadlines: feed records as they arrive ([`Tracker::observe`]) and the
/// event-time clock ([`Tracker::advance`]); outputs come out as deadlines
/// become known, pass, or are met late.
///
/// ```
/// # use yingji_engine::assess::{deadline::Tracker, AssessProgram};
/// let mut t = Tracker::new(AssessProgram::default());
/// let mut out = Vec::new();
/// t.advance(0, &mut out);
/// assert!(out.is_empty());
/// ```
pub struct Tracker {
    program: AssessProgram,
    open: Vec<Open>,
    /// Reports whose subject has not been seen yet: (set, link) → reports.
    orphans: HashMap<(usize, Arc<str>), Vec<Record>>,
    now: i64,
}

impl Tracker {
    /// A tracker for `program`'s deadline sets.
    pub fn new(program: AssessProgram) -> Tracker {
        Tracker {
            program,
            open: Vec::new(),
            orphans: HashMap::new(),
            now: i64::MIN,
        }
    }

    /// The latest event time seen.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// How many subjects still have obligations open.
    pub fn open_subjects(&self) -> usize {
        self.open.len()
    }

    /// Takes one (checked, graded) record: a subject opens its obligations, a
    /// report settles one. The clock first advances to the record's time, so
    /// a report one millisecond after its deadline yields `report_missing`
    /// (at the deadline) and then `report_late`.
    pub fn observe(&mut self, r: &Record, out: &mut Vec<DeadlineOutput>) {
        // time first moves to the record: deadlines before it pass (missing),
        // then the record counts (a report after its deadline is late)
        if r.ts.ms > self.now {
            self.advance(r.ts.ms, out);
        }
        let mut touched = false;
        for (i, set) in self.program.deadlines.iter().enumerate() {
            if r.kind == set.subject {
                let reports = self.orphans.remove(&(i, r.id.clone())).unwrap_or_default();
                self.open.push(Open {
                    set: i,
                    subject: r.clone(),
                    reports,
                    seen: HashMap::new(),
                    wake: Some(i64::MIN),
                });
                touched = true;
            }
            if r.kind == set.report {
                if let Some(Value::Str(link)) = r.fields.get(usize::from(set.link)) {
                    match self
                        .open
                        .iter_mut()
                        .find(|o| o.set == i && o.subject.id == *link)
                    {
                        Some(o) => {
                            o.reports.push(r.clone());
                            o.wake = Some(i64::MIN);
                            touched = true;
                        }
                        None => self
                            .orphans
                            .entry((i, link.clone()))
                            .or_default()
                            .push(r.clone()),
                    }
                }
            }
        }
        let now = self.now.max(r.ts.ms);
        if touched || now > self.now {
            self.advance(now, out);
        }
    }

    /// Reads one JSONL record line (checked and graded like a batch record)
    /// and observes it. A refused line changes nothing.
    pub fn observe_line(
        &mut self,
        line: &str,
        seq: u64,
        out: &mut Vec<DeadlineOutput>,
    ) -> Result<(), super::records::RecordError> {
        let mut r = super::records::parse_record(&self.program, line, seq)?;
        super::records::grade(&self.program, &mut r);
        self.observe(&r, out);
        Ok(())
    }

    /// Moves event time to `now_ms` (never backwards) and emits every
    /// deadline that passed, in deadline order within a subject.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<DeadlineOutput>) {
        self.now = self.now.max(now_ms);
        let now = self.now;
        let as_of = Timestamp {
            ms: now,
            offset_min: 0,
        };
        let mut i = 0;
        while i < self.open.len() {
            let Some(o) = self.open.get_mut(i) else { break };
            if o.wake.is_none_or(|w| w >= now) {
                i += 1;
                continue;
            }
            let Some(set) = self.program.deadlines.get(o.set) else {
                i += 1;
                continue;
            };
            let refs: Vec<&Record> = o.reports.iter().collect();
            let checks = check_subject(set, &o.subject, &refs, as_of);
            let mut wake: Option<i64> = None;
            for c in checks {
                let key = c.key();
                let before = o.seen.get(&key).cloned();
                if before.is_none() {
                    out.push(DeadlineOutput::ReportDue(Notice {
                        ts: c.from,
                        check: c.clone(),
                        late_by: None,
                    }));
                }
                match &c.status {
                    Status::Missing if before != Some(Status::Missing) => {
                        out.push(DeadlineOutput::ReportMissing(Notice {
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
            // a subject with a pending `after` stage or repetition stays open;
            // one whose obligations are all settled only reopens on a report
            let repeating = set
                .rules
                .iter()
                .any(|r| matches!(r.timing, Timing::Every { .. }) && applies(r, &o.subject));
            let unsettled = o
                .seen
                .values()
                .any(|s| matches!(s, Status::Pending | Status::Missing));
            o.wake = wake;
            if wake.is_none()
                && !repeating
                && !unsettled
                && o.seen.len() >= expected_rules(set, &o.subject)
            {
                self.open.swap_remove(i);
                continue;
            }
            i += 1;
        }
    }
}

/// How many one-off obligations a subject has (to know when it is settled).
fn expected_rules(set: &DeadlineSet, subject: &Record) -> usize {
    set.rules
        .iter()
        .filter(|r| matches!(r.timing, Timing::Within { .. }) && applies(r, subject))
        .count()
}
