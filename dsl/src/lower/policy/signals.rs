//! Signals: the fields their `from` kinds share, the `key`, the `where`
//! filter, the `let`s, absence (`missing`, `roster`) and lateness; the level
//! rules are in [`super::levels`].

use super::Lowerer;
use super::scope::{SignalScope, unknown_name};
use crate::check::{Ty, Typer};
use crate::diag::{Diagnostic, codes, suggest};
use crate::syntax::ast::{self, ExprKind};
use std::collections::HashMap;
use yingji_engine::ir::{
    Expr, Feed, FieldDef, FieldId, GroupDef, KindDef, LetDef, Place, SignalDef, Via, WindowDef,
};
use yingji_engine::value::{Type, Value};

/// What one signal's expressions see, built up as the signal is lowered.
pub(super) struct SignalState {
    /// The fields every `from` kind declares, with one type.
    visible: HashMap<String, (FieldId, Type)>,
    /// The `let`s so far.
    lets: Vec<(String, Type)>,
    /// The windows so far.
    windows: Vec<WindowDef>,
    /// Whether the `from` kinds are all known (else unknown names are not
    /// reported, to avoid a cascade).
    from_ok: bool,
    /// The table the signal reads, and its name.
    table: Option<(u16, String)>,
    /// The `from` kinds: name and id.
    from: Vec<(String, u16)>,
    /// The conditions of `days_since` calls.
    marks: Vec<Expr>,
    /// The member aggregates.
    groups: Vec<GroupDef>,
    /// Whether the keys are areas (`key … via`).
    via: bool,
    /// The offset of calendar functions (minutes east of UTC).
    offset: i16,
}

impl Lowerer<'_> {
    /// `from NAME` where `NAME` is a signal defined above: the kind of its
    /// level changes (`member`: the key that changed, `level` and `prior`:
    /// the new and the previous level's rank), made once per signal.
    fn fed_kind(&mut self, name: &str) {
        let Some(src) = self.program.signals.iter().position(|d| d.name == name) else {
            return;
        };
        let (key, level, prior) = (
            self.field_id("member"),
            self.field_id("level"),
            self.field_id("prior"),
        );
        let id = self.program.kinds.len() as u16;
        let field = |id, ty| FieldDef {
            id,
            ty,
            optional: false,
        };
        self.program.kinds.push(KindDef {
            name: name.to_string(),
            fields: vec![
                field(key, Type::String),
                field(level, Type::Number),
                field(prior, Type::Number),
            ],
        });
        self.kinds.insert(
            name.to_string(),
            super::Kind {
                id,
                fields: HashMap::from([
                    ("member".to_string(), (key, Type::String)),
                    ("level".to_string(), (level, Type::Number)),
                    ("prior".to_string(), (prior, Type::Number)),
                ]),
            },
        );
        if let Some(d) = self.program.signals.get_mut(src) {
            d.feeds = Some(Feed {
                kind: id,
                key,
                level,
                from: prior,
            });
        }
    }

    /// `key FIELD via TABLE.COLUMN`: the membership (member → areas).
    fn via(&mut self, s: &ast::SignalDef, t: &ast::Ident, c: &ast::Ident) -> Option<Via> {
        if s.missing.is_some() || !s.roster.is_empty() {
            self.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    t.span,
                    "absence (`missing`, `roster`) cannot be used with `via`",
                )
                .label("the keys here are areas, not senders")
                .hint("detect absence in a signal keyed by the member itself"),
            );
            return None;
        }
        let Some((_, cols)) = self.tables.get(&t.name) else {
            let names: Vec<&str> = self.tables.keys().map(String::as_str).collect();
            let mut d = Diagnostic::error(
                codes::UNKNOWN_NAME,
                t.span,
                format!("no table `{}` is defined", t.name),
            )
            .label("unknown table");
            if let Some(n) = suggest(&t.name, names.iter().copied()) {
                d = d.hint(format!("did you mean `{n}`?"));
            }
            self.err(d);
            return None;
        };
        let Some(m) = self.memberships.get(&(t.name.clone(), c.name.clone())) else {
            let mut names: Vec<&str> = cols.keys().map(String::as_str).collect();
            names.sort_unstable();
            let d =
                if cols.contains_key(&c.name) {
                    Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    c.span,
                    format!("column `{}` of `{}` does not hold area names", c.name, t.name),
                )
                .label("expected a name or a list of names per row")
                .hint("e.g. `风险区: \"宝塔风险区\"` or `风险区: [\"宝塔风险区\", \"龙洞风险区\"]`")
                } else {
                    let mut d = Diagnostic::error(
                        codes::UNKNOWN_NAME,
                        c.span,
                        format!("table `{}` has no column `{}`", t.name, c.name),
                    )
                    .label("unknown column");
                    if let Some(n) = suggest(&c.name, names.iter().copied()) {
                        d = d.hint(format!("did you mean `{n}`?"));
                    }
                    d
                };
            self.err(d);
            return None;
        };
        Some(Via { members: m.clone() })
    }

    /// Types `e` at `place` of the signal.
    pub(super) fn typed(
        &mut self,
        st: &mut SignalState,
        place: Place,
        e: &ast::Expr,
    ) -> Option<(Expr, Ty)> {
        self.in_scope(st, place, |ty, scope| ty.expr(scope, e))
    }

    /// Types `e` at `place`, a condition (`what` names it in errors).
    pub(super) fn condition(
        &mut self,
        st: &mut SignalState,
        place: Place,
        e: &ast::Expr,
        what: &str,
    ) -> Option<Expr> {
        self.in_scope(st, place, |ty, scope| ty.condition(scope, e, what))
    }

    fn in_scope<R>(
        &mut self,
        st: &mut SignalState,
        place: Place,
        f: impl FnOnce(&mut Typer<'_>, &mut SignalScope<'_>) -> R,
    ) -> R {
        let Lowerer {
            sources,
            diags,
            tables,
            script_sigs,
            kinds,
            ..
        } = self;
        let mut ty = Typer::new(sources, diags, Some(script_sigs));
        let (lets, windows, marks, groups): (&[(String, Type)], _, _, _) = match place {
            Place::Filter | Place::WindowInput => (&[], None, None, None),
            Place::Let | Place::Level | Place::Clear => (
                &st.lets,
                Some(&mut st.windows),
                Some(&mut st.marks),
                Some(&mut st.groups),
            ),
        };
        let mut scope = SignalScope {
            fields: &st.visible,
            lets,
            windows,
            place,
            report_unknown: st.from_ok,
            tables,
            table: &mut st.table,
            kinds,
            from: &st.from,
            marks,
            groups,
            via: st.via,
            offset: st.offset,
        };
        f(&mut ty, &mut scope)
    }

    pub(super) fn signal(&mut self, s: &ast::SignalDef) -> Option<SignalDef> {
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
        let mut from_names = Vec::new();
        let mut all_fields: Vec<String> = Vec::new();
        for k in &s.from {
            // a signal defined above: its level changes are this one's events
            if !self.kinds.contains_key(&k.name) {
                self.fed_kind(&k.name);
            }
            match self.kinds.get(&k.name) {
                Some(kind) => {
                    kind_ids.push(kind.id);
                    from_names.push((k.name.clone(), kind.id));
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
                            "declare it: `event {} {{ field: number, ... }}`, or name a signal defined above (its level changes)",
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
                    let mut ty = Typer::new(self.sources, &mut self.diags, None);
                    let label = "not a field of the events this signal reads";
                    unknown_name(&mut ty, k, &visible, &[], label);
                    None
                }
                None => None,
            },
        };
        let via = s.via.as_ref().and_then(|(t, c)| self.via(s, t, c));
        let mut st = SignalState {
            visible,
            lets: Vec::new(),
            windows: Vec::new(),
            from_ok,
            table: None,
            from: from_names,
            marks: Vec::new(),
            groups: Vec::new(),
            via: s.via.is_some(),
            offset: s
                .timezone
                .map_or(super::scope::LOCAL_OFFSET_MIN, |(o, _)| o),
        };
        if let (Some((t, _)), Some(_)) = (&s.via, &via)
            && let Some((ti, _)) = self.tables.get(&t.name)
        {
            st.table = Some((*ti, t.name.clone()));
        }
        let filter = s
            .filter
            .as_ref()
            .and_then(|f| self.condition(&mut st, Place::Filter, f, "a `where` condition"));
        let mut let_defs = Vec::new();
        for (name, e) in &s.lets {
            if st.lets.iter().any(|(n, _)| n == &name.name) {
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
            let lowered = self.typed(&mut st, Place::Let, e);
            let ty = lowered.as_ref().map(|(_, t)| *t);
            if ty == Some(Ty::Duration) {
                self.err(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        e.span,
                        "a duration can only be a window's length",
                    )
                    .label("use it inside a window function, e.g. `sum(mm, 3h)`"),
                );
            }
            st.lets.push((
                name.name.clone(),
                ty.and_then(Ty::engine).unwrap_or(Type::Number),
            ));
            let_defs.push(LetDef {
                name: name.name.clone(),
                expr: lowered.map_or(Expr::Const(Value::Null), |(e, _)| e),
            });
        }
        let levels = self.level_rules(s, &mut st);
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
        // a roster key its table has no row for: the rules cannot fire for it
        if let Some((t, tname)) = &st.table
            && let Some(table) = self.program.tables.get(usize::from(*t))
        {
            for r in &s.roster {
                let key = match &r.kind {
                    ExprKind::Str(k) => k.clone(),
                    ExprKind::Path(p) if p.len() == 1 => {
                        p.first().map(|i| i.name.clone()).unwrap_or_default()
                    }
                    _ => continue,
                };
                if !table.rows.iter().any(|(k, _)| *k == key) {
                    self.diags.push(
                        Diagnostic::warning(
                            codes::TABLE_MISS,
                            r.span,
                            format!("`{key}` has no row in table `{tname}`"),
                        )
                        .label("no row for this key")
                        .hint(format!(
                            "the rules of `{}` read `{tname}`, so they cannot fire for `{key}`; add its row (at run time each such key is reported once as `table_miss`)",
                            s.name.name
                        )),
                    );
                }
            }
        }
        Some(SignalDef {
            step_down: s.step_down,
            missing_ms: s.missing.map(|(ms, _)| ms),
            roster,
            lateness_ms: s.lateness.map(|(ms, _)| ms),
            table: st.table.take().map(|(t, _)| t),
            name: s.name.name.clone(),
            at: self.sources.location(s.name.span),
            kinds: kind_ids,
            filter,
            key: key?,
            windows: st.windows,
            marks: st.marks,
            groups: st.groups,
            via,
            feeds: None,
            lets: let_defs,
            levels,
        })
    }
}
