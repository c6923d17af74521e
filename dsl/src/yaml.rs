//! The YAML front end: the same definitions as `.yj`, as YAML documents.
//!
//! ```yaml
//! events:
//!   rain: { station: string, town: string, mm: number }
//! signals:
//!   暴雨预警:
//!     from: rain
//!     key: station
//!     let:
//!       r3: sum(mm, 3h)
//!     levels:
//!       red: r3 >= 100
//!       orange: r3 >= 50
//! ```
//!
//! Expressions are YAML strings parsed by the `.yj` expression grammar; their
//! diagnostics point inside the YAML file.

use crate::ast::{Def, EventDef, FieldDecl, Ident, LevelRule, SignalDef};
use crate::diag::{Diagnostic, FileId, Span, codes};
use crate::parse::parse_expr;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::marker::PhantomData;

/// A YAML mapping that keeps its order and the place of every key.
#[derive(Debug)]
pub struct OrderedMap<V>(pub Vec<(Spanned<String>, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct M<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for M<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(k) = m.next_key::<Spanned<String>>()? {
                    v.push((k, m.next_value()?));
                }
                Ok(OrderedMap(v))
            }
        }
        d.deserialize_map(M(PhantomData))
    }
}

/// A policy YAML document.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// `kind: { field: type }`.
    #[serde(default)]
    pub events: Option<OrderedMap<OrderedMap<Spanned<String>>>>,
    /// `name: { from, where, key, let, levels }`.
    #[serde(default)]
    pub signals: Option<OrderedMap<SignalYaml>>,
}

/// `from: rain` or `from: [rain, river_level]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One kind.
    One(Spanned<String>),
    /// Several kinds.
    Many(Vec<Spanned<String>>),
}

/// One signal in YAML.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalYaml {
    /// Event kinds.
    pub from: Option<OneOrMany>,
    /// Condition on events.
    #[serde(rename = "where")]
    pub filter: Option<Spanned<String>>,
    /// Key field.
    pub key: Option<Spanned<String>>,
    /// Named values.
    #[serde(rename = "let", default)]
    pub lets: Option<OrderedMap<Spanned<String>>>,
    /// `level: condition`, highest first.
    #[serde(default)]
    pub levels: Option<OrderedMap<Spanned<String>>>,
}

/// The place of a YAML value, and where its text starts (past a quote).
fn value_span(file: FileId, text: &str, s: &Spanned<String>) -> (Span, usize) {
    let loc = s.referenced;
    let start = loc.span().byte_offset().unwrap_or(0) as usize;
    let len = loc.span().byte_len().unwrap_or(0) as usize;
    let mut content = start;
    if matches!(text.as_bytes().get(start), Some(b'"' | b'\'')) {
        content += 1;
    }
    (Span::new(file, start, start + len.max(s.value.len())), content)
}

fn ident(file: FileId, text: &str, s: &Spanned<String>) -> Ident {
    let (span, _) = value_span(file, text, s);
    Ident {
        name: s.value.clone(),
        span,
    }
}

/// Parses a YAML policy document into definitions; never fails.
pub fn parse_yaml(file: FileId, text: &str) -> (Vec<Def>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let doc: PolicyDoc = match serde_saphyr::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let (line, col) = e
                .location()
                .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
            let offset = offset_of(text, line, col);
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid YAML");
            // the location is shown separately: drop serde-saphyr's `error: line L column C: ` prefix
            let first = match first.split_once(": ") {
                Some((_, rest)) if first.starts_with("error: line ") => rest.split_once(": ").map_or(rest, |(_, r)| r),
                _ => first,
            }
            .to_string();
            let len = text
                .get(offset..)
                .map_or(1, |t| t.find(|c: char| c.is_whitespace() || c == ':').unwrap_or(t.len()).max(1));
            diags.push(
                Diagnostic::error(codes::YAML, Span::new(file, offset, offset + len), format!("invalid policy YAML: {first}"))
                    .label("here")
                    .hint("a policy YAML file has top-level `events:` and `signals:`; see tests/twins/rainstorm.yaml"),
            );
            return (Vec::new(), diags);
        }
    };
    let mut defs = Vec::new();
    let expr = |s: &Spanned<String>, diags: &mut Vec<Diagnostic>| {
        let (_, content) = value_span(file, text, s);
        match parse_expr(file, content, &s.value) {
            Ok(e) => Some(e),
            Err(mut ds) => {
                diags.append(&mut ds);
                None
            }
        }
    };
    for (name, fields) in doc.events.map(|m| m.0).unwrap_or_default() {
        let name = ident(file, text, &name);
        let fields = fields
            .0
            .iter()
            .map(|(f, ty)| {
                let optional = ty.value.ends_with('?');
                let mut t = ident(file, text, ty);
                t.name = t.name.trim_end_matches('?').to_string();
                FieldDecl {
                    name: ident(file, text, f),
                    ty: t,
                    optional,
                }
            })
            .collect();
        defs.push(Def::Event(EventDef {
            span: name.span,
            name,
            fields,
        }));
    }
    for (name, s) in doc.signals.map(|m| m.0).unwrap_or_default() {
        let name = ident(file, text, &name);
        let from = match s.from {
            None => Vec::new(),
            Some(OneOrMany::One(k)) => k
                .value
                .split(',')
                .map(|part| {
                    let mut id = ident(file, text, &k);
                    id.name = part.trim().to_string();
                    id
                })
                .collect(),
            Some(OneOrMany::Many(ks)) => ks.iter().map(|k| ident(file, text, k)).collect(),
        };
        let filter = s.filter.as_ref().and_then(|f| expr(f, &mut diags));
        let key = s.key.as_ref().map(|k| ident(file, text, k));
        let mut lets = Vec::new();
        for (n, e) in s.lets.map(|m| m.0).unwrap_or_default() {
            if let Some(x) = expr(&e, &mut diags) {
                lets.push((ident(file, text, &n), x));
            }
        }
        let mut levels = Vec::new();
        for (l, e) in s.levels.map(|m| m.0).unwrap_or_default() {
            let level = ident(file, text, &l);
            if let Some(when) = expr(&e, &mut diags) {
                levels.push(LevelRule {
                    span: level.span,
                    level,
                    when,
                    for_: None,
                    clear: None,
                    hold: None,
                });
            }
        }
        defs.push(Def::Signal(SignalDef {
            span: name.span,
            name,
            from,
            filter,
            key,
            lets,
            levels,
            step_down: false,
            clear_after: None,
            missing: None,
            roster: Vec::new(),
            lateness: None,
        }));
    }
    (defs, diags)
}

fn offset_of(text: &str, line: usize, col: usize) -> usize {
    let mut off = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return off + l.char_indices().nth(col.saturating_sub(1)).map_or(l.len(), |(b, _)| b);
        }
        off += l.len();
    }
    text.len()
}
