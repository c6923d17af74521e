//! The typer: one walk over [`ast::Expr`] for every scope.
//!
//! It decides the type of every literal, operator, list and call, reports
//! what does not fit (each problem once, with its span) and has the scope
//! build what the expression lowers to. The built-in functions (`abs`,
//! `min`, `max`) and script calls are checked here; where script calls may
//! appear is asked of the scope's [`yingji_engine::ir::Place`].
//!
//! It recurses once per tree level, which the front-end limits bound (see
//! [`crate::limits`]). The recursive path keeps its frames small: leaves and
//! diagnostics are handled in helpers that do not recurse, so the deepest
//! tree the limits allow is typed within a 512 KiB stack.

use super::scope::{Call, Scope, Ty, binary_type, is_comparison, operand_type};
use crate::diag::{Diagnostic, SourceMap, Span, codes};
use crate::lower::policy::scripts::Sig;
use crate::syntax::ast::{self, Arg, ExprKind, Ident};
use std::collections::HashMap;
use yingji_engine::ir::{BinOp, Builtin, UnOp};
use yingji_engine::value::Value;

/// The typer; see the module documentation.
pub struct Typer<'a> {
    sources: &'a SourceMap,
    diags: &'a mut Vec<Diagnostic>,
    scripts: Option<&'a HashMap<String, Sig>>,
}

impl<'a> Typer<'a> {
    /// A typer reporting into `diags`, with the declared script functions
    /// (`None` where there are none).
    pub fn new(
        sources: &'a SourceMap,
        diags: &'a mut Vec<Diagnostic>,
        scripts: Option<&'a HashMap<String, Sig>>,
    ) -> Typer<'a> {
        Typer {
            sources,
            diags,
            scripts,
        }
    }

    /// The sources, for locations and snippets.
    pub fn sources(&self) -> &'a SourceMap {
        self.sources
    }

    /// The names of the declared script functions, sorted.
    pub fn script_names(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = self
            .scripts
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        names.sort_unstable();
        names
    }

    /// Records a diagnostic.
    pub fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Records a diagnostic built by `f`. Its temporaries live in the
    /// closure's frame rather than in the recursive caller's, which keeps the
    /// frames of nested calls small.
    #[inline(never)]
    pub fn err_with(&mut self, f: impl FnOnce() -> Diagnostic) {
        let d = f();
        self.err(d);
    }

    /// A type error with a label.
    #[inline(never)]
    pub fn type_error(&mut self, code: &'static str, span: Span, msg: String, label: String) {
        self.err(Diagnostic::error(code, span, msg).label(label));
    }

    /// Types `e` in `scope`.
    pub fn expr<S: Scope>(&mut self, scope: &mut S, e: &ast::Expr) -> Option<(S::Out, Ty)> {
        self.typed(scope, e, None)
    }

    /// Types `e`, which must be true or false (`what` names it in errors).
    pub fn condition<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        what: &str,
    ) -> Option<S::Out> {
        let (x, t) = self.expr(scope, e)?;
        self.expect_bool(scope.type_code(), e, t, what)?;
        Some(x)
    }

    /// Reports `e` (of type `t`) unless it is a bool, in the words of
    /// signals (`a level condition must be true or false, …`).
    pub fn expect_bool(
        &mut self,
        code: &'static str,
        e: &ast::Expr,
        t: Ty,
        what: &str,
    ) -> Option<()> {
        if t == Ty::Bool {
            return Some(());
        }
        self.err(
            Diagnostic::error(
                code,
                e.span,
                format!("{what} must be true or false, but this is a {t}"),
            )
            .label(format!("this is a {t}"))
            .hint("compare it, e.g. `r3 >= 50`"),
        );
        None
    }

    /// Reports `e` unless it is a `want`, in the words of assessments (`a
    /// veto condition must be a bool, …`).
    pub fn expect(&mut self, e: &ast::Expr, got: Ty, want: Ty, what: &str) -> Option<()> {
        if got == want {
            return Some(());
        }
        self.type_error(
            codes::TYPE_MISMATCH,
            e.span,
            format!("{what} must be a {want}, but this is a {got}"),
            format!("this is a {got}"),
        );
        None
    }

    fn typed<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        expected: Option<Ty>,
    ) -> Option<(S::Out, Ty)> {
        match &e.kind {
            ExprKind::Unary(op, x) => {
                let inner = self.typed(scope, x, None)?;
                self.unary(scope, e, *op, x.span, inner)
            }
            ExprKind::Binary(op, a, b) => {
                let hint = if is_comparison(*op) {
                    scope.hint(b)
                } else {
                    None
                };
                let l = self.typed(scope, a, hint);
                let other = l.as_ref().map(|(_, t)| *t).filter(|_| is_comparison(*op));
                let r = self.typed(scope, b, other);
                self.binary(scope, e, *op, l?, r?)
            }
            ExprKind::In(x, items) => self.in_list(scope, e, x, items),
            ExprKind::Call(name, args) => self.call(scope, e, name, args),
            _ => self.leaf(scope, e, expected),
        }
    }

    /// `x in [a, b, …]`: the items have the type of `x`.
    fn in_list<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        x: &ast::Expr,
        items: &[ast::Expr],
    ) -> Option<(S::Out, Ty)> {
        let (xe, t) = self.typed(scope, x, None)?;
        let mut list = Vec::new();
        for i in items {
            let (ie, it) = self.typed(scope, i, Some(t))?;
            if !it.fits(t) {
                self.list_item_mismatch(scope.type_code(), i.span, it, t);
                return None;
            }
            list.push(ie);
        }
        Some((scope.in_list(self, e, xe, list)?, Ty::Bool))
    }

    #[inline(never)]
    fn list_item_mismatch(&mut self, code: &'static str, span: Span, it: Ty, t: Ty) {
        self.type_error(
            code,
            span,
            format!("list item is a {it}, but the value tested is a {t}"),
            format!("expected a {t}"),
        );
    }

    /// Types `op x` once `x` is typed.
    #[inline(never)]
    fn unary<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        op: UnOp,
        span: Span,
        (xe, t): (S::Out, Ty),
    ) -> Option<(S::Out, Ty)> {
        let want = operand_type(op);
        if !t.fits(want) {
            let sym = if op == UnOp::Not { "not" } else { "-" };
            self.type_error(
                scope.type_code(),
                span,
                format!("`{sym}` needs a {want}, not a {t}"),
                format!("this is a {t}"),
            );
            return None;
        }
        Some((scope.unary(self, e, op, xe)?, want))
    }

    /// Types `a op b` once both sides are typed.
    #[inline(never)]
    fn binary<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        op: BinOp,
        (ae, at): (S::Out, Ty),
        (be, bt): (S::Out, Ty),
    ) -> Option<(S::Out, Ty)> {
        let Some(t) = binary_type(op, at, bt) else {
            self.mismatch(scope.type_code(), e.span, op, at, bt);
            return None;
        };
        Some((scope.binary(self, e, op, ae, be, t)?, t))
    }

    #[inline(never)]
    fn mismatch(&mut self, code: &'static str, span: Span, op: BinOp, at: Ty, bt: Ty) {
        let sym = op.symbol();
        let (msg, hint) = if at != bt {
            (
                format!("cannot apply `{sym}` to a {at} and a {bt}"),
                match (at, bt) {
                    (Ty::String, Ty::Number) | (Ty::Number, Ty::String) => {
                        "compare numbers with numbers and strings with strings (\"...\")"
                    }
                    (Ty::Level | Ty::Response, _) | (_, Ty::Level | Ty::Response) => {
                        "compare `level` or a signal with blue…red, and `response` with IV…I"
                    }
                    _ => "both sides must have the same type",
                },
            )
        } else {
            (
                format!("cannot apply `{sym}` to {at}s"),
                "check the operator and the operand types",
            )
        };
        self.err(
            Diagnostic::error(code, span, msg)
                .label(format!("left is a {at}, right is a {bt}"))
                .hint(hint),
        );
    }

    /// The leaves: literals, names, and the misplaced lists.
    #[inline(never)]
    fn leaf<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        expected: Option<Ty>,
    ) -> Option<(S::Out, Ty)> {
        let (v, t) = match &e.kind {
            ExprKind::Num(n) => (Value::Num(*n), Ty::Number),
            ExprKind::Str(s) => (Value::from(s.as_str()), Ty::String),
            ExprKind::Bool(b) => (Value::Bool(*b), Ty::Bool),
            ExprKind::Duration(ms) => return scope.duration(self, e, *ms, false),
            ExprKind::Every(ms) => return scope.duration(self, e, *ms, true),
            ExprKind::Path(parts) => return scope.path(self, e, parts, expected),
            ExprKind::List(_) => {
                self.type_error(
                    scope.type_code(),
                    e.span,
                    "a list can only follow `in`".into(),
                    "unexpected list".into(),
                );
                return None;
            }
            ExprKind::Invalid
            | ExprKind::Unary(..)
            | ExprKind::Binary(..)
            | ExprKind::In(..)
            | ExprKind::Call(..) => return None,
        };
        Some((scope.constant(v), t))
    }

    /// Refuses `where` filters on the arguments of `name` (they belong to
    /// record collections).
    pub fn no_filters(&mut self, name: &Ident, args: &[Arg]) -> Option<()> {
        let Some(f) = args.iter().find_map(|a| a.filter.as_ref()) else {
            return Some(());
        };
        self.err_with(|| {
            Diagnostic::error(
                codes::BAD_CALL,
                f.span,
                format!("`{}` takes no `where` filter here", name.name),
            )
            .label("`where` filters apply to record collections in assessments")
        });
        None
    }

    /// A call: the scope's own first, then script functions and built-ins.
    fn call<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        name: &Ident,
        args: &[Arg],
    ) -> Option<(S::Out, Ty)> {
        if !scope.filters() {
            self.no_filters(name, args)?;
        }
        if let Call::Done(r) = scope.call(self, e, name, args) {
            return r;
        }
        self.no_filters(name, args)?;
        if let Some(sig) = self.scripts.and_then(|m| m.get(&name.name)) {
            if scope.place().is_some() {
                return self.script_call(scope, e, name, sig, args);
            }
        }
        let builtin = match name.name.as_str() {
            "abs" => Builtin::Abs,
            "min" => Builtin::Min,
            "max" => Builtin::Max,
            _ => {
                scope.unknown_function(self, name, args.len());
                return None;
            }
        };
        self.builtin_call(scope, e, name, builtin, args)
    }

    /// `abs(x)`, `min(a, …)`, `max(a, …)` of numbers.
    fn builtin_call<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        name: &Ident,
        builtin: Builtin,
        args: &[Arg],
    ) -> Option<(S::Out, Ty)> {
        let arity_ok = match builtin {
            Builtin::Abs => args.len() == 1,
            Builtin::Min | Builtin::Max => !args.is_empty(),
        };
        if !arity_ok {
            self.bad_arity(e.span, name, builtin, args.len());
            return None;
        }
        let mut lowered = Vec::new();
        for a in args {
            let (ae, at) = self.typed(scope, &a.expr, None)?;
            if !at.fits(Ty::Number) {
                self.type_error(
                    scope.type_code(),
                    a.expr.span,
                    format!("`{}` needs numbers, but this is a {at}", name.name),
                    format!("this is a {at}"),
                );
                return None;
            }
            lowered.push(ae);
        }
        Some((scope.builtin(self, e, builtin, lowered)?, Ty::Number))
    }

    #[inline(never)]
    fn bad_arity(&mut self, span: Span, name: &Ident, builtin: Builtin, got: usize) {
        let want = if builtin == Builtin::Abs {
            "1"
        } else {
            "1 or more"
        };
        self.err(
            Diagnostic::error(
                codes::BAD_CALL,
                span,
                format!("`{}` takes {want} argument(s), got {got}", name.name),
            )
            .label("wrong number of arguments"),
        );
    }

    /// A call of a script function: where it may appear (the scope's
    /// [`yingji_engine::ir::Place`]), arity and argument types as declared.
    fn script_call<S: Scope>(
        &mut self,
        scope: &mut S,
        e: &ast::Expr,
        name: &Ident,
        sig: &Sig,
        args: &[Arg],
    ) -> Option<(S::Out, Ty)> {
        if let Some(problem) = scope.place().and_then(|p| p.script_problem()) {
            self.script_refused(e.span, name, problem);
            return None;
        }
        if args.len() != sig.params.len() {
            let (decl, at) = self.declared(name, sig);
            self.err_with(|| {
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
                    format!(
                        "`{}` takes {} argument(s), got {}",
                        name.name,
                        sig.params.len(),
                        args.len()
                    ),
                )
                .label("wrong number of arguments")
                .hint(format!("declared at {at} as `{decl}`"))
            });
            return None;
        }
        let mut lowered = Vec::new();
        let mut ok = true;
        for (a, (p, want)) in args.iter().zip(&sig.params) {
            let Some((ae, got)) = self.typed(scope, &a.expr, None) else {
                ok = false;
                continue;
            };
            if got != Ty::from(*want) {
                self.argument_mismatch(a, name, sig, p, Ty::from(*want), got);
                ok = false;
                continue;
            }
            lowered.push(ae);
        }
        if !ok {
            return None;
        }
        Some((scope.script(sig.index, lowered)?, Ty::from(sig.ret)))
    }

    /// A script function's declaration as written, and where.
    fn declared(&self, name: &Ident, sig: &Sig) -> (String, String) {
        let decl = format!(
            "{}({}) -> {}",
            name.name,
            sig.params
                .iter()
                .map(|(n, t)| format!("{n}: {t}"))
                .collect::<Vec<_>>()
                .join(", "),
            sig.ret
        );
        (decl, self.sources.location(sig.span))
    }

    #[inline(never)]
    fn argument_mismatch(&mut self, a: &Arg, name: &Ident, sig: &Sig, p: &str, want: Ty, got: Ty) {
        let (decl, at) = self.declared(name, sig);
        self.err(
            Diagnostic::error(
                codes::TYPE_MISMATCH,
                a.expr.span,
                format!(
                    "argument `{p}` of `{}` is a {want}, but this is a {got}",
                    name.name
                ),
            )
            .label(format!("this is a {got}"))
            .hint(format!("declared at {at} as `{decl}`")),
        );
    }

    #[inline(never)]
    fn script_refused(&mut self, span: Span, name: &Ident, problem: &str) {
        self.err(
            Diagnostic::error(
                codes::BAD_CALL,
                span,
                format!(
                    "{problem}: `{}` is a script function, and a `where` filter reads only the event's fields",
                    name.name
                ),
            )
            .label("script call in `where`")
            .hint(format!(
                "compute it in a `let` and test it in the level rules instead: `let v = {}(...)`, then `level ... when v ... and ...`",
                name.name
            )),
        );
    }
}
