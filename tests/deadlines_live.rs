//! Reporting deadlines running live on the event stream (issue 5): a due
//! report that does not arrive fires at its deadline, in event time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use yingji::{Definitions, Output};

fn defs() -> Definitions {
    Definitions::from_paths(&[concat!(env!("CARGO_MANIFEST_DIR"), "/policies")]).unwrap()
}

fn stream() -> Vec<String> {
    let accident = r#"{"kind":"accident","id":"A1","unit":"江口镇","ts":"2024-07-29T08:00:00+08:00","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}"#;
    // the unit reports to the county one second late; the county never reports upward
    let late = r#"{"kind":"report","id":"R1","unit":"江口镇","ts":"2024-07-29T09:00:01+08:00","about":"A1","stage":"单位报县"}"#;
    let mut lines = vec![accident.to_string(), late.to_string()];
    // rain readings keep event time moving for four more hours
    for m in (10..=240).step_by(10) {
        lines.push(format!(
            r#"{{"ts":"2024-07-29T{:02}:{:02}:00+08:00","kind":"rain","station":"YY-004","town":"江口镇","mm":0}}"#,
            9 + m / 60,
            m % 60
        ));
    }
    lines
}

fn run(lines: &[String], cut: Option<usize>) -> Vec<String> {
    let d = defs();
    let mut engine = d.engine().unwrap();
    let mut out: Vec<Output> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if Some(i) == cut {
            let snap = engine.snapshot();
            engine = d.engine().unwrap();
            engine.restore(&snap).unwrap();
        }
        engine.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    engine.flush(&mut out);
    out.iter()
        .map(Output::to_json)
        .filter(|j| j.contains(r#""type":"report_"#))
        .collect()
}

#[test]
fn due_late_and_missing_on_the_stream() {
    let out = run(&stream(), None);
    let summary: Vec<String> = out
        .iter()
        .map(|j| {
            let v: serde_json::Value = serde_json::from_str(j).unwrap();
            format!(
                "{} {} {}",
                v["type"].as_str().unwrap(),
                v["ts"].as_str().unwrap(),
                v["stage"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        summary.contains(&"report_due 2024-07-29T08:00:00+08:00 单位报县".to_string()),
        "{summary:#?}"
    );
    assert!(
        summary.contains(&"report_missing 2024-07-29T09:00:00+08:00 单位报县".to_string()),
        "{summary:#?}"
    );
    let late = out
        .iter()
        .find(|j| j.contains(r#""type":"report_late""#))
        .unwrap();
    assert!(late.contains(r#""late_by":"1s""#), "{late}");
    // 县报市 is due 2 h after 单位报县's deadline (it was late): 11:00, never reported
    assert!(
        summary.contains(&"report_missing 2024-07-29T11:00:00+08:00 县报市".to_string()),
        "{summary:#?}"
    );
}

#[test]
fn a_record_that_fails_its_checks_is_rejected_and_changes_nothing() {
    let d = defs();
    let mut engine = d.engine().unwrap();
    let mut out = Vec::new();
    let bad = r#"{"kind":"accident","id":"A9","unit":"江口镇","ts":"2024-07-29T08:00:00+08:00","category":"火灾","deaths":-1,"serious_injuries":0,"loss_wan":1}"#;
    let err = engine.push_line(bad, 1, &mut out).unwrap_err().to_string();
    assert!(err.contains("deaths"), "{err}");
    engine.flush(&mut out);
    assert!(out.is_empty());
    assert_eq!(engine.stats().accepted, 0);
}

#[test]
fn deadline_state_survives_a_snapshot() {
    let lines = stream();
    let whole = run(&lines, None);
    for cut in [1, 2, 5, 20] {
        assert_eq!(run(&lines, Some(cut)), whole, "cut at {cut}");
    }
}

/// A1 is never reported: its first 续报 is missed on 07-30 at 08:00, so it
/// closes 30 days later (the retention) and is dropped; A2 arrives after that.
fn stream_across_closing() -> Vec<String> {
    let accident = |id: &str, ts: &str| {
        format!(
            r#"{{"kind":"accident","id":"{id}","unit":"江口镇","ts":"{ts}","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}}"#
        )
    };
    let report = |id: &str, about: &str, ts: &str, stage: &str| {
        format!(
            r#"{{"kind":"report","id":"{id}","unit":"江口镇","ts":"{ts}","about":"{about}","stage":"{stage}"}}"#
        )
    };
    vec![
        accident("A1", "2024-07-29T08:00:00+08:00"),
        accident("A2", "2024-08-29T08:00:00+08:00"),
        report("R1", "A2", "2024-08-29T08:30:00+08:00", "单位报县"),
        report("R2", "A2", "2024-08-29T09:30:00+08:00", "县报市"),
        accident("A3", "2024-09-05T08:00:00+08:00"),
        report("R3", "A2", "2024-09-05T09:00:00+08:00", "结案"),
        accident("A4", "2024-10-20T08:00:00+08:00"),
    ]
}

#[test]
fn deadline_state_survives_a_snapshot_across_a_closing() {
    let lines = stream_across_closing();
    let whole = run(&lines, None);
    // A1's 续报 went missing daily until it closed on 08-29 08:00
    let a1_missing = whole
        .iter()
        .filter(|j| j.contains(r#""type":"report_missing""#) && j.contains(r#""subject":"A1""#))
        .count();
    assert_eq!(a1_missing, 2 + 30, "单位报县, 县报市, then 续报 #1..#30");
    for cut in 0..lines.len() {
        assert_eq!(run(&lines, Some(cut)), whole, "cut at {cut}");
    }
}

// ---- a subject dated centuries back (a year typed `1012`) ----

use yingji::unstable::engine::Timestamp;
use yingji::unstable::engine::assess::deadline::{
    DeadlineOutput, MAX_MISSED_RUN, Status, Tracker, check_batch, outputs,
};
use yingji::unstable::engine::assess::records::read_records;

fn accident(id: &str, ts: &str) -> String {
    format!(
        r#"{{"kind":"accident","id":"{id}","unit":"江口镇","ts":"{ts}","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}}"#
    )
}

const TYPO: &str = "1012-07-29T08:00:00+08:00";
const RIGHT: &str = "2024-07-29T08:00:00+08:00";

fn ms(ts: &str) -> i64 {
    Timestamp::parse(ts).unwrap().ms
}

#[test]
fn a_mistyped_year_gives_a_bounded_batch_with_the_missed_periods_counted() {
    let d = defs();
    let text = [accident("A", TYPO), accident("B", RIGHT)].join("\n");
    let set = read_records(d.unstable_assess(), &text);
    assert!(set.rejected.is_empty());
    let checks = check_batch(
        d.unstable_assess(),
        &set.records,
        Timestamp::parse(RIGHT).unwrap(),
    );
    let out = outputs(&checks);
    // was 100,004 checks and 200,008 outputs (one per day from 1012 on)
    assert!(
        out.len() < 2 * (MAX_MISSED_RUN as usize + 10),
        "{}",
        out.len()
    );
    let a: Vec<_> = checks
        .iter()
        .filter(|c| c.subject.as_ref() == "A")
        .collect();
    let series: Vec<_> = a.iter().filter(|c| c.occurrence.is_some()).collect();
    assert_eq!(series.len(), MAX_MISSED_RUN as usize + 1);
    assert!(series.iter().all(|c| c.status == Status::Missing));
    let last = series.last().unwrap();
    assert_eq!(last.occurrence, Some(MAX_MISSED_RUN + 1));
    // the rest of the run, up to the periods checked (MAX_OCCURRENCES)
    assert_eq!(last.missed, Some(100_000 - MAX_MISSED_RUN));
    assert_eq!(last.from, series[series.len() - 2].due);
    let json = DeadlineOutput::ReportMissing(yingji::unstable::engine::assess::deadline::Notice {
        id: 0,
        ts: last.due,
        check: (***last).clone(),
        late_by: None,
    })
    .to_json();
    assert!(
        json.contains(&format!(r#""missed":{}"#, 100_000 - MAX_MISSED_RUN)),
        "{json}"
    );
    // assessments still count every missed period
    let derived =
        yingji::unstable::engine::assess::eval::derived_records(d.unstable_assess(), &checks);
    let missed: u32 = checks
        .iter()
        .filter(|c| c.status == Status::Missing)
        .map(|c| c.missed.unwrap_or(1))
        .sum();
    let kind = d.unstable_assess().kind_id("report_missing").unwrap();
    assert_eq!(
        derived.iter().filter(|r| r.kind == kind).count(),
        missed as usize
    );
    assert!(derived.iter().any(|r| r.id.as_ref() == "A/续报#100000"));
}

/// Outputs and refusals of the engine over `lines`.
fn engine_said(lines: &[String]) -> (Vec<String>, Vec<String>) {
    let d = defs();
    let mut engine = d.engine().unwrap();
    let mut out: Vec<Output> = Vec::new();
    let mut refused = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Err(e) = engine.push_line(l, i as u64 + 1, &mut out) {
            refused.push(e.to_string());
        }
    }
    engine.flush(&mut out);
    (out.iter().map(Output::to_json).collect(), refused)
}

#[test]
fn live_a_subject_dated_more_than_the_retention_behind_the_clock_is_late() {
    // in the stream the record is far behind the clock: `late` like any event
    let (out, refused) = engine_said(&[accident("B", RIGHT), accident("A", TYPO)]);
    assert!(refused.is_empty(), "{refused:?}");
    let late: Vec<&String> = out
        .iter()
        .filter(|o| o.contains(r#""type":"late""#))
        .collect();
    assert_eq!(late.len(), 1, "{out:?}");
    assert!(
        late[0].contains(r#""ts":"1012-07-29T08:00:00+08:00","kind":"accident""#),
        "{}",
        late[0]
    );
    assert!(
        out.iter().all(|o| !o.contains(r#""subject":"A""#)),
        "{out:?}"
    );
    assert!(out.len() < 10, "{out:?}");
}

#[test]
fn live_a_subject_from_1012_then_one_from_2024_gives_a_bounded_number_of_outputs() {
    let (out, refused) = engine_said(&[accident("A", TYPO), accident("B", RIGHT)]);
    assert!(refused.is_empty(), "{refused:?}");
    // A closes 30 days after its first missed follow-up: 30 missed periods
    assert!(out.len() < 100, "{}", out.len());
    let missing_a = out
        .iter()
        .filter(|o| o.contains(r#""type":"report_missing""#) && o.contains(r#""subject":"A""#))
        .count();
    assert_eq!(missing_a, 32, "单位报县, 县报市 and 续报 #1..#30");
}

fn tracker_100y() -> Tracker {
    Tracker::new(defs().unstable_assess().clone()).with_retention(36_500 * 86_400_000)
}

#[test]
fn live_a_long_run_of_missed_periods_collapses_and_each_advance_reports_only_what_is_new() {
    let mut t = tracker_100y();
    let mut out = Vec::new();
    t.observe_line(&accident("A", "2020-07-29T08:00:00+08:00"), 1, &mut out)
        .unwrap();
    out.clear();
    t.advance(ms(RIGHT), &mut out);
    let missing: Vec<&DeadlineOutput> = out
        .iter()
        .filter(|o| o.type_name() == "report_missing")
        .collect();
    // 单位报县, 县报市, 64 periods one by one, the rest as one
    assert_eq!(
        missing.len(),
        2 + MAX_MISSED_RUN as usize + 1,
        "{}",
        out.len()
    );
    let collapsed = missing.last().unwrap().check();
    let days = ((ms(RIGHT) - ms("2020-07-29T08:00:00+08:00")) / 86_400_000) as u32;
    assert_eq!(
        collapsed.missed,
        Some(days - 1 - MAX_MISSED_RUN),
        "period #{days} is due at the clock"
    );
    assert!(out.len() < 2 * (MAX_MISSED_RUN as usize + 10));
    let first: u32 = missing.iter().map(|o| o.check().missed.unwrap_or(1)).sum();
    // ten days later: one report_missing for the ten new periods
    out.clear();
    t.advance(ms(RIGHT) + 10 * 86_400_000, &mut out);
    let missing: Vec<&DeadlineOutput> = out
        .iter()
        .filter(|o| o.type_name() == "report_missing")
        .collect();
    assert_eq!(missing.len(), 1, "{out:?}");
    let c = missing[0].check();
    assert_eq!((c.occurrence, c.missed), (Some(days), Some(10)));
    assert_eq!(c.due.ms - c.from.ms, 10 * 86_400_000);
    assert!(
        out.iter()
            .all(|o| o.type_name() != "report_due" || o.check().missed.is_none())
    );
    // the same as one jump of the clock, period for period
    let mut jump = tracker_100y();
    let mut out2 = Vec::new();
    jump.observe_line(&accident("A", "2020-07-29T08:00:00+08:00"), 1, &mut out2)
        .unwrap();
    jump.advance(ms(RIGHT) + 10 * 86_400_000, &mut out2);
    let total =
        |o: &[&DeadlineOutput]| -> u32 { o.iter().map(|o| o.check().missed.unwrap_or(1)).sum() };
    let m2: Vec<&DeadlineOutput> = out2
        .iter()
        .filter(|o| o.type_name() == "report_missing")
        .collect();
    assert_eq!(total(&m2), 2 + days - 1 + 10);
    assert_eq!(first + 10, total(&m2), "step by step as in one jump");
}

#[test]
fn next_due_is_one_millisecond_after_the_deadline_and_advance_fires_exactly_then() {
    let mut t = Tracker::new(defs().unstable_assess().clone());
    let mut out = Vec::new();
    assert_eq!(t.next_due(), None);
    t.observe_line(&accident("A", RIGHT), 1, &mut out).unwrap();
    let due = ms("2024-07-29T09:00:00+08:00"); // 单位报县 within 1h
    assert_eq!(t.next_due(), Some(due + 1));
    out.clear();
    t.advance(due, &mut out);
    assert!(
        out.is_empty(),
        "a deadline passes strictly after it: {out:?}"
    );
    assert_eq!(t.next_due(), Some(due + 1));
    t.advance(due + 1, &mut out);
    let kinds: Vec<&str> = out.iter().map(DeadlineOutput::type_name).collect();
    assert!(kinds.contains(&"report_missing"), "{kinds:?}");
    // next: 县报市 within 2h after 单位报县's deadline
    assert_eq!(t.next_due(), Some(ms("2024-07-29T11:00:00+08:00") + 1));
}

#[test]
fn live_deadlines_next_due_follows_the_tracker() {
    use yingji::unstable::engine::assess::live::LiveDeadlines;
    let mut d = LiveDeadlines::new(defs().unstable_assess().clone());
    let mut out: Vec<Output> = Vec::new();
    assert_eq!(d.next_due(), None);
    let line = accident("A", RIGHT);
    let r = d.check(&line, 1).unwrap();
    d.observe(&line, 1, &r, &mut out);
    assert_eq!(d.next_due(), Some(ms("2024-07-29T09:00:00+08:00") + 1));
    assert_eq!(d.next_due(), d.tracker().next_due());
}
