//! The record and unit scopes of assessments.
//!
//! A grading rule, a deadline's `when` and an aggregate's field or `where`
//! are typed over one record of a kind ([`RecordScope`]): its fields and the
//! grades of its kind's gradings. A criterion's points and a veto are typed
//! over a whole unit ([`UnitScope`]): aggregates of its records (`count`,
//! `sum`, `any`, `all`, `avg`, `max`, `min`), `last_period(x)`, and grade
//! names. Neither runs scripts.

use super::Kind;
use crate::check::{Call, Scope, Ty, Typer};
use crate::diag::{Diagnostic, Span, codes, suggest};
use crate::syntax::ast::{self, Arg, ExprKind, Ident};
use std::collections::HashMap;
use yingji_engine::assess::{AExpr, CollOp, Grading, RecordKindId};
use yingji_engine::ir::{BinOp, Builtin, Expr, UnOp};
use yingji_engine::value::Value;

/// The record kinds and gradings both scopes read.
#[derive(Clone, Copy)]
pub(super) struct Records<'r> {
    /// Record kinds by name.
    pub kinds: &'r HashMap<String, Kind>,
    /// The gradings so far.
    pub gradings: &'r [Grading],
}

impl<'r> Records<'r> {
    /// The scope of one record of `kind`.
    pub fn record<'k>(self, kind: &'k str) -> RecordScope<'r, 'k> {
        RecordScope {
            records: self,
            kind,
        }
    }

    /// A condition over one record of `kind` (`what` names it in errors).
    pub fn condition(
        self,
        ty: &mut Typer<'_>,
        kind: &str,
        e: &ast::Expr,
        what: &str,
    ) -> Option<Expr> {
        let (x, t) = ty.expr(&mut self.record(kind), e)?;
        ty.expect(e, t, Ty::Bool, what)?;
        Some(x)
    }

    /// A kind by name; `accidents` finds `accident` too.
    pub fn kind_named(self, name: &str) -> Option<(&'r str, &'r Kind)> {
        if let Some((k, v)) = self.kinds.get_key_value(name) {
            return Some((k.as_str(), v));
        }
        name.strip_suffix('s')
            .and_then(|n| self.kinds.get_key_value(n))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The rank of grade `name` among `kind`'s gradings (or any grading when `kind` is `None`).
    pub fn grade_rank(self, kind: Option<RecordKindId>, name: &str) -> Option<u8> {
        self.gradings
            .iter()
            .filter(|g| kind.is_none_or(|k| g.kind == k))
            .find_map(|g| {
                let n = g.grades.len();
                g.grades
                    .iter()
                    .position(|x| x == name)
                    .map(|i| (n - i) as u8)
            })
    }

    /// No record kind `id`.
    pub fn unknown_kind(self, id: &Ident) -> Diagnostic {
        let mut names: Vec<&str> = self.kinds.keys().map(String::as_str).collect();
        names.sort_unstable();
        Diagnostic::error(
            codes::UNKNOWN_KIND,
            id.span,
            format!("no record kind `{}` is declared", id.name),
        )
        .label("unknown record kind")
        .did_you_mean(
            suggest(&id.name, names.iter().copied()),
            Some(format!(
                "declare it: `event {} {{ field: number, ... }}`; kinds: {}",
                id.name,
                names.join(", ")
            )),
        )
    }

    /// No field `id` in `kind` records (`None` when `kind` is unknown).
    pub fn unknown_field(self, id: &Ident, kind: &str) -> Option<Diagnostic> {
        let k = self.kinds.get(kind)?;
        let mut here: Vec<&str> = k.fields.keys().map(String::as_str).collect();
        here.sort_unstable();
        let mut elsewhere: Vec<&str> = self
            .kinds
            .iter()
            .filter(|(_, v)| v.fields.contains_key(&id.name))
            .map(|(n, _)| n.as_str())
            .collect();
        elsewhere.sort_unstable();
        let (msg, label) = if elsewhere.is_empty() {
            (
                format!(
                    "unknown field `{}`: no record kind has a field `{}`",
                    id.name, id.name
                ),
                format!("not a field of `{kind}` records (nor of any other kind)"),
            )
        } else {
            (
                format!("`{}` is not a field of `{kind}` records", id.name),
                format!("a field of `{}` records", elsewhere.join("`, `")),
            )
        };
        Some(
            Diagnostic::error(codes::UNKNOWN_NAME, id.span, msg)
                .label(label)
                .did_you_mean(
                    suggest(&id.name, here.iter().copied()),
                    Some(format!("fields of `{kind}`: {}", here.join(", "))),
                ),
        )
    }
}

/// Function `func` needs `what` (`numbers`, `a condition`), not a `got`.
#[inline(never)]
fn needs(ty: &mut Typer<'_>, span: Span, func: &str, what: &str, got: Ty) {
    ty.type_error(
        codes::TYPE_MISMATCH,
        span,
        format!("`{func}` needs {what}, but this is a {got}"),
        format!("this is a {got}"),
    );
}

/// One record of a kind; see the module documentation.
pub(super) struct RecordScope<'r, 'k> {
    records: Records<'r>,
    kind: &'k str,
}

impl Scope for RecordScope<'_, '_> {
    type Out = Expr;

    fn constant(&mut self, v: Value) -> Expr {
        Expr::Const(v)
    }

    #[inline(never)]
    fn path(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        parts: &[Ident],
        _expected: Option<Ty>,
    ) -> Option<(Expr, Ty)> {
        let kind = self.kind;
        let id = match parts {
            [id] => id,
            [k, f]
                if self
                    .records
                    .kind_named(&k.name)
                    .is_some_and(|(n, _)| n == kind) =>
            {
                f
            }
            _ => {
                ty.err(
                    Diagnostic::error(
                        codes::UNKNOWN_NAME,
                        e.span,
                        "dotted names are not supported here",
                    )
                    .label(format!("expected a field of `{kind}` records")),
                );
                return None;
            }
        };
        let k = self.records.kinds.get(kind)?;
        if let Some(&(slot, t)) = k.fields.get(&id.name) {
            Some((Expr::Field(slot), Ty::from(t)))
        } else if let Some(rank) = self.records.grade_rank(Some(k.id), &id.name) {
            Some((Expr::Const(Value::Num(f64::from(rank))), Ty::Number))
        } else {
            if let Some(d) = self.records.unknown_field(id, kind) {
                ty.err(d);
            }
            None
        }
    }

    fn unary(&mut self, _: &mut Typer<'_>, _: &ast::Expr, op: UnOp, x: Expr) -> Option<Expr> {
        Some(Expr::Unary(op, Box::new(x)))
    }

    fn binary(
        &mut self,
        _: &mut Typer<'_>,
        _: &ast::Expr,
        op: BinOp,
        a: Expr,
        b: Expr,
        _: Ty,
    ) -> Option<Expr> {
        Some(Expr::Binary(op, Box::new(a), Box::new(b)))
    }

    fn in_list(
        &mut self,
        _: &mut Typer<'_>,
        _: &ast::Expr,
        x: Expr,
        items: Vec<Expr>,
    ) -> Option<Expr> {
        Some(Expr::In(Box::new(x), items))
    }

    fn builtin(
        &mut self,
        _: &mut Typer<'_>,
        _: &ast::Expr,
        b: Builtin,
        args: Vec<Expr>,
    ) -> Option<Expr> {
        Some(Expr::Call(b, args))
    }

    #[inline(never)]
    fn unknown_function(&mut self, ty: &mut Typer<'_>, name: &Ident, _argc: usize) {
        ty.err(
            Diagnostic::error(
                codes::BAD_CALL,
                name.span,
                format!("`{}` cannot be used on one record", name.name),
            )
            .label("functions here: abs(x), min(a, b, ...), max(a, b, ...)")
            .hint("aggregates (count, sum, any, all) work over collections in assessments"),
        );
    }
}

/// A whole unit (its records in the period); see the module documentation.
pub(super) struct UnitScope<'r> {
    /// The record kinds and gradings.
    pub records: Records<'r>,
    /// Inside `last_period(…)`.
    pub in_prior: bool,
}

/// The aggregate a call names, if it is one.
fn coll_op(name: &str) -> Option<CollOp> {
    Some(match name {
        "count" => CollOp::Count,
        "sum" => CollOp::Sum,
        "any" => CollOp::Any,
        "all" => CollOp::All,
        "avg" => CollOp::Avg,
        "max" => CollOp::Max,
        "min" => CollOp::Min,
        _ => return None,
    })
}

impl UnitScope<'_> {
    /// Whether `a` names a record collection (`accident`, `accidents.deaths`).
    fn is_collection(&self, a: &Arg) -> bool {
        match &a.expr.kind {
            ExprKind::Path(p) => p
                .first()
                .is_some_and(|k| self.records.kind_named(&k.name).is_some()),
            _ => false,
        }
    }

    /// `last_period(x)`: `x` in the period before.
    #[inline(never)]
    fn prior(&mut self, ty: &mut Typer<'_>, e: &ast::Expr, args: &[Arg]) -> Option<(AExpr, Ty)> {
        if self.in_prior {
            ty.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
                    "`last_period` inside `last_period`",
                )
                .label("nested"),
            );
            return None;
        }
        let [arg] = args else {
            ty.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
                    format!("`last_period` takes 1 argument, got {}", args.len()),
                )
                .label("e.g. last_period(sum(accident.deaths))"),
            );
            return None;
        };
        let mut inner = UnitScope {
            records: self.records,
            in_prior: true,
        };
        let (x, t) = ty.expr(&mut inner, &arg.expr)?;
        Some((AExpr::Prior(Box::new(x)), t))
    }

    /// An aggregate over a collection of records.
    #[inline(never)]
    fn aggregate(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        name: &Ident,
        op: CollOp,
        args: &[Arg],
    ) -> Option<(AExpr, Ty)> {
        let arg = args.first()?;
        let ExprKind::Path(parts) = &arg.expr.kind else {
            ty.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    arg.expr.span,
                    format!("`{}` takes a record collection", name.name),
                )
                .label("expected a record kind, or KIND.FIELD")
                .hint(format!(
                    "e.g. `{}(accident{})`",
                    name.name,
                    if matches!(op, CollOp::Count | CollOp::Any | CollOp::All) {
                        " where deaths > 0"
                    } else {
                        ".deaths"
                    }
                )),
            );
            return None;
        };
        let kid = parts.first()?;
        let Some((kind, k)) = self
            .records
            .kind_named(&kid.name)
            .map(|(n, k)| (n.to_string(), k.id))
        else {
            ty.err(self.records.unknown_kind(kid));
            return None;
        };
        let value = match parts.as_slice() {
            [_] => None,
            [_, f] => {
                let fe = ast::Expr {
                    kind: ExprKind::Path(vec![f.clone()]),
                    span: f.span,
                };
                Some((ty.expr(&mut self.records.record(&kind), &fe)?, f.span))
            }
            _ => {
                ty.err(
                    Diagnostic::error(
                        codes::UNKNOWN_NAME,
                        arg.expr.span,
                        "expected KIND or KIND.FIELD",
                    )
                    .label("too many parts"),
                );
                return None;
            }
        };
        let filter = match &arg.filter {
            Some(f) => Some(
                self.records
                    .condition(ty, &kind, f, "a `where` condition")?,
            ),
            None => None,
        };
        let (value, filter, ty) = match op {
            CollOp::Count => {
                if let Some((_, span)) = value {
                    ty.err(
                            Diagnostic::error(codes::BAD_CALL, span, "`count` counts records, not a field's values")
                                .label("remove the field")
                                .hint(format!("count the records that meet a condition: `count({kind} where ...)`; add values with `sum`")),
                        );
                    return None;
                }
                (None, filter, Ty::Number)
            }
            CollOp::Any | CollOp::All => {
                let pred = match (value, filter) {
                    (Some(((ve, Ty::Bool), _)), None) => Some(ve),
                    (None, f) => f,
                    (Some(((_, t), span)), _) => {
                        needs(ty, span, &name.name, "a condition", t);
                        return None;
                    }
                };
                if op == CollOp::All && pred.is_none() {
                    ty.err(
                        Diagnostic::error(codes::BAD_CALL, e.span, "`all` needs a condition")
                            .label("all records ... what?")
                            .hint(format!("e.g. `all({kind} where passed)`")),
                    );
                    return None;
                }
                (pred, None, Ty::Bool)
            }
            CollOp::Sum | CollOp::Avg | CollOp::Max | CollOp::Min => {
                let Some(((ve, t), span)) = value else {
                    ty.err(
                        Diagnostic::error(
                            codes::BAD_CALL,
                            arg.expr.span,
                            format!("`{}` needs a field to add up", name.name),
                        )
                        .label("no field")
                        .hint(format!("e.g. `{}({kind}.deaths)`", name.name)),
                    );
                    return None;
                };
                if t != Ty::Number {
                    needs(ty, span, &name.name, "numbers", t);
                    return None;
                }
                (Some(ve), filter, Ty::Number)
            }
        };
        Some((
            AExpr::Agg(Box::new(yingji_engine::assess::Aggregate {
                op,
                kind: k,
                value,
                filter,
            })),
            ty,
        ))
    }
}

impl Scope for UnitScope<'_> {
    type Out = AExpr;

    fn constant(&mut self, v: Value) -> AExpr {
        AExpr::Const(v)
    }

    #[inline(never)]
    fn path(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        parts: &[Ident],
        _expected: Option<Ty>,
    ) -> Option<(AExpr, Ty)> {
        let first = parts.first()?;
        if parts.len() == 1 {
            if let Some(rank) = self.records.grade_rank(None, &first.name) {
                return Some((AExpr::Const(Value::Num(f64::from(rank))), Ty::Number));
            }
        }
        let hint = if let Some((k, _)) = self.records.kind_named(&first.name) {
            format!(
                "`{}` is a collection of `{k}` records: aggregate it, e.g. `count({})` or `sum({}.FIELD)`",
                first.name, first.name, first.name
            )
        } else if self
            .records
            .kinds
            .values()
            .any(|k| k.fields.contains_key(&first.name))
        {
            format!(
                "`{}` is a record field: use it inside an aggregate, e.g. `sum(KIND.{})` or `count(KIND where {} ...)`",
                first.name, first.name, first.name
            )
        } else {
            "write an aggregate over a record kind: count(KIND where ...), sum(KIND.FIELD), any(KIND where ...), all(KIND where ...)".to_string()
        };
        let text = ty.sources().snippet(e.span);
        ty.err(
            Diagnostic::error(
                codes::UNKNOWN_NAME,
                e.span,
                format!("`{text}` has no value for a whole unit"),
            )
            .label("not an aggregate")
            .hint(hint),
        );
        None
    }

    fn unary(&mut self, _: &mut Typer<'_>, _: &ast::Expr, op: UnOp, x: AExpr) -> Option<AExpr> {
        Some(AExpr::Unary(op, Box::new(x)))
    }

    fn binary(
        &mut self,
        _: &mut Typer<'_>,
        _: &ast::Expr,
        op: BinOp,
        a: AExpr,
        b: AExpr,
        _: Ty,
    ) -> Option<AExpr> {
        Some(AExpr::Binary(op, Box::new(a), Box::new(b)))
    }

    fn in_list(
        &mut self,
        _: &mut Typer<'_>,
        _: &ast::Expr,
        x: AExpr,
        items: Vec<AExpr>,
    ) -> Option<AExpr> {
        Some(AExpr::In(Box::new(x), items))
    }

    fn filters(&self) -> bool {
        true
    }

    fn call(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        name: &Ident,
        args: &[Arg],
    ) -> Call<AExpr> {
        if name.name == "last_period" || name.name == "上期" {
            return Call::Done(self.prior(ty, e, args));
        }
        let Some(op) = coll_op(&name.name) else {
            return Call::NotMine;
        };
        // `max(a, b)` and `max(x)` of unit values are the built-ins
        let collection = args.len() == 1
            && args.first().is_some_and(|a| {
                self.is_collection(a)
                    || a.filter.is_some()
                    || !matches!(op, CollOp::Max | CollOp::Min)
            });
        if !collection {
            return Call::NotMine;
        }
        Call::Done(self.aggregate(ty, e, name, op, args))
    }

    fn builtin(
        &mut self,
        _: &mut Typer<'_>,
        _: &ast::Expr,
        b: Builtin,
        args: Vec<AExpr>,
    ) -> Option<AExpr> {
        Some(AExpr::Call(b, args))
    }

    #[inline(never)]
    fn unknown_function(&mut self, ty: &mut Typer<'_>, name: &Ident, argc: usize) {
        let known = [
            "count",
            "sum",
            "any",
            "all",
            "avg",
            "max",
            "min",
            "abs",
            "last_period",
        ];
        let other = name.name.as_str();
        ty.err(
            Diagnostic::error(
                codes::BAD_CALL,
                name.span,
                format!("unknown function or wrong arguments: `{other}`"),
            )
            .label(format!("with {argc} argument(s)"))
            .did_you_mean(
                suggest(other, known).filter(|s| *s != other),
                Some(format!("functions: {}", known.join(", "))),
            ),
        );
    }
}
