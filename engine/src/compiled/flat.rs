//! A flat window store for the common case: every window of a signal is a
//! sliding total (`sum`, `count`, `avg`, `count_if`, `first`, `last`,
//! `delta`, `rate`) over the same input.
//!
//! It keeps exactly what the reference [`crate::window::WindowState`] keeps
//! for such a signal (one buffer of `(ts, value)` readings, per window a
//! running exact total and a cursor into the buffer), but inline per key
//! instead of behind two levels of vectors and an enum per aggregate, and it
//! converts totals to floats without 128-bit division when they fit in 64
//! bits. Values are bit-for-bit those of [`crate::window::WindowLayout::value`].

use crate::ir::{Agg, WindowDef};
use crate::value::Fixed;
use crate::window::WindowState;
use std::collections::VecDeque;

/// Most windows a flat store holds per key.
pub const MAX_FLAT: usize = 4;

/// Which windows a signal has (computed once per signal).
#[derive(Clone, Debug, PartialEq)]
pub struct FlatLayout {
    /// Per window (in [`WindowDef`] order): aggregate and length.
    aggs: Vec<(Agg, i64)>,
}

impl FlatLayout {
    /// The flat layout for `windows`, if they qualify: at least one window,
    /// at most [`MAX_FLAT`], all sliding, all totals, all over one input.
    pub fn new(windows: &[WindowDef]) -> Option<FlatLayout> {
        let first = windows.first()?;
        let ok = windows.len() <= MAX_FLAT
            && windows.iter().all(|w| {
                !w.tumbling && w.input == first.input && !matches!(w.agg, Agg::Min | Agg::Max)
            });
        ok.then(|| FlatLayout {
            aggs: windows.iter().map(|w| (w.agg, w.duration_ms)).collect(),
        })
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.aggs.len()
    }

    /// Whether there are no windows (never, for a layout [`FlatLayout::new`] made).
    pub fn is_empty(&self) -> bool {
        self.aggs.is_empty()
    }

    /// Moves every window's end to `now_ms`, dropping readings at or before `now - d`.
    #[inline]
    pub fn advance(&self, st: &mut FlatWindows, now_ms: i64) {
        let end = st.head_seq + st.buf.len() as u64;
        let mut min_tail = end;
        for ((&(_, dur), tail), sum) in self
            .aggs
            .iter()
            .zip(st.tails.iter_mut())
            .zip(st.sums.iter_mut())
        {
            let cutoff = now_ms.saturating_sub(dur);
            while *tail < end {
                match st.buf.get((*tail - st.head_seq) as usize) {
                    Some(&(ts, v)) if ts <= cutoff => {
                        *sum -= i128::from(v);
                        *tail += 1;
                    }
                    _ => break,
                }
            }
            min_tail = min_tail.min(*tail);
        }
        while st.head_seq < min_tail && st.buf.pop_front().is_some() {
            st.head_seq += 1;
        }
    }

    /// Adds a reading (readings come in time order).
    #[inline]
    pub fn push(&self, st: &mut FlatWindows, ts_ms: i64, v: Fixed) {
        for s in st.sums.iter_mut().take(self.aggs.len()) {
            *s += i128::from(v.0);
        }
        st.buf.push_back((ts_ms, v.0));
    }

    /// The value of window `i`, as the reference computes it (`None`: null).
    #[inline]
    pub fn value(&self, st: &FlatWindows, i: usize) -> Option<f64> {
        let (&(agg, _), &sum, &tail) = (self.aggs.get(i)?, st.sums.get(i)?, st.tails.get(i)?);
        let end = st.head_seq + st.buf.len() as u64;
        let count = end.saturating_sub(tail);
        let ends = || {
            let first = st.buf.get(tail.checked_sub(st.head_seq)? as usize)?;
            let last = st.buf.back()?;
            Some((*first, *last))
        };
        let num = |v: i64| Fixed(v).to_f64();
        match agg {
            Agg::Sum | Agg::CountIf => Some(sum_to_f64(sum)),
            Agg::Count => Some(count as f64),
            Agg::Avg if count > 0 => Some(sum_to_f64(sum) / count as f64),
            _ if count == 0 => None,
            Agg::First => ends().map(|(f, _)| num(f.1)),
            Agg::Last => ends().map(|(_, l)| num(l.1)),
            Agg::Delta => ends().map(|(f, l)| num(l.1) - num(f.1)),
            Agg::Rate => ends().and_then(|((t0, v0), (t1, v1))| {
                (t1 > t0).then(|| (num(v1) - num(v0)) * 3_600_000.0 / (t1 - t0) as f64)
            }),
            Agg::Avg | Agg::Min | Agg::Max => None,
        }
    }
    /// The same contents as the reference store
    /// ([`crate::window::WindowLayout::new`] of the same windows), for snapshots.
    ///
    /// Built through the reference store's serialised form (one group, one
    /// running total per window), so no field of it needs to be public.
    pub fn to_reference(&self, st: &FlatWindows) -> Option<WindowState> {
        #[derive(serde::Serialize)]
        enum AggMirror {
            Total {
                dur: i64,
                // beyond `i64` as decimal text, as the reference store writes it
                #[serde(with = "crate::window::wide")]
                sum: i128,
                count: u64,
                tail: u64,
            },
        }
        #[derive(serde::Serialize)]
        struct GroupMirror<'a> {
            buf: &'a VecDeque<(i64, i64)>,
            head_seq: u64,
            aggs: Vec<AggMirror>,
        }
        #[derive(serde::Serialize)]
        struct StateMirror<'a> {
            groups: [GroupMirror<'a>; 1],
        }
        let end = st.head_seq + st.buf.len() as u64;
        let aggs = self
            .aggs
            .iter()
            .zip(st.sums.iter().zip(&st.tails))
            .map(|(&(_, dur), (&sum, &tail))| AggMirror::Total {
                dur,
                sum,
                count: end.saturating_sub(tail),
                tail,
            })
            .collect();
        let mirror = StateMirror {
            groups: [GroupMirror {
                buf: &st.buf,
                head_seq: st.head_seq,
                aggs,
            }],
        };
        serde_json::to_value(&mirror)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
    }
}

impl FlatLayout {
    /// The inverse of [`FlatLayout::to_reference`]: the flat store holding
    /// the contents of the reference store `w` of the same windows (for a
    /// restore); `None` when `w` does not have that shape.
    pub fn from_reference(&self, w: &WindowState) -> Option<FlatWindows> {
        #[derive(serde::Deserialize)]
        enum AggMirror {
            // `dur` and `count` follow from the layout and the buffer
            Total {
                #[serde(with = "crate::window::wide")]
                sum: i128,
                tail: u64,
            },
        }
        #[derive(serde::Deserialize)]
        struct GroupMirror {
            buf: VecDeque<(i64, i64)>,
            head_seq: u64,
            aggs: Vec<AggMirror>,
        }
        #[derive(serde::Deserialize)]
        struct StateMirror {
            groups: Vec<GroupMirror>,
        }
        let m: StateMirror = serde_json::to_value(w)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())?;
        let mut groups = m.groups.into_iter();
        let (Some(g), None) = (groups.next(), groups.next()) else {
            return None;
        };
        if g.aggs.len() != self.aggs.len() {
            return None;
        }
        let mut f = FlatWindows {
            buf: g.buf,
            head_seq: g.head_seq,
            ..FlatWindows::default()
        };
        for (i, AggMirror::Total { sum, tail }) in g.aggs.into_iter().enumerate() {
            *f.sums.get_mut(i)? = sum;
            *f.tails.get_mut(i)? = tail;
        }
        Some(f)
    }
}

/// [`Fixed::sum_to_f64`], without 128-bit division when the total fits in
/// 64 bits (same quotient and remainder, so the same float).
#[inline]
pub fn sum_to_f64(sum: i128) -> f64 {
    match i64::try_from(sum) {
        Ok(s) => {
            let whole = s / Fixed::SCALE;
            let frac = s % Fixed::SCALE;
            whole as f64 + frac as f64 / Fixed::SCALE as f64
        }
        Err(_) => Fixed::sum_to_f64(sum),
    }
}

/// Window contents of one key in a flat store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlatWindows {
    /// Readings still inside the longest window.
    pub(crate) buf: VecDeque<(i64, i64)>,
    /// Sequence number of `buf[0]`.
    pub(crate) head_seq: u64,
    /// Per window: sequence number of its oldest reading.
    pub(crate) tails: [u64; MAX_FLAT],
    /// Per window: exact total of its readings.
    pub(crate) sums: [i128; MAX_FLAT],
}

impl FlatWindows {
    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<(i64, i64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Expr;
    use crate::value::Value;
    use crate::window::WindowLayout;
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
    fn only_sliding_totals_over_one_input_qualify() {
        assert!(FlatLayout::new(&defs(&[(Agg::Sum, 10), (Agg::Rate, 20)])).is_some());
        assert!(FlatLayout::new(&defs(&[(Agg::Sum, 10), (Agg::Max, 20)])).is_none());
        assert!(FlatLayout::new(&defs(&[(Agg::Sum, 1); 5])).is_none());
        assert!(FlatLayout::new(&[]).is_none());
        let mut two = defs(&[(Agg::Sum, 10), (Agg::Sum, 20)]);
        if let Some(w) = two.get_mut(1) {
            w.input = Expr::Field(1);
        }
        assert!(FlatLayout::new(&two).is_none());
        let mut tumbling = defs(&[(Agg::Sum, 10)]);
        if let Some(w) = tumbling.get_mut(0) {
            w.tumbling = true;
        }
        assert!(FlatLayout::new(&tumbling).is_none());
    }

    #[test]
    fn fast_sum_conversion_is_exact() {
        for s in [
            0i128,
            1,
            -1,
            999_999,
            1_000_000,
            -1_000_001,
            123_456_789_012,
            i128::from(i64::MAX),
            i128::from(i64::MIN),
            i128::from(i64::MAX) * 3,
        ] {
            assert_eq!(
                sum_to_f64(s).to_bits(),
                Fixed::sum_to_f64(s).to_bits(),
                "{s}"
            );
        }
    }

    proptest! {
        #[test]
        fn flat_matches_reference_windows(
            steps in proptest::collection::vec((0i64..4_000, -500_000i64..5_000_000), 1..300),
            specs in proptest::collection::vec((0usize..8, 1i64..20_000), 1..=MAX_FLAT),
        ) {
            let aggs = [Agg::Sum, Agg::Avg, Agg::Count, Agg::First, Agg::Last, Agg::Delta, Agg::Rate, Agg::CountIf];
            let specs: Vec<(Agg, i64)> = specs.iter().map(|&(a, d)| (aggs[a], d)).collect();
            let windows = defs(&specs);
            let reference = WindowLayout::new(&windows);
            let mut rst = reference.new_state();
            let Some(flat) = FlatLayout::new(&windows) else {
                return Err(TestCaseError::fail("layout should qualify"));
            };
            let mut fst = FlatWindows::default();
            let mut t = 0;
            for (gap, v) in steps {
                t += gap;
                rst.advance(t);
                rst.push(0, t, Fixed(v));
                flat.advance(&mut fst, t);
                flat.push(&mut fst, t, Fixed(v));
                prop_assert_eq!(flat.to_reference(&fst), Some(rst.clone()));
                prop_assert_eq!(flat.from_reference(&rst), Some(fst.clone()));
                for i in 0..specs.len() {
                    let want = reference.value(&rst, i as u16);
                    let got = flat.value(&fst, i).map_or(Value::Null, Value::Num);
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
