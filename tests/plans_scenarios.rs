//! Scenario tests of the plan runtime over the shipped plans (`plans/`).
//!
//! Boundary rule under test: a timer fires only when event time passes its
//! deadline, so an ack stamped exactly at the deadline is in time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{Harness, of_type, t, trace};
use yingji::Level;

const QL: &str = "县防汛应急预案@南溪镇#1";
const CALL: &str = "县防汛应急预案@南溪镇#1/叫应";

#[test]
fn timely_ack_stops_the_chain() -> Result<(), String> {
    let mut h = Harness::shipped()?;
    h.level(0, "暴雨预警", "YY-001", "南溪镇", Level::Yellow)?;
    let start = h.take();
    assert_eq!(
        trace(&start),
        [
            "plan_started 叫应 level=yellow",
            "notify 叫应 person=C001",
            "response_declared 四级响应 level=IV",
            "measure 四级措施 level=yellow measure=禁行",
        ]
    );
    let notify = of_type(&start, "notify")[0];
    assert_eq!(notify["instance"], QL);
    assert_eq!(notify["ref"], CALL);
    assert_eq!(notify["deadline"], t(300));
    assert_eq!(notify["cause"]["level"]["signal"], "暴雨预警");
    h.ack(180, "C001", Some(CALL))?;
    h.advance(3600);
    let outs = h.take();
    assert_eq!(trace(&outs), ["acked 叫应 person=C001"]);
    assert_eq!(outs[0]["in_time"], true);
    assert_eq!(outs[0]["answers_chain"], true);
    assert_eq!(outs[0]["after"], "3m");
    assert_eq!(outs[0]["cause"]["event"], 2);
    Ok(())
}

#[test]
fn no_ack_escalates_through_every_tier_to_unanswered() -> Result<(), String> {
    let mut h = Harness::shipped()?;
    h.level(0, "暴雨预警", "YY-001", "南溪镇", Level::Yellow)?;
    h.take();
    h.advance(3600);
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "escalated 叫应 from_tier=1 to_tier=2",
            "notify 叫应 person=NX01",
            "escalated 叫应 from_tier=2 to_tier=3",
            "notify 叫应 person=NX11",
            "notify 叫应 person=NX21",
            "escalated 叫应 from_tier=3 to_tier=4",
            "notify 叫应 person=NX12",
            "notify 叫应 person=NX22",
            "unanswered 叫应",
            "notify 叫应 person=C002",
        ]
    );
    // each timeout fires at its deadline, measured from the escalation
    let esc = of_type(&outs, "escalated");
    assert_eq!(esc[0]["ts"], t(300));
    assert_eq!(esc[1]["ts"], t(600));
    assert_eq!(esc[2]["ts"], t(1200));
    assert_eq!(esc[0]["timeout"], "5m");
    assert_eq!(esc[0]["pending"], serde_json::json!(["C001"]));
    assert_eq!(esc[0]["cause"]["timer"]["due"], t(300));
    let un = of_type(&outs, "unanswered")[0];
    assert_eq!(un["ts"], t(1800));
    assert_eq!(un["fallback"], serde_json::json!(["县应急值班室"]));
    assert_eq!(
        un["pending"],
        serde_json::json!(["C001", "NX01", "NX11", "NX21", "NX12", "NX22"])
    );
    // earlier tiers stay pending: the county lead can still answer
    h.ack(3700, "C001", Some(CALL))?;
    let late = h.take();
    assert_eq!(late[0]["type"], "acked");
    assert_eq!(late[0]["in_time"], false);
    Ok(())
}

#[test]
fn ack_exactly_at_the_deadline_is_in_time() -> Result<(), String> {
    let mut h = Harness::shipped()?;
    h.level(0, "暴雨预警", "YY-001", "南溪镇", Level::Yellow)?;
    h.take();
    h.ack(300, "C001", None)?; // deadline 03:05:00, ack 03:05:00
    h.advance(3600);
    let outs = h.take();
    assert_eq!(trace(&outs), ["acked 叫应 person=C001"]);
    assert_eq!(outs[0]["in_time"], true);

    // one millisecond later is too late: the escalation comes first
    let mut h = Harness::shipped()?;
    h.level(0, "暴雨预警", "YY-001", "南溪镇", Level::Yellow)?;
    h.take();
    h.event(&format!(
        r#"{{"ts":"{}","kind":"ack","person":"C001","ref":"{CALL}"}}"#,
        t(300).replace("+08:00", ".001+08:00")
    ))?;
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "escalated 叫应 from_tier=1 to_tier=2",
            "notify 叫应 person=NX01",
            "acked 叫应 person=C001"
        ]
    );
    assert_eq!(outs[2]["in_time"], false);
    assert_eq!(outs[2]["answers_chain"], true);
    h.advance(3600);
    assert!(
        h.take().is_empty(),
        "an answered chain escalates no further"
    );
    Ok(())
}

#[test]
fn two_towns_do_not_interfere() -> Result<(), String> {
    let mut h = Harness::shipped()?;
    h.level(0, "暴雨预警", "YY-001", "南溪镇", Level::Yellow)?;
    h.level(60, "暴雨预警", "YY-002", "江口镇", Level::Yellow)?;
    let outs = h.take();
    let ids: Vec<&str> = of_type(&outs, "plan_started")
        .iter()
        .filter_map(|o| o["instance"].as_str())
        .collect();
    assert_eq!(ids, [QL, "县防汛应急预案@江口镇#1"]);
    h.ack(120, "C001", Some(CALL))?;
    h.advance(700);
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "acked 叫应 person=C001",
            "escalated 叫应 from_tier=1 to_tier=2",
            "notify 叫应 person=JK01",
            "escalated 叫应 from_tier=2 to_tier=3",
            "notify 叫应 person=JK11",
            "notify 叫应 person=JK21", // 江口镇 has two villages in the bundled roster
        ]
    );
    assert!(
        of_type(&outs, "escalated")
            .iter()
            .all(|o| o["area"] == "江口镇")
    );
    // the county lead was called by both; the ack with a reference answered only 南溪镇
    assert_eq!(h.rt.open_instances(), 2);
    Ok(())
}

#[test]
fn bad_acks_are_reported_and_change_nothing() -> Result<(), String> {
    let mut h = Harness::shipped()?;
    h.level(0, "暴雨预警", "YY-001", "南溪镇", Level::Yellow)?;
    h.take();
    h.ack(60, "C001", Some(CALL))?;
    h.take();
    let before = serde_json::to_string(h.rt.state()).map_err(|e| e.to_string())?;
    h.ack(60, "C001", Some("县防汛应急预案@南溪镇#9/叫应"))?;
    h.ack(60, "JK01", Some(CALL))?;
    h.ack(60, "C001", Some(CALL))?;
    h.ack(60, "Z999", None)?;
    let after = serde_json::to_string(h.rt.state()).map_err(|e| e.to_string())?;
    assert_eq!(before, after);
    let outs = h.take();
    let reasons: Vec<&str> = outs.iter().filter_map(|o| o["reason"].as_str()).collect();
    assert_eq!(
        reasons,
        [
            "unknown_call",
            "unknown_person",
            "duplicate",
            "unknown_call"
        ]
    );
    assert!(outs.iter().all(|o| o["type"] == "ack_rejected"));
    assert_eq!(outs[1]["instance"], QL);
    assert_eq!(outs[1]["step"], "叫应");

    // stand down: the warning clears, 2 h pass, the check-up arrives, the plan closes
    h.level(600, "暴雨预警", "YY-001", "南溪镇", Level::None)?;
    h.advance(600 + 7200 + 1);
    h.event(&format!(
        r#"{{"ts":"{}","kind":"灾情核实","area":"南溪镇"}}"#,
        t(600 + 7200 + 60)
    ))?;
    let outs = h.take();
    let closed = of_type(&outs, "plan_closed");
    assert_eq!(closed.len(), 1, "{:#?}", trace(&outs));
    assert_eq!(closed[0]["complete"], true);
    assert_eq!(closed[0]["verify"][2]["stage"], "反馈");
    assert_eq!(closed[0]["verify"][2]["at"], t(60));
    let timed_out = of_type(&outs, "timed_out");
    assert_eq!(timed_out[0]["step"], "解除观察");
    assert_eq!(timed_out[0]["to"], "灾情核实");
    assert_eq!(h.rt.open_instances(), 0);
    let before = serde_json::to_string(h.rt.state()).map_err(|e| e.to_string())?;
    h.ack(600 + 7200 + 60, "NX01", Some(CALL))?;
    let after = serde_json::to_string(h.rt.state()).map_err(|e| e.to_string())?;
    assert_eq!(before, after);
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        ["ack_rejected 叫应 person=NX01 reason=closed"]
    );
    Ok(())
}

#[test]
fn rising_storm_raises_the_response_one_level_at_a_time() -> Result<(), String> {
    let mut h = Harness::shipped()?;
    h.level(0, "暴雨预警", "YY-001", "南溪镇", Level::Red)?;
    let outs = h.take();
    let levels: Vec<&str> = of_type(&outs, "response_declared")
        .iter()
        .filter_map(|o| o["level"].as_str())
        .collect();
    assert_eq!(levels, ["IV", "III", "II"]);
    // Ⅲ in the flood plan starts the geological-hazard plan in the same town
    let started: Vec<&str> = of_type(&outs, "plan_started")
        .iter()
        .filter_map(|o| o["instance"].as_str())
        .collect();
    assert_eq!(started, [QL, "县地质灾害应急预案@南溪镇#1"]);
    assert_eq!(
        of_type(&outs, "plan_started")[1]["cause"]["plan"]["instance"],
        QL
    );
    // nobody answers: the flood 叫应 runs out at 30 min, red + unanswered → Ⅰ
    h.advance(1801);
    let outs = h.take();
    let levels: Vec<&str> = of_type(&outs, "response_declared")
        .iter()
        .filter_map(|o| o["level"].as_str())
        .collect();
    assert_eq!(levels, ["I"]);
    let measures: Vec<&str> = of_type(&outs, "measure")
        .iter()
        .filter_map(|o| o["measure"].as_str())
        .collect();
    assert!(measures.contains(&"撤离"), "{measures:?}");
    // the geohazard chain reached the households, then ran out; the village evacuates anyway
    let geo: Vec<String> = trace(&outs)
        .into_iter()
        .filter(|s| s.contains("临灾") || s.contains("强制"))
        .collect();
    assert!(
        geo.iter().any(|s| s == "notify 临灾叫应 person=NX13"),
        "{geo:#?}"
    );
    let forced = of_type(&outs, "measure")
        .into_iter()
        .filter(|o| o["step"] == "强制撤离")
        .count();
    assert_eq!(forced, 2);
    // the rain eases to orange: explicit step down is not taken (red → orange keeps Ⅰ)
    h.level(2000, "暴雨预警", "YY-001", "南溪镇", Level::Yellow)?;
    let outs = h.take();
    let levels: Vec<&str> = of_type(&outs, "response_declared")
        .iter()
        .filter_map(|o| o["level"].as_str())
        .collect();
    assert_eq!(
        levels,
        ["IV"],
        "yellow with Ⅰ in force steps down to Ⅳ explicitly"
    );
    Ok(())
}

#[test]
fn responsibility_chain_calls_all_four_at_once() -> Result<(), String> {
    let mut h = Harness::shipped()?;
    h.event(&format!(
        r#"{{"ts":"{}","kind":"plan_start","plan":"企业险情处置","area":"江口镇建材有限公司"}}"#,
        t(0)
    ))?;
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "plan_started 四个责任人叫应 level=none",
            "notify 四个责任人叫应 person=E001",
            "notify 四个责任人叫应 person=E002",
            "notify 四个责任人叫应 person=E003",
            "notify 四个责任人叫应 person=E004",
        ]
    );
    for p in ["E001", "E002", "E003"] {
        h.ack(600, p, None)?;
    }
    h.advance(1801);
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "acked 四个责任人叫应 person=E001",
            "acked 四个责任人叫应 person=E002",
            "acked 四个责任人叫应 person=E003",
            "unanswered 四个责任人叫应",
            "notify 四个责任人叫应 person=C003",
            "measure 停产撤人 level=none measure=停工停课",
            "measure 停产撤人 level=none measure=撤离",
            "plan_closed 结束",
        ]
    );
    assert_eq!(
        of_type(&outs, "unanswered")[0]["roles"],
        serde_json::json!(["企业负责人"])
    );
    Ok(())
}
