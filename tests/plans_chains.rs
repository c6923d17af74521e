//! Chain kinds beside escalation: relay (接力: an answer passes the call on;
//! done when the last tier answers; a tier that does not answer breaks it)
//! and `need: N` per tier. Events in, exact outputs out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{Harness, load, trace};
use yingji::Level;

const ROSTER: &str = r#"roster: 名册
areas:
  县: [甲镇]
  甲镇: [一村]
people:
  - { id: C1, name: 县长, role: 县防汛负责人, area: 县, channels: [电话] }
  - { id: D1, name: 值班, role: 县应急值班室, area: 县, channels: [电话] }
  - { id: A1, name: 甲镇长, role: 乡镇主要负责人, area: 甲镇, channels: [电话] }
  - { id: V1, name: 一村支书, role: 村防汛责任人, area: 一村, channels: [电话] }
  - { id: V2, name: 一村主任, role: 村防汛责任人, area: 一村, channels: [电话] }
  - { id: V3, name: 一村会计, role: 村防汛责任人, area: 一村, channels: [电话] }
"#;

fn plan(chain: &str) -> String {
    format!(
        r#"plan: 接力预案
triggers:
  - {{ signal: 暴雨预警, level: yellow, area: town }}
steps:
  - id: 叫应
    notify: chain/传达
  - id: 等应
    await_ack: {{ of: 叫应, timeout: 1h, on_timeout: 结束 }}
  - id: 结束
    close: {{ verify: [预警, 反馈] }}
chains:
  传达:
{chain}"#
    )
}

const RELAY: &str = "    kind: relay
    tiers:
      - { tier: 县防汛负责人, timeout: 5m }
      - { tier: 乡镇主要负责人, timeout: 5m }
      - { tier: 村防汛责任人, timeout: 10m, need: 2, fallback: [县应急值班室] }
";

fn harness(chain: &str) -> Harness {
    Harness::new(&[
        ("p.yaml".to_string(), plan(chain)),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ])
    .unwrap()
}

const REF: &str = "接力预案@甲镇#1/叫应";

#[test]
fn a_relay_passes_the_call_on_and_completes_at_the_last_tier() {
    let mut h = harness(RELAY);
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    h.ack(60, "C1", Some(REF)).unwrap();
    h.ack(120, "A1", Some(REF)).unwrap();
    h.ack(180, "V1", Some(REF)).unwrap(); // 1 of the 2 needed
    h.ack(240, "V3", Some(REF)).unwrap(); // the second: the relay is done
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "plan_started 叫应 level=yellow",
            "notify 叫应 person=C1",
            "acked 叫应 person=C1",
            "notify 叫应 person=A1",
            "acked 叫应 person=A1",
            "notify 叫应 person=V1",
            "notify 叫应 person=V2",
            "notify 叫应 person=V3",
            "acked 叫应 person=V1",
            "acked 叫应 person=V3",
            "plan_closed 结束",
        ]
    );
    let acked: Vec<bool> = outs
        .iter()
        .filter(|o| o["type"] == "acked")
        .map(|o| o["answers_chain"].as_bool().unwrap())
        .collect();
    assert_eq!(acked, [false, false, false, true]);
}

#[test]
fn a_tier_that_does_not_answer_breaks_the_relay() {
    let mut h = harness(RELAY);
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    h.ack(60, "C1", Some(REF)).unwrap();
    h.advance(60 + 6 * 60); // 甲镇长 does not answer within 5m
    let outs = h.take();
    let t = trace(&outs);
    assert_eq!(
        &t[3..],
        [
            "notify 叫应 person=A1",
            "unanswered 叫应",
            "notify 叫应 person=D1",
            // the await_ack step sees the chain unanswered and goes to its on_timeout
            "plan_closed 结束",
        ],
        "{t:#?}"
    );
    let un = outs.iter().find(|o| o["type"] == "unanswered").unwrap();
    assert_eq!(un["roles"], serde_json::json!(["乡镇主要负责人"]));
    assert_eq!(un["pending"], serde_json::json!(["A1"]));
    assert_eq!(un["ts"], plans_common::t(60 + 5 * 60));
}

#[test]
fn need_takes_a_number_and_nothing_else() {
    let bad = RELAY.replace("need: 2", "need: 0");
    let (_, loaded) = load(&[
        ("p.yaml".to_string(), plan(&bad)),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ]);
    let msgs: Vec<&str> = loaded
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(msgs, ["`need: 0`"]);
}
