//! Running a workload through yingji and its baselines, and the report.

use super::e2e::signal_index;
use super::native::{NativeThresholds, NativeWindows};
use super::rhai_leg::{Form, RhaiThresholds};
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
    /// The kernel (the compiled engine on pre-parsed events; the same as
    /// `yingji_ns_per_event`), or null where the workload has no kernel leg.
    pub yingji_kernel_ns_per_event: Option<f64>,
    /// `Engine::push` (the streaming shell on pre-parsed events, no
    /// lateness): ns per event, or null.
    pub yingji_push_ns_per_event: Option<f64>,
    /// `Engine::push_line` (parsing each JSONL line, then the shell; what
    /// `yingji run` and every binding use): ns per event, or null.
    pub yingji_line_ns_per_event: Option<f64>,
    /// The native baseline fed by a plain serde parse of the same JSONL
    /// lines (a struct with borrowed strings, the time parsed): ns per event.
    pub native_jsonl_ns_per_event: Option<f64>,
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
    /// rhai with one statement per rule (see [`Form::Rules`]): ns per event, or null.
    pub rhai_rules_ns_per_event: Option<f64>,
    /// That form's ns/event over yingji's.
    pub rhai_rules_over_yingji: Option<f64>,
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
    let defs = super::load(&w.source).map_err(|e| BenchError::Compile(e.to_string()))?;
    let eng = CompiledEngine::new(&defs).map_err(|e| BenchError::Compile(e.to_string()))?;
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

/// Runs the first `n` events through the rhai script in `form`; checks its
/// checksum against yingji's on that prefix; returns ns per event.
fn run_rhai(
    w: &Workload,
    form: Form,
    n: usize,
    yingji_prefix: Checksum,
    opts: &Options,
) -> Result<f64, BenchError> {
    let mut rhai = RhaiThresholds::new(w, form)?;
    let mut rsum = Checksum::default();
    let label = match form {
        Form::Ladders => "rhai (ladders)",
        Form::Rules => "rhai (rules)",
    };
    let pb = bar(n, opts.progress, label);
    let t = Instant::now();
    for (i, ev) in w.events.iter().take(n).enumerate() {
        let (k, v) = key_and_value(w, i);
        rhai.push(ev.seq, k, v, &mut rsum)?;
        if i % 256 == 0 {
            pb.inc(256);
        }
    }
    let rt = t.elapsed();
    pb.finish_and_clear();
    let what = match form {
        Form::Ladders => "yingji vs rhai ladders (prefix)",
        Form::Rules => "yingji vs rhai rules (prefix)",
    };
    check(what, yingji_prefix, rsum)?;
    Ok(rt.as_nanos() as f64 / n as f64)
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
    let public = public_paths(w, native_sum)?;

    // the reference engine on a prefix, as a second opinion and for scale
    let ref_n = n.min(200_000);
    let mut reference = Engine::new(w.program.clone())
        .map_err(|e| BenchError::Compile(e.to_string()))?
        .reference_evaluator();
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
    let mut rhai_rules_ns = None;
    if rhai_n > 0 {
        rhai_ns = Some(run_rhai(w, Form::Ladders, rhai_n, prefix_sum, opts)?);
        rhai_rules_ns = Some(run_rhai(w, Form::Rules, rhai_n, prefix_sum, opts)?);
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
        yingji_kernel_ns_per_event: Some(yingji_ns),
        yingji_push_ns_per_event: Some(ns(public.push, n)),
        yingji_line_ns_per_event: Some(ns(public.line, n)),
        native_jsonl_ns_per_event: Some(ns(public.native_jsonl, n)),
        yingji_events_per_s: 1e9 / yingji_ns.max(f64::MIN_POSITIVE),
        reference_ns_per_event: Some(ns(reference_time, ref_n)),
        native_ns_per_event: native_ns,
        rhai_ns_per_event: rhai_ns,
        rhai_events: rhai_n,
        ratio_vs_native: yingji_ns / native_ns.max(f64::MIN_POSITIVE),
        rhai_over_yingji: rhai_ns.map(|r| r / yingji_ns.max(f64::MIN_POSITIVE)),
        rhai_rules_ns_per_event: rhai_rules_ns,
        rhai_rules_over_yingji: rhai_rules_ns.map(|r| r / yingji_ns.max(f64::MIN_POSITIVE)),
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

/// Times of the public paths over the whole workload.
struct PublicPaths {
    push: Duration,
    line: Duration,
    native_jsonl: Duration,
}

/// One JSONL line as the serde-fed native loop reads it.
#[derive(serde::Deserialize)]
struct Row<'a> {
    #[serde(borrow)]
    ts: std::borrow::Cow<'a, str>,
    #[serde(borrow, alias = "region", alias = "station")]
    key: std::borrow::Cow<'a, str>,
    #[serde(alias = "value", alias = "mm")]
    value: f64,
}

/// Folds the level changes of `out` into `sum` (clearing `out`).
fn fold(out: &mut Vec<yingji_engine::Output>, sum: &mut Checksum) {
    for o in out.drain(..) {
        if let yingji_engine::Output::LevelChanged(c) = o {
            sum.add(
                c.event,
                super::e2e::signal_index(&c.signal),
                &c.key,
                c.from,
                c.to,
            );
        }
    }
}

/// Times `Engine::push`, `Engine::push_line` and the native loop fed by a
/// serde parse over the workload, checking each checksum against the
/// native one.
fn public_paths(w: &Workload, native_sum: Checksum) -> Result<PublicPaths, BenchError> {
    let config = yingji_engine::Config {
        lateness_ms: 0,
        max_ahead_ms: None,
        ..yingji_engine::Config::default()
    };
    let engine = || {
        Engine::with_config(w.program.clone(), config.clone())
            .map_err(|e| BenchError::Compile(e.to_string()))
    };
    let event_err = |seq: u64, e: &dyn std::fmt::Display| BenchError::Event {
        seq,
        why: e.to_string(),
    };
    let mut out = Vec::new();
    // Engine::push
    let mut e = engine()?;
    let mut sum = Checksum::default();
    let t = Instant::now();
    for ev in &w.events {
        e.push(ev, &mut out).map_err(|x| event_err(ev.seq, &x))?;
        fold(&mut out, &mut sum);
    }
    e.flush(&mut out);
    fold(&mut out, &mut sum);
    let push = t.elapsed();
    check("Engine::push vs native", sum, native_sum)?;
    drop(e);
    // Engine::push_line
    let lines = w.jsonl();
    let mut e = engine()?;
    let mut sum = Checksum::default();
    let t = Instant::now();
    for (i, l) in lines.iter().enumerate() {
        let seq = i as u64 + 1;
        e.push_line(l, seq, &mut out)
            .map_err(|x| event_err(seq, &x))?;
        fold(&mut out, &mut sum);
    }
    e.flush(&mut out);
    fold(&mut out, &mut sum);
    let line = t.elapsed();
    check("Engine::push_line vs native", sum, native_sum)?;
    drop(e);
    // the native loop, fed by serde
    let mut sum = Checksum::default();
    let t = Instant::now();
    if w.name == "thresholds" {
        let mut n = NativeThresholds::new(w);
        for (i, l) in lines.iter().enumerate() {
            let row: Row =
                serde_json::from_str(black_box(l)).map_err(|x| event_err(i as u64 + 1, &x))?;
            n.push(i as u64 + 1, &row.key, row.value, &mut sum);
        }
    } else {
        let mut n = NativeWindows::new();
        for (i, l) in lines.iter().enumerate() {
            let row: Row =
                serde_json::from_str(black_box(l)).map_err(|x| event_err(i as u64 + 1, &x))?;
            let ts = yingji_engine::Timestamp::parse(&row.ts)
                .map_err(|x| event_err(i as u64 + 1, &x))?;
            n.push(i as u64 + 1, ts.ms, &row.key, row.value, &mut sum);
        }
    }
    let native_jsonl = t.elapsed();
    check("native fed by serde vs native", sum, native_sum)?;
    Ok(PublicPaths {
        push,
        line,
        native_jsonl,
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
    /// Parse + the streaming engine with no allowed lateness
    /// (`Engine::push_line`: reorder buffer, duplicates, outputs built).
    pub reference_push_line_ns_per_line: f64,
    /// parse_and_eval / schema_parse.
    pub end_to_end_over_parse: f64,
    /// Reading the lines from a file and parsing them, nothing else.
    pub file_parse_ns_per_line: f64,
    /// `yingji run` end to end on that file: streaming API, default
    /// lateness (5 min), every output written as JSON.
    pub yingji_run_ns_per_line: f64,
    /// yingji_run / file_parse: the issue's "end-to-end `yingji run` ≤ 2×
    /// the time to parse the same file".
    pub yingji_run_over_parse: f64,
    /// Outputs the run wrote.
    pub yingji_run_outputs: u64,
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
pub fn run_jsonl(w: &Workload, run_file: super::e2e::RunFile) -> Result<JsonlReport, BenchError> {
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
                rsum.add(c.event, signal_index(&c.signal), &c.key, c.from, c.to);
            }
        }
    });
    reference.flush(&mut out);
    for o in out.drain(..) {
        if let yingji_engine::Output::LevelChanged(c) = o {
            rsum.add(c.event, signal_index(&c.signal), &c.key, c.from, c.to);
        }
    }
    check("compiled vs reference (JSONL)", sum, rsum)?;
    let e2e = super::e2e::end_to_end(w, run_file)?;
    check("compiled vs yingji run (JSONL file)", sum, e2e.changes)?;
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
        file_parse_ns_per_line: e2e.parse_ns_per_line,
        yingji_run_ns_per_line: e2e.run_ns_per_line,
        yingji_run_over_parse: e2e.run_ns_per_line / e2e.parse_ns_per_line.max(f64::MIN_POSITIVE),
        yingji_run_outputs: e2e.outputs,
        checksums_equal: true,
    })
}

/// Runs the `chains` workload: the streaming [`Engine`] with the generated
/// signal and plan (what `yingji run` does with plans, less JSON), and the
/// hand-written [`NativeChains`](super::chains::NativeChains) baseline; their
/// records must agree before any figure is reported. rhai is not run.
pub fn run_chains(
    w: &super::chains::ChainsWorkload,
    params: serde_json::Value,
    opts: &Options,
) -> Result<Report, BenchError> {
    use super::chains::{NativeChains, Record, Tally, engine_state_bytes};
    let n = w.events.len();
    let event_err = |ev: &Event, e: yingji_engine::PushError| BenchError::Event {
        seq: ev.seq,
        why: e.to_string(),
    };
    // compile (timed): parse the signal, the plan and the roster, build the engine
    let t = Instant::now();
    let defs = w.definitions()?;
    let mut eng = defs
        .engine_with(yingji_engine::Config::default())
        .map_err(|e| BenchError::Compile(e.to_string()))?;
    let compile_time = t.elapsed();

    // one timed run; each push is also timed on its own for the percentiles
    // (a clock read is tens of ns, an event here tens of µs)
    let pb = bar(n, opts.progress, "yingji chains");
    let mut tally = Tally::default();
    let mut out = Vec::new();
    let mut lat = Vec::with_capacity(n.min(opts.latency_events));
    let t = Instant::now();
    for chunk in w.events.chunks(CHUNK) {
        for ev in chunk {
            let te = Instant::now();
            let r = eng.push(ev, &mut out);
            if lat.len() < opts.latency_events {
                lat.push(te.elapsed().as_nanos() as u64);
            }
            r.map_err(|e| event_err(ev, e))?;
            for o in out.drain(..) {
                tally.output(&o);
            }
        }
        pb.inc(chunk.len() as u64);
    }
    eng.flush(&mut out);
    for o in out.drain(..) {
        tally.output(&o);
    }
    let yingji_time = t.elapsed();
    pb.finish_and_clear();
    let state_bytes = engine_state_bytes(&eng);
    let (held, closed_refs) = eng
        .workflow()
        .map_or((0, 0), |wf| (wf.held_instances(), wf.closed_refs()));
    drop(eng);

    let mut native = NativeChains::new(w);
    let mut ntally = Tally::default();
    let t = Instant::now();
    for (ev, input) in w.events.iter().zip(&w.inputs) {
        native.push(ev.ts.ms, black_box(input), &mut ntally);
    }
    native.finish(&mut ntally);
    let native_time = t.elapsed();
    check("yingji vs native (chains)", tally.sum, ntally.sum)?;

    let lat_n = lat.len();
    let (p50, p99) = percentiles(lat);

    let o = &w.outcomes;
    let notes = vec![
        "yingji: the streaming Engine (signal on the compiled kernel, then the plan runtime), pre-parsed events, default settings (5 min lateness), flush included".to_string(),
        format!("p50/p99 over the first {lat_n} pushes of the timed run (a push may release several buffered events)"),
        format!(
            "{} chains started over {} rounds: {} answered in time, {} after one escalation, {} after two, {} never, {} too late",
            o.total(),
            w.rounds,
            o.in_time,
            o.after_one_escalation,
            o.after_two_escalations,
            o.never,
            o.too_late
        ),
        format!(
            "records: {} notify, {} escalated, {} acked, {} rejected, {} unanswered, {} closed, {} level changes",
            tally.count(Record::Notify),
            tally.count(Record::Escalated),
            tally.count(Record::Acked),
            tally.count(Record::Rejected),
            tally.count(Record::Unanswered),
            tally.count(Record::Closed),
            tally.count(Record::Level)
        ),
        format!(
            "state per chain is per village; at the end the plan runtime holds {held} open instance(s) and remembers {closed_refs} call reference(s) of closed ones (so late answers are still rejected as `closed`)"
        ),
        "rhai not run: a fair rhai leg needs the whole chain state machine and timer heap written in rhai".to_string(),
    ];
    let ns = |d: Duration, k: usize| d.as_nanos() as f64 / k.max(1) as f64;
    let yingji_ns = ns(yingji_time, n);
    let native_ns = ns(native_time, n);
    Ok(Report {
        workload: "chains".into(),
        params,
        events: n,
        changes: tally.sum.changes,
        yingji_ns_per_event: yingji_ns,
        // the chains leg runs `Engine::push` itself (plans have no kernel leg)
        yingji_kernel_ns_per_event: None,
        yingji_push_ns_per_event: Some(yingji_ns),
        yingji_line_ns_per_event: None,
        native_jsonl_ns_per_event: None,
        yingji_events_per_s: 1e9 / yingji_ns.max(f64::MIN_POSITIVE),
        reference_ns_per_event: None,
        native_ns_per_event: native_ns,
        rhai_ns_per_event: None,
        rhai_events: 0,
        ratio_vs_native: yingji_ns / native_ns.max(f64::MIN_POSITIVE),
        rhai_over_yingji: None,
        rhai_rules_ns_per_event: None,
        rhai_rules_over_yingji: None,
        p50_ns: p50,
        p99_ns: p99,
        compile_ms: compile_time.as_secs_f64() * 1e3,
        peak_rss_bytes: peak_rss_bytes(),
        state_bytes_per_key: state_bytes as f64 / w.chains.max(1) as f64,
        native_state_bytes_per_key: Some(native.state_bytes() as f64 / w.chains.max(1) as f64),
        checksums_equal: true,
        notes,
    })
}
