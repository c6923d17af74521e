//! The reorder buffer: accepted events wait here until the watermark passes
//! them, then leave in time order, events at the same time in content order
//! (see [`Queued`]'s `Ord`), never in arrival order, so a shuffled stream
//! releases exactly as a sorted one.
//!
//! Events are grouped by time in a deque kept in time order: an event at the
//! latest time waiting is filed at the back without a search, one behind by
//! a binary search over the (few) groups still waiting; the content of two
//! events is compared only when they share a time, once per group when it
//! leaves.

use crate::event::Event;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::VecDeque;

/// An event waiting in the reorder buffer, ordered by time, then by kind
/// (declaration order, never by the kind's spelling) and content — never by
/// arrival, so shuffled input releases in one order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Queued {
    pub(crate) ev: Event,
    /// Signals for which this event is late (left out for them).
    pub(crate) skip: Vec<u16>,
    /// A record reporting deadlines follow, checked when it was accepted:
    /// observed when the event is released, in event-time order.
    #[serde(skip)]
    pub(crate) record: Option<Box<(crate::assess::records::Record, String)>>,
}

/// The first three present fields of an event (in slot order), encoded so
/// that comparing two prefixes gives the content order ([`cmp_value`] over
/// the fields) whenever it decides: a text longer than seven bytes is
/// encoded by its first seven and marked inexact, and a tie on an inexact
/// element, or past the third, is left to the full comparison. Sorting an
/// instant of 400 stations compares integers instead of walking fields with
/// `memcmp`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Prefix {
    /// `(slot, rank, payload, exact)` per present field; a lower slot is a
    /// greater key (a field present where the other event has `null` sorts
    /// after it).
    items: [(u16, u8, u64, bool); 3],
    n: u8,
    /// More present fields than encoded.
    more: bool,
}

impl Prefix {
    fn of(fields: &[Value]) -> Prefix {
        let mut p = Prefix::default();
        for (slot, v) in fields.iter().enumerate() {
            let (rank, payload, exact) = match v {
                Value::Null => continue,
                Value::Bool(b) => (1u8, u64::from(*b), true),
                Value::Num(x) => {
                    // `f64::total_cmp`'s order as an unsigned integer
                    let bits = x.to_bits();
                    let key = if bits >> 63 == 1 {
                        !bits
                    } else {
                        bits | 1 << 63
                    };
                    (2, key, true)
                }
                Value::Str(t) => {
                    let b = t.as_bytes();
                    let mut lanes = [0u8; 8];
                    let n = b.len().min(7);
                    if let (Some(dst), Some(src)) = (lanes.get_mut(..n), b.get(..n)) {
                        dst.copy_from_slice(src);
                    }
                    // the length breaks ties of short texts; a long text sorts
                    // after every short one with its first seven bytes
                    let exact = b.len() <= 7;
                    if let Some(last) = lanes.get_mut(7) {
                        *last = if exact { b.len() as u8 } else { 0xff };
                    }
                    (3, u64::from_be_bytes(lanes), exact)
                }
            };
            let Some(item) = p.items.get_mut(usize::from(p.n)) else {
                p.more = true;
                break;
            };
            *item = (
                u16::MAX - u16::try_from(slot).unwrap_or(u16::MAX),
                rank,
                payload,
                exact,
            );
            p.n += 1;
        }
        p
    }

    /// The content order, when the prefixes decide it.
    #[inline]
    fn cmp(&self, o: &Prefix) -> Option<Ordering> {
        for i in 0..usize::from(self.n.min(o.n)) {
            let (a, b) = (self.items.get(i)?, o.items.get(i)?);
            let c = (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2));
            if c.is_ne() {
                return Some(c);
            }
            if !(a.3 && b.3) {
                return None;
            }
        }
        if self.n != o.n || self.more || o.more {
            // one has more present fields (or more than three each): the
            // full comparison decides
            return None;
        }
        Some(Ordering::Equal)
    }
}

fn cmp_value(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Num(_) => 2,
        Value::Str(_) => 3,
    };
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Num(x), Value::Num(y)) => x.total_cmp(y),
        // texts of one stream are shared (the parser's text cache): the same
        // text is usually the same allocation
        (Value::Str(x), Value::Str(y)) if std::sync::Arc::ptr_eq(x, y) => Ordering::Equal,
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl Ord for Queued {
    fn cmp(&self, o: &Self) -> Ordering {
        self.ev
            .ts
            .ms
            .cmp(&o.ev.ts.ms)
            .then_with(|| self.ev.kind.cmp(&o.ev.kind))
            .then_with(|| {
                self.ev
                    .fields
                    .iter()
                    .zip(&o.ev.fields)
                    .map(|(a, b)| cmp_value(a, b))
                    .find(|c| c.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| self.ev.id.cmp(&o.ev.id))
            .then_with(|| self.ev.seq.cmp(&o.ev.seq))
    }
}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for Queued {}

/// Puts `items[order[k]]` at position `k` for every `k`, following the
/// permutation's cycles with swaps (`order` is used up).
fn permute<T>(items: &mut [T], order: &mut [u32]) {
    const DONE: u32 = u32::MAX;
    for start in 0..order.len() {
        let mut k = start;
        while let Some(&src) = order.get(k) {
            if src == DONE {
                break;
            }
            if let Some(o) = order.get_mut(k) {
                *o = DONE;
            }
            let src = src as usize;
            if src == start {
                break;
            }
            items.swap(k, src);
            k = src;
        }
    }
}

/// Emptied group vectors kept for reuse.
const SPARE_GROUPS: usize = 64;

/// Events at one time.
#[derive(Debug)]
struct Group {
    ts: i64,
    /// In arrival order until the group leaves (sorted then).
    items: Vec<Queued>,
}

/// Events waiting for the watermark, by time and then content: groups in a
/// deque sorted by time, so an event at the latest time (the usual case:
/// streams are nearly sorted) is filed at the back without a search, and
/// one behind is filed by a binary search over the groups still waiting.
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    groups: VecDeque<Group>,
    len: usize,
    spare: Vec<Vec<Queued>>,
    /// The release order of a group being sorted (reused).
    order: Vec<u32>,
    /// The [`Prefix`] of each event of that group (reused).
    prefixes: Vec<Prefix>,
}

impl Reorder {
    /// Files an event.
    pub(crate) fn push(&mut self, q: Queued) {
        let t = q.ev.ts.ms;
        self.len += 1;
        let at = match self.groups.back_mut() {
            Some(g) if g.ts == t => {
                g.items.push(q);
                return;
            }
            Some(g) if g.ts > t => self.groups.partition_point(|g| g.ts < t),
            _ => self.groups.len(),
        };
        if let Some(g) = self.groups.get_mut(at).filter(|g| g.ts == t) {
            g.items.push(q);
            return;
        }
        let mut items = self.spare.pop().unwrap_or_default();
        items.push(q);
        self.groups.insert(at, Group { ts: t, items });
    }

    /// Time of the earliest event waiting.
    pub(crate) fn next_time(&self) -> Option<i64> {
        self.groups.front().map(|g| g.ts)
    }

    /// Takes the earliest event (ties: the least by content).
    #[cfg(test)]
    pub(crate) fn pop(&mut self) -> Option<Queued> {
        let g = self.groups.front_mut()?;
        // the least by content leaves first
        let (i, _) = g.items.iter().enumerate().min_by(|a, b| a.1.cmp(b.1))?;
        let q = g.items.remove(i);
        if g.items.is_empty() {
            if let Some(g) = self.groups.pop_front() {
                self.recycle(g.items);
            }
        }
        self.len -= 1;
        Some(q)
    }

    /// Takes every event at the earliest time, in release order (time, then
    /// kind and content, never arrival).
    pub(crate) fn pop_group(&mut self, into: &mut Vec<Queued>) {
        let Some(mut g) = self.groups.pop_front() else {
            return;
        };
        if g.items.len() > 1 {
            // the same order as `Queued::cmp` (one time), mostly decided by
            // the kinds and the prefixes; indices are sorted, then the events
            // moved once each (an event is large to move)
            let items = &mut g.items;
            let order = &mut self.order;
            let prefixes = &mut self.prefixes;
            prefixes.clear();
            prefixes.extend(items.iter().map(|q| Prefix::of(&q.ev.fields)));
            order.clear();
            order.extend(0..u32::try_from(items.len()).unwrap_or(u32::MAX));
            order.sort_unstable_by(|&i, &j| {
                let (i, j) = (i as usize, j as usize);
                match (items.get(i), items.get(j), prefixes.get(i), prefixes.get(j)) {
                    (Some(a), Some(b), Some(pa), Some(pb)) => {
                        a.ev.kind.cmp(&b.ev.kind).then_with(|| match pa.cmp(pb) {
                            Some(Ordering::Equal) | None => a.cmp(b),
                            Some(c) => c,
                        })
                    }
                    _ => Ordering::Equal,
                }
            });
            permute(items, order);
        }
        self.len -= g.items.len();
        into.append(&mut g.items);
        self.recycle(g.items);
    }

    fn recycle(&mut self, items: Vec<Queued>) {
        if self.spare.len() < SPARE_GROUPS {
            self.spare.push(items);
        }
    }

    /// Number of events waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Every event waiting, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.groups.iter().flat_map(|g| g.items.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::value::Value;
    use std::sync::Arc;

    fn q(ms: i64, station: &str, seq: u64) -> Queued {
        let mut ev = Event::empty(seq);
        ev.ts.ms = ms;
        ev.kind_name = Arc::from("rain");
        ev.fields = vec![Value::from(station)];
        Queued {
            ev,
            skip: vec![],
            record: None,
        }
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            2 => Just(Value::Null),
            1 => any::<bool>().prop_map(Value::Bool),
            2 => prop_oneof![Just(0.0), Just(-0.0), Just(1.5), Just(-2.0), Just(f64::NAN), Just(1e300)].prop_map(Value::Num),
            4 => proptest::sample::select(vec!["", "A", "A\0", "A\0B", "AB", "B", "云", "云阳", "ABCDEFG", "ABCDEFG\0", "ABCDEFGH", "ABCDEFGI", "ABCDEFGHI", "YY-001", "YY-0010", "YY-002"]).prop_map(Value::from),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, ..Default::default() })]
        /// When the prefixes decide, they decide as the fields do.
        #[test]
        fn prefixes_agree_with_the_content_order(
            a in proptest::collection::vec(value(), 0..6),
            b in proptest::collection::vec(value(), 0..6),
        ) {
            let n = a.len().max(b.len());
            let (mut a, mut b) = (a, b);
            a.resize(n, Value::Null);
            b.resize(n, Value::Null);
            let full = a
                .iter()
                .zip(&b)
                .map(|(x, y)| cmp_value(x, y))
                .find(|c| c.is_ne())
                .unwrap_or(Ordering::Equal);
            if let Some(c) = Prefix::of(&a).cmp(&Prefix::of(&b)) {
                proptest::prop_assert_eq!(c, full, "{:?} vs {:?}", a, b);
            }
        }
    }

    fn drain(r: &mut Reorder) -> Vec<(i64, String)> {
        std::iter::from_fn(|| r.pop())
            .map(|q| {
                let s = match q.ev.fields.first() {
                    Some(Value::Str(s)) => s.to_string(),
                    _ => String::new(),
                };
                (q.ev.ts.ms, s)
            })
            .collect()
    }

    #[test]
    fn leaves_by_time_then_content_whatever_the_arrival_order() {
        let arrivals = [
            (20, "B"),
            (10, "C"),
            (20, "A"),
            (10, "A"),
            (30, "A"),
            (10, "B"),
        ];
        let expected = vec![
            (10, "A".to_string()),
            (10, "B".to_string()),
            (10, "C".to_string()),
            (20, "A".to_string()),
            (20, "B".to_string()),
            (30, "A".to_string()),
        ];
        // every rotation of the arrivals releases the same order
        for r in 0..arrivals.len() {
            let mut buf = Reorder::default();
            for (i, (t, s)) in arrivals
                .iter()
                .cycle()
                .skip(r)
                .take(arrivals.len())
                .enumerate()
            {
                buf.push(q(*t, s, i as u64));
            }
            assert_eq!(buf.len(), 6);
            assert_eq!(buf.next_time(), Some(10));
            assert_eq!(drain(&mut buf), expected);
            assert_eq!(buf.len(), 0);
            assert_eq!(buf.next_time(), None);
        }
    }

    #[test]
    fn an_event_filed_into_a_group_being_released_still_leaves_in_order() {
        let mut buf = Reorder::default();
        buf.push(q(10, "B", 1));
        buf.push(q(10, "D", 2));
        assert_eq!(drain_one(&mut buf), Some("B".to_string()));
        buf.push(q(10, "A", 3));
        buf.push(q(10, "C", 4));
        assert_eq!(
            drain(&mut buf),
            vec![(10, "A".into()), (10, "C".into()), (10, "D".into())]
        );
    }

    fn drain_one(r: &mut Reorder) -> Option<String> {
        r.pop().and_then(|q| match q.ev.fields.first() {
            Some(Value::Str(s)) => Some(s.to_string()),
            _ => None,
        })
    }
}
