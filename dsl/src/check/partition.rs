//! The partition field a worker group splits events by
//! (`event rain partition by county { county: string, … }`).
//!
//! Checked on the definitions as written: once any kind declares a
//! partition, every `event` kind declares one, all name the same field,
//! and that field is a declared, required text field of the kind.

use crate::diag::{Diagnostic, codes};
use crate::syntax::ast::{Def, EventDef};

/// The declared partition: the field and the kinds that carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// The field's name (e.g. `county`).
    pub field: String,
    /// The event kinds declaring it, in declaration order.
    pub kinds: Vec<String>,
}

/// The partition the definitions declare (`None` when no kind declares
/// one) and the problems with it, each at its span.
pub fn partition(defs: &[Def]) -> (Option<Partition>, Vec<Diagnostic>) {
    let events: Vec<&EventDef> = defs
        .iter()
        .filter_map(|d| match d {
            Def::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    let Some(first) = events.iter().find_map(|e| e.partition.as_ref()) else {
        return (None, Vec::new());
    };
    let mut diags = Vec::new();
    let mut kinds = Vec::new();
    for e in &events {
        let Some(p) = &e.partition else {
            diags.push(
                Diagnostic::error(
                    codes::PARTITION,
                    e.name.span,
                    format!(
                        "event kind `{}` declares no partition field, but `{}` partitions by `{}`",
                        e.name.name,
                        events
                            .iter()
                            .find(|k| k.partition.is_some())
                            .map_or("", |k| k.name.name.as_str()),
                        first.name
                    ),
                )
                .label("no `partition by`")
                .hint(format!(
                    "write `event {} partition by {} {{ … }}`: a worker group routes every event by one field",
                    e.name.name, first.name
                )),
            );
            continue;
        };
        if p.name != first.name {
            diags.push(
                Diagnostic::error(
                    codes::PARTITION,
                    p.span,
                    format!(
                        "event kind `{}` partitions by `{}`, another kind by `{}`",
                        e.name.name, p.name, first.name
                    ),
                )
                .label("a different partition field")
                .hint("one worker group partitions every kind by the same field"),
            );
            continue;
        }
        match e.fields.iter().find(|f| f.name.name == p.name) {
            None => diags.push(
                Diagnostic::error(
                    codes::PARTITION,
                    p.span,
                    format!(
                        "event kind `{}` partitions by `{}`, which it does not declare",
                        e.name.name, p.name
                    ),
                )
                .label("not a field of this kind")
                .hint(format!("declare it: `{}: string`", p.name)),
            ),
            Some(f) if !matches!(f.ty.name.as_str(), "string" | "text" | "文本") => diags.push(
                Diagnostic::error(
                    codes::PARTITION,
                    f.ty.span,
                    format!(
                        "partition field `{}` of `{}` is `{}`; a partition field is text",
                        p.name, e.name.name, f.ty.name
                    ),
                )
                .label("expected string")
                .hint("a partition value is a code such as a county code: declare it `string`"),
            ),
            Some(f) if f.optional => diags.push(
                Diagnostic::error(
                    codes::PARTITION,
                    f.name.span,
                    format!(
                        "partition field `{}` of `{}` is optional; every event needs it",
                        p.name, e.name.name
                    ),
                )
                .label("remove the `?`"),
            ),
            Some(_) => kinds.push(e.name.name.clone()),
        }
    }
    (
        Some(Partition {
            field: first.name.clone(),
            kinds,
        }),
        diags,
    )
}
