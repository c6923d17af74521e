//! The shipped sample storm through the engine with signals and plans together.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use yingji::Definitions;

#[test]
fn sample_storm_notify_escalate_ack_measure_close() {
    let root = env!("CARGO_MANIFEST_DIR");
    let defs =
        Definitions::from_paths(&[format!("{root}/policies"), format!("{root}/plans")]).unwrap();
    assert_eq!(defs.unstable_plans().plans.len(), 4); // flood, geohazard, responsibility, 1+7+N consultation
    let mut engine = defs.engine().unwrap();
    let mut out = Vec::new();
    let stream = std::fs::read_to_string(format!("{root}/plans/samples/flood_acks.jsonl")).unwrap();
    for (i, line) in stream.lines().enumerate() {
        engine.push_line(line, i as u64 + 1, &mut out).unwrap();
    }
    engine.flush(&mut out);
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

#[test]
fn plan_instances_survive_a_snapshot_and_restore() {
    let root = env!("CARGO_MANIFEST_DIR");
    let defs =
        Definitions::from_paths(&[format!("{root}/policies"), format!("{root}/plans")]).unwrap();
    let stream = std::fs::read_to_string(format!("{root}/plans/samples/flood_acks.jsonl")).unwrap();
    let lines: Vec<&str> = stream.lines().collect();
    let run_all = |cut: Option<usize>| -> Vec<String> {
        let mut engine = defs.engine().unwrap();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if Some(i) == cut {
                let snap = engine.snapshot();
                engine = defs.engine().unwrap();
                let report = engine.restore(&snap).unwrap();
                assert!(report.kept.iter().any(|k| k == "plans"), "{report:?}");
            }
            engine.push_line(line, i as u64 + 1, &mut out).unwrap();
        }
        engine.flush(&mut out);
        out.iter().map(yingji::Output::to_json).collect()
    };
    let whole = run_all(None);
    assert!(whole.iter().any(|o| o.contains(r#""type":"acked""#)));
    for cut in 1..lines.len() {
        assert_eq!(run_all(Some(cut)), whole, "cut before line {}", cut + 1);
    }
}
