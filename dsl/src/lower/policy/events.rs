//! Event kinds: `event rain { station: string, mm: number, note: string? }`.

use super::{Kind, Lowerer};
use crate::diag::{Diagnostic, codes, suggest};
use crate::syntax::ast;
use std::collections::HashMap;
use yingji_engine::ir::{FieldDef, KindDef};
use yingji_engine::value::Type;

impl Lowerer<'_> {
    pub(super) fn event(&mut self, e: &ast::EventDef) {
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
}
