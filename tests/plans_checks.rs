//! Plans started on a calendar (防汛三查) and by a rain event (降雨三查),
//! with checks that must be reported done by their deadlines: `check_done`
//! for a report (in time at or before the deadline), `check_overdue` when a
//! deadline passes without one, `event_refused` for a report no check
//! waits for. Events in, exact outputs out, over the real plans in `plans/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod plans_common;

use plans_common::{Harness, load};
use yingji::Level;

fn file(name: &str) -> (String, String) {
    let path = format!("{}/plans/{name}", env!("CARGO_MANIFEST_DIR"));
    (
        format!("plans/{name}"),
        std::fs::read_to_string(path).unwrap(),
    )
}

fn harness() -> Harness {
    Harness::new(&[
        file("flood_checks.yaml"),
        file("rain_checks.yaml"),
        file("roster.yaml"),
    ])
    .unwrap()
}

/// `type area step check ts [in_time]` per output.
fn lines(outs: &[serde_json::Value]) -> Vec<String> {
    outs.iter()
        .map(|o| {
            let mut s = format!(
                "{} {} {} {}",
                o["type"].as_str().unwrap_or(""),
                o["area"].as_str().unwrap_or(""),
                o["step"].as_str().unwrap_or(""),
                o["ts"].as_str().unwrap_or("")
            );
            if let Some(b) = o.get("in_time") {
                s.push_str(&format!(" in_time={b}"));
            }
            if let Some(r) = o.get("reason") {
                s.push_str(&format!(" reason={}", r.as_str().unwrap_or("")));
            }
            s
        })
        .collect()
}

fn report(h: &mut Harness, ts: &str, check: &str, area: &str, person: &str) {
    h.event(&format!(
        r#"{{"ts":"{ts}","kind":"check_report","check":"{check}","area":"{area}","person":"{person}"}}"#
    ))
    .unwrap();
}

fn at(ts: &str) -> i64 {
    yingji::Timestamp::parse(ts).unwrap().ms
}

#[test]
fn the_flood_season_checks_start_on_04_01_and_report_what_is_overdue() {
    let mut h = harness();
    // the stream begins before 04-01: that year's date is the first one
    h.event(r#"{"ts":"2024-03-31T12:00:00+08:00","kind":"rain","station":"YY-003","town":"南溪镇","mm":0}"#)
        .unwrap();
    assert!(h.take().is_empty());
    report(
        &mut h,
        "2024-04-10T09:30:00+08:00",
        "汛前排查",
        "南溪镇",
        "NX01",
    );
    let outs = h.take();
    assert_eq!(
        lines(&outs),
        [
            "plan_started 双江街道 汛前排查 2024-04-01T00:00:00+08:00",
            "plan_started 青龙街道 汛前排查 2024-04-01T00:00:00+08:00",
            "plan_started 南溪镇 汛前排查 2024-04-01T00:00:00+08:00",
            "plan_started 江口镇 汛前排查 2024-04-01T00:00:00+08:00",
            "plan_started 龙角镇 汛前排查 2024-04-01T00:00:00+08:00",
            "plan_started 故陵镇 汛前排查 2024-04-01T00:00:00+08:00",
            "check_done 南溪镇 汛前排查 2024-04-10T09:30:00+08:00 in_time=true",
        ]
    );
    assert_eq!(outs[0]["trigger"], "日历 04-01");
    assert_eq!(outs[0]["cause"]["timer"]["what"], "日历 04-01");
    assert_eq!(outs[6]["due"], "2024-05-01T00:00:00+08:00");
    assert_eq!(outs[6]["after"], "13530m");
    assert_eq!(outs[6]["by"], "NX01");
    // a report at exactly the deadline is in time
    report(
        &mut h,
        "2024-05-01T00:00:00+08:00",
        "汛前排查",
        "江口镇",
        "JK01",
    );
    h.advance_ms(at("2024-05-01T00:00:01+08:00"));
    let outs = h.take();
    assert_eq!(
        lines(&outs),
        [
            "check_done 江口镇 汛前排查 2024-05-01T00:00:00+08:00 in_time=true",
            "check_overdue 双江街道 汛前排查 2024-05-01T00:00:00+08:00",
            "check_overdue 青龙街道 汛前排查 2024-05-01T00:00:00+08:00",
            "check_overdue 龙角镇 汛前排查 2024-05-01T00:00:00+08:00",
            "check_overdue 故陵镇 汛前排查 2024-05-01T00:00:00+08:00",
        ]
    );
    assert_eq!(outs[1]["check"], "汛前排查");
    assert_eq!(outs[1]["opened"], "2024-04-01T00:00:00+08:00");
    assert_eq!(outs[1]["instance"], "防汛三查@双江街道#1");
    // a late report still counts, late; a second one is refused
    report(
        &mut h,
        "2024-05-03T10:00:00+08:00",
        "汛前排查",
        "双江街道",
        "SJ01",
    );
    report(
        &mut h,
        "2024-05-03T11:00:00+08:00",
        "汛前排查",
        "双江街道",
        "SJ01",
    );
    // a report for a check no instance has open
    report(
        &mut h,
        "2024-05-03T12:00:00+08:00",
        "汛后核查",
        "南溪镇",
        "NX01",
    );
    let outs = h.take();
    assert_eq!(
        lines(&outs),
        [
            "check_done 双江街道 汛前排查 2024-05-03T10:00:00+08:00 in_time=false",
            "event_refused 双江街道  2024-05-03T11:00:00+08:00 reason=already_done",
            "event_refused 南溪镇  2024-05-03T12:00:00+08:00 reason=no_open_check",
        ]
    );
    assert_eq!(outs[1]["area"], "双江街道");
    assert_eq!(
        outs[1]["open"],
        serde_json::json!([{ "instance": "防汛三查@双江街道#1", "step": "汛前排查" }])
    );
    // 汛中巡查 is due at the end of the season, 汛后核查 a month later
    h.advance_ms(at("2024-10-01T00:00:01+08:00"));
    let overdue: Vec<String> = lines(&h.take());
    assert_eq!(overdue.len(), 6);
    assert!(
        overdue.iter().all(|l| l.starts_with("check_overdue ")
            && l.contains(" 汛中巡查 2024-10-01T00:00:00+08:00"))
    );
    for a in [
        "双江街道",
        "青龙街道",
        "南溪镇",
        "江口镇",
        "龙角镇",
        "故陵镇",
    ] {
        report(&mut h, "2024-10-20T00:00:00+08:00", "汛后核查", a, "X");
    }
    h.advance_ms(at("2024-11-01T00:00:01+08:00"));
    let outs = h.take();
    assert_eq!(outs.iter().filter(|o| o["type"] == "check_done").count(), 6);
    let closed: Vec<&serde_json::Value> =
        outs.iter().filter(|o| o["type"] == "plan_closed").collect();
    assert_eq!(closed.len(), 6);
    assert_eq!(closed[0]["ts"], "2024-11-01T00:00:00+08:00");
    // and next year it starts again on 04-01
    h.advance_ms(at("2025-04-01T00:00:01+08:00"));
    let outs = h.take();
    assert_eq!(outs.len(), 6);
    assert_eq!(outs[0]["instance"], "防汛三查@双江街道#2");
    assert_eq!(outs[0]["ts"], "2025-04-01T00:00:00+08:00");
}

#[test]
fn a_stream_that_starts_after_04_01_waits_for_next_year() {
    let mut h = harness();
    h.event(r#"{"ts":"2024-04-01T00:00:01+08:00","kind":"rain","station":"YY-003","town":"南溪镇","mm":0}"#)
        .unwrap();
    h.advance_ms(at("2025-03-31T23:59:59+08:00"));
    assert!(h.take().is_empty());
    h.advance_ms(at("2025-04-01T00:00:01+08:00"));
    assert_eq!(h.take().len(), 6);
}

#[test]
fn the_rain_checks_are_due_relative_to_the_rain_event() {
    let mut h = harness();
    // 03:00 the warning reaches blue in 南溪镇: the rain event starts the plan
    h.level(0, "暴雨预警", "YY-003", "南溪镇", Level::Blue)
        .unwrap();
    // 雨前排查 reported in time, 雨中巡查 never
    report(
        &mut h,
        "2024-07-29T03:40:00+08:00",
        "雨前排查",
        "南溪镇",
        "NX12",
    );
    // 07:00 the rain is over: the warning falls below blue
    h.level(4 * 3600, "暴雨预警", "YY-003", "南溪镇", Level::None)
        .unwrap();
    report(
        &mut h,
        "2024-07-29T20:00:00+08:00",
        "雨后核查",
        "南溪镇",
        "NX12",
    );
    h.advance(4 * 3600 + 24 * 3600 + 1);
    let outs = h.take();
    assert_eq!(
        lines(&outs),
        [
            "plan_started 南溪镇 雨前排查 2024-07-29T03:00:00+08:00",
            "check_done 南溪镇 雨前排查 2024-07-29T03:40:00+08:00 in_time=true",
            "check_overdue 南溪镇 雨中巡查 2024-07-29T06:00:00+08:00",
            "check_done 南溪镇 雨后核查 2024-07-29T20:00:00+08:00 in_time=true",
            // the after-rain check reported: the plan closes
            "plan_closed 南溪镇 结束 2024-07-29T20:00:00+08:00",
        ]
    );
    assert_eq!(outs[3]["due"], "2024-07-30T07:00:00+08:00");
    assert_eq!(outs[4]["complete"], true);
}

#[test]
fn a_calendar_date_that_is_not_one_and_an_unknown_area_are_errors() {
    let plan = r#"plan: 坏
triggers:
  - { calendar: "02-29", areas: [南溪镇] }
  - { calendar: "04-01", areas: [南西镇] }
  - { calendar: "04-01" }
steps:
  - id: 查
    check: { due: 1d }
  - id: 结束
    close: { verify: [核实] }
"#;
    let (sources, loaded) = load(&[("p.yaml".into(), plan.into()), file("roster.yaml")]);
    let d: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| format!("{} {} {}", d.code, sources.location(d.span), d.message))
        .collect();
    assert_eq!(
        d,
        [
            "E0503 p.yaml:3:17 `calendar: 02-29` is not a date of every year",
            "E0501 p.yaml:4:34 area `南西镇` is not in the roster's `areas`",
            "E0503 p.yaml:5:5 a calendar trigger needs `areas: [..]`",
        ]
    );
}

#[test]
fn done_reads_a_check_step_only() {
    let plan = r#"plan: 坏
triggers: [{ manual: true }]
steps:
  - id: 通知
    notify: role/县应急值班室
  - id: 查
    check: { due: 1h }
  - id: 等
    wait: { until: "done(查) or done(通知)", timeout: 2h }
  - id: 结束
    close: { verify: [核实] }
"#;
    let (sources, loaded) = load(&[("p.yaml".into(), plan.into()), file("roster.yaml")]);
    let d: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| format!("{} {} {}", d.code, sources.location(d.span), d.message))
        .collect();
    assert_eq!(d, ["E0503 p.yaml:9:37 `done(通知)` needs a check step"]);
}
