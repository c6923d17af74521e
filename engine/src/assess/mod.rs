//! Assessments (考核) with one-vote veto (一票否决), accident grading and
//! reporting deadlines (事故灾害报送): the compiled form and its evaluators.
//!
//! The DSL (`yingji_dsl::assess`) lowers `grading`, `deadlines`, `roster`
//! and `assessment` definitions into an [`AssessProgram`]. Records (JSONL:
//! accidents, reports, inspections, …) are read by [`records`], graded by the
//! program's gradings, checked against deadlines by [`deadline`] (in batch or
//! live through [`deadline::Tracker`]) and scored by [`eval`].
//!
//! Invariants: nothing a record carries can make evaluation panic; record
//! field values are always of their declared type (or `null` when optional
//! and absent), so expressions never see surprises.

pub mod deadline;
pub mod eval;
pub mod live;
pub mod records;

use crate::ir::{BinOp, Builtin, Expr, FieldId, UnOp};
use crate::value::{Type, Value};
use serde::{Deserialize, Serialize};

/// Index of a record kind in [`AssessProgram::kinds`].
pub type RecordKindId = u16;

/// Everything the assessment side of a policy set compiles to.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AssessProgram {
    /// Record field names by slot (declared fields and grading outputs).
    pub fields: Vec<String>,
    /// Record kinds (the policy's `event` declarations, plus the derived
    /// `report_late` / `report_missing` kinds when deadlines are defined).
    pub kinds: Vec<RecordKind>,
    /// Gradings, applied to records in order when they are read.
    pub gradings: Vec<Grading>,
    /// Reporting deadline sets.
    pub deadlines: Vec<DeadlineSet>,
    /// Rosters of units by unit type.
    pub rosters: Vec<Roster>,
    /// Assessments.
    pub assessments: Vec<Assessment>,
}

/// A kind of record and its typed fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordKind {
    /// The `kind` value records carry.
    pub name: String,
    /// Declared fields.
    pub fields: Vec<RecordField>,
    /// Derived by the engine (deadline results), never read from a file.
    pub derived: bool,
}

/// One field of a record kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordField {
    /// Field name.
    pub name: String,
    /// Slot in [`AssessProgram::fields`].
    pub slot: FieldId,
    /// Declared type.
    pub ty: Type,
    /// May a record leave it out?
    pub optional: bool,
}

/// A grading: the first rule that holds gives the grade, else the lowest.
///
/// Grades are ranked: with `n` grades listed highest first, the first has
/// rank `n` and the `else` grade rank 1. The rank is stored in the record's
/// `slot`, so `grade >= 较大` compares ranks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Grading {
    /// Its name (`事故等级`).
    pub name: String,
    /// Where it is defined.
    pub at: String,
    /// The kind it grades.
    pub kind: RecordKindId,
    /// The slot the grade's rank is written to.
    pub slot: FieldId,
    /// Grade names, highest first; the last is the `else` grade.
    pub grades: Vec<String>,
    /// `(rank, condition, text)`, highest first.
    pub rules: Vec<GradeRule>,
}

/// `grade 重大 when deaths >= 10 or ...`
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GradeRule {
    /// Rank given when `when` holds.
    pub rank: u8,
    /// The condition over one record.
    pub when: Expr,
    /// The rule as written.
    pub text: String,
}

impl Grading {
    /// The grade name of a rank (`""` when out of range).
    pub fn grade_name(&self, rank: u8) -> &str {
        let n = self.grades.len();
        usize::from(rank)
            .checked_sub(1)
            .and_then(|r| n.checked_sub(r + 1))
            .and_then(|i| self.grades.get(i))
            .map_or("", String::as_str)
    }
}

/// A roster: the units of one type that an assessment covers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Roster {
    /// The unit type (`township`).
    pub unit_type: String,
    /// Unit names in roster order.
    pub units: Vec<String>,
    /// Where it is defined.
    pub at: String,
}

/// Reporting deadlines for one kind of subject record (accident, disaster).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeadlineSet {
    /// Its name (`生产安全事故报送`).
    pub name: String,
    /// Where it is defined.
    pub at: String,
    /// The subject kind (`accident`).
    pub subject: RecordKindId,
    /// The kind of report records (`report`).
    pub report: RecordKindId,
    /// The report field holding the subject's id (`report.accident`).
    pub link: FieldId,
    /// The report field holding the stage name (`stage`).
    pub stage: FieldId,
    /// The rules, in order.
    pub rules: Vec<DeadlineRule>,
}

/// One reporting obligation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeadlineRule {
    /// The stage a report must name (`单位报县`).
    pub stage: String,
    /// Applies only to subjects for which this holds.
    pub when: Option<Expr>,
    /// When the report is due.
    pub timing: Timing,
    /// The rule as written, for explanations.
    pub text: String,
    /// Where it is written.
    pub at: String,
}

/// When a report is due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Timing {
    /// Once, `ms` after the subject's time or after an earlier stage.
    Within {
        /// Allowed delay in milliseconds.
        ms: i64,
        /// Counted from this stage's report (if it came on time) or its
        /// deadline (if it did not); `None`: from the subject's `ts`.
        after: Option<String>,
    },
    /// Repeatedly: one report in each period, until a closing stage.
    Every {
        /// The period in milliseconds (> 0).
        ms: i64,
        /// First due at this local time of day (ms after local midnight) after
        /// the subject's time, then every period; `None`: `ts + ms`, `ts + 2ms`, …
        at_local_ms: Option<i64>,
        /// Repetition stops once a report of this stage has arrived.
        until: Option<String>,
    },
}

/// The assessment period unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodUnit {
    /// Calendar year (`2024`).
    Year,
    /// Calendar quarter (`2024-Q3`).
    Quarter,
    /// Calendar month (`2024-07`).
    Month,
}

/// An assessment: scored criteria, veto criteria, grade bands.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assessment {
    /// Its name.
    pub name: String,
    /// Where it is defined.
    pub at: String,
    /// The unit type it assesses (`township`).
    pub unit_type: String,
    /// Index of the roster of that unit type, if one is defined.
    pub roster: Option<usize>,
    /// The period.
    pub period: PeriodUnit,
    /// The declared full score.
    pub total: f64,
    /// Scored criteria, in order.
    pub criteria: Vec<Criterion>,
    /// Veto criteria, in order.
    pub vetoes: Vec<Veto>,
    /// Grade bands `(name, minimum score)`, highest first.
    pub bands: Vec<(String, f64)>,
    /// The grade below every band, and of every vetoed unit.
    pub fail_grade: String,
}

/// How a criterion's points count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    /// `score`: points in `[0, weight]`, counted towards the total.
    Score,
    /// `bonus`: extra points in `[0, cap]`.
    Bonus,
    /// `deduct`: points taken off, in `[0, cap]`.
    Deduct,
}

/// A scored criterion.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Criterion {
    /// Its name (`风险隐患排查到位`).
    pub name: String,
    /// Score, bonus or deduction.
    pub kind: CriterionKind,
    /// The weight (score) or cap (bonus, deduction): points are clamped to `[0, max]`.
    pub max: f64,
    /// How points are computed.
    pub expr: AExpr,
    /// Points when `expr` has no value (e.g. a rate over zero records).
    pub otherwise: Option<f64>,
    /// The expression as written.
    pub text: String,
    /// Where it is written.
    pub at: String,
}

/// A veto criterion: when it holds the unit fails whatever its score.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Veto {
    /// Its name (`较大及以上事故`).
    pub name: String,
    /// The condition.
    pub when: AExpr,
    /// The condition as written.
    pub text: String,
    /// Where it is written.
    pub at: String,
}

/// Aggregates over a unit's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollOp {
    /// Number of records (matching the filter).
    Count,
    /// Sum of a value over records (0 when none).
    Sum,
    /// Does some record satisfy the predicate?
    Any,
    /// Do all records satisfy the predicate? (true when there are none)
    All,
    /// Largest value (null when none).
    Max,
    /// Smallest value (null when none).
    Min,
    /// Mean value (null when none).
    Avg,
}

impl CollOp {
    /// The function name in the DSL.
    pub fn name(self) -> &'static str {
        match self {
            CollOp::Count => "count",
            CollOp::Sum => "sum",
            CollOp::Any => "any",
            CollOp::All => "all",
            CollOp::Max => "max",
            CollOp::Min => "min",
            CollOp::Avg => "avg",
        }
    }
}

/// An aggregate over one kind of record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The operation.
    pub op: CollOp,
    /// The records' kind.
    pub kind: RecordKindId,
    /// The per-record value (`sum(accident.deaths)`), or predicate
    /// (`any(report where concealed)`: the `where`).
    pub value: Option<Expr>,
    /// Only records for which this holds (`count(accident where grade >= 较大)`).
    /// For `any`/`all` the `where` is the predicate and is stored in `value`.
    pub filter: Option<Expr>,
}

/// An expression over a unit's records in a period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AExpr {
    /// A constant.
    Const(Value),
    /// `-x`, `not x`.
    Unary(UnOp, Box<AExpr>),
    /// `a op b`.
    Binary(BinOp, Box<AExpr>, Box<AExpr>),
    /// `x in [..]`.
    In(Box<AExpr>, Vec<AExpr>),
    /// `abs`, `min`, `max` of values.
    Call(Builtin, Vec<AExpr>),
    /// An aggregate over records.
    Agg(Box<Aggregate>),
    /// `last_period(x)`: `x` over the previous period's records.
    Prior(Box<AExpr>),
}

/// The evaluation scope of one record: its fields, nothing else.
pub(crate) fn record_scope(fields: &[Value]) -> crate::eval::Scope<'_> {
    crate::eval::Scope {
        fields,
        lets: &[],
        windows: None,
        row: &[],
        at: Default::default(),
    }
}

impl AssessProgram {
    /// The kind named `name`.
    pub fn kind_id(&self, name: &str) -> Option<RecordKindId> {
        self.kinds
            .iter()
            .position(|k| k.name == name)
            .map(|i| i as RecordKindId)
    }

    /// The slot of field `name`.
    pub fn slot(&self, name: &str) -> Option<FieldId> {
        self.fields
            .iter()
            .position(|f| f == name)
            .map(|i| i as FieldId)
    }

    /// The grading that writes `slot` for `kind`, if any.
    pub fn grading_of(&self, kind: RecordKindId, slot: FieldId) -> Option<&Grading> {
        self.gradings
            .iter()
            .find(|g| g.kind == kind && g.slot == slot)
    }
}

/// The JSON document of an assessment run: `{"assessments", "deadlines",
/// "rejected"}` (what `yingji assess --format json` prints and the bindings return).
pub fn report_json(report: &eval::Report, set: &records::RecordSet) -> serde_json::Value {
    let rejected: Vec<serde_json::Value> = set
        .rejected
        .iter()
        .map(|r| serde_json::json!({"line": r.line, "error": r.error.to_string()}))
        .collect();
    serde_json::json!({
        "assessments": report.assessments,
        "deadlines": report.deadlines,
        "grades": report.grades,
        "rejected": rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grade_names_by_rank() {
        let g = Grading {
            name: "事故等级".into(),
            at: String::new(),
            kind: 0,
            slot: 0,
            grades: ["特别重大", "重大", "较大", "一般"]
                .map(String::from)
                .to_vec(),
            rules: Vec::new(),
        };
        assert_eq!(g.grade_name(4), "特别重大");
        assert_eq!(g.grade_name(1), "一般");
        assert_eq!(g.grade_name(0), "");
        assert_eq!(g.grade_name(5), "");
    }
}
