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
