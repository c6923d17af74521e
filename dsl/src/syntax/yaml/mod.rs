//! The YAML front ends (serde-saphyr, every value located): policy
//! documents ([`policy`]) and plan, chain and roster documents ([`plan`]).
//! Expressions inside YAML are parsed by the `.yj` expression grammar at
//! their YAML position.

pub mod plan;
pub mod policy;

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::marker::PhantomData;

/// The top-level keys of a YAML mapping (empty if it is not one). A
/// duplicate key further in does not hide them: which kind of document a
/// file is must not depend on its mistakes (the real parse reports those).
pub fn top_keys(text: &str) -> Vec<String> {
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::FirstWins,
    };
    serde_saphyr::from_str_with_options::<OrderedMap<serde::de::IgnoredAny>>(text, options)
        .map(|m| m.0.into_iter().map(|(k, _)| k.value).collect())
        .unwrap_or_default()
}

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

/// What a serde-saphyr error says, in authors' words, without its place (a
/// diagnostic shows the place itself): the first line of the message less
/// serde-saphyr's `error: line L column C: ` prefix; a duplicate key is
/// named as such. The one translation of YAML errors (policy and plan
/// documents here, the service's YAML files in `yingji-serve`).
///
/// ```
/// let e = serde_saphyr::from_str::<std::collections::BTreeMap<String, u32>>("x: 1\nx: 2\n").unwrap_err();
/// assert_eq!(yingji_dsl::syntax::yaml::error_message(&e), "duplicate key `x`: each key may appear once in a mapping");
/// ```
pub fn error_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML");
    let msg = first
        .strip_prefix("error: line ")
        .and_then(|rest| rest.split_once(": "))
        .map_or(first, |(_, m)| m);
    match msg.strip_prefix("duplicate mapping key: ") {
        Some(rest) => {
            let key = rest
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(rest);
            format!("duplicate key `{key}`: each key may appear once in a mapping")
        }
        None => msg.to_string(),
    }
}

/// Where a serde-saphyr error is in `text`: the byte range of the token it
/// points at (the start of the text when it names no place).
pub fn error_range(text: &str, e: &serde_saphyr::Error) -> std::ops::Range<usize> {
    let (line, col) = e
        .location()
        .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
    let start = crate::diag::offset_of(text, line, col);
    let len = text.get(start..).map_or(1, |t| {
        t.find(|c: char| c.is_whitespace() || c == ':')
            .unwrap_or(t.len())
            .max(1)
    });
    start..start + len
}
