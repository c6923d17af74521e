//! Hand-written Rust baselines: what a programmer would write for exactly
//! one workload, with no engine. They compute the same level changes.

use super::{Checksum, WINDOWS_RULES, Workload};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use yingji_engine::Level;
use yingji_engine::value::Fixed;

/// One signal's ladder: signal index, thresholds (highest level first), current level.
type Ladder = (u32, Vec<f64>, Level);

/// Thresholds: a hash map from region to that region's ladders.
#[derive(Debug)]
pub struct NativeThresholds {
    by_key: FxHashMap<Arc<str>, Vec<Ladder>>,
}

impl NativeThresholds {
    /// Builds the map from the workload's ladders.
    pub fn new(w: &Workload) -> NativeThresholds {
        let mut by_key: FxHashMap<Arc<str>, Vec<Ladder>> = FxHashMap::default();
        for (j, (key, ts)) in w.ladders.iter().enumerate() {
            by_key
                .entry(Arc::from(format!("R{key}")))
                .or_default()
                .push((
                    u32::try_from(j).unwrap_or(u32::MAX),
                    ts.clone(),
                    Level::None,
                ));
        }
        NativeThresholds { by_key }
    }

    /// One reading.
    #[inline]
    pub fn push(&mut self, seq: u64, key: &str, value: f64, sum: &mut Checksum) {
        let Some(ladders) = self.by_key.get_mut(key) else {
            return;
        };
        for (sig, ts, level) in ladders.iter_mut() {
            let to = ts
                .iter()
                .position(|&t| value >= t)
                .and_then(super::level_at)
                .unwrap_or(Level::None);
            if to != *level {
                sum.add(seq, *sig, key, *level, to);
                *level = to;
            }
        }
    }
}

/// Windows: per station a buffer of readings and four running exact sums.
#[derive(Debug, Default)]
pub struct NativeWindows {
    index: FxHashMap<Arc<str>, u32>,
    stations: Vec<Station>,
}

#[derive(Debug, Default)]
struct Station {
    buf: VecDeque<(i64, i64)>,
    head: u64,
    tails: [u64; 4],
    sums: [i64; 4],
    level: Level,
}

impl NativeWindows {
    /// Empty state.
    pub fn new() -> NativeWindows {
        NativeWindows::default()
    }

    /// One reading.
    #[inline]
    pub fn push(&mut self, seq: u64, ts: i64, key: &str, mm: f64, sum: &mut Checksum) {
        let idx = match self.index.get(key) {
            Some(&i) => i as usize,
            None => {
                let i = self.stations.len();
                self.index
                    .insert(Arc::from(key), u32::try_from(i).unwrap_or(u32::MAX));
                self.stations.push(Station::default());
                i
            }
        };
        let Some(st) = self.stations.get_mut(idx) else {
            return;
        };
        let end = st.head + st.buf.len() as u64;
        for (w, &(dur, _)) in WINDOWS_RULES.iter().enumerate() {
            let cutoff = ts - dur;
            let (Some(tail), Some(s)) = (st.tails.get_mut(w), st.sums.get_mut(w)) else {
                continue;
            };
            while *tail < end {
                match st.buf.get((*tail - st.head) as usize) {
                    Some(&(t, v)) if t <= cutoff => {
                        *s -= v;
                        *tail += 1;
                    }
                    _ => break,
                }
            }
        }
        // the 12 h window is the longest: readings before its tail can go
        while st.head < st.tails[3] && st.buf.pop_front().is_some() {
            st.head += 1;
        }
        if let Some(x) = Fixed::from_f64(mm) {
            st.buf.push_back((ts, x.0));
            for s in &mut st.sums {
                *s += x.0;
            }
        }
        let to = WINDOWS_RULES
            .iter()
            .zip(st.sums)
            .position(|(&(_, t), s)| yingji_engine::compiled::flat::sum_to_f64(i128::from(s)) >= t)
            .and_then(super::level_at)
            .unwrap_or(Level::None);
        if to != st.level {
            sum.add(seq, 0, key, st.level, to);
            st.level = to;
        }
    }

    /// Bytes of state held (table, buffers).
    pub fn state_bytes(&self) -> usize {
        self.index.capacity() * (std::mem::size_of::<(Arc<str>, u32)>() + 1)
            + self.index.keys().map(|k| k.len() + 16).sum::<usize>()
            + self.stations.capacity() * std::mem::size_of::<Station>()
            + self
                .stations
                .iter()
                .map(|s| s.buf.capacity() * 16)
                .sum::<usize>()
    }
}
