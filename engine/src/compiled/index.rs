//! The discrimination index: which signals can an event feed?
//!
//! Per event kind, signals whose filter requires `field == constant` (as one
//! conjunct of a top-level `and` chain) are filed under that field and
//! constant; an event then looks its field's value up once instead of
//! evaluating every signal's filter (an alpha network in RETE terms). Signals
//! with no such conjunct are always candidates. The indexed conjunct is
//! removed from the residual filter, since the lookup has already decided it.

use super::expr::{CExpr, Cell, Consts};
use crate::value::Value;
use rustc_hash::FxHashMap;

/// A filter split into an indexable equality and the rest.
#[derive(Debug)]
pub struct Split {
    /// `field == key`, if the filter has such a conjunct.
    pub eq: Option<(u16, EqKey)>,
    /// What remains to be checked (`None`: nothing).
    pub residual: Option<CExpr>,
}

/// A constant an equality index looks up.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EqKey {
    /// A string constant.
    Str(Box<str>),
    /// A number, by the bits of its value (`-0` stored as `0`).
    Num(u64),
    /// A boolean.
    Bool(bool),
}

/// Normalised bits of a number for equality lookup (`-0.0 == 0.0`).
#[inline]
pub fn num_key(n: f64) -> u64 {
    if n == 0.0 { 0 } else { n.to_bits() }
}

fn conjuncts(e: CExpr, out: &mut Vec<CExpr>) {
    match e {
        CExpr::And(a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        other => out.push(other),
    }
}

fn eq_of(e: &CExpr, consts: &Consts) -> Option<(u16, EqKey)> {
    let CExpr::Bin(crate::ir::BinOp::Eq, a, b) = e else {
        return None;
    };
    let (f, c) = match (&**a, &**b) {
        (CExpr::Field(f), CExpr::Const(c)) | (CExpr::Const(c), CExpr::Field(f)) => (*f, *c),
        _ => return None,
    };
    let key = match c {
        Cell::ConstStr(i) => EqKey::Str(Box::from(consts.strings.get(i as usize)?.as_ref())),
        Cell::Num(n) if !n.is_nan() => EqKey::Num(num_key(n)),
        Cell::Bool(b) => EqKey::Bool(b),
        _ => return None,
    };
    Some((f, key))
}

/// Splits a compiled filter (an `and` chain is true exactly when all its
/// conjuncts are, whatever the nesting, so the rest can be re-chained).
pub fn split(filter: Option<CExpr>, consts: &Consts) -> Split {
    let Some(filter) = filter else {
        return Split {
            eq: None,
            residual: None,
        };
    };
    let mut parts = Vec::new();
    conjuncts(filter, &mut parts);
    let Some(pos) = parts.iter().position(|p| eq_of(p, consts).is_some()) else {
        return Split {
            eq: None,
            residual: rechain(parts),
        };
    };
    let eq = eq_of(&parts.remove(pos), consts);
    Split {
        eq,
        residual: rechain(parts),
    }
}

fn rechain(parts: Vec<CExpr>) -> Option<CExpr> {
    parts
        .into_iter()
        .reduce(|acc, p| CExpr::And(Box::new(acc), Box::new(p)))
}

/// The signals filed under one constant.
#[derive(Debug, Default)]
pub struct Bucket {
    /// Signals, in signal order.
    pub signals: Vec<u32>,
    /// Whether every one of them is *direct* (evaluated without a key lookup
    /// or a residual filter, and unable to fail; see [`KindIndex::mark_direct`]).
    pub direct: bool,
}

impl Bucket {
    fn push(&mut self, signal: u32) {
        self.signals.push(signal);
    }
}

/// Equality index over one field.
#[derive(Debug, Default)]
pub struct FieldIndex {
    /// The field slot.
    pub field: u16,
    strs: FxHashMap<Box<str>, Bucket>,
    nums: FxHashMap<u64, Bucket>,
    bools: [Bucket; 2],
}

impl FieldIndex {
    fn add(&mut self, key: EqKey, signal: u32) {
        match key {
            EqKey::Str(s) => self.strs.entry(s).or_default().push(signal),
            EqKey::Num(n) => self.nums.entry(n).or_default().push(signal),
            EqKey::Bool(b) => {
                if let Some(v) = self.bools.get_mut(usize::from(b)) {
                    v.push(signal);
                }
            }
        }
    }

    /// Signals filed under this event's value of the field.
    #[inline]
    pub fn lookup(&self, v: Option<&Value>) -> &[u32] {
        self.bucket(v).map_or(&[], |b| b.signals.as_slice())
    }

    /// The bucket filed under this event's value of the field.
    #[inline]
    pub fn bucket(&self, v: Option<&Value>) -> Option<&Bucket> {
        match v {
            Some(Value::Str(s)) => self.strs.get(s.as_ref()),
            Some(Value::Num(n)) => self.nums.get(&num_key(*n)),
            Some(Value::Bool(b)) => self.bools.get(usize::from(*b)),
            _ => None,
        }
    }

    fn buckets_mut(&mut self) -> impl Iterator<Item = &mut Bucket> {
        self.strs
            .values_mut()
            .chain(self.nums.values_mut())
            .chain(self.bools.iter_mut())
    }
}

/// Candidate signals for one event kind.
#[derive(Debug, Default)]
pub struct KindIndex {
    /// Signals to try for every event of the kind, in signal order.
    pub always: Vec<u32>,
    /// Per-field equality indexes.
    pub by_field: Vec<FieldIndex>,
}

impl KindIndex {
    /// Files `signal` (pushed in increasing signal order).
    pub fn add(&mut self, signal: u32, eq: Option<&(u16, EqKey)>) {
        match eq {
            None => self.always.push(signal),
            Some((field, key)) => {
                let idx = match self.by_field.iter().position(|f| f.field == *field) {
                    Some(i) => i,
                    None => {
                        self.by_field.push(FieldIndex {
                            field: *field,
                            ..FieldIndex::default()
                        });
                        self.by_field.len() - 1
                    }
                };
                if let Some(fi) = self.by_field.get_mut(idx) {
                    fi.add(key.clone(), signal);
                }
            }
        }
    }

    /// Sets each bucket's [`Bucket::direct`]: whether `is_direct` holds for
    /// all its signals (call once every signal is filed).
    pub fn mark_direct(&mut self, is_direct: impl Fn(u32) -> bool) {
        for fi in &mut self.by_field {
            for b in fi.buckets_mut() {
                b.direct = b.signals.iter().all(|&s| is_direct(s));
            }
        }
    }

    /// When one field index is the only source of candidates (no
    /// always-candidates, a single indexed field), an event's candidates are
    /// exactly one bucket: `Some(bucket)`, where `bucket` is `None` when the
    /// event's value is filed nowhere. `None` when candidates come from
    /// several sources.
    #[inline]
    pub fn sole_bucket(&self, fields: &[Value]) -> Option<Option<&Bucket>> {
        match self.by_field.as_slice() {
            [fi] if self.always.is_empty() => Some(fi.bucket(fields.get(usize::from(fi.field)))),
            _ => None,
        }
    }

    /// Appends the candidate signals for an event to `out`, in signal order.
    pub fn candidates(&self, fields: &[Value], out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.always);
        let mut sources = usize::from(!self.always.is_empty());
        for fi in &self.by_field {
            let hits = fi.lookup(fields.get(usize::from(fi.field)));
            if !hits.is_empty() {
                out.extend_from_slice(hits);
                sources += 1;
            }
        }
        if sources > 1 {
            out.sort_unstable();
        }
    }
}
