//! The `yingji` binary as operators use it: exit codes, outputs, rejects, summary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn yingji(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run yingji")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yingji-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn check_accepts_the_bundled_policies() {
    let o = yingji(&["check", "policies"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn check_rejects_a_broken_policy_with_its_location() {
    let bad = tmp("broken.yj");
    std::fs::write(&bad, "event rain { station: string, mm: number }\nsignal s {\n  from rain\n  key stationn\n  level red when mm >= 1\n}\n").unwrap();
    let o = yingji(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.yj:4:7") && err.contains("did you mean `station`?"),
        "{err}"
    );
    let o = yingji(&["check", "--format", "json", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j[0]["line"], 4);
    assert_eq!(j[0]["code"], "E0101");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(yingji(&["check"]).status.code(), Some(2));
    assert_eq!(yingji(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(yingji(&["run", "policies"]).status.code(), Some(2));
}

#[test]
fn missing_path_is_an_error_not_a_panic() {
    let o = yingji(&["check", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such file or folder"));
}

#[test]
fn run_writes_outputs_rejects_and_a_summary() {
    let events = tmp("events.jsonl");
    let good1 =
        r#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","town":"江口镇","mm":60}"#;
    let lines = [
        good1,
        "this is not json",
        r#"{"kind":"rain","station":"A","town":"江口镇","mm":1}"#,
        r#"{"ts":"2024-07-29T01:10:00+08:00","station":"A","town":"江口镇","mm":1}"#,
        r#"{"ts":"2024-07-29 01:10","kind":"rain","station":"A","town":"江口镇","mm":1}"#,
        r#"{"ts":"2024-07-29T01:10:00","kind":"rain","station":"A","town":"江口镇","mm":1}"#,
        r#"{"ts":"2024-07-29T01:10:00+08:00","kind":"rain","station":"A","town":"江口镇","mm":"heavy"}"#,
        r#"{"ts":"2024-07-29T01:10:00+08:00","kind":"rain","station":"A","town":"江口镇"}"#,
        r#"{"ts":"2024-07-29T00:10:00+08:00","kind":"rain","station":"A","town":"江口镇","mm":1}"#,
        r#"{"ts":"2024-07-29T01:20:00+08:00","kind":"wind","station":"A","speed":30}"#,
        r#"{"ts":"2024-07-29T05:00:00+08:00","kind":"rain","station":"A","town":"江口镇","mm":0}"#,
    ];
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();
    let out = tmp("out.jsonl");
    let rejects = tmp("rejects.jsonl");
    let o = yingji(&[
        "run",
        "policies/rainstorm.yj",
        "--events",
        events.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("events read: 11, accepted: 4, rejected: 7, ignored (no definition uses their kind): 1, late: 1, duplicates: 0, outputs: 3"),
        "{err}"
    );
    for (line, why) in [
        (2, "not a JSON object"),
        (3, "missing `ts`"),
        (4, "missing `kind`"),
        (5, "not an RFC 3339 timestamp"),
        (6, "has no UTC offset"),
        (
            7,
            "field `mm` of a `rain` event must be a number, got the string \"heavy\"",
        ),
        (8, "a `rain` event needs field `mm`"),
    ] {
        assert!(
            err.contains(&format!("events.jsonl:{line}: rejected: ")),
            "line {line}: {err}"
        );
        let msg = err
            .lines()
            .find(|l| l.contains(&format!("events.jsonl:{line}:")))
            .unwrap();
        assert!(msg.contains(why), "line {line}: expected {why:?} in {msg}");
    }
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(
        rejected.lines().collect::<Vec<_>>(),
        lines[1..8].to_vec(),
        "rejects are written as-is"
    );
    let outputs = std::fs::read_to_string(&out).unwrap();
    let outs: Vec<serde_json::Value> = outputs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outs.len(), 3);
    // line 9 is 50 minutes behind the latest time: beyond the 5-minute lateness
    assert_eq!(
        (outs[0]["type"].as_str(), outs[0]["event"].as_u64()),
        (Some("late"), Some(9))
    );
    assert_eq!(
        (outs[1]["to"].as_str(), outs[1]["event"].as_u64()),
        (Some("orange"), Some(1))
    );
    assert_eq!(
        (outs[2]["from"].as_str(), outs[2]["event"].as_u64()),
        (Some("orange"), Some(11))
    );
}

#[test]
fn run_reads_standard_input() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(["run", "policies/rainstorm.yj", "--events", "-"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","town":"x","mm":120}"#)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(r#""to":"red""#), "{out}");
}

#[test]
fn state_file_split_run_matches_one_run_byte_for_byte() {
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
            .unwrap();
    let lines: Vec<&str> = sample.lines().collect();
    let (a, b) = lines.split_at(1234);
    let first = tmp("first.jsonl");
    let second = tmp("second.jsonl");
    std::fs::write(&first, a.join("\n") + "\n").unwrap();
    std::fs::write(&second, b.join("\n") + "\n").unwrap();
    let state = tmp("split.state");
    let _ = std::fs::remove_file(&state);
    let whole = yingji(&["run", "policies", "--events", "samples/rain.jsonl"]);
    assert_eq!(whole.status.code(), Some(0));
    let o1 = yingji(&[
        "run",
        "policies",
        "--events",
        first.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(
        String::from_utf8_lossy(&o1.stderr).contains("no state file"),
        "{}",
        String::from_utf8_lossy(&o1.stderr)
    );
    let o2 = yingji(&[
        "run",
        "policies",
        "--events",
        second.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--final",
    ]);
    assert!(String::from_utf8_lossy(&o2.stderr).contains("restored state"));
    let mut split = o1.stdout.clone();
    split.extend_from_slice(&o2.stdout);
    assert!(!whole.stdout.is_empty());
    // line numbers restart in the second file: compare all but `event`
    let strip = |bytes: &[u8]| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("event");
                v
            })
            .collect()
    };
    assert_eq!(strip(&whole.stdout), strip(&split));
}

#[test]
fn a_damaged_state_file_is_refused_unless_starting_fresh() {
    let state = tmp("bad.state");
    std::fs::write(&state, b"{\"format\":\"yingji-state\",\"version\":7}").unwrap();
    let o = yingji(&[
        "run",
        "policies",
        "--events",
        "samples/rain.jsonl",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("version 7") && err.contains("refusing"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "nothing runs on a refused state");
    let o = yingji(&[
        "run",
        "policies",
        "--events",
        "samples/rain.jsonl",
        "--state",
        state.to_str().unwrap(),
        "--fresh-state",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("starting fresh as asked"));
    let saved = std::fs::read(&state).unwrap();
    let current = format!(
        "{{\"format\":\"yingji-state\",\"version\":{},",
        yingji::unstable::engine::state::VERSION
    );
    assert!(
        saved.starts_with(current.as_bytes()),
        "saved atomically in the current format"
    );
}

#[test]
fn a_read_error_fails_the_run_and_names_the_input() {
    // a directory opens but cannot be read: before, the run ended quietly as if the input were empty
    let o = yingji(&["run", "policies", "--events", "samples"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("samples: read error after line 0: Is a directory"),
        "{err}"
    );
}

#[test]
fn an_idle_ttl_shorter_than_a_signal_needs_is_refused_at_start() {
    let o = yingji(&[
        "run",
        "policies",
        "--events",
        "samples/rain.jsonl",
        "--idle-ttl",
        "10m",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the idle expiry (idle-ttl 10m) is shorter than its missing (30m)")
            || err.contains("the idle expiry (idle-ttl 10m) is shorter than its longest window"),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "nothing runs");
}

#[test]
fn a_line_from_the_future_is_refused_as_clock_suspect() {
    let events = tmp("future.jsonl");
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
            .unwrap();
    // the first line is dated 9999: without the wall clock it would become everyone's clock
    let mut text = String::from(
        r#"{"ts":"9999-01-01T00:00:00+08:00","kind":"rain","station":"YY-001","town":"青龙街道","mm":1}"#,
    );
    text.push('\n');
    text.push_str(&sample);
    std::fs::write(&events, text).unwrap();
    let with = yingji(&["run", "policies", "--events", events.to_str().unwrap()]);
    let without = yingji(&["run", "policies", "--events", "samples/rain.jsonl"]);
    assert_eq!(with.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&with.stderr)
            .contains("1: rejected: clock_suspect: YY-001 sent 9999-01-01T00:00:00+08:00"),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    // every other output is unchanged (only the input positions move by the extra line)
    let shift = |o: &Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                if let Some(e) = v.get_mut("event").and_then(|e| e.as_u64()) {
                    v["event"] = serde_json::json!(e - 1);
                }
                v.to_string()
            })
            .collect()
    };
    let plain: Vec<String> = String::from_utf8_lossy(&without.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(shift(&with), plain);
}
