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
            g.items.sort_unstable();
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
