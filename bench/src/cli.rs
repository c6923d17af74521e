//! `yingji bench`: arguments and printing.

use super::run::{BenchError, JsonlReport, Options, Report, run, run_jsonl};
use std::process::ExitCode;

/// Which workload to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadName {
    /// N threshold rules over K keys.
    Thresholds,
    /// Rainstorm-style sliding sums over K stations.
    Windows,
    /// JSONL ingestion: parsing against evaluation.
    Jsonl,
    /// M concurrent 叫应 chains with timers (signal + plan + roster).
    Chains,
    /// All of the above.
    All,
}

/// Arguments of `yingji bench`.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    /// The workload.
    #[arg(long, value_enum, default_value = "all")]
    pub workload: WorkloadName,
    /// Threshold rules (thresholds).
    #[arg(long, default_value_t = 1_000)]
    pub rules: usize,
    /// Keys: regions (thresholds, default 100) or stations (windows and jsonl, default 1000).
    #[arg(long)]
    pub keys: Option<usize>,
    /// Concurrent 叫应 chains, one per village (chains).
    #[arg(long, default_value_t = 10_000)]
    pub chains: usize,
    /// Events per workload (default 1,000,000; chains 100,000, its plan runtime being the slow part).
    #[arg(long)]
    pub events: Option<usize>,
    /// Seed of the generators.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Events for the rhai leg (its figure is per event; 0 skips it).
    #[arg(long, default_value_t = 5_000)]
    pub rhai_events: usize,
    /// One JSON object per workload on standard output.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

fn print_report(r: &Report, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    println!(
        "== {} {} ({} events, {} {}; checksums equal)",
        r.workload,
        r.params,
        r.events,
        r.changes,
        if r.workload == "chains" {
            "records"
        } else {
            "level changes"
        }
    );
    println!(
        "  yingji     {:>10.1} ns/event  {:>12.0} events/s   p50 {} ns  p99 {} ns",
        r.yingji_ns_per_event, r.yingji_events_per_s, r.p50_ns, r.p99_ns
    );
    println!(
        "  native     {:>10.1} ns/event  yingji/native = {:.2}x",
        r.native_ns_per_event, r.ratio_vs_native
    );
    if let (Some(push), Some(line), Some(nj)) = (
        r.yingji_push_ns_per_event,
        r.yingji_line_ns_per_event,
        r.native_jsonl_ns_per_event,
    ) {
        println!(
            "  push       {push:>10.1} ns/event  Engine::push / native = {:.2}x",
            push / r.native_ns_per_event.max(f64::MIN_POSITIVE)
        );
        println!(
            "  push_line  {line:>10.1} ns/event  Engine::push_line / native_jsonl = {:.2}x",
            line / nj.max(f64::MIN_POSITIVE)
        );
        println!(
            "  native_jsonl {nj:>8.1} ns/event  (the native loop fed by a serde parse of the same lines)"
        );
    }
    if let Some(x) = r.reference_ns_per_event {
        println!("  reference  {x:>10.1} ns/event  (tree-walking engine)");
    }
    match (r.rhai_ns_per_event, r.rhai_over_yingji) {
        (Some(x), Some(q)) => {
            println!(
                "  rhai       {x:>10.1} ns/event  rhai/yingji = {q:.0}x  (per signal a region test and a ladder)"
            )
        }
        _ => println!("  rhai       not run"),
    }
    if let (Some(x), Some(q)) = (r.rhai_rules_ns_per_event, r.rhai_rules_over_yingji) {
        println!(
            "  rhai       {x:>10.1} ns/event  rhai/yingji = {q:.0}x  (one statement per rule)"
        );
    }
    println!(
        "  compile {:.1} ms   peak RSS {}   state {:.0} B/key{}",
        r.compile_ms,
        r.peak_rss_bytes.map_or("n/a".to_string(), |b| format!(
            "{:.1} MiB",
            b as f64 / 1048576.0
        )),
        r.state_bytes_per_key,
        r.native_state_bytes_per_key
            .map_or(String::new(), |b| format!(" (native {b:.0} B/key)"))
    );
    for n in &r.notes {
        println!("  note: {n}");
    }
}

fn print_jsonl(r: &JsonlReport, json: bool) {
    if json {
        let mut v = serde_json::to_value(r).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            // the common fields, so every line has the same shape
            o.insert(
                "yingji_ns_per_event".into(),
                r.parse_and_eval_ns_per_line.into(),
            );
            o.insert(
                "native_ns_per_event".into(),
                r.serde_borrowed_ns_per_line.into(),
            );
            o.insert("rhai_ns_per_event".into(), serde_json::Value::Null);
            o.insert("compile_ms".into(), serde_json::Value::Null);
            o.insert("peak_rss_bytes".into(), super::run::peak_rss_bytes().into());
            o.insert("state_bytes_per_key".into(), serde_json::Value::Null);
        }
        println!("{v}");
        return;
    }
    println!(
        "== jsonl ({} lines, {} bytes; checksums equal)",
        r.events, r.bytes
    );
    println!(
        "  serde_json::Value        {:>8.1} ns/line",
        r.serde_value_ns_per_line
    );
    println!(
        "  serde borrowed struct    {:>8.1} ns/line",
        r.serde_borrowed_ns_per_line
    );
    println!(
        "  engine schema parse      {:>8.1} ns/line",
        r.schema_parse_ns_per_line
    );
    println!(
        "  parse + compiled eval    {:>8.1} ns/line  ({:.2}x parse)",
        r.parse_and_eval_ns_per_line, r.end_to_end_over_parse
    );
    println!(
        "  Engine::push_line        {:>8.1} ns/line  ({:.2}x parse; streaming shell, no lateness)",
        r.reference_push_line_ns_per_line,
        r.reference_push_line_ns_per_line / r.schema_parse_ns_per_line.max(f64::MIN_POSITIVE)
    );
    println!(
        "  file: read + parse       {:>8.1} ns/line",
        r.file_parse_ns_per_line
    );
    println!(
        "  file: yingji run         {:>8.1} ns/line  ({:.2}x read + parse; 5 min lateness, {} outputs written as JSON)",
        r.yingji_run_ns_per_line, r.yingji_run_over_parse, r.yingji_run_outputs
    );
}

fn one(
    name: WorkloadName,
    a: &BenchArgs,
    opts: &Options,
    run_file: super::e2e::RunFile,
) -> Result<(), BenchError> {
    let events = a.events.unwrap_or(1_000_000);
    match name {
        WorkloadName::Thresholds => {
            let keys = a.keys.unwrap_or(100);
            let w = super::thresholds(a.rules, keys, events, a.seed)?;
            let params = serde_json::json!({"rules": a.rules, "keys": keys, "events": events, "seed": a.seed});
            print_report(&run(&w, params, opts)?, a.json);
        }
        WorkloadName::Windows => {
            let keys = a.keys.unwrap_or(1_000);
            let w = super::windows(keys, events, a.seed)?;
            let params = serde_json::json!({"keys": keys, "events": events, "seed": a.seed});
            print_report(&run(&w, params, opts)?, a.json);
        }
        WorkloadName::Jsonl => {
            let keys = a.keys.unwrap_or(1_000);
            let w = super::windows(keys, events, a.seed)?;
            print_jsonl(&run_jsonl(&w, run_file)?, a.json);
        }
        WorkloadName::Chains => {
            let events = a.events.unwrap_or(100_000);
            let w = super::chains::chains(a.chains, events, a.seed)?;
            let params = serde_json::json!({"chains": a.chains, "events": events, "seed": a.seed});
            print_report(&super::run::run_chains(&w, params, opts)?, a.json);
        }
        WorkloadName::All => {
            for w in [
                WorkloadName::Thresholds,
                WorkloadName::Windows,
                WorkloadName::Jsonl,
                WorkloadName::Chains,
            ] {
                one(w, a, opts, run_file)?;
            }
        }
    }
    Ok(())
}

/// Runs `yingji bench`; `run_file` is what `yingji run` does with a file
/// (the jsonl workload's end-to-end leg).
pub fn main(a: &BenchArgs, run_file: super::e2e::RunFile) -> ExitCode {
    let opts = Options {
        rhai_events: a.rhai_events,
        progress: !a.no_progress,
        ..Options::default()
    };
    match one(a.workload, a, &opts, run_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yingji bench: {e}");
            ExitCode::from(2)
        }
    }
}
