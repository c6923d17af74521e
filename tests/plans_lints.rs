//! `check` warnings for plan problems that can be known before running:
//! a chain tier that reaches nobody in a township (W0503) and a `wait` that
//! cannot end (W0504).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::load;

const ROSTER: &str = r#"roster: 名册
areas:
  县: [甲镇, 乙镇]
people:
  - { id: C1, name: 县长, role: 县防汛负责人, area: 县, channels: [电话] }
  - { id: D1, name: 值班, role: 县应急值班室, area: 县, channels: [电话] }
  - { id: A1, name: 甲镇长, role: 乡镇主要负责人, area: 甲镇, channels: [电话] }
"#;

fn warnings(plan: &str) -> Vec<String> {
    let (sources, loaded) = load(&[
        ("plan.yaml".to_string(), plan.to_string()),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ]);
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    loaded
        .diagnostics
        .iter()
        .map(|d| format!("{} {} {}", d.code, sources.location(d.span), d.message))
        .collect()
}

const PLAN: &str = r#"plan: 预案
triggers:
  - { signal: 暴雨预警, level: yellow, area: town }
steps:
  - id: 叫应
    notify: chain/叫应链
  - id: 等待
    wait: WAIT
  - id: 结束
    close: { verify: [预警, 反馈] }
chains:
  叫应链:
    - { tier: 县防汛负责人, timeout: 5m }
    - { tier: 乡镇主要负责人, timeout: 5m, fallback: [县应急值班室] }
"#;

#[test]
fn a_tier_nobody_holds_in_a_township_is_a_warning() {
    let w = warnings(&PLAN.replace("WAIT", "{ for: 1h }"));
    assert_eq!(
        w,
        [
            "W0503 plan.yaml:14:15 tier 2 of chain `叫应链` (`乡镇主要负责人`) reaches nobody in 乙镇"
        ]
    );
}

#[test]
fn a_wait_that_cannot_end_is_a_warning() {
    // the response level only changes by the instance's own steps
    let w = warnings(&PLAN.replace("WAIT", r#"{ until: "response == III" }"#));
    assert!(
        w.iter()
            .any(|x| x.starts_with("W0504 plan.yaml:7:9 wait `等待` can never end")),
        "{w:#?}"
    );
    // with a timeout, or on a level the plan is woken for, it can end
    for ok in [
        r#"{ until: "response == III", timeout: 1h }"#,
        r#"{ until: "level < yellow" }"#,
        r#"{ until: "answered(叫应)" }"#,
    ] {
        let w = warnings(&PLAN.replace("WAIT", ok));
        assert!(!w.iter().any(|x| x.starts_with("W0504")), "{ok}: {w:#?}");
    }
    // a signal the plan is not triggered by never wakes it
    let w = warnings(&PLAN.replace("WAIT", r#"{ until: "水位预警 >= yellow" }"#));
    assert!(w.iter().any(|x| x.starts_with("W0504")), "{w:#?}");
}
