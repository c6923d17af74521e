//! The signal scope: what an expression of a signal may name.
//!
//! The fields every `from` kind declares (with one type), the `let`s defined
//! above, one table's columns, level names as their rank, and, in `let`s and
//! level rules, window functions; script calls wherever the part of the
//! signal ([`Place`]) allows them.

use super::{Kind, Tables};
use crate::check::{Call, Scope, Ty, Typer};
use crate::diag::{Diagnostic, codes, suggest};
use crate::syntax::ast::{self, Arg, Ident};
use std::collections::HashMap;
use yingji_engine::ir::{
    BinOp, Builtin, Calendar, Expr, FieldId, GroupAgg, GroupDef, KindId, Place, UnOp, WindowDef,
};
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
    /// Every declared event kind, by name.
    pub kinds: &'s HashMap<String, Kind>,
    /// The kinds the signal reads (`from`), in order: name and id.
    pub from: &'s [(String, KindId)],
    /// The signal's `days_since` conditions, where they may be used.
    pub marks: Option<&'s mut Vec<Expr>>,
    /// The signal's member aggregates, where they may be used.
    pub groups: Option<&'s mut Vec<GroupDef>>,
    /// Whether the signal's keys are areas (`key … via`).
    pub via: bool,
    /// The offset calendar functions read local time at (minutes).
    pub offset: i16,
}

/// The offset calendar functions read local time at unless the signal says
/// `timezone`: UTC+8 (China Standard Time, the county's calendar), whatever
/// offset a sender wrote.
pub(super) const LOCAL_OFFSET_MIN: i16 = 8 * 60;

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
            kinds: self.kinds,
            from: self.from,
            marks: None,
            groups: None,
            via: self.via,
            offset: self.offset,
        }
    }

    /// A member aggregate (`max_of(x)`, …, `members()`), if `name` is one.
    fn group_call(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        name: &Ident,
        args: &[Arg],
    ) -> Option<Option<(Expr, Ty)>> {
        let agg = match name.name.as_str() {
            "max_of" => GroupAgg::Max,
            "min_of" => GroupAgg::Min,
            "sum_of" => GroupAgg::Sum,
            "mean_of" => GroupAgg::Mean,
            "count_of" => GroupAgg::Count,
            "members" => GroupAgg::Size,
            _ => return None,
        };
        if !self.via {
            ty.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    name.span,
                    format!("`{}` aggregates over an area's members", name.name),
                )
                .label("this signal's keys are not areas")
                .hint("give the signal areas as keys: `key point via 隐患点.风险区` (each point's readings go to its areas)"),
            );
            return Some(None);
        }
        if self.groups.is_none() {
            ty.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
                    format!("`{}` cannot be used here", name.name),
                )
                .label("only `let`s and level rules can aggregate over members"),
            );
            return Some(None);
        }
        let want = usize::from(agg != GroupAgg::Size);
        if args.len() != want {
            let example = match agg {
                GroupAgg::Size => "members()".to_string(),
                GroupAgg::Count => "count_of(level >= orange)".to_string(),
                _ => format!("{}(level)", name.name),
            };
            ty.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
                    format!(
                        "`{}` takes {want} argument{}, got {}",
                        name.name,
                        if want == 1 { "" } else { "s" },
                        args.len()
                    ),
                )
                .label("wrong number of arguments")
                .hint(format!("e.g. `{example}`")),
            );
            return Some(None);
        }
        let input = match args.first() {
            None => Expr::Const(yingji_engine::value::Value::Null),
            Some(a) if agg == GroupAgg::Count => {
                ty.condition(&mut self.window_input(), &a.expr, "`count_of`'s argument")?
            }
            Some(a) => {
                let (x, t) = ty.expr(&mut self.window_input(), &a.expr)?;
                if t != Ty::Number {
                    ty.err(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            a.expr.span,
                            format!("`{}` needs numbers, but this is a {t}", name.name),
                        )
                        .label(format!("this is a {t}")),
                    );
                    return Some(None);
                }
                x
            }
        };
        let groups = self.groups.as_deref_mut()?;
        let def = GroupDef { agg, input };
        let i = match groups.iter().position(|g| *g == def) {
            Some(i) => i,
            None => {
                groups.push(def);
                groups.len() - 1
            }
        };
        Some(Some((Expr::Group(i as u16), Ty::Number)))
    }

    /// `KIND.FIELD`, when `KIND` is a kind this signal reads (`None`: it is
    /// not a kind name, the path may be a table's column).
    fn kind_field(&self, ty: &mut Typer<'_>, k: &Ident, f: &Ident) -> Option<Option<(Expr, Ty)>> {
        let kind = self.kinds.get(&k.name);
        let in_from = self.from.iter().any(|(n, _)| n == &k.name);
        match kind {
            Some(kind) if in_from => {
                if let Some(&(slot, t)) = kind.fields.get(&f.name) {
                    return Some(Some((Expr::KindField(kind.id, slot), Ty::from(t))));
                }
                let mut names: Vec<&str> = kind.fields.keys().map(String::as_str).collect();
                names.sort_unstable();
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_NAME,
                    f.span,
                    format!("event kind `{}` has no field `{}`", k.name, f.name),
                )
                .label("unknown field");
                d = match suggest(&f.name, names.iter().copied()) {
                    Some(s) => d.hint(format!("did you mean `{}.{s}`?", k.name)),
                    None => d.hint(format!("fields of `{}`: {}", k.name, names.join(", "))),
                };
                ty.err(d);
                Some(None)
            }
            Some(_) if !self.tables.contains_key(&k.name) => {
                let from: Vec<&str> = self.from.iter().map(|(n, _)| n.as_str()).collect();
                ty.err(
                    Diagnostic::error(
                        codes::UNKNOWN_KIND,
                        k.span,
                        format!("this signal does not read event kind `{}`", k.name),
                    )
                    .label(format!("not in `from {}`", from.join(", ")))
                    .hint(format!(
                        "add it: `from {}, {}` (a field of a kind is seen only at that kind's events)",
                        from.join(", "),
                        k.name
                    )),
                );
                Some(None)
            }
            Some(_) => None,
            None if self.tables.contains_key(&k.name) => None,
            None => {
                let mut cands: Vec<&str> = self.from.iter().map(|(n, _)| n.as_str()).collect();
                cands.extend(self.tables.keys().map(String::as_str));
                cands.sort_unstable();
                let mut d = Diagnostic::error(
                    codes::UNKNOWN_KIND,
                    k.span,
                    format!("no event kind or table `{}`", k.name),
                )
                .label("unknown event kind or table");
                d = match suggest(&k.name, cands.iter().copied()) {
                    Some(s) => d.hint(format!("did you mean `{s}.{}`?", f.name)),
                    None => d.hint(format!(
                        "`NAME.FIELD` reads a field of a kind in `from` or a column of a table; here: {}",
                        cands.join(", ")
                    )),
                };
                ty.err(d);
                Some(None)
            }
        }
    }

    /// An unqualified name that some but not all of the signal's kinds
    /// declare (or declare with different types): reported, asking to
    /// qualify it. `false` when no kind in `from` declares it.
    fn ambiguous_field(&self, ty: &mut Typer<'_>, id: &Ident) -> bool {
        let owners: Vec<&str> = self
            .from
            .iter()
            .filter(|(n, _)| {
                self.kinds
                    .get(n)
                    .is_some_and(|k| k.fields.contains_key(&id.name))
            })
            .map(|(n, _)| n.as_str())
            .collect();
        let Some(first) = owners.first() else {
            return false;
        };
        let label = if owners.len() == self.from.len() {
            format!("declared with different types by {}", owners.join(" and "))
        } else {
            format!("declared by {} only", owners.join(" and "))
        };
        let quals: Vec<String> = owners
            .iter()
            .map(|o| format!("`{o}.{}`", id.name))
            .collect();
        ty.err(
            Diagnostic::error(
                codes::UNKNOWN_NAME,
                id.span,
                format!(
                    "`{}` is not a field of every kind this signal reads",
                    id.name
                ),
            )
            .label(label)
            .hint(format!(
                "qualify it with its kind: {} (e.g. `sum({first}.{}, 3h)` sees only `{first}` events)",
                quals.join(" or "),
                id.name
            )),
        );
        true
    }

    /// A calendar function or `days_since`, if `name` is one.
    fn time_call(
        &mut self,
        ty: &mut Typer<'_>,
        e: &ast::Expr,
        name: &Ident,
        args: &[Arg],
    ) -> Option<Option<(Expr, Ty)>> {
        if let Some(c) = Calendar::ALL.iter().find(|c| c.name() == name.name) {
            if !args.is_empty() {
                ty.err(
                    Diagnostic::error(
                        codes::BAD_CALL,
                        e.span,
                        format!("`{}()` takes no arguments, got {}", name.name, args.len()),
                    )
                    .label("the reading's own time is used")
                    .hint(format!("write `{}()`", name.name)),
                );
                return Some(None);
            }
            return Some(Some((Expr::Calendar(*c, self.offset), Ty::Number)));
        }
        if name.name != "days_since" {
            return None;
        }
        let [cond] = args else {
            ty.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
                    format!("`days_since` takes 1 argument, got {}", args.len()),
                )
                .label("expected a condition")
                .hint("e.g. `days_since(mm >= 0.1)`"),
            );
            return Some(None);
        };
        if self.marks.is_none() {
            ty.err(
                Diagnostic::error(codes::BAD_CALL, e.span, "`days_since` cannot be used here")
                    .label("only `let`s and level rules can use `days_since`"),
            );
            return Some(None);
        }
        let lowered = ty.condition(
            &mut self.window_input(),
            &cond.expr,
            "`days_since`'s argument",
        );
        let Some(c) = lowered else {
            return Some(None);
        };
        let marks = self.marks.as_deref_mut()?;
        let i = match marks.iter().position(|m| *m == c) {
            Some(i) => i,
            None => {
                marks.push(c);
                marks.len() - 1
            }
        };
        Some(Some((Expr::DaysSince(i as u16), Ty::Number)))
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
            if let Some(found) = self.kind_field(ty, t, c) {
                return found;
            }
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
            if self.report_unknown && !self.ambiguous_field(ty, id) {
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
        if let Some(done) = self.time_call(ty, e, name, args) {
            return Call::Done(done);
        }
        if let Some(done) = self.group_call(ty, e, name, args) {
            return Call::Done(done);
        }
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
        let mut known: Vec<&str> = crate::builtins::reserved_in_signals().collect();
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
