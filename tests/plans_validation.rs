//! Validation of plans, chains and rosters: every problem at once, each at its
//! `file:line:col`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{load, shipped};

const BAD: &str = r#"plan: 坏预案
response: { skip_levels: false }
triggers:
  - { signal: 暴雨预报, level: orange, area: town }
steps:
  - id: 叫应
    notify: chain/不存在的链
  - id: 通知
    notify: role/村长
  - id: 跳级
    declare_response: II
  - id: 循环甲
    branch:
      - { when: "level >= red", goto: 循环乙 }
      - { else: 未定义步骤 }
  - id: 循环乙
    measures: [撤离]
    next: 循环甲
  - id: 孤岛
    measures: [疏散]
  - id: 通知
    notify: role/值班员
  - id: 结束
    close: { verify: [核实] }
"#;

const LOOPS: &str = r#"plan: 死循环预案
triggers: [{ manual: true }]
steps:
  - id: 研判
    branch:
      - { when: "level >= red", goto: 措施 }
      - { else: 措施 }
  - id: 措施
    measures: [撤离]
    next: 研判
  - id: 永不结束
    wait: { for: 1h }
    next: 永不结束
  - id: 结束
    close: {}
chains:
  无兜底:
    - { tier: 值班员, timeout: 5m }
    - { tier: 村长, timeout: 5m }
"#;

const ROSTER: &str = r#"roster: 测试名册
people:
  - { id: P1, name: 张三, roles: [值班员, 村长], area: 县 }
  - { id: P2, name: 李四, role: 值班员, area: 县 }
  - { id: P2, name: 王五, role: 值班员, area: 县 }
"#;

fn codes_at(texts: &[(&str, &str)]) -> Vec<String> {
    let owned: Vec<(String, String)> = texts
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let (sources, loaded) = load(&owned);
    let mut v: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| format!("{} {}", d.code, sources.location(d.span)))
        .collect();
    v.sort();
    v
}

#[test]
fn shipped_plans_are_valid() {
    let (sources, loaded) = load(&shipped());
    let rendered: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.render(&sources))
        .collect();
    assert!(loaded.diagnostics.is_empty(), "{}", rendered.join("\n"));
    assert_eq!(loaded.set.plans.len(), 3);
    assert_eq!(loaded.set.chains.len(), 3);
}

#[test]
fn every_problem_is_reported_at_once_with_its_place() {
    let got = codes_at(&[("bad.yaml", BAD), ("roster.yaml", ROSTER)]);
    let want = [
        "E0501 bad.yaml:15:17",   // else → undefined step
        "E0501 bad.yaml:4:15",    // undefined signal 暴雨预报
        "E0501 bad.yaml:7:13",    // undefined chain
        "E0502 bad.yaml:21:9",    // duplicate step id 通知
        "E0502 roster.yaml:5:11", // duplicate person P2
    ];
    assert_eq!(got, want);
}

#[test]
fn missing_roster_entry_is_an_error() {
    let text = BAD
        .replace("chain/不存在的链", "role/值班员")
        .replace("else: 未定义步骤", "else: 孤岛")
        .replace("  - id: 通知\n    notify: role/值班员\n", "");
    let got = codes_at(&[("bad.yaml", &text)]);
    assert!(got.contains(&"E0501 bad.yaml:9:13".to_string()), "{got:#?}"); // role/村长: no such person
}

#[test]
fn graph_problems_unreachable_skip_no_close_cycles_and_fallback() {
    let text = BAD
        .replace("chain/不存在的链", "role/值班员")
        .replace("else: 未定义步骤", "else: 循环乙")
        .replace("  - id: 通知\n    notify: role/值班员\n", "");
    let got = codes_at(&[
        ("bad.yaml", &text),
        ("roster.yaml", ROSTER),
        ("loops.yaml", LOOPS),
    ]);
    let want = [
        "E0501 bad.yaml:4:15",    // undefined signal
        "E0502 roster.yaml:5:11", // duplicate person
        "E0505 bad.yaml:19:9",    // 孤岛 unreachable
        "E0505 bad.yaml:21:9",    // 结束 unreachable (the loop never leaves)
        "E0506 bad.yaml:12:9",    // 循环甲 → 循环乙 loop without waiting
        "E0505 loops.yaml:11:9",  // 永不结束 unreachable
        "E0505 loops.yaml:14:9",  // 结束 unreachable
        "E0506 loops.yaml:4:9",   // 研判 → 措施 loop without waiting
        "E0507 bad.yaml:12:9",    // 循环甲 can never close
        "E0507 bad.yaml:16:9",    // 循环乙 can never close
        "E0507 bad.yaml:6:9",     // 叫应 …
        "E0507 bad.yaml:8:9",     // 通知 …
        "E0507 bad.yaml:10:9",    // 跳级 …
        "E0507 loops.yaml:4:9",
        "E0507 loops.yaml:8:9",
        "E0508 loops.yaml:19:15", // last tier without fallback
        "E0509 bad.yaml:11:23",   // none → Ⅱ skips Ⅳ and Ⅲ
        "W0501 roster.yaml:3:11", // 张三 in both tiers of 无兜底
    ];
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn diagnostics_render_with_carets_under_chinese_text() {
    let owned = vec![("bad.yaml".to_string(), BAD.to_string())];
    let (sources, loaded) = load(&owned);
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.message.contains("不存在的链"))
        .expect("undefined chain reported");
    let r = d.render(&sources);
    assert!(r.contains("--> bad.yaml:7:13"), "{r}");
    assert!(r.contains("notify: chain/不存在的链"), "{r}");
}

#[test]
fn bad_guards_and_durations_point_inside_the_yaml_string() {
    let text = r#"plan: 条件错误
triggers: [{ manual: true }]
steps:
  - id: 判断
    branch:
      - { when: "response >= 紫色", goto: 结束 }
      - { else: 结束 }
  - id: 等
    wait: { for: 5x }
  - id: 结束
    close: {}
"#;
    let got = codes_at(&[("c.yaml", text)]);
    assert_eq!(
        got,
        ["E0501 c.yaml:6:30", "E0503 c.yaml:9:18", "E0505 c.yaml:8:9"]
    );
}

#[test]
fn a_did_you_mean_between_equally_close_names_is_always_the_same() {
    let plan = r#"plan: 近名预案
triggers: [{ manual: true }]
steps:
  - id: a1
    notify: chain/c3
    next: a3
  - id: a2
    notify: role/值班员丙
  - id: 结束
    close: {}
chains:
  c1:
    - { tier: 值班员甲, timeout: 5m, fallback: [值班员乙] }
  c2:
    - { tier: 值班员乙, timeout: 5m, fallback: [值班员甲] }
"#;
    let roster = r#"roster: 近名名册
areas:
  县: [甲村, 乙村]
people:
  - { id: P1, name: 张三, role: 值班员甲, area: 县 }
  - { id: P2, name: 李四, role: 值班员乙, area: 丙村 }
"#;
    let texts = vec![
        ("plan.yaml".to_string(), plan.to_string()),
        ("roster.yaml".to_string(), roster.to_string()),
    ];
    // ties go to the name written first (steps, chains, areas) or, for roles,
    // the first in sorted order, whatever order tables iterate in
    for _ in 0..20 {
        let (_, loaded) = load(&texts);
        let mut hints: Vec<(String, String)> = loaded
            .diagnostics
            .iter()
            .map(|d| (d.message.clone(), d.hint.clone().unwrap_or_default()))
            .collect();
        hints.sort();
        assert_eq!(
            hints,
            [
                (
                    "area `丙村` is not in the roster's `areas`".to_string(),
                    "did you mean `甲村`?".to_string()
                ),
                (
                    "no chain `c3` is defined".to_string(),
                    "did you mean `chain/c1`?".to_string()
                ),
                (
                    "no one in the roster holds the role `值班员丙`".to_string(),
                    "did you mean `值班员乙`?".to_string()
                ),
                (
                    "no step `a3` in plan `近名预案`".to_string(),
                    "did you mean `a1`?".to_string()
                ),
            ]
        );
    }
}
