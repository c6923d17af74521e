//! Building the assessment definitions (`grading`, `deadlines`, `roster`,
//! `assessment`) from pest pairs.

use super::{Builder, Rule, unescape};
use crate::syntax::ast::assess::*;
use crate::syntax::ast::{Def, Expr, Ident};
use pest::iterators::Pair;

impl Builder {
    /// A name written as an identifier or a quoted string.
    fn a_name(&self, p: &Pair<'_, Rule>) -> Ident {
        let span = self.span(p);
        match p.clone().into_inner().next() {
            Some(inner) if inner.as_rule() == Rule::string => Ident {
                name: unescape(inner.as_str()),
                span,
            },
            Some(inner) => self.ident(&inner),
            None => Ident {
                name: p.as_str().to_string(),
                span,
            },
        }
    }

    fn quantity_expr(&mut self, p: Pair<'_, Rule>) -> Expr {
        self.primary(p)
    }

    /// Builds one assessment-side definition.
    pub(super) fn assess_def(&mut self, p: Pair<'_, Rule>) -> Option<Def> {
        let span = self.span(&p);
        match p.as_rule() {
            Rule::grading_def => {
                let mut it = p.into_inner();
                let name = self.a_name(&it.next()?);
                let _of = it.next()?;
                let kind = self.ident(&it.next()?);
                let _as = it.next()?;
                let field = self.ident(&it.next()?);
                let mut rules = Vec::new();
                let mut otherwise = None;
                for item in it {
                    let item_span = self.span(&item);
                    match item.as_rule() {
                        Rule::grade_rule => {
                            let mut parts = item.into_inner().filter(|x| {
                                x.as_rule() != Rule::k_grade && x.as_rule() != Rule::k_when
                            });
                            if let (Some(g), Some(e)) = (parts.next(), parts.next()) {
                                let grade = self.ident(&g);
                                let when = self.expr(e);
                                rules.push(GradeRuleDef {
                                    grade,
                                    when,
                                    span: item_span,
                                });
                            }
                        }
                        Rule::grade_else => {
                            otherwise = item
                                .into_inner()
                                .find(|x| x.as_rule() == Rule::level_name)
                                .map(|g| self.ident(&g));
                        }
                        _ => {}
                    }
                }
                Some(Def::Grading(GradingDef {
                    name,
                    kind,
                    field,
                    rules,
                    otherwise: otherwise?,
                    span,
                }))
            }
            Rule::deadline_def => {
                let mut it = p.into_inner();
                let name = self.a_name(&it.next()?);
                let _for = it.next()?;
                let subject = self.ident(&it.next()?);
                let by = it.next()?;
                let mut by_parts = by.into_inner();
                let report = self.ident(&by_parts.next()?);
                let link = self.ident(&by_parts.next()?);
                let mut rules = Vec::new();
                for item in it {
                    let repeat = item.as_rule() == Rule::repeat_rule;
                    let item_span = self.span(&item);
                    let mut parts = item.into_inner();
                    let (Some(stage), Some(dur)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let stage = self.a_name(&stage);
                    let duration = self.quantity_expr(dur);
                    let mut rule = DeadlineRuleDef {
                        repeat,
                        stage,
                        duration,
                        after: None,
                        at: None,
                        until: None,
                        when: None,
                        span: item_span,
                    };
                    for clause in parts {
                        let rule_kind = clause.as_rule();
                        let Some(inner) = clause.into_inner().find(|x| x.as_rule() != Rule::k_when)
                        else {
                            continue;
                        };
                        match rule_kind {
                            Rule::due_after => rule.after = Some(self.a_name(&inner)),
                            Rule::due_until => rule.until = Some(self.a_name(&inner)),
                            Rule::due_at => {
                                rule.at = Some(Ident {
                                    name: unescape(inner.as_str()),
                                    span: self.span(&inner),
                                });
                            }
                            Rule::due_when => rule.when = Some(self.expr(inner)),
                            _ => {}
                        }
                    }
                    rules.push(rule);
                }
                Some(Def::Deadlines(DeadlinesDef {
                    name,
                    subject,
                    report,
                    link,
                    rules,
                    span,
                }))
            }
            Rule::roster_def => {
                let mut it = p.into_inner();
                let unit_type = self.ident(&it.next()?);
                let units = it.map(|u| self.a_name(&u)).collect();
                Some(Def::Roster(RosterDef {
                    unit_type,
                    units,
                    span,
                }))
            }
            Rule::assessment_def => {
                let mut it = p.into_inner();
                let name = self.a_name(&it.next()?);
                let _for = it.next()?;
                let unit_type = self.ident(&it.next()?);
                let _per = it.next()?;
                let period = self.ident(&it.next()?);
                let mut a = AssessmentDef {
                    name,
                    unit_type,
                    period,
                    total: None,
                    criteria: Vec::new(),
                    vetoes: Vec::new(),
                    bands: None,
                    span,
                };
                for item in it {
                    let item_span = self.span(&item);
                    match item.as_rule() {
                        Rule::total_clause => {
                            if let Some(q) = item.into_inner().next() {
                                a.total = Some(self.quantity_expr(q));
                            }
                        }
                        Rule::criterion => {
                            let mut parts = item.into_inner();
                            let (Some(kind), Some(name), Some(max), Some(e)) =
                                (parts.next(), parts.next(), parts.next(), parts.next())
                            else {
                                continue;
                            };
                            let kind = self.ident(&kind);
                            let name = self.a_name(&name);
                            let mut max_parts = max.into_inner();
                            let (Some(kw), Some(q)) = (max_parts.next(), max_parts.next()) else {
                                continue;
                            };
                            let max_kw = self.ident(&kw);
                            let max = self.quantity_expr(q);
                            let expr = self.expr(e);
                            let otherwise = parts
                                .next()
                                .and_then(|c| c.into_inner().find(|x| x.as_rule() == Rule::expr))
                                .map(|x| self.expr(x));
                            a.criteria.push(CriterionDef {
                                kind,
                                name,
                                max_kw,
                                max,
                                expr,
                                otherwise,
                                span: item_span,
                            });
                        }
                        Rule::veto_rule => {
                            let mut parts =
                                item.into_inner().filter(|x| x.as_rule() != Rule::k_when);
                            if let (Some(n), Some(e)) = (parts.next(), parts.next()) {
                                let name = self.a_name(&n);
                                let when = self.expr(e);
                                a.vetoes.push(VetoDef {
                                    name,
                                    when,
                                    span: item_span,
                                });
                            }
                        }
                        Rule::bands => {
                            let mut bands = Vec::new();
                            let mut fail = None;
                            for part in item.into_inner() {
                                match part.as_rule() {
                                    Rule::band => {
                                        let mut bp = part.into_inner();
                                        if let (Some(g), Some(q)) = (bp.next(), bp.next()) {
                                            let g = self.ident(&g);
                                            let q = self.quantity_expr(q);
                                            bands.push((g, q));
                                        }
                                    }
                                    Rule::level_name => fail = Some(self.ident(&part)),
                                    _ => {}
                                }
                            }
                            if let Some(fail) = fail {
                                a.bands = Some(BandsDef {
                                    bands,
                                    fail,
                                    span: item_span,
                                });
                            }
                        }
                        _ => {}
                    }
                }
                Some(Def::Assessment(a))
            }
            _ => None,
        }
    }
}
