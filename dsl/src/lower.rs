//! Validation and lowering: AST → [`yingji_engine::ir::Program`].
//!
//! One pass resolves names (fields, `let`s, functions, kinds), checks types,
//! and emits the IR; every problem becomes a [`Diagnostic`] and checking goes
//! on, so an author sees all mistakes of all files at once.

use crate::ast::{self, Def, ExprKind, Ident};
use crate::diag::{Diagnostic, SourceMap, Span, codes, suggest};
use std::collections::HashMap;
use yingji_engine::ir::{
    self, Agg, BinOp, Builtin, Expr, FieldDef, FieldId, KindDef, LetDef, Place, Program, SignalDef,
    UnOp, WindowDef,
};
use yingji_engine::value::{Level, Type, Value};

/// The result of lowering: a program (possibly partial) and the diagnostics.
pub struct Lowered {
    /// The compiled program; only meaningful when no error was reported.
    pub program: Program,
    /// Errors and warnings, in source order per file.
    pub diagnostics: Vec<Diagnostic>,
}

struct Kind {
    id: u16,
    fields: HashMap<String, (FieldId, Type)>,
}

/// A table's columns: name → (index, type).
type Columns = HashMap<String, (u16, Type)>;

struct Lowerer<'a> {
    sources: &'a SourceMap,
    program: Program,
    field_ids: HashMap<String, FieldId>,
    kinds: HashMap<String, Kind>,
    diags: Vec<Diagnostic>,
    /// Table name → (index, column name → (index, type)).
    tables: HashMap<String, (u16, Columns)>,
    /// The table the current signal reads, and where it is first used.
    cur_table: Option<(u16, String)>,
    /// Script functions by name.
    script_sigs: HashMap<String, crate::script::Sig>,
}

/// What names an expression may use.
struct Env<'e> {
    /// Fields visible (name → slot, type).
    fields: &'e HashMap<String, (FieldId, Type)>,
    /// `let`s visible (name → index, type).
    lets: &'e [(String, Type)],
    /// Windows of the signal, if windows are allowed here.
    windows: Option<&'e mut Vec<WindowDef>>,
    /// The part of the signal the expression is in (whether it may call
    /// script functions is [`Place::scripts_allowed`]).
    place: Place,
}

impl Lowerer<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn field_id(&mut self, name: &str) -> FieldId {
        if let Some(&id) = self.field_ids.get(name) {
            return id;
        }
        let id = self.program.fields.len() as FieldId;
        self.program.fields.push(name.to_string());
        self.field_ids.insert(name.to_string(), id);
        id
    }

    fn event(&mut self, e: &ast::EventDef) {
        if self.kinds.contains_key(&e.name.name) {
            self.err(
                Diagnostic::error(
                    codes::DUPLICATE,
                    e.name.span,
                    format!("event kind `{}` is declared twice", e.name.name),
                )
                .label("second declaration"),
            );
            return;
        }
        let mut fields = HashMap::new();
        let mut defs = Vec::new();
        for f in &e.fields {
            let ty = match f.ty.name.as_str() {
                "number" | "数值" => Type::Number,
                "string" | "text" | "文本" => Type::String,
                "bool" | "布尔" => Type::Bool,
                other => {
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_TYPE,
                        f.ty.span,
                        format!("unknown type `{other}`"),
                    )
                    .label("expected number, string or bool");
                    if let Some(s) = suggest(other, ["number", "string", "bool"]) {
                        d = d.hint(format!("did you mean `{s}`?"));
                    }
                    self.err(d);
                    continue;
                }
            };
            if fields.contains_key(&f.name.name) {
                self.err(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        f.name.span,
                        format!("field `{}` is declared twice", f.name.name),
                    )
                    .label("second declaration"),
                );
                continue;
            }
            if matches!(f.name.name.as_str(), "ts" | "kind" | "id") {
                self.err(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        f.name.span,
                        format!("`{}` is a built-in member of every event", f.name.name),
                    )
                    .label("cannot be declared as a field"),
                );
                continue;
            }
            let id = self.field_id(&f.name.name);
            fields.insert(f.name.name.clone(), (id, ty));
            defs.push(FieldDef {
                id,
                ty,
                optional: f.optional,
            });
        }
        let id = self.program.kinds.len() as u16;
        self.program.kinds.push(KindDef {
            name: e.name.name.clone(),
            fields: defs,
        });
        self.kinds.insert(e.name.name.clone(), Kind { id, fields });
    }

    fn table(&mut self, t: &ast::TableDef) {
        if self.tables.contains_key(&t.name.name) {
            self.err(
                Diagnostic::error(
                    codes::DUPLICATE,
                    t.name.span,
                    format!("table `{}` is defined twice", t.name.name),
                )
                .label("second definition"),
            );
            return;
        }
        let mut columns: Vec<(String, Type)> = Vec::new();
        for (_, cells) in &t.rows {
            for (c, v) in cells {
                let ty = if matches!(v.kind, ExprKind::Str(_)) {
                    Type::String
                } else {
                    Type::Number
                };
                match columns.iter().find(|(n, _)| n == &c.name) {
                    Some((_, t0)) if *t0 != ty => self.err(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            v.span,
                            format!("column `{}` holds a {t0} in other rows", c.name),
                        )
                        .label(format!("this is a {ty}")),
                    ),
                    Some(_) => {}
                    None => columns.push((c.name.clone(), ty)),
                }
            }
        }
        let mut rows = Vec::new();
        let mut keys: HashMap<&str, Span> = HashMap::new();
        for (k, cells) in &t.rows {
            if let Some(first) = keys.insert(&k.name, k.span) {
                let at = self.sources.location(first);
                self.err(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        k.span,
                        format!("row `{}` appears twice in table `{}`", k.name, t.name.name),
                    )
                    .label(format!("first at {at}")),
                );
                continue;
            }
            let row = columns
                .iter()
                .map(|(c, _)| {
                    cells
                        .iter()
                        .find(|(n, _)| &n.name == c)
                        .map_or(Value::Null, |(_, v)| match &v.kind {
                            ExprKind::Str(s) => Value::from(s.as_str()),
                            ExprKind::Num(n) => Value::Num(*n),
                            _ => Value::Null,
                        })
                })
                .collect();
            rows.push((k.name.clone(), row));
        }
        let idx = self.program.tables.len() as u16;
        self.tables.insert(
            t.name.name.clone(),
            (
                idx,
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, (c, ty))| (c.clone(), (i as u16, *ty)))
                    .collect(),
            ),
        );
        self.program.tables.push(ir::TableDef {
            name: t.name.name.clone(),
            columns: columns.into_iter().map(|(c, _)| c).collect(),
            rows,
        });
    }

    fn signal(&mut self, s: &ast::SignalDef) -> Option<SignalDef> {
        self.cur_table = None;
        if s.from.is_empty() {
            self.err(
                Diagnostic::error(
                    codes::MISSING,
                    s.name.span,
                    format!("signal `{}` has no `from` clause", s.name.name),
                )
                .label("which events feed this signal?")
                .hint("add e.g. `from rain`"),
            );
        }
        // fields visible: those every `from` kind declares, with one type
        let mut visible: Option<HashMap<String, (FieldId, Type)>> = None;
        let mut kind_ids = Vec::new();
        let mut all_fields: Vec<String> = Vec::new();
        for k in &s.from {
            match self.kinds.get(&k.name) {
                Some(kind) => {
                    kind_ids.push(kind.id);
                    all_fields.extend(kind.fields.keys().cloned());
                    visible = Some(match visible {
                        None => kind.fields.clone(),
                        Some(v) => v
                            .into_iter()
                            .filter(|(n, t)| kind.fields.get(n) == Some(t))
                            .collect(),
                    });
                }
                None => {
                    let names: Vec<&str> = self.kinds.keys().map(String::as_str).collect();
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_KIND,
                        k.span,
                        format!("no event kind `{}` is declared", k.name),
                    )
                    .label("unknown event kind");
                    d = match suggest(&k.name, names.iter().copied()) {
                        Some(n) => d.hint(format!("did you mean `{n}`?")),
                        None => d.hint(format!(
                            "declare it: `event {} {{ field: number, ... }}`",
                            k.name
                        )),
                    };
                    self.err(d);
                }
            }
        }
        let from_ok = kind_ids.len() == s.from.len() && !s.from.is_empty();
        let visible = visible.unwrap_or_default();
        let key = match &s.key {
            None => {
                self.err(
                    Diagnostic::error(
                        codes::MISSING,
                        s.name.span,
                        format!("signal `{}` has no `key` clause", s.name.name),
                    )
                    .label("what partitions its state?")
                    .hint("add e.g. `key station` (one warning state per station)"),
                );
                None
            }
            Some(k) => match visible.get(&k.name) {
                Some(&(id, Type::String | Type::Number)) => Some(id),
                Some(&(_, t)) => {
                    self.err(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            k.span,
                            format!("key `{}` is a {t}", k.name),
                        )
                        .label("a key must be a string or a number"),
                    );
                    None
                }
                None if from_ok => {
                    self.unknown_name(
                        k,
                        &visible,
                        &[],
                        "not a field of the events this signal reads",
                    );
                    None
                }
                None => None,
            },
        };
        let filter = s.filter.as_ref().and_then(|f| {
            let mut env = Env {
                fields: &visible,
                lets: &[],
                windows: None,
                place: Place::Filter,
            };
            let (e, t) = self.expr(f, &mut env, from_ok)?;
            self.expect_bool(f, t, "a `where` condition")?;
            Some(e)
        });
        let mut windows = Vec::new();
        let mut lets: Vec<(String, Type)> = Vec::new();
        let mut let_defs = Vec::new();
        for (name, e) in &s.lets {
            if lets.iter().any(|(n, _)| n == &name.name) {
                self.err(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        name.span,
                        format!("`{}` is defined twice in this signal", name.name),
                    )
                    .label("second definition"),
                );
                continue;
            }
            let mut env = Env {
                fields: &visible,
                lets: &lets,
                windows: Some(&mut windows),
                place: Place::Let,
            };
            let lowered = self.expr(e, &mut env, from_ok);
            let ty = lowered.as_ref().map(|(_, t)| *t);
            if ty == Some(Type::Duration) {
                self.err(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        e.span,
                        "a duration can only be a window's length",
                    )
                    .label("use it inside a window function, e.g. `sum(mm, 3h)`"),
                );
            }
            lets.push((name.name.clone(), ty.unwrap_or(Type::Number)));
            let_defs.push(LetDef {
                name: name.name.clone(),
                expr: lowered.map_or(Expr::Const(Value::Null), |(e, _)| e),
            });
        }
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
            let mut env = Env {
                fields: &visible,
                lets: &lets,
                windows: Some(&mut windows),
                place: Place::Level,
            };
            let Some((when, t)) = self.expr(&r.when, &mut env, from_ok) else {
                continue;
            };
            if self.expect_bool(&r.when, t, "a level condition").is_none() {
                continue;
            }
            let clear = match &r.clear {
                None => None,
                Some(ast::ClearSpec::When(c)) => {
                    let mut env = Env {
                        fields: &visible,
                        lets: &lets,
                        windows: Some(&mut windows),
                        place: Place::Clear,
                    };
                    let Some((ce, ct)) = self.expr(c, &mut env, from_ok) else {
                        continue;
                    };
                    if self
                        .expect_bool(c, ct, "a `clear when` condition")
                        .is_none()
                    {
                        continue;
                    }
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
                    let mut env = Env {
                        fields: &visible,
                        lets: &lets,
                        windows: Some(&mut windows),
                        place: Place::Clear,
                    };
                    let (Some((le, lt)), Some((xe, xt))) = (
                        self.expr(lhs, &mut env, from_ok),
                        self.expr(x, &mut env, from_ok),
                    ) else {
                        continue;
                    };
                    if lt != Type::Number || xt != Type::Number {
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
        if s.levels.is_empty() && s.missing.is_none() {
            self.err(
                Diagnostic::error(codes::MISSING, s.name.span, format!("signal `{}` has no level rules", s.name.name))
                    .label("no `level ... when ...`")
                    .hint("add e.g. `level red when r3 >= 100` (or `missing 30m` for a device-offline signal)"),
            );
        }
        crate::lint::level_thresholds(s, &mut self.diags);
        let mut roster = Vec::new();
        for r in &s.roster {
            match &r.kind {
                ExprKind::Str(k) => roster.push(k.clone()),
                ExprKind::Path(p) if p.len() == 1 => {
                    roster.extend(p.iter().map(|i| i.name.clone()))
                }
                _ => self.err(
                    Diagnostic::error(codes::TYPE_MISMATCH, r.span, "a roster lists key values")
                        .label("expected a string like \"YY-001\""),
                ),
            }
        }
        if !roster.is_empty() && s.missing.is_none() {
            self.err(
                Diagnostic::warning(
                    codes::MISSING,
                    s.name.span,
                    "a roster is only used with `missing`",
                )
                .label("roster without absence detection"),
            );
        }
        Some(SignalDef {
            step_down: s.step_down,
            missing_ms: s.missing.map(|(ms, _)| ms),
            roster,
            lateness_ms: s.lateness.map(|(ms, _)| ms),
            table: self.cur_table.take().map(|(t, _)| t),
            name: s.name.name.clone(),
            at: self.sources.location(s.name.span),
            kinds: kind_ids,
            filter,
            key: key?,
            windows,
            lets: let_defs,
            levels,
        })
    }

    fn expect_bool(&mut self, e: &ast::Expr, t: Type, what: &str) -> Option<()> {
        if t == Type::Bool {
            return Some(());
        }
        self.err(
            Diagnostic::error(
                codes::TYPE_MISMATCH,
                e.span,
                format!("{what} must be true or false, but this is a {t}"),
            )
            .label(format!("this is a {t}"))
            .hint("compare it, e.g. `r3 >= 50`"),
        );
        None
    }

    fn unknown_name(
        &mut self,
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
        self.err(d);
    }

    /// Lowers and type-checks an expression. `report_unknown` is false when
    /// the signal's kinds are already in error (to avoid a cascade).
    ///
    /// This recurses once per tree level, which the front-end limits bound
    /// (see [`crate::limits`]). The recursive path keeps its frames small:
    /// leaves and diagnostics are handled in helpers that do not recurse, so
    /// the deepest tree the limits allow lowers within a 512 KiB stack.
    fn expr(
        &mut self,
        e: &ast::Expr,
        env: &mut Env<'_>,
        report_unknown: bool,
    ) -> Option<(Expr, Type)> {
        match &e.kind {
            ExprKind::Unary(op, x) => {
                let inner = self.expr(x, env, report_unknown)?;
                self.unary(*op, x.span, inner)
            }
            ExprKind::Binary(op, a, b) => {
                let l = self.expr(a, env, report_unknown);
                let r = self.expr(b, env, report_unknown);
                self.binary(e.span, *op, l?, r?)
            }
            ExprKind::In(x, items) => self.in_list(x, items, env, report_unknown),
            ExprKind::Call(name, args) => self.call(e, name, args, env, report_unknown),
            _ => self.leaf(e, env, report_unknown),
        }
    }

    /// `x in [a, b, …]`.
    fn in_list(
        &mut self,
        x: &ast::Expr,
        items: &[ast::Expr],
        env: &mut Env<'_>,
        report_unknown: bool,
    ) -> Option<(Expr, Type)> {
        let (xe, t) = self.expr(x, env, report_unknown)?;
        let mut list = Vec::new();
        for i in items {
            let (ie, it) = self.expr(i, env, report_unknown)?;
            if it != t {
                self.list_item_mismatch(i.span, it, t);
                return None;
            }
            list.push(ie);
        }
        Some((Expr::In(Box::new(xe), list), Type::Bool))
    }

    #[inline(never)]
    fn list_item_mismatch(&mut self, span: Span, it: Type, t: Type) {
        self.err(
            Diagnostic::error(
                codes::TYPE_MISMATCH,
                span,
                format!("list item is a {it}, but the value tested is a {t}"),
            )
            .label(format!("expected a {t}")),
        );
    }

    /// Type-checks `op x` once `x` is lowered.
    #[inline(never)]
    fn unary(&mut self, op: UnOp, span: Span, (xe, t): (Expr, Type)) -> Option<(Expr, Type)> {
        let want = if op == UnOp::Not {
            Type::Bool
        } else {
            Type::Number
        };
        if t != want {
            let sym = if op == UnOp::Not { "not" } else { "-" };
            self.err(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    span,
                    format!("`{sym}` needs a {want}, not a {t}"),
                )
                .label(format!("this is a {t}")),
            );
            return None;
        }
        Some((Expr::Unary(op, Box::new(xe)), want))
    }

    /// Type-checks and folds `a op b` once both sides are lowered.
    #[inline(never)]
    fn binary(
        &mut self,
        span: Span,
        op: BinOp,
        (ae, at): (Expr, Type),
        (be, bt): (Expr, Type),
    ) -> Option<(Expr, Type)> {
        let op = &op;
        let e_span = span;
        let result = match op {
            BinOp::And | BinOp::Or => (at == Type::Bool && bt == Type::Bool).then_some(Type::Bool),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                (at == Type::Number && bt == Type::Number).then_some(Type::Number)
            }
            BinOp::Eq | BinOp::Ne => (at == bt && at != Type::Duration).then_some(Type::Bool),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                (at == bt && matches!(at, Type::Number | Type::String)).then_some(Type::Bool)
            }
        };
        let Some(t) = result else {
            let sym = op.symbol();
            let (msg, hint) = if at != bt {
                (
                    format!("cannot apply `{sym}` to a {at} and a {bt}"),
                    match (at, bt) {
                        (Type::String, Type::Number) | (Type::Number, Type::String) => {
                            "compare numbers with numbers and strings with strings (\"...\")"
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
                Diagnostic::error(codes::TYPE_MISMATCH, e_span, msg)
                    .label(format!("left is a {at}, right is a {bt}"))
                    .hint(hint),
            );
            return None;
        };
        // fold constants
        if let (Expr::Const(x), Expr::Const(y)) = (&ae, &be) {
            if !matches!(op, BinOp::And | BinOp::Or) && t != Type::Duration {
                return Some((Expr::Const(yingji_engine::eval::binary(*op, x, y)), t));
            }
        }
        Some((Expr::Binary(*op, Box::new(ae), Box::new(be)), t))
    }

    /// The leaves: literals, names, and the misplaced `every` and lists.
    #[inline(never)]
    fn leaf(
        &mut self,
        e: &ast::Expr,
        env: &mut Env<'_>,
        report_unknown: bool,
    ) -> Option<(Expr, Type)> {
        Some(match &e.kind {
            ExprKind::Invalid => return None,
            ExprKind::Every(_) => {
                self.err(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        e.span,
                        "`every` can only be a window's length",
                    )
                    .label("use it inside a window function, e.g. `sum(mm, every 1h)`"),
                );
                return None;
            }
            ExprKind::Num(n) => (Expr::Const(Value::Num(*n)), Type::Number),
            ExprKind::Str(s) => (Expr::Const(Value::from(s.as_str())), Type::String),
            ExprKind::Bool(b) => (Expr::Const(Value::Bool(*b)), Type::Bool),
            ExprKind::Duration(ms) => (Expr::Const(Value::Num(*ms as f64)), Type::Duration),
            ExprKind::Path(parts) => {
                if let [t, c] = parts.as_slice() {
                    return self.column(t, c);
                }
                let [id] = parts.as_slice() else {
                    let span = parts
                        .first()
                        .map_or(e.span, |p| p.span)
                        .to(parts.last().map_or(e.span, |p| p.span));
                    self.err(
                        Diagnostic::error(
                            codes::UNKNOWN_NAME,
                            span,
                            "dotted names are not supported here",
                        )
                        .label("expected a field or `let` name"),
                    );
                    return None;
                };
                if let Some(i) = env.lets.iter().position(|(n, _)| n == &id.name) {
                    let t = env.lets.get(i).map_or(Type::Number, |(_, t)| *t);
                    (Expr::Let(i as u16), t)
                } else if let Some(&(f, t)) = env.fields.get(&id.name) {
                    (Expr::Field(f), t)
                } else if let Some(level) =
                    Level::parse(&id.name).filter(|_| !id.name.chars().all(|c| c.is_ascii_digit()))
                {
                    // a level name used as a value: its rank
                    (
                        Expr::Const(Value::Num(f64::from(level as u8))),
                        Type::Number,
                    )
                } else {
                    if report_unknown {
                        let label = if env.windows.is_some() {
                            "not a field of the events this signal reads, nor a `let` defined above"
                        } else {
                            "not a field of the events this signal reads"
                        };
                        let (fields, lets) = (env.fields, env.lets);
                        self.unknown_name(id, fields, lets, label);
                    }
                    return None;
                }
            }
            ExprKind::List(_) => {
                self.err(
                    Diagnostic::error(codes::TYPE_MISMATCH, e.span, "a list can only follow `in`")
                        .label("unexpected list"),
                );
                return None;
            }
            ExprKind::Unary(..) | ExprKind::Binary(..) | ExprKind::In(..) | ExprKind::Call(..) => {
                return self.expr(e, env, report_unknown);
            }
        })
    }

    fn column(&mut self, t: &Ident, c: &Ident) -> Option<(Expr, Type)> {
        let Some((ti, cols)) = self.tables.get(&t.name) else {
            let names: Vec<&str> = self.tables.keys().map(String::as_str).collect();
            let mut d = Diagnostic::error(
                codes::UNKNOWN_NAME,
                t.span,
                format!("no table `{}` is defined", t.name),
            )
            .label("unknown table");
            if let Some(s) = suggest(&t.name, names.iter().copied()) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            self.err(d);
            return None;
        };
        let ti = *ti;
        let Some(&(ci, ty)) = cols.get(&c.name) else {
            let names: Vec<&str> = cols.keys().map(String::as_str).collect();
            let mut d = Diagnostic::error(
                codes::UNKNOWN_NAME,
                c.span,
                format!("table `{}` has no column `{}`", t.name, c.name),
            )
            .label("unknown column");
            if let Some(s) = suggest(&c.name, names.iter().copied()) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            self.err(d);
            return None;
        };
        match &self.cur_table {
            Some((other, name)) if *other != ti => {
                let name = name.clone();
                self.err(
                    Diagnostic::error(
                        codes::BAD_CALL,
                        t.span,
                        format!("a signal reads one table; this one already reads `{name}`"),
                    )
                    .label("second table"),
                );
                return None;
            }
            _ => self.cur_table = Some((ti, t.name.clone())),
        }
        Some((Expr::Column(ci), ty))
    }

    /// Records a diagnostic built by `f`. Its temporaries live in the
    /// closure's frame rather than in the recursive caller's, which keeps the
    /// frames of nested calls small (see [`crate::limits`]).
    #[inline(never)]
    fn err_with(&mut self, f: impl FnOnce() -> Diagnostic) {
        let d = f();
        self.err(d);
    }

    #[inline(never)]
    fn unknown_function(&mut self, other: &str, span: Span) {
        let mut known: Vec<&str> = crate::script::RESERVED.to_vec();
        known.extend(self.script_sigs.keys().map(String::as_str));
        let mut d = Diagnostic::error(codes::BAD_CALL, span, format!("unknown function `{other}`"))
            .label("not a built-in or script function");
        d = match suggest(other, known.iter().copied()) {
            Some(s) => d.hint(format!("did you mean `{s}`?")),
            None => d.hint(format!("functions: {}", known.join(", "))),
        };
        self.err(d);
    }

    fn call(
        &mut self,
        e: &ast::Expr,
        name: &Ident,
        args: &[ast::Arg],
        env: &mut Env<'_>,
        report_unknown: bool,
    ) -> Option<(Expr, Type)> {
        if let Some(a) = args.iter().find_map(|a| a.filter.as_ref()) {
            self.err_with(|| {
                Diagnostic::error(
                    codes::BAD_CALL,
                    a.span,
                    format!("`{}` takes no `where` filter here", name.name),
                )
                .label("`where` filters apply to record collections in assessments")
            });
            return None;
        }
        let agg = match name.name.as_str() {
            "sum" => Some(Agg::Sum),
            "avg" => Some(Agg::Avg),
            "count" => Some(Agg::Count),
            "first" => Some(Agg::First),
            "last" => Some(Agg::Last),
            "delta" => Some(Agg::Delta),
            "rate" => Some(Agg::Rate),
            "count_if" => Some(Agg::CountIf),
            "min" | "max" => {
                let is_window = args.len() == 2
                    && args.get(1).is_some_and(|a| {
                        matches!(
                            a.expr.kind,
                            ExprKind::Duration(_) | ExprKind::Every(_) | ExprKind::Invalid
                        )
                    });
                if is_window {
                    Some(if name.name == "min" {
                        Agg::Min
                    } else {
                        Agg::Max
                    })
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(agg) = agg {
            let [input, dur] = args else {
                self.err_with(|| {
                    Diagnostic::error(
                        codes::BAD_CALL,
                        e.span,
                        format!("`{}` takes 2 arguments, got {}", name.name, args.len()),
                    )
                    .label("expected a value and a window length")
                    .hint(format!("e.g. `{}(mm, 3h)`", name.name))
                });
                return None;
            };
            if dur.expr.kind == ExprKind::Invalid {
                return None;
            }
            let (ms, tumbling) = match dur.expr.kind {
                ExprKind::Duration(ms) => (ms, false),
                ExprKind::Every(ms) => (ms, true),
                _ => (0, false),
            };
            if !matches!(dur.expr.kind, ExprKind::Duration(_) | ExprKind::Every(_)) {
                self.err_with(|| {
                    Diagnostic::error(
                        codes::BAD_CALL,
                        dur.expr.span,
                        format!("the second argument of `{}` must be a duration", name.name),
                    )
                    .label(
                        "expected a window length like `3h`, or `every 1h` for a tumbling window",
                    )
                });
                return None;
            }
            if ms <= 0 {
                self.err_with(|| {
                    Diagnostic::error(
                        codes::BAD_DURATION,
                        dur.expr.span,
                        "a window must be longer than zero",
                    )
                    .label("zero-length window")
                });
                return None;
            }
            let fields = env.fields;
            let mut inner = Env {
                fields,
                lets: &[],
                windows: None,
                place: Place::WindowInput,
            };
            let (ie, it) = self.expr(&input.expr, &mut inner, report_unknown)?;
            let want = if agg == Agg::CountIf {
                Type::Bool
            } else {
                Type::Number
            };
            if it != want {
                let what = if want == Type::Bool {
                    "a condition"
                } else {
                    "numbers"
                };
                self.err_with(|| {
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        input.expr.span,
                        format!("`{}` needs {what}, but this is a {it}", name.name),
                    )
                    .label(format!("this is a {it}"))
                    .hint("window functions aggregate a numeric field, e.g. `sum(mm, 3h)`")
                });
                return None;
            }
            let Some(windows) = env.windows.as_deref_mut() else {
                self.err_with(|| {
                    Diagnostic::error(codes::BAD_CALL, e.span, "windows cannot be used here")
                        .label("only `let`s and level rules can use windows")
                });
                return None;
            };
            let def = WindowDef {
                agg,
                input: ie,
                duration_ms: ms,
                tumbling,
            };
            let idx = match windows.iter().position(|w| *w == def) {
                Some(i) => i,
                None => {
                    windows.push(def);
                    windows.len() - 1
                }
            };
            return Some((Expr::Window(idx as u16), Type::Number));
        }
        if let Some(sig) = self.script_sigs.get(&name.name).cloned() {
            return self.script_call(e, name, &sig, args, env, report_unknown);
        }
        let builtin = match name.name.as_str() {
            "abs" => Builtin::Abs,
            "min" => Builtin::Min,
            "max" => Builtin::Max,
            other => {
                self.unknown_function(other, name.span);
                return None;
            }
        };
        let arity_ok = match builtin {
            Builtin::Abs => args.len() == 1,
            Builtin::Min | Builtin::Max => !args.is_empty(),
        };
        if !arity_ok {
            self.err_with(|| {
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
                    format!(
                        "`{}` takes {} argument(s), got {}",
                        name.name,
                        if builtin == Builtin::Abs {
                            "1"
                        } else {
                            "1 or more"
                        },
                        args.len()
                    ),
                )
                .label("wrong number of arguments")
            });
            return None;
        }
        let mut lowered = Vec::new();
        for a in args {
            let (ae, at) = self.expr(&a.expr, env, report_unknown)?;
            if at != Type::Number {
                self.err_with(|| {
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        a.expr.span,
                        format!("`{}` needs numbers, but this is a {at}", name.name),
                    )
                    .label(format!("this is a {at}"))
                });
                return None;
            }
            lowered.push(ae);
        }
        Some((Expr::Call(builtin, lowered), Type::Number))
    }

    /// A call of a script function: arity and argument types as declared.
    fn script_call(
        &mut self,
        e: &ast::Expr,
        name: &Ident,
        sig: &crate::script::Sig,
        args: &[ast::Arg],
        env: &mut Env<'_>,
        report_unknown: bool,
    ) -> Option<(Expr, Type)> {
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
        let at = self.sources.location(sig.span);
        if let Some(problem) = env.place.script_problem() {
            self.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    e.span,
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
            return None;
        }
        if args.len() != sig.params.len() {
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
            let Some((ae, at_ty)) = self.expr(&a.expr, env, report_unknown) else {
                ok = false;
                continue;
            };
            if at_ty != *want {
                self.err_with(|| {
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        a.expr.span,
                        format!(
                            "argument `{p}` of `{}` is a {want}, but this is a {at_ty}",
                            name.name
                        ),
                    )
                    .label(format!("this is a {at_ty}"))
                    .hint(format!("declared at {at} as `{decl}`"))
                });
                ok = false;
                continue;
            }
            lowered.push(ae);
        }
        ok.then_some((Expr::Script(sig.index, lowered), sig.ret))
    }
}

/// Validates and lowers definitions from any number of files.
pub fn lower(defs: &[Def], sources: &SourceMap) -> Lowered {
    let mut l = Lowerer {
        sources,
        program: Program::default(),
        field_ids: HashMap::new(),
        kinds: HashMap::new(),
        diags: Vec::new(),
        tables: HashMap::new(),
        cur_table: None,
        script_sigs: HashMap::new(),
    };
    let (scripts, sigs) = crate::script::lower_scripts(defs, sources, &mut l.diags);
    l.program.scripts = scripts;
    l.script_sigs = sigs;
    for d in defs {
        if let Def::Table(t) = d {
            l.table(t);
        }
    }
    for d in defs {
        if let Def::Event(e) = d {
            l.event(e);
        }
    }
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for d in defs {
        if let Def::Signal(s) = d {
            if let Some(first) = seen.get(s.name.name.as_str()) {
                let at = sources.location(*first);
                l.err(
                    Diagnostic::error(
                        codes::DUPLICATE,
                        s.name.span,
                        format!("signal `{}` is defined twice", s.name.name),
                    )
                    .label(format!("first defined at {at}"))
                    .hint(
                        "rename one of them; signal names must be unique across all loaded files",
                    ),
                );
                continue;
            }
            seen.insert(&s.name.name, s.name.span);
            if let Some(sig) = l.signal(s) {
                l.program.signals.push(sig);
            }
        }
    }
    Lowered {
        program: l.program,
        diagnostics: l.diags,
    }
}
