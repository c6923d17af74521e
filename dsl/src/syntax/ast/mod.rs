//! The span-carrying AST that both syntaxes (`.yj` and YAML) produce: the
//! expressions every definition shares ([`expr`]), the policy definitions
//! ([`policy`]) and the assessment definitions ([`assess`]), gathered in
//! [`Def`].

pub mod assess;
pub mod expr;
pub mod policy;

pub use expr::*;
pub use policy::*;

/// One top-level definition.
#[derive(Clone, Debug, PartialEq)]
pub enum Def {
    /// `event rain { station: string, mm: number }`
    Event(EventDef),
    /// `signal 暴雨预警 { ... }`
    Signal(SignalDef),
    /// `table 水文站 { "YY-H01": { 警戒水位: 175.0 } }`
    Table(TableDef),
    /// `grading 事故等级 of accident as grade { ... }`
    Grading(assess::GradingDef),
    /// `deadlines 生产安全事故报送 for accident { ... }`
    Deadlines(assess::DeadlinesDef),
    /// `roster township { ... }`
    Roster(assess::RosterDef),
    /// `assessment 乡镇安全生产年度考核 for township per year { ... }`
    Assessment(assess::AssessmentDef),
    /// `fn f(x: number) -> number in rhai { ... }` or `import "f.rhai" { fn f(...) -> ... }`
    Script(ScriptDef),
}

impl Def {
    /// The definition's name.
    pub fn name(&self) -> &Ident {
        match self {
            Def::Event(e) => &e.name,
            Def::Signal(s) => &s.name,
            Def::Grading(g) => &g.name,
            Def::Deadlines(d) => &d.name,
            Def::Roster(r) => &r.unit_type,
            Def::Assessment(a) => &a.name,
            Def::Table(t) => &t.name,
            Def::Script(s) => &s.name,
        }
    }
}
