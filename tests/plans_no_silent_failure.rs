//! Issue #14, "no silent failure": every way a plan used to do nothing
//! quietly is now an output (or a `check` warning, see `plans_lints.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{Harness, of_type, shipped, t};
use yingji::Level;

const ROSTER: &str = r#"roster: 名册
areas:
  县: [甲镇, 乙镇]
  甲镇: [一村]
people:
  - { id: C1, name: 县长, role: 县防汛负责人, area: 县, channels: [电话] }
  - { id: D1, name: 值班, role: 县应急值班室, area: 县, channels: [电话] }
  - { id: A1, name: 甲镇长, role: 乡镇主要负责人, area: 甲镇, channels: [电话] }
  - { id: V1, name: 一村支书, roles: [村防汛责任人, 乡镇主要负责人], area: 一村, channels: [电话] }
"#;

/// A plan on 暴雨预警 whose area comes from `field`, with a chain and a
/// verification wait.
fn plan(name: &str, field: &str) -> String {
    r#"plan: NAME
triggers:
  - { signal: 暴雨预警, level: yellow, area: FIELD }
  - { manual: true }
steps:
  - id: 叫应
    notify: chain/链NAME
  - id: 等应
    await_ack: { of: 叫应, timeout: 30m, on_timeout: 核查 }
  - id: 核查
    wait: { event: 灾情核实, timeout: 1h }
  - id: 结束
    close: { verify: [预警, 响应, 反馈, 核实] }
chains:
  链NAME:
    - { tier: 县防汛负责人, timeout: 5m }
    - { tier: 乡镇主要负责人, timeout: 5m }
    - { tier: 村防汛责任人, timeout: 5m, fallback: [县应急值班室] }
"#
    .replace("NAME", name)
    .replace("FIELD", field)
}

fn harness(plans: &[(&str, String)]) -> Harness {
    let mut texts: Vec<(String, String)> = plans
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    texts.push(("roster.yaml".into(), ROSTER.into()));
    Harness::new(&texts).unwrap()
}

#[test]
fn a_tier_that_reaches_nobody_is_an_output() {
    let mut h = harness(&[("p.yaml", plan("预案", "town"))]);
    // 丙镇 is not in the roster: the county lead is not above it either
    h.level(0, "暴雨预警", "S1", "丙镇", Level::Yellow).unwrap();
    let outs = h.take();
    let failed = of_type(&outs, "notify_failed");
    assert_eq!(failed.len(), 1, "{outs:#?}");
    assert_eq!(failed[0]["why"], "area_not_in_roster");
    assert_eq!(failed[0]["area"], "丙镇");
    assert_eq!(failed[0]["tier"], 1);
    assert_eq!(failed[0]["role"], "县防汛负责人");
    // 乙镇 is, but nobody holds 乡镇主要负责人 or 村防汛责任人 in or under it
    h.level(10, "暴雨预警", "S2", "乙镇", Level::Yellow)
        .unwrap();
    h.advance(11 * 60);
    let outs = h.take();
    let failed: Vec<(u64, &str, &str)> = of_type(&outs, "notify_failed")
        .iter()
        .filter(|o| o["area"] == "乙镇")
        .map(|o| {
            (
                o["tier"].as_u64().unwrap(),
                o["role"].as_str().unwrap(),
                o["why"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failed,
        [
            (2, "乡镇主要负责人", "no_holder"),
            (3, "村防汛责任人", "no_holder")
        ],
        "{outs:#?}"
    );
    assert!(of_type(&outs, "notify_failed").iter().any(|o| {
        o["message"]
            .as_str()
            .unwrap()
            .contains("nobody holds the role `乡镇主要负责人` in `乙镇`")
    }));
}

#[test]
fn plan_start_for_an_unknown_plan_or_area_is_refused_with_a_reason() {
    let mut h = harness(&[("p.yaml", plan("预案", "town"))]);
    let start = |h: &mut Harness, s: i64, plan: &str, area: &str| {
        h.event(&format!(
            r#"{{"ts":"{}","kind":"plan_start","plan":"{plan}","area":"{area}"}}"#,
            t(s)
        ))
        .unwrap();
    };
    start(&mut h, 0, "无此预案", "甲镇");
    start(&mut h, 1, "预案", "无此镇");
    start(&mut h, 2, "预案", "甲镇");
    start(&mut h, 3, "预案", "甲镇");
    let outs = h.take();
    let rejected: Vec<(&str, &str)> = of_type(&outs, "plan_start_rejected")
        .iter()
        .map(|o| (o["reason"].as_str().unwrap(), o["area"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [
            ("unknown_plan", "甲镇"),
            ("unknown_area", "无此镇"),
            ("already_open", "甲镇")
        ]
    );
    let r = of_type(&outs, "plan_start_rejected");
    assert_eq!(r[0]["known"], serde_json::json!(["预案"]));
    assert_eq!(r[2]["instance"], "预案@甲镇#1");
    assert_eq!(of_type(&outs, "plan_started").len(), 1);
}

#[test]
fn each_plan_keeps_its_own_area_field() {
    // two plans on the same signal: one reads `town`, the other `station`
    let mut h = harness(&[
        ("a.yaml", plan("按镇", "town")),
        ("b.yaml", plan("按站", "station")),
    ]);
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    let outs = h.take();
    let started: Vec<&str> = of_type(&outs, "plan_started")
        .iter()
        .map(|o| o["instance"].as_str().unwrap())
        .collect();
    assert_eq!(started, ["按镇@甲镇#1", "按站@S1#1"]);
}

#[test]
fn plan_closed_names_what_satisfied_each_stage_or_missing() {
    let mut h = harness(&[("p.yaml", plan("预案", "town"))]);
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap(); // event 1
    h.ack(60, "C1", Some("预案@甲镇#1/叫应")).unwrap(); // event 2
    h.event(&format!(
        r#"{{"ts":"{}","kind":"灾情核实","area":"甲镇"}}"#,
        t(120)
    ))
    .unwrap(); // event 3
    let outs = h.take();
    let closed = of_type(&outs, "plan_closed");
    assert_eq!(closed.len(), 1, "{outs:#?}");
    let stages: Vec<(&str, &str, serde_json::Value)> = closed[0]["verify"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
                s["event"].clone(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            ("预警", "done", serde_json::json!(1)),
            ("响应", "missing", serde_json::Value::Null),
            ("反馈", "done", serde_json::json!(2)),
            ("核实", "done", serde_json::json!(3)),
        ]
    );
    assert_eq!(
        closed[0]["complete"], false,
        "no response level was declared"
    );
    assert!(
        closed[0]["verify"][1]["by"]
            .as_str()
            .unwrap()
            .starts_with("missing")
    );
}

#[test]
fn an_early_verification_event_is_refused_and_does_not_count_later() {
    let mut h = harness(&[("p.yaml", plan("预案", "town"))]);
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    // the report comes while the plan still waits for an answer
    h.event(&format!(
        r#"{{"ts":"{}","kind":"灾情核实","area":"甲镇"}}"#,
        t(30)
    ))
    .unwrap();
    // and one for a town with no instance
    h.event(&format!(
        r#"{{"ts":"{}","kind":"灾情核实","area":"乙镇"}}"#,
        t(31)
    ))
    .unwrap();
    h.ack(60, "C1", None).unwrap();
    h.advance(2 * 3600);
    let outs = h.take();
    let refused = of_type(&outs, "event_refused");
    assert_eq!(refused.len(), 2, "{outs:#?}");
    assert_eq!(refused[0]["reason"], "not_awaited");
    assert_eq!(refused[0]["open"][0]["instance"], "预案@甲镇#1");
    assert_eq!(refused[0]["open"][0]["step"], "等应");
    assert_eq!(refused[1]["reason"], "no_open_instance");
    let closed = of_type(&outs, "plan_closed");
    assert_eq!(closed[0]["verify"][3]["status"], "missing");
    assert_eq!(closed[0]["complete"], false);
}

#[test]
fn unanswered_lists_each_pending_person_once() {
    // V1 holds 乡镇主要负责人 (tier 2) and 村防汛责任人 (tier 3) in 甲镇
    let mut h = harness(&[("p.yaml", plan("预案", "town"))]);
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    h.advance(16 * 60);
    let outs = h.take();
    let un = of_type(&outs, "unanswered");
    assert_eq!(un.len(), 1, "{outs:#?}");
    assert_eq!(un[0]["pending"], serde_json::json!(["C1", "A1", "V1"]));
}

#[test]
fn ack_refusals_say_why_and_name_the_instance() {
    let mut h = Harness::new(&shipped()).unwrap();
    h.level(0, "暴雨预警", "YY-003", "南溪镇", Level::Yellow)
        .unwrap();
    let call = "县防汛应急预案@南溪镇#1/叫应";
    h.ack(10, "NX11", Some(call)).unwrap(); // a later tier
    h.ack(20, "C001", Some(call)).unwrap();
    h.ack(30, "C001", Some(call)).unwrap(); // again
    h.ack(40, "Z999", Some(call)).unwrap(); // not in the roster
    let outs = h.take();
    let why: Vec<(&str, &str)> = of_type(&outs, "ack_rejected")
        .iter()
        .map(|o| {
            (
                o["reason"].as_str().unwrap(),
                o["instance"].as_str().unwrap(),
            )
        })
        .collect();
    let inst = "县防汛应急预案@南溪镇#1";
    assert_eq!(
        why,
        [
            ("not_called_yet", inst),
            ("duplicate", inst),
            ("unknown_person", inst)
        ]
    );
}
