//! 四级救援 dispatch (seed §20) over the real plan and roster in `plans/`:
//! the nearest team first by the roster's area graph (village → township →
//! rescue region → county), the next when a team declines or does not answer
//! in time; and acks without a reference after the dispatch closed, refused
//! as `closed` naming the instance. Events in, exact outputs out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{Harness, t, trace};

fn file(name: &str) -> (String, String) {
    let path = format!("{}/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    (
        format!("plans/{name}"),
        std::fs::read_to_string(path).unwrap(),
    )
}

fn harness() -> Harness {
    Harness::new(&[file("rescue.yaml"), file("roster.yaml")]).unwrap()
}

fn start(h: &mut Harness, secs: i64, area: &str) {
    h.event(&format!(
        r#"{{"ts":"{}","kind":"plan_start","plan":"四级救援调度","area":"{area}"}}"#,
        t(secs)
    ))
    .unwrap();
}

fn answer(h: &mut Harness, secs: i64, person: &str, answer: &str) {
    h.event(&format!(
        r#"{{"ts":"{}","kind":"ack","person":"{person}","answer":"{answer}"}}"#,
        t(secs)
    ))
    .unwrap();
}

#[test]
fn a_village_incident_calls_the_village_team_first_and_escalates_on_decline_and_timeout() {
    let mut h = harness();
    start(&mut h, 0, "花果村");
    answer(&mut h, 120, "NX41", "decline"); // the village team cannot go
    h.advance(120 + 15 * 60 + 1); // the township team does not answer in 15m
    answer(&mut h, 120 + 15 * 60 + 300, "R002", "accept");
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "plan_started 分头行动 level=none",
            "notify 派遣 person=NX41",
            // the other branch, at the same instant: the site is cordoned off
            "measure 现场警戒 level=none measure=禁行",
            "measure 现场警戒 level=none measure=疏散",
            "declined 派遣 person=NX41",
            "escalated 派遣 from_tier=1 to_tier=2",
            "notify 派遣 person=NX31",
            "escalated 派遣 from_tier=2 to_tier=3",
            "notify 派遣 person=R002",
            "acked 派遣 person=R002",
            "joined 汇合",
            "plan_closed 结束",
        ]
    );
    let declined = &outs[4];
    assert_eq!(declined["tier"], 1);
    assert_eq!(declined["role"], "村网格救援队");
    assert_eq!(declined["ref"], "四级救援调度@花果村#1/派遣");
    assert_eq!(declined["cause"]["event"], 2);
    // a decline passes the call on at once, at the time of the answer
    assert_eq!(outs[5]["ts"], t(120));
    assert_eq!(outs[5]["pending"], serde_json::json!([]));
    // the township team timed out: it stays pending (a late yes still counts)
    assert_eq!(outs[7]["ts"], t(120 + 15 * 60));
    assert_eq!(outs[7]["pending"], serde_json::json!(["NX31"]));
    assert_eq!(outs[8]["role"], "区域救援中心");
    assert_eq!(outs[9]["answers_chain"], true);
    assert_eq!(outs[11]["unanswered"], serde_json::json!(["NX31"]));
}

#[test]
fn a_township_incident_calls_the_nearest_team_first() {
    let mut h = harness();
    start(&mut h, 0, "江口镇");
    h.advance(15 * 60 + 20 * 60 + 30 * 60 + 1);
    let outs = h.take();
    // 江口镇's own team (0 links), its rescue region and the county (1 link
    // each; the region is written first), the village teams within it last
    assert_eq!(
        trace(&outs),
        [
            "plan_started 分头行动 level=none",
            "notify 派遣 person=JK31",
            "measure 现场警戒 level=none measure=禁行",
            "measure 现场警戒 level=none measure=疏散",
            "escalated 派遣 from_tier=2 to_tier=3",
            "notify 派遣 person=R002",
            "escalated 派遣 from_tier=3 to_tier=4",
            "notify 派遣 person=Y001",
            "escalated 派遣 from_tier=4 to_tier=1",
            "notify 派遣 person=JK41",
        ]
    );
    h.advance(15 * 60 + 20 * 60 + 30 * 60 + 10 * 60 + 1);
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "unanswered 派遣",
            "notify 派遣 person=C002",
            "joined 汇合",
            "plan_closed 结束",
        ]
    );
    assert_eq!(
        outs[0]["pending"],
        serde_json::json!(["JK31", "R002", "Y001", "JK41"])
    );
}

#[test]
fn an_answer_that_is_neither_accept_nor_decline_is_refused() {
    let mut h = harness();
    start(&mut h, 0, "花果村");
    answer(&mut h, 60, "NX41", "maybe");
    let outs = h.take();
    assert_eq!(
        trace(&outs)[4..],
        ["ack_rejected  person=NX41 reason=unknown_answer"]
    );
}

#[test]
fn an_ack_without_ref_after_the_close_names_the_closed_instance() {
    // a person left with an unanswered call, after the close
    let mut h = harness();
    start(&mut h, 0, "花果村");
    h.advance(10 * 60 + 1); // the village team does not answer: the township team is called
    answer(&mut h, 11 * 60, "NX31", "accept");
    h.take();
    h.ack(20 * 60, "NX41", None).unwrap();
    let outs = h.take();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0]["type"], "ack_rejected");
    assert_eq!(outs[0]["reason"], "closed");
    assert_eq!(outs[0]["instance"], "四级救援调度@花果村#1");
    assert_eq!(outs[0]["step"], "派遣");
}
