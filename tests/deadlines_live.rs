//! Reporting deadlines running live on the event stream (issue 5): a due
//! report that does not arrive fires at its deadline, in event time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use yingji::{Definitions, Output};

fn defs() -> Definitions {
    Definitions::from_paths(&[concat!(env!("CARGO_MANIFEST_DIR"), "/policies")]).unwrap()
}

fn stream() -> Vec<String> {
    let accident = r#"{"kind":"accident","id":"A1","unit":"江口镇","ts":"2024-07-29T08:00:00+08:00","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}"#;
    // the unit reports to the county one second late; the county never reports upward
    let late = r#"{"kind":"report","id":"R1","unit":"江口镇","ts":"2024-07-29T09:00:01+08:00","about":"A1","stage":"单位报县"}"#;
    let mut lines = vec![accident.to_string(), late.to_string()];
    // rain readings keep event time moving for four more hours
    for m in (10..=240).step_by(10) {
        lines.push(format!(
            r#"{{"ts":"2024-07-29T{:02}:{:02}:00+08:00","kind":"rain","station":"YY-004","town":"江口镇","mm":0}}"#,
            9 + m / 60,
            m % 60
        ));
    }
    lines
}

fn run(lines: &[String], cut: Option<usize>) -> Vec<String> {
    let d = defs();
    let mut engine = d.engine().unwrap();
    let mut out: Vec<Output> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if Some(i) == cut {
            let snap = engine.snapshot();
            engine = d.engine().unwrap();
            engine.restore(&snap).unwrap();
        }
        engine.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    engine.flush(&mut out);
    out.iter()
        .map(Output::to_json)
        .filter(|j| j.contains(r#""type":"report_"#))
        .collect()
}

#[test]
fn due_late_and_missing_on_the_stream() {
    let out = run(&stream(), None);
    let summary: Vec<String> = out
        .iter()
        .map(|j| {
            let v: serde_json::Value = serde_json::from_str(j).unwrap();
            format!(
                "{} {} {}",
                v["type"].as_str().unwrap(),
                v["ts"].as_str().unwrap(),
                v["stage"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        summary.contains(&"report_due 2024-07-29T08:00:00+08:00 单位报县".to_string()),
        "{summary:#?}"
    );
    assert!(
        summary.contains(&"report_missing 2024-07-29T09:00:00+08:00 单位报县".to_string()),
        "{summary:#?}"
    );
    let late = out
        .iter()
        .find(|j| j.contains(r#""type":"report_late""#))
        .unwrap();
    assert!(late.contains(r#""late_by":"1s""#), "{late}");
    // 县报市 is due 2 h after 单位报县's deadline (it was late): 11:00, never reported
    assert!(
        summary.contains(&"report_missing 2024-07-29T11:00:00+08:00 县报市".to_string()),
        "{summary:#?}"
    );
}

#[test]
fn a_record_that_fails_its_checks_is_rejected_and_changes_nothing() {
    let d = defs();
    let mut engine = d.engine().unwrap();
    let mut out = Vec::new();
    let bad = r#"{"kind":"accident","id":"A9","unit":"江口镇","ts":"2024-07-29T08:00:00+08:00","category":"火灾","deaths":-1,"serious_injuries":0,"loss_wan":1}"#;
    let err = engine.push_line(bad, 1, &mut out).unwrap_err().to_string();
    assert!(err.contains("deaths"), "{err}");
    engine.flush(&mut out);
    assert!(out.is_empty());
    assert_eq!(engine.stats().accepted, 0);
}

#[test]
fn deadline_state_survives_a_snapshot() {
    let lines = stream();
    let whole = run(&lines, None);
    for cut in [1, 2, 5, 20] {
        assert_eq!(run(&lines, Some(cut)), whole, "cut at {cut}");
    }
}

/// A1 is never reported: its first 续报 is missed on 07-30 at 08:00, so it
/// closes 30 days later (the retention) and is dropped; A2 arrives after that.
fn stream_across_closing() -> Vec<String> {
    let accident = |id: &str, ts: &str| {
        format!(
            r#"{{"kind":"accident","id":"{id}","unit":"江口镇","ts":"{ts}","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}}"#
        )
    };
    let report = |id: &str, about: &str, ts: &str, stage: &str| {
        format!(
            r#"{{"kind":"report","id":"{id}","unit":"江口镇","ts":"{ts}","about":"{about}","stage":"{stage}"}}"#
        )
    };
    vec![
        accident("A1", "2024-07-29T08:00:00+08:00"),
        accident("A2", "2024-08-29T08:00:00+08:00"),
        report("R1", "A2", "2024-08-29T08:30:00+08:00", "单位报县"),
        report("R2", "A2", "2024-08-29T09:30:00+08:00", "县报市"),
        accident("A3", "2024-09-05T08:00:00+08:00"),
        report("R3", "A2", "2024-09-05T09:00:00+08:00", "结案"),
        accident("A4", "2024-10-20T08:00:00+08:00"),
    ]
}

#[test]
fn deadline_state_survives_a_snapshot_across_a_closing() {
    let lines = stream_across_closing();
    let whole = run(&lines, None);
    // A1's 续报 went missing daily until it closed on 08-29 08:00
    let a1_missing = whole
        .iter()
        .filter(|j| j.contains(r#""type":"report_missing""#) && j.contains(r#""subject":"A1""#))
        .count();
    assert_eq!(a1_missing, 2 + 30, "单位报县, 县报市, then 续报 #1..#30");
    for cut in 0..lines.len() {
        assert_eq!(run(&lines, Some(cut)), whole, "cut at {cut}");
    }
}
