//! Per-signal compilation: the level machine with script calls, the compile
//! time of many signals, mixed programs (some signals compiled, some on the
//! reference evaluator) and the bundled policies on both paths.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use serde_json::Value as J;
use yingji_dsl::load::{MemLoader, load};

fn engine_of(files: &[(&str, &str)]) -> yingji::Engine {
    let loaded = load(&MemLoader(
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
    ));
    assert!(!loaded.has_errors(), "{}", loaded.render());
    yingji::Engine::new(loaded.program).unwrap()
}

fn run(engine: &mut yingji::Engine, lines: &[String]) -> Vec<J> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        engine.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    engine.flush(&mut out);
    out.iter()
        .map(|o| serde_json::from_str(&o.to_json()).unwrap())
        .collect()
}

fn reading(minute: u32, x: f64) -> String {
    format!(
        r#"{{"ts":"2024-07-20T{:02}:{:02}:00+08:00","kind":"r","site":"A","x":{x:?}}}"#,
        minute / 60,
        minute % 60
    )
}

/// `(ts, from, to, reason, since)` of every level change.
fn changes(out: &[J]) -> Vec<String> {
    out.iter()
        .filter(|o| o["type"] == "level_changed")
        .map(|o| {
            format!(
                "{} {}->{} {} since {}",
                o["ts"], o["from"], o["to"], o["reason"], o["since"]
            )
        })
        .collect()
}

/// The stay condition of a level entered on the way down is re-checked with
/// the same script calls as every other condition: `id(x)` (a rhai identity)
/// behaves exactly like `x`.
#[test]
fn stay_recheck_calls_scripts() {
    let policy = |subject: &str, extra: &str| {
        format!(
            "event r {{ site: string, x: number }}\n\
             fn id(x: number) -> number in rhai {{\n  x\n}}\n\
             signal s {{\n  from r\n  key site\n\
             \x20 level red when {subject} >= 3 hold 1h\n\
             \x20 level orange when {subject} >= 2 hold 1h {extra}\n\
             \x20 level blue when {subject} >= 1 hold 1h\n\
             \x20 step down\n}}\n"
        )
    };
    let mut lines = vec![reading(0, 4.0)];
    // red is false from 00:10, steps down to orange at 01:10; orange's own
    // condition holds then and is false from 01:20 (not from 01:10)
    lines.extend((1..=7).map(|i| reading(i * 10, 2.5)));
    lines.extend((8..=30).map(|i| reading(i * 10, 0.5)));
    for extra in ["", "clear below 2.2"] {
        let plain = changes(&run(
            &mut engine_of(&[("p.yj", &policy("x", extra))]),
            &lines,
        ));
        let scripted = changes(&run(
            &mut engine_of(&[("p.yj", &policy("id(x)", extra))]),
            &lines,
        ));
        assert!(plain.len() >= 4, "{plain:#?}");
        assert_eq!(plain, scripted, "with `{extra}`");
    }
}

/// `n` signals, each `where region == "R<i>"` with its own text constant.
fn many_signals(n: usize) -> yingji::unstable::engine::ir::Program {
    use yingji::unstable::engine::ir::{
        BinOp, Expr, FieldDef, KindDef, LevelRule, Program, SignalDef,
    };
    use yingji::unstable::engine::value::{Level, Type, Value};
    let field = |id, ty| FieldDef {
        id,
        ty,
        optional: false,
    };
    let bin = |op, a, b| Expr::Binary(op, Box::new(a), Box::new(b));
    Program {
        fields: vec!["station".into(), "region".into(), "mm".into()],
        kinds: vec![KindDef {
            name: "rain".into(),
            fields: vec![
                field(0, Type::String),
                field(1, Type::String),
                field(2, Type::Number),
            ],
        }],
        signals: (0..n)
            .map(|i| SignalDef {
                name: format!("s{i}"),
                at: String::new(),
                kinds: vec![0],
                filter: Some(bin(
                    BinOp::Eq,
                    Expr::Field(1),
                    Expr::Const(Value::from(format!("R{i}").as_str())),
                )),
                key: 0,
                windows: vec![],
                lets: vec![],
                step_down: false,
                missing_ms: None,
                roster: vec![],
                lateness_ms: None,
                table: None,
                levels: vec![LevelRule {
                    level: Level::Red,
                    text: "red when mm >= 10".into(),
                    at: String::new(),
                    when: bin(BinOp::Ge, Expr::Field(2), Expr::Const(Value::Num(i as f64))),
                    for_ms: 0,
                    for_readings: 0,
                    clear: None,
                    hold_ms: 0,
                }],
            })
            .collect(),
        tables: vec![],
        scripts: Default::default(),
    }
}

/// Compiling is linear in the number of signals: 100,000 signals, each with
/// its own text constant, compile in well under 2 s in release (string
/// constants are found by hash, not by a linear search).
#[test]
fn many_signals_compile_fast() {
    let p = many_signals(100_000);
    let t = std::time::Instant::now();
    let c = yingji::unstable::engine::compiled::CompiledEngine::new(&p).unwrap();
    let compile = t.elapsed();
    let t = std::time::Instant::now();
    let e = yingji::Engine::new(p).unwrap();
    let engine = t.elapsed();
    assert!(e.is_compiled());
    assert_eq!(c.indexed_count(), 1);
    // debug builds are some ten times slower
    let bound = if cfg!(debug_assertions) { 20.0 } else { 2.0 };
    eprintln!("100,000 signals: compile {compile:?}, Engine::new {engine:?}");
    assert!(
        compile.as_secs_f64() < bound && engine.as_secs_f64() < bound,
        "compile {compile:?}, Engine::new {engine:?}"
    );
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Runs `lines` through `e`, restoring into a fresh engine (`fresh`) before
/// line `cut`; returns the outputs as JSON lines and the final snapshot.
fn run_bundled(
    mut e: yingji::Engine,
    fresh: impl Fn() -> yingji::Engine,
    lines: &[&str],
    cut: Option<usize>,
) -> (Vec<String>, String) {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if Some(i) == cut {
            let snap = e.snapshot();
            e = fresh();
            e.restore(&snap).unwrap();
        }
        e.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    let snap = String::from_utf8(e.snapshot()).unwrap();
    e.flush(&mut out);
    (out.iter().map(yingji::Output::to_json).collect(), snap)
}

/// Every bundled policy and plan over the bundled samples: the per-signal
/// dispatch (every bundled signal compiled) gives
/// byte-identical outputs and snapshots to an engine forced onto the
/// reference evaluator, in one run and across a restore anywhere.
#[test]
fn bundled_policies_same_on_both_paths() {
    let defs = yingji::Definitions::from_paths(&[
        std::path::PathBuf::from(format!("{ROOT}/policies")),
        std::path::PathBuf::from(format!("{ROOT}/plans")),
    ])
    .unwrap_or_else(|e| panic!("{}", e.rendered));
    let engine = || defs.engine().unwrap();
    let explain: Vec<String> = engine()
        .compiled_signals()
        .iter()
        .map(|(n, s)| match s {
            Ok(()) => format!("{n}: compiled"),
            Err(why) => format!("{n}: reference: {why}"),
        })
        .collect();
    let compiled = explain.iter().filter(|l| l.ends_with(": compiled")).count();
    assert_eq!(
        (compiled, explain.len()),
        (4, 4),
        "bundled signals on the compiled path:\n{}",
        explain.join("\n")
    );
    assert!(engine().is_compiled());
    for sample in ["samples/rain.jsonl", "plans/samples/flood_acks.jsonl"] {
        let text = std::fs::read_to_string(format!("{ROOT}/{sample}")).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let reference = || engine().reference_evaluator();
        let want = run_bundled(reference(), reference, &lines, None);
        assert!(
            want.0.iter().any(|o| o.contains("level_changed")),
            "{sample} raises warnings"
        );
        let got = run_bundled(engine(), engine, &lines, None);
        assert_eq!(got.0, want.0, "{sample}: outputs");
        assert_eq!(got.1, want.1, "{sample}: snapshot");
        // a restore before a dozen lines spread over the stream (every line of a short one)
        let step = (lines.len() / 12).max(1);
        for cut in (0..lines.len()).step_by(step) {
            let got = run_bundled(engine(), engine, &lines, Some(cut));
            assert_eq!(
                got.0,
                want.0,
                "{sample}: outputs, restored before line {}",
                cut + 1
            );
            assert_eq!(
                got.1,
                want.1,
                "{sample}: snapshot, restored before line {}",
                cut + 1
            );
        }
    }
}

/// `yingji check --explain` prints, per signal, `compiled` or
/// `reference: <reason>`; without the flag standard output stays empty.
#[test]
fn check_explain_lists_each_signal() {
    let check = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_yingji"))
            .current_dir(ROOT)
            .args(["check", "policies", "plans"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (plain_out, plain_err) = check(&[]);
    assert_eq!(plain_out, "");
    let (out, err) = check(&["--explain"]);
    assert_eq!(err, plain_err);
    assert_eq!(
        out,
        "滑坡预警: compiled\n\
         暴雨预警: compiled\n\
         水位预警: compiled\n\
         设备失联: compiled\n"
    );
    // with --format json standard output stays one JSON document
    let (json_out, json_err) = check(&["--explain", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json_out).unwrap();
    assert!(doc.is_array(), "{json_out}");
    assert!(json_err.contains("暴雨预警: compiled"), "{json_err}");
}
