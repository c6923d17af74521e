//! The 应急处置流程图: DOT and Mermaid exports of the shipped plans, compared
//! with the snapshots in `tests/snapshots/plans/` (regenerate with
//! `UPDATE_SNAPSHOTS=1`), and rendered with Graphviz where `dot` is installed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{load, shipped};
use std::io::Write as _;
use std::process::{Command, Stdio};
use yingji::unstable::engine::workflow::export::{Format, export};

fn snapshot(name: &str, got: &str) {
    let path = format!(
        "{}/tests/snapshots/plans/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(format!(
            "{}/tests/snapshots/plans",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {path}; run with UPDATE_SNAPSHOTS=1"));
    assert_eq!(
        got, want,
        "snapshot {name} differs; run with UPDATE_SNAPSHOTS=1 to accept"
    );
}

fn exports(format: Format) -> Vec<(String, String)> {
    let (_, loaded) = load(&shipped());
    assert!(!loaded.has_errors());
    loaded
        .set
        .plans
        .iter()
        .map(|p| (p.name.clone(), export(&loaded.set, p, format)))
        .collect()
}

#[test]
fn dot_snapshots() {
    for (name, dot) in exports(Format::Dot) {
        snapshot(&format!("{name}.dot"), &dot);
    }
}

#[test]
fn mermaid_snapshots() {
    for (name, mm) in exports(Format::Mermaid) {
        snapshot(&format!("{name}.mmd"), &mm);
    }
}

#[test]
fn dot_shapes_dashes_and_chinese_labels() {
    let all = exports(Format::Dot);
    let (_, dot) = all.iter().find(|(n, _)| n == "县防汛应急预案").unwrap();
    for needle in [
        "shape=diamond",
        "shape=doublecircle",
        "shape=doubleoctagon",
        "shape=box3d",
        "shape=parallelogram",
        "shape=invhouse",
        "label=\"超时 5m\"",
        "style=dashed",
        "县防汛负责人",
        "断路、禁行、停工停课",
        "启动 Ⅲ级响应",
    ] {
        assert!(dot.contains(needle), "missing {needle}:\n{dot}");
    }
    // every timeout edge is dashed
    for line in dot.lines().filter(|l| l.contains("超时")) {
        assert!(line.contains("style=dashed"), "{line}");
    }
}

#[test]
fn dot_renders_with_graphviz() {
    let Ok(probe) = Command::new("dot").arg("-V").output() else {
        eprintln!("`dot` is not installed: render check skipped");
        return;
    };
    assert!(probe.status.success());
    for (name, dot) in exports(Format::Dot) {
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dot.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let svg = String::from_utf8_lossy(&out.stdout);
        assert!(svg.contains("<svg"), "{name}");
        assert!(
            svg.contains(&name),
            "{name}: the Chinese title survives rendering"
        );
    }
}
