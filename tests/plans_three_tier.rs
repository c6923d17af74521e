//! 物资前置 (seed §21) and 三级预案 (seed §19) over the real plans in
//! `plans/`: supplies to the eight central townships at orange from the
//! table; the county overall plan starting the special plans and a village
//! plan in each village. Events in, exact outputs out; and the errors of a
//! bad supplies table or `start_plan`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{Harness, load, t};
use yingji::Level;

fn file(name: &str) -> (String, String) {
    let path = format!("{}/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    (
        format!("plans/{name}"),
        std::fs::read_to_string(path).unwrap(),
    )
}

#[test]
fn orange_sends_the_tables_supplies_to_the_eight_central_townships_once() {
    let mut h = Harness::new(&[
        file("supplies.yaml"),
        file("supplies_table.yaml"),
        file("roster.yaml"),
    ])
    .unwrap();
    h.level(0, "暴雨预警", "YY-003", "南溪镇", Level::Yellow)
        .unwrap();
    assert!(h.take().is_empty(), "yellow sends nothing");
    h.level(600, "暴雨预警", "YY-003", "南溪镇", Level::Orange)
        .unwrap();
    // a second township at orange joins the county instance: nothing is sent twice
    h.level(900, "暴雨预警", "YY-004", "江口镇", Level::Orange)
        .unwrap();
    let outs = h.take();
    let supply: Vec<String> = outs
        .iter()
        .filter(|o| o["type"] == "supply")
        .map(|o| {
            format!(
                "{} {} {}{}",
                o["township"].as_str().unwrap(),
                o["item"].as_str().unwrap(),
                o["quantity"],
                o["unit"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        supply,
        [
            "双江街道 帐篷 20顶",
            "双江街道 棉被 100床",
            "双江街道 冲锋舟 2艘",
            "青龙街道 帐篷 20顶",
            "青龙街道 棉被 100床",
            "青龙街道 冲锋舟 2艘",
            "人和街道 帐篷 10顶",
            "人和街道 棉被 60床",
            "人和街道 冲锋舟 1艘",
            "盘龙街道 帐篷 10顶",
            "盘龙街道 棉被 60床",
            "盘龙街道 冲锋舟 1艘",
            "南溪镇 帐篷 30顶",
            "南溪镇 棉被 150床",
            "南溪镇 冲锋舟 3艘",
            "江口镇 帐篷 30顶",
            "江口镇 棉被 150床",
            "江口镇 冲锋舟 3艘",
            "龙角镇 帐篷 15顶",
            "龙角镇 棉被 80床",
            "龙角镇 冲锋舟 1艘",
            "故陵镇 帐篷 15顶",
            "故陵镇 棉被 80床",
            "故陵镇 冲锋舟 2艘",
        ]
    );
    let first = outs.iter().find(|o| o["type"] == "supply").unwrap();
    assert_eq!(first["instance"], "物资前置@云阳县#1");
    assert_eq!(first["table"], "物资前置表");
    assert_eq!(first["ts"], t(600));
    assert_eq!(first["step"], "前置");
    let kinds: Vec<&str> = outs
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .filter(|k| *k != "supply")
        .collect();
    assert_eq!(kinds, ["plan_started", "area_joined"]);
    // below orange the supplies stay; with no warning left the plan stands down
    h.level(3600, "暴雨预警", "YY-003", "南溪镇", Level::Yellow)
        .unwrap();
    h.level(3650, "暴雨预警", "YY-004", "江口镇", Level::None)
        .unwrap();
    assert!(h.take().is_empty());
    h.level(3700, "暴雨预警", "YY-003", "南溪镇", Level::None)
        .unwrap();
    let outs = h.take();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0]["type"], "plan_closed");
    assert_eq!(outs[0]["ts"], t(3700));
}

fn three_tier() -> Harness {
    Harness::new(&[
        file("overall.yaml"),
        file("flood.yaml"),
        file("geohazard.yaml"),
        file("village.yaml"),
        file("roster.yaml"),
    ])
    .unwrap()
}

fn start(h: &mut Harness, secs: i64, plan: &str, area: &str) {
    h.event(&format!(
        r#"{{"ts":"{}","kind":"plan_start","plan":"{plan}","area":"{area}"}}"#,
        t(secs)
    ))
    .unwrap();
}

#[test]
fn the_overall_plan_starts_the_special_plans_and_a_village_plan_per_village() {
    let mut h = three_tier();
    start(&mut h, 0, "县突发事件总体应急预案", "南溪镇");
    let outs = h.take();
    let started: Vec<String> = outs
        .iter()
        .filter(|o| o["type"] == "plan_started")
        .map(|o| {
            format!(
                "{} ← {}",
                o["instance"].as_str().unwrap(),
                o["trigger"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        started,
        [
            "县突发事件总体应急预案@南溪镇#1 ← manual",
            "县防汛应急预案@南溪镇#1 ← 县突发事件总体应急预案@南溪镇#1 启动",
            "县地质灾害应急预案@南溪镇#1 ← 县突发事件总体应急预案@南溪镇#1 启动",
            "村级防汛预案@花果村#1 ← 县突发事件总体应急预案@南溪镇#1 启动",
            "村级防汛预案@金银村#1 ← 县突发事件总体应急预案@南溪镇#1 启动",
        ]
    );
    for o in outs.iter().filter(|o| o["type"] == "plan_started").skip(1) {
        assert_eq!(
            o["cause"],
            serde_json::json!({ "plan": { "instance": "县突发事件总体应急预案@南溪镇#1" } })
        );
    }
    // each village plan relays its call from the village's lead
    let village_calls: Vec<String> = outs
        .iter()
        .filter(|o| o["type"] == "notify" && o["plan"] == "村级防汛预案")
        .map(|o| {
            format!(
                "{} {}",
                o["area"].as_str().unwrap(),
                o["person"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(village_calls, ["花果村 NX11", "金银村 NX21"]);
    // the relay in 花果村 reaches the household: the household moves
    h.ack(60, "NX11", Some("村级防汛预案@花果村#1/村级叫应"))
        .unwrap();
    h.ack(120, "NX12", Some("村级防汛预案@花果村#1/村级叫应"))
        .unwrap();
    h.ack(180, "NX13", Some("村级防汛预案@花果村#1/村级叫应"))
        .unwrap();
    let outs = h.take();
    let tail: Vec<String> = outs
        .iter()
        .map(|o| {
            format!(
                "{} {} {}",
                o["type"].as_str().unwrap(),
                o["instance"].as_str().unwrap(),
                o.get("measure")
                    .or(o.get("person"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            "acked 村级防汛预案@花果村#1 NX11",
            "notify 村级防汛预案@花果村#1 NX12",
            "acked 村级防汛预案@花果村#1 NX12",
            "notify 村级防汛预案@花果村#1 NX13",
            "acked 村级防汛预案@花果村#1 NX13",
            "measure 村级防汛预案@花果村#1 撤离",
            "plan_closed 村级防汛预案@花果村#1 ",
        ]
    );
}

#[test]
fn a_special_plan_already_running_is_reported_not_started_twice() {
    let mut h = three_tier();
    h.level(0, "暴雨预警", "YY-003", "南溪镇", Level::Yellow)
        .unwrap();
    h.take();
    start(&mut h, 60, "县突发事件总体应急预案", "南溪镇");
    let outs = h.take();
    let rejected: Vec<&serde_json::Value> = outs
        .iter()
        .filter(|o| o["type"] == "plan_start_rejected")
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["plan"], "县防汛应急预案");
    assert_eq!(rejected[0]["reason"], "already_open");
    assert_eq!(rejected[0]["instance"], "县防汛应急预案@南溪镇#1");
    assert_eq!(
        rejected[0]["cause"],
        serde_json::json!({ "plan": { "instance": "县突发事件总体应急预案@南溪镇#1" } })
    );
}

fn diags(texts: &[(String, String)]) -> Vec<String> {
    let (sources, loaded) = load(texts);
    loaded
        .diagnostics
        .iter()
        .map(|d| format!("{} {} {}", d.code, sources.location(d.span), d.message))
        .collect()
}

#[test]
fn a_bad_supplies_table_and_a_bad_start_plan_are_errors_with_their_place() {
    let plan = r#"plan: 坏
triggers: [{ manual: true }]
steps:
  - id: 前置
    supplies: 物资表
  - id: 启动
    start_plan: { plan: 村级预案, in: everywhere }
  - id: 结束
    close: { verify: [核实] }
"#;
    let table = r#"supplies: 物资前置表
townships:
  南溪镇: { 帐篷: 1 }
  南西镇: { 帐篷: 1 }
"#;
    assert_eq!(
        diags(&[
            ("p.yaml".into(), plan.into()),
            ("t.yaml".into(), table.into()),
            file("roster.yaml"),
        ]),
        [
            "E0501 t.yaml:4:3 area `南西镇` is not in the roster's `areas`",
            "E0501 p.yaml:5:15 no supplies table `物资表` is defined",
            "E0501 p.yaml:7:25 no plan `村级预案` is defined",
            "E0503 p.yaml:7:35 `in: everywhere`",
        ]
    );
}
