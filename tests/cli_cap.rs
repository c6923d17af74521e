//! `yingji run --format cap --out-dir DIR`: the sample storm's warnings as
//! CAP 1.2 / GB/T 35965.1 alert files, each valid against the OASIS schema
//! (xmllint) and the rules it does not check; the flags' usage errors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

#[path = "../serve/tests/cap_common/mod.rs"]
mod cap_common;

use std::process::Command;

fn yingji() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yingji"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

#[test]
fn the_sample_storm_as_cap_files() {
    let dir = cap_common::tempdir().join("out");
    let out = yingji()
        .args([
            "run",
            "policies",
            "plans",
            "--events",
            "samples/rain.jsonl",
            "--format",
            "cap",
            "--out-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(listed.len(), files.len());
    // one per level change of the run (its JSON outputs say how many)
    let json = yingji()
        .args(["run", "policies", "plans", "--events", "samples/rain.jsonl"])
        .output()
        .unwrap();
    let changes = String::from_utf8(json.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"type\":\"level_changed\""))
        .count();
    assert_eq!(files.len(), changes);
    let docs: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    cap_common::xmllint(&docs).unwrap();
    for (f, d) in files.iter().zip(&docs) {
        assert_eq!(
            yingji_serve::cap::rules::check(d),
            Vec::<String>::new(),
            "{}",
            f.display()
        );
        let id = yingji_serve::cap::rules::texts(d, "identifier")[0];
        assert_eq!(
            f.file_name().unwrap().to_string_lossy(),
            format!("{id}.xml")
        );
    }
    assert!(docs.iter().any(|d| d.contains("<msgType>Alert</msgType>")));
    assert!(docs.iter().any(|d| d.contains("<msgType>Update</msgType>")));
    assert!(docs.iter().any(|d| d.contains("<msgType>Cancel</msgType>")));
    assert!(docs.iter().any(
        |d| d.contains("<areaDesc>江口镇</areaDesc>") && d.contains("<value>500235131</value>")
    ));
}

#[test]
fn cap_flags_are_checked() {
    let run = |extra: &[&str]| {
        let out = yingji()
            .args(["run", "policies", "--events", "samples/rain.jsonl"])
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&["--format", "cap"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--format cap needs --out-dir DIR"), "{err}");
    let (code, err) = run(&["--out-dir", "x"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("--out-dir and --cap-config go with --format cap"),
        "{err}"
    );
    let dir = cap_common::tempdir();
    let bad = dir.join("cap.yaml");
    std::fs::write(&bad, "cap:\n  sender: a@b\n  identifier: { area: \"5002\", organisation: \"001\", unit: \"000\", extension: \"00\" }\n").unwrap();
    let (code, err) = run(&[
        "--format",
        "cap",
        "--out-dir",
        dir.join("o").to_str().unwrap(),
        "--cap-config",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("cap.yaml:3:") && err.contains("identifier area `5002` must be 6 digits"),
        "{err}"
    );
    let (code, err) = run(&["--format", "cap", "--out-dir", "x", "--state", "s.json"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("does not go with --state"), "{err}");
}
