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

/// The top-level keys of a YAML mapping (empty if it is not one).
pub fn top_keys(text: &str) -> Vec<String> {
    serde_saphyr::from_str::<OrderedMap<serde::de::IgnoredAny>>(text)
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
