//! Checking and lowering the assessment definitions into
//! [`yingji_engine::assess::AssessProgram`].

use super::ast::{AssessmentDef, DeadlinesDef, GradingDef, RosterDef};
use super::codes as acodes;
use crate::ast::{self, Def, ExprKind, Ident};
use crate::diag::{Diagnostic, SourceMap, Span, codes, suggest};
use std::collections::HashMap;
use yingji_engine::assess::{
    AExpr, AssessProgram, Assessment, CollOp, Criterion, CriterionKind, DeadlineRule, DeadlineSet,
    GradeRule, Grading, PeriodUnit, RecordField, RecordKind, RecordKindId, Roster, Timing, Veto,
};
use yingji_engine::ir::{BinOp, Builtin, Expr, FieldId, UnOp};
use yingji_engine::time::{MS_PER_HOUR, MS_PER_MINUTE};
use yingji_engine::value::{Type, Value};

/// Record kinds the engine derives from deadline checks.
pub const DERIVED_KINDS: [&str; 2] = ["report_late", "report_missing"];

struct Kind {
    id: RecordKindId,
    fields: HashMap<String, (FieldId, Type)>,
}

struct Compiler<'a> {
    sources: &'a SourceMap,
    p: AssessProgram,
    kinds: HashMap<String, Kind>,
    diags: Vec<Diagnostic>,
}

fn type_of(name: &str) -> Option<Type> {
    match name {
        "number" | "数值" => Some(Type::Number),
        "string" | "text" | "文本" => Some(Type::String),
        "bool" | "布尔" => Some(Type::Bool),
        _ => None,
    }
}

fn binary_type(op: BinOp, a: Type, b: Type) -> Option<Type> {
    match op {
        BinOp::And | BinOp::Or => (a == Type::Bool && b == Type::Bool).then_some(Type::Bool),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
            (a == Type::Number && b == Type::Number).then_some(Type::Number)
        }
        BinOp::Eq | BinOp::Ne => (a == b && a != Type::Duration).then_some(Type::Bool),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            (a == b && matches!(a, Type::Number | Type::String)).then_some(Type::Bool)
        }
    }
}

/// The value and type of a literal (`3`, `"a"`, `true`).
fn literal(kind: &ExprKind) -> Option<(Value, Type)> {
    match kind {
        ExprKind::Num(n) => Some((Value::Num(*n), Type::Number)),
        ExprKind::Str(s) => Some((Value::from(s.as_str()), Type::String)),
        ExprKind::Bool(b) => Some((Value::Bool(*b), Type::Bool)),
        _ => None,
    }
}

/// The type `not x` (bool) or `-x` (number) takes and gives.
fn operand_type(op: UnOp) -> Type {
    if op == UnOp::Not {
        Type::Bool
    } else {
        Type::Number
    }
}

/// `abs(x)`, `min(a, ...)`, `max(a, ...)` with `argc` arguments.
fn builtin(name: &str, argc: usize) -> Option<Builtin> {
    match name {
        "abs" if argc == 1 => Some(Builtin::Abs),
        "min" if argc > 0 => Some(Builtin::Min),
        "max" if argc > 0 => Some(Builtin::Max),
        _ => None,
    }
}

impl Compiler<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn at(&self, span: Span) -> String {
        self.sources.location(span)
    }

    fn text(&self, span: Span) -> String {
        self.sources
            .snippet(span)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn slot(&mut self, name: &str) -> FieldId {
        if let Some(s) = self.p.slot(name) {
            return s;
        }
        self.p.fields.push(name.to_string());
        (self.p.fields.len() - 1) as FieldId
    }

    fn add_kind(&mut self, name: &str, fields: &[(String, Type, bool)], derived: bool) {
        let mut map = HashMap::new();
        let mut defs = Vec::new();
        for (f, ty, optional) in fields {
            if map.contains_key(f) || matches!(f.as_str(), "ts" | "kind" | "id" | "unit") {
                continue;
            }
            let slot = self.slot(f);
            map.insert(f.clone(), (slot, *ty));
            defs.push(RecordField {
                name: f.clone(),
                slot,
                ty: *ty,
                optional: *optional,
            });
        }
        let id = self.p.kinds.len() as RecordKindId;
        self.p.kinds.push(RecordKind {
            name: name.to_string(),
            fields: defs,
            derived,
        });
        self.kinds
            .insert(name.to_string(), Kind { id, fields: map });
    }

    /// A kind by name; `accidents` finds `accident` too.
    fn kind_named(&self, name: &str) -> Option<(&str, &Kind)> {
        if let Some((k, v)) = self.kinds.get_key_value(name) {
            return Some((k.as_str(), v));
        }
        name.strip_suffix('s')
            .and_then(|n| self.kinds.get_key_value(n))
            .map(|(k, v)| (k.as_str(), v))
    }

    fn unknown_kind(&mut self, id: &Ident) {
        let mut names: Vec<&str> = self.kinds.keys().map(String::as_str).collect();
        names.sort_unstable();
        let d = Diagnostic::error(
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
        );
        self.err(d);
    }

    /// The id of the record kind `id` names; reported when there is none.
    fn kind_id(&mut self, id: &Ident) -> Option<RecordKindId> {
        let k = self.kinds.get(&id.name).map(|k| k.id);
        if k.is_none() {
            self.unknown_kind(id);
        }
        k
    }

    /// Notes where `id` is first defined; a second definition is reported
    /// (`message`, labelled with where the first one is) and gives `false`.
    fn first_definition(
        &mut self,
        seen: &mut HashMap<String, Span>,
        id: &Ident,
        message: String,
    ) -> bool {
        if let Some(first) = seen.get(&id.name) {
            let at = self.at(*first);
            self.err(
                Diagnostic::error(codes::DUPLICATE, id.span, message)
                    .label(format!("first defined at {at}")),
            );
            return false;
        }
        seen.insert(id.name.clone(), id.span);
        true
    }

    /// `what` `id` is written a second time in one list.
    fn listed_twice(&mut self, id: &Ident, what: &str) {
        self.err(
            Diagnostic::error(
                codes::DUPLICATE,
                id.span,
                format!("{what} `{}` is listed twice", id.name),
            )
            .label("second time"),
        );
    }

    /// The rank of grade `name` among `kind`'s gradings (or any grading when `kind` is `None`).
    fn grade_rank(&self, kind: Option<RecordKindId>, name: &str) -> Option<u8> {
        self.p
            .gradings
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

    fn unknown_field(&mut self, id: &Ident, kind: &str) {
        let Some(k) = self.kinds.get(kind) else {
            return;
        };
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
        let d = Diagnostic::error(codes::UNKNOWN_NAME, id.span, msg)
            .label(label)
            .did_you_mean(
                suggest(&id.name, here.iter().copied()),
                Some(format!("fields of `{kind}`: {}", here.join(", "))),
            );
        self.err(d);
    }

    fn type_error(&mut self, span: Span, msg: String, label: String) {
        self.err(Diagnostic::error(codes::TYPE_MISMATCH, span, msg).label(label));
    }

    /// A duration where a value of one record or one unit is wanted.
    fn duration_here(&mut self, span: Span, expected: &str) {
        self.type_error(
            span,
            "a duration cannot be used here".into(),
            expected.into(),
        );
    }

    /// A list anywhere but after `in`.
    fn list_outside_in(&mut self, span: Span) {
        self.type_error(
            span,
            "a list can only follow `in`".into(),
            "unexpected list".into(),
        );
    }

    /// The type of `a op b`; reported when `op` does not apply to them.
    fn binary(&mut self, span: Span, op: BinOp, a: Type, b: Type) -> Option<Type> {
        let t = binary_type(op, a, b);
        if t.is_none() {
            self.type_error(
                span,
                format!("cannot apply `{}` to a {a} and a {b}", op.symbol()),
                format!("left is a {a}, right is a {b}"),
            );
        }
        t
    }

    /// Function `func` needs `what` (`numbers`, `a condition`), not a `got`.
    fn needs(&mut self, span: Span, func: &str, what: &str, got: Type) {
        self.type_error(
            span,
            format!("`{func}` needs {what}, but this is a {got}"),
            format!("this is a {got}"),
        );
    }

    /// A `where` filter on something that is not a collection.
    fn no_filter(&mut self, span: Span, msg: String) {
        self.err(
            Diagnostic::error(codes::BAD_CALL, span, msg).label("filters apply to collections"),
        );
    }

    /// An expression over one record of `kind`.
    ///
    /// It recurses once per tree level (bounded by [`crate::limits`]); the
    /// recursive path keeps its frames small, with leaves and diagnostics in
    /// helpers that do not recurse.
    fn rexpr(&mut self, e: &ast::Expr, kind: &str) -> Option<(Expr, Type)> {
        match &e.kind {
            ExprKind::Unary(op, x) => {
                let inner = self.rexpr(x, kind)?;
                self.r_unary(*op, x.span, inner)
            }
            ExprKind::Binary(op, a, b) => {
                let l = self.rexpr(a, kind);
                let r = self.rexpr(b, kind);
                let ((ae, at), (be, bt)) = (l?, r?);
                let t = self.binary(e.span, *op, at, bt)?;
                Some((Expr::Binary(*op, Box::new(ae), Box::new(be)), t))
            }
            ExprKind::In(x, items) => self.r_in(x, items, kind),
            ExprKind::Call(name, args) => self.r_call(name, args, kind),
            _ => self.r_leaf(e, kind),
        }
    }

    /// `x in [..]` over one record.
    fn r_in(&mut self, x: &ast::Expr, items: &[ast::Expr], kind: &str) -> Option<(Expr, Type)> {
        let (xe, t) = self.rexpr(x, kind)?;
        let mut list = Vec::new();
        for i in items {
            let (ie, it) = self.rexpr(i, kind)?;
            if it != t {
                self.item_mismatch(i.span, it, t);
                return None;
            }
            list.push(ie);
        }
        Some((Expr::In(Box::new(xe), list), Type::Bool))
    }

    /// `abs(..)`, `min(..)`, `max(..)` over one record.
    fn r_call(&mut self, name: &Ident, args: &[ast::Arg], kind: &str) -> Option<(Expr, Type)> {
        let builtin = self.record_builtin(name, args.len())?;
        let mut out = Vec::new();
        for a in args {
            if let Some(f) = &a.filter {
                self.no_filter(f.span, "no `where` filter here".into());
                return None;
            }
            let (ae, at) = self.rexpr(&a.expr, kind)?;
            if at != Type::Number {
                self.needs(a.expr.span, &name.name, "numbers", at);
                return None;
            }
            out.push(ae);
        }
        Some((Expr::Call(builtin, out), Type::Number))
    }

    #[inline(never)]
    fn r_unary(&mut self, op: UnOp, span: Span, (xe, t): (Expr, Type)) -> Option<(Expr, Type)> {
        let want = operand_type(op);
        if t != want {
            self.type_error(
                span,
                format!(
                    "`{}` needs a {want}, not a {t}",
                    if op == UnOp::Not { "not" } else { "-" }
                ),
                format!("this is a {t}"),
            );
            return None;
        }
        Some((Expr::Unary(op, Box::new(xe)), want))
    }

    #[inline(never)]
    fn item_mismatch(&mut self, span: Span, it: Type, t: Type) {
        self.type_error(
            span,
            format!("list item is a {it}, but the value tested is a {t}"),
            format!("expected a {t}"),
        );
    }

    #[inline(never)]
    fn record_builtin(&mut self, name: &Ident, argc: usize) -> Option<Builtin> {
        let b = builtin(&name.name, argc);
        if b.is_none() {
            self.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    name.span,
                    format!("`{}` cannot be used on one record", name.name),
                )
                .label("functions here: abs(x), min(a, b, ...), max(a, b, ...)")
                .hint("aggregates (count, sum, any, all) work over collections in assessments"),
            );
        }
        b
    }

    /// Literals, names and the misplaced durations and lists.
    #[inline(never)]
    fn r_leaf(&mut self, e: &ast::Expr, kind: &str) -> Option<(Expr, Type)> {
        if let Some((v, t)) = literal(&e.kind) {
            return Some((Expr::Const(v), t));
        }
        Some(match &e.kind {
            ExprKind::Invalid | ExprKind::Num(_) | ExprKind::Str(_) | ExprKind::Bool(_) => {
                return None;
            }
            ExprKind::Duration(_) | ExprKind::Every(_) => {
                self.duration_here(e.span, "expected a number, string or bool");
                return None;
            }
            ExprKind::Path(parts) => {
                let id = match parts.as_slice() {
                    [id] => id,
                    [k, f] if self.kind_named(&k.name).is_some_and(|(n, _)| n == kind) => f,
                    _ => {
                        self.err(
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
                let k = self.kinds.get(kind)?;
                if let Some(&(slot, t)) = k.fields.get(&id.name) {
                    (Expr::Field(slot), t)
                } else if let Some(rank) = self.grade_rank(Some(k.id), &id.name) {
                    (Expr::Const(Value::Num(f64::from(rank))), Type::Number)
                } else {
                    self.unknown_field(id, kind);
                    return None;
                }
            }
            ExprKind::List(_) => {
                self.list_outside_in(e.span);
                return None;
            }
            ExprKind::Unary(..) | ExprKind::Binary(..) | ExprKind::In(..) | ExprKind::Call(..) => {
                return self.rexpr(e, kind);
            }
        })
    }

    fn expect(&mut self, e: &ast::Expr, got: Type, want: Type, what: &str) -> Option<()> {
        if got == want {
            return Some(());
        }
        self.type_error(
            e.span,
            format!("{what} must be a {want}, but this is a {got}"),
            format!("this is a {got}"),
        );
        None
    }

    /// A condition over one record of `kind` (`what` names it in errors).
    fn condition(&mut self, e: &ast::Expr, kind: &str, what: &str) -> Option<Expr> {
        let (x, t) = self.rexpr(e, kind)?;
        self.expect(e, t, Type::Bool, what)?;
        Some(x)
    }

    /// An expression over a unit's records that must be a `want`.
    fn aexpr_of(&mut self, e: &ast::Expr, want: Type, what: &str) -> Option<AExpr> {
        let (x, t) = self.aexpr(e, false)?;
        self.expect(e, t, want, what)?;
        Some(x)
    }

    /// An expression over a unit's records (aggregates).
    /// An expression over a whole unit (aggregates of its records).
    ///
    /// It recurses once per tree level (bounded by [`crate::limits`]); the
    /// recursive path keeps its frames small, with leaves and diagnostics in
    /// helpers that do not recurse.
    fn aexpr(&mut self, e: &ast::Expr, in_prior: bool) -> Option<(AExpr, Type)> {
        Some(match &e.kind {
            ExprKind::Unary(op, x) => {
                let (xe, t) = self.aexpr(x, in_prior)?;
                let want = operand_type(*op);
                self.expect(
                    x,
                    t,
                    want,
                    if *op == UnOp::Not {
                        "the operand of `not`"
                    } else {
                        "the operand of `-`"
                    },
                )?;
                (AExpr::Unary(*op, Box::new(xe)), want)
            }
            ExprKind::Binary(op, a, b) => {
                let l = self.aexpr(a, in_prior);
                let r = self.aexpr(b, in_prior);
                let ((ae, at), (be, bt)) = (l?, r?);
                let t = self.binary(e.span, *op, at, bt)?;
                (AExpr::Binary(*op, Box::new(ae), Box::new(be)), t)
            }
            ExprKind::In(x, items) => return self.a_in(x, items, in_prior),
            ExprKind::Call(name, args) => return self.acall(e, name, args, in_prior),
            _ => return self.a_leaf(e),
        })
    }

    /// `x in [..]` over a whole unit.
    fn a_in(
        &mut self,
        x: &ast::Expr,
        items: &[ast::Expr],
        in_prior: bool,
    ) -> Option<(AExpr, Type)> {
        let (xe, t) = self.aexpr(x, in_prior)?;
        let mut list = Vec::new();
        for i in items {
            let (ie, it) = self.aexpr(i, in_prior)?;
            self.expect(i, it, t, "a list item")?;
            list.push(ie);
        }
        Some((AExpr::In(Box::new(xe), list), Type::Bool))
    }

    /// Literals, and names (which have no value for a whole unit).
    #[inline(never)]
    fn a_leaf(&mut self, e: &ast::Expr) -> Option<(AExpr, Type)> {
        if let Some((v, t)) = literal(&e.kind) {
            return Some((AExpr::Const(v), t));
        }
        match &e.kind {
            ExprKind::Invalid | ExprKind::Num(_) | ExprKind::Str(_) | ExprKind::Bool(_) => None,
            ExprKind::Duration(_) | ExprKind::Every(_) => {
                self.duration_here(e.span, "expected a number");
                None
            }
            ExprKind::Path(parts) => {
                let first = parts.first()?;
                if parts.len() == 1 {
                    if let Some(rank) = self.grade_rank(None, &first.name) {
                        return Some((AExpr::Const(Value::Num(f64::from(rank))), Type::Number));
                    }
                }
                let hint = if let Some((k, _)) = self.kind_named(&first.name) {
                    format!(
                        "`{}` is a collection of `{k}` records: aggregate it, e.g. `count({})` or `sum({}.FIELD)`",
                        first.name, first.name, first.name
                    )
                } else if self
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
                self.err(
                    Diagnostic::error(
                        codes::UNKNOWN_NAME,
                        e.span,
                        format!(
                            "`{}` has no value for a whole unit",
                            self.sources.snippet(e.span)
                        ),
                    )
                    .label("not an aggregate")
                    .hint(hint),
                );
                None
            }
            ExprKind::List(_) => {
                self.list_outside_in(e.span);
                None
            }
            // compound expressions are lowered by `aexpr`, never here
            ExprKind::Unary(..) | ExprKind::Binary(..) | ExprKind::In(..) | ExprKind::Call(..) => {
                None
            }
        }
    }

    /// A call over a whole unit. The two kinds that nest (`last_period(x)`
    /// and `abs`/`min`/`max` of unit values) recurse from this small frame;
    /// everything else is decided in [`Self::acall_other`], whose large frame
    /// never stacks up.
    fn acall(
        &mut self,
        e: &ast::Expr,
        name: &Ident,
        args: &[ast::Arg],
        in_prior: bool,
    ) -> Option<(AExpr, Type)> {
        if let [arg] = args {
            if !in_prior && (name.name == "last_period" || name.name == "上期") {
                let (x, t) = self.aexpr(&arg.expr, true)?;
                return Some((AExpr::Prior(Box::new(x)), t));
            }
        }
        if let Some(builtin) = self.plain_builtin(name, args) {
            let mut out = Vec::new();
            for a in args {
                let (ae, at) = self.aexpr(&a.expr, in_prior)?;
                self.expect_argument(a, at, name)?;
                out.push(ae);
            }
            return Some((AExpr::Call(builtin, out), Type::Number));
        }
        self.acall_other(e, name, args, in_prior)
    }

    /// `abs`/`min`/`max` of unit values (not an aggregate over a collection),
    /// without `where` filters: what [`Self::acall_other`] would lower the same way.
    #[inline(never)]
    fn plain_builtin(&self, name: &Ident, args: &[ast::Arg]) -> Option<Builtin> {
        if args.iter().any(|a| a.filter.is_some()) {
            return None;
        }
        let aggregate = matches!(name.name.as_str(), "max" | "min")
            && args.len() == 1
            && args.first().is_some_and(|a| match &a.expr.kind {
                ExprKind::Path(p) => p
                    .first()
                    .is_some_and(|k| self.kind_named(&k.name).is_some()),
                _ => false,
            });
        if aggregate || !matches!(name.name.as_str(), "abs" | "max" | "min") {
            return None;
        }
        builtin(&name.name, args.len())
    }

    #[inline(never)]
    fn expect_argument(&mut self, a: &ast::Arg, got: Type, name: &Ident) -> Option<()> {
        self.expect(
            &a.expr,
            got,
            Type::Number,
            &format!("an argument of `{}`", name.name),
        )
    }

    #[inline(never)]
    fn acall_other(
        &mut self,
        e: &ast::Expr,
        name: &Ident,
        args: &[ast::Arg],
        in_prior: bool,
    ) -> Option<(AExpr, Type)> {
        let op = match name.name.as_str() {
            "count" => Some(CollOp::Count),
            "sum" => Some(CollOp::Sum),
            "any" => Some(CollOp::Any),
            "all" => Some(CollOp::All),
            "avg" => Some(CollOp::Avg),
            "max" => Some(CollOp::Max),
            "min" => Some(CollOp::Min),
            _ => None,
        };
        let is_collection = |a: &ast::Arg| match &a.expr.kind {
            ExprKind::Path(p) => p
                .first()
                .is_some_and(|k| self.kind_named(&k.name).is_some()),
            _ => false,
        };
        let collection_call = op.is_some()
            && args.len() == 1
            && args.first().is_some_and(|a| {
                is_collection(a)
                    || a.filter.is_some()
                    || !matches!(name.name.as_str(), "max" | "min")
            });
        if let (Some(op), true) = (op, collection_call) {
            let arg = args.first()?;
            let ExprKind::Path(parts) = &arg.expr.kind else {
                self.err(
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
                .kind_named(&kid.name)
                .map(|(n, k)| (n.to_string(), k.id))
            else {
                self.unknown_kind(kid);
                return None;
            };
            let value = match parts.as_slice() {
                [_] => None,
                [_, f] => {
                    let fe = ast::Expr {
                        kind: ExprKind::Path(vec![f.clone()]),
                        span: f.span,
                    };
                    Some((self.rexpr(&fe, &kind)?, f.span))
                }
                _ => {
                    self.err(
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
                Some(f) => Some(self.condition(f, &kind, "a `where` condition")?),
                None => None,
            };
            let (value, filter, ty) = match op {
                CollOp::Count => {
                    if let Some((_, span)) = value {
                        self.err(
                            Diagnostic::error(codes::BAD_CALL, span, "`count` counts records, not a field's values")
                                .label("remove the field")
                                .hint(format!("count the records that meet a condition: `count({kind} where ...)`; add values with `sum`")),
                        );
                        return None;
                    }
                    (None, filter, Type::Number)
                }
                CollOp::Any | CollOp::All => {
                    let pred = match (value, filter) {
                        (Some(((ve, Type::Bool), _)), None) => Some(ve),
                        (None, f) => f,
                        (Some(((_, t), span)), _) => {
                            self.needs(span, &name.name, "a condition", t);
                            return None;
                        }
                    };
                    if op == CollOp::All && pred.is_none() {
                        self.err(
                            Diagnostic::error(codes::BAD_CALL, e.span, "`all` needs a condition")
                                .label("all records ... what?")
                                .hint(format!("e.g. `all({kind} where passed)`")),
                        );
                        return None;
                    }
                    (pred, None, Type::Bool)
                }
                CollOp::Sum | CollOp::Avg | CollOp::Max | CollOp::Min => {
                    let Some(((ve, t), span)) = value else {
                        self.err(
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
                    if t != Type::Number {
                        self.needs(span, &name.name, "numbers", t);
                        return None;
                    }
                    (Some(ve), filter, Type::Number)
                }
            };
            return Some((
                AExpr::Agg(Box::new(yingji_engine::assess::Aggregate {
                    op,
                    kind: k,
                    value,
                    filter,
                })),
                ty,
            ));
        }
        if name.name == "last_period" || name.name == "上期" {
            if in_prior {
                self.err(
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
                self.err(
                    Diagnostic::error(
                        codes::BAD_CALL,
                        e.span,
                        format!("`last_period` takes 1 argument, got {}", args.len()),
                    )
                    .label("e.g. last_period(sum(accident.deaths))"),
                );
                return None;
            };
            let (x, t) = self.aexpr(&arg.expr, true)?;
            return Some((AExpr::Prior(Box::new(x)), t));
        }
        let builtin = match builtin(&name.name, args.len()) {
            Some(b) => b,
            None => {
                let other = name.name.as_str();
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
                let d = Diagnostic::error(
                    codes::BAD_CALL,
                    name.span,
                    format!("unknown function or wrong arguments: `{other}`"),
                )
                .label(format!("with {} argument(s)", args.len()))
                .did_you_mean(
                    suggest(other, known).filter(|s| *s != other),
                    Some(format!("functions: {}", known.join(", "))),
                );
                self.err(d);
                return None;
            }
        };
        let mut out = Vec::new();
        for a in args {
            if let Some(f) = &a.filter {
                self.no_filter(f.span, format!("`{}` takes no `where` filter", name.name));
                return None;
            }
            let (ae, at) = self.aexpr(&a.expr, in_prior)?;
            self.expect(
                &a.expr,
                at,
                Type::Number,
                &format!("an argument of `{}`", name.name),
            )?;
            out.push(ae);
        }
        Some((AExpr::Call(builtin, out), Type::Number))
    }

    fn number(&mut self, e: &ast::Expr, what: &str) -> Option<f64> {
        match e.kind {
            ExprKind::Num(n) => Some(n),
            _ => {
                self.err(
                    Diagnostic::error(
                        acodes::SHAPE,
                        e.span,
                        format!("{what} must be a plain number"),
                    )
                    .label("expected e.g. `20`"),
                );
                None
            }
        }
    }

    fn duration(&mut self, e: &ast::Expr, what: &str) -> Option<i64> {
        match e.kind {
            ExprKind::Duration(ms) if ms > 0 => Some(ms),
            _ => {
                self.err(
                    Diagnostic::error(
                        codes::BAD_DURATION,
                        e.span,
                        format!("{what} must be a positive duration"),
                    )
                    .label("expected e.g. `1h`, `30m`, `7d`"),
                );
                None
            }
        }
    }

    fn grading(&mut self, g: &GradingDef) {
        let Some(kind) = self.kind_id(&g.kind) else {
            return;
        };
        if self
            .kinds
            .get(&g.kind.name)
            .is_some_and(|k| k.fields.contains_key(&g.field.name))
        {
            self.err(
                Diagnostic::error(
                    codes::DUPLICATE,
                    g.field.span,
                    format!(
                        "`{}` records already have a field `{}`",
                        g.kind.name, g.field.name
                    ),
                )
                .label("the grade would overwrite it")
                .hint("write the grade to a new field name"),
            );
            return;
        }
        let mut grades: Vec<String> = Vec::new();
        for name in g
            .rules
            .iter()
            .map(|r| &r.grade)
            .chain(std::iter::once(&g.otherwise))
        {
            if grades.contains(&name.name) {
                self.listed_twice(name, "grade");
                return;
            }
            grades.push(name.name.clone());
        }
        let n = grades.len();
        let slot = self.slot(&g.field.name);
        // the rules may compare with this grading's own names
        let gi = self.p.gradings.len();
        self.p.gradings.push(Grading {
            name: g.name.name.clone(),
            at: self.at(g.name.span),
            kind,
            slot,
            grades,
            rules: Vec::new(),
        });
        let mut rules = Vec::new();
        for (i, r) in g.rules.iter().enumerate() {
            let Some(when) = self.condition(&r.when, &g.kind.name, "a grade condition") else {
                continue;
            };
            rules.push(GradeRule {
                rank: (n - i) as u8,
                when,
                text: format!("{} when {}", r.grade.name, self.text(r.when.span)),
            });
        }
        if let Some(gr) = self.p.gradings.get_mut(gi) {
            gr.rules = rules;
        }
        if let Some(k) = self.kinds.get_mut(&g.kind.name) {
            k.fields.insert(g.field.name.clone(), (slot, Type::Number));
        }
        if let Some(k) = self.p.kinds.get_mut(usize::from(kind)) {
            k.fields.push(RecordField {
                name: g.field.name.clone(),
                slot,
                ty: Type::Number,
                optional: true,
            });
        }
    }

    fn roster(&mut self, r: &RosterDef, seen: &mut HashMap<String, Span>) {
        let again = format!("a roster of `{}` is already defined", r.unit_type.name);
        if !self.first_definition(seen, &r.unit_type, again) {
            return;
        }
        let mut units: Vec<String> = Vec::new();
        for u in &r.units {
            if units.contains(&u.name) {
                self.listed_twice(u, "unit");
                continue;
            }
            units.push(u.name.clone());
        }
        self.p.rosters.push(Roster {
            unit_type: r.unit_type.name.clone(),
            units,
            at: self.at(r.unit_type.span),
        });
    }

    fn deadlines(&mut self, d: &DeadlinesDef) {
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
                                acodes::SHAPE,
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
                        acodes::SHAPE,
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
                                acodes::SHAPE,
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

    fn assessment(&mut self, a: &AssessmentDef) {
        let period = match a.period.name.as_str() {
            "year" | "年" | "年度" => Some(PeriodUnit::Year),
            "quarter" | "季度" => Some(PeriodUnit::Quarter),
            "month" | "月" | "月度" => Some(PeriodUnit::Month),
            other => {
                let d = Diagnostic::error(
                    acodes::SHAPE,
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
                Diagnostic::warning(acodes::NO_ROSTER, a.unit_type.span, format!("no roster of `{}` units", a.unit_type.name))
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
                        acodes::SHAPE,
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
            let Some(expr) = self.aexpr_of(&c.expr, Type::Number, "a criterion's points") else {
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
                        Diagnostic::warning(acodes::WEIGHTS, t.span, format!("the weights add up to {sum}, but the declared total is {total}"))
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
            let Some(when) = self.aexpr_of(&v.when, Type::Bool, "a veto condition") else {
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
                        Diagnostic::error(acodes::SHAPE, q.span, format!("bands must go from the highest minimum down: `{}` >= {min} comes after `{prev}` >= {pmin}", g.name))
                            .label("not below the band before")
                            .hint("the first band whose minimum the score reaches wins"),
                    );
                    continue;
                }
            }
            if min > total {
                self.err(
                    Diagnostic::warning(
                        acodes::WEIGHTS,
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

/// Checks and lowers every `grading`, `deadlines`, `roster` and `assessment`
/// of `defs` (with the `event` declarations as record kinds). Diagnostics
/// cover only these definitions; the signal lowering reports the rest.
pub fn compile(defs: &[Def], sources: &SourceMap) -> (AssessProgram, Vec<Diagnostic>) {
    let mut c = Compiler {
        sources,
        p: AssessProgram::default(),
        kinds: HashMap::new(),
        diags: Vec::new(),
    };
    let uses_records = defs.iter().any(|d| {
        matches!(
            d,
            Def::Grading(_) | Def::Deadlines(_) | Def::Roster(_) | Def::Assessment(_)
        )
    });
    if !uses_records {
        return (c.p, c.diags);
    }
    for d in defs {
        if let Def::Event(e) = d {
            if c.kinds.contains_key(&e.name.name) {
                continue;
            }
            if DERIVED_KINDS.contains(&e.name.name.as_str())
                && defs.iter().any(|d| matches!(d, Def::Deadlines(_)))
            {
                c.err(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        e.name.span,
                        format!("`{}` is a record kind the deadlines derive", e.name.name),
                    )
                    .label("reserved name")
                    .hint("rename this event kind"),
                );
                continue;
            }
            let fields: Vec<(String, Type, bool)> = e
                .fields
                .iter()
                .filter_map(|f| Some((f.name.name.clone(), type_of(&f.ty.name)?, f.optional)))
                .collect();
            c.add_kind(&e.name.name, &fields, false);
        }
    }
    let mut seen: HashMap<String, Span> = HashMap::new();
    for d in defs {
        if let Def::Grading(g) = d {
            let again = format!("grading `{}` is defined twice", g.name.name);
            if c.first_definition(&mut seen, &g.name, again) {
                c.grading(g);
            }
        }
    }
    let mut rosters = HashMap::new();
    for d in defs {
        if let Def::Roster(r) = d {
            c.roster(r, &mut rosters);
        }
    }
    if defs.iter().any(|d| matches!(d, Def::Deadlines(_))) {
        let common = [
            ("deadlines".to_string(), Type::String, false),
            ("stage".to_string(), Type::String, false),
            ("subject".to_string(), Type::String, false),
        ];
        let mut late = common.to_vec();
        late.push(("late_minutes".to_string(), Type::Number, false));
        c.add_kind("report_late", &late, true);
        c.add_kind("report_missing", &common, true);
    }
    let mut seen: HashMap<String, Span> = HashMap::new();
    for d in defs {
        if let Def::Deadlines(dl) = d {
            let again = format!("deadlines `{}` are defined twice", dl.name.name);
            if c.first_definition(&mut seen, &dl.name, again) {
                c.deadlines(dl);
            }
        }
    }
    let mut seen: HashMap<String, Span> = HashMap::new();
    for d in defs {
        if let Def::Assessment(a) = d {
            let again = format!("assessment `{}` is defined twice", a.name.name);
            if c.first_definition(&mut seen, &a.name, again) {
                c.assessment(a);
            }
        }
    }
    (c.p, c.diags)
}
