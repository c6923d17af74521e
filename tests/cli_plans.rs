//! The CLI's plan side: README command 1 shows the whole 叫应 loop on the
//! bundled sample, `--format text` is a duty officer's timeline, `--trace`
//! adds `step_entered`, `graph` takes several paths.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::process::{Command, Output};

fn yingji(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run yingji")
}

fn json_lines(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn readme_command_one_shows_the_closed_loop_with_named_people() {
    let o = yingji(&["run", "policies", "plans", "--events", "samples/rain.jsonl"]);
    assert!(o.status.success());
    let outs = json_lines(&o);
    let of = |t: &str| outs.iter().filter(|x| x["type"] == t).collect::<Vec<_>>();
    // named people are called, answer, and one chain escalates to its end
    assert!(
        of("notify")
            .iter()
            .any(|n| n["name"] == "南溪镇镇长（示例）")
    );
    assert!(
        of("acked")
            .iter()
            .any(|a| a["person"] == "NX01" && a["in_time"] == true)
    );
    assert!(
        of("acked")
            .iter()
            .any(|a| a["person"] == "JK01" && a["in_time"] == false)
    );
    assert!(!of("escalated").is_empty());
    assert!(of("unanswered").iter().any(|u| u["area"] == "江口镇"));
    assert!(
        of("ack_rejected")
            .iter()
            .any(|r| r["reason"] == "duplicate")
    );
    // nobody is left uncalled: every tier reaches someone in the real townships
    assert!(of("notify_failed").is_empty(), "{:#?}", of("notify_failed"));
    // the flood plan in 南溪镇 closes with every stage verified by an event
    let closed = of("plan_closed");
    let nanxi = closed
        .iter()
        .find(|c| c["instance"] == "县防汛应急预案@南溪镇#1")
        .unwrap();
    assert_eq!(nanxi["complete"], true);
    assert!(
        nanxi["verify"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "done" && s["event"].is_u64())
    );
    // and one that never got its verification report says so
    assert!(
        closed
            .iter()
            .any(|c| c["complete"] == false && c["verify"][3]["status"] == "missing")
    );
    // no `step_entered` without --trace
    assert!(of("step_entered").is_empty());
    // 物资前置 at the first orange: 8 townships × 3 items, once
    assert_eq!(of("supply").len(), 24);
    // 降雨三查: the sample reports no checks, so each township's are overdue
    assert!(of("check_overdue").iter().any(|c| c["area"] == "南溪镇"
        && c["check"] == "雨前排查"
        && c["due"] == "2024-07-28T21:00:00+08:00"));
}

#[test]
fn format_text_is_a_timeline_and_trace_adds_steps() {
    let o = yingji(&[
        "run",
        "policies",
        "plans",
        "--events",
        "plans/samples/flood_acks.jsonl",
        "--format",
        "text",
    ]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("07-29 03:45  南溪镇")
            && l.contains("【防汛】应答")
            && l.contains("花果村支书（示例）[NX11]")),
        "{text}"
    );
    assert!(text.contains("叫应  第1级 县防汛负责人"), "{text}");
    assert!(text.contains("应答无效"), "{text}");
    assert!(!text.contains("{\""), "no JSON in the timeline: {text}");

    let o = yingji(&[
        "run",
        "policies",
        "plans",
        "--events",
        "plans/samples/flood_acks.jsonl",
        "--trace",
    ]);
    let outs = json_lines(&o);
    let steps: Vec<&str> = outs
        .iter()
        .filter(|x| x["type"] == "step_entered" && x["instance"] == "县防汛应急预案@南溪镇#1")
        .map(|x| x["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps.first(), Some(&"叫应"));
    assert_eq!(steps.last(), Some(&"核实"));
    assert!(steps.contains(&"研判"));
}

#[test]
fn graph_takes_several_paths() {
    let o = yingji(&[
        "graph",
        "plans/flood.yaml",
        "plans/roster.yaml",
        "--format",
        "mermaid",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = String::from_utf8_lossy(&o.stdout);
    assert!(m.contains("flowchart TD") && m.contains("Ⅲ级响应"));
    let o = yingji(&["graph", "plans", "--plan", "企业险情处置"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("digraph \"企业险情处置\""));
    // several plans and no --plan: refused with the names
    let o = yingji(&[
        "graph",
        "plans/flood.yaml",
        "plans/geohazard.yaml",
        "plans/roster.yaml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pick one with --plan"));
}

#[test]
fn the_rescue_sample_dispatches_nearest_first_and_starts_the_three_tiers() {
    let o = yingji(&[
        "run",
        "policies",
        "plans",
        "--events",
        "plans/samples/rescue.jsonl",
        "--until",
        "2024-07-29T04:30:00+08:00",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let outs = json_lines(&o);
    let of =
        |t: &str| -> Vec<&serde_json::Value> { outs.iter().filter(|x| x["type"] == t).collect() };
    let calls: Vec<&str> = of("notify")
        .iter()
        .filter(|n| n["plan"] == "四级救援调度")
        .map(|n| n["person"].as_str().unwrap())
        .collect();
    // the village team, then (it declined) the township team, then the region
    assert_eq!(calls, ["NX41", "NX31", "R002"]);
    assert_eq!(of("declined").len(), 1);
    assert_eq!(of("joined")[0]["instance"], "四级救援调度@花果村#1");
    // the overall plan: both special plans and one village plan per village
    // of 江口镇 (not the enterprise listed under it)
    let started: Vec<&str> = of("plan_started")
        .iter()
        .filter(|p| p["cause"]["plan"]["instance"] == "县突发事件总体应急预案@江口镇#1")
        .map(|p| p["instance"].as_str().unwrap())
        .collect();
    assert_eq!(
        started,
        [
            "县防汛应急预案@江口镇#1",
            "县地质灾害应急预案@江口镇#1",
            "村级防汛预案@五星村#1",
            "村级防汛预案@九龙村#1",
        ]
    );
    assert!(of("notify_failed").is_empty(), "{:#?}", of("notify_failed"));
}
