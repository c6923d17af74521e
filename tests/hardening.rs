//! Issue #15 "Hardening": each *why* reproduced with the clear error or the
//! documented behaviour that replaced it (the loader and symbolic links, the
//! line-length cap, window lengths, input values, assessment records).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use yingji::Definitions;

fn yingji(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run yingji")
}

/// A fresh folder for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("yingji-hard-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const RAIN: &str = "event rain { station: string, mm: number }\n\
    signal 暴雨 { from rain key station let r3 = sum(mm, 3h) level red when r3 >= 100 }\n";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ------------------------------------------------------------ symbolic links

#[test]
fn two_links_to_the_folder_itself_end_and_load_the_file_once() {
    // before: two `-> .` links made `check` walk ~2^40 paths
    let d = dir("loops");
    std::fs::write(d.join("rain.yj"), RAIN).unwrap();
    symlink(".", d.join("a")).unwrap();
    symlink(".", d.join("b")).unwrap();
    symlink("..", d.join("up")).unwrap(); // outside: refused, not walked
    let started = std::time::Instant::now();
    let err = Definitions::from_paths(&[&d]).unwrap_err();
    assert!(started.elapsed().as_secs() < 5);
    // only the link to the parent is a problem; the loops are silently cut
    let msgs: Vec<String> = err.diagnostics.iter().map(|d| d.message.clone()).collect();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(
        msgs[0].contains("outside the given files and folders"),
        "{msgs:?}"
    );
    std::fs::remove_file(d.join("up")).unwrap();
    let defs = Definitions::from_paths(&[&d]).unwrap();
    assert_eq!(defs.files(), 1);
    let o = yingji(&["check", s(&d)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn a_file_reached_by_several_paths_loads_once() {
    // before: one link loaded every file under 40 paths (80 "declared twice" errors)
    let d = dir("twice");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/rain.yj"), RAIN).unwrap();
    symlink("sub", d.join("link")).unwrap();
    symlink("sub/rain.yj", d.join("same.yj")).unwrap();
    let defs = Definitions::from_paths(&[d.clone(), d.join("sub"), d.join("sub/rain.yj")])
        .unwrap_or_else(|e| panic!("{}", e.rendered));
    assert_eq!(defs.files(), 1);
    assert_eq!(defs.unstable_program().signals.len(), 1);
}

#[test]
fn an_import_linked_outside_the_roots_is_not_read_nor_echoed() {
    // before: a `.rhai` import linked to /etc/passwd was read and its first line echoed
    let d = dir("import");
    let outside = dir("import-outside");
    std::fs::write(outside.join("secret"), "TOP-SECRET first line { not rhai\n").unwrap();
    std::fs::write(
        d.join("p.yj"),
        "event rain { station: string, mm: number }\n\
         import \"evil.rhai\" { fn f(x: number) -> number }\n\
         signal 暴雨 { from rain key station let y = f(mm) level red when y >= 100 }\n",
    )
    .unwrap();
    symlink(outside.join("secret"), d.join("evil.rhai")).unwrap();
    for args in [
        vec!["check", s(&d)],
        vec!["check", s(&d), "--format", "json"],
    ] {
        let o = yingji(&args);
        assert_eq!(o.status.code(), Some(1));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!all.contains("TOP-SECRET"), "{all}");
        assert!(
            all.contains("outside the given files and folders: not read"),
            "{all}"
        );
        assert!(all.contains("--allow-outside-roots"), "{all}");
    }
    // /etc/passwd itself, as in the issue
    if Path::new("/etc/passwd").exists() {
        std::fs::remove_file(d.join("evil.rhai")).unwrap();
        symlink("/etc/passwd", d.join("evil.rhai")).unwrap();
        let o = yingji(&["check", s(&d)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("root:"), "{err}");
        assert!(err.contains("resolves to `/etc/passwd`"), "{err}");
    }
    // asked for: read (and then it is a rhai syntax error like any other)
    std::fs::remove_file(d.join("evil.rhai")).unwrap();
    symlink(outside.join("secret"), d.join("evil.rhai")).unwrap();
    let o = yingji(&["check", s(&d), "--allow-outside-roots"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("outside the given"), "{err}");
}

#[test]
fn a_folder_member_linked_outside_the_roots_is_refused_unless_allowed() {
    let d = dir("member");
    let outside = dir("member-outside");
    std::fs::write(outside.join("rain.yj"), RAIN).unwrap();
    symlink(outside.join("rain.yj"), d.join("rain.yj")).unwrap();
    let o = yingji(&["check", s(&d)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rain.yj` resolves to"), "{err}");
    let o = yingji(&["check", s(&d), "--allow-outside-roots"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // a file given by name is a root itself: always read
    let o = yingji(&["check", s(&d.join("rain.yj"))]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // and `run` takes the flag too
    let ev = d.join("ev.jsonl");
    std::fs::write(&ev, "").unwrap();
    let o = yingji(&["run", s(&d), "--events", s(&ev), "--allow-outside-roots"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

// ------------------------------------------------------------ --max-line

#[test]
fn a_line_past_max_line_is_rejected_with_its_number_and_reading_goes_on() {
    // before: a 200 MB line with no newline held 418 MB
    let d = dir("maxline");
    let good = |m: u32| {
        format!(
            "{{\"ts\":\"2024-07-29T03:{m:02}:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":60}}\n"
        )
    };
    let mut text = good(1);
    text.push_str("{\"ts\":\"");
    text.push_str(&"9".repeat(3 << 20));
    text.push('\n');
    text.push_str(&good(2));
    let ev = d.join("ev.jsonl");
    std::fs::write(&ev, &text).unwrap();
    let rej = d.join("rej.jsonl");
    let o = yingji(&[
        "run",
        s(&d.join("none.yj")),
        "--events",
        s(&ev),
        "--rejects",
        s(&rej),
    ]);
    // the definitions file does not exist: exit 1 before reading; use a real one
    assert_eq!(o.status.code(), Some(1));
    std::fs::write(d.join("rain.yj"), RAIN).unwrap();
    let o = yingji(&[
        "run",
        s(&d.join("rain.yj")),
        "--events",
        s(&ev),
        "--rejects",
        s(&rej),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(":2: rejected: line longer than --max-line (1048576 bytes)"),
        "{err}"
    );
    assert!(err.contains("accepted: 2, rejected: 1"), "{err}");
    assert_eq!(std::fs::metadata(&rej).unwrap().len(), (1 << 20) + 1);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("\"to\":\"red\""), "{out}");
    // a larger cap accepts the line (and then it is bad JSON, rejected for that)
    let o = yingji(&[
        "run",
        s(&d.join("rain.yj")),
        "--events",
        s(&ev),
        "--max-line",
        "4MiB",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("--max-line"), "{err}");
    assert!(err.contains("rejected: 1"), "{err}");
    let o = yingji(&[
        "run",
        s(&d.join("rain.yj")),
        "--events",
        s(&ev),
        "--max-line",
        "lots",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

// ------------------------------------------------------------ window lengths

#[test]
fn a_window_longer_than_the_maximum_is_refused_at_load() {
    // before: `sum(mm, 99999999999999999999d)` was accepted
    for (len, shown) in [
        (
            "99999999999999999999d",
            "error[E0002]: `99999999999999999999d` is too long a duration",
        ),
        (
            "367d",
            "error[E0002]: a window of 367d is longer than the maximum of 366d",
        ),
    ] {
        let text = format!(
            "event rain {{ station: string, mm: number }}\n\
             signal s {{ from rain key station let r = sum(mm, {len}) level red when r >= 1 }}\n"
        );
        let err = Definitions::from_str("w.yj", &text).unwrap_err();
        assert!(err.rendered.contains(shown), "{}", err.rendered);
        // at the duration itself
        assert!(err.rendered.contains(" --> w.yj:2:50"), "{}", err.rendered);
        assert!(err.rendered.contains(" --> w.yj:2:"), "{}", err.rendered);
    }
    let ok = "event rain { station: string, mm: number }\n\
              signal s { from rain key station let r = sum(mm, 366d) level red when r >= 1 }\n";
    Definitions::from_str("w.yj", ok).unwrap_or_else(|e| panic!("{}", e.rendered));
    assert_eq!(
        yingji::unstable::engine::ir::MAX_WINDOW_MS,
        366 * 86_400_000
    );
}

// ------------------------------------------------------------ input values

const PPM: &str = "event gas { site: string, ppm: number }\n\
    signal 泄漏 { from gas key site let total = sum(ppm, 1h) level red when ppm > 0 level blue when total > 0 }\n";

fn gas(ppm: &str, minute: u32) -> String {
    format!(r#"{{"ts":"2024-07-29T03:{minute:02}:00+08:00","kind":"gas","site":"S","ppm":{ppm}}}"#)
}

#[test]
fn a_reading_no_window_can_hold_is_rejected_with_a_reason() {
    // before: a reading >= 9.2e12 was counted accepted but never entered the window
    let d = Definitions::from_str("g.yj", PPM).unwrap_or_else(|e| panic!("{}", e.rendered));
    let mut e = d.engine().unwrap();
    let mut out = Vec::new();
    let err = e.push_line(&gas("9.2e12", 1), 1, &mut out).unwrap_err();
    assert_eq!(
        err.to_string(),
        "field `ppm`: 9.2e12 is out of range: numbers must be within ±9e12 (windows keep six decimals exactly)"
    );
    let err = e.push_line(&gas("-1e300", 2), 2, &mut out).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
    // nothing was applied: the engine is as fresh as before
    let fresh = d.engine().unwrap().snapshot();
    let a: serde_json::Value = serde_json::from_slice(&e.snapshot()).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&fresh).unwrap();
    assert_eq!(a["signals"], b["signals"]);
    // the largest admitted value enters the window exactly
    e.push_line(&gas("9e12", 3), 3, &mut out).unwrap();
    e.flush(&mut out);
    let changed: Vec<String> = out.iter().map(|o| o.to_json()).collect();
    assert!(
        changed
            .iter()
            .any(|o| o.contains("\"total\":9000000000000")),
        "{changed:?}"
    );
}

#[test]
fn rules_and_windows_see_the_same_rounded_value() {
    // before: 3e-7 was 0 in windows while the raw value still fired `ppm > 0`
    let d = Definitions::from_str("g.yj", PPM).unwrap_or_else(|e| panic!("{}", e.rendered));
    let mut e = d.engine().unwrap();
    let mut out = Vec::new();
    e.push_line(&gas("3e-7", 1), 1, &mut out).unwrap();
    e.flush(&mut out);
    assert!(
        out.is_empty(),
        "3e-7 is 0 for the rule and the window alike: {out:?}"
    );
    // 6e-7 rounds to 0.000001 for both: the rule fires and the window agrees
    e.push_line(&gas("6e-7", 2), 2, &mut out).unwrap();
    e.flush(&mut out);
    let json: Vec<String> = out.iter().map(|o| o.to_json()).collect();
    assert_eq!(json.len(), 1, "{json:?}");
    assert!(
        json[0].contains("\"to\":\"red\"") && json[0].contains("\"total\":1e-6"),
        "{json:?}"
    );
}

// ------------------------------------------------------------ assess --records

#[test]
fn a_bad_byte_in_the_records_rejects_that_line_only() {
    // before: one bad byte aborted the whole run with no line number
    let d = dir("assess");
    let good = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/records.jsonl"
    ))
    .unwrap();
    let lines: Vec<&[u8]> = good
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert!(lines.len() > 3);
    let mut bad = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if i == 2 {
            bad.extend_from_slice(b"{\"kind\":\"accident\",\"unit\":\"\xff\"}\n");
        }
        bad.extend_from_slice(l);
        bad.push(b'\n');
    }
    let records = d.join("records.jsonl");
    std::fs::write(&records, &bad).unwrap();
    let clean = yingji(&[
        "assess",
        "policies",
        "--records",
        "samples/records.jsonl",
        "--format",
        "json",
    ]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let o = yingji(&[
        "assess",
        "policies",
        "--records",
        s(&records),
        "--format",
        "json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "refused lines make the exit code 1"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}:3: rejected: not UTF-8: invalid utf-8 sequence",
            s(&records)
        )),
        "{err}"
    );
    assert!(err.contains("rejected: 1;"), "{err}");
    // every other line was read: the same results as the clean file
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(a["assessments"], b["assessments"]);
}

// ------------------------------------------------------------ named resets

#[test]
fn run_names_every_signal_the_state_file_does_not_restore() {
    let d = dir("resets");
    std::fs::write(d.join("a.yj"), RAIN).unwrap();
    let ev = d.join("ev.jsonl");
    std::fs::write(
        &ev,
        "{\"ts\":\"2024-07-29T03:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":1}\n",
    )
    .unwrap();
    let state = d.join("s.state");
    let o = yingji(&[
        "run",
        s(&d.join("a.yj")),
        "--events",
        s(&ev),
        "--state",
        s(&state),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // a second signal the state file does not know
    std::fs::write(
        d.join("a.yj"),
        format!("{RAIN}signal 小雨 {{ from rain key station level blue when mm >= 1 }}\n"),
    )
    .unwrap();
    let o = yingji(&[
        "run",
        s(&d.join("a.yj")),
        "--events",
        s(&ev),
        "--state",
        s(&state),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("(1 signal(s) kept, 1 reset)"), "{err}");
    assert!(
        err.contains("state reset (definition changed, or not in the state file) for: 小雨"),
        "{err}"
    );
}
