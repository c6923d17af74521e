//! # yingji-bench
//!
//! Deterministic benchmark workloads, shared by `yingji bench` and the
//! criterion benches in `benches/`. Not part of yingji's stable API: the
//! harness depends on the internal crates (`yingji-engine`, `yingji-dsl`)
//! only, and the `yingji` CLI (feature `cli`) hands it what it needs of the
//! facade (the stream API's file run, [`e2e::RunFile`]).
//!
//! Each workload is generated from its parameters and a seed: the same
//! parameters always give the same definitions (as `.yj` text) and the same
//! events (pre-parsed, and as JSONL). Each also has a hand-written Rust
//! baseline computing the same level changes, and (for thresholds) a rhai
//! script with the same rules; [`Checksum`] condenses a run's level changes
//! so that runs can be checked equal before any figure is reported.

pub mod chains;
pub mod cli;
pub mod e2e;
pub mod native;
pub mod province;
pub mod rhai_leg;
pub mod run;

use std::fmt::Write as _;
use std::sync::Arc;
use yingji_engine::event::Schema;
use yingji_engine::{Event, Level, Program, Timestamp, Value};

/// Why a workload cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A count that must be positive is zero.
    #[error("--{0} must be at least 1")]
    Zero(&'static str),
    /// More rules per key than distinct thresholds can be generated.
    #[error(
        "{rules} rules over {keys} keys need {per_key} distinct thresholds per key, but the generator has only {max} (0.1 … 999.9 in steps of 0.1); use fewer rules or more keys"
    )]
    TooManyRules {
        /// Rules asked for.
        rules: usize,
        /// Keys asked for.
        keys: usize,
        /// Rules per key that implies.
        per_key: usize,
        /// The most the generator can make distinct.
        max: usize,
    },
    /// More keys than a workload supports.
    #[error("--keys {keys} is more than this workload supports ({max})")]
    TooManyKeys {
        /// Keys asked for.
        keys: usize,
        /// Limit.
        max: usize,
    },
    /// More chains than the chains generator names.
    #[error("--chains {chains} is more than this workload supports ({max})")]
    TooManyChains {
        /// Chains asked for.
        chains: usize,
        /// Limit.
        max: usize,
    },
    /// Too few events for every chain to run once.
    #[error(
        "--events {events} is too few for --chains {chains}: every chain needs up to 3 events per round (start, answer, stand-down), so at least {min}"
    )]
    TooFewEvents {
        /// Events asked for.
        events: usize,
        /// Chains asked for.
        chains: usize,
        /// The fewest events that run every chain once.
        min: usize,
    },
    /// The generated definitions did not load (a bug in the generator).
    #[error("generated definitions were rejected: {0}")]
    Definitions(String),
}

/// Distinct thresholds the thresholds generator can make per key.
pub const MAX_THRESHOLDS_PER_KEY: usize = 9_999;
/// Most keys a workload accepts.
pub const MAX_KEYS: usize = 10_000_000;

/// SplitMix64: small, fast and deterministic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }
}

/// A generated workload: definitions, events and what the baselines need.
#[derive(Clone, Debug)]
pub struct Workload {
    /// `thresholds` or `windows`.
    pub name: &'static str,
    /// The definitions as `.yj` source.
    pub source: String,
    /// Events in order (pre-parsed against `program`).
    pub events: Vec<Event>,
    /// Key text of each event (the `region` / `station` field).
    pub keys: Vec<Arc<str>>,
    /// Number of distinct keys.
    pub key_count: usize,
    /// The numeric reading of each event (`value` / `mm`).
    pub values: Vec<f64>,
    /// For thresholds: per signal, its key index and thresholds (highest level first).
    pub ladders: Vec<(usize, Vec<f64>)>,
    /// The compiled program.
    pub program: Program,
}

impl Workload {
    /// The events as JSONL lines (what `yingji run` would read).
    pub fn jsonl(&self) -> Vec<String> {
        let field = if self.name == "thresholds" {
            ("region", "value", "reading")
        } else {
            ("station", "mm", "rain")
        };
        self.events
            .iter()
            .zip(self.keys.iter().zip(&self.values))
            .map(|(ev, (k, v))| {
                let mut s = String::with_capacity(96);
                let _ = write!(
                    s,
                    r#"{{"ts":"{}","kind":"{}","{}":"{}","{}":{}}}"#,
                    ev.ts, field.2, field.0, k, field.1, v
                );
                s
            })
            .collect()
    }
}

const LEVELS: [&str; 4] = ["red", "orange", "yellow", "blue"];
/// 2024-07-28T00:00:00+08:00.
const T0_MS: i64 = 1_722_096_000_000;

fn load(source: &str) -> Result<Program, ParamError> {
    load_files(vec![("bench.yj".to_string(), source.to_string())]).map(|l| l.program)
}

/// Loads generated definitions with the DSL's loader; a definition with an
/// error is [`ParamError::Definitions`] with the rendered diagnostics.
pub fn load_files(files: Vec<(String, String)>) -> Result<yingji_dsl::load::Loaded, ParamError> {
    let loaded = yingji_dsl::load::load(&yingji_dsl::load::MemLoader(files));
    if loaded.has_errors() {
        return Err(ParamError::Definitions(loaded.render()));
    }
    Ok(loaded)
}

fn events(
    program: &Program,
    kind: &str,
    key_field: &str,
    val_field: &str,
    keys: &[Arc<str>],
    values: &[f64],
) -> Vec<Event> {
    let schema = Schema::new(program);
    let kind_id = program
        .kinds
        .iter()
        .position(|k| k.name == kind)
        .and_then(|k| u16::try_from(k).ok());
    let (kf, vf) = (schema.field(key_field), schema.field(val_field));
    keys.iter()
        .zip(values)
        .enumerate()
        .map(|(i, (k, v))| {
            let mut fields = vec![Value::Null; program.fields.len()];
            if let Some(slot) = kf.and_then(|f| fields.get_mut(usize::from(f))) {
                *slot = Value::Str(k.clone());
            }
            if let Some(slot) = vf.and_then(|f| fields.get_mut(usize::from(f))) {
                *slot = Value::Num(*v);
            }
            Event {
                ts: Timestamp {
                    ms: T0_MS + i as i64 * 1000,
                    offset_min: 480,
                },
                kind: kind_id,
                kind_name: Arc::from(kind),
                id: None,
                fields,
                seq: i as u64 + 1,
            }
        })
        .collect()
}

fn check_counts(pairs: &[(&'static str, usize)]) -> Result<(), ParamError> {
    for &(name, n) in pairs {
        if n == 0 {
            return Err(ParamError::Zero(name));
        }
    }
    Ok(())
}

/// `thresholds`: `rules` threshold rules over `keys` regions, as signals of
/// up to four levels (`level red when value >= a` …), each filtered to one
/// region; `events` readings of random regions and values.
pub fn thresholds(
    rules: usize,
    keys: usize,
    events_n: usize,
    seed: u64,
) -> Result<Workload, ParamError> {
    check_counts(&[("rules", rules), ("keys", keys), ("events", events_n)])?;
    if keys > MAX_KEYS {
        return Err(ParamError::TooManyKeys {
            keys,
            max: MAX_KEYS,
        });
    }
    let per_key = rules.div_ceil(keys);
    if per_key > MAX_THRESHOLDS_PER_KEY {
        return Err(ParamError::TooManyRules {
            rules,
            keys,
            per_key,
            max: MAX_THRESHOLDS_PER_KEY,
        });
    }
    let mut rng = Rng::new(seed);
    let signals = rules.div_ceil(4);
    // per key, a shuffled pool of distinct thresholds (tenths 1..=9999), drawn lazily
    let mut used: Vec<rustc_hash::FxHashSet<u32>> =
        vec![rustc_hash::FxHashSet::default(); keys.min(signals)];
    let mut source = String::from("event reading { region: string, value: number }\n");
    let mut ladders = Vec::with_capacity(signals);
    for j in 0..signals {
        let n = (rules - 4 * j).min(4);
        let key = j % keys;
        let mut ts = Vec::with_capacity(n);
        while ts.len() < n {
            let t = 1 + rng.below(MAX_THRESHOLDS_PER_KEY as u64) as u32;
            if used.get_mut(key).is_some_and(|u| u.insert(t)) {
                ts.push(t);
            }
        }
        ts.sort_unstable_by(|a, b| b.cmp(a));
        let _ = writeln!(
            source,
            "signal t{j} {{\n  from reading\n  where region == \"R{key}\"\n  key region"
        );
        for (l, t) in ts.iter().enumerate() {
            let _ = writeln!(
                source,
                "  level {} when value >= {}.{}",
                LEVELS[l],
                t / 10,
                t % 10
            );
        }
        source.push_str("}\n");
        ladders.push((key, ts.iter().map(|&t| f64::from(t) / 10.0).collect()));
    }
    let program = load(&source)?;
    let names: Vec<Arc<str>> = (0..keys).map(|k| Arc::from(format!("R{k}"))).collect();
    let mut ev_keys = Vec::with_capacity(events_n);
    let mut values = Vec::with_capacity(events_n);
    for _ in 0..events_n {
        let k = rng.below(keys as u64) as usize;
        ev_keys.push(names.get(k).cloned().unwrap_or_else(|| Arc::from("R0")));
        values.push(rng.below(10_000) as f64 / 10.0);
    }
    let events = events(&program, "reading", "region", "value", &ev_keys, &values);
    Ok(Workload {
        name: "thresholds",
        source,
        events,
        keys: ev_keys,
        key_count: keys,
        values,
        ladders,
        program,
    })
}

/// The rainstorm-style signal of the `windows` workload: four sliding sums,
/// four levels, each level on its own window.
pub const WINDOWS_SOURCE: &str = "event rain { station: string, mm: number }
signal 暴雨 {
  from rain
  key station
  let r1  = sum(mm, 1h)
  let r3  = sum(mm, 3h)
  let r6  = sum(mm, 6h)
  let r12 = sum(mm, 12h)
  level red    when r1  >= 60
  level orange when r3  >= 80
  level yellow when r6  >= 60
  level blue   when r12 >= 50
}
";

/// Window lengths of [`WINDOWS_SOURCE`] (ms) and the thresholds, in level order.
pub const WINDOWS_RULES: [(i64, f64); 4] = [
    (3_600_000, 60.0),
    (3 * 3_600_000, 80.0),
    (6 * 3_600_000, 60.0),
    (12 * 3_600_000, 50.0),
];

/// `windows`: `keys` rain gauges each reporting every 5 minutes (all
/// stations per tick, in order) for `events` readings in all; rain comes in
/// storms of a few hours per station, so every level is reached.
pub fn windows(keys: usize, events_n: usize, seed: u64) -> Result<Workload, ParamError> {
    check_counts(&[("keys", keys), ("events", events_n)])?;
    if keys > MAX_KEYS {
        return Err(ParamError::TooManyKeys {
            keys,
            max: MAX_KEYS,
        });
    }
    let program = load(WINDOWS_SOURCE)?;
    let mut rng = Rng::new(seed);
    let names: Vec<Arc<str>> = (0..keys).map(|k| Arc::from(format!("YY-{k:06}"))).collect();
    // per station: remaining ticks of the current storm and its intensity (tenths of mm per 5 min)
    let mut storm: Vec<(u32, u64)> = vec![(0, 0); keys];
    let mut ev_keys = Vec::with_capacity(events_n);
    let mut values = Vec::with_capacity(events_n);
    let schema = Schema::new(&program);
    let kind = program
        .kinds
        .iter()
        .position(|k| k.name == "rain")
        .and_then(|k| u16::try_from(k).ok());
    let (kf, vf) = (schema.field("station"), schema.field("mm"));
    let mut events = Vec::with_capacity(events_n);
    for i in 0..events_n {
        let k = i % keys;
        let tick = (i / keys) as i64;
        let Some(st) = storm.get_mut(k) else { break };
        if st.0 == 0 && rng.below(200) == 0 {
            *st = (12 + rng.below(60) as u32, 5 + rng.below(120));
        }
        let tenths = if st.0 > 0 {
            st.0 -= 1;
            st.1 / 2 + rng.below(st.1 + 1)
        } else {
            rng.below(3)
        };
        let v = tenths as f64 / 10.0;
        let key = names.get(k).cloned().unwrap_or_else(|| Arc::from("YY-0"));
        let mut fields = vec![Value::Null; program.fields.len()];
        if let Some(slot) = kf.and_then(|f| fields.get_mut(usize::from(f))) {
            *slot = Value::Str(key.clone());
        }
        if let Some(slot) = vf.and_then(|f| fields.get_mut(usize::from(f))) {
            *slot = Value::Num(v);
        }
        events.push(Event {
            ts: Timestamp {
                ms: T0_MS + tick * 300_000,
                offset_min: 480,
            },
            kind,
            kind_name: Arc::from("rain"),
            id: None,
            fields,
            seq: i as u64 + 1,
        });
        ev_keys.push(key);
        values.push(v);
    }
    Ok(Workload {
        name: "windows",
        source: WINDOWS_SOURCE.to_string(),
        events,
        keys: ev_keys,
        key_count: keys,
        values,
        ladders: Vec::new(),
        program,
    })
}

/// An order-independent digest of level changes: count and wrapping sum of
/// a mix of (event, signal, key, from, to).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Changes seen.
    pub changes: u64,
    /// Wrapping sum of their hashes.
    pub sum: u64,
}

impl Checksum {
    /// Adds one change.
    #[inline]
    pub fn add(&mut self, event: u64, signal: u32, key: &str, from: Level, to: Level) {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for b in key.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        let mut z = h
            ^ event.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(signal).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ ((from as u64) << 3 | to as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
        z = (z ^ (z >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        self.changes += 1;
        self.sum = self.sum.wrapping_add(z ^ (z >> 32));
    }
}

/// The level of rule `i` of a ladder written highest first.
#[inline]
pub fn level_at(i: usize) -> Option<Level> {
    Level::DESCENDING.get(i).copied()
}
