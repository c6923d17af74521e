//! Shared helpers for the "one clock for the whole runtime" tests
//! (`tests/one_clock*.rs`, included with `mod`).
//!
//! The fixture in `tests/one_clock/` is small on purpose: two sensor kinds
//! (`rain`, `river`), a warning per station on each, a 30 min absence
//! signal, and a plan whose 叫应 chain has three tiers (一线 5m → 二线 5m →
//! 三线 10m, fallback 值班) with one person each (P1, P2, P3, P9). An answer
//! closes the instance (`已应结束`); a chain that runs out closes it
//! unanswered (`未应结束`). Every time in the helpers is on 2024-07-29 +08:00.

#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test"
)]

use serde_json::Value as J;
use yingji::unstable::engine::Config;
use yingji::{Definitions, Engine, Output, Timestamp};

/// Where the fixture files live.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/one_clock");

/// The repository root (bundled policies, plans, samples).
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The instance the first warning at S1 starts, and its call reference.
pub const S1: &str = "测试预案@S1#1";
/// The call reference of [`S1`]'s 叫应 step.
pub const S1_CALL: &str = "测试预案@S1#1/叫应";

/// A fixture file's text.
pub fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}"))
        .unwrap_or_else(|e| panic!("fixture {DIR}/{name}: {e}"))
}

/// The fixture's files `(name, text)`, with the sensor kinds `rain` and
/// `river` spelled `rain_as` / `river_as` in the policy (the plan and roster
/// do not name kinds; `ack` is the plan runtime's own kind and stays).
pub fn fixture_texts(rain_as: &str, river_as: &str) -> Vec<(String, String)> {
    let policy = read("policy.yj");
    // the policy names the kinds only where they are declared and read
    let policy = policy.replace("rain", rain_as).replace("river", river_as);
    vec![
        ("policy.yj".to_string(), policy),
        ("plan.yaml".to_string(), read("plan.yaml")),
        ("roster.yaml".to_string(), read("roster.yaml")),
    ]
}

/// The fixture definitions with the kinds as spelled.
pub fn defs_spelled(rain_as: &str, river_as: &str) -> Definitions {
    load(fixture_texts(rain_as, river_as))
}

/// The fixture definitions.
pub fn defs() -> Definitions {
    defs_spelled("rain", "river")
}

/// Loads `(name, text)` files; panics with the rendered diagnostics.
pub fn load(files: Vec<(String, String)>) -> Definitions {
    match Definitions::load(&yingji::unstable::dsl::load::MemLoader(files)) {
        Ok(d) => d,
        Err(e) => panic!("fixture definitions do not load:\n{e}"),
    }
}

/// The bundled `policies/` and `plans/`.
pub fn bundled() -> Definitions {
    Definitions::from_paths(&[format!("{ROOT}/policies"), format!("{ROOT}/plans")])
        .unwrap_or_else(|e| panic!("bundled definitions: {e}"))
}

/// The bundled `policies/` only.
pub fn bundled_policies() -> Definitions {
    Definitions::from_paths(&[format!("{ROOT}/policies")])
        .unwrap_or_else(|e| panic!("bundled policies: {e}"))
}

/// Lines of a file under the repository root.
pub fn sample(rel: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{ROOT}/{rel}"))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// `2024-07-29T00:00:00+08:00` plus `secs` seconds.
pub fn at_s(secs: i64) -> String {
    Timestamp {
        ms: base_ms() + secs * 1000,
        offset_min: 480,
    }
    .to_string()
}

/// `2024-07-29T00:00:00+08:00` plus `min` minutes.
pub fn at(min: i64) -> String {
    at_s(min * 60)
}

/// [`at`] as a [`Timestamp`].
pub fn ts(min: i64) -> Timestamp {
    Timestamp {
        ms: base_ms() + min * 60_000,
        offset_min: 480,
    }
}

fn base_ms() -> i64 {
    Timestamp::parse("2024-07-29T00:00:00+08:00")
        .map(|t| t.ms)
        .unwrap_or(0)
}

/// A `rain` reading (kind spelled `kind`).
pub fn rain_k(kind: &str, min: i64, station: &str, mm: f64) -> String {
    format!(
        r#"{{"ts":"{}","kind":"{kind}","station":"{station}","mm":{mm:?}}}"#,
        at(min)
    )
}

/// A `rain` reading.
pub fn rain(min: i64, station: &str, mm: f64) -> String {
    rain_k("rain", min, station, mm)
}

/// A `river` reading.
pub fn river(min: i64, station: &str, level_m: f64) -> String {
    format!(
        r#"{{"ts":"{}","kind":"river","station":"{station}","level_m":{level_m:?}}}"#,
        at(min)
    )
}

/// An ack, with or without a call reference.
pub fn ack(min: i64, person: &str, call_ref: Option<&str>) -> String {
    let r = call_ref.map_or(String::new(), |r| format!(r#","ref":"{r}""#));
    format!(
        r#"{{"ts":"{}","kind":"ack","person":"{person}"{r}}}"#,
        at(min)
    )
}

/// Lateness 0: what comes out is what the clock reached, no hold-back.
pub fn no_lateness() -> Config {
    Config {
        lateness_ms: 0,
        ..Config::default()
    }
}

/// The result of one run: every output as JSON text, and the lines refused
/// (`(line number, error text)`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Run {
    /// Outputs, as `Output::to_json` wrote them.
    pub outs: Vec<String>,
    /// Refused lines: 1-based line number and the error's text.
    pub errors: Vec<(u64, String)>,
}

impl Run {
    /// The outputs parsed.
    pub fn json(&self) -> Vec<J> {
        self.outs
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect()
    }

    /// The outputs as [`brief`] lines.
    pub fn briefs(&self) -> Vec<String> {
        self.json().iter().map(brief).collect()
    }
}

/// How a run ends.
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// `finish(None)`.
    Finish,
    /// `finish(Some(until))`.
    Until(Timestamp),
    /// Nothing: the outputs emitted while pushing lines only.
    Nothing,
}

/// Pushes `lines` (line `i` has seq `seqs[i]`) into `engine`.
pub fn push_all(engine: &mut Engine, lines: &[(u64, String)], run: &mut Run) {
    let mut out: Vec<Output> = Vec::new();
    for (seq, l) in lines {
        if let Err(e) = engine.push_line(l, *seq, &mut out) {
            run.errors.push((*seq, e.to_string()));
        }
        run.outs.extend(out.drain(..).map(|o| o.to_json()));
    }
}

/// Ends a run as asked.
pub fn end(engine: &mut Engine, how: End, run: &mut Run) {
    let mut out: Vec<Output> = Vec::new();
    match how {
        End::Finish => engine.finish(None, &mut out).unwrap(),
        End::Until(u) => engine
            .finish(Some(u), &mut out)
            .unwrap_or_else(|e| panic!("finish(Some({u})) refused: {e}")),
        End::Nothing => {}
    }
    run.outs.extend(out.drain(..).map(|o| o.to_json()));
}

/// Numbers lines from 1, as `yingji run` does.
pub fn numbered(lines: &[String]) -> Vec<(u64, String)> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.clone()))
        .collect()
}

/// One run of numbered `lines` over `defs` with `config`.
pub fn run_numbered(defs: &Definitions, config: &Config, lines: &[(u64, String)], how: End) -> Run {
    let mut engine = defs.engine_with(config.clone()).unwrap();
    let mut run = Run::default();
    push_all(&mut engine, lines, &mut run);
    end(&mut engine, how, &mut run);
    run
}

/// One run of `lines` (numbered from 1).
pub fn run(defs: &Definitions, config: &Config, lines: &[String], how: End) -> Run {
    run_numbered(defs, config, &numbered(lines), how)
}

/// A run cut before line index `cut`: snapshot, a new engine, restore, go on.
pub fn run_split(
    defs: &Definitions,
    config: &Config,
    lines: &[String],
    cut: usize,
    how: End,
) -> Run {
    let lines = numbered(lines);
    let cut = cut.min(lines.len());
    let mut engine = defs.engine_with(config.clone()).unwrap();
    let mut run = Run::default();
    push_all(&mut engine, &lines[..cut], &mut run);
    let snap = engine.snapshot();
    let mut engine = defs.engine_with(config.clone()).unwrap();
    engine
        .restore(&snap)
        .unwrap_or_else(|e| panic!("restore of a snapshot taken before line {cut}: {e}"));
    push_all(&mut engine, &lines[cut..], &mut run);
    end(&mut engine, how, &mut run);
    run
}

/// The time part of a fixture timestamp (`HH:MM:SS`), or the whole text for
/// another day.
pub fn clock_of(ts: &str) -> String {
    match ts.strip_prefix("2024-07-29T") {
        Some(rest) => rest.chars().take(8).collect(),
        None => ts.to_string(),
    }
}

/// One output as a compact line: `type HH:MM:SS` and the fields that say
/// who and what (`key`, `area`, `to`, `person`, `tier`, `from_tier`,
/// `to_tier`, `reason`, `in_time`; `step` of `plan_closed`/`ack_rejected`).
pub fn brief(o: &J) -> String {
    let ty = o["type"].as_str().unwrap_or("?");
    let mut s = format!("{ty} {}", clock_of(o["ts"].as_str().unwrap_or("")));
    let mut fields = vec![
        "key",
        "area",
        "to",
        "person",
        "tier",
        "from_tier",
        "to_tier",
        "reason",
        "in_time",
    ];
    if ty == "plan_closed" || ty == "ack_rejected" {
        fields.push("step");
    }
    for k in fields {
        if let Some(v) = o.get(k).filter(|v| !v.is_null()) {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            s.push_str(&format!(" {k}={v}"));
        }
    }
    s
}

/// Milliseconds of an output's `ts`.
pub fn ms_of(o: &J) -> i64 {
    let ts = o["ts"].as_str().unwrap_or_else(|| panic!("no ts in {o}"));
    Timestamp::parse(ts)
        .unwrap_or_else(|e| panic!("bad ts in {o}: {e}"))
        .ms
}

/// Rule E: outputs come in event-time order. `late` records are left out of
/// the check: they are emitted when the late event arrives, which is after
/// the clock has passed their (old) time by definition.
pub fn assert_time_ordered(what: &str, outs: &[String]) {
    let mut prev: Option<(i64, &str)> = None;
    for s in outs {
        let o: J = serde_json::from_str(s).unwrap();
        if o["type"] == "late" {
            continue;
        }
        let ms = ms_of(&o);
        if let Some((p, ps)) = prev {
            assert!(
                ms >= p,
                "rule E broken ({what}): an output is emitted after a later one \
                 (output ts must be non-decreasing, `late` excepted):\n  earlier: {ps}\n  then:    {s}"
            );
        }
        prev = Some((ms, s));
    }
}

/// Rule F: ids are ≥ 1 and unique within a run; returns them in order.
pub fn assert_ids(what: &str, outs: &[String]) -> Vec<u64> {
    let mut ids = Vec::with_capacity(outs.len());
    let mut seen = std::collections::HashSet::new();
    for s in outs {
        let o: J = serde_json::from_str(s).unwrap();
        let id = o["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("rule F broken ({what}): an output has no id: {s}"));
        assert!(id >= 1, "rule F broken ({what}): id {id} < 1: {s}");
        assert!(
            seen.insert(id),
            "rule F broken ({what}): id {id} used twice (second time: {s})"
        );
        ids.push(id);
    }
    ids
}

/// Asserts two runs' outputs are byte-identical, naming the first difference.
pub fn assert_same(what: &str, expected: &[String], got: &[String]) {
    if expected == got {
        return;
    }
    let i = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    panic!(
        "{what}: outputs differ ({} vs {} outputs), first difference at output #{i}:\n  expected: {}\n  got:      {}",
        expected.len(),
        got.len(),
        expected.get(i).map_or("(none)", String::as_str),
        got.get(i).map_or("(none)", String::as_str),
    );
}

/// The outputs of `types` only.
pub fn only<'a>(outs: &'a [String], types: &[&str]) -> Vec<&'a String> {
    outs.iter()
        .filter(|s| {
            let o: J = serde_json::from_str(s).unwrap();
            types.iter().any(|t| o["type"] == *t)
        })
        .collect()
}
