//! Policies: definitions → [`yingji_engine::ir::Program`].
//!
//! Event kinds (`events`) and tables (`tables`) first, script functions
//! (`scripts`), then each signal (`signals`): its fields, key, `where`
//! and `let`s, its level rules (`levels`) and the windows they read
//! (`windows`). Every expression is typed by the one typer in a signal
//! scope (`scope`); every problem becomes a [`Diagnostic`] and checking
//! goes on, so an author sees all mistakes of all files at once.

mod events;
mod levels;
mod scope;
pub mod scripts;
mod signals;
mod tables;
mod windows;

use crate::diag::{Diagnostic, SourceMap, Span, codes};
use crate::syntax::ast::Def;
use std::collections::HashMap;
use yingji_engine::ir::{FieldId, Program};
use yingji_engine::value::Type;

/// The result of lowering: a program (possibly partial) and the diagnostics.
pub struct Lowered {
    /// The compiled program; only meaningful when no error was reported.
    pub program: Program,
    /// Errors and warnings, in source order per file.
    pub diagnostics: Vec<Diagnostic>,
}

/// A declared event kind: its id and fields (name → slot, type).
struct Kind {
    id: u16,
    fields: HashMap<String, (FieldId, Type)>,
}

/// A table's columns: name → (index, type).
type Columns = HashMap<String, (u16, Type)>;

/// Tables by name: (index, columns).
type Tables = HashMap<String, (u16, Columns)>;

struct Lowerer<'a> {
    sources: &'a SourceMap,
    program: Program,
    field_ids: HashMap<String, FieldId>,
    kinds: HashMap<String, Kind>,
    diags: Vec<Diagnostic>,
    tables: Tables,
    /// Script functions by name.
    script_sigs: HashMap<String, scripts::Sig>,
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
        script_sigs: HashMap::new(),
    };
    let (scripts, sigs) = scripts::lower_scripts(defs, sources, &mut l.diags);
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
                l.diags.push(
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
