//! Reporting deadlines: `deadlines 生产安全事故报送 for accident { reported by report.accident; due …; repeat … }`.

use super::Compiler;
use crate::diag::{Diagnostic, codes, suggest};
use crate::syntax::ast::assess::DeadlinesDef;
use yingji_engine::assess::{DeadlineRule, DeadlineSet, Timing};
use yingji_engine::time::{MS_PER_HOUR, MS_PER_MINUTE};
use yingji_engine::value::Type;

impl Compiler<'_> {
    pub(super) fn deadlines(&mut self, d: &DeadlinesDef) {
        let subject = self.kind_id(&d.subject);
        let report = self.kinds.get(&d.report.name).map(|k| {
            (
                k.id,
                k.fields.get(&d.link.name).copied(),
                k.fields.get("stage").copied(),
            )
        });
        let (report, link, stage) = match report {
            None => {
                self.unknown_kind(&d.report);
                (None, None, None)
            }
            Some((id, link, stage)) => {
                let link = match link {
                    Some((slot, Type::String)) => Some(slot),
                    Some((_, t)) => {
                        self.type_error(
                            d.link.span,
                            format!(
                                "`{}.{}` is a {t}; it must be a string holding the subject's id",
                                d.report.name, d.link.name
                            ),
                            "expected a string field".into(),
                        );
                        None
                    }
                    None => {
                        self.unknown_field(&d.link, &d.report.name.clone());
                        None
                    }
                };
                let stage = match stage {
                    Some((slot, Type::String)) => Some(slot),
                    _ => {
                        self.err(
                            Diagnostic::error(
                                codes::ASSESS_SHAPE,
                                d.report.span,
                                format!("`{}` records need a `stage: string` field", d.report.name),
                            )
                            .label("the stage a report is for (e.g. 单位报县)")
                            .hint(format!("add `stage: string` to `event {}`", d.report.name)),
                        );
                        None
                    }
                };
                (Some(id), link, stage)
            }
        };
        let mut rules: Vec<DeadlineRule> = Vec::new();
        for r in &d.rules {
            let what = if r.repeat {
                "a repeat period"
            } else {
                "a deadline"
            };
            let Some(ms) = self.duration(&r.duration, what) else {
                continue;
            };
            if r.repeat && ms < MS_PER_MINUTE {
                self.err(
                    Diagnostic::error(
                        codes::BAD_DURATION,
                        r.duration.span,
                        "a repeat period must be at least 1m",
                    )
                    .label("too short"),
                );
                continue;
            }
            if let Some(a) = &r.after {
                if !rules
                    .iter()
                    .any(|x| x.stage == a.name && matches!(x.timing, Timing::Within { .. }))
                {
                    let stages = rules.iter().map(|x| x.stage.as_str());
                    let diag = Diagnostic::error(
                        codes::ASSESS_SHAPE,
                        a.span,
                        format!(
                            "`after {}`: no earlier `due` rule for stage `{}`",
                            a.name, a.name
                        ),
                    )
                    .label("unknown stage")
                    .did_you_mean(suggest(&a.name, stages), None);
                    self.err(diag);
                    continue;
                }
            }
            let at_local_ms = match &r.at {
                None => None,
                Some(t) => {
                    let parsed = t.name.split_once(':').and_then(|(h, m)| {
                        let h: i64 = h.parse().ok().filter(|h| (0..24).contains(h))?;
                        let m: i64 = m.parse().ok().filter(|m| (0..60).contains(m))?;
                        Some(h * MS_PER_HOUR + m * MS_PER_MINUTE)
                    });
                    if parsed.is_none() {
                        self.err(
                            Diagnostic::error(
                                codes::ASSESS_SHAPE,
                                t.span,
                                format!("`{}` is not a time of day", t.name),
                            )
                            .label("expected \"HH:MM\", e.g. \"09:00\""),
                        );
                        continue;
                    }
                    parsed
                }
            };
            let when = match (&r.when, subject) {
                (Some(w), Some(_)) => {
                    let Some(we) = self.condition(w, &d.subject.name, "a `when` condition") else {
                        continue;
                    };
                    Some(we)
                }
                _ => None,
            };
            let timing = if r.repeat {
                Timing::Every {
                    ms,
                    at_local_ms,
                    until: r.until.as_ref().map(|u| u.name.clone()),
                }
            } else {
                Timing::Within {
                    ms,
                    after: r.after.as_ref().map(|a| a.name.clone()),
                }
            };
            rules.push(DeadlineRule {
                stage: r.stage.name.clone(),
                when,
                timing,
                text: self.text(r.span),
                at: self.at(r.span),
            });
        }
        if let (Some(subject), Some(report), Some(link), Some(stage)) =
            (subject, report, link, stage)
        {
            self.p.deadlines.push(DeadlineSet {
                name: d.name.name.clone(),
                at: self.at(d.name.span),
                subject,
                report,
                link,
                stage,
                rules,
            });
        }
    }
}
