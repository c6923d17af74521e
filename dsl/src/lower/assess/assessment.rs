//! Assessments: `assessment 乡镇安全生产年度考核 for township per year { total …; score …; veto …; grade … }`.

use super::Compiler;
use crate::check::Ty;
use crate::diag::{Diagnostic, codes, suggest};
use crate::syntax::ast::assess::AssessmentDef;
use yingji_engine::assess::{Assessment, Criterion, CriterionKind, PeriodUnit, Veto};

impl Compiler<'_> {
    pub(super) fn assessment(&mut self, a: &AssessmentDef) {
        let period = match a.period.name.as_str() {
            "year" | "年" | "年度" => Some(PeriodUnit::Year),
            "quarter" | "季度" => Some(PeriodUnit::Quarter),
            "month" | "月" | "月度" => Some(PeriodUnit::Month),
            other => {
                let d = Diagnostic::error(
                    codes::ASSESS_SHAPE,
                    a.period.span,
                    format!("unknown period `{other}`"),
                )
                .label("expected year, quarter or month")
                .did_you_mean(suggest(other, ["year", "quarter", "month"]), None);
                self.err(d);
                None
            }
        };
        let roster = self
            .p
            .rosters
            .iter()
            .position(|r| r.unit_type == a.unit_type.name);
        if roster.is_none() {
            self.err(
                Diagnostic::warning(codes::ASSESS_NO_ROSTER, a.unit_type.span, format!("no roster of `{}` units", a.unit_type.name))
                    .label("units will be taken from the records")
                    .hint(format!("add `roster {} {{ ... }}` so units without records are assessed and unknown units are reported", a.unit_type.name)),
            );
        }
        let mut criteria = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let mut weights: Vec<(String, f64)> = Vec::new();
        for c in &a.criteria {
            if names.contains(&c.name.name.as_str()) {
                self.err(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        c.name.span,
                        format!("criterion `{}` is defined twice", c.name.name),
                    )
                    .label("second definition"),
                );
                continue;
            }
            names.push(&c.name.name);
            let kind = match c.kind.name.as_str() {
                "bonus" => CriterionKind::Bonus,
                "deduct" => CriterionKind::Deduct,
                _ => CriterionKind::Score,
            };
            let want_kw = if kind == CriterionKind::Score {
                "weight"
            } else {
                "cap"
            };
            if c.max_kw.name != want_kw {
                self.err(
                    Diagnostic::error(
                        codes::ASSESS_SHAPE,
                        c.max_kw.span,
                        format!(
                            "a `{}` criterion has a `{want_kw}`, not a `{}`",
                            c.kind.name, c.max_kw.name
                        ),
                    )
                    .label(format!("write `{want_kw}`")),
                );
                continue;
            }
            let Some(max) = self.number(&c.max, &format!("a {want_kw}")) else {
                continue;
            };
            let otherwise = match &c.otherwise {
                Some(o) => match self.number(o, "an `else` value") {
                    Some(n) => Some(n),
                    None => continue,
                },
                None => None,
            };
            if kind == CriterionKind::Score {
                weights.push((c.name.name.clone(), max));
            }
            let Some(expr) = self.unit_expr(&c.expr, Ty::Number, "a criterion's points") else {
                continue;
            };
            criteria.push(Criterion {
                name: c.name.name.clone(),
                kind,
                max,
                expr,
                otherwise,
                text: self.text(c.expr.span),
                at: self.at(c.span),
            });
        }
        let sum: f64 = weights.iter().map(|(_, w)| w).sum();
        let total = match &a.total {
            Some(t) => {
                let total = self.number(t, "the total").unwrap_or(sum);
                if (total - sum).abs() > 1e-9 {
                    let list = weights
                        .iter()
                        .map(|(n, w)| format!("{n} {w}"))
                        .collect::<Vec<_>>()
                        .join(" + ");
                    self.err(
                        Diagnostic::warning(codes::ASSESS_WEIGHTS, t.span, format!("the weights add up to {sum}, but the declared total is {total}"))
                            .label(format!("weights: {list}"))
                            .hint("change a weight or the total so a unit meeting every criterion scores the total"),
                    );
                }
                total
            }
            None => sum,
        };
        let mut vetoes = Vec::new();
        for v in &a.vetoes {
            let Some(when) = self.unit_expr(&v.when, Ty::Bool, "a veto condition") else {
                continue;
            };
            vetoes.push(Veto {
                name: v.name.name.clone(),
                when,
                text: self.text(v.when.span),
                at: self.at(v.span),
            });
        }
        let Some(b) = &a.bands else {
            self.err(
                Diagnostic::error(codes::MISSING, a.name.span, format!("assessment `{}` has no grade bands", a.name.name))
                    .label("no `grade ...`")
                    .hint("add e.g. `grade 优秀 >= 90, 良好 >= 80, 合格 >= 60, else 不合格` (a vetoed unit gets the `else` grade)"),
            );
            return;
        };
        let mut bands: Vec<(String, f64)> = Vec::new();
        for (g, q) in &b.bands {
            let Some(min) = self.number(q, "a band's minimum") else {
                continue;
            };
            if bands.iter().any(|(n, _)| *n == g.name) || g.name == b.fail.name {
                self.listed_twice(g, "grade");
                continue;
            }
            if let Some((prev, pmin)) = bands.last() {
                if min >= *pmin {
                    self.err(
                        Diagnostic::error(codes::ASSESS_SHAPE, q.span, format!("bands must go from the highest minimum down: `{}` >= {min} comes after `{prev}` >= {pmin}", g.name))
                            .label("not below the band before")
                            .hint("the first band whose minimum the score reaches wins"),
                    );
                    continue;
                }
            }
            if min > total {
                self.err(
                    Diagnostic::warning(
                        codes::ASSESS_WEIGHTS,
                        q.span,
                        format!(
                            "no unit can reach `{}`: its minimum {min} is above the total {total}",
                            g.name
                        ),
                    )
                    .label("unreachable band"),
                );
            }
            bands.push((g.name.clone(), min));
        }
        let Some(period) = period else { return };
        self.p.assessments.push(Assessment {
            name: a.name.name.clone(),
            at: self.at(a.name.span),
            unit_type: a.unit_type.name.clone(),
            roster,
            period,
            total,
            criteria,
            vetoes,
            bands,
            fail_grade: b.fail.name.clone(),
        });
    }
}
