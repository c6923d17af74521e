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

use super::OrderedMap;
use crate::diag::{Diagnostic, FileId, Span, codes, offset_of};
use crate::syntax::ast::{
    ClearSpec, Def, EventDef, FieldDecl, ForSpec, Ident, LevelRule, SignalDef,
};
use crate::syntax::yj::parse_expr;
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;

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
    /// `name: { key value: { column: value } }`.
    #[serde(default)]
    pub tables: Option<OrderedMap<OrderedMap<OrderedMap<Spanned<Cell>>>>>,
}

/// A table cell: a number or a string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// A number.
    Num(f64),
    /// Text.
    Text(String),
}

/// A level rule in YAML: the condition alone, or with options.
#[derive(Debug)]
pub enum LevelYaml {
    /// `red: r3 >= 100`
    When(String),
    /// `yellow: { when: ..., for: 30m | 3 readings, clear_below: ..., hold: 2h }`
    Full(Box<LevelOpts>),
}

// Not `#[serde(untagged)]`: that buffers the value and loses every location inside it.
impl<'de> Deserialize<'de> for LevelYaml {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LevelYaml;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a condition, or a mapping with `when` and options")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LevelYaml, E> {
                Ok(LevelYaml::When(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<LevelYaml, A::Error> {
                LevelOpts::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(|o| LevelYaml::Full(Box::new(o)))
            }
        }
        d.deserialize_any(V)
    }
}

/// The options of a level rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelOpts {
    /// The condition.
    pub when: Spanned<String>,
    /// `30m` or `3 readings`.
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    /// Hysteresis: clear when the tested value falls below this.
    pub clear_below: Option<Spanned<String>>,
    /// Hysteresis: clear when the tested value rises above this.
    pub clear_above: Option<Spanned<String>>,
    /// Hysteresis: clear when this holds.
    pub clear_when: Option<Spanned<String>>,
    /// Delayed clear.
    pub hold: Option<Spanned<String>>,
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
    pub levels: Option<OrderedMap<Spanned<LevelYaml>>>,
    /// De-escalate one level at a time.
    #[serde(default)]
    pub step_down: bool,
    /// Default hold for every level (`2h`).
    pub clear_after: Option<Spanned<String>>,
    /// Absence detection (`30m`).
    pub missing: Option<Spanned<String>>,
    /// Keys expected from the start.
    #[serde(default)]
    pub roster: Vec<String>,
    /// This signal's allowed lateness.
    pub lateness: Option<Spanned<String>>,
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
    (
        Span::new(file, start, start + len.max(s.value.len())),
        content,
    )
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
                Some((_, rest)) if first.starts_with("error: line ") => {
                    rest.split_once(": ").map_or(rest, |(_, r)| r)
                }
                _ => first,
            }
            .to_string();
            let len = text.get(offset..).map_or(1, |t| {
                t.find(|c: char| c.is_whitespace() || c == ':')
                    .unwrap_or(t.len())
                    .max(1)
            });
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
            partition: None,
        }));
    }
    for (name, rows) in doc.tables.map(|m| m.0).unwrap_or_default() {
        let name = ident(file, text, &name);
        let rows = rows
            .0
            .iter()
            .map(|(k, cells)| {
                let cells = cells
                    .0
                    .iter()
                    .map(|(c, v)| {
                        let (span, _) = (value_span_any(file, v), ());
                        let kind = match &v.value {
                            Cell::Num(n) => crate::syntax::ast::ExprKind::Num(*n),
                            Cell::Text(t) => crate::syntax::ast::ExprKind::Str(t.clone()),
                        };
                        (
                            ident(file, text, c),
                            crate::syntax::ast::Expr { kind, span },
                        )
                    })
                    .collect();
                (ident(file, text, k), cells)
            })
            .collect();
        defs.push(Def::Table(crate::syntax::ast::TableDef {
            span: name.span,
            name,
            rows,
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
            match e.value {
                LevelYaml::When(w) => {
                    let e = Spanned::new(w, e.referenced, e.defined);
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
                LevelYaml::Full(o) => {
                    let Some(when) = expr(&o.when, &mut diags) else {
                        continue;
                    };
                    let for_ = o.for_.as_ref().and_then(|f| {
                        let t = f.value.trim();
                        let n = t
                            .trim_end_matches("readings")
                            .trim_end_matches("reading")
                            .trim();
                        if n.len() < t.len() {
                            n.parse::<u32>().ok().map(ForSpec::Readings).or_else(|| {
                                diags.push(bad_duration(file, text, f));
                                None
                            })
                        } else {
                            duration(file, text, f, &mut diags).map(|(ms, _)| ForSpec::Duration(ms))
                        }
                    });
                    let clear = if let Some(c) = &o.clear_below {
                        expr(c, &mut diags).map(ClearSpec::Below)
                    } else if let Some(c) = &o.clear_above {
                        expr(c, &mut diags).map(ClearSpec::Above)
                    } else if let Some(c) = &o.clear_when {
                        expr(c, &mut diags).map(ClearSpec::When)
                    } else {
                        None
                    };
                    let hold = o
                        .hold
                        .as_ref()
                        .and_then(|h| duration(file, text, h, &mut diags));
                    levels.push(LevelRule {
                        span: level.span,
                        level,
                        when,
                        for_,
                        clear,
                        hold,
                    });
                }
            }
        }
        let clear_after = s
            .clear_after
            .as_ref()
            .and_then(|d| duration(file, text, d, &mut diags));
        let missing = s
            .missing
            .as_ref()
            .and_then(|d| duration(file, text, d, &mut diags));
        let lateness = s
            .lateness
            .as_ref()
            .and_then(|d| duration(file, text, d, &mut diags));
        let roster = s
            .roster
            .iter()
            .map(|k| crate::syntax::ast::Expr {
                kind: crate::syntax::ast::ExprKind::Str(k.clone()),
                span: name.span,
            })
            .collect();
        defs.push(Def::Signal(SignalDef {
            span: name.span,
            name,
            from,
            filter,
            key,
            via: None,
            timezone: None,
            lets,
            levels,
            step_down: s.step_down,
            clear_after,
            missing,
            roster,
            lateness,
        }));
    }
    (defs, diags)
}

fn value_span_any<T>(file: FileId, s: &Spanned<T>) -> Span {
    let start = s.referenced.span().byte_offset().unwrap_or(0) as usize;
    let len = s.referenced.span().byte_len().unwrap_or(1) as usize;
    Span::new(file, start, start + len)
}

fn bad_duration(file: FileId, text: &str, s: &Spanned<String>) -> Diagnostic {
    let (span, _) = value_span(file, text, s);
    Diagnostic::error(
        codes::BAD_DURATION,
        span,
        format!("`{}` is not a duration", s.value),
    )
    .label("expected a duration like `30m`, or `N readings` after `for`")
    .hint("durations are written like `30s`, `10m`, `3h`, `1d`")
}

/// A YAML value that must be a duration (`30m`), parsed by the `.yj` grammar.
fn duration(
    file: FileId,
    text: &str,
    s: &Spanned<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<(i64, Span)> {
    let (span, content) = value_span(file, text, s);
    match parse_expr(file, content, &s.value) {
        Ok(crate::syntax::ast::Expr {
            kind: crate::syntax::ast::ExprKind::Duration(ms),
            ..
        }) if ms > 0 => Some((ms, span)),
        Ok(_) => {
            diags.push(bad_duration(file, text, s));
            None
        }
        Err(mut ds) => {
            diags.append(&mut ds);
            None
        }
    }
}
