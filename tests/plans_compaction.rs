//! Closed plan instances are compacted (issue #6): the runtime holds only open
//! instances, and every output stays exactly what it was when it kept every
//! instance ever started — late acks for closed instances (with and without a
//! reference) included, across snapshots taken before and after compaction.
//!
//! `tests/plans_compaction/` holds a small 叫应 set (the `chains` bench
//! generator's definitions for 4 villages), a stream written to reach every
//! kind of ack a closed instance can receive, `expected.jsonl` (the outputs
//! of the build before compaction, `yingji run --lateness 0s`) and
//! `layout0/cut_K.json` (that build's state files after the first K lines).
//! No test here measures time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use yingji::unstable::engine::Config;
use yingji::{Definitions, Engine};
use yingji_bench::chains::chains;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/plans_compaction");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

/// The definitions, named as `yingji run` in that folder named them (outputs
/// carry where a rule is written).
fn defs() -> Definitions {
    let files = ["chains.yj", "plan.yaml", "roster.yaml"];
    let loader = yingji::unstable::dsl::load::MemLoader(
        files.iter().map(|f| (f.to_string(), read(f))).collect(),
    );
    Definitions::load(&loader).unwrap()
}

/// What `yingji run --lateness 0s` runs.
fn engine(defs: &Definitions) -> Engine {
    defs.engine_with(Config {
        lateness_ms: 0,
        ..Config::default()
    })
    .unwrap()
}

fn lines() -> Vec<String> {
    read("events.jsonl").lines().map(str::to_string).collect()
}

/// Pushes `lines[from..]` (numbered from 1 as `yingji run` numbers them),
/// checking after every line that only open instances are held.
fn push_from(engine: &mut Engine, lines: &[String], from: usize, out: &mut Vec<String>) {
    let mut buf = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(from) {
        engine.push_line(line, i as u64 + 1, &mut buf).unwrap();
        let wf = engine.workflow().unwrap();
        assert_eq!(
            wf.held_instances(),
            wf.open_instances(),
            "after line {}: a closed instance is still held",
            i + 1
        );
        out.extend(buf.drain(..).map(|o| o.to_json()));
    }
}

/// An output line without its `"id"` member.
fn without_id(line: &str) -> String {
    let Some(at) = line.find(r#","id":"#) else {
        return line.to_string();
    };
    let rest = &line[at + 6..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    format!("{}{}", &line[..at], &rest[end..])
}

fn whole_run(defs: &Definitions) -> Vec<String> {
    let lines = lines();
    let mut e = engine(defs);
    let mut out = Vec::new();
    push_from(&mut e, &lines, 0, &mut out);
    let mut buf = Vec::new();
    e.flush(&mut buf);
    out.extend(buf.iter().map(|o| o.to_json()));
    out
}

#[test]
fn outputs_of_the_build_that_kept_every_instance_are_reproduced_exactly() {
    let got = whole_run(&defs());
    let expected: Vec<String> = read("expected.jsonl").lines().map(str::to_string).collect();
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        // that build did not number its outputs
        assert_eq!(&without_id(g), e, "output {} differs", i + 1);
    }
    // the stream reaches every rejection a closed instance can cause
    let rejected: Vec<serde_json::Value> = got
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|o| o["type"] == "ack_rejected")
        .collect();
    let closed_with_ref = rejected
        .iter()
        .filter(|o| o["reason"] == "closed" && o["ref"].is_string())
        .count();
    let closed_without_ref = rejected
        .iter()
        .filter(|o| o["reason"] == "closed" && o["ref"].is_null())
        .count();
    assert_eq!((closed_with_ref, closed_without_ref), (5, 4));
    assert!(rejected.iter().any(|o| o["reason"] == "ambiguous"));
    assert!(
        rejected
            .iter()
            .filter(|o| o["ref"].is_string() && o["reason"] == "closed")
            .all(|o| o["instance"].is_string() && o["step"] == "叫应")
    );
}

#[test]
fn snapshot_and_restore_at_every_cut_after_compaction_changes_nothing() {
    let defs = defs();
    let lines = lines();
    let whole = whole_run(&defs);
    for cut in 1..lines.len() {
        // run to the cut, snapshot, continue in a fresh engine
        let mut out = Vec::new();
        let mut e = engine(&defs);
        push_from(&mut e, &lines[..cut], 0, &mut out);
        let snap = e.snapshot();
        let mut again = engine(&defs);
        let report = again.restore(&snap).unwrap();
        assert!(report.kept.iter().any(|k| k == "plans"), "{report:?}");
        assert_eq!(
            again.snapshot(),
            snap,
            "cut {cut}: a restored state writes the same snapshot"
        );
        push_from(&mut again, &lines, cut, &mut out);
        let mut buf = Vec::new();
        again.flush(&mut buf);
        out.extend(buf.iter().map(|o| o.to_json()));
        assert_eq!(out, whole, "cut before line {}", cut + 1);
    }
}

#[test]
fn state_files_written_before_compaction_restore_compacted_and_continue_identically() {
    let defs = defs();
    let lines = lines();
    let whole = whole_run(&defs);
    for (cut, held, closed_refs) in [
        (4, 3, 0),
        (6, 2, 1),
        (12, 0, 3),
        (16, 0, 4),
        (19, 1, 4),
        (24, 1, 5),
    ] {
        let old = read(&format!("layout0/cut_{cut}.json"));
        assert!(
            !old.contains("\"layout\""),
            "fixture cut_{cut} is in the layout before compaction"
        );
        let mut e = engine(&defs);
        let report = e.restore(old.as_bytes()).unwrap();
        assert!(
            report.kept.iter().any(|k| k == "压测预警") && report.kept.iter().any(|k| k == "plans"),
            "cut {cut}: {report:?} (the fixture's signal fingerprint no longer matches)"
        );
        let wf = e.workflow().unwrap();
        assert_eq!(
            (wf.held_instances(), wf.open_instances(), wf.closed_refs()),
            (held, held, closed_refs),
            "cut {cut}: held, open, closed references after restore"
        );
        // the old state continues exactly as the whole run does from its cut
        // (that build released an instant as soon as the clock reached it;
        // this one once the clock has passed it, so what was printed before
        // the cut differs in where it stops, not in what follows)
        let mut out = Vec::new();
        push_from(&mut e, &lines, cut, &mut out);
        let mut buf = Vec::new();
        e.flush(&mut buf);
        out.extend(buf.iter().map(|o| o.to_json()));
        // files of that build carry no output numbering: ids start again at 1;
        // nor what satisfied each verification stage (`event`, `by` of
        // `plan_closed`), which later builds record as the stage is reached
        let strip = |v: &[String]| {
            v.iter()
                .map(|l| {
                    let mut j: serde_json::Value = serde_json::from_str(&without_id(l)).unwrap();
                    if let Some(stages) = j.get_mut("verify").and_then(|x| x.as_array_mut()) {
                        for st in stages {
                            st["event"] = serde_json::Value::Null;
                            st["by"] = serde_json::Value::Null;
                        }
                    }
                    j.to_string()
                })
                .collect::<Vec<_>>()
        };
        let (tail, whole) = (strip(&out), strip(&whole));
        assert!(
            !tail.is_empty() && whole.ends_with(&tail),
            "old state at cut {cut}: {tail:#?}"
        );
    }
}

#[test]
fn a_plan_state_of_a_newer_layout_is_refused_and_changes_nothing() {
    let defs = defs();
    let lines = lines();
    let mut e = engine(&defs);
    push_from(&mut e, &lines[..6], 0, &mut Vec::new());
    let snap = e.snapshot();
    let mut doc: serde_json::Value = serde_json::from_slice(&snap).unwrap();
    assert_eq!(doc["plans"]["layout"], 1);
    doc["plans"]["layout"] = serde_json::json!(2);
    // a consistent file of a newer build: its checksum matches
    doc["checksum"] = yingji::unstable::engine::state::checksum(&doc).into();
    let newer = serde_json::to_vec(&doc).unwrap();
    let err = e.restore(&newer).unwrap_err().to_string();
    assert!(
        err.contains("plan state layout 2 is newer than this build reads (1)"),
        "{err}"
    );
    assert_eq!(e.snapshot(), snap, "a refused restore changes nothing");
}

#[test]
fn a_long_run_of_many_chains_holds_only_the_open_instances() {
    // 60 villages, 40 rounds of 叫应 each
    let w = chains(60, 60 * 3 * 40, 11).unwrap();
    let defs = yingji::Definitions::load(&yingji::MemLoader(w.files())).unwrap();
    let mut e = defs.engine().unwrap();
    let mut out = Vec::new();
    let (mut started, mut closed, mut most_held) = (0usize, 0usize, 0usize);
    for ev in &w.events {
        e.push(ev, &mut out).unwrap();
        for o in out.drain(..) {
            match o {
                yingji::Output::PlanStarted(_) => started += 1,
                yingji::Output::PlanClosed(_) => closed += 1,
                _ => {}
            }
        }
        let wf = e.workflow().unwrap();
        assert_eq!(wf.held_instances(), wf.open_instances());
        assert_eq!(wf.held_instances(), started - closed);
        assert!(
            wf.held_instances() <= w.chains,
            "one open instance per village at most"
        );
        most_held = most_held.max(wf.held_instances());
    }
    e.flush(&mut out);
    for o in out.drain(..) {
        match o {
            yingji::Output::PlanStarted(_) => started += 1,
            yingji::Output::PlanClosed(_) => closed += 1,
            _ => {}
        }
    }
    let wf = e.workflow().unwrap();
    assert!(started >= 30 * w.chains, "{started} instances started");
    assert_eq!(wf.held_instances(), started - closed);
    // one remembered reference per closed instance (one call run each here)
    assert_eq!(wf.closed_refs(), closed);
    assert!(most_held <= w.chains);
    // the whole state is the open instances plus ~100 B per closed call run
    let per_closed = wf.state_bytes() as f64 / closed as f64;
    assert!(per_closed < 200.0, "{per_closed} B per closed instance");
}

#[test]
fn restore_at_cuts_of_a_long_run_after_compaction_gives_identical_outputs() {
    let w = chains(30, 30 * 3 * 12, 5).unwrap();
    let defs = yingji::Definitions::load(&yingji::MemLoader(w.files())).unwrap();
    let run = |cut: Option<usize>| -> Vec<String> {
        let mut e = defs.engine().unwrap();
        let mut out = Vec::new();
        for (i, ev) in w.events.iter().enumerate() {
            if Some(i) == cut {
                let snap = e.snapshot();
                e = defs.engine().unwrap();
                e.restore(&snap).unwrap();
                let wf = e.workflow().unwrap();
                assert_eq!(wf.held_instances(), wf.open_instances());
            }
            e.push(ev, &mut out).unwrap();
        }
        e.flush(&mut out);
        out.iter().map(yingji::Output::to_json).collect()
    };
    let whole = run(None);
    let n = w.events.len();
    for cut in [1, n / 7, n / 3, n / 2, 2 * n / 3, n - 1] {
        assert_eq!(run(Some(cut)), whole, "cut at event {cut}");
    }
}
