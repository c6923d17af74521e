//! The shipped sample storm through the engine with signals and plans together.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use yingji::engine::workflow::runtime::merge_kinds;
use yingji::{Definitions, Engine};

#[test]
fn sample_storm_notify_escalate_ack_measure_close() {
    let root = env!("CARGO_MANIFEST_DIR");
    let defs = Definitions::from_paths(&[format!("{root}/policies/rainstorm.yj")]).unwrap();
    let mut program = defs.program.clone();
    let texts: Vec<(String, String)> = [
        "flood.yaml",
        "geohazard.yaml",
        "responsibility.yaml",
        "roster.yaml",
    ]
    .iter()
    .map(|n| {
        (
            format!("plans/{n}"),
            std::fs::read_to_string(format!("{root}/plans/{n}")).unwrap(),
        )
    })
    .collect();
    let mut sources = yingji::SourceMap::default();
    let loaded = yingji::dsl::plan::load_plan_texts(&mut sources, &texts, None);
    assert!(!loaded.has_errors());
    merge_kinds(&mut program, &loaded.set);
    let mut engine = Engine::new(program).unwrap().with_plans(loaded.set);
    let mut out = Vec::new();
    let stream = std::fs::read_to_string(format!("{root}/plans/samples/flood_acks.jsonl")).unwrap();
    for (i, line) in stream.lines().enumerate() {
        engine.push_line(line, i as u64 + 1, &mut out).unwrap();
    }
    let types: Vec<String> = out
        .iter()
        .map(|o| {
            serde_json::from_str::<serde_json::Value>(&o.to_json()).unwrap()["type"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    for t in [
        "plan_started",
        "notify",
        "escalated",
        "acked",
        "ack_rejected",
        "measure",
        "response_declared",
        "timed_out",
        "plan_closed",
    ] {
        assert!(types.iter().any(|x| x == t), "no {t} in {types:#?}");
    }
    let closed = types.iter().position(|t| t == "plan_closed").unwrap();
    assert_eq!(
        types.last().map(String::as_str),
        Some("ack_rejected"),
        "the ack after closing is rejected"
    );
    assert!(closed < types.len() - 1);
}
