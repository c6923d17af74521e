//! Guards of plan steps: `level >= orange`, `response < III`,
//! `暴雨预警 == red or unanswered(叫应)`, `event.灾情 == "有人员被困"`.
//!
//! A guard is parsed by the `.yj` expression grammar at its YAML position
//! (so the expression limits, E0005, hold in guards too), typed by the one
//! typer in the plan-guard scope below, and lowered to the workflow
//! runtime's [`Cond`].
//!
//! In the scope, `level` is the highest level of the plan's trigger signals,
//! a signal's name its level, `response` the declared response level,
//! `event.FIELD` a field of the last event the instance consumed, and
//! `answered(step)`/`unanswered(step)` the state of a notify step's chain. A
//! bare name is a warning level (`blue` … `red`, `蓝色` …) or a response level
//! (`IV` … `I`, `Ⅳ` … `Ⅰ`): `IV`-style names count as response levels when
//! compared with `response`, as warning levels otherwise.

use crate::check::{Call, Scope, Ty, Typer};
use crate::diag::{Diagnostic, FileId, SourceMap, codes, suggest};
use crate::syntax::ast::{self, Arg, ExprKind, Ident};
use crate::syntax::yj::parse_expr;
use std::collections::HashMap;
use yingji_engine::ir::{BinOp, Builtin, UnOp};
use yingji_engine::value::{Level, Value};
use yingji_engine::workflow::ir::{CmpOp, Cond, Operand, Response, StepIdx};

/// What names a guard may use.
pub struct GuardEnv<'a> {
    /// Step ids of the plan, with whether each is a notify step.
    pub steps: &'a HashMap<String, (StepIdx, bool)>,
    /// Known signals.
    pub signals: &'a [String],
    /// The ids of the plan's `check` steps (what `done(step)` reads).
    pub checks: &'a [String],
}

/// Parses, types and lowers the guard `text` written at byte `base` of
/// `file`; problems go to `diags`.
pub fn guard(
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
    file: FileId,
    base: usize,
    text: &str,
    env: &GuardEnv<'_>,
) -> Option<Cond> {
    let e = match parse_expr(file, base, text) {
        Ok(e) => e,
        Err(ds) => {
            diags.extend(ds);
            return None;
        }
    };
    let mut ty = Typer::new(sources, diags, None);
    match ty.condition(&mut GuardScope { env }, &e, "a guard")? {
        Guard::Cond(c) => Some(c),
        Guard::Operand(_) => None,
    }
}

/// A guard part: a condition, or a value a comparison compares.
#[derive(Debug)]
enum Guard {
    Cond(Cond),
    Operand(Operand),
}

/// The plan-guard scope; see the module documentation.
struct GuardScope<'g, 'e> {
    env: &'g GuardEnv<'e>,
}

/// What a guard cannot express (the runtime compares values; it does not
/// compute).
#[inline(never)]
fn cannot(ty: &mut Typer<'_>, e: &ast::Expr, what: &str, label: &str) {
    ty.err(
        Diagnostic::error(codes::PLAN_COND, e.span, format!("a guard cannot {what}"))
            .label(label.to_string())
            .hint(
                "a guard compares `level`, `response`, a signal or `event.FIELD` with a level, a number or text, and combines comparisons and `answered(step)` with `and`, `or`, `not`",
            ),
    );
}

fn cmp_op(op: BinOp) -> Option<CmpOp> {
    Some(match op {
        BinOp::Eq => CmpOp::Eq,
        BinOp::Ne => CmpOp::Ne,
        BinOp::Lt => CmpOp::Lt,
        BinOp::Le => CmpOp::Le,
        BinOp::Gt => CmpOp::Gt,
        BinOp::Ge => CmpOp::Ge,
        _ => return None,
    })
}

impl GuardScope<'_, '_> {
    /// A bare name: a warning or a response level, by the other side of
    /// the comparison.
    #[inline(never)]
    fn bare(&self, ty: &mut Typer<'_>, id: &Ident, expected: Option<Ty>) -> Option<(Guard, Ty)> {
        let resp = Response::parse(&id.name);
        let lvl = Level::parse(&id.name);
        let want_response = expected == Some(Ty::Response);
        let (o, t) = match (want_response, resp, lvl) {
            (true, Some(r), _) => (Operand::ResponseLit(r), Ty::Response),
            (false, _, Some(l)) => (Operand::LevelLit(l), Ty::Level),
            (_, Some(r), None) => (Operand::ResponseLit(r), Ty::Response),
            (_, _, Some(l)) => (Operand::LevelLit(l), Ty::Level),
            (_, None, None) => {
                let mut d = Diagnostic::error(
                    codes::PLAN_UNDEFINED,
                    id.span,
                    format!(
                        "`{}` is neither a signal, a warning level nor a response level",
                        id.name
                    ),
                )
                .label("unknown name");
                let mut names: Vec<&str> = self.env.signals.iter().map(String::as_str).collect();
                names.extend([
                    "level", "response", "blue", "yellow", "orange", "red", "none",
                ]);
                d = match suggest(&id.name, names) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None => d.hint(format!("known signals: {}", self.env.signals.join(", "))),
                };
                ty.err(d);
                return None;
            }
        };
        Some((Guard::Operand(o), t))
    }

    /// `answered(step)` / `unanswered(step)` of a notify step, `done(step)`
    /// of a check step.
    #[inline(never)]
    fn chain_state(
        &self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        name: &Ident,
        args: &[Arg],
    ) -> Option<(Guard, Ty)> {
        let step = match args {
            [a] => match &a.expr.kind {
                ExprKind::Path(p) => match p.as_slice() {
                    [id] => Some(id),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        let Some(step) = step else {
            ty.err(
                Diagnostic::error(
                    codes::PLAN_COND,
                    e.span,
                    format!("`{}` takes one step id", name.name),
                )
                .label("expected a step id")
                .hint(format!("e.g. `{}(叫应)`", name.name)),
            );
            return None;
        };
        let Some(&(idx, notify)) = self.env.steps.get(&step.name) else {
            let d = Diagnostic::error(
                codes::PLAN_UNDEFINED,
                step.span,
                format!("no step `{}` in this plan", step.name),
            )
            .label("undefined step")
            .did_you_mean(
                suggest(&step.name, self.env.steps.keys().map(String::as_str)),
                None,
            );
            ty.err(d);
            return None;
        };
        if name.name == "done" {
            if !self.env.checks.contains(&step.name) {
                ty.err(
                    Diagnostic::error(
                        codes::PLAN_SHAPE,
                        step.span,
                        format!("`done({})` needs a check step", step.name),
                    )
                    .label("not a `check` step"),
                );
                return None;
            }
            return Some((Guard::Cond(Cond::CheckDone(idx)), Ty::Bool));
        }
        if !notify {
            ty.err(
                Diagnostic::error(
                    codes::PLAN_SHAPE,
                    step.span,
                    format!(
                        "`{}({})` needs a notify step; `{}` calls nobody",
                        name.name, step.name, step.name
                    ),
                )
                .label("not a notify step"),
            );
            return None;
        }
        let c = if name.name == "answered" {
            Cond::Answered(idx)
        } else {
            Cond::Unanswered(idx)
        };
        Some((Guard::Cond(c), Ty::Bool))
    }
}

impl Scope for GuardScope<'_, '_> {
    type Out = Guard;

    fn type_code(&self) -> &'static str {
        codes::PLAN_COND
    }

    fn constant(&mut self, v: Value) -> Guard {
        match v {
            Value::Bool(b) => Guard::Cond(Cond::Const(b)),
            Value::Num(n) => Guard::Operand(Operand::Num(n)),
            Value::Str(s) => Guard::Operand(Operand::Str(s.to_string())),
            Value::Null => Guard::Cond(Cond::Const(false)),
        }
    }

    fn path(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        parts: &[Ident],
        expected: Option<Ty>,
    ) -> Option<(Guard, Ty)> {
        let (o, t) = match parts {
            [id] if id.name == "level" => (Operand::Level, Ty::Level),
            [id] if id.name == "response" => (Operand::Response, Ty::Response),
            [id] if self.env.signals.contains(&id.name) => {
                (Operand::SignalLevel(id.name.clone()), Ty::Level)
            }
            [ev, f] if ev.name == "event" => (Operand::EventField(f.name.clone()), Ty::Any),
            [id] if id.name != "event" => return self.bare(ty, id, expected),
            _ => {
                ty.err(
                    Diagnostic::error(
                        codes::PLAN_COND,
                        e.span,
                        format!(
                            "`{}` is not a value of a guard",
                            ty.sources().snippet(e.span)
                        ),
                    )
                    .label("expected `level`, `response`, a signal or `event.FIELD`"),
                );
                return None;
            }
        };
        Some((Guard::Operand(o), t))
    }

    fn hint(&self, e: &ast::Expr) -> Option<Ty> {
        match &e.kind {
            ExprKind::Num(_) => Some(Ty::Number),
            ExprKind::Str(_) => Some(Ty::String),
            ExprKind::Path(p) => match p.as_slice() {
                [id] if id.name == "level" || self.env.signals.contains(&id.name) => {
                    Some(Ty::Level)
                }
                [id] if id.name == "response" => Some(Ty::Response),
                [ev, _] if ev.name == "event" => Some(Ty::Any),
                _ => None,
            },
            _ => None,
        }
    }

    fn unary(&mut self, ty: &mut Typer<'_>, e: &ast::Expr, op: UnOp, x: Guard) -> Option<Guard> {
        match (op, x) {
            (UnOp::Not, Guard::Cond(c)) => Some(Guard::Cond(Cond::Not(Box::new(c)))),
            (UnOp::Neg, Guard::Operand(Operand::Num(n))) => Some(Guard::Operand(Operand::Num(-n))),
            _ => {
                cannot(
                    ty,
                    e,
                    "compute with `-`",
                    "only a number literal may be negative",
                );
                None
            }
        }
    }

    fn binary(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        op: BinOp,
        a: Guard,
        b: Guard,
        _t: Ty,
    ) -> Option<Guard> {
        match (op, a, b) {
            (BinOp::And, Guard::Cond(a), Guard::Cond(b)) => Some(Guard::Cond(match a {
                Cond::And(mut v) => {
                    v.push(b);
                    Cond::And(v)
                }
                a => Cond::And(vec![a, b]),
            })),
            (BinOp::Or, Guard::Cond(a), Guard::Cond(b)) => Some(Guard::Cond(match a {
                Cond::Or(mut v) => {
                    v.push(b);
                    Cond::Or(v)
                }
                a => Cond::Or(vec![a, b]),
            })),
            (op, Guard::Operand(a), Guard::Operand(b)) if cmp_op(op).is_some() => {
                let op = cmp_op(op)?;
                Some(Guard::Cond(Cond::Cmp(a, op, b)))
            }
            (op, _, _) if cmp_op(op).is_some() => {
                cannot(
                    ty,
                    e,
                    "compare conditions",
                    "write the condition itself, or `not` it",
                );
                None
            }
            (op, _, _) => {
                let what = format!("compute with `{}`", op.symbol());
                cannot(ty, e, &what, "guards do no arithmetic");
                None
            }
        }
    }

    /// `x in [a, b]`: `x == a or x == b`.
    fn in_list(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        x: Guard,
        items: Vec<Guard>,
    ) -> Option<Guard> {
        let Guard::Operand(x) = x else {
            cannot(
                ty,
                e,
                "test a condition with `in`",
                "expected a value before `in`",
            );
            return None;
        };
        let mut arms = Vec::new();
        for i in items {
            let Guard::Operand(i) = i else {
                cannot(ty, e, "list conditions", "expected values in the list");
                return None;
            };
            arms.push(Cond::Cmp(x.clone(), CmpOp::Eq, i));
        }
        Some(Guard::Cond(match arms.len() {
            1 => arms.pop().unwrap_or(Cond::Const(false)),
            _ => Cond::Or(arms),
        }))
    }

    fn call(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        name: &Ident,
        args: &[Arg],
    ) -> Call<Guard> {
        if name.name == "answered" || name.name == "unanswered" || name.name == "done" {
            return Call::Done(self.chain_state(ty, e, name, args));
        }
        self.unknown_function(ty, name, args.len());
        Call::Done(None)
    }

    fn builtin(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        _: Builtin,
        _: Vec<Guard>,
    ) -> Option<Guard> {
        cannot(ty, e, "call functions", "guards do no arithmetic");
        None
    }

    #[inline(never)]
    fn unknown_function(&mut self, ty: &mut Typer<'_>, name: &Ident, _argc: usize) {
        let d = Diagnostic::error(
            codes::PLAN_COND,
            name.span,
            format!("unknown function `{}` in a guard", name.name),
        )
        .label("guards call `answered(step)`, `unanswered(step)` and `done(step)`")
        .did_you_mean(
            suggest(&name.name, ["answered", "unanswered", "done"]),
            None,
        );
        ty.err(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_DEPTH, MAX_TERMS};

    fn parse(text: &str) -> Result<Cond, Vec<Diagnostic>> {
        let steps: HashMap<String, (StepIdx, bool)> = [
            ("叫应".to_string(), (0, true)),
            ("研判".to_string(), (1, false)),
        ]
        .into();
        let signals = vec!["暴雨预警".to_string()];
        let mut sources = SourceMap::default();
        let f = sources.add("g", text);
        let mut diags = Vec::new();
        let env = GuardEnv {
            steps: &steps,
            signals: &signals,
            checks: &[],
        };
        match guard(&sources, &mut diags, f, 0, text, &env) {
            Some(c) if diags.is_empty() => Ok(c),
            _ => Err(diags),
        }
    }

    fn first(text: &str) -> Option<(&'static str, u32)> {
        parse(text)
            .err()
            .and_then(|d| d.first().map(|d| (d.code, d.span.start)))
    }

    #[test]
    fn parses_levels_responses_and_calls() {
        assert_eq!(
            parse("level == red or unanswered(叫应)").ok(),
            Some(Cond::Or(vec![
                Cond::Cmp(Operand::Level, CmpOp::Eq, Operand::LevelLit(Level::Red)),
                Cond::Unanswered(0)
            ]))
        );
        assert_eq!(
            parse("response < III").ok(),
            Some(Cond::Cmp(
                Operand::Response,
                CmpOp::Lt,
                Operand::ResponseLit(Response::III)
            ))
        );
        assert_eq!(
            parse("III > response").ok(),
            Some(Cond::Cmp(
                Operand::ResponseLit(Response::III),
                CmpOp::Gt,
                Operand::Response
            ))
        );
        assert_eq!(
            parse("暴雨预警 >= 橙色").ok(),
            Some(Cond::Cmp(
                Operand::SignalLevel("暴雨预警".into()),
                CmpOp::Ge,
                Operand::LevelLit(Level::Orange)
            ))
        );
        assert!(parse("not (event.灾情 == \"被困\") and level < blue").is_ok());
        // chains of one operator are one `And`/`Or`, as the runtime walks them
        let three = parse("level >= red and response == II and unanswered(叫应)").ok();
        assert!(matches!(three, Some(Cond::And(v)) if v.len() == 3));
        // `in` is a chain of `==`
        assert_eq!(
            parse("response in [III, II]").ok(),
            Some(Cond::Or(vec![
                Cond::Cmp(
                    Operand::Response,
                    CmpOp::Eq,
                    Operand::ResponseLit(Response::III)
                ),
                Cond::Cmp(
                    Operand::Response,
                    CmpOp::Eq,
                    Operand::ResponseLit(Response::II)
                ),
            ]))
        );
        assert!(parse("event.人数 > -1").is_ok());
    }

    #[test]
    fn nesting_and_length_are_bounded() {
        let ok = format!(
            "{}level == red{}",
            "(".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        assert!(parse(&ok).is_ok());
        let deep = format!("{}level == red{}", "(".repeat(50_000), ")".repeat(50_000));
        assert_eq!(first(&deep), Some((codes::TOO_COMPLEX, 64)));
        let nots = format!("{}level == red", "not ".repeat(10_000));
        assert_eq!(first(&nots), Some((codes::TOO_COMPLEX, 256)));
        let long = vec!["level == red"; 10_000].join(" and ");
        assert_eq!(first(&long).map(|(c, _)| c), Some(codes::TOO_COMPLEX));
        // a guard's comparisons count like any operator: 64 of them joined
        // by 63 `or`s fit the 128 operators of an expression, 65 do not
        let fits = vec!["level == red"; MAX_TERMS / 2].join(" or ");
        assert!(parse(&fits).is_ok());
        let over = vec!["level == red"; MAX_TERMS / 2 + 1].join(" or ");
        assert_eq!(first(&over).map(|(c, _)| c), Some(codes::TOO_COMPLEX));
    }

    #[test]
    fn reports_with_spans() {
        assert_eq!(first("level >= 紫色"), Some((codes::PLAN_UNDEFINED, 9)));
        assert_eq!(
            first("answered(研判)").map(|(c, _)| c),
            Some(codes::PLAN_SHAPE)
        );
        assert_eq!(
            first("answered(不存在)").map(|(c, _)| c),
            Some(codes::PLAN_UNDEFINED)
        );
        assert_eq!(
            first("response == red").map(|(c, _)| c),
            Some(codes::PLAN_COND)
        );
        assert_eq!(
            first("level + 1 > red").map(|(c, _)| c),
            Some(codes::PLAN_COND)
        );
        assert_eq!(first("event.x").map(|(c, _)| c), Some(codes::PLAN_COND));
        assert_eq!(
            first("sum(level, 3h)").map(|(c, _)| c),
            Some(codes::PLAN_COND)
        );
        assert_eq!(first("level >=").map(|(c, _)| c), Some(codes::SYNTAX));
        assert_eq!(first("").map(|(c, _)| c), Some(codes::SYNTAX));
    }
}
