//! Sliding event-time windows, updated incrementally.
//!
//! Every window of a signal that aggregates the same input shares one buffer
//! of `(ts, value)` readings. Sums, counts and averages keep a running exact
//! total and a cursor into that buffer; minima and maxima keep a monotonic
//! deque. Each reading enters and leaves every aggregate once, so an update is
//! amortised O(1) whatever the window length — nothing is ever rescanned.
//!
//! A window of length `d` evaluated at time `t` covers readings with
//! timestamp in `(t - d, t]`.

use crate::ir::{Agg, Expr, WindowDef};
use crate::value::{Fixed, Value};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How a signal's windows map onto shared buffers (computed once per signal).
#[derive(Clone, Debug, Default)]
pub struct WindowLayout {
    groups: Vec<GroupLayout>,
    /// Window index → (group, aggregate within the group).
    slots: Vec<(u16, u16)>,
}

#[derive(Clone, Debug)]
struct GroupLayout {
    input: Expr,
    /// `(aggregate, length, tumbling)`
    aggs: Vec<(Agg, i64, bool)>,
}

impl WindowLayout {
    /// Groups the windows by input expression.
    pub fn new(windows: &[WindowDef]) -> WindowLayout {
        let mut layout = WindowLayout::default();
        for w in windows {
            let g = match layout.groups.iter().position(|g| g.input == w.input) {
                Some(g) => g,
                None => {
                    layout.groups.push(GroupLayout {
                        input: w.input.clone(),
                        aggs: Vec::new(),
                    });
                    layout.groups.len() - 1
                }
            };
            let aggs = &mut layout.groups[g].aggs;
            aggs.push((w.agg, w.duration_ms, w.tumbling));
            layout.slots.push((g as u16, (aggs.len() - 1) as u16));
        }
        layout
    }

    /// The input expression of each group, in group order.
    pub fn inputs(&self) -> impl Iterator<Item = &Expr> {
        self.groups.iter().map(|g| &g.input)
    }

    /// Fresh, empty state for one key.
    pub fn new_state(&self) -> WindowState {
        WindowState {
            groups: self
                .groups
                .iter()
                .map(|g| GroupState {
                    buf: VecDeque::new(),
                    head_seq: 0,
                    aggs: g
                        .aggs
                        .iter()
                        .map(|&(agg, dur, tumbling)| match agg {
                            _ if tumbling => AggState::Bucket {
                                size: dur,
                                start: i64::MIN,
                                sum: 0,
                                count: 0,
                                min: i64::MAX,
                                max: i64::MIN,
                                first: (0, 0),
                                last: (0, 0),
                            },
                            Agg::Min | Agg::Max => AggState::Extreme {
                                dur,
                                max: agg == Agg::Max,
                                deque: VecDeque::new(),
                            },
                            _ => AggState::Total {
                                dur,
                                sum: 0,
                                count: 0,
                                tail: 0,
                            },
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The current value of window `index` (see [`WindowDef`] order).
    pub fn value(&self, state: &WindowState, index: u16) -> Value {
        let Some(&(g, a)) = self.slots.get(usize::from(index)) else {
            return Value::Null;
        };
        let (Some(layout), Some(group)) = (
            self.groups.get(usize::from(g)),
            state.groups.get(usize::from(g)),
        ) else {
            return Value::Null;
        };
        let (Some(&(agg, _, _)), Some(st)) = (
            layout.aggs.get(usize::from(a)),
            group.aggs.get(usize::from(a)),
        ) else {
            return Value::Null;
        };
        let num = |v: i64| Value::Num(Fixed(v).to_f64());
        let rate = |(t0, v0): (i64, i64), (t1, v1): (i64, i64)| {
            if t1 > t0 {
                Value::Num(
                    (Fixed(v1).to_f64() - Fixed(v0).to_f64()) * 3_600_000.0 / (t1 - t0) as f64,
                )
            } else {
                Value::Null
            }
        };
        match st {
            AggState::Total {
                sum, count, tail, ..
            } => {
                let ends = || {
                    let first = group.buf.get((*tail - group.head_seq) as usize)?;
                    let last = group.buf.back()?;
                    Some((*first, *last))
                };
                match agg {
                    Agg::Sum | Agg::CountIf => Value::Num(Fixed::sum_to_f64(*sum)),
                    Agg::Count => Value::Num(*count as f64),
                    Agg::Avg if *count > 0 => Value::Num(Fixed::sum_to_f64(*sum) / *count as f64),
                    _ if *count == 0 => Value::Null,
                    Agg::First => ends().map_or(Value::Null, |(f, _)| num(f.1)),
                    Agg::Last => ends().map_or(Value::Null, |(_, l)| num(l.1)),
                    Agg::Delta => ends().map_or(Value::Null, |(f, l)| {
                        Value::Num(Fixed(l.1).to_f64() - Fixed(f.1).to_f64())
                    }),
                    Agg::Rate => ends().map_or(Value::Null, |(f, l)| rate(f, l)),
                    _ => Value::Null,
                }
            }
            AggState::Extreme { deque, .. } => deque.front().map_or(Value::Null, |&(_, v)| num(v)),
            AggState::Bucket {
                sum,
                count,
                min,
                max,
                first,
                last,
                ..
            } => match agg {
                Agg::Sum | Agg::CountIf => Value::Num(Fixed::sum_to_f64(*sum)),
                Agg::Count => Value::Num(*count as f64),
                _ if *count == 0 => Value::Null,
                Agg::Avg => Value::Num(Fixed::sum_to_f64(*sum) / *count as f64),
                Agg::Min => num(*min),
                Agg::Max => num(*max),
                Agg::First => num(first.1),
                Agg::Last => num(last.1),
                Agg::Delta => Value::Num(Fixed(last.1).to_f64() - Fixed(first.1).to_f64()),
                Agg::Rate => rate(*first, *last),
            },
        }
    }
}

/// Window contents of one key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    groups: Vec<GroupState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct GroupState {
    /// Readings still inside the longest sum/count/avg window of this group.
    buf: VecDeque<(i64, i64)>,
    /// Sequence number of `buf[0]`.
    head_seq: u64,
    aggs: Vec<AggState>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum AggState {
    /// Sum, count and average: an exact running total over `buf[tail..]`.
    Total {
        dur: i64,
        #[serde(with = "wide")]
        sum: i128,
        count: u64,
        tail: u64,
    },
    /// Min or max: a monotonic deque of `(ts, value)`.
    Extreme {
        dur: i64,
        max: bool,
        deque: VecDeque<(i64, i64)>,
    },
    /// A tumbling window: the aligned bucket `[start, start + size)` so far.
    Bucket {
        size: i64,
        start: i64,
        #[serde(with = "wide")]
        sum: i128,
        count: u64,
        min: i64,
        max: i64,
        first: (i64, i64),
        last: (i64, i64),
    },
}

/// A running sum in a state file: a JSON integer while it fits in `i64`
/// (every realistic sum, and what older files hold), else its decimal text,
/// so a sum of large readings still writes and restores exactly (a JSON
/// number beyond `u64` would come back as a float). For any other `i128`
/// sum that goes through serde: `#[serde(with = "crate::window::wide")]`.
pub(crate) mod wide {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(*v) {
            Ok(x) => s.serialize_i64(x),
            Err(_) => s.serialize_str(&v.to_string()),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wide {
        Small(i64),
        Unsigned(u64),
        Text(String),
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        match Wide::deserialize(d)? {
            Wide::Small(x) => Ok(i128::from(x)),
            Wide::Unsigned(x) => Ok(i128::from(x)),
            Wide::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl WindowState {
    /// Moves every window's end to `now`, dropping readings at or before
    /// `now - d`; tumbling buckets start afresh when `now` enters a new one
    /// (buckets align on local time: `offset_ms` east of UTC).
    pub fn advance(&mut self, now_ms: i64) {
        self.advance_local(now_ms, 0);
    }

    /// [`WindowState::advance`] with tumbling buckets aligned on local time.
    pub fn advance_local(&mut self, now_ms: i64, offset_ms: i64) {
        for g in &mut self.groups {
            let end_seq = g.head_seq + g.buf.len() as u64;
            let mut min_tail = end_seq;
            for a in &mut g.aggs {
                match a {
                    AggState::Total {
                        dur,
                        sum,
                        count,
                        tail,
                    } => {
                        let cutoff = now_ms.saturating_sub(*dur);
                        while *tail < end_seq {
                            let idx = (*tail - g.head_seq) as usize;
                            match g.buf.get(idx) {
                                Some(&(ts, v)) if ts <= cutoff => {
                                    *sum -= i128::from(v);
                                    *count -= 1;
                                    *tail += 1;
                                }
                                _ => break,
                            }
                        }
                        min_tail = min_tail.min(*tail);
                    }
                    AggState::Extreme { dur, deque, .. } => {
                        let cutoff = now_ms.saturating_sub(*dur);
                        while deque.front().is_some_and(|&(ts, _)| ts <= cutoff) {
                            deque.pop_front();
                        }
                    }
                    AggState::Bucket {
                        size,
                        start,
                        sum,
                        count,
                        min,
                        max,
                        ..
                    } => {
                        let local = now_ms.saturating_add(offset_ms);
                        let b = local.div_euclid((*size).max(1)) * (*size).max(1) - offset_ms;
                        if b != *start {
                            *start = b;
                            *sum = 0;
                            *count = 0;
                            *min = i64::MAX;
                            *max = i64::MIN;
                        }
                    }
                }
            }
            while g.head_seq < min_tail && g.buf.pop_front().is_some() {
                g.head_seq += 1;
            }
        }
    }

    /// Adds a reading of group `group` (readings must come in time order).
    pub fn push(&mut self, group: usize, ts_ms: i64, v: Fixed) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let mut needs_buf = false;
        for a in &mut g.aggs {
            match a {
                AggState::Total { sum, count, .. } => {
                    *sum += i128::from(v.0);
                    *count += 1;
                    needs_buf = true;
                }
                AggState::Extreme { max, deque, .. } => {
                    while deque
                        .back()
                        .is_some_and(|&(_, b)| if *max { b <= v.0 } else { b >= v.0 })
                    {
                        deque.pop_back();
                    }
                    deque.push_back((ts_ms, v.0));
                }
                AggState::Bucket {
                    sum,
                    count,
                    min,
                    max,
                    first,
                    last,
                    ..
                } => {
                    *sum += i128::from(v.0);
                    if *count == 0 {
                        *first = (ts_ms, v.0);
                    }
                    *count += 1;
                    *min = (*min).min(v.0);
                    *max = (*max).max(v.0);
                    *last = (ts_ms, v.0);
                }
            }
        }
        if needs_buf {
            g.buf.push_back((ts_ms, v.0));
        } else {
            g.head_seq += 1;
        }
    }

    /// Checks restored window contents against `layout` and against
    /// themselves: the groups and aggregates the layout has (same kinds and
    /// lengths), readings in time order, every running sum and count equal
    /// to what its buffer holds (recomputed), min/max deques monotonic,
    /// tumbling buckets within their bounds. A snapshot whose running sum
    /// was edited (an impossible `r3 > r6`) fails here instead of being
    /// restored silently.
    pub fn check(&self, layout: &WindowLayout) -> Result<(), String> {
        if self.groups.len() != layout.groups.len() {
            return Err(format!(
                "{} window input(s), the signal has {}",
                self.groups.len(),
                layout.groups.len()
            ));
        }
        for (gi, (g, gl)) in self.groups.iter().zip(&layout.groups).enumerate() {
            let at = |what: String| format!("window input {gi}: {what}");
            if g.aggs.len() != gl.aggs.len() {
                return Err(at(format!(
                    "{} aggregate(s), the signal has {}",
                    g.aggs.len(),
                    gl.aggs.len()
                )));
            }
            if g.buf
                .iter()
                .zip(g.buf.iter().skip(1))
                .any(|(a, b)| a.0 > b.0)
            {
                return Err(at("readings out of time order".into()));
            }
            let end_seq = g.head_seq.checked_add(g.buf.len() as u64);
            for (ai, (a, &(agg, dur, tumbling))) in g.aggs.iter().zip(&gl.aggs).enumerate() {
                let at = |what: &str| at(format!("aggregate {ai}: {what}"));
                match a {
                    AggState::Total {
                        dur: d,
                        sum,
                        count,
                        tail,
                    } => {
                        if tumbling || matches!(agg, Agg::Min | Agg::Max) || *d != dur {
                            return Err(at("not the signal's window"));
                        }
                        let Some(end_seq) = end_seq.filter(|_| *tail >= g.head_seq) else {
                            return Err(at("cursor outside its buffer"));
                        };
                        if *tail > end_seq {
                            return Err(at("cursor outside its buffer"));
                        }
                        let inside = g.buf.iter().skip((*tail - g.head_seq) as usize);
                        let (s, c) = inside
                            .fold((0i128, 0u64), |(s, c), &(_, v)| (s + i128::from(v), c + 1));
                        if s != *sum || c != *count {
                            return Err(at(&format!(
                                "running sum {} over {count} reading(s) does not match its buffer \
                                 ({} over {c})",
                                Fixed::sum_to_f64(*sum),
                                Fixed::sum_to_f64(s)
                            )));
                        }
                    }
                    AggState::Extreme {
                        dur: d, max, deque, ..
                    } => {
                        if tumbling || *d != dur || *max != (agg == Agg::Max) {
                            return Err(at("not the signal's window"));
                        }
                        let monotonic = deque
                            .iter()
                            .zip(deque.iter().skip(1))
                            .all(|(a, b)| a.0 <= b.0 && if *max { a.1 > b.1 } else { a.1 < b.1 });
                        if !monotonic {
                            return Err(at("min/max deque not monotonic"));
                        }
                    }
                    AggState::Bucket {
                        size,
                        sum,
                        count,
                        min,
                        max,
                        ..
                    } => {
                        if !tumbling || *size != dur {
                            return Err(at("not the signal's window"));
                        }
                        let ok = if *count == 0 {
                            *sum == 0
                        } else {
                            let n = i128::from(*count);
                            min <= max
                                && *sum >= i128::from(*min) * n
                                && *sum <= i128::from(*max) * n
                        };
                        if !ok {
                            return Err(at("tumbling bucket total outside its min and max"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Approximate heap bytes held (for memory reports).
    pub fn heap_bytes(&self) -> usize {
        self.groups
            .iter()
            .map(|g| {
                g.buf.capacity() * 16
                    + g.aggs.len() * std::mem::size_of::<AggState>()
                    + g.aggs
                        .iter()
                        .map(|a| match a {
                            AggState::Extreme { deque, .. } => deque.capacity() * 16,
                            AggState::Total { .. } | AggState::Bucket { .. } => 0,
                        })
                        .sum::<usize>()
            })
            .sum::<usize>()
            + self.groups.capacity() * std::mem::size_of::<GroupState>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Expr;
    use crate::time::MS_PER_HOUR;
    use proptest::prelude::*;

    fn defs(specs: &[(Agg, i64)]) -> Vec<WindowDef> {
        specs
            .iter()
            .map(|&(agg, d)| WindowDef {
                agg,
                input: Expr::Field(0),
                duration_ms: d,
                tumbling: false,
            })
            .collect()
    }

    #[test]
    fn tenths_reach_fifty_exactly_and_empty_to_zero() {
        let layout = WindowLayout::new(&defs(&[(Agg::Sum, 3 * MS_PER_HOUR)]));
        let mut st = layout.new_state();
        let tenth = Fixed::from_f64(0.1).unwrap_or_default();
        let mut t = 0;
        for _ in 0..500 {
            t += 1000;
            st.advance(t);
            st.push(0, t, tenth);
        }
        assert_eq!(layout.value(&st, 0), Value::Num(50.0));
        // millions of updates through a short window, then let it empty
        let layout = WindowLayout::new(&defs(&[(Agg::Sum, 10_000)]));
        let mut st = layout.new_state();
        let odd = Fixed::from_f64(0.7).unwrap_or_default();
        for i in 0..2_000_000i64 {
            st.advance(i * 7);
            st.push(0, i * 7, if i % 3 == 0 { tenth } else { odd });
        }
        st.advance(2_000_000 * 7 + 20_000);
        assert_eq!(layout.value(&st, 0), Value::Num(0.0));
    }

    #[test]
    fn boundary_is_open_at_the_start() {
        let layout = WindowLayout::new(&defs(&[(Agg::Sum, 1000), (Agg::Count, 1000)]));
        let mut st = layout.new_state();
        st.advance(0);
        st.push(0, 0, Fixed(1));
        st.advance(999);
        assert_eq!(layout.value(&st, 1), Value::Num(1.0));
        st.advance(1000);
        assert_eq!(layout.value(&st, 1), Value::Num(0.0));
    }

    fn naive(agg: Agg, readings: &[(i64, i64)], now: i64, dur: i64) -> Value {
        let inside: Vec<i64> = readings
            .iter()
            .filter(|&&(ts, _)| ts > now - dur && ts <= now)
            .map(|&(_, v)| v)
            .collect();
        let sum: i128 = inside.iter().map(|&v| i128::from(v)).sum();
        match agg {
            Agg::Sum => Value::Num(Fixed::sum_to_f64(sum)),
            Agg::Count => Value::Num(inside.len() as f64),
            Agg::Avg if inside.is_empty() => Value::Null,
            Agg::Avg => Value::Num(Fixed::sum_to_f64(sum) / inside.len() as f64),
            Agg::Min => inside
                .iter()
                .min()
                .map_or(Value::Null, |&v| Value::Num(Fixed(v).to_f64())),
            Agg::Max => inside
                .iter()
                .max()
                .map_or(Value::Null, |&v| Value::Num(Fixed(v).to_f64())),
            Agg::CountIf => Value::Num(Fixed::sum_to_f64(sum)),
            Agg::First => inside
                .first()
                .map_or(Value::Null, |&v| Value::Num(Fixed(v).to_f64())),
            Agg::Last => inside
                .last()
                .map_or(Value::Null, |&v| Value::Num(Fixed(v).to_f64())),
            Agg::Delta => match (inside.first(), inside.last()) {
                (Some(&f), Some(&l)) => Value::Num(Fixed(l).to_f64() - Fixed(f).to_f64()),
                _ => Value::Null,
            },
            Agg::Rate => {
                let w: Vec<&(i64, i64)> = readings
                    .iter()
                    .filter(|&&(ts, _)| ts > now - dur && ts <= now)
                    .collect();
                match (w.first(), w.last()) {
                    (Some(&&(t0, v0)), Some(&&(t1, v1))) if t1 > t0 => Value::Num(
                        (Fixed(v1).to_f64() - Fixed(v0).to_f64()) * 3_600_000.0 / (t1 - t0) as f64,
                    ),
                    _ => Value::Null,
                }
            }
        }
    }

    proptest! {
        #[test]
        fn incremental_matches_naive(
            steps in proptest::collection::vec((0i64..4_000, -500_000i64..5_000_000), 1..300),
            durs in proptest::collection::vec(1i64..20_000, 1..5),
        ) {
            let aggs = [Agg::Sum, Agg::Avg, Agg::Min, Agg::Max, Agg::Count, Agg::First, Agg::Last, Agg::Delta, Agg::Rate];
            let specs: Vec<(Agg, i64)> = durs
                .iter()
                .enumerate()
                .flat_map(|(i, &d)| [(aggs[i % 9], d), (aggs[(i + 2) % 9], d), (aggs[(i + 5) % 9], d)])
                .collect();
            let layout = WindowLayout::new(&defs(&specs));
            let mut st = layout.new_state();
            let mut t = 0;
            let mut seen = Vec::new();
            for (gap, v) in steps {
                t += gap;
                st.advance(t);
                st.push(0, t, Fixed(v));
                seen.push((t, v));
                for (i, &(agg, d)) in specs.iter().enumerate() {
                    prop_assert_eq!(layout.value(&st, i as u16), naive(agg, &seen, t, d));
                }
            }
        }
    }
}
