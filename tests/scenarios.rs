//! Scenario tests: events in, exact outputs out.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;
use common::*;

#[test]
fn each_level_of_the_rainstorm_signal_with_exact_outputs() {
    let defs = rainstorm();
    // 50 mm spread over 11 h → blue only (≥ 50 in 12 h, < 50 in 6 h)
    let mut lines = Vec::new();
    for h in 0..11 {
        lines.push(rain(
            "B",
            &format!("{h:02}:00"),
            if h == 10 { 5.0 } else { 4.5 },
        ));
    }
    // 50 mm within 5 h → yellow
    for h in 0..5 {
        lines.push(rain("Y", &format!("{h:02}:30"), 10.0));
    }
    // 50 mm within 2 h → orange, then 100 mm within 3 h → red
    for (t, mm) in [("00:10", 25.0), ("01:10", 25.0), ("02:00", 50.0)] {
        lines.push(rain("R", t, mm));
    }
    lines.sort_by(|a, b| a[7..32].cmp(&b[7..32]));
    let out = run(&defs, &lines);
    let expected = [
        r#"{"type":"level_changed","id":1,"ts":"2024-07-29T01:10:00+08:00","signal":"暴雨预警","key":"R","from":"none","to":"orange","rule":"orange when r3 >= 50","rule_at":"policies/rainstorm.yj:21:3","values":{"r3":50,"r6":50,"r12":50},"event":LINE}"#,
        r#"{"type":"level_changed","id":2,"ts":"2024-07-29T02:00:00+08:00","signal":"暴雨预警","key":"R","from":"orange","to":"red","rule":"red when r3 >= 100","rule_at":"policies/rainstorm.yj:20:3","values":{"r3":100,"r6":100,"r12":100},"event":LINE}"#,
        r#"{"type":"level_changed","id":3,"ts":"2024-07-29T04:30:00+08:00","signal":"暴雨预警","key":"Y","from":"none","to":"yellow","rule":"yellow when r6 >= 50","rule_at":"policies/rainstorm.yj:22:3","values":{"r3":30,"r6":50,"r12":50},"event":LINE}"#,
        r#"{"type":"level_changed","id":4,"ts":"2024-07-29T10:00:00+08:00","signal":"暴雨预警","key":"B","from":"none","to":"blue","rule":"blue when r12 >= 50","rule_at":"policies/rainstorm.yj:23:3","values":{"r3":14,"r6":27.5,"r12":50},"event":LINE}"#,
    ];
    let strip = |s: &str| s.split(r#","event":"#).next().unwrap_or("").to_string();
    assert_eq!(
        out.iter().map(|s| strip(s)).collect::<Vec<_>>(),
        expected.iter().map(|s| strip(s)).collect::<Vec<_>>()
    );
}

#[test]
fn window_is_open_at_its_start_and_closed_at_its_end() {
    let defs = rainstorm();
    // 50 mm at 00:00, then 0 at exactly 03:00: (00:00, 03:00] no longer holds the 50 mm
    let lines = vec![
        rain("S", "00:00", 50.0),
        rain("S", "02:59", 0.0),
        rain("S", "03:00", 0.0),
    ];
    let out = run(&defs, &lines);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(
        out[0].contains(r#""to":"orange""#)
            && out[0].contains(r#""ts":"2024-07-29T00:00:00+08:00""#)
    );
    // at 03:00 the reading falls out of the 3 h window: 6 h window still has 50 → yellow
    assert!(
        out[1].contains(r#""from":"orange","to":"yellow""#) && out[1].contains("03:00:00"),
        "{}",
        out[1]
    );
}

#[test]
fn tenths_of_a_millimetre_add_up_to_exactly_fifty() {
    let defs = rainstorm();
    // 500 readings of 0.1 mm, 20 s apart (166 min in all): exactly 50.0 within 3 h
    let mut lines = Vec::new();
    for i in 0..500 {
        let secs = i * 20;
        lines.push(format!(
            r#"{{"ts":"2024-07-29T{:02}:{:02}:{:02}+08:00","kind":"rain","station":"T","town":"南溪镇","mm":0.1}}"#,
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        ));
    }
    let out = run(&defs, &lines);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert!(
        out[0].contains(r#""to":"orange""#) && out[0].contains(r#""r3":50,"#),
        "{}",
        out[0]
    );
    assert!(
        out[0].contains(r#""event":500,"reason":"raise""#),
        "{}",
        out[0]
    );
}

#[test]
fn de_escalation_and_only_changes_are_emitted() {
    let defs = rainstorm();
    let lines = vec![
        rain("D", "00:00", 60.0),
        rain("D", "01:00", 0.0),
        rain("D", "02:00", 0.0),
        rain("D", "03:00", 0.0),
        rain("D", "06:00", 0.0),
        rain("D", "12:00", 0.0),
    ];
    let out = run(&defs, &lines);
    let changes: Vec<(String, String)> = out
        .iter()
        .map(|o| {
            let v: serde_json::Value = serde_json::from_str(o).unwrap();
            (
                v["from"].as_str().unwrap().to_string(),
                v["to"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        changes,
        pairs(&[
            ("none", "orange"),
            ("orange", "yellow"),
            ("yellow", "blue"),
            ("blue", "none")
        ])
    );
}

#[test]
fn keys_do_not_share_windows() {
    let defs = rainstorm();
    let lines = vec![
        rain("A", "00:00", 30.0),
        rain("B", "00:10", 30.0),
        rain("A", "00:20", 0.0),
    ];
    assert!(run(&defs, &lines).is_empty());
}

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
fn sample_stream_produces_the_expected_warnings() {
    let defs = rainstorm();
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
            .unwrap();
    let lines: Vec<String> = sample.lines().map(str::to_string).collect();
    let summary: Vec<String> = run(&defs, &lines)
        .iter()
        .map(|o| {
            let v: serde_json::Value = serde_json::from_str(o).unwrap();
            format!(
                "{} {} {}→{}",
                v["ts"].as_str().unwrap(),
                v["key"].as_str().unwrap(),
                v["from"].as_str().unwrap(),
                v["to"].as_str().unwrap()
            )
        })
        .collect();
    let expected = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/expected/rain_sample_levels.txt"
    ))
    .unwrap();
    assert_eq!(summary.join("\n"), expected.trim_end());
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
