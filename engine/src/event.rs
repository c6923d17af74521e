//! Events: one JSON object per line, checked against the declared kinds.
//!
//! Parsing never builds a generic JSON tree: the [`crate::jsonl`] scanner
//! walks the line once, borrowing its text; `ts`, `kind`, `id` and the
//! fields some kind declares (looked up by name to their slot) are kept,
//! everything else is checked and skipped. A member the engine reads may
//! appear once (a second `mm` is an error, never "last wins"); a UTF-8 byte
//! order mark before the object is accepted.

use crate::ir::{FieldId, KindId, Program};
use crate::jsonl::{Key, Scalar, Scanner};
use crate::time::{TimeError, Timestamp};
use crate::value::{Type, Value};
use rustc_hash::FxHashMap;
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
    /// Makes this event a copy of `other`, reusing its field buffer.
    pub fn copy_from(&mut self, other: &Event) {
        self.ts = other.ts;
        self.kind = other.kind;
        self.kind_name.clone_from(&other.kind_name);
        self.id.clone_from(&other.id);
        self.fields.clone_from(&other.fields);
        self.seq = other.seq;
    }

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
    /// A member the engine reads appears twice.
    #[error("member `{0}` appears twice")]
    Duplicate(String),
}

/// Name → slot tables for fast parsing, built once from a [`Program`].
#[derive(Debug, Default)]
pub struct Schema {
    fields: FxHashMap<Box<str>, FieldId>,
    kinds: FxHashMap<Box<str>, KindId>,
    kind_names: Vec<Arc<str>>,
    /// Per kind, which slots it declares (the others are hidden from rules).
    declared: Vec<Box<[bool]>>,
    nfields: usize,
    texts: Mutex<TextCache>,
    /// This schema's number (see [`TextCache`]'s shape).
    id: u64,
}

/// Short string field values seen before (station ids, regions, kinds of
/// alarm), so that parsing a line shares their text instead of allocating
/// it again. Bounded: past [`TextCache::MAX_ENTRIES`] texts, new ones are
/// allocated as usual.
#[derive(Debug, Default)]
pub struct TextCache {
    texts: rustc_hash::FxHashSet<Arc<str>>,
    /// The schema the shape below belongs to.
    schema: u64,
    /// The previous line's members: each name in quotes and where it went
    /// (lines of a stream mostly share one shape, so a name is compared
    /// with its predecessor's bytes instead of scanned and looked up).
    shape: Vec<(Box<[u8]>, Dest)>,
    /// The previous line's `ts` text and its reading.
    ts: Option<(String, Timestamp)>,
}

impl TextCache {
    /// Texts kept at most.
    pub const MAX_ENTRIES: usize = 1 << 20;
    /// Longest text kept.
    pub const MAX_LEN: usize = 48;

    /// `s` as a shared string, from the cache when seen before.
    #[inline]
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if s.len() > Self::MAX_LEN {
            return Arc::from(s);
        }
        if let Some(a) = self.texts.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if self.texts.len() < Self::MAX_ENTRIES {
            self.texts.insert(a.clone());
        }
        a
    }

    /// The timestamp `text`, from the previous line's when the same.
    #[inline]
    fn timestamp(&mut self, text: &str) -> Result<Timestamp, TimeError> {
        let ts = match &self.ts {
            Some((last, ts)) if last == text => return Ok(*ts),
            Some((last, ts)) => Timestamp::parse_after(text, last, *ts)?,
            None => Timestamp::parse(text)?,
        };
        match &mut self.ts {
            Some((last, t)) => {
                last.clear();
                last.push_str(text);
                *t = ts;
            }
            None => self.ts = Some((text.to_string(), ts)),
        }
        Ok(ts)
    }
}

/// Schemas are numbered so that a cache knows whose shape it holds.
static SCHEMAS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Clone for Schema {
    fn clone(&self) -> Self {
        Schema {
            fields: self.fields.clone(),
            kinds: self.kinds.clone(),
            kind_names: self.kind_names.clone(),
            declared: self.declared.clone(),
            nfields: self.nfields,
            texts: Mutex::default(),
            id: self.id,
        }
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
            declared: p
                .kinds
                .iter()
                .map(|k| {
                    let mut d = vec![false; p.fields.len()];
                    for f in &k.fields {
                        if let Some(slot) = d.get_mut(usize::from(f.id)) {
                            *slot = true;
                        }
                    }
                    d.into_boxed_slice()
                })
                .collect(),
            nfields: p.fields.len(),
            texts: Mutex::default(),
            id: SCHEMAS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
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
        // a busy or poisoned cache only costs allocations
        match self.texts.try_lock() {
            Ok(mut texts) => self.parse_cached(line, program, seq, ev, &mut texts),
            Err(_) => self.parse_cached(line, program, seq, ev, &mut TextCache::default()),
        }
    }

    /// [`Schema::parse_into`] with the caller's text cache (no lock).
    pub fn parse_cached(
        &self,
        line: &str,
        program: &Program,
        seq: u64,
        ev: &mut Event,
        texts: &mut TextCache,
    ) -> Result<(), EventError> {
        ev.fields.clear();
        ev.fields.resize(self.nfields, Value::Null);
        ev.seq = seq;
        let not_json = |e: crate::jsonl::ScanError| EventError::NotJson(e.to_string());
        let mut sc = Scanner::new(line);
        sc.open().map_err(not_json)?;
        let (mut kbuf, mut vbuf) = (String::new(), String::new());
        let mut ts: Option<Timestamp> = None;
        let mut ts_err: Option<TimeError> = None;
        let mut kind: Option<Result<KindId, Arc<str>>> = None;
        let mut id: Option<Arc<str>> = None;
        let mut seen_id = false;
        // which slots were set (a member twice is an error)
        let mut set = 0u64;
        let mut set_more: Vec<bool> = Vec::new();
        if texts.schema != self.id {
            texts.schema = self.id;
            texts.shape.clear();
        }
        let mut member = 0;
        loop {
            // the member's name decides its destination, then is dropped
            let expect = texts.shape.get(member).map(|(q, _)| &q[..]);
            let dest = match sc.key_or(expect, &mut kbuf).map_err(not_json)? {
                Key::End => break,
                Key::Expected => texts.shape.get(member).map_or(Dest::Skip, |s| s.1),
                Key::Name(name) => {
                    let dest = match name {
                        "ts" => Dest::Ts,
                        "kind" => Dest::Kind,
                        "id" => Dest::Id,
                        name => match self.fields.get(name) {
                            Some(&slot) => Dest::Field(slot),
                            None => Dest::Skip,
                        },
                    };
                    // remembered for the next line, if its bytes can be compared
                    if member < 64 && !name.bytes().any(|c| c == b'"' || c == b'\\' || c < 0x20) {
                        let mut quoted = Vec::with_capacity(name.len() + 2);
                        quoted.push(b'"');
                        quoted.extend_from_slice(name.as_bytes());
                        quoted.push(b'"');
                        let entry = (quoted.into_boxed_slice(), dest);
                        if member < texts.shape.len() {
                            if let Some(slot) = texts.shape.get_mut(member) {
                                *slot = entry;
                            }
                        } else if texts.shape.len() == member {
                            texts.shape.push(entry);
                        }
                    }
                    dest
                }
            };
            member += 1;
            let twice = |d: &str| EventError::Duplicate(d.to_string());
            match dest {
                Dest::Skip => sc.skip_value(&mut vbuf).map_err(not_json)?,
                Dest::Ts | Dest::Kind | Dest::Id => {
                    let name = match dest {
                        Dest::Ts => "ts",
                        Dest::Kind => "kind",
                        _ => "id",
                    };
                    let Scalar::Str(text) = sc.value(&mut vbuf).map_err(not_json)? else {
                        return Err(EventError::NotString(name));
                    };
                    match dest {
                        Dest::Ts => {
                            if ts.is_some() || ts_err.is_some() {
                                return Err(twice("ts"));
                            }
                            match texts.timestamp(text) {
                                Ok(t) => ts = Some(t),
                                Err(e) => ts_err = Some(e),
                            }
                        }
                        Dest::Kind => {
                            if kind.is_some() {
                                return Err(twice("kind"));
                            }
                            kind =
                                Some(self.kinds.get(text).copied().ok_or_else(|| Arc::from(text)));
                        }
                        _ => {
                            if seen_id {
                                return Err(twice("id"));
                            }
                            seen_id = true;
                            id = Some(Arc::from(text));
                        }
                    }
                }
                Dest::Field(slot) => {
                    let i = usize::from(slot);
                    let again = if i < 64 {
                        let bit = 1u64 << i;
                        let was = set & bit != 0;
                        set |= bit;
                        was
                    } else {
                        if set_more.len() < self.nfields {
                            set_more.resize(self.nfields, false);
                        }
                        set_more
                            .get_mut(i)
                            .is_some_and(|b| std::mem::replace(b, true))
                    };
                    let field_name = || program.fields.get(i).cloned().unwrap_or_default();
                    if again {
                        return Err(EventError::Duplicate(field_name()));
                    }
                    let v = match sc.value(&mut vbuf) {
                        Ok(Scalar::Null) => Value::Null,
                        Ok(Scalar::Bool(b)) => Value::Bool(b),
                        Ok(Scalar::Num(n)) if n.is_finite() => Value::Num(n),
                        // JSON has no infinity: only a number too large for a double
                        Ok(Scalar::Num(_)) => {
                            return Err(EventError::BadValue(
                                field_name(),
                                "number out of range".into(),
                            ));
                        }
                        Ok(Scalar::Str(s)) => Value::Str(texts.get(s)),
                        Ok(Scalar::Nested(what)) => {
                            return Err(EventError::Nested(field_name(), what));
                        }
                        Err(e) => return Err(not_json(e)),
                    };
                    if let Some(dst) = ev.fields.get_mut(i) {
                        *dst = v;
                    }
                }
            }
        }
        sc.end().map_err(not_json)?;
        if let Some(e) = ts_err {
            return Err(e.into());
        }
        let ts = ts.ok_or(EventError::Missing("ts"))?;
        let kind = kind.ok_or(EventError::Missing("kind"))?;
        ev.id = id;
        ev.ts = ts;
        let (kind, name) = match kind {
            Ok(k) => (Some(k), self.kind_names.get(usize::from(k)).cloned()),
            Err(name) => (None, Some(name)),
        };
        ev.kind = kind;
        ev.kind_name = name.unwrap_or_else(|| Arc::from(""));
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
        if def.fields.len() != self.nfields
            && let Some(declared) = ev.kind.and_then(|k| self.declared.get(usize::from(k)))
        {
            for (v, d) in ev.fields.iter_mut().zip(declared.iter()) {
                if !d && !matches!(v, Value::Null) {
                    *v = Value::Null;
                }
            }
        }
        Ok(())
    }
}

/// Where a member goes.
#[derive(Clone, Copy, Debug)]
enum Dest {
    Ts,
    Kind,
    Id,
    Field(FieldId),
    Skip,
}

fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the bool {b}"),
        Value::Num(n) => format!("the number {n}"),
        Value::Str(s) => format!("the string {s:?}"),
    }
}
