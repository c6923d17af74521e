//! Running a workload through yingji and its baselines, and the report.

use super::native::{NativeThresholds, NativeWindows};
use super::rhai_leg::RhaiThresholds;
use super::{Checksum, ParamError, Workload};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};
use yingji_engine::compiled::CompiledEngine;
use yingji_engine::event::Schema;
use yingji_engine::{Engine, Event, Value};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Bad parameters.
    #[error(transparent)]
    Params(#[from] ParamError),
    /// The program did not compile.
    #[error("compile: {0}")]
    Compile(String),
    /// An event was rejected (a generator bug).
    #[error("event {seq} rejected: {why}")]
    Event {
        /// Event number.
        seq: u64,
        /// Why.
        why: String,
    },
    /// The rhai leg failed.
    #[error(transparent)]
    Rhai(#[from] super::rhai_leg::RhaiError),
    /// Outputs differ: no figure is reported.
    #[error(
        "checksums differ ({what}): yingji {yingji:?}, baseline {baseline:?}; no figures reported"
    )]
    Mismatch {
        /// Which comparison.
        what: &'static str,
        /// yingji's.
        yingji: Checksum,
        /// The baseline's.
        baseline: Checksum,
    },
}

/// Options of a run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Events for the rhai leg (0: skip it); the figure is per event, so fewer suffice.
    pub rhai_events: usize,
    /// Events timed one by one for the latency percentiles.
    pub latency_events: usize,
    /// Show a progress bar on standard error.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rhai_events: 5_000,
            latency_events: 200_000,
            progress: true,
        }
    }
}

/// The figures of one workload (one JSON object with `--json`).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Workload name.
    pub workload: String,
    /// Parameters as given.
    pub params: serde_json::Value,
    /// Events run through yingji and the native baseline.
    pub events: usize,
    /// Level changes produced.
    pub changes: u64,
    /// yingji (compiled engine, pre-parsed events): ns per event.
    pub yingji_ns_per_event: f64,
    /// yingji events per second.
    pub yingji_events_per_s: f64,
    /// Reference (tree-walking) engine on the same events: ns per event.
    pub reference_ns_per_event: Option<f64>,
    /// Hand-written Rust baseline: ns per event.
    pub native_ns_per_event: f64,
    /// rhai: ns per event (measured on `rhai_events`), or null.
    pub rhai_ns_per_event: Option<f64>,
    /// Events run through rhai.
    pub rhai_events: usize,
    /// yingji / native.
    pub ratio_vs_native: f64,
    /// rhai / yingji.
    pub rhai_over_yingji: Option<f64>,
    /// Per-event latency, median (ns; includes the clock read).
    pub p50_ns: u64,
    /// Per-event latency, 99th percentile (ns).
    pub p99_ns: u64,
    /// Parse + lower + compile time (ms).
    pub compile_ms: f64,
    /// Peak resident memory of the process (VmHWM), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// yingji's state bytes per key.
    pub state_bytes_per_key: f64,
    /// The native baseline's state bytes per key (windows only).
    pub native_state_bytes_per_key: Option<f64>,
    /// Whether every checksum comparison agreed (always true in a report: a mismatch is an error).
    pub checksums_equal: bool,
    /// Remarks (scaling, what was skipped).
    pub notes: Vec<String>,
}

/// Peak resident set size from `/proc/self/status` (Linux), bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn bar(n: usize, on: bool, what: &str) -> ProgressBar {
    if !on {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(n as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

const CHUNK: usize = 1 << 16;

/// Compiles the workload's definitions from source (what `compile_ms` times).
pub fn compile(w: &Workload) -> Result<(CompiledEngine, Duration), BenchError> {
    let t = Instant::now();
    let defs = crate::Definitions::from_str("bench.yj", &w.source)
        .map_err(|e| BenchError::Compile(e.rendered))?;
    let eng = CompiledEngine::new(&defs.program).map_err(|e| BenchError::Compile(e.to_string()))?;
    Ok((eng, t.elapsed()))
}

/// Runs `events` through a compiled engine; returns the checksum, and the checksum after `prefix` events.
pub fn run_compiled(
    eng: &mut CompiledEngine,
    events: &[Event],
    prefix: usize,
    pb: &ProgressBar,
) -> Result<(Checksum, Checksum), BenchError> {
    let mut sum = Checksum::default();
    let mut at_prefix = Checksum::default();
    for (i, chunk) in events.chunks(CHUNK).enumerate() {
        for (j, ev) in chunk.iter().enumerate() {
            eng.push_with(ev, |e, c| {
                if let Some(k) = e.key_name(c.key) {
                    sum.add(c.event, c.signal, k, c.from, c.to);
                }
            })
            .map_err(|e| BenchError::Event {
                seq: ev.seq,
                why: e.to_string(),
            })?;
            if i * CHUNK + j + 1 == prefix {
                at_prefix = sum;
            }
        }
        pb.inc(chunk.len() as u64);
    }
    Ok((sum, at_prefix))
}

fn key_and_value(w: &Workload, i: usize) -> (&str, f64) {
    (
        w.keys.get(i).map_or("", |k| k.as_ref()),
        w.values.get(i).copied().unwrap_or_default(),
    )
}

/// Runs the native baseline of the workload.
pub fn run_native(w: &Workload) -> (Checksum, usize) {
    let mut sum = Checksum::default();
    if w.name == "thresholds" {
        let mut n = NativeThresholds::new(w);
        for (i, ev) in w.events.iter().enumerate() {
            let (k, v) = key_and_value(w, i);
            n.push(ev.seq, black_box(k), black_box(v), &mut sum);
        }
        (sum, 0)
    } else {
        let mut n = NativeWindows::new();
        for (i, ev) in w.events.iter().enumerate() {
            let (k, v) = key_and_value(w, i);
            n.push(ev.seq, ev.ts.ms, black_box(k), black_box(v), &mut sum);
        }
        (sum, n.state_bytes())
    }
}

fn percentiles(mut v: Vec<u64>) -> (u64, u64) {
    if v.is_empty() {
        return (0, 0);
    }
    v.sort_unstable();
    let at = |q: f64| {
        v.get(((v.len() - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    (at(0.5), at(0.99))
}

fn check(what: &'static str, yingji: Checksum, baseline: Checksum) -> Result<(), BenchError> {
    if yingji == baseline {
        Ok(())
    } else {
        Err(BenchError::Mismatch {
            what,
            yingji,
            baseline,
        })
    }
}

/// Runs a workload through yingji, the reference engine, the native baseline and (thresholds) rhai.
pub fn run(w: &Workload, params: serde_json::Value, opts: &Options) -> Result<Report, BenchError> {
    let n = w.events.len();
    let mut notes = Vec::new();
    // compile (timed), then the timed yingji run
    let (mut eng, compile_time) = compile(w)?;
    let rhai_n = if w.name == "thresholds" {
        opts.rhai_events.min(n)
    } else {
        0
    };
    let pb = bar(n, opts.progress, "yingji");
    let t = Instant::now();
    let (sum, prefix_sum) = run_compiled(&mut eng, &w.events, rhai_n, &pb)?;
    let yingji_time = t.elapsed();
    pb.finish_and_clear();
    let keys = eng.key_count().max(1);
    let state_bytes_per_key = eng.state_bytes() as f64 / keys as f64;
    drop(eng);

    let t = Instant::now();
    let (native_sum, native_bytes) = run_native(w);
    let native_time = t.elapsed();
    check("yingji vs native", sum, native_sum)?;

    // the reference engine on a prefix, as a second opinion and for scale
    let ref_n = n.min(200_000);
    let mut reference =
        Engine::new(w.program.clone()).map_err(|e| BenchError::Compile(e.to_string()))?;
    let mut out = Vec::new();
    let t = Instant::now();
    for ev in w.events.iter().take(ref_n) {
        reference
            .push(ev, &mut out)
            .map_err(|e| BenchError::Event {
                seq: ev.seq,
                why: e.to_string(),
            })?;
        out.clear();
    }
    let reference_time = t.elapsed();
    if ref_n < n {
        notes.push(format!("reference engine run on the first {ref_n} events"));
    }

    let mut rhai_ns = None;
    if rhai_n > 0 {
        let mut rhai = RhaiThresholds::new(w)?;
        let mut rsum = Checksum::default();
        let pb = bar(rhai_n, opts.progress, "rhai");
        let t = Instant::now();
        for (i, ev) in w.events.iter().take(rhai_n).enumerate() {
            let (k, v) = key_and_value(w, i);
            rhai.push(ev.seq, k, v, &mut rsum)?;
            if i % 256 == 0 {
                pb.inc(256);
            }
        }
        let rt = t.elapsed();
        pb.finish_and_clear();
        check("yingji vs rhai (prefix)", prefix_sum, rsum)?;
        rhai_ns = Some(rt.as_nanos() as f64 / rhai_n as f64);
        if rhai_n < n {
            notes.push(format!("rhai run on the first {rhai_n} of {n} events; its ns/event is per event of that prefix"));
        }
    } else if w.name != "thresholds" {
        notes.push("rhai not run for this workload: it has no sliding windows of its own".into());
    }

    // per-event latency on a fresh engine
    let lat_n = n.min(opts.latency_events);
    let (mut eng, _) = compile(w)?;
    let mut lat = Vec::with_capacity(lat_n);
    for ev in w.events.iter().take(lat_n) {
        let t = Instant::now();
        let r = eng.push_with(ev, |_, c| {
            black_box(c);
        });
        lat.push(t.elapsed().as_nanos() as u64);
        r.map_err(|e| BenchError::Event {
            seq: ev.seq,
            why: e.to_string(),
        })?;
    }
    let (p50, p99) = percentiles(lat);

    let ns = |d: Duration, k: usize| d.as_nanos() as f64 / k.max(1) as f64;
    let yingji_ns = ns(yingji_time, n);
    let native_ns = ns(native_time, n);
    Ok(Report {
        workload: w.name.to_string(),
        params,
        events: n,
        changes: sum.changes,
        yingji_ns_per_event: yingji_ns,
        yingji_events_per_s: 1e9 / yingji_ns.max(f64::MIN_POSITIVE),
        reference_ns_per_event: Some(ns(reference_time, ref_n)),
        native_ns_per_event: native_ns,
        rhai_ns_per_event: rhai_ns,
        rhai_events: rhai_n,
        ratio_vs_native: yingji_ns / native_ns.max(f64::MIN_POSITIVE),
        rhai_over_yingji: rhai_ns.map(|r| r / yingji_ns.max(f64::MIN_POSITIVE)),
        p50_ns: p50,
        p99_ns: p99,
        compile_ms: compile_time.as_secs_f64() * 1e3,
        peak_rss_bytes: peak_rss_bytes(),
        state_bytes_per_key,
        native_state_bytes_per_key: (native_bytes > 0)
            .then(|| native_bytes as f64 / w.key_count as f64),
        checksums_equal: true,
        notes,
    })
}

/// JSONL ingestion figures: ns per line for each way of reading the same lines.
#[derive(Clone, Debug, Serialize)]
pub struct JsonlReport {
    /// Always `jsonl`.
    pub workload: String,
    /// Lines.
    pub events: usize,
    /// Bytes of input.
    pub bytes: usize,
    /// `serde_json::Value` (a generic tree per line).
    pub serde_value_ns_per_line: f64,
    /// A serde struct with borrowed strings (the least any serde parse does).
    pub serde_borrowed_ns_per_line: f64,
    /// The engine's schema-driven parser ([`Schema::parse_into`]).
    pub schema_parse_ns_per_line: f64,
    /// Parse + compiled evaluation (what `yingji run` does, less output writing).
    pub parse_and_eval_ns_per_line: f64,
    /// Parse + reference engine (`Engine::push_line`).
    pub reference_push_line_ns_per_line: f64,
    /// parse_and_eval / schema_parse.
    pub end_to_end_over_parse: f64,
    /// Whether the compiled and reference runs agreed.
    pub checksums_equal: bool,
}

#[derive(serde::Deserialize)]
#[allow(dead_code, reason = "fields are parsed to be measured, not read")]
struct Borrowed<'a> {
    ts: &'a str,
    kind: &'a str,
    station: &'a str,
    mm: f64,
}

/// Measures JSONL ingestion on the workload's events as lines.
pub fn run_jsonl(w: &Workload) -> Result<JsonlReport, BenchError> {
    let lines = w.jsonl();
    let n = lines.len().max(1);
    let bytes = lines.iter().map(|l| l.len() + 1).sum();
    let time = |f: &mut dyn FnMut(&str)| {
        let t = Instant::now();
        for l in &lines {
            f(l);
        }
        t.elapsed().as_nanos() as f64 / n as f64
    };
    let serde_value = time(&mut |l| {
        black_box(serde_json::from_str::<serde_json::Value>(l).ok());
    });
    let serde_borrowed = time(&mut |l| {
        black_box(serde_json::from_str::<Borrowed<'_>>(l).ok());
    });
    let schema = Schema::new(&w.program);
    let mut ev = Event {
        ts: yingji_engine::Timestamp::default(),
        kind: None,
        kind_name: std::sync::Arc::from(""),
        id: None,
        fields: vec![Value::Null; w.program.fields.len()],
        seq: 0,
    };
    let schema_parse = time(&mut |l| {
        black_box(schema.parse_into(l, &w.program, 0, &mut ev).is_ok());
    });
    let (mut eng, _) = compile(w)?;
    let mut sum = Checksum::default();
    let mut failed = None;
    let mut seq = 0u64;
    let parse_eval = time(&mut |l| {
        seq += 1;
        let r = schema
            .parse_into(l, &w.program, seq, &mut ev)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                eng.push_with(&ev, |e, c| {
                    if let Some(k) = e.key_name(c.key) {
                        sum.add(c.event, c.signal, k, c.from, c.to);
                    }
                })
                .map_err(|e| e.to_string())
            });
        if let Err(why) = r {
            failed.get_or_insert(BenchError::Event { seq, why });
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    // no lateness: the reference releases each event at once, as the compiled kernel applies it
    let config = yingji_engine::Config {
        lateness_ms: 0,
        ..yingji_engine::Config::default()
    };
    let mut reference = Engine::with_config(w.program.clone(), config)
        .map_err(|e| BenchError::Compile(e.to_string()))?;
    let mut out = Vec::new();
    let mut rsum = Checksum::default();
    let mut seq = 0u64;
    let reference_push = time(&mut |l| {
        seq += 1;
        let _ = reference.push_line(l, seq, &mut out);
        for o in out.drain(..) {
            if let yingji_engine::Output::LevelChanged(c) = o {
                // signal index: the windows workload has one signal, thresholds name them t<j>
                let sig = c
                    .signal
                    .strip_prefix('t')
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                rsum.add(c.event, sig, &c.key, c.from, c.to);
            }
        }
    });
    reference.flush(&mut out);
    for o in out.drain(..) {
        if let yingji_engine::Output::LevelChanged(c) = o {
            let sig = c
                .signal
                .strip_prefix('t')
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            rsum.add(c.event, sig, &c.key, c.from, c.to);
        }
    }
    check("compiled vs reference (JSONL)", sum, rsum)?;
    Ok(JsonlReport {
        workload: "jsonl".into(),
        events: lines.len(),
        bytes,
        serde_value_ns_per_line: serde_value,
        serde_borrowed_ns_per_line: serde_borrowed,
        schema_parse_ns_per_line: schema_parse,
        parse_and_eval_ns_per_line: parse_eval,
        reference_push_line_ns_per_line: reference_push,
        end_to_end_over_parse: parse_eval / schema_parse.max(f64::MIN_POSITIVE),
        checksums_equal: true,
    })
}
