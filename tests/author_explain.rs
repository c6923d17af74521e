//! `yingji explain`: why an output happened — a bundled warning's rule,
//! windows and level dynamics, a plan output's chain of steps, calls and
//! acks; an id not in the run is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn yingji(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run yingji")
}

/// A temporary events file; returns its path.
fn events(name: &str, text: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("yingji-explain-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn stdout(o: &Output, tmp: &Path) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).replace(tmp.parent().unwrap().to_str().unwrap(), "T")
}

const WINDOW: &str = r#"{"ts":"2024-07-29T00:00:00+08:00","kind":"rain","station":"S","town":"江口镇","mm":50}
{"ts":"2024-07-29T02:59:00+08:00","kind":"rain","station":"S","town":"江口镇","mm":0}
{"ts":"2024-07-29T03:00:00+08:00","kind":"rain","station":"S","town":"江口镇","mm":0}
"#;

#[test]
fn a_bundled_warning_with_its_rule_windows_and_dynamics() {
    let ev = events("window.jsonl", WINDOW);
    let o = yingji(&[
        "explain",
        "policies/rainstorm.yj",
        "--events",
        ev.to_str().unwrap(),
        "--id",
        "2",
    ]);
    assert_eq!(
        stdout(&o, &ev),
        r#"输出 2 · level_changed · 2024-07-29T03:00:00+08:00
  {"type":"level_changed","id":2,"ts":"2024-07-29T03:00:00+08:00","signal":"暴雨预警","key":"S","from":"orange","to":"yellow","rule":"yellow when r6 >= 50","rule_at":"policies/rainstorm.yj:22:3","values":{"r3":0,"r6":50,"r12":50},"event":3,"reason":"clear","since":"2024-07-29T03:00:00+08:00"}

暴雨预警 S：橙色 → 黄色（解除）
规则  yellow when r6 >= 50
位置  policies/rainstorm.yj:22:3
      22 |   level yellow when r6  >= 50
起因  T/window.jsonl:3  {"ts":"2024-07-29T03:00:00+08:00","kind":"rain","station":"S","town":"江口镇","mm":0}
取值  r3 = 0，r6 = 50，r12 = 50

窗口（2024-07-29T03:00:00+08:00 时 S 的读数）
  r3 = sum(mm, 3h)    (07-29 00:00, 07-29 03:00]  2 条读数
  r6 = sum(mm, 6h)    (07-28 21:00, 07-29 03:00]  3 条读数
  r12 = sum(mm, 12h)  (07-28 15:00, 07-29 03:00]  3 条读数
    时间                       行  r3  r6  r12
    2024-07-29T00:00:00+08:00  1   ·   50  50
    2024-07-29T02:59:00+08:00  2   0   0   0
    2024-07-29T03:00:00+08:00  3   0   0   0
    = 输出中的值                   0   50  50

等级动态
  橙色级结束：`orange when r3 >= 50` 不再成立，自 2024-07-29T03:00:00+08:00 起
  现为黄色：`yellow when r6 >= 50` 仍成立
  暴雨预警 的等级规则：
    policies/rainstorm.yj:20:3  level red    when r3  >= 100
    policies/rainstorm.yj:21:3  level orange when r3  >= 50
    policies/rainstorm.yj:22:3  level yellow when r6  >= 50
    policies/rainstorm.yj:23:3  level blue   when r12 >= 50
"#
    );
    // a whole output line explains the same output
    let run = yingji(&[
        "run",
        "policies/rainstorm.yj",
        "--events",
        ev.to_str().unwrap(),
    ]);
    let line = String::from_utf8_lossy(&run.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let by_line = yingji(&[
        "explain",
        "policies/rainstorm.yj",
        "--events",
        ev.to_str().unwrap(),
        "--line",
        &line,
    ]);
    assert_eq!(by_line.stdout, o.stdout);
}

#[test]
fn river_step_down_and_clear_after_are_named() {
    let ev = events(
        "river.jsonl",
        r#"{"ts":"2024-07-29T00:00:00+08:00","kind":"river_level","station":"YY-H01","town":"双江街道","level_m":174.6}
{"ts":"2024-07-29T00:10:00+08:00","kind":"river_level","station":"YY-H01","town":"双江街道","level_m":174.7}
{"ts":"2024-07-29T00:20:00+08:00","kind":"river_level","station":"YY-H01","town":"双江街道","level_m":178.6}
{"ts":"2024-07-29T00:30:00+08:00","kind":"river_level","station":"YY-H01","town":"双江街道","level_m":174.0}
{"ts":"2024-07-29T01:40:00+08:00","kind":"river_level","station":"YY-H01","town":"双江街道","level_m":174.0}
"#,
    );
    let run = yingji(&["run", "policies", "--events", ev.to_str().unwrap()]);
    let line = String::from_utf8_lossy(&run.stdout)
        .lines()
        .find(|l| l.contains(r#""reason":"step_down""#))
        .unwrap()
        .to_string();
    let o = yingji(&[
        "explain",
        "policies",
        "--events",
        ev.to_str().unwrap(),
        "--line",
        &line,
    ]);
    let out = stdout(&o, &ev);
    assert!(
        out.contains("等级动态\n  橙色级结束：其解除条件（clear），自 2024-07-29T00:30:00+08:00 起\n  保持：条件不成立满 1h 后才降（clear after 1h）\n  逐级下降（step down）：每次降一级，橙色 → 黄色\n"),
        "{out}"
    );
    assert!(
        out.contains("    policies/river.yj:31:3  level orange when level_m >= 保证       clear below 保证 - 0.3\n"),
        "{out}"
    );
}

#[test]
fn a_plan_output_with_its_chain_of_steps_calls_and_acks() {
    let ev = events(
        "one_clock.jsonl",
        r#"{"ts":"2024-07-29T08:00:00+08:00","kind":"rain","station":"S1","mm":60}
{"ts":"2024-07-29T08:04:00+08:00","kind":"rain","station":"S1","mm":10}
{"ts":"2024-07-29T08:07:00+08:00","kind":"ack","person":"P2","ref":"测试预案@S1#1/叫应"}
"#,
    );
    let o = yingji(&[
        "explain",
        "tests/one_clock",
        "--events",
        ev.to_str().unwrap(),
        "--id",
        "7",
    ]);
    assert_eq!(
        stdout(&o, &ev),
        r#"输出 7 · acked · 2024-07-29T08:07:00+08:00
  {"type":"acked","id":7,"ts":"2024-07-29T08:07:00+08:00","plan":"测试预案","instance":"测试预案@S1#1","area":"S1","step":"叫应","cause":{"event":3},"person":"P2","ref":"测试预案@S1#1/叫应","tier":2,"after":"2m","in_time":true,"answers_chain":true}

测试预案@S1#1 的经过（步骤、呼叫、应答，至此输出为止）
  07-29 08:00  S1      【测试】启动  测试预案（暴雨 yellow (S1)）
      ← 预警 暴雨 S1 无预警→黄色（输出 1，第 1 行；用 --id 1 看其窗口）
  07-29 08:00  S1      【测试】步骤  测试预案@S1#1 → 叫应（notify）
  07-29 08:00  S1      【测试】叫应  第1级 一线 一线甲[P1] 电话，限 08:05 前应答
  07-29 08:00  S1      【测试】步骤  测试预案@S1#1 → 等待应答（await_ack）
  07-29 08:05  S1      【测试】升级  第1级 一线 5m 未应答，转第2级 二线；仍未应答：一线甲[P1]
      ← 计时 测试叫应 tier 1 (一线) 5m 到期 2024-07-29T08:05:00+08:00
  07-29 08:05  S1      【测试】叫应  第2级 二线 二线乙[P2] 电话，限 08:10 前应答
> 07-29 08:07  S1      【测试】应答  二线乙[P2] 第2级，用时 2m，按时（叫应完成）
      ← 事件 T/one_clock.jsonl:3  {"ts":"2024-07-29T08:07:00+08:00","kind":"ack","person":"P2","ref":"测试预案@S1#1/叫应"}
"#
    );
}

#[test]
fn a_bundled_plan_output_names_the_warning_the_timers_and_the_ack() {
    let o = yingji(&[
        "run",
        "policies",
        "plans",
        "--events",
        "plans/samples/flood_acks.jsonl",
    ]);
    let line = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find(|l| l.contains(r#""type":"acked""#) && l.contains(r#""person":"NX11""#))
        .unwrap()
        .to_string();
    let o = yingji(&[
        "explain",
        "policies",
        "plans",
        "--events",
        "plans/samples/flood_acks.jsonl",
        "--line",
        &line,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    for want in [
        "县防汛应急预案@南溪镇#1 的经过（步骤、呼叫、应答，至此输出为止）\n  07-29 03:30  南溪镇    【防汛】启动  县防汛应急预案（暴雨预警 orange (YY-001)）\n      ← 预警 暴雨预警 YY-001 无预警→橙色（输出 1，第 2 行；用 --id 1 看其窗口）\n",
        "      ← 计时 防汛叫应 tier 1 (县防汛负责人) 5m 到期 2024-07-29T03:35:00+08:00\n",
        "> 07-29 03:45  南溪镇    【防汛】应答  花果村支书（示例）[NX11] 第3级，用时 5m，按时（叫应完成）\n      ← 事件 plans/samples/flood_acks.jsonl:5  {\"ts\":\"2024-07-29T03:45:00+08:00\",\"kind\":\"ack\",\"person\":\"NX11\",\"ref\":\"县防汛应急预案@南溪镇#1/叫应\"}\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(
        out.contains("→ 研判（branch）"),
        "the traced steps are shown: {out}"
    );
    assert!(!out.contains("地质灾害"), "only this instance: {out}");
}

#[test]
fn an_output_not_in_the_run_is_refused() {
    let ev = events("absent.jsonl", WINDOW);
    let o = yingji(&[
        "explain",
        "policies/rainstorm.yj",
        "--events",
        ev.to_str().unwrap(),
        "--id",
        "99",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "yingji: no output with id 99 in this run (2 output(s), ids 1–2); were the definitions, the events, --trace and --until those of the run that wrote it?\n"
    );
    // a line that is not what this run wrote under its id
    let line = r#"{"type":"level_changed","id":2,"ts":"2024-07-29T03:00:00+08:00","signal":"暴雨预警","key":"S","from":"orange","to":"red","rule":"red when r3 >= 100","rule_at":"policies/rainstorm.yj:20:3","values":{"r3":0,"r6":50,"r12":50},"event":3,"reason":"raise","since":"2024-07-29T03:00:00+08:00"}"#;
    let o = yingji(&[
        "explain",
        "policies/rainstorm.yj",
        "--events",
        ev.to_str().unwrap(),
        "--line",
        line,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("yingji: the output with id 2 in this run is not the given line: it is\n{\"type\":\"level_changed\",\"id\":2,"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = yingji(&[
        "explain",
        "policies/rainstorm.yj",
        "--events",
        ev.to_str().unwrap(),
        "--line",
        "not json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = yingji(&[
        "explain",
        "policies/rainstorm.yj",
        "--events",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "--id or --line is required");
}

#[test]
fn a_late_event_is_not_among_the_readings() {
    let ev = events(
        "late.jsonl",
        r#"{"ts":"2024-07-29T02:00:00+08:00","kind":"rain","station":"K","town":"江口镇","mm":40}
{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"K","town":"江口镇","mm":40}
{"ts":"2024-07-29T02:10:00+08:00","kind":"rain","station":"K","town":"江口镇","mm":9.9}
{"ts":"2024-07-29T02:20:00+08:00","kind":"rain","station":"K","town":"江口镇","mm":0.1}
"#,
    );
    let o = yingji(&[
        "explain",
        "policies/rainstorm.yj",
        "--events",
        ev.to_str().unwrap(),
        "--id",
        "2",
    ]);
    let out = stdout(&o, &ev);
    assert!(
        out.contains(
            "    时间                       行  r3   r6   r12
    2024-07-29T02:00:00+08:00  1   40   40   40
    2024-07-29T02:10:00+08:00  3   9.9  9.9  9.9
    2024-07-29T02:20:00+08:00  4   0.1  0.1  0.1
    = 输出中的值                   50   50   50
"
        ),
        "{out}"
    );
}

#[test]
fn a_reporting_deadline_names_its_rule_and_line() {
    let o = yingji(&[
        "explain",
        "policies/report_12350.yj",
        "--events",
        "samples/report_12350.jsonl",
        "--until",
        "2024-09-01T00:00:00+08:00",
        "--id",
        "7",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("输出 7 · report_late · 2024-08-05T10:00:00+08:00\n"),
        "{out}"
    );
    assert!(
        out.ends_with("\n规则  due 核查 within 3d after 受理 when major\n位置  policies/report_12350.yj:25:3\n      25 |   due 核查       within 3d  after 受理 when major\n"),
        "{out}"
    );
    // without --until the run has fewer outputs: id 7 is another one, or none
    let o = yingji(&[
        "explain",
        "policies/report_12350.yj",
        "--events",
        "samples/report_12350.jsonl",
        "--id",
        "11",
    ]);
    assert_eq!(o.status.code(), Some(1));
}
