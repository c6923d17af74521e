//! `yingji replay`: without `--diff` it runs like `yingji run`; with
//! `--diff OLD NEW` it reports what a change of the definitions does to the
//! same history, as an aligned Chinese table and as JSONL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn yingji_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run yingji")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const OLD: &str = "event rain { station: string, town: string, mm: number }
signal 暴雨预警 {
  from rain
  key station
  let r3 = sum(mm, 3h)
  level red    when r3 >= 100
  level orange when r3 >= 50
}
";

const EVENTS: &str = r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":30}
{"ts":"2024-07-29T01:30:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":16}
{"ts":"2024-07-29T02:00:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":10}
{"ts":"2024-07-29T02:30:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":50}
{"ts":"2024-07-29T02:40:00+08:00","kind":"wind","station":"YY-001","speed":20}
{"ts":"2024-07-29T06:00:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":0}
{"ts":"2024-07-29T06:00:00+08:00","kind":"rain","station":"YY-002","town":"江口镇","mm":48}
"#;

/// A folder with `old/rain.yj`, `new/rain.yj` (`new` given) and `ev.jsonl`.
fn setup(name: &str, new: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("yingji-replay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for (sub, text) in [("old", OLD), ("new", new)] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        std::fs::write(d.join(sub).join("rain.yj"), text).unwrap();
    }
    std::fs::write(d.join("ev.jsonl"), EVENTS).unwrap();
    d
}

#[test]
fn replay_without_diff_gives_the_outputs_of_run() {
    let args = ["policies", "plans", "--events", "samples/rain.jsonl"];
    let run = yingji_in(&root(), &[&["run"][..], &args].concat());
    // JSON lines are the default without --diff, as for `run`
    let replay = yingji_in(&root(), &[&["replay"][..], &args].concat());
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(run.stdout.len() > 10_000);
    assert_eq!(
        String::from_utf8_lossy(&replay.stdout),
        String::from_utf8_lossy(&run.stdout)
    );
    // several event files: positions count on through them, as one file would
    let d = setup("several", OLD);
    let (a, b) = EVENTS.split_at(EVENTS.find("{\"ts\":\"2024-07-29T02:40").unwrap());
    std::fs::write(d.join("a.jsonl"), a).unwrap();
    std::fs::write(d.join("b.jsonl"), b).unwrap();
    let one = yingji_in(
        &d,
        &["replay", "old", "--events", "ev.jsonl", "--format", "jsonl"],
    );
    let two = yingji_in(&d, &["replay", "old", "--events", "a.jsonl", "b.jsonl"]);
    assert!(!one.stdout.is_empty());
    assert_eq!(one.stdout, two.stdout);
}

#[test]
fn diff_reports_added_removed_and_moved_in_an_aligned_table() {
    let new = OLD
        .replace("r3 >= 50", "r3 >= 45")
        .replace("r3 >= 100", "r3 >= 120");
    let d = setup("table", &new);
    let o = yingji_in(
        &d,
        &["replay", "--diff", "old", "new", "--events", "ev.jsonl"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "对比：旧 old → 新 new
旧定义忽略的事件种类（新定义读取）：无
新定义忽略的事件种类（旧定义读取）：无
两者都忽略：wind（1 条）

变化  信号/预案  对象    类型           内容         旧时间       新时间       位移
移动  暴雨预警   YY-001  level_changed  无预警→橙色  07-29 02:00  07-29 01:30  -30m
删除  暴雨预警   YY-001  level_changed  橙色→红色    07-29 02:30  -            -
新增  暴雨预警   YY-001  level_changed  橙色→无预警  -            07-29 06:00  -
删除  暴雨预警   YY-001  level_changed  红色→无预警  07-29 06:00  -            -
新增  暴雨预警   YY-002  level_changed  无预警→橙色  -            07-29 06:00  -

级别  新增  删除  移动  不变
红色  0     2     0     0
橙色  2     0     1     0
合计  2     2     1     0
"
    );
    let o = yingji_in(
        &d,
        &[
            "replay", "--diff", "old", "new", "--events", "ev.jsonl", "--format", "jsonl",
        ],
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[0],
        serde_json::json!({"change":"moved","group":"暴雨预警","key":"YY-001","type":"level_changed","what":"none→orange",
            "old_ts":"2024-07-29T02:00:00+08:00","old_id":1,"new_ts":"2024-07-29T01:30:00+08:00","new_id":1,
            "shift_ms":-1_800_000,"shift":"-30m"})
    );
    assert_eq!(lines[1]["change"], "removed");
    assert_eq!(lines[1]["new_ts"], serde_json::Value::Null);
    assert_eq!(
        lines[5]["summary"],
        serde_json::json!({"added":2,"removed":2,"moved":1,"unchanged":0,
            "per_level":{"orange":{"added":2,"removed":0,"moved":1,"unchanged":0},"red":{"added":0,"removed":2,"moved":0,"unchanged":0}},
            "ignored_by_old_only":{},"ignored_by_new_only":{},"ignored_by_both":{"wind":1}})
    );
}

#[test]
fn diff_says_which_kinds_each_side_ignores() {
    let new = format!(
        "{OLD}event wind {{ station: string, speed: number }}\nsignal 大风预警 {{\n  from wind\n  key station\n  level blue when speed >= 17\n}}\n"
    );
    let d = setup("kinds", &new);
    let o = yingji_in(
        &d,
        &["replay", "--diff", "old", "new", "--events", "ev.jsonl"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("对比：旧 old → 新 new\n旧定义忽略的事件种类（新定义读取）：wind（1 条）\n新定义忽略的事件种类（旧定义读取）：无\n\n"),
        "{out}"
    );
    assert!(
        out.contains(
            "新增  大风预警   YY-001  level_changed  无预警→蓝色  -       07-29 02:40  -\n"
        ),
        "{out}"
    );
    // the other way round
    let o = yingji_in(
        &d,
        &["replay", "--diff", "new", "old", "--events", "ev.jsonl"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("新定义忽略的事件种类（旧定义读取）：wind（1 条）\n"),
        "{out}"
    );
    assert!(out.contains("删除  大风预警"), "{out}");
}

#[test]
fn the_same_definitions_change_nothing() {
    let d = setup("same", OLD);
    let o = yingji_in(
        &d,
        &["replay", "--diff", "old", "new", "--events", "ev.jsonl"],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\n无变化\n"), "{out}");
    assert!(out.ends_with("合计  0     0     0     3\n"), "{out}");
}

#[test]
fn bad_input_is_refused_with_its_reason() {
    let d = setup("bad", OLD);
    let o = yingji_in(
        &d,
        &["replay", "--diff", "old", "nowhere", "--events", "ev.jsonl"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("definitions not accepted: nowhere"));
    let o = yingji_in(&d, &["replay", "old", "--events", "missing.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.jsonl: cannot read the events"));
    let o = yingji_in(&d, &["replay", "--events", "ev.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    let o = yingji_in(
        &d,
        &["replay", "old", "--events", "ev.jsonl", "--format", "xml"],
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn gzip_compressed_events_read_like_plain_ones_and_bad_bytes_are_named() {
    use std::io::Write;
    let d = setup("gz", OLD);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(EVENTS.as_bytes()).unwrap();
    std::fs::write(d.join("ev.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let plain = yingji_in(&d, &["replay", "old", "--events", "ev.jsonl"]);
    let packed = yingji_in(&d, &["replay", "old", "--events", "ev.jsonl.gz"]);
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    assert!(!plain.stdout.is_empty());
    assert_eq!(plain.stdout, packed.stdout);
    std::fs::write(d.join("bad.jsonl"), b"{\"a\":1}\n\xff\xfe\n").unwrap();
    let o = yingji_in(&d, &["replay", "old", "--events", "bad.jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "yingji: bad.jsonl:2: not UTF-8 (the events must be UTF-8 text)\n"
    );
}
