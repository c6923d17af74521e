//! Live reporting deadlines keep bounded memory: subjects close `R` (the
//! retention) after the last thing that concerns them, and are dropped with
//! their reports; a report after closing is refused with a clear message;
//! snapshots taken on either side of a closing restore to identical outputs.
//! The rules are spelled out on `yingji_engine::assess::deadline::Tracker`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use proptest::prelude::*;
use yingji::unstable::engine::assess::AssessProgram;
use yingji::unstable::engine::assess::deadline::{
    DEFAULT_RETENTION_MS, DeadlineOutput, Held, MAX_RETENTION_MS, Tracker,
};
use yingji::unstable::engine::assess::live::{DeadlineState, LiveDeadlines};
use yingji::unstable::engine::assess::records::{RecordError, grade, parse_record};
use yingji::unstable::engine::state::VERSION;
use yingji::unstable::engine::{LineError, Timestamp};
use yingji::{Definitions, Output};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn defs() -> Definitions {
    Definitions::from_paths(&[concat!(env!("CARGO_MANIFEST_DIR"), "/policies")]).unwrap()
}

fn program() -> AssessProgram {
    defs().unstable_assess().clone()
}

/// 2024-01-01T00:00:00+08:00 plus `ms`.
fn t(ms: i64) -> Timestamp {
    Timestamp {
        ms: Timestamp::parse("2024-01-01T00:00:00+08:00").unwrap().ms + ms,
        offset_min: 480,
    }
}

fn accident(id: &str, at: i64) -> String {
    format!(
        r#"{{"kind":"accident","id":"{id}","unit":"南溪镇","ts":"{}","category":"工矿商贸","deaths":0,"serious_injuries":0,"loss_wan":10}}"#,
        t(at)
    )
}

fn disaster(id: &str, at: i64) -> String {
    format!(
        r#"{{"kind":"disaster","id":"{id}","unit":"南溪镇","ts":"{}","hazard":"暴雨洪涝","dead_missing":0}}"#,
        t(at)
    )
}

fn report(id: &str, about: &str, stage: &str, at: i64) -> String {
    format!(
        r#"{{"kind":"report","id":"{id}","unit":"南溪镇","ts":"{}","about":"{about}","stage":"{stage}"}}"#,
        t(at)
    )
}

/// `type stage#occurrence` of a deadline output.
fn brief(o: &DeadlineOutput) -> String {
    let c = o.check();
    match c.occurrence {
        Some(k) => format!("{} {}#{k}", o.type_name(), c.stage),
        None => format!("{} {}", o.type_name(), c.stage),
    }
}

fn count(out: &[DeadlineOutput], subject: &str, kind: &str) -> usize {
    out.iter()
        .filter(|o| o.check().subject.as_ref() == subject && o.type_name() == kind)
        .count()
}

/// A year of accidents, one every 6 hours: three in four reported in full
/// (county within 30 min, city within 2 h, one follow-up the next morning,
/// closed the day after), every fourth never reported.
fn year_of_accidents() -> Vec<(i64, String)> {
    let mut lines = Vec::new();
    for i in 0..1460i64 {
        let at = i * 6 * HOUR;
        let id = format!("A{i:04}");
        lines.push((at, accident(&id, at)));
        if i % 4 != 3 {
            lines.push((
                at + HOUR / 2,
                report(&format!("{id}-1"), &id, "单位报县", at + HOUR / 2),
            ));
            lines.push((
                at + 2 * HOUR,
                report(&format!("{id}-2"), &id, "县报市", at + 2 * HOUR),
            ));
            lines.push((
                at + 20 * HOUR,
                report(&format!("{id}-3"), &id, "续报", at + 20 * HOUR),
            ));
            lines.push((
                at + 30 * HOUR,
                report(&format!("{id}-4"), &id, "结案", at + 30 * HOUR),
            ));
        }
    }
    lines.sort_by_key(|(at, _)| *at);
    lines
}

#[test]
fn a_year_of_accidents_keeps_the_tracker_bounded() {
    let mut d = LiveDeadlines::new(program());
    assert_eq!(d.tracker().retention(), DEFAULT_RETENTION_MS);
    let mut out = Vec::new();
    let (mut most, mut most_lines) = (Held::default(), 0);
    let lines = year_of_accidents();
    for (i, (_, line)) in lines.iter().enumerate() {
        let r = d.check(line, i as u64 + 1).unwrap();
        d.observe(line, i as u64 + 1, &r, &mut out);
        let h = d.tracker().held();
        most.subjects = most.subjects.max(h.subjects);
        most.reports = most.reports.max(h.reports);
        most.waiting = most.waiting.max(h.waiting);
        most.closed = most.closed.max(h.closed);
        most_lines = most_lines.max(d.log_len());
        // every line held is a subject or a report the tracker holds
        assert_eq!(d.log_len(), h.subjects + h.reports + h.waiting);
    }
    // 4 accidents a day; a reported one closes 30 days after its 结案 (day 2),
    // a never-reported one 30 days after its first missed 续报 (day 1): at
    // most 32 days of accidents are held, and 30 days of closed ones remembered
    assert!(most.subjects <= 4 * 32, "{most:?}");
    assert!(most.subjects >= 4 * 30, "{most:?}");
    assert!(most.reports <= 3 * 4 * 32, "{most:?}");
    assert!(most.closed <= 4 * 31, "{most:?}");
    assert_eq!(most.waiting, 0);
    assert!(most_lines <= 4 * 32 * 4, "{most_lines}");
    // the last accident is at day 364.75, closed by day 364.75 + 31 + 1;
    // 30 days later the closed ones are forgotten too
    let mut rest = Vec::new();
    d.advance(t(397 * DAY).ms, &mut rest);
    assert_eq!(
        (
            d.tracker().held().subjects,
            d.tracker().held().reports,
            d.log_len()
        ),
        (0, 0, 0)
    );
    d.advance(t(428 * DAY).ms, &mut rest);
    assert_eq!(d.tracker().held(), Held::default());
    // a never-reported accident: county and city missing, then 续报 missing
    // for the 30 days before it closed; period 31 (due at the closing time)
    // was announced but never followed
    let subject = |o: &Output, id: &str| match o {
        Output::ReportDue(n) | Output::ReportLate(n) | Output::ReportMissing(n) => {
            n.check.subject.as_ref() == id
        }
        _ => false,
    };
    let types = |id: &str| -> Vec<String> {
        out.iter()
            .chain(&rest)
            .filter(|o| subject(o, id))
            .map(|o| {
                serde_json::to_value(o).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    for id in ["A0003", "A0707", "A1459"] {
        let ty = types(id);
        assert_eq!(
            ty.iter().filter(|t| *t == "report_missing").count(),
            32,
            "{id}"
        );
        assert_eq!(ty.iter().filter(|t| *t == "report_due").count(), 33, "{id}");
    }
    // a reported one: four obligations due (the second 续报 was announced
    // before 结案 ended the series), none late or missing
    let ty = types("A0700");
    assert_eq!(ty.len(), 4, "{ty:?}");
    assert!(ty.iter().all(|t| t == "report_due"));
}

#[test]
fn a_never_reported_accident_closes_thirty_days_after_its_first_missed_follow_up() {
    let p = program();
    let mut tr = Tracker::new(p.clone());
    let mut out = Vec::new();
    tr.observe_line(&accident("A", 0), 1, &mut out).unwrap();
    // 续报 #1 is due at +24h and missed; closing time +24h +30d
    let close = t(DAY + 30 * DAY).ms;
    tr.advance(close, &mut out);
    assert_eq!(tr.held().subjects, 1);
    // period 30 was missed a day before the closing time; period 31, due at
    // the closing time itself, is announced and never followed
    let tail: Vec<String> = out.iter().rev().take(2).rev().map(brief).collect();
    assert_eq!(tail, ["report_missing 续报#30", "report_due 续报#31"]);
    let before = out.len();
    tr.advance(close + 1, &mut out);
    assert_eq!((tr.held().subjects, tr.held().closed), (0, 1));
    assert_eq!(
        out.len(),
        before,
        "closing as of the closing time adds nothing here"
    );
    assert_eq!(count(&out, "A", "report_missing"), 32);
    // the same, decided in one jump of the clock: the same outputs
    let mut jump = Tracker::new(p);
    let mut out2 = Vec::new();
    jump.observe_line(&accident("A", 0), 1, &mut out2).unwrap();
    jump.advance(t(400 * DAY).ms, &mut out2);
    let mut a: Vec<String> = out.iter().map(DeadlineOutput::to_json).collect();
    let mut b: Vec<String> = out2.iter().map(DeadlineOutput::to_json).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_eq!(
        jump.held(),
        Held::default(),
        "closed 400 days ago is forgotten too"
    );
}

#[test]
fn a_report_after_closing_is_refused_with_a_clear_message_and_changes_nothing() {
    let d = defs();
    let mut engine = d.engine().unwrap();
    let mut out = Vec::new();
    engine.push_line(&accident("A-7", 0), 1, &mut out).unwrap();
    // a disaster much later moves the clock past A-7's closing time
    // (its 续报 #1 was missed at +24h: closed at +24h +30d = 2024-02-01T00:00)
    engine
        .push_line(&disaster("Z-1", 31 * DAY + 1), 2, &mut out)
        .unwrap();
    // records are observed in event-time order once the lateness has passed them
    engine.advance_to(t(31 * DAY + 1 + 5 * 60_000), &mut out);
    let accepted = engine.stats().accepted;
    let seen = out.len();
    let late = report("R-9", "A-7", "单位报县", 31 * DAY + 2);
    let err = engine.push_line(&late, 3, &mut out).unwrap_err();
    assert_eq!(
        err,
        LineError::Record(
            "report `R-9` is about accident `A-7`, whose `生产安全事故报送` reporting deadlines closed at \
             2024-02-01T00:00:00+08:00 (30d after its last report or deadline); live deadline tracking no \
             longer takes reports about it (a batch `yingji assess` over the records still counts this one)"
                .into()
        )
    );
    assert_eq!((engine.stats().accepted, out.len()), (accepted, seen));
    // and so is every later one, whatever its stage
    let again = report("R-10", "A-7", "结案", 40 * DAY);
    assert!(matches!(
        engine.push_line(&again, 4, &mut out),
        Err(LineError::Record(m)) if m.starts_with("report `R-10` is about accident `A-7`, whose")
    ));
    // a report about the disaster, still followed, is taken as usual
    engine
        .push_line(
            &report("R-11", "Z-1", "灾情初报", 31 * DAY + 3),
            5,
            &mut out,
        )
        .unwrap();
}

#[test]
fn a_report_at_the_closing_time_still_counts_one_millisecond_later_it_is_refused() {
    let p = program();
    for (offset, taken) in [(0, true), (1, false)] {
        let mut tr = Tracker::new(p.clone());
        let mut out = Vec::new();
        tr.observe_line(&accident("A", 0), 1, &mut out).unwrap();
        let close = 31 * DAY;
        let r = report("R", "A", "单位报县", close + offset);
        let res = tr.observe_line(&r, 2, &mut out);
        if taken {
            res.unwrap();
            let last = out.last().unwrap();
            assert_eq!(
                (last.type_name(), last.check().stage.as_ref()),
                ("report_late", "单位报县")
            );
            // the late report counts as activity: A is kept 30 days after it
            assert_eq!(tr.held().subjects, 1);
        } else {
            let e = res.unwrap_err();
            assert!(
                matches!(&e, RecordError::SubjectClosed { closed_at, .. } if closed_at.ms == t(close).ms),
                "{e}"
            );
            // the clock did not move either: the refused line changes nothing
            assert_eq!(tr.now(), t(0).ms);
        }
    }
}

#[test]
fn reports_wait_for_their_subject_for_the_retention_then_are_dropped_or_refused() {
    let p = program();
    let mut tr = Tracker::new(p.clone()).with_retention(2 * DAY);
    let mut out = Vec::new();
    // a report before its subject waits for it
    tr.observe_line(&report("R1", "A", "单位报县", HOUR), 1, &mut out)
        .unwrap();
    assert_eq!(tr.held().waiting, 1);
    tr.observe_line(&accident("A", 0), 2, &mut out).unwrap();
    assert_eq!((tr.held().waiting, tr.held().reports), (0, 1));
    assert!(
        out.iter()
            .all(|o| o.type_name() == "report_due" || o.check().stage.as_ref() != "单位报县"),
        "R1 met 单位报县: {out:?}"
    );
    // a report about a subject that never comes is dropped after the retention
    tr.observe_line(&report("R2", "B", "单位报县", 2 * HOUR), 3, &mut out)
        .unwrap();
    assert_eq!(tr.held().waiting, 1);
    tr.advance(t(2 * HOUR + 2 * DAY).ms, &mut out);
    assert_eq!(tr.held().waiting, 1);
    tr.advance(t(2 * HOUR + 2 * DAY).ms + 1, &mut out);
    assert_eq!(tr.held().waiting, 0);
    let mut gone = Vec::new();
    tr.drain_dropped(&mut gone);
    assert!(gone.contains(&2), "R2 was the third record taken: {gone:?}");
    // a report about an unknown subject older than the retention is refused
    let e = tr
        .observe_line(&report("R3", "C", "单位报县", HOUR), 4, &mut out)
        .unwrap_err();
    assert!(matches!(e, RecordError::TooOld { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "report `R3` at 2024-01-01T01:00:00+08:00 is about `C`, which live deadline tracking does not \
         follow (not seen yet, or closed and forgotten), and is more than 2d older than the stream \
         (2024-01-03T02:00:00.001+08:00); it could never be matched (a batch `yingji assess` over the \
         records still counts it)"
    );
}

#[test]
fn a_closed_subject_is_remembered_for_the_retention_then_forgotten() {
    let p = program();
    let mut tr = Tracker::new(p).with_retention(DAY);
    let mut out = Vec::new();
    tr.observe_line(&accident("A", 0), 1, &mut out).unwrap();
    // 续报 #1 missed at +24h: closes at +48h, remembered until +72h
    tr.advance(t(2 * DAY).ms + 1, &mut out);
    assert_eq!(tr.closed_subjects().len(), 1);
    assert_eq!(tr.closed_subjects()[0].2, t(2 * DAY).ms);
    assert!(matches!(
        tr.observe_line(&report("R1", "A", "结案", 3 * DAY), 2, &mut out),
        Err(RecordError::SubjectClosed { .. })
    ));
    // forgotten: a fresh report about A now waits like one about any
    // unknown subject (and a subject record with A's id would open afresh)
    tr.advance(t(3 * DAY).ms + 1, &mut out);
    assert_eq!(tr.held(), Held::default());
    tr.observe_line(&report("R2", "A", "结案", 3 * DAY + 5), 3, &mut out)
        .unwrap();
    assert_eq!(tr.held().waiting, 1);
}

#[test]
fn a_duplicate_subject_is_ignored() {
    let mut tr = Tracker::new(program());
    let mut out = Vec::new();
    tr.observe_line(&accident("A", 0), 1, &mut out).unwrap();
    let n = out.len();
    tr.observe_line(&accident("A", 0), 2, &mut out).unwrap();
    assert_eq!((tr.held().subjects, out.len()), (1, n));
}

#[test]
fn retention_is_kept_in_range() {
    let p = AssessProgram::default();
    assert_eq!(Tracker::new(p.clone()).with_retention(-5).retention(), 1);
    assert_eq!(
        Tracker::new(p).with_retention(i64::MAX).retention(),
        MAX_RETENTION_MS
    );
}

// ---- snapshots across closing ------------------------------------------------

/// Rewrites a snapshot (into what an older build wrote).
type Rewrite = dyn Fn(&[u8]) -> Vec<u8>;

/// Outputs (and refusals) of the engine over `lines`, restoring a snapshot
/// into a fresh engine before line `cut`.
fn engine_run(lines: &[String], cut: Option<usize>, v1: Option<&Rewrite>) -> Vec<String> {
    let d = defs();
    let mut engine = d.engine().unwrap();
    let mut out: Vec<Output> = Vec::new();
    let mut said = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if Some(i) == cut {
            let mut snap = engine.snapshot();
            if let Some(f) = v1 {
                snap = f(&snap);
            }
            engine = d.engine().unwrap();
            engine.restore(&snap).unwrap();
        }
        if let Err(e) = engine.push_line(l, i as u64 + 1, &mut out) {
            out.clear();
            said.push(format!("line {}: {e}", i + 1));
        }
        said.extend(out.drain(..).map(|o| o.to_json()));
    }
    engine.flush(&mut out);
    said.extend(out.drain(..).map(|o| o.to_json()));
    said
}

/// Accidents over three months; some reported, some never, one report after
/// its accident closed (refused), and a disaster with daily zero reports.
fn quarter() -> Vec<String> {
    let mut lines = vec![
        accident("A1", 0),
        report("R1", "A1", "单位报县", HOUR / 2),
        accident("A2", 2 * HOUR),
        report("R2", "A1", "县报市", 2 * HOUR),
        report("R3", "A1", "结案", 30 * HOUR),
        disaster("Z1", 3 * DAY),
        report("Z1-0", "Z1", "灾情初报", 3 * DAY + HOUR),
    ];
    for k in 1..=5 {
        lines.push(report(
            &format!("Z1-{k}"),
            "Z1",
            "零报告",
            (3 + k) * DAY + 7 * HOUR,
        ));
    }
    lines.push(report("Z1-S", "Z1", "灾情稳定", 9 * DAY));
    lines.push(accident("A3", 20 * DAY));
    // A2 closed at day 31 (+2h); its report at day 33 is refused
    lines.push(accident("A4", 33 * DAY));
    lines.push(report("R4", "A2", "单位报县", 33 * DAY + HOUR));
    lines.push(report("R5", "A4", "单位报县", 33 * DAY + 2 * HOUR));
    lines.push(accident("A5", 70 * DAY));
    lines.push(report("R6", "A5", "单位报县", 70 * DAY + HOUR));
    lines.push(accident("A6", 95 * DAY));
    lines
}

#[test]
fn save_and_restore_across_closing_gives_identical_outputs() {
    let lines = quarter();
    let whole = engine_run(&lines, None, None);
    assert!(
        whole
            .iter()
            .any(|l| l.starts_with("line 16: report `R4` is about accident `A2`")),
        "{whole:#?}"
    );
    for cut in 0..lines.len() {
        assert_eq!(
            engine_run(&lines, Some(cut), None),
            whole,
            "cut before line {}",
            cut + 1
        );
    }
}

#[test]
fn a_version_1_snapshot_with_every_record_line_restores_to_the_same_outputs() {
    let lines = quarter();
    let whole = engine_run(&lines, None, None);
    // what a build before closing wrote: version 1, and every record line
    // observed in its `deadlines` (including the one now refused)
    for cut in [6, 14, 16, 18, 19] {
        let all: Vec<(u64, String)> = lines[..cut]
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l.clone()))
            .collect();
        let to_v1 = move |snap: &[u8]| -> Vec<u8> {
            let v: serde_json::Value = serde_json::from_slice(snap).unwrap();
            assert_eq!(v["version"], VERSION);
            // version 1 was one flat document; its clock was the latest event time
            let max_ts = v["shell"]["clock"]["now"].as_i64().map(|ms| Timestamp {
                ms,
                offset_min: v["shell"]["offset_min"].as_i64().unwrap() as i16,
            });
            // the log holds the records observed so far (a record still in the
            // reorder buffer is observed when it is released)
            let buffered: Vec<&str> = v["shell"]["pending"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["record"].as_str())
                .collect();
            let all: Vec<&(u64, String)> = all
                .iter()
                .filter(|(_, l)| !buffered.contains(&l.as_str()))
                .collect();
            let flat = serde_json::json!({
                "format": "yingji-state",
                "version": 1,
                "signals": v["signals"]["signals"],
                "max_ts": max_ts,
                "released": v["shell"]["released"],
                "pending": v["shell"]["pending"],
                "seen_ids": v["shell"]["seen_ids"],
                "seen_kkt": v["shell"]["seen_kkt"],
                "absence": v["signals"]["absence"],
                "stats": v["shell"]["stats"],
                "last_sweep": v["signals"]["last_sweep"],
                "workflow": v["plans"],
                "deadlines": [all, v["deadlines"]["now"]],
                "next_id": v["shell"]["next_id"],
            });
            serde_json::to_vec(&flat).unwrap()
        };
        // outputs identical; a refusal may be said at another point of the
        // output sequence (a version-1 file restores its deadline clock as the
        // old build kept it, so the deadlines due before the refused line may
        // come out before it rather than after)
        let (refused, outputs): (Vec<String>, Vec<String>) =
            engine_run(&lines, Some(cut), Some(&to_v1))
                .into_iter()
                .partition(|l| l.starts_with("line "));
        let (refused_whole, outputs_whole): (Vec<String>, Vec<String>) =
            whole.iter().cloned().partition(|l| l.starts_with("line "));
        assert_eq!(outputs, outputs_whole, "cut {cut}");
        assert_eq!(refused, refused_whole, "cut {cut}");
    }
}

#[test]
fn a_snapshot_of_another_version_is_refused() {
    let d = defs();
    let engine = d.engine().unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&engine.snapshot()).unwrap();
    v["version"] = (VERSION + 1).into();
    let err = d
        .engine()
        .unwrap()
        .restore(&serde_json::to_vec(&v).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "state file has format version {}, this build reads version {VERSION}; refusing to start from it (start fresh explicitly to discard it)",
            VERSION + 1
        )
    );
}

// ---- properties ----------------------------------------------------------------

/// A random stream: accidents and disasters, each with some of its reports
/// (some far too late), in time order but with a few lines swapped, and
/// clock ticks in between.
fn stream_strategy() -> impl Strategy<Value = Vec<(Option<i64>, String)>> {
    let subject = (
        any::<bool>(),
        0..40 * DAY,
        proptest::collection::vec((0u8..5, 0..12 * DAY), 0..6),
    );
    (
        proptest::collection::vec(subject, 1..10),
        proptest::collection::vec(0..60 * DAY, 0..8),
        proptest::collection::vec(0usize..60, 0..4),
    )
        .prop_map(|(subjects, ticks, swaps)| {
            let mut lines: Vec<(i64, Option<i64>, String)> = Vec::new();
            for (n, (is_accident, at, reports)) in subjects.into_iter().enumerate() {
                let id = format!("S{n}");
                let stages: [&str; 5] = if is_accident {
                    ["单位报县", "县报市", "续报", "结案", "伤亡补报"]
                } else {
                    ["灾情初报", "零报告", "零报告", "灾情稳定", "报省和国家"]
                };
                let line = if is_accident {
                    accident(&id, at)
                } else {
                    disaster(&id, at)
                };
                lines.push((at, None, line));
                for (k, (stage, after)) in reports.into_iter().enumerate() {
                    let when = at + after;
                    let r = report(&format!("{id}-{k}"), &id, stages[usize::from(stage)], when);
                    lines.push((when, None, r));
                }
            }
            for tick in ticks {
                lines.push((tick, Some(tick), String::new()));
            }
            lines.sort_by_key(|(at, _, _)| *at);
            for s in swaps {
                if lines.len() > 1 {
                    let i = s % (lines.len() - 1);
                    lines.swap(i, i + 1);
                }
            }
            lines.into_iter().map(|(_, tick, l)| (tick, l)).collect()
        })
}

/// Outputs and refusals of live deadlines (retention 3 days) over `stream`;
/// before item `cut` the state goes through JSON into a fresh tracker.
fn live_run(
    p: &AssessProgram,
    stream: &[(Option<i64>, String)],
    cut: Option<usize>,
) -> Vec<String> {
    let fresh = || LiveDeadlines::new(p.clone()).with_retention(3 * DAY);
    let mut d = fresh();
    let mut out: Vec<Output> = Vec::new();
    let mut said = Vec::new();
    for (i, (tick, line)) in stream.iter().enumerate() {
        if Some(i) == cut {
            let json = serde_json::to_string(&d.snapshot_state()).unwrap();
            let state: DeadlineState = serde_json::from_str(&json).unwrap();
            d = fresh().restored(state).unwrap();
        }
        match tick {
            Some(ms) => d.advance(t(*ms).ms, &mut out),
            None => match d.check(line, i as u64 + 1) {
                Ok(r) => d.observe(line, i as u64 + 1, &r, &mut out),
                Err(e) => said.push(format!("{}: {e}", i + 1)),
            },
        }
        said.extend(out.drain(..).map(|o| o.to_json()));
        assert_eq!(d.log_len(), lines_held(&d));
    }
    d.advance(t(400 * DAY).ms, &mut out);
    said.extend(out.drain(..).map(|o| o.to_json()));
    assert_eq!(
        d.tracker().held(),
        Held::default(),
        "everything closes in the end"
    );
    assert_eq!(d.log_len(), 0);
    said
}

/// Lines the log must hold: every record the tracker holds (a subject once
/// per set it is followed in: the sample policies follow each kind in one).
fn lines_held(d: &LiveDeadlines) -> usize {
    let h = d.tracker().held();
    h.subjects + h.reports + h.waiting
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Whatever the stream, a snapshot at any point restores to the same
    /// outputs and refusals, and the tracker ends empty.
    #[test]
    fn save_and_restore_at_any_point_changes_nothing(stream in stream_strategy(), cut in 0usize..80) {
        let p = program();
        let whole = live_run(&p, &stream, None);
        let cut = cut % (stream.len() + 1);
        prop_assert_eq!(live_run(&p, &stream, Some(cut)), whole);
    }

    /// `admit` says exactly what `observe` then does: a report it admits is
    /// held, one it refuses is not (and changes nothing).
    #[test]
    fn admit_agrees_with_observe(stream in stream_strategy()) {
        let p = program();
        let mut tr = Tracker::new(p.clone()).with_retention(3 * DAY);
        let mut out = Vec::new();
        for (i, (tick, line)) in stream.iter().enumerate() {
            if let Some(ms) = tick {
                tr.advance(t(*ms).ms, &mut out);
                continue;
            }
            let mut r = parse_record(&p, line, i as u64 + 1).unwrap();
            grade(&p, &mut r);
            let admitted = tr.admit(&r);
            let closed_before = tr.closed_subjects();
            let token = tr.take(&r, &mut out);
            if r.kind == p.kind_id("report").unwrap() {
                // a refused report is not held; an admitted one is held, unless it
                // settled its subject's last obligation and so closed it at once
                let about = serde_json::from_str::<serde_json::Value>(line).unwrap()["about"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let closed = |v: &[(String, std::sync::Arc<str>, i64)]| {
                    v.iter().any(|(_, id, _)| id.as_ref() == about)
                };
                let closed_by_it = admitted.is_ok()
                    && token.is_none()
                    && !closed(&closed_before)
                    && closed(&tr.closed_subjects());
                prop_assert_eq!(
                    admitted.is_ok(),
                    token.is_some() || closed_by_it,
                    "{}: {:?} (closed: {:?}, now {}, held {:?})",
                    line,
                    admitted,
                    tr.closed_subjects(),
                    tr.now(),
                    tr.held()
                );
            } else if let Err(e) = &admitted {
                // a subject is refused only when dated more than the
                // retention behind the clock, and is then not held
                prop_assert!(matches!(e, RecordError::SubjectTooOld { .. }), "{}", e);
                prop_assert!(token.is_none());
            }
        }
    }
}
