//! AST of the assessment definitions: `grading`, `deadlines`, `roster`,
//! `assessment`.

use super::expr::{Expr, Ident};
use crate::diag::Span;

/// `grading 事故等级 of accident as grade { grade 特别重大 when … else 一般 }`
#[derive(Clone, Debug, PartialEq)]
pub struct GradingDef {
    /// Its name.
    pub name: Ident,
    /// The record kind graded.
    pub kind: Ident,
    /// The field the grade is written to.
    pub field: Ident,
    /// `grade NAME when COND`, highest first.
    pub rules: Vec<GradeRuleDef>,
    /// The `else` grade (the lowest).
    pub otherwise: Ident,
    /// The whole definition.
    pub span: Span,
}

/// `grade 重大 when deaths >= 10 or …`
#[derive(Clone, Debug, PartialEq)]
pub struct GradeRuleDef {
    /// The grade.
    pub grade: Ident,
    /// The condition over one record.
    pub when: Expr,
    /// The whole rule.
    pub span: Span,
}

/// `deadlines 生产安全事故报送 for accident { reported by report.accident … }`
#[derive(Clone, Debug, PartialEq)]
pub struct DeadlinesDef {
    /// Its name.
    pub name: Ident,
    /// The subject kind.
    pub subject: Ident,
    /// The report kind (`report` in `reported by report.accident`).
    pub report: Ident,
    /// The report field naming the subject (`accident`).
    pub link: Ident,
    /// The rules in order.
    pub rules: Vec<DeadlineRuleDef>,
    /// The whole definition.
    pub span: Span,
}

/// `due 单位报县 within 1h` or `repeat 续报 every 24h until 结案 when …`.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadlineRuleDef {
    /// `repeat` (true) or `due` (false).
    pub repeat: bool,
    /// The stage.
    pub stage: Ident,
    /// The delay or period (a duration literal).
    pub duration: Expr,
    /// `after STAGE`.
    pub after: Option<Ident>,
    /// `at "09:00"` (the text without quotes, and its place).
    pub at: Option<Ident>,
    /// `until STAGE`.
    pub until: Option<Ident>,
    /// `when COND` over the subject record.
    pub when: Option<Expr>,
    /// The whole rule.
    pub span: Span,
}

/// `roster township { 双江街道, 青龙街道, … }`
#[derive(Clone, Debug, PartialEq)]
pub struct RosterDef {
    /// The unit type.
    pub unit_type: Ident,
    /// The units.
    pub units: Vec<Ident>,
    /// The whole definition.
    pub span: Span,
}

/// `assessment 乡镇安全生产年度考核 for township per year { … }`
#[derive(Clone, Debug, PartialEq)]
pub struct AssessmentDef {
    /// Its name.
    pub name: Ident,
    /// The unit type assessed.
    pub unit_type: Ident,
    /// `year`, `quarter` or `month` (or 年, 季度, 月).
    pub period: Ident,
    /// `total 100`.
    pub total: Option<Expr>,
    /// `score` / `bonus` / `deduct` criteria in order.
    pub criteria: Vec<CriterionDef>,
    /// `veto` criteria in order.
    pub vetoes: Vec<VetoDef>,
    /// `grade 优秀 >= 90, …, else 不合格`.
    pub bands: Option<BandsDef>,
    /// The whole definition.
    pub span: Span,
}

/// `score 风险隐患排查到位 weight 20 = … else 20`
#[derive(Clone, Debug, PartialEq)]
pub struct CriterionDef {
    /// `score`, `bonus` or `deduct`.
    pub kind: Ident,
    /// Its name.
    pub name: Ident,
    /// `weight` or `cap`.
    pub max_kw: Ident,
    /// The weight or cap.
    pub max: Expr,
    /// How points are computed.
    pub expr: Expr,
    /// Points when `expr` has no value.
    pub otherwise: Option<Expr>,
    /// The whole criterion.
    pub span: Span,
}

/// `veto "较大及以上事故" when count(accident where grade >= 较大) >= 1`
#[derive(Clone, Debug, PartialEq)]
pub struct VetoDef {
    /// Its name.
    pub name: Ident,
    /// The condition.
    pub when: Expr,
    /// The whole rule.
    pub span: Span,
}

/// Grade bands.
#[derive(Clone, Debug, PartialEq)]
pub struct BandsDef {
    /// `(grade, minimum)`, as written.
    pub bands: Vec<(Ident, Expr)>,
    /// The `else` grade.
    pub fail: Ident,
    /// The whole clause.
    pub span: Span,
}
