//! Rosters as a graph: an area under several parents (a village in its
//! township and in a catchment crossing townships) is reached from both;
//! and a roster that makes a plan impossible is a `check` error with its
//! file:line:col (E0511): an area enclosing itself, an area of a
//! county-scoped plan under two roots, a relay tier that reaches nobody.

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
  县: [甲镇, 乙镇, 清水河流域]
  甲镇: [一村]
  乙镇: [二村]
  清水河流域: [一村, 二村]
people:
  - { id: C1, name: 县长, role: 县防汛负责人, area: 县, channels: [电话] }
  - { id: D1, name: 值班, role: 县应急值班室, area: 县, channels: [电话] }
  - { id: A1, name: 甲镇长, role: 乡镇主要负责人, area: 甲镇, channels: [电话] }
  - { id: B1, name: 乙镇长, role: 乡镇主要负责人, area: 乙镇, channels: [电话] }
  - { id: V1, name: 一村支书, role: 村防汛责任人, area: 一村, channels: [电话] }
  - { id: V2, name: 二村支书, role: 村防汛责任人, area: 二村, channels: [电话] }
  - { id: H1, name: 河长, role: 流域河长, area: 清水河流域, channels: [电话] }
"#;

const PLAN: &str = r#"plan: 山洪预案
triggers:
  - { signal: 暴雨预警, level: yellow, area: town }
steps:
  - id: 叫应
    notify: chain/山洪
  - id: 等
    await_ack: { of: 叫应, timeout: 1h, on_timeout: 结束 }
  - id: 结束
    close: { verify: [预警, 反馈] }
chains:
  山洪:
    kind: responsibility
    tiers:
      - { tier: 村防汛责任人, timeout: 10m }
      - { tier: 流域河长, timeout: 10m, fallback: [县应急值班室] }
"#;

#[test]
fn a_village_in_a_township_and_a_catchment_reaches_the_people_of_both() {
    let mut h = Harness::new(&[
        ("p.yaml".to_string(), PLAN.to_string()),
        ("r.yaml".to_string(), ROSTER.to_string()),
    ])
    .unwrap();
    // the plan runs in the village: its own lead and the catchment's river chief
    h.level(0, "暴雨预警", "S1", "一村", Level::Yellow).unwrap();
    assert_eq!(
        trace(&h.take()),
        [
            "plan_started 叫应 level=yellow",
            "notify 叫应 person=V1",
            "notify 叫应 person=H1",
        ]
    );
    // in the catchment itself: both villages' leads (within it) and the river chief
    h.level(0, "暴雨预警", "S2", "清水河流域", Level::Yellow)
        .unwrap();
    assert_eq!(
        trace(&h.take()),
        [
            "plan_started 叫应 level=yellow",
            "notify 叫应 person=V1",
            "notify 叫应 person=V2",
            "notify 叫应 person=H1",
        ]
    );
}

#[test]
fn the_administrative_parent_stays_the_first_and_a_second_parent_is_no_error() {
    let (sources, loaded) = load(&[
        ("p.yaml".to_string(), PLAN.to_string()),
        ("r.yaml".to_string(), ROSTER.to_string()),
    ]);
    let d: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.render(&sources))
        .collect();
    assert!(!loaded.has_errors(), "{d:#?}");
    // the catchment's river chief covers its villages, not whole townships
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(
        d[0].contains("`流域河长`) reaches nobody in 甲镇, 乙镇"),
        "{d:#?}"
    );
    let one = loaded
        .set
        .roster
        .areas
        .iter()
        .find(|a| a.name == "一村")
        .unwrap();
    assert_eq!(one.parent.as_deref(), Some("甲镇"));
    assert_eq!(one.also, ["清水河流域"]);
}

fn diags(plan: &str, roster: &str) -> Vec<String> {
    let (sources, loaded) = load(&[
        ("p.yaml".to_string(), plan.to_string()),
        ("r.yaml".to_string(), roster.to_string()),
    ]);
    loaded
        .diagnostics
        .iter()
        .map(|d| format!("{} {} {}", d.code, sources.location(d.span), d.message))
        .collect()
}

#[test]
fn an_area_enclosing_itself_is_an_error_at_the_area() {
    let roster = r#"roster: 名册
areas:
  县: [甲镇]
  甲镇: [一村]
  一村: [甲镇]
people:
  - { id: C1, name: 县长, role: 县防汛负责人, area: 县 }
  - { id: D1, name: 值班, role: 县应急值班室, area: 县 }
  - { id: V1, name: 一村支书, role: 村防汛责任人, area: 一村 }
  - { id: H1, name: 河长, role: 流域河长, area: 县 }
"#;
    assert_eq!(
        diags(PLAN, roster),
        ["E0511 r.yaml:3:7 area `甲镇` encloses itself: 甲镇 → 一村 → 甲镇"]
    );
}

#[test]
fn a_county_plan_over_an_area_under_two_roots_is_an_error_at_the_area() {
    let plan = PLAN.replace("plan: 山洪预案\n", "plan: 山洪预案\nscope: county\n");
    let roster = r#"roster: 名册
areas:
  县: [甲镇]
  邻县: [乙镇]
  甲镇: [一村]
  清水河流域: [甲镇]
people:
  - { id: D1, name: 值班, role: 县应急值班室, area: 县 }
  - { id: V1, name: 一村支书, role: 村防汛责任人, area: 一村 }
  - { id: H1, name: 河长, role: 流域河长, area: 清水河流域 }
  - { id: B1, name: 乙镇长, role: 村防汛责任人, area: 乙镇 }
  - { id: B2, name: 乙镇河长, role: 流域河长, area: 乙镇 }
  - { id: B3, name: 乙镇值班, role: 县应急值班室, area: 乙镇 }
"#;
    assert_eq!(
        diags(&plan, roster),
        [
            "E0511 r.yaml:3:7 area `甲镇` lies under `县` and `清水河流域`: the county instance of plan `山洪预案` cannot be chosen"
        ]
    );
}

#[test]
fn a_relay_tier_that_reaches_nobody_where_the_plan_runs_is_an_error() {
    let plan = PLAN.replace("kind: responsibility", "kind: relay");
    let roster = r#"roster: 名册
areas:
  县: [甲镇, 乙镇]
  甲镇: [一村]
people:
  - { id: D1, name: 值班, role: 县应急值班室, area: 县 }
  - { id: V1, name: 一村支书, role: 村防汛责任人, area: 一村 }
  - { id: H1, name: 河长, role: 流域河长, area: 县 }
"#;
    assert_eq!(
        diags(&plan, roster),
        [
            "E0511 p.yaml:15:17 tier 1 of chain `山洪` (`村防汛责任人`) reaches nobody in 乙镇: the relay can never complete there"
        ]
    );
}
