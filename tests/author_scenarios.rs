//! `yingji test`: the bundled policies' and plans' scenario files
//! (`policies/*.test.yaml`, `plans/*.test.yaml`) pass, and broken scenario
//! files are refused with the place and the problem.

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

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("yingji-author-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const POLICY: &str = "event rain { station: string, mm: number }\n\
signal 暴雨 {\n  from rain\n  key station\n  let r3 = sum(mm, 3h)\n  level red when r3 >= 100\n  level orange when r3 >= 50\n}\n";

/// A folder with a policy and one scenario file.
fn case(name: &str, scenario: &str) -> PathBuf {
    let d = dir(name);
    std::fs::write(d.join("rain.yj"), POLICY).unwrap();
    std::fs::write(d.join("rain.test.yaml"), scenario).unwrap();
    d
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn the_bundled_scenarios_pass() {
    let junit = dir("bundled").join("junit.xml");
    let o = yingji(&[
        "test",
        "policies",
        "plans",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("yingji test: "))
        .unwrap_or_else(|| panic!("no summary: {out}"));
    // every bundled file with scenarios is found and none is skipped
    let files: usize = summary["yingji test: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(files >= 5, "{summary}");
    assert!(summary.contains(" 0 failed, 0 could not run"), "{summary}");
    let passed: usize = summary
        .split("; ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(passed >= 19, "{summary}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"yingji test\" tests=\""
    ));
    assert!(xml.contains("failures=\"0\" errors=\"0\">"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), passed, "{xml}");
    assert!(
        xml.contains("<testsuite name=\"plans/flood.test.yaml\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase name=\"a timely ack stops the chain (yellow in 南溪镇, the county lead answers in 3 min)\" classname=\"plans/flood.test.yaml\" file=\"plans/flood.test.yaml\" line=\"6\" time=\""),
        "{xml}"
    );
}

#[test]
fn folder_loads_skip_scenario_files() {
    // `run` and `check` of the folders do not read the scenario files as definitions
    let o = yingji(&["check", "policies", "plans"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_failing_scenario_shows_the_first_difference_and_exits_1() {
    let d = case(
        "fail",
        r#"scenarios:
  - name: orange then red
    events: |
      {"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":60}
      {"ts":"2024-07-29T02:00:00+08:00","kind":"rain","station":"A","mm":30}
    expect:
      - {type: level_changed, key: A, to: orange}
      - {type: level_changed, key: A, to: red}
  - name: in order
    events: |
      {"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":60}
    match: in_order
    expect:
      - {type: level_changed, key: B}
"#,
    );
    let junit = d.join("j.xml");
    let o = yingji(&[
        "test",
        d.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).replace(d.to_str().unwrap(), "D");
    let want = r#"FAIL  D/rain.test.yaml:2:5  orange then red
  first difference at output 2: expected 2 output(s), got 1; missing:
    expected: {"key":"A","to":"red","type":"level_changed"}
FAIL  D/rain.test.yaml:9:5  in order
  expectation 1 not found after output 0 (of 1):
    expected: {"key":"B","type":"level_changed"}
    nearest:  {"type":"level_changed","id":1,"ts":"2024-07-29T01:00:00+08:00","signal":"暴雨","key":"A","from":"none","to":"orange","rule":"orange when r3 >= 50","rule_at":"rain.yj:7:3","values":{"r3":60},"event":1,"reason":"raise","since":"2024-07-29T01:00:00+08:00"}
      `key`: expected "B", got "A"
    >   1 {"type":"level_changed","id":1,"ts":"2024-07-29T01:00:00+08:00","signal":"暴雨","key":"A","from":"none","to":"orange","rule":"orange when r3 >= 50","rule_at":"rain.yj:7:3","values":{"r3":60},"event":1,"reason":"raise","since":"2024-07-29T01:00:00+08:00"}
yingji test: 1 file(s); 0 passed, 2 failed, 0 could not run
"#;
    assert_eq!(out, want);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("tests=\"2\" failures=\"2\" errors=\"0\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"outputs differ from the expectations\">"),
        "{xml}"
    );
}

#[test]
fn an_exact_line_differs_field_by_field() {
    let d = case(
        "exact",
        r#"scenarios:
  - name: exact
    events: |
      {"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":60}
    expect:
      - '{"type":"level_changed","ts":"2024-07-29T01:00:00+08:00","signal":"暴雨","key":"A","from":"none","to":"red","rule":"orange when r3 >= 50","rule_at":"rain.yj:7:3","values":{"r3":60.0},"event":1,"reason":"raise","since":"2024-07-29T01:00:00+08:00"}'
    absent: [late]
"#,
    );
    let o = yingji(&["test", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // numbers compare by value (60.0 = 60), an exact line without `id` matches any id
    assert!(
        out.contains("      `to`: expected \"red\", got \"orange\"\n    > "),
        "{out}"
    );
    assert_eq!(
        out.matches("\n      `").count(),
        1,
        "one difference only: {out}"
    );
    // fixed, it passes
    let fixed = std::fs::read_to_string(d.join("rain.test.yaml"))
        .unwrap()
        .replace("\"to\":\"red\"", "\"to\":\"orange\"");
    std::fs::write(d.join("rain.test.yaml"), fixed).unwrap();
    let o = yingji(&["test", d.join("rain.test.yaml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_bad_event_line_is_refused_with_its_place() {
    let d = case(
        "badline",
        r#"scenarios:
  - name: bad line
    events: |
      {"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":60}
      {"ts":"2024-07-29T01:10:00+08:00","kind":"rain","station":"A","mm":"heavy"}
    expect: []
"#,
    );
    let o = yingji(&["test", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).replace(d.to_str().unwrap(), "D");
    assert!(
        out.contains("ERROR D/rain.test.yaml:2:5  bad line\n  D/rain.test.yaml:5: event line refused (input line 2): field `mm` of a `rain` event must be a number, got the string \"heavy\""),
        "{out}"
    );
    assert!(out.contains("0 passed, 0 failed, 1 could not run"), "{out}");
    // a refusal the scenario expects passes; another one fails with both listed
    let expected = std::fs::read_to_string(d.join("rain.test.yaml")).unwrap();
    let with = |rejected: &str| {
        expected.replace(
            "    expect: []\n",
            &format!("    match: in_order\n    expect: []\n    rejected: {rejected}\n"),
        )
    };
    std::fs::write(
        d.join("rain.test.yaml"),
        with("[{line: 2, reason: must be a number}]"),
    )
    .unwrap();
    let o = yingji(&["test", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(d.join("rain.test.yaml"), with("[{line: 1}]")).unwrap();
    let o = yingji(&["test", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).replace(d.to_str().unwrap(), "D");
    assert!(
        out.contains("FAIL  D/rain.test.yaml:2:5  bad line\n  the refused lines differ from `rejected`:\n    expected: line 1\n    refused:  line 2 (D/rain.test.yaml:5): field `mm`"),
        "{out}"
    );
}

#[test]
fn an_unknown_field_in_an_expectation_is_refused() {
    let d = case(
        "unknown",
        r#"scenarios:
  - name: typo
    events: |
      {"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":60}
    expect:
      - {type: level_changed, levle: orange}
"#,
    );
    let o = yingji(&["test", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).replace(d.to_str().unwrap(), "D");
    assert!(
        out.contains("  D/rain.test.yaml:6:9: unknown field `levle` in the expectation: not a field of a `level_changed` output (fields: "),
        "{out}"
    );
    // an unknown output type and an unknown key of the scenario itself
    std::fs::write(
        d.join("rain.test.yaml"),
        "scenarios:\n  - name: t\n    absent: [level_change]\n  - name: u\n    expct: []\n",
    )
    .unwrap();
    let o = yingji(&["test", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).replace(d.to_str().unwrap(), "D");
    assert!(
        out.contains("ERROR D/rain.test.yaml: not a valid scenario file") && out.contains("expct"),
        "{out}"
    );
}

#[test]
fn a_missing_definitions_path_is_refused() {
    let d = case(
        "missing",
        r#"definitions: [no_such.yj]
scenarios:
  - name: nothing to run
    events: |
      {"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","mm":60}
"#,
    );
    let o = yingji(&["test", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).replace(d.to_str().unwrap(), "D");
    assert!(
        out.contains("ERROR D/rain.test.yaml:3:5  nothing to run\n  D/rain.test.yaml:3:5: definitions `D/no_such.yj`: no such file or folder"),
        "{out}"
    );
}

#[test]
fn no_scenario_found_is_an_error() {
    let d = dir("none");
    std::fs::write(d.join("rain.yj"), POLICY).unwrap();
    let o = yingji(&["test", d.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no scenario files (`*.test.yaml`) under"),
        "{}",
        text(&o)
    );
    let o = yingji(&["test", d.join("rain.yj").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("rain.yj: not a scenario file (scenario files are named `*.test.yaml`)"),
        "{}",
        text(&o)
    );
    let o = yingji(&["test", "no/such/dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no/such/dir: no such file or folder"),
        "{}",
        text(&o)
    );
}
