//! Parallel branches with a join (`parallel` + `join: all | any`): branches
//! run at the same time, each until it waits; the instance goes on when all
//! (or any) of them reached the join. Outputs of one instant follow the
//! branches' order. Events in, exact outputs out; and the errors for a join
//! without branches, a branch that never reaches its join, and branches that
//! run into each other, each with its file:line:col.

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
people:
  - { id: C1, name: 县长, role: 县防汛负责人, area: 县, channels: [电话] }
  - { id: D1, name: 值班, role: 县应急值班室, area: 县, channels: [电话] }
  - { id: W1, name: 水利局, role: 县水利局, area: 县, channels: [电话] }
  - { id: A1, name: 甲镇长, role: 乡镇主要负责人, area: 甲镇, channels: [电话] }
"#;

fn plan(join: &str) -> String {
    format!(
        r#"plan: 并行预案
triggers:
  - {{ signal: 暴雨预警, level: yellow, area: town }}
steps:
  - id: 分头处置
    parallel: {{ branches: [县级叫应, 部门叫应, 前置措施], join: 汇合 }}
  - id: 县级叫应
    notify: chain/县级
  - id: 等县级
    await_ack: {{ of: 县级叫应, timeout: 10m, on_timeout: 汇合 }}
    next: 汇合
  - id: 部门叫应
    notify: chain/部门
  - id: 等部门
    await_ack: {{ of: 部门叫应, timeout: 20m, on_timeout: 汇合 }}
    next: 汇合
  - id: 前置措施
    measures: [禁行]
    next: 汇合
  - id: 汇合
    join: {join}
  - id: 响应
    declare_response: IV
  - id: 结束
    close: {{ verify: [预警, 响应, 反馈] }}
chains:
  县级:
    - {{ tier: 县防汛负责人, timeout: 10m, fallback: [县应急值班室] }}
  部门:
    - {{ tier: 县水利局, timeout: 20m, fallback: [县应急值班室] }}
"#
    )
}

fn harness(join: &str) -> Harness {
    Harness::new(&[
        ("p.yaml".to_string(), plan(join)),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ])
    .unwrap()
}

#[test]
fn all_branches_run_at_once_and_the_join_waits_for_every_one() {
    let mut h = harness("all");
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    // the three branches start at the same instant, in the order listed
    assert_eq!(
        trace(&h.take()),
        [
            "plan_started 分头处置 level=yellow",
            "notify 县级叫应 person=C1",
            "notify 部门叫应 person=W1",
            "measure 前置措施 level=yellow measure=禁行",
        ]
    );
    h.ack(120, "W1", Some("并行预案@甲镇#1/部门叫应")).unwrap();
    // one branch done: the join still waits for the county lead
    assert_eq!(trace(&h.take()), ["acked 部门叫应 person=W1"]);
    h.ack(300, "C1", Some("并行预案@甲镇#1/县级叫应")).unwrap();
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "acked 县级叫应 person=C1",
            "joined 汇合",
            "response_declared 响应 level=IV",
            "plan_closed 结束",
        ]
    );
    let joined = &outs[1];
    assert_eq!(joined["mode"], "all");
    assert_eq!(joined["ts"], "2024-07-29T03:05:00+08:00");
    assert_eq!(
        joined["branches"],
        serde_json::json!([
            { "branch": "县级叫应", "status": "done" },
            { "branch": "部门叫应", "status": "done" },
            { "branch": "前置措施", "status": "done" },
        ])
    );
    assert_eq!(outs[3]["complete"], true);
}

#[test]
fn a_branch_that_times_out_reaches_the_join_by_its_timeout_edge() {
    let mut h = harness("all");
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    h.ack(60, "C1", Some("并行预案@甲镇#1/县级叫应")).unwrap();
    h.take();
    // nobody at the water bureau answers: at 20m the branch times out
    h.advance(20 * 60 + 1);
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            // the only tier timed out: the chain is unanswered, its
            // fallback is told, and the branch leaves by its timeout edge
            "unanswered 部门叫应",
            "notify 部门叫应 person=D1",
            "joined 汇合",
            "response_declared 响应 level=IV",
            "plan_closed 结束",
        ]
    );
    assert_eq!(outs[2]["ts"], "2024-07-29T03:20:00+08:00");
}

#[test]
fn an_any_join_goes_on_at_the_first_branch_and_stops_the_others() {
    let mut h = harness("any");
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    let outs = h.take();
    // the measures branch has nothing to wait for: it reaches the join at once
    assert_eq!(
        trace(&outs),
        [
            "plan_started 分头处置 level=yellow",
            "notify 县级叫应 person=C1",
            "notify 部门叫应 person=W1",
            "measure 前置措施 level=yellow measure=禁行",
            "joined 汇合",
            "response_declared 响应 level=IV",
            "plan_closed 结束",
        ]
    );
    assert_eq!(outs[4]["mode"], "any");
    assert_eq!(
        outs[4]["branches"],
        serde_json::json!([
            { "branch": "县级叫应", "status": "stopped" },
            { "branch": "部门叫应", "status": "stopped" },
            { "branch": "前置措施", "status": "done" },
        ])
    );
    // the stopped branches' timers do nothing
    h.advance(3600);
    assert_eq!(trace(&h.take()), Vec::<String>::new());
}

#[test]
fn step_entered_traces_every_branch_step_in_order() {
    let (_, mut loaded) = load(&[
        ("p.yaml".to_string(), plan("all")),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ]);
    assert!(!loaded.has_errors());
    loaded.set.trace = true;
    let mut program = plans_common::program();
    yingji::unstable::engine::workflow::runtime::merge_kinds(&mut program, &loaded.set);
    let mut h = Harness::new(&[
        ("p.yaml".to_string(), plan("all")),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ])
    .unwrap();
    h.rt = yingji::unstable::engine::workflow::WorkflowRuntime::new(loaded.set, &program);
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    let steps: Vec<String> = h
        .take()
        .iter()
        .filter(|o| o["type"] == "step_entered")
        .map(|o| {
            format!(
                "{} {}",
                o["step"].as_str().unwrap(),
                o["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            "分头处置 parallel",
            "县级叫应 notify",
            "等县级 await_ack",
            "部门叫应 notify",
            "等部门 await_ack",
            "前置措施 measures",
            "汇合 join",
        ]
    );
}

#[test]
fn the_graph_draws_the_branches_and_the_join() {
    let (_, loaded) = load(&[
        ("p.yaml".to_string(), plan("all")),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ]);
    let set = &loaded.set;
    let p = &set.plans[0];
    let dot = yingji::unstable::engine::workflow::export::to_dot(set, p);
    for want in [
        "分头处置\\n并行 3 路",
        "汇合\\n汇合（全部完成）",
        "label=\"并行\"",
        "label=\"全部完成\"",
    ] {
        assert!(dot.contains(want), "{want} not in\n{dot}");
    }
    let mm = yingji::unstable::engine::workflow::export::to_mermaid(set, p);
    for want in [
        "并行 3 路",
        "汇合（全部完成）",
        "==>|\"并行\"|",
        "-->|\"全部完成\"|",
    ] {
        assert!(mm.contains(want), "{want} not in\n{mm}");
    }
}

fn diags(plan: &str) -> Vec<String> {
    let (sources, loaded) = load(&[
        ("p.yaml".to_string(), plan.to_string()),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ]);
    loaded
        .diagnostics
        .iter()
        .map(|d| format!("{} {} {}", d.code, sources.location(d.span), d.message))
        .collect()
}

#[test]
fn a_join_without_branches_is_an_error_at_the_join() {
    let p = r#"plan: 坏
triggers: [{ manual: true }]
steps:
  - id: 通知
    notify: role/县防汛负责人
  - id: 汇合
    join: all
  - id: 结束
    close: { verify: [核实] }
"#;
    assert_eq!(diags(p), ["E0510 p.yaml:6:9 join `汇合` has no branches"]);
}

#[test]
fn a_branch_that_never_reaches_its_join_is_an_error_at_the_branch() {
    let p = r#"plan: 坏
triggers: [{ manual: true }]
steps:
  - id: 分头
    parallel: { branches: [甲, 乙], join: 汇合 }
  - id: 甲
    notify: role/县防汛负责人
    next: 汇合
  - id: 乙
    measures: [禁行]
    next: 结束
  - id: 汇合
    join: all
  - id: 结束
    close: { verify: [核实] }
"#;
    assert_eq!(
        diags(p),
        ["E0510 p.yaml:5:31 branch `乙` of parallel step `分头` never reaches join `汇合`"]
    );
}

#[test]
fn a_branch_whose_timeout_leaves_it_is_an_error_at_that_step() {
    let p = r#"plan: 坏
triggers: [{ manual: true }]
steps:
  - id: 分头
    parallel: { branches: [甲, 乙], join: 汇合 }
  - id: 甲
    notify: role/县防汛负责人
  - id: 等甲
    await_ack: { of: 甲, timeout: 5m, on_timeout: 结束 }
    next: 汇合
  - id: 乙
    measures: [禁行]
    next: 汇合
  - id: 汇合
    join: any
  - id: 结束
    close: { verify: [核实] }
"#;
    assert_eq!(
        diags(p),
        [
            "E0510 p.yaml:16:9 step `结束` of branch `甲` closes the instance: the branch never reaches join `汇合`"
        ]
    );
}

#[test]
fn branches_that_run_into_each_other_and_a_join_that_is_not_one_are_errors() {
    let p = r#"plan: 坏
triggers: [{ manual: true }]
steps:
  - id: 分头
    parallel: { branches: [甲, 乙], join: 汇合 }
  - id: 甲
    notify: role/县防汛负责人
  - id: 乙
    measures: [禁行]
    next: 汇合
  - id: 汇合
    join: all
  - id: 再分
    parallel: { branches: [丙], join: 结束 }
  - id: 丙
    measures: [断路]
  - id: 结束
    close: { verify: [核实] }
"#;
    assert_eq!(
        diags(p),
        [
            "E0510 p.yaml:5:28 branch `甲` of parallel step `分头` runs into branch `乙`",
            "E0510 p.yaml:14:38 `join: 结束` of parallel step `再分` is not a join step",
        ]
    );
}

const WAITING: &str = r#"plan: 核查并行
triggers:
  - { signal: 暴雨预警, level: yellow, area: town }
steps:
  - id: 分头
    parallel: { branches: [叫应, 核查], join: 汇合 }
  - id: 叫应
    notify: chain/县级
  - id: 等应
    await_ack: { of: 叫应, timeout: 10m, on_timeout: 汇合 }
    next: 汇合
  - id: 核查
    wait: { event: 灾情核实, timeout: 1h, on_timeout: 汇合 }
    next: 汇合
  - id: 汇合
    join: all
  - id: 结束
    close: { verify: [预警, 反馈, 核实] }
chains:
  县级:
    - { tier: 县防汛负责人, timeout: 10m, fallback: [县应急值班室] }
"#;

fn waiting() -> Harness {
    Harness::new(&[
        ("p.yaml".to_string(), WAITING.to_string()),
        ("roster.yaml".to_string(), ROSTER.to_string()),
    ])
    .unwrap()
}

#[test]
fn a_branch_waiting_for_an_event_is_woken_by_it() {
    let mut h = waiting();
    h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
    h.event(&format!(
        r#"{{"ts":"{}","kind":"灾情核实","area":"甲镇"}}"#,
        plans_common::t(200)
    ))
    .unwrap();
    // the verification branch is done at 200s; the call branch when C1 answers
    h.ack(300, "C1", None).unwrap();
    let outs = h.take();
    assert_eq!(
        trace(&outs),
        [
            "plan_started 分头 level=yellow",
            "notify 叫应 person=C1",
            "acked 叫应 person=C1",
            "joined 汇合",
            "plan_closed 结束",
        ]
    );
    assert_eq!(outs[3]["ts"], plans_common::t(300));
    assert_eq!(outs[4]["complete"], true);
    assert_eq!(outs[4]["verify"][2]["event"], 2);
}

#[test]
fn a_snapshot_taken_inside_the_branches_restores_them() {
    let run = |cut: bool| {
        let mut h = waiting();
        h.level(0, "暴雨预警", "S1", "甲镇", Level::Yellow).unwrap();
        h.ack(60, "C1", None).unwrap();
        if cut {
            let state = serde_json::to_string(h.rt.state()).unwrap();
            let restored: yingji::unstable::engine::workflow::runtime::WorkflowState =
                serde_json::from_str(&state).unwrap();
            let mut fresh = waiting();
            fresh.rt.restore(restored);
            fresh.out = std::mem::take(&mut h.out);
            fresh.seq = h.seq;
            h = fresh;
        }
        h.advance(3600 + 1);
        trace(&h.take())
    };
    let whole = run(false);
    assert_eq!(
        whole,
        [
            "plan_started 分头 level=yellow",
            "notify 叫应 person=C1",
            "acked 叫应 person=C1",
            "timed_out 核查",
            "joined 汇合",
            "plan_closed 结束",
        ]
    );
    assert_eq!(run(true), whole);
}
