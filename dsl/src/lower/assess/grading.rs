//! Accident grading: `grading 事故等级 of accident as grade { grade 特别重大 when … else 一般 }`.

use super::Compiler;
use crate::diag::{Diagnostic, codes};
use crate::syntax::ast::assess::GradingDef;
use yingji_engine::assess::{GradeRule, Grading, RecordField};
use yingji_engine::value::Type;

impl Compiler<'_> {
    pub(super) fn grading(&mut self, g: &GradingDef) {
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
}
