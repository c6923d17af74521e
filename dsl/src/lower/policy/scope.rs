//! The signal scope: what an expression of a signal may name.
//!
//! The fields every `from` kind declares (with one type), the `let`s defined
//! above, one table's columns, level names as their rank, and, in `let`s and
//! level rules, window functions; script calls wherever the part of the
//! signal ([`Place`]) allows them.

use super::Tables;
use crate::check::{Call, Scope, Ty, Typer};
use crate::diag::{Diagnostic, codes, suggest};
use crate::syntax::ast::{self, Arg, Ident};
use std::collections::HashMap;
use yingji_engine::ir::{BinOp, Builtin, Expr, FieldId, Place, UnOp, WindowDef};
use yingji_engine::value::{Level, Type, Value};

/// See the module documentation.
pub(super) struct SignalScope<'s> {
    /// Fields visible (name → slot, type).
    pub fields: &'s HashMap<String, (FieldId, Type)>,
    /// `let`s visible (name → type), by index.
    pub lets: &'s [(String, Type)],
    /// The signal's windows, where windows may be used.
    pub windows: Option<&'s mut Vec<WindowDef>>,
    /// The part of the signal the expression is in.
    pub place: Place,
    /// False when the signal's kinds are already in error (no cascade of
    /// unknown names).
    pub report_unknown: bool,
    /// The tables.
    pub tables: &'s Tables,
    /// The table the signal reads so far, and its name.
    pub table: &'s mut Option<(u16, String)>,
}

impl SignalScope<'_> {
    /// The same signal at a window's input: fields only, no windows.
    pub fn window_input(&mut self) -> SignalScope<'_> {
        SignalScope {
            fields: self.fields,
            lets: &[],
            windows: None,
            place: Place::WindowInput,
            report_unknown: self.report_unknown,
            tables: self.tables,
            table: &mut *self.table,
        }
    }

    #[inline(never)]
    fn unknown_name(&self, ty: &mut Typer<'_>, id: &Ident) {
        let label = if self.windows.is_some() {
            "not a field of the events this signal reads, nor a `let` defined above"
        } else {
            "not a field of the events this signal reads"
        };
        unknown_name(ty, id, self.fields, self.lets, label);
    }
}

/// An unknown name among `fields` and `lets`, with "did you mean".
pub(super) fn unknown_name(
    ty: &mut Typer<'_>,
    id: &Ident,
    fields: &HashMap<String, (FieldId, Type)>,
    lets: &[(String, Type)],
    label: &str,
) {
    let mut cands: Vec<&str> = fields.keys().map(String::as_str).collect();
    cands.extend(lets.iter().map(|(n, _)| n.as_str()));
    cands.sort_unstable();
    let mut d = Diagnostic::error(
        codes::UNKNOWN_NAME,
        id.span,
        format!("unknown name `{}`", id.name),
    )
    .label(label);
    if let Some(s) = suggest(&id.name, cands.iter().copied()) {
        d = d.hint(format!("did you mean `{s}`?"));
    } else if !cands.is_empty() {
        d = d.hint(format!("names available here: {}", cands.join(", ")));
    }
    ty.err(d);
}

impl Scope for SignalScope<'_> {
    type Out = Expr;

    fn place(&self) -> Option<Place> {
        Some(self.place)
    }

    fn constant(&mut self, v: Value) -> Expr {
        Expr::Const(v)
    }

    fn duration(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        ms: i64,
        tumbling: bool,
    ) -> Option<(Expr, Ty)> {
        if tumbling {
            ty.err(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    e.span,
                    "`every` can only be a window's length",
                )
                .label("use it inside a window function, e.g. `sum(mm, every 1h)`"),
            );
            return None;
        }
        Some((Expr::Const(Value::Num(ms as f64)), Ty::Duration))
    }

    fn path(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        parts: &[Ident],
        _expected: Option<Ty>,
    ) -> Option<(Expr, Ty)> {
        if let [t, c] = parts {
            return super::tables::column(ty, self.tables, self.table, t, c);
        }
        let [id] = parts else {
            let span = parts
                .first()
                .map_or(e.span, |p| p.span)
                .to(parts.last().map_or(e.span, |p| p.span));
            ty.err(
                Diagnostic::error(
                    codes::UNKNOWN_NAME,
                    span,
                    "dotted names are not supported here",
                )
                .label("expected a field or `let` name"),
            );
            return None;
        };
        if let Some(i) = self.lets.iter().position(|(n, _)| n == &id.name) {
            let t = self.lets.get(i).map_or(Type::Number, |(_, t)| *t);
            Some((Expr::Let(i as u16), Ty::from(t)))
        } else if let Some(&(f, t)) = self.fields.get(&id.name) {
            Some((Expr::Field(f), Ty::from(t)))
        } else if let Some(level) =
            Level::parse(&id.name).filter(|_| !id.name.chars().all(|c| c.is_ascii_digit()))
        {
            // a level name used as a value: its rank
            Some((Expr::Const(Value::Num(f64::from(level as u8))), Ty::Number))
        } else {
            if self.report_unknown {
                self.unknown_name(ty, id);
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
        t: Ty,
    ) -> Option<Expr> {
        // fold constants
        if let (Expr::Const(x), Expr::Const(y)) = (&a, &b) {
            if !matches!(op, BinOp::And | BinOp::Or) && t != Ty::Duration {
                return Some(Expr::Const(yingji_engine::eval::binary(op, x, y)));
            }
        }
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

    fn call(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        name: &Ident,
        args: &[Arg],
    ) -> Call<Expr> {
        match super::windows::aggregate(name, args) {
            Some(agg) => Call::Done(self.window(ty, e, name, agg, args)),
            None => Call::NotMine,
        }
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

    fn script(&mut self, index: u16, args: Vec<Expr>) -> Option<Expr> {
        Some(Expr::Script(index, args))
    }

    #[inline(never)]
    fn unknown_function(&mut self, ty: &mut Typer<'_>, name: &Ident, _argc: usize) {
        let mut known: Vec<&str> = super::scripts::RESERVED.to_vec();
        known.extend(ty.script_names());
        let mut d = Diagnostic::error(
            codes::BAD_CALL,
            name.span,
            format!("unknown function `{}`", name.name),
        )
        .label("not a built-in or script function");
        d = match suggest(&name.name, known.iter().copied()) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None => d.hint(format!("functions: {}", known.join(", "))),
        };
        ty.err(d);
    }
}
