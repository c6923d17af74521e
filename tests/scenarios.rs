//! Scenario tests of the engine: events in, exact outputs out. The bundled
//! policies' own scenarios are scenario files beside them
//! (`policies/*.test.yaml`, run by `yingji test` and `tests/author_scenarios.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
use common::*;

#[test]
fn an_event_behind_the_watermark_is_reported_late_and_changes_nothing() {
    let defs = rainstorm();
    let mut engine = defs.engine().unwrap();
    let mut out = Vec::new();
    engine
        .push_line(&rain("K", "02:00", 40.0), 1, &mut out)
        .unwrap();
    engine
        .push_line(&rain("K", "01:00", 40.0), 2, &mut out)
        .unwrap();
    assert_eq!(out.len(), 1);
    let late = out[0].to_json();
    assert!(late.starts_with(r#"{"type":"late","id":1,"ts":"2024-07-29T01:00:00+08:00","kind":"rain","event":2,"watermark":"2024-07-29T01:55:00+08:00""#), "{late}");
    out.clear();
    engine
        .push_line(&rain("K", "02:10", 9.9), 3, &mut out)
        .unwrap();
    engine.flush(&mut out);
    assert!(out.is_empty(), "the late 40 mm must not count: {out:?}");
    engine
        .push_line(&rain("K", "02:20", 0.1), 4, &mut out)
        .unwrap();
    engine.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(engine.stats().late, 1);
}

#[test]
fn yaml_twin_gives_identical_outputs_on_the_sample_stream() {
    let yj = rainstorm();
    let yaml_text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/twins/rainstorm.yaml"
    ))
    .unwrap();
    let yaml = defs("tests/twins/rainstorm.yaml", &yaml_text);
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
            .unwrap();
    let lines: Vec<String> = sample.lines().map(str::to_string).collect();
    let a = run(&yj, &lines);
    let b = run(&yaml, &lines);
    // identical but for where the rule is written
    let norm = |v: &[String]| -> Vec<serde_json::Value> {
        v.iter()
            .map(|s| {
                let mut j: serde_json::Value = serde_json::from_str(s).unwrap();
                j["rule_at"] = serde_json::Value::Null;
                j
            })
            .collect()
    };
    assert!(!a.is_empty());
    assert_eq!(norm(&a), norm(&b));
}

#[test]
fn where_filter_and_builtins() {
    let defs = defs(
        "f.yj",
        r#"
        event rain { station: string, town: string, mm: number }
        signal 江口 {
          from rain
          where town in ["江口镇", "南溪镇"] and not (mm < 0)
          key station
          let peak = max(mm, 1h)
          level red when abs(peak - 100) <= max(1, 0.5)
        }"#,
    );
    let out = run(&defs, &[rain("X", "00:00", 99.5), rain("X", "00:10", 3.0)]);
    assert_eq!(out.len(), 1);
    assert!(out[0].contains(r#""peak":99.5"#), "{}", out[0]);
    let other_town = r#"{"ts":"2024-07-29T00:00:00+08:00","kind":"rain","station":"Z","town":"故陵镇","mm":100}"#.to_string();
    assert!(run(&defs, &[other_town]).is_empty());
}
