//! Scoring a unit: criteria, vetoes with evidence, grade.

use super::deadline::{Check, Status, check_batch};
use super::records::Record;
use super::{AExpr, AssessProgram, Assessment, CollOp, CriterionKind, PeriodUnit};
use crate::eval::{binary, eval};
use crate::ir::{BinOp, UnOp};
use crate::time::{MS_PER_MINUTE, Timestamp, civil_from_days, days_from_civil};
use crate::value::Value;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// One assessment period (a calendar year, quarter or month), in each
/// record's own local time (the offset it was written with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    /// Year, quarter or month.
    pub unit: PeriodUnit,
    /// Year for years; `year * 4 + quarter - 1`; `year * 12 + month - 1`.
    pub index: i64,
}

impl Period {
    /// The period containing `ts` (local date).
    pub fn of(unit: PeriodUnit, ts: Timestamp) -> Period {
        let local = ts
            .ms
            .saturating_add(i64::from(ts.offset_min) * MS_PER_MINUTE);
        let (y, m, _) = civil_from_days(local.div_euclid(crate::time::MS_PER_DAY));
        let index = match unit {
            PeriodUnit::Year => y,
            PeriodUnit::Quarter => y * 4 + (m - 1) / 3,
            PeriodUnit::Month => y * 12 + m - 1,
        };
        Period { unit, index }
    }

    /// Reads `2024`, `2024-Q3` or `2024-07` (the spelling must match the unit).
    pub fn parse(unit: PeriodUnit, s: &str) -> Option<Period> {
        let s = s.trim();
        let year = |t: &str| t.parse::<i64>().ok().filter(|y| (1..=9999).contains(y));
        let index = match unit {
            PeriodUnit::Year => year(s)?,
            PeriodUnit::Quarter => {
                let (y, q) = s.split_once(['-', ' '])?;
                let q: i64 = q
                    .trim_start_matches(['Q', 'q'])
                    .parse()
                    .ok()
                    .filter(|q| (1..=4).contains(q))?;
                year(y)? * 4 + q - 1
            }
            PeriodUnit::Month => {
                let (y, m) = s.split_once('-')?;
                let m: i64 = m.parse().ok().filter(|m| (1..=12).contains(m))?;
                year(y)? * 12 + m - 1
            }
        };
        Some(Period { unit, index })
    }

    /// Does it contain `ts`?
    pub fn contains(self, ts: Timestamp) -> bool {
        Period::of(self.unit, ts) == self
    }

    /// The period before.
    pub fn prev(self) -> Period {
        Period {
            unit: self.unit,
            index: self.index - 1,
        }
    }

    /// The first local day, as days since 1970-01-01 (for tests and display).
    pub fn first_day(self) -> i64 {
        match self.unit {
            PeriodUnit::Year => days_from_civil(self.index, 1, 1),
            PeriodUnit::Quarter => days_from_civil(
                self.index.div_euclid(4),
                self.index.rem_euclid(4) * 3 + 1,
                1,
            ),
            PeriodUnit::Month => {
                days_from_civil(self.index.div_euclid(12), self.index.rem_euclid(12) + 1, 1)
            }
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            PeriodUnit::Year => write!(f, "{}", self.index),
            PeriodUnit::Quarter => write!(
                f,
                "{}-Q{}",
                self.index.div_euclid(4),
                self.index.rem_euclid(4) + 1
            ),
            PeriodUnit::Month => write!(
                f,
                "{}-{:02}",
                self.index.div_euclid(12),
                self.index.rem_euclid(12) + 1
            ),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn num<S: serde::Serializer>(n: &f64, s: S) -> Result<S::Ok, S::Error> {
    crate::value::serialize_num(*n, s)
}

/// One criterion's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CriterionResult {
    /// The criterion.
    pub name: Arc<str>,
    /// Score, bonus or deduction.
    pub kind: CriterionKind,
    /// Points awarded (for a deduction: points taken off), in `[0, max]`.
    #[serde(serialize_with = "num")]
    pub points: f64,
    /// Weight or cap.
    #[serde(serialize_with = "num")]
    pub max: f64,
    /// The expression's value before clamping (`null`: no value, the
    /// criterion's `else` applied).
    pub value: Value,
}

/// A veto that fired.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VetoResult {
    /// The veto.
    pub name: Arc<str>,
    /// Its condition as written.
    pub rule: Arc<str>,
    /// Where it is written.
    pub rule_at: Arc<str>,
    /// Ids of the records that caused it, in file order.
    pub evidence: Vec<Arc<str>>,
}

/// One unit's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitResult {
    /// The unit.
    pub unit: Arc<str>,
    /// Total score in `[0, total]`.
    #[serde(serialize_with = "num")]
    pub score: f64,
    /// Per criterion.
    pub criteria: Vec<CriterionResult>,
    /// Every veto that fired, with evidence.
    pub vetoes: Vec<VetoResult>,
    /// Whether any veto fired.
    pub vetoed: bool,
    /// The grade the score alone would give.
    pub score_grade: Arc<str>,
    /// The final grade: the failing grade when vetoed.
    pub grade: Arc<str>,
    /// How many of its records fall in the period.
    pub records: usize,
}

/// A unit that records name but the roster does not.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnknownUnit {
    /// The unit as written.
    pub unit: Arc<str>,
    /// How many records name it.
    pub records: usize,
    /// The first line naming it.
    pub first_line: u64,
}

/// One assessment over one period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AssessmentResult {
    /// The assessment.
    pub assessment: Arc<str>,
    /// The unit type.
    pub unit_type: Arc<str>,
    /// The period.
    pub period: Period,
    /// Full score.
    #[serde(serialize_with = "num")]
    pub total: f64,
    /// Criterion names in order (table columns).
    pub criteria: Vec<Arc<str>>,
    /// Per unit, in roster order (or order of first appearance without a roster).
    pub units: Vec<UnitResult>,
    /// Units in records but not in the roster (not assessed).
    pub unknown_units: Vec<UnknownUnit>,
}

struct Ctx<'a> {
    cur: &'a [&'a Record],
    prior: &'a [&'a Record],
}

/// Evaluates an assessment expression over `ctx`; pushes the indices
/// (into `ctx.cur`) of the records that decided each aggregate to `ev` when
/// given.
fn aeval(e: &AExpr, ctx: &Ctx<'_>, ev: &mut Option<&mut Vec<usize>>) -> Value {
    match e {
        AExpr::Const(v) => v.clone(),
        AExpr::Unary(UnOp::Neg, x) => match aeval(x, ctx, ev) {
            Value::Num(n) => Value::Num(-n),
            _ => Value::Null,
        },
        AExpr::Unary(UnOp::Not, x) => match aeval(x, ctx, ev) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Null,
        },
        AExpr::Binary(op @ (BinOp::And | BinOp::Or), a, b) => {
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            let collecting = ev.is_some();
            let va = aeval(a, ctx, &mut collecting.then_some(&mut ea)).is_true();
            let vb = aeval(b, ctx, &mut collecting.then_some(&mut eb)).is_true();
            let result = if *op == BinOp::And {
                va && vb
            } else {
                va || vb
            };
            if let Some(out) = ev.as_deref_mut() {
                if result {
                    if va {
                        out.extend(ea);
                    }
                    if vb {
                        out.extend(eb);
                    }
                }
            }
            Value::Bool(result)
        }
        AExpr::Binary(op, a, b) => {
            let va = aeval(a, ctx, ev);
            let vb = aeval(b, ctx, ev);
            binary(*op, &va, &vb)
        }
        AExpr::In(x, list) => {
            let v = aeval(x, ctx, ev);
            if v == Value::Null {
                return Value::Bool(false);
            }
            Value::Bool(list.iter().any(|i| aeval(i, ctx, ev) == v))
        }
        AExpr::Call(f, args) => {
            crate::eval::builtin(*f, args.iter().map(|a| aeval(a, ctx, ev).as_num()))
        }
        AExpr::Prior(x) => {
            let prior_ctx = Ctx {
                cur: ctx.prior,
                prior: &[],
            };
            aeval(x, &prior_ctx, &mut None)
        }
        AExpr::Agg(agg) => {
            let scope = |r: &'_ Record| -> (Value, Value) {
                let s = super::record_scope(&r.fields);
                let keep = agg
                    .filter
                    .as_ref()
                    .map_or(Value::Bool(true), |f| eval(f, &s));
                let v = agg.value.as_ref().map_or(Value::Null, |x| eval(x, &s));
                (keep, v)
            };
            let mut hits: Vec<usize> = Vec::new();
            let (mut n, mut sum, mut best): (usize, f64, Option<f64>) = (0, 0.0, None);
            let mut all = true;
            for (i, r) in ctx.cur.iter().enumerate() {
                if r.kind != agg.kind {
                    continue;
                }
                let (keep, v) = scope(r);
                if !keep.is_true() {
                    continue;
                }
                match agg.op {
                    CollOp::Count => {
                        n += 1;
                        hits.push(i);
                    }
                    CollOp::Any => {
                        if agg.value.as_ref().is_none_or(|_| v.is_true()) {
                            n += 1;
                            hits.push(i);
                        }
                    }
                    CollOp::All => {
                        if agg.value.is_some() && !v.is_true() {
                            all = false;
                            hits.push(i);
                        }
                    }
                    CollOp::Sum | CollOp::Avg => {
                        if let Some(x) = v.as_num() {
                            n += 1;
                            sum += x;
                            if x != 0.0 {
                                hits.push(i);
                            }
                        }
                    }
                    CollOp::Max | CollOp::Min => {
                        if let Some(x) = v.as_num() {
                            let better = best
                                .is_none_or(|b| if agg.op == CollOp::Max { x > b } else { x < b });
                            if better {
                                best = Some(x);
                                hits.clear();
                            }
                            if best == Some(x) {
                                hits.push(i);
                            }
                        }
                    }
                }
            }
            if let Some(out) = ev.as_deref_mut() {
                out.extend(hits);
            }
            match agg.op {
                CollOp::Count => Value::Num(n as f64),
                CollOp::Any => Value::Bool(n > 0),
                CollOp::All => Value::Bool(all),
                CollOp::Sum => Value::Num(sum),
                CollOp::Avg if n == 0 => Value::Null,
                CollOp::Avg => Value::Num(sum / n as f64),
                CollOp::Max | CollOp::Min => best.map_or(Value::Null, Value::Num),
            }
        }
    }
}

fn round6(x: f64) -> f64 {
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

/// Scores one unit on its records of the period (`cur`) and the one before (`prior`).
pub fn assess_unit(a: &Assessment, unit: &str, cur: &[&Record], prior: &[&Record]) -> UnitResult {
    let ctx = Ctx { cur, prior };
    let mut criteria = Vec::new();
    let (mut score, mut bonus, mut deduct) = (0.0, 0.0, 0.0);
    for c in &a.criteria {
        let value = aeval(&c.expr, &ctx, &mut None);
        let raw = match &value {
            Value::Num(x) if x.is_finite() => *x,
            _ => c.otherwise.unwrap_or(0.0),
        };
        let points = round6(raw.clamp(0.0, c.max.max(0.0)));
        match c.kind {
            CriterionKind::Score => score += points,
            CriterionKind::Bonus => bonus += points,
            CriterionKind::Deduct => deduct += points,
        }
        criteria.push(CriterionResult {
            name: Arc::from(c.name.as_str()),
            kind: c.kind,
            points,
            max: c.max,
            value,
        });
    }
    let total = round6((score + bonus - deduct).clamp(0.0, a.total.max(0.0)));
    let mut vetoes = Vec::new();
    for v in &a.vetoes {
        let mut ev = Vec::new();
        if aeval(&v.when, &ctx, &mut Some(&mut ev)).is_true() {
            ev.sort_unstable();
            ev.dedup();
            let mut evidence: Vec<(u64, Arc<str>)> = ev
                .iter()
                .filter_map(|&i| cur.get(i))
                .map(|r| (r.line, r.id.clone()))
                .collect();
            evidence.sort();
            evidence.dedup_by(|x, y| x.1 == y.1);
            vetoes.push(VetoResult {
                name: Arc::from(v.name.as_str()),
                rule: Arc::from(v.text.as_str()),
                rule_at: Arc::from(v.at.as_str()),
                evidence: evidence.into_iter().map(|(_, id)| id).collect(),
            });
        }
    }
    let score_grade: Arc<str> = Arc::from(
        a.bands
            .iter()
            .find(|(_, min)| total >= *min)
            .map_or(a.fail_grade.as_str(), |(g, _)| g.as_str()),
    );
    let vetoed = !vetoes.is_empty();
    UnitResult {
        unit: Arc::from(unit),
        score: total,
        criteria,
        grade: if vetoed {
            Arc::from(a.fail_grade.as_str())
        } else {
            score_grade.clone()
        },
        score_grade,
        vetoes,
        vetoed,
        records: cur.len(),
    }
}

/// Records derived from deadline checks: one `report_late` per late report
/// and one `report_missing` per missing one, in the subject's unit and at the
/// subject's time (so they count in the subject's period). A collapsed run
/// of missed periods ([`Check::missed`]) counts as every period it stands
/// for (one record each, `A-001/续报#65`, `#66`, …), so scores do not depend
/// on how outputs are collapsed.
pub fn derived_records(p: &AssessProgram, checks: &[Check]) -> Vec<Record> {
    let late = p
        .kind_id("report_late")
        .filter(|k| p.kinds.get(usize::from(*k)).is_some_and(|k| k.derived));
    let missing = p
        .kind_id("report_missing")
        .filter(|k| p.kinds.get(usize::from(*k)).is_some_and(|k| k.derived));
    let mut out = Vec::new();
    for c in checks {
        let (kind, late_minutes) = match &c.status {
            Status::Late { late_by_ms, .. } => {
                (late, Some(*late_by_ms as f64 / MS_PER_MINUTE as f64))
            }
            Status::Missing => (missing, None),
            Status::Met { .. } | Status::Pending => continue,
        };
        let Some(kind) = kind else { continue };
        let mut fields = vec![Value::Null; p.fields.len()];
        let mut set = |name: &str, v: Value| {
            if let Some(slot) = p.slot(name).and_then(|s| fields.get_mut(usize::from(s))) {
                *slot = v;
            }
        };
        set("deadlines", Value::Str(c.deadlines.clone()));
        set("stage", Value::Str(c.stage.clone()));
        set("subject", Value::Str(c.subject.clone()));
        if let Some(m) = late_minutes {
            set("late_minutes", Value::Num(m));
        }
        let record = Record {
            line: 0,
            kind,
            id: c.evidence_id(),
            unit: c.unit.clone(),
            ts: c.subject_ts,
            fields,
        };
        match (c.missed, c.occurrence) {
            (Some(n), Some(k0)) if n > 1 => {
                for i in 0..n {
                    let mut one = c.clone();
                    one.missed = None;
                    one.occurrence = Some(k0.saturating_add(i));
                    out.push(Record {
                        id: one.evidence_id(),
                        ..record.clone()
                    });
                }
            }
            _ => out.push(record),
        }
    }
    out
}

/// The period of the latest record (the default period to assess).
pub fn latest_period(unit: PeriodUnit, records: &[Record]) -> Option<Period> {
    records
        .iter()
        .map(|r| r.ts)
        .max()
        .map(|t| Period::of(unit, t))
}

/// Runs one assessment over `records` (read, graded, with deadline-derived
/// records appended) for `period`.
pub fn assess(
    p: &AssessProgram,
    a: &Assessment,
    records: &[Record],
    period: Period,
) -> AssessmentResult {
    let roster = a.roster.and_then(|i| p.rosters.get(i));
    let mut units: Vec<Arc<str>> = roster.map_or_else(Vec::new, |r| {
        r.units.iter().map(|u| Arc::from(u.as_str())).collect()
    });
    let mut unknown: Vec<UnknownUnit> = Vec::new();
    let mut by_unit: HashMap<&str, (Vec<&Record>, Vec<&Record>)> = HashMap::new();
    let prev = period.prev();
    for r in records {
        let known = roster.is_none_or(|ro| ro.units.iter().any(|u| u.as_str() == r.unit.as_ref()));
        if !known {
            match unknown.iter_mut().find(|u| u.unit == r.unit) {
                Some(u) => {
                    u.records += 1;
                    if r.line != 0 && (u.first_line == 0 || r.line < u.first_line) {
                        u.first_line = r.line;
                    }
                }
                None => unknown.push(UnknownUnit {
                    unit: r.unit.clone(),
                    records: 1,
                    first_line: r.line,
                }),
            }
            continue;
        }
        if roster.is_none() && !units.contains(&r.unit) {
            units.push(r.unit.clone());
        }
        let entry = by_unit.entry(r.unit.as_ref()).or_default();
        if period.contains(r.ts) {
            entry.0.push(r);
        } else if prev.contains(r.ts) {
            entry.1.push(r);
        }
    }
    for e in by_unit.values_mut() {
        e.0.sort_by_key(|r| r.line);
        e.1.sort_by_key(|r| r.line);
    }
    let results = units
        .iter()
        .map(|u| {
            let (cur, prior) = by_unit
                .get(u.as_ref())
                .map_or((&[][..], &[][..]), |(c, p)| (c.as_slice(), p.as_slice()));
            assess_unit(a, u, cur, prior)
        })
        .collect();
    AssessmentResult {
        assessment: Arc::from(a.name.as_str()),
        unit_type: Arc::from(a.unit_type.as_str()),
        period,
        total: a.total,
        criteria: a
            .criteria
            .iter()
            .map(|c| Arc::from(c.name.as_str()))
            .collect(),
        units: results,
        unknown_units: unknown,
    }
}

/// Everything `yingji assess` computes from one record set.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Deadline checks of every subject.
    pub deadlines: Vec<Check>,
    /// One result per assessment.
    pub assessments: Vec<AssessmentResult>,
    /// Each graded record's grade, in file order (one per grading of its kind).
    pub grades: Vec<RecordGrade>,
}

/// One record's grade under one grading (`yingji assess` prints them all).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordGrade {
    /// The grading (`事故等级`).
    pub grading: Arc<str>,
    /// The record's id, unit, time and line in its file.
    pub id: Arc<str>,
    /// Its unit.
    pub unit: Arc<str>,
    /// Its time.
    pub ts: Timestamp,
    /// Its line (1-based).
    pub line: u64,
    /// The grade given (`较大`).
    pub grade: String,
    /// The rule that gave it, as written; `None`: the `else` grade.
    pub rule: Option<String>,
    /// Where the grading is defined.
    pub rule_at: String,
}

/// The grade of every record of a graded kind, in file order (derived
/// records are not graded).
pub fn record_grades(p: &AssessProgram, records: &[Record]) -> Vec<RecordGrade> {
    let mut out = Vec::new();
    for r in records.iter().filter(|r| r.line > 0) {
        for g in p.gradings.iter().filter(|g| g.kind == r.kind) {
            let scope = super::record_scope(&r.fields);
            let rule = g
                .rules
                .iter()
                .find(|rule| crate::eval::eval(&rule.when, &scope).is_true());
            let rank = r
                .fields
                .get(usize::from(g.slot))
                .and_then(Value::as_num)
                .map_or(1, |n| n as u8);
            out.push(RecordGrade {
                grading: Arc::from(g.name.as_str()),
                id: r.id.clone(),
                unit: r.unit.clone(),
                ts: r.ts,
                line: r.line,
                grade: g.grade_name(rank).to_string(),
                rule: rule.map(|r| r.text.clone()),
                rule_at: g.at.clone(),
            });
        }
    }
    out
}

/// Checks deadlines as of `as_of` (default: the latest record's time), adds
/// the derived records, and runs every assessment for `period` (default: the
/// period of the latest record, per assessment).
pub fn run(
    p: &AssessProgram,
    records: &[Record],
    period: Option<&str>,
    as_of: Option<Timestamp>,
) -> Result<Report, String> {
    let as_of = as_of
        .or_else(|| records.iter().map(|r| r.ts).max())
        .unwrap_or_default();
    let deadlines = check_batch(p, records, as_of);
    let mut all: Vec<Record> = records.to_vec();
    all.extend(derived_records(p, &deadlines));
    let mut assessments = Vec::new();
    for a in &p.assessments {
        let per = match period {
            Some(s) => Period::parse(a.period, s).ok_or_else(|| {
                let example = match a.period {
                    PeriodUnit::Year => "2024",
                    PeriodUnit::Quarter => "2024-Q3",
                    PeriodUnit::Month => "2024-07",
                };
                format!(
                    "period `{s}` is not a {} (write e.g. `{example}`) for assessment `{}`",
                    period_word(a.period),
                    a.name
                )
            })?,
            None => match latest_period(a.period, records) {
                Some(p) => p,
                None => Period::of(a.period, as_of),
            },
        };
        assessments.push(assess(p, a, &all, per));
    }
    Ok(Report {
        deadlines,
        assessments,
        grades: record_grades(p, records),
    })
}

fn period_word(u: PeriodUnit) -> &'static str {
    match u {
        PeriodUnit::Year => "year",
        PeriodUnit::Quarter => "quarter",
        PeriodUnit::Month => "month",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_print_and_step_back() {
        let y = Period::parse(PeriodUnit::Year, "2024");
        assert_eq!(y.map(|p| p.to_string()), Some("2024".into()));
        let q = Period::parse(PeriodUnit::Quarter, "2024-Q1");
        assert_eq!(q.map(|p| p.prev().to_string()), Some("2023-Q4".into()));
        let m = Period::parse(PeriodUnit::Month, "2024-01");
        assert_eq!(m.map(|p| p.prev().to_string()), Some("2023-12".into()));
        assert_eq!(Period::parse(PeriodUnit::Month, "2024-13"), None);
        assert_eq!(Period::parse(PeriodUnit::Year, "2024-07"), None);
    }

    #[test]
    fn a_record_belongs_to_its_local_date() -> Result<(), crate::time::TimeError> {
        // 2024-01-01 00:30 in Chongqing is still 2023 in UTC
        let t = Timestamp::parse("2024-01-01T00:30:00+08:00")?;
        assert_eq!(Period::of(PeriodUnit::Year, t).to_string(), "2024");
        assert_eq!(Period::of(PeriodUnit::Quarter, t).to_string(), "2024-Q1");
        let p = Period::of(PeriodUnit::Month, t);
        assert_eq!(p.first_day(), days_from_civil(2024, 1, 1));
        Ok(())
    }
}
