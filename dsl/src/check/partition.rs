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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
mod tests {
    use crate::load::{MemLoader, load};

    fn check(text: &str) -> (Option<super::Partition>, Vec<String>) {
        let l = load(&MemLoader(vec![("p.yj".into(), text.into())]));
        let errs = l
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.render(&l.sources))
            .collect();
        (l.partition, errs)
    }

    const SIG: &str = "signal x { from rain key station level red when mm >= 1 }\n";

    #[test]
    fn a_declared_partition_is_returned() {
        let (p, errs) = check(&format!(
            "event rain partition by county {{ county: string, station: string, mm: number }}\n{SIG}"
        ));
        assert!(errs.is_empty(), "{errs:?}");
        let p = p.unwrap();
        assert_eq!(p.field, "county");
        assert_eq!(p.kinds, vec!["rain".to_string()]);
        let (none, errs) = check(&format!(
            "event rain {{ station: string, mm: number }}\n{SIG}"
        ));
        assert!(errs.is_empty() && none.is_none());
    }

    #[test]
    fn wrong_partitions_are_errors_at_their_place() {
        let cases = [
            (
                "event rain partition by county { station: string, mm: number }\n",
                "1:25",
                "which it does not declare",
            ),
            (
                "event rain partition by county { county: number, station: string, mm: number }\n",
                "1:42",
                "a partition field is text",
            ),
            (
                "event rain partition by county { county: string?, station: string, mm: number }\n",
                "1:34",
                "is optional",
            ),
            (
                "event rain partition by county { county: string, station: string, mm: number }\nevent gauge { station: string }\n",
                "2:7",
                "declares no partition field",
            ),
            (
                "event rain partition by county { county: string, station: string, mm: number }\nevent gauge partition by town { town: string }\n",
                "2:26",
                "another kind by `county`",
            ),
        ];
        for (text, place, msg) in cases {
            let (_, errs) = check(&format!("{text}{SIG}"));
            assert_eq!(errs.len(), 1, "{text}: {errs:?}");
            assert!(errs[0].contains("E0304"), "{}", errs[0]);
            assert!(
                errs[0].contains(&format!("p.yj:{place}")),
                "{text}: {}",
                errs[0]
            );
            assert!(errs[0].contains(msg), "{}", errs[0]);
        }
    }

    #[test]
    fn the_formatter_keeps_the_clause() {
        let text = "event rain   partition  by county { county: string, mm: number }\n";
        let f = crate::fmt::format_yj(0, text).unwrap();
        assert!(f.contains("event rain partition by county {"), "{f}");
        assert_eq!(crate::fmt::format_yj(0, &f).unwrap(), f);
    }
}
