//! Every program `check` accepts validates and runs: the definitions in
//! `policies/`, `plans/` and the test fixtures, the bench generators'
//! programs, and random signal expressions in every part of a signal. For
//! each accepted program, `Program::validate` passes, an engine is built
//! (with its plans and deadlines), every bundled sample is fed to it without
//! a panic, and the compiled and the reference evaluator agree.

#![allow(clippy::expect_used, clippy::panic, reason = "tests")]

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use yingji::Definitions;
use yingji::unstable::dsl::load::{MemLoader, load};
use yingji::unstable::engine::{Engine, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every line of the bundled samples and fixture streams.
fn sample_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for f in [
        "samples/rain.jsonl",
        "samples/landslide.jsonl",
        "samples/records.jsonl",
        "plans/samples/flood_acks.jsonl",
        "tests/plans_compaction/events.jsonl",
    ] {
        let text = std::fs::read_to_string(root().join(f)).unwrap_or_default();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

/// Feeds `lines` (then the end of input) to `engine`; the outputs as text.
fn run(mut engine: Engine, lines: &[String]) -> Vec<String> {
    let mut out: Vec<Output> = Vec::new();
    for (seq, line) in lines.iter().enumerate() {
        // lines of kinds a program does not declare are refused, and change nothing
        let _ = engine.push_line(line, seq as u64, &mut out);
    }
    engine
        .finish(None, &mut out)
        .unwrap_or_else(|e| panic!("finish: {e}"));
    out.iter().map(|o| format!("{o:?}")).collect()
}

/// The property: accepted definitions validate, build an engine and run the
/// samples the same on both evaluators. Returns how many outputs they gave.
fn validates_and_runs(what: &str, defs: &Definitions, lines: &[String]) -> usize {
    defs.unstable_program()
        .validate()
        .unwrap_or_else(|e| panic!("{what}: check accepted it, validate refused it: {e}"));
    let engine = defs
        .engine()
        .unwrap_or_else(|e| panic!("{what}: no engine: {e}"));
    let reference = defs
        .engine()
        .unwrap_or_else(|e| panic!("{what}: no engine: {e}"))
        .reference_evaluator();
    let compiled = run(engine, lines);
    let by_reference = run(reference, lines);
    assert_eq!(compiled, by_reference, "{what}: the evaluators disagree");
    compiled.len()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yj" | "yaml" | "yml")
        ) {
            out.push(p);
        }
    }
}

#[test]
fn bundled_and_fixture_definitions_validate_and_run() {
    let lines = sample_lines();
    let r = root();
    // what CI checks, and each fixture folder on its own
    let sets: Vec<Vec<PathBuf>> = vec![
        vec![r.join("policies"), r.join("plans")],
        vec![r.join("policies")],
        vec![r.join("tests/one_clock")],
        vec![r.join("tests/twins")],
        vec![r.join("tests/plans_compaction")],
        vec![r.join("policies"), r.join("tests/plans_compaction")],
    ];
    let mut outputs = 0;
    for paths in &sets {
        let what = format!("{paths:?}");
        let defs = Definitions::from_paths(paths)
            .unwrap_or_else(|e| panic!("{what} does not check:\n{}", e.rendered));
        outputs += validates_and_runs(&what, &defs, &lines);
    }
    assert!(outputs > 0, "the samples raised nothing");
    // each definition file alone, where it checks alone (some need others'
    // event kinds)
    let mut files = Vec::new();
    for d in ["policies", "plans", "tests"] {
        files_under(&r.join(d), &mut files);
    }
    files.sort();
    let mut alone = 0;
    for f in files {
        if let Ok(defs) = Definitions::from_paths(std::slice::from_ref(&f)) {
            validates_and_runs(&format!("{f:?}"), &defs, &lines);
            alone += 1;
        }
    }
    assert!(alone >= 8, "only {alone} files check alone");
}

#[test]
fn generated_programs_validate_and_run() {
    for (rules, keys) in [(1, 1), (7, 3), (40, 16)] {
        let w = yingji_bench::thresholds(rules, keys, 300, 7).expect("workload");
        let defs = Definitions::from_str("thresholds.yj", &w.source)
            .unwrap_or_else(|e| panic!("thresholds({rules}, {keys}):\n{}", e.rendered));
        validates_and_runs("thresholds", &defs, &w.jsonl());
    }
    for keys in [1, 5, 50] {
        let w = yingji_bench::windows(keys, 300, 11).expect("workload");
        let defs = Definitions::from_str("windows.yj", &w.source)
            .unwrap_or_else(|e| panic!("windows({keys}):\n{}", e.rendered));
        validates_and_runs("windows", &defs, &w.jsonl());
    }
    let w = yingji_bench::chains::chains(4, 200, 3).expect("workload");
    let defs = Definitions::load(&yingji::MemLoader(w.files())).expect("chains check");
    validates_and_runs("chains", &defs, &w.jsonl());
}

/// A random number expression over the policy below: fields, `let`s, a
/// table's column, level names, window functions, a script function and
/// built-ins; `full` allows what only `let`s and level rules may use
/// (`let`s, windows, scripts). One leaf in twenty is wrong (a string, a
/// duration, an unknown name), so some programs are refused.
fn num(full: bool, lets: bool) -> BoxedStrategy<String> {
    let mut leaves: Vec<(u32, BoxedStrategy<String>)> = vec![
        (60, Just("mm".to_string()).boxed()),
        (30, (0u32..200).prop_map(|n| n.to_string()).boxed()),
        (20, Just("站表.阈值".to_string()).boxed()),
        (10, Just("orange".to_string()).boxed()),
        (10, Just("abs(mm - 5)".to_string()).boxed()),
        (10, Just("min(mm, 3)".to_string()).boxed()),
        (1, Just("station".to_string()).boxed()),
        (1, Just("nosuch".to_string()).boxed()),
    ];
    if full {
        leaves.extend([
            (30, Just("sum(mm, 3h)".to_string()).boxed()),
            (20, Just("max(mm, every 1h)".to_string()).boxed()),
            (20, Just("count_if(flag, 30m)".to_string()).boxed()),
            (20, Just("half(mm)".to_string()).boxed()),
            (1, Just("3h".to_string()).boxed()),
        ]);
    }
    if lets {
        leaves.push((30, Just("a".to_string()).boxed()));
    }
    let leaf = proptest::strategy::Union::new_weighted(leaves);
    leaf.prop_recursive(3, 16, 2, move |inner| {
        let op = prop_oneof![Just("+"), Just("-"), Just("*"), Just("/"), Just("%")];
        let mut forms: Vec<(u32, BoxedStrategy<String>)> = vec![
            (
                8,
                (inner.clone(), op, inner.clone())
                    .prop_map(|(a, o, b)| format!("({a} {o} {b})"))
                    .boxed(),
            ),
            (2, inner.clone().prop_map(|a| format!("-({a})")).boxed()),
            (
                1,
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| format!("max({a}, {b})"))
                    .boxed(),
            ),
        ];
        if full {
            forms.push((
                1,
                inner.clone().prop_map(|a| format!("sum({a}, 30m)")).boxed(),
            ));
            forms.push((1, inner.prop_map(|a| format!("half({a})")).boxed()));
        }
        proptest::strategy::Union::new_weighted(forms).boxed()
    })
    .boxed()
}

/// A random condition (see [`num`]).
fn cond(full: bool, lets: bool) -> BoxedStrategy<String> {
    let cmp = prop_oneof![
        Just("=="),
        Just("!="),
        Just("<"),
        Just("<="),
        Just(">"),
        Just(">=")
    ];
    let leaf = prop_oneof![
        4 => (num(full, lets), cmp, num(full, lets)).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        1 => Just("flag".to_string()),
        1 => Just("station == \"YY-001\"".to_string()),
        1 => Just("station in [\"YY-001\", \"YY-002\"]".to_string()),
        1 => num(full, lets).prop_map(|a| format!("{a} in [1, 2, 3]")),
        1 => Just("true".to_string()),
    ];
    leaf.prop_recursive(2, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
    .boxed()
}

fn policy(filter: &str, a: &str, b: &str, when: &str, clear: &str) -> String {
    format!(
        "event rain {{ station: string, mm: number, flag: bool }}\n\
         table 站表 {{ \"YY-001\": {{ 阈值: 10 }} }}\n\
         fn half(x: number) -> number in rhai {{ x / 2.0 }}\n\
         signal s {{\n  from rain\n  key station\n  where {filter}\n  let a = {a}\n  let b = {b}\n  \
         level red when {when} clear when {clear}\n  level blue when a >= 0\n}}\n"
    )
}

/// Events for the random policies.
fn rain_lines() -> Vec<String> {
    (0..40)
        .map(|i| {
            format!(
                "{{\"ts\":\"2024-07-28T{:02}:{:02}:00+08:00\",\"kind\":\"rain\",\"station\":\"YY-00{}\",\"mm\":{},\"flag\":{}}}",
                i / 6,
                (i % 6) * 10,
                i % 3,
                (i * 7) % 50,
                i % 2 == 0
            )
        })
        .collect()
}

#[test]
fn random_accepted_signals_validate_and_run() {
    let lines = rain_lines();
    let accepted = std::cell::Cell::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 300,
        ..ProptestConfig::default()
    });
    let parts = (
        cond(false, false),
        num(true, false),
        num(true, true),
        cond(true, true),
        cond(true, true),
    );
    let result = runner.run(&parts, |(filter, a, b, when, clear)| {
        let text = policy(&filter, &a, &b, &when, &clear);
        let loaded = load(&MemLoader(vec![("p.yj".into(), text.clone())]));
        if !loaded.has_errors() {
            accepted.set(accepted.get() + 1);
            let defs = Definitions::from_str("p.yj", &text).map_err(|e| {
                TestCaseError::fail(format!("checked once, not twice: {}", e.rendered))
            })?;
            validates_and_runs(&text, &defs, &lines);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // the generator must reach programs `check` accepts, not only errors
    let accepted = accepted.get();
    assert!(
        accepted >= 60,
        "only {accepted} of 300 random policies checked"
    );
}
