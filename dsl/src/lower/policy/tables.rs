//! Per-key data tables (`table 水文站 { "YY-H01": { 警戒水位: 175.0 } }`) and
//! the columns signals read (`水文站.警戒水位`).

use super::{Lowerer, Tables};
use crate::check::{Ty, Typer};
use crate::diag::{Diagnostic, Span, codes, suggest};
use crate::syntax::ast::{self, ExprKind, Ident};
use std::collections::HashMap;
use yingji_engine::ir::{self, Expr};
use yingji_engine::value::{Type, Value};

impl Lowerer<'_> {
    pub(super) fn table(&mut self, t: &ast::TableDef) {
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
                let ty = if matches!(v.kind, ExprKind::Str(_) | ExprKind::List(_)) {
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
                            // a membership read as a value: its names, 、-separated
                            ExprKind::List(l) => Value::from(
                                l.iter()
                                    .filter_map(|x| match &x.kind {
                                        ExprKind::Str(s) => Some(s.as_str()),
                                        _ => None,
                                    })
                                    .collect::<Vec<_>>()
                                    .join("、")
                                    .as_str(),
                            ),
                            ExprKind::Num(n) => Value::Num(*n),
                            _ => Value::Null,
                        })
                })
                .collect();
            rows.push((k.name.clone(), row));
            for (c, v) in cells {
                let names: Vec<String> = match &v.kind {
                    ExprKind::Str(s) => vec![s.clone()],
                    ExprKind::List(l) => l
                        .iter()
                        .filter_map(|x| match &x.kind {
                            ExprKind::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => continue,
                };
                self.memberships
                    .entry((t.name.name.clone(), c.name.clone()))
                    .or_default()
                    .push((k.name.clone(), names));
            }
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
}

/// `table.column`: a column of the one table a signal may read (`current`
/// is the table it reads so far, and its name).
pub(super) fn column(
    ty: &mut Typer<'_>,
    tables: &Tables,
    current: &mut Option<(u16, String)>,
    t: &Ident,
    c: &Ident,
) -> Option<(Expr, Ty)> {
    let Some((ti, cols)) = tables.get(&t.name) else {
        let names: Vec<&str> = tables.keys().map(String::as_str).collect();
        let mut d = Diagnostic::error(
            codes::UNKNOWN_NAME,
            t.span,
            format!("no table `{}` is defined", t.name),
        )
        .label("unknown table");
        if let Some(s) = suggest(&t.name, names.iter().copied()) {
            d = d.hint(format!("did you mean `{s}`?"));
        }
        ty.err(d);
        return None;
    };
    let Some(&(ci, ct)) = cols.get(&c.name) else {
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
        ty.err(d);
        return None;
    };
    match current {
        Some((other, name)) if *other != *ti => {
            let name = name.clone();
            ty.err(
                Diagnostic::error(
                    codes::BAD_CALL,
                    t.span,
                    format!("a signal reads one table; this one already reads `{name}`"),
                )
                .label("second table"),
            );
            return None;
        }
        _ => *current = Some((*ti, t.name.clone())),
    }
    Some((Expr::Column(ci), Ty::from(ct)))
}
