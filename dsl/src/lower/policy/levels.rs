//! Level rules: `level orange when r3 >= 50 for 30m clear below 40 hold 2h`,
//! highest first.

use super::Lowerer;
use super::signals::SignalState;
use crate::check::Ty;
use crate::diag::{Diagnostic, codes};
use crate::syntax::ast::{self, ExprKind, Ident};
use yingji_engine::ir::{self, BinOp, Expr, Place};
use yingji_engine::value::Level;

impl Lowerer<'_> {
    /// The level rules of `s`, in order, with their `for`, `clear` and
    /// `hold` (the signal's `clear after` when a rule has none).
    pub(super) fn level_rules(
        &mut self,
        s: &ast::SignalDef,
        st: &mut SignalState,
    ) -> Vec<ir::LevelRule> {
        let mut levels = Vec::new();
        let mut prev: Option<(Level, &Ident)> = None;
        for r in &s.levels {
            let level = Level::parse(&r.level.name).filter(|l| *l != Level::None);
            let Some(level) = level else {
                self.err(
                    Diagnostic::error(
                        codes::UNKNOWN_LEVEL,
                        r.level.span,
                        format!("unknown level `{}`", r.level.name),
                    )
                    .label("expected red, orange, yellow or blue")
                    .hint(
                        "levels may also be written 红色/橙色/黄色/蓝色 or Ⅰ/Ⅱ/Ⅲ/Ⅳ (I/II/III/IV)",
                    ),
                );
                continue;
            };
            if let Some((p, pid)) = prev {
                if level >= p {
                    let msg = if level == p {
                        format!("level `{level}` has two rules")
                    } else {
                        format!(
                            "level rules must go from the highest level down: `{level}` comes after `{p}`"
                        )
                    };
                    let sp = self.sources.location(pid.span);
                    self.err(
                        Diagnostic::error(codes::LEVEL_ORDER, r.level.span, msg)
                            .label(format!("after `{}` at {sp}", pid.name))
                            .hint("write red first, then orange, yellow, blue; the first rule that holds wins"),
                    );
                }
            }
            prev = Some((level, &r.level));
            let Some(when) = self.condition(st, Place::Level, &r.when, "a level condition") else {
                continue;
            };
            let clear = match &r.clear {
                None => None,
                Some(ast::ClearSpec::When(c)) => {
                    let Some(ce) = self.condition(st, Place::Clear, c, "a `clear when` condition")
                    else {
                        continue;
                    };
                    Some(ce)
                }
                Some(ast::ClearSpec::Below(x) | ast::ClearSpec::Above(x)) => {
                    let below = matches!(r.clear, Some(ast::ClearSpec::Below(_)));
                    let tested = match &r.when.kind {
                        ExprKind::Binary(op, lhs, _)
                            if below && matches!(op, BinOp::Ge | BinOp::Gt) =>
                        {
                            Some(lhs)
                        }
                        ExprKind::Binary(op, lhs, _)
                            if !below && matches!(op, BinOp::Le | BinOp::Lt) =>
                        {
                            Some(lhs)
                        }
                        _ => None,
                    };
                    let Some(lhs) = tested else {
                        let (word, form) = if below {
                            ("below", "value >= threshold")
                        } else {
                            ("above", "value <= threshold")
                        };
                        self.err(
                            Diagnostic::error(
                                codes::BAD_CALL,
                                x.span,
                                format!("`clear {word}` needs a `when` of the form `{form}`"),
                            )
                            .label("which value should fall back?")
                            .hint("use `clear when <condition>` for other rules"),
                        );
                        continue;
                    };
                    let (Some((le, lt)), Some((xe, xt))) = (
                        self.typed(st, Place::Clear, lhs),
                        self.typed(st, Place::Clear, x),
                    ) else {
                        continue;
                    };
                    if lt != Ty::Number || xt != Ty::Number {
                        self.err(
                            Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                x.span,
                                "a clear threshold must be a number",
                            )
                            .label(format!("this is a {xt}")),
                        );
                        continue;
                    }
                    let op = if below { BinOp::Lt } else { BinOp::Gt };
                    Some(Expr::Binary(op, Box::new(le), Box::new(xe)))
                }
            };
            let (for_ms, for_readings) = match r.for_ {
                Some(ast::ForSpec::Duration(ms)) => (ms, 0),
                Some(ast::ForSpec::Readings(n)) => (0, n),
                None => (0, 0),
            };
            levels.push(ir::LevelRule {
                for_ms,
                for_readings,
                clear,
                hold_ms: r.hold.or(s.clear_after).map_or(0, |(ms, _)| ms),
                level,
                when,
                text: format!(
                    "{} when {}",
                    level.name(),
                    self.sources
                        .snippet(r.when.span)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                at: self.sources.location(r.span),
            });
        }
        levels
    }
}
