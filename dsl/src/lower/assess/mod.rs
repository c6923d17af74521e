//! Assessments: definitions → [`yingji_engine::assess::AssessProgram`].
//!
//! Event kinds become record kinds (here); gradings (`grading`) add a
//! graded field; unit rosters (`roster`); reporting deadlines
//! (`deadlines`); assessments with their criteria, vetoes and bands
//! (`assessment`). Conditions over one record and expressions over a
//! unit's records are typed by the one typer in the scopes of `scope`.

mod assessment;
mod deadlines;
mod grading;
mod roster;
mod scope;

use crate::check::{Ty, Typer};
use crate::diag::{Diagnostic, SourceMap, Span, codes};
use crate::syntax::ast::{self, Def, ExprKind, Ident};
use scope::{Records, UnitScope};
use std::collections::HashMap;
use yingji_engine::assess::{AExpr, AssessProgram, RecordField, RecordKind, RecordKindId};
use yingji_engine::ir::{Expr, FieldId};
use yingji_engine::value::Type;

/// Record kinds the engine derives from deadline checks.
pub const DERIVED_KINDS: [&str; 2] = ["report_late", "report_missing"];

/// A record kind: its id and fields (name → slot, type).
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

    /// The record kinds and gradings the scopes read.
    fn records(&self) -> Records<'_> {
        Records {
            kinds: &self.kinds,
            gradings: &self.p.gradings,
        }
    }

    fn unknown_kind(&mut self, id: &Ident) {
        let d = self.records().unknown_kind(id);
        self.err(d);
    }

    fn unknown_field(&mut self, id: &Ident, kind: &str) {
        if let Some(d) = self.records().unknown_field(id, kind) {
            self.err(d);
        }
    }

    fn type_error(&mut self, span: Span, msg: String, label: String) {
        self.err(Diagnostic::error(codes::TYPE_MISMATCH, span, msg).label(label));
    }

    /// A condition over one record of `kind` (`what` names it in errors).
    fn condition(&mut self, e: &ast::Expr, kind: &str, what: &str) -> Option<Expr> {
        let Compiler {
            sources,
            p,
            kinds,
            diags,
        } = self;
        let records = Records {
            kinds,
            gradings: &p.gradings,
        };
        records.condition(&mut Typer::new(sources, diags, None), kind, e, what)
    }

    /// An expression over a unit's records that must be a `want`.
    fn unit_expr(&mut self, e: &ast::Expr, want: Ty, what: &str) -> Option<AExpr> {
        let Compiler {
            sources,
            p,
            kinds,
            diags,
        } = self;
        let records = Records {
            kinds,
            gradings: &p.gradings,
        };
        let mut ty = Typer::new(sources, diags, None);
        let mut scope = UnitScope {
            records,
            in_prior: false,
        };
        let (x, t) = ty.expr(&mut scope, e)?;
        ty.expect(e, t, want, what)?;
        Some(x)
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

    fn number(&mut self, e: &ast::Expr, what: &str) -> Option<f64> {
        match e.kind {
            ExprKind::Num(n) => Some(n),
            _ => {
                self.err(
                    Diagnostic::error(
                        codes::ASSESS_SHAPE,
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
