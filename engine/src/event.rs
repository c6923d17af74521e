//! Events: one JSON object per line, checked against the declared kinds.
//!
//! Parsing never builds a generic JSON tree: a serde visitor walks the object
//! once, keeps `ts`, `kind`, `id` and the fields some kind declares (looked up
//! by name to their slot), and skips everything else.

use crate::ir::{FieldId, KindId, Program};
use crate::time::{TimeError, Timestamp};
use crate::value::{Type, Value};
use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};

/// A parsed event.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// Event time.
    pub ts: Timestamp,
    /// Its kind, if some definition declares it (`None`: no definition uses it).
    pub kind: Option<KindId>,
    /// The `kind` text as sent.
    pub kind_name: Arc<str>,
    /// Optional sender-assigned id (used to recognise duplicates).
    pub id: Option<Arc<str>>,
    /// Field values by slot ([`Value::Null`] where absent).
    pub fields: Vec<Value>,
    /// Position in the input (1-based line number for JSONL), for explanations.
    pub seq: u64,
}

impl Event {
    /// An empty event at input position `seq` (a buffer to parse into).
    pub fn empty(seq: u64) -> Event {
        Event {
            ts: Timestamp::default(),
            kind: None,
            kind_name: Arc::from(""),
            id: None,
            fields: Vec::new(),
            seq,
        }
    }
}

/// Why an event line was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// A required member is missing.
    #[error("missing `{0}`")]
    Missing(&'static str),
    /// `ts` is not a valid timestamp.
    #[error("bad `ts`: {0}")]
    BadTime(#[from] TimeError),
    /// `ts` or `kind` or `id` is not a string.
    #[error("`{0}` must be a string")]
    NotString(&'static str),
    /// A declared field has a value of the wrong type.
    #[error("field `{field}` of a `{kind}` event must be a {expected}, got {got}")]
    WrongType {
        /// Event kind.
        kind: String,
        /// Field name.
        field: String,
        /// Declared type.
        expected: Type,
        /// What was sent.
        got: String,
    },
    /// A required declared field is absent.
    #[error("a `{kind}` event needs field `{field}`")]
    MissingField {
        /// Event kind.
        kind: String,
        /// Field name.
        field: String,
    },
    /// A declared field holds an array or object.
    #[error("field `{0}` is an {1}; fields must be numbers, strings or booleans")]
    Nested(String, &'static str),
    /// A declared field's value could not be read (e.g. a number out of range).
    #[error("field `{0}`: {1}")]
    BadValue(String, String),
    /// A number that is not finite.
    #[error("field `{0}` is not a finite number")]
    NotFinite(String),
}

/// Name → slot tables for fast parsing, built once from a [`Program`].
#[derive(Clone, Debug, Default)]
pub struct Schema {
    fields: FxHashMap<Box<str>, FieldId>,
    kinds: FxHashMap<Box<str>, KindId>,
    kind_names: Vec<Arc<str>>,
    nfields: usize,
    texts: TextCache,
}

/// Short string field values seen before (station ids, regions, kinds of
/// alarm), so that parsing a line shares their text instead of allocating
/// it again. Bounded: past [`TextCache::MAX_ENTRIES`] texts, new ones are
/// allocated as usual.
#[derive(Debug, Default)]
struct TextCache(Mutex<rustc_hash::FxHashSet<Arc<str>>>);

impl TextCache {
    const MAX_ENTRIES: usize = 1 << 20;
    const MAX_LEN: usize = 48;

    /// `s` as a shared string, from the cache when seen before.
    #[inline]
    fn get(&self, s: &str) -> Arc<str> {
        if s.len() > Self::MAX_LEN {
            return Arc::from(s);
        }
        // a poisoned or busy cache only costs an allocation
        let Ok(mut set) = self.0.try_lock() else {
            return Arc::from(s);
        };
        if let Some(a) = set.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if set.len() < Self::MAX_ENTRIES {
            set.insert(a.clone());
        }
        a
    }
}

impl Clone for TextCache {
    fn clone(&self) -> Self {
        TextCache::default()
    }
}

impl Schema {
    /// Builds the lookup tables.
    pub fn new(p: &Program) -> Schema {
        Schema {
            fields: p
                .fields
                .iter()
                .enumerate()
                .map(|(i, f)| (f.as_str().into(), i as FieldId))
                .collect(),
            kinds: p
                .kinds
                .iter()
                .enumerate()
                .map(|(i, k)| (k.name.as_str().into(), i as KindId))
                .collect(),
            kind_names: p.kinds.iter().map(|k| Arc::from(k.name.as_str())).collect(),
            nfields: p.fields.len(),
            texts: TextCache::default(),
        }
    }

    /// The slot of a field name.
    pub fn field(&self, name: &str) -> Option<FieldId> {
        self.fields.get(name).copied()
    }

    /// The id of a kind name.
    pub fn kind(&self, name: &str) -> Option<KindId> {
        self.kinds.get(name).copied()
    }

    /// Number of field slots.
    pub fn field_count(&self) -> usize {
        self.nfields
    }

    /// Parses one JSON line and checks it against the program's kinds.
    ///
    /// ```
    /// # use yingji_engine::{event::Schema, ir::*, value::*};
    /// let p = Program {
    ///     fields: vec!["mm".into()],
    ///     kinds: vec![KindDef { name: "rain".into(), fields: vec![FieldDef { id: 0, ty: Type::Number, optional: false }] }],
    ///     ..Default::default()
    /// };
    /// let s = Schema::new(&p);
    /// let e = s.parse(r#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","mm":4.2}"#, &p, 1).unwrap();
    /// assert_eq!(e.fields[0], Value::Num(4.2));
    /// assert!(s.parse(r#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","mm":"wet"}"#, &p, 2).is_err());
    /// ```
    pub fn parse(&self, line: &str, program: &Program, seq: u64) -> Result<Event, EventError> {
        let mut ev = Event::empty(seq);
        self.parse_into(line, program, seq, &mut ev)?;
        Ok(ev)
    }

    /// Like [`Schema::parse`], reusing `ev`'s buffers.
    pub fn parse_into(
        &self,
        line: &str,
        program: &Program,
        seq: u64,
        ev: &mut Event,
    ) -> Result<(), EventError> {
        ev.fields.clear();
        ev.fields.resize(self.nfields, Value::Null);
        ev.seq = seq;
        let mut raw = Raw {
            schema: self,
            ts: None,
            kind: None,
            id: None,
            fields: &mut ev.fields,
            problem: None,
        };
        let mut de = serde_json::Deserializer::from_str(line);
        if let Err(e) = (&mut raw).deserialize(&mut de).and_then(|()| de.end()) {
            return Err(raw
                .problem
                .take()
                .unwrap_or_else(|| EventError::NotJson(e.to_string())));
        }
        if let Some(p) = raw.problem.take() {
            return Err(p);
        }
        let ts = raw.ts.take().ok_or(EventError::Missing("ts"))?;
        let kind = raw.kind.take().ok_or(EventError::Missing("kind"))?;
        ev.id = raw.id.take();
        ev.ts = Timestamp::parse(&ts)?;
        ev.kind = self.kinds.get(kind.as_ref()).copied();
        ev.kind_name = match ev.kind.and_then(|k| self.kind_names.get(usize::from(k))) {
            Some(name) => name.clone(),
            None => Arc::from(kind.as_ref()),
        };
        let Some(def) = ev.kind.and_then(|k| program.kinds.get(usize::from(k))) else {
            // an undeclared kind carries no typed fields
            ev.fields.iter_mut().for_each(|v| *v = Value::Null);
            return Ok(());
        };
        for f in &def.fields {
            let name = || {
                program
                    .fields
                    .get(usize::from(f.id))
                    .cloned()
                    .unwrap_or_default()
            };
            let v = ev.fields.get(usize::from(f.id)).unwrap_or(&Value::Null);
            let ok = match (v, f.ty) {
                (Value::Null, _) if f.optional => true,
                (Value::Null, _) => {
                    return Err(EventError::MissingField {
                        kind: def.name.clone(),
                        field: name(),
                    });
                }
                (Value::Num(_), Type::Number)
                | (Value::Str(_), Type::String)
                | (Value::Bool(_), Type::Bool) => true,
                _ => false,
            };
            if !ok {
                return Err(EventError::WrongType {
                    kind: def.name.clone(),
                    field: name(),
                    expected: f.ty,
                    got: describe(v),
                });
            }
        }
        // fields the kind does not declare are not visible to rules
        if def.fields.len() != self.nfields {
            let mut declared = vec![false; self.nfields];
            for f in &def.fields {
                if let Some(d) = declared.get_mut(usize::from(f.id)) {
                    *d = true;
                }
            }
            for (v, d) in ev.fields.iter_mut().zip(declared) {
                if !d {
                    *v = Value::Null;
                }
            }
        }
        Ok(())
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the bool {b}"),
        Value::Num(n) => format!("the number {n}"),
        Value::Str(s) => format!("the string {s:?}"),
    }
}

struct Raw<'s, 'f, 'de> {
    schema: &'s Schema,
    ts: Option<Cow<'de, str>>,
    kind: Option<Cow<'de, str>>,
    id: Option<Arc<str>>,
    fields: &'f mut Vec<Value>,
    problem: Option<EventError>,
}

impl<'de> DeserializeSeed<'de> for &mut Raw<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut Raw<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "ts" | "kind" | "id" => {
                    let v: Scalar<'de> = map.next_value()?;
                    let Scalar::Str(s) = v else {
                        let name = match key.as_ref() {
                            "ts" => "ts",
                            "kind" => "kind",
                            _ => "id",
                        };
                        self.problem = Some(EventError::NotString(name));
                        return Err(de::Error::custom("bad member"));
                    };
                    match key.as_ref() {
                        "ts" => self.ts = Some(s),
                        "kind" => self.kind = Some(s),
                        _ => self.id = Some(Arc::from(s.as_ref())),
                    }
                }
                name => match self.schema.fields.get(name) {
                    Some(&slot) => {
                        let v: Scalar<'de> = match map.next_value() {
                            Ok(v) => v,
                            Err(e) => {
                                // e.g. `1e999`: name the field, not only the column
                                let why = e.to_string();
                                let what =
                                    why.split(" at line ").next().unwrap_or(&why).to_string();
                                self.problem = Some(EventError::BadValue(name.to_string(), what));
                                return Err(e);
                            }
                        };
                        let v = match v {
                            Scalar::Null => Value::Null,
                            Scalar::Bool(b) => Value::Bool(b),
                            Scalar::Num(n) if n.is_finite() => Value::Num(n),
                            Scalar::Num(_) => {
                                self.problem = Some(EventError::NotFinite(name.to_string()));
                                return Err(de::Error::custom("bad number"));
                            }
                            Scalar::Str(s) => Value::Str(self.schema.texts.get(s.as_ref())),
                            Scalar::Other(what) => {
                                self.problem = Some(EventError::Nested(name.to_string(), what));
                                return Err(de::Error::custom("nested value"));
                            }
                        };
                        if let Some(dst) = self.fields.get_mut(usize::from(slot)) {
                            *dst = v;
                        }
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                },
            }
        }
        Ok(())
    }
}

/// A JSON value as far as events need it: nested arrays/objects are only named.
enum Scalar<'de> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'de, str>),
    Other(&'static str),
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Num(n as f64))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Num(n as f64))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Num(n))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(s)))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar<'de>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Scalar<'de>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other("object"))
            }
        }
        d.deserialize_any(V)
    }
}
