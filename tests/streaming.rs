//! Streaming semantics: event time, lateness, duplicates, level dynamics,
//! absence, snapshots. Scenario tests and the three properties of issue 3.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod common;
use common::*;
use proptest::prelude::*;
use yingji::unstable::engine::{Config, LatePolicy};
use yingji::{Definitions, Engine, Output};

/// The bundled rainstorm and river policies (the device-offline signal reads both kinds).
fn river_defs() -> Definitions {
    let read =
        |p: &str| std::fs::read_to_string(format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    Definitions::load(&yingji::unstable::dsl::load::MemLoader(vec![
        (
            "policies/rainstorm.yj".into(),
            read("policies/rainstorm.yj"),
        ),
        ("policies/river.yj".into(), read("policies/river.yj")),
    ]))
    .unwrap()
}

fn river(station: &str, t: &str, level: f64) -> String {
    format!(
        r#"{{"ts":"2024-07-29T{t}:00+08:00","kind":"river_level","station":"{station}","town":"双江街道","level_m":{level}}}"#
    )
}

/// Runs lines through a fresh engine (with `config`), flushing at the end.
fn run_with(defs: &Definitions, config: Config, lines: &[String]) -> Vec<String> {
    let mut engine = defs.engine_with(config).unwrap();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        engine.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    engine.flush(&mut out);
    out.iter().map(Output::to_json).collect()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

/// `(type, key, from→to)` of level changes, for compact assertions.
fn changes(out: &[String], signal: &str) -> Vec<String> {
    out.iter()
        .map(|o| json(o))
        .filter(|v| v["type"] == "level_changed" && v["signal"] == signal)
        .map(|v| {
            format!(
                "{} {}→{} {}",
                &v["ts"].as_str().unwrap()[11..16],
                v["from"].as_str().unwrap(),
                v["to"].as_str().unwrap(),
                v["reason"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn hysteresis_one_raise_for_a_value_hovering_at_the_threshold() {
    // YY-H01: 警戒 175.0, yellow clears only below 174.8 (and after 1 h)
    let levels = [
        174.6, 174.7, 175.0, 174.95, 175.05, 174.9, 175.1, 174.85, 175.0, 174.9,
    ];
    let lines: Vec<String> = levels
        .iter()
        .enumerate()
        .map(|(i, l)| river("YY-H01", &format!("{:02}:{:02}", i / 6, i % 6 * 10), *l))
        .collect();
    let out = run_with(&river_defs(), Config::default(), &lines);
    assert_eq!(
        changes(&out, "水位预警"),
        ["00:10 none→blue raise", "00:20 blue→yellow raise"]
    );
}

#[test]
fn delayed_clear_and_step_down() {
    let mut lines = vec![
        river("YY-H01", "00:00", 181.5), // red (≥ 历史最高 181.2)
        river("YY-H01", "00:10", 181.5),
    ];
    // falls to 176: red's condition is false from 00:20; hold 1 h → step to orange at 01:20,
    // orange clears below 178.2 (false since 01:20) → yellow after another hour, …
    for m in (20..=300).step_by(10) {
        lines.push(river(
            "YY-H01",
            &format!("{:02}:{:02}", m / 60, m % 60),
            176.0,
        ));
    }
    let out = run_with(&river_defs(), Config::default(), &lines);
    assert_eq!(
        changes(&out, "水位预警"),
        [
            "00:00 none→red raise",
            "01:20 red→orange step_down",
            "02:20 orange→yellow step_down"
        ],
        "yellow holds: 176.0 is above its clear threshold 174.8"
    );
    let v = json(out.iter().find(|o| o.contains("step_down")).unwrap());
    assert_eq!(
        v["since"], "2024-07-29T00:20:00+08:00",
        "the change says since when red's condition was false"
    );
}

#[test]
fn for_n_readings_waits_for_consecutive_readings() {
    // blue needs level ≥ 174.5 for 2 readings in a row
    let lines = vec![
        river("YY-H02", "00:00", 181.6),
        river("YY-H02", "00:10", 181.0),
        river("YY-H02", "00:20", 181.6),
        river("YY-H02", "00:30", 181.7),
    ];
    let out = run_with(&river_defs(), Config::default(), &lines);
    assert_eq!(changes(&out, "水位预警"), ["00:30 none→blue raise"]);
    let v = json(
        &out.iter()
            .find(|o| o.contains("level_changed"))
            .unwrap()
            .clone(),
    );
    assert_eq!(v["since"], "2024-07-29T00:20:00+08:00");
}

#[test]
fn straight_de_escalation_by_default() {
    // the rainstorm signal has no `step down`: orange → none directly when nothing holds
    let lines = vec![rain("S", "00:00", 60.0), rain("S", "13:00", 0.0)];
    let out = run(&rainstorm(), &lines);
    assert_eq!(
        changes(&out, "暴雨预警"),
        ["00:00 none→orange raise", "13:00 orange→none clear"]
    );
}

#[test]
fn absence_and_recovery_are_driven_by_event_time() {
    let d = river_defs();
    let mut lines = vec![rain("YY-001", "00:00", 0.0)];
    // YY-001 goes silent after 00:00 while YY-002 keeps the clock moving
    for m in (10..=60).step_by(10) {
        lines.push(rain("YY-002", &format!("{:02}:{:02}", m / 60, m % 60), 0.0));
    }
    lines.push(rain("YY-001", "01:10", 0.0));
    let out = run_with(&d, Config::default(), &lines);
    let ours: Vec<serde_json::Value> = out
        .iter()
        .map(|o| json(o))
        .filter(|v| v["key"] == "YY-001")
        .collect();
    assert_eq!(ours.len(), 2, "{ours:#?}");
    assert_eq!(ours[0]["type"], "absence");
    assert_eq!(ours[0]["ts"], "2024-07-29T00:30:00+08:00");
    assert_eq!(ours[0]["last_seen"], "2024-07-29T00:00:00+08:00");
    assert_eq!(ours[0]["missing"], "30m");
    assert_eq!(ours[1]["type"], "recovered");
    assert_eq!(ours[1]["ts"], "2024-07-29T01:10:00+08:00");
    // roster stations never heard from are reported too, at stream start + 30m
    let roster_absent: Vec<String> = out
        .iter()
        .map(|o| json(o))
        .filter(|v| v["type"] == "absence" && v["last_seen"].is_null())
        .map(|v| v["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        roster_absent,
        [
            "YY-003", "YY-004", "YY-005", "YY-006", "YY-H01", "YY-H02", "YY-H03"
        ]
    );
}

#[test]
fn a_reading_exactly_at_the_deadline_is_on_time() {
    let d = defs(
        "a.yj",
        "event rain { station: string, mm: number }\nsignal 失联 { from rain key station missing 30m }",
    );
    let lines: Vec<String> = ["00:00", "00:30", "01:00", "01:31"]
        .iter()
        .map(|t| {
            format!(r#"{{"ts":"2024-07-29T{t}:00+08:00","kind":"rain","station":"A","mm":0}}"#)
        })
        .collect();
    let out = run_with(
        &d,
        Config {
            lateness_ms: 0,
            ..Config::default()
        },
        &lines,
    );
    let kinds: Vec<String> = out
        .iter()
        .map(|o| json(o)["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["absence", "recovered"], "{out:#?}");
    assert_eq!(json(&out[0])["ts"], "2024-07-29T01:30:00+08:00");
}

#[test]
fn late_events_are_reported_or_applied_by_policy() {
    let lines = vec![
        rain("L", "01:00", 30.0),
        rain("L", "00:30", 30.0),
        rain("L", "01:10", 0.0),
    ];
    let out = run_with(&rainstorm(), Config::default(), &lines);
    assert_eq!(json(&out[0])["type"], "late");
    assert_eq!(json(&out[0])["applied"], false);
    assert!(
        changes(&out, "暴雨预警").is_empty(),
        "the late 30 mm is left out"
    );
    let out = run_with(
        &rainstorm(),
        Config {
            late: LatePolicy::Apply,
            ..Config::default()
        },
        &lines,
    );
    assert_eq!(json(&out[0])["applied"], true);
    assert_eq!(
        changes(&out, "暴雨预警"),
        ["01:00 none→orange raise"],
        "applied at the key's current time"
    );
}

#[test]
fn duplicates_by_id_and_by_kind_key_time() {
    let with_id = |id: &str, t: &str, mm: f64| {
        format!(
            r#"{{"id":"{id}","ts":"2024-07-29T{t}:00+08:00","kind":"rain","station":"D","town":"x","mm":{mm}}}"#
        )
    };
    let lines = [
        with_id("a", "00:00", 30.0),
        with_id("a", "00:00", 30.0),
        with_id("b", "00:10", 19.0),
    ];
    let defs = rainstorm();
    let mut engine = defs.engine().unwrap();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        engine.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    engine.flush(&mut out);
    assert!(
        out.is_empty(),
        "30 + 19 < 50: the duplicate was not counted"
    );
    assert_eq!(engine.stats().duplicates, 1);
    // without ids, only when asked to
    let plain = vec![rain("D", "00:00", 30.0), rain("D", "00:00", 30.0)];
    assert_eq!(
        run_with(&defs, Config::default(), &plain).len(),
        1,
        "both count: 60 mm"
    );
    let cfg = Config {
        dedupe_kind_key_ts: true,
        ..Config::default()
    };
    assert!(run_with(&defs, cfg, &plain).is_empty());
}

#[test]
fn far_future_timestamps_are_rejected_by_the_guard() {
    let defs = rainstorm();
    let mut engine = defs.engine().unwrap();
    let mut out = Vec::new();
    engine
        .push_line(&rain("F", "00:00", 1.0), 1, &mut out)
        .unwrap();
    engine
        .push_line(&rain("G", "00:00", 1.0), 2, &mut out)
        .unwrap();
    let far = r#"{"ts":"2024-08-29T00:00:00+08:00","kind":"rain","station":"F","town":"x","mm":1}"#;
    let err = engine.push_line(far, 3, &mut out).unwrap_err().to_string();
    assert!(
        err.starts_with("clock_suspect: F sent 2024-08-29T00:00:00+08:00, more than 1d ahead of the stream's clock 2024-07-29T00:00:00+08:00"),
        "{err}"
    );
    // a stream with one source is its own authority: a gap (an outage) is no error
    let mut sole = defs.engine().unwrap();
    sole.push_line(&rain("F", "00:00", 1.0), 1, &mut out)
        .unwrap();
    sole.push_line(far, 2, &mut out).unwrap();
    // the wall clock, when given, refuses what no sensor can have measured yet
    let mut walled = defs.engine().unwrap();
    walled.set_wall_time(1_722_211_200_000); // 2024-07-29T08:00+08:00
    let err = walled.push_line(far, 1, &mut out).unwrap_err().to_string();
    assert!(err.contains("ahead of the wall clock"), "{err}");
    let mut open = defs
        .engine_with(Config {
            max_ahead_ms: None,
            ..Config::default()
        })
        .unwrap();
    open.push_line(&rain("F", "00:00", 1.0), 1, &mut out)
        .unwrap();
    open.push_line(far, 2, &mut out).unwrap();
}

#[test]
fn non_finite_numbers_and_offsetless_times_are_rejected() {
    let defs = rainstorm();
    let mut engine = defs.engine().unwrap();
    let mut out = Vec::new();
    let e = engine
        .push_line(r#"{"ts":"2024-07-29T00:00:00+08:00","kind":"rain","station":"N","town":"x","mm":1e999}"#, 1, &mut out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("field `mm`: number out of range"), "{e}");
    let e = engine
        .push_line(
            r#"{"ts":"2024-07-29T00:00:00","kind":"rain","station":"N","town":"x","mm":1}"#,
            2,
            &mut out,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("no UTC offset"), "{e}");
    assert_eq!(engine.stats().accepted, 0);
}

#[test]
fn more_window_functions() {
    let d = defs(
        "w.yj",
        r#"event disp { site: string, mm: number }
        signal 位移 {
          from disp
          key site
          let 日累计 = sum(mm, every 1d)
          let 速率 = rate(mm, 2h)
          let 变化 = delta(mm, 2h)
          let 首 = first(mm, 2h)
          let 末 = last(mm, 2h)
          let 大 = count_if(mm > 10, 2h)
          level red when 速率 >= 10 and 大 >= 2
        }"#,
    );
    let line = |t: &str, mm: f64| {
        format!(r#"{{"ts":"2024-07-29T{t}:00+08:00","kind":"disp","site":"P1","mm":{mm}}}"#)
    };
    let lines = vec![line("22:00", 4.0), line("23:00", 11.0), line("23:30", 22.0)];
    let out = run(&d, &lines);
    assert_eq!(out.len(), 1, "{out:#?}");
    let v = json(&out[0]);
    assert_eq!(v["values"]["速率"], 12.0, "(22 - 4) mm over 1.5 h");
    assert_eq!(v["values"]["变化"], 18.0);
    assert_eq!(v["values"]["首"], 4.0);
    assert_eq!(v["values"]["末"], 22.0);
    assert_eq!(v["values"]["大"], 2.0);
    assert_eq!(v["values"]["日累计"], 37.0, "one local day so far");
    // the next local day starts a new bucket at 00:00 +08:00
    let next = vec![
        line("23:30", 22.0),
        format!(r#"{{"ts":"2024-07-30T00:10:00+08:00","kind":"disp","site":"P1","mm":1}}"#),
    ];
    let d2 = defs(
        "w2.yj",
        "event disp { site: string, mm: number }\nsignal s { from disp key site let t = sum(mm, every 1d) level red when t < 5 }",
    );
    let out = run(&d2, &next);
    assert_eq!(changes(&out, "s"), ["00:10 none→red raise"]);
}

#[test]
fn idle_keys_are_evicted_without_changing_active_keys() {
    let defs = rainstorm();
    let mut lines = vec![rain("IDLE", "00:00", 10.0)];
    for m in (0..=1380).step_by(10) {
        lines.push(rain(
            "BUSY",
            &format!("{:02}:{:02}", m / 60, m % 60),
            if m == 300 { 60.0 } else { 0.5 },
        ));
    }
    let plain = run_with(&defs, Config::default(), &lines);
    let ttl = Config {
        idle_ttl_ms: Some(13 * 3_600_000),
        ..Config::default()
    };
    let mut engine = defs.engine_with(ttl).unwrap();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        engine.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    engine.flush(&mut out);
    assert_eq!(out.iter().map(Output::to_json).collect::<Vec<_>>(), plain);
    assert_eq!(engine.stats().evicted, 1);
    assert_eq!(engine.key_count(), 1);
}

// ---- snapshots ----------------------------------------------------------

#[test]
fn corrupt_or_foreign_state_is_refused_and_changes_nothing() {
    let defs = rainstorm();
    let mut engine = defs.engine().unwrap();
    let mut out = Vec::new();
    engine
        .push_line(&rain("S", "00:00", 40.0), 1, &mut out)
        .unwrap();
    let before = engine.snapshot();
    let e = engine.restore(b"{not json").unwrap_err().to_string();
    assert!(e.contains("not a valid yingji state file"), "{e}");
    let e = engine
        .restore(br#"{"format":"something-else","version":1}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a valid yingji state file"), "{e}");
    let e = engine
        .restore(br#"{"format":"yingji-state","version":99}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("version 99") && e.contains("refusing"), "{e}");
    let truncated = &before[..before.len() / 2];
    assert!(engine.restore(truncated).is_err());
    assert_eq!(
        engine.snapshot(),
        before,
        "a refused restore changes nothing"
    );
}

#[test]
fn changed_definitions_keep_unchanged_signals_and_report_resets() {
    let a = defs(
        "a.yj",
        "event rain { station: string, town: string, mm: number }\n\
         signal 甲 { from rain key station let r = sum(mm, 3h) level red when r >= 50 }\n\
         signal 乙 { from rain key station let r = sum(mm, 3h) level red when r >= 50 }",
    );
    let b = defs(
        "b.yj",
        "event rain { station: string, town: string, mm: number }\n\n\
         signal 甲 { from rain key station let r = sum(mm, 3h) level red when r >= 50 }\n\
         signal 乙 { from rain key station let r = sum(mm, 3h) level red when r >= 40 }",
    );
    // no lateness: the 45 mm is applied before the snapshot, not held in the buffer
    let now = Config {
        lateness_ms: 0,
        ..Config::default()
    };
    let mut e1 = a.engine_with(now.clone()).unwrap();
    let mut out = Vec::new();
    e1.push_line(&rain("K", "00:00", 45.0), 1, &mut out)
        .unwrap();
    // the instant 00:00 is complete once the clock has passed it
    e1.advance_to(
        yingji::Timestamp::parse("2024-07-29T00:01:00+08:00").unwrap(),
        &mut out,
    );
    let snap = e1.snapshot();
    let mut e2 = b.engine_with(now).unwrap();
    let report = e2.restore(&snap).unwrap();
    assert_eq!(report.kept, ["甲"]);
    assert_eq!(report.reset, ["乙"]);
    e2.push_line(&rain("K", "00:10", 6.0), 2, &mut out).unwrap();
    e2.flush(&mut out);
    let fired: Vec<String> = out
        .iter()
        .map(|o| json(&o.to_json())["signal"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fired, ["甲"], "甲 kept its 45 mm; 乙 restarted from 6 mm");
}

fn stream_strategy() -> impl Strategy<Value = Vec<(u8, i64, u32)>> {
    // (station, minutes since start, tenths of mm)
    proptest::collection::vec((0u8..4, 0i64..600, 0u32..400), 1..120)
}

fn lines_of(events: &[(u8, i64, u32)]) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = events
        .iter()
        .map(|&(s, m, tenths)| {
            (
                m * 60_000,
                format!(
                    r#"{{"ts":"2024-07-29T{:02}:{:02}:00+08:00","kind":"rain","station":"S{s}","town":"x","mm":{}}}"#,
                    m / 60,
                    m % 60,
                    f64::from(tenths) / 10.0
                ),
            )
        })
        .collect();
    v.sort_by_key(|(t, _)| *t);
    v
}

fn outputs(engine: &mut Engine, lines: &[String], out: &mut Vec<Output>) {
    for (i, l) in lines.iter().enumerate() {
        engine.push_line(l, i as u64 + 1, out).unwrap();
    }
}

/// Outputs without the input positions (which differ when lines are reordered).
fn without_positions(out: &[Output]) -> Vec<serde_json::Value> {
    out.iter()
        .map(|o| {
            let mut v = json(&o.to_json());
            v.as_object_mut().unwrap().remove("event");
            v
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// (1) Shuffling within the lateness bound does not change outputs.
    #[test]
    fn shuffling_within_lateness_changes_nothing(events in stream_strategy(), jitter in proptest::collection::vec(0i64..300_000, 120)) {
        let defs = rainstorm();
        let sorted = lines_of(&events);
        // arrival order: ts + jitter with jitter < lateness (5 min)
        let mut shuffled: Vec<(i64, usize, String)> = sorted
            .iter()
            .enumerate()
            .map(|(i, (t, l))| (t + jitter[i % jitter.len()], i, l.clone()))
            .collect();
        shuffled.sort();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut e1 = defs.engine().unwrap();
        outputs(&mut e1, &sorted.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(), &mut a);
        e1.flush(&mut a);
        let mut e2 = defs.engine().unwrap();
        outputs(&mut e2, &shuffled.iter().map(|(_, _, l)| l.clone()).collect::<Vec<_>>(), &mut b);
        e2.flush(&mut b);
        prop_assert_eq!(without_positions(&a), without_positions(&b));
        prop_assert_eq!(e2.stats().late, 0);
    }

    /// (2) Saving and restoring at any cut point gives byte-identical outputs.
    #[test]
    fn save_and_restore_at_any_point_changes_nothing(events in stream_strategy(), cut in 0usize..120, jitter in proptest::collection::vec(0i64..300_000, 120)) {
        let defs = river_defs();
        let sorted = lines_of(&events);
        let mut arrival: Vec<(i64, usize, String)> = sorted
            .iter()
            .enumerate()
            .map(|(i, (t, l))| (t + jitter[i % jitter.len()], i, l.clone()))
            .collect();
        arrival.sort();
        let lines: Vec<String> = arrival.into_iter().map(|(_, _, l)| l).collect();
        let cut = cut.min(lines.len());
        let mut whole = Vec::new();
        let mut e = defs.engine().unwrap();
        outputs(&mut e, &lines, &mut whole);
        e.flush(&mut whole);

        let mut split = Vec::new();
        let mut first = defs.engine().unwrap();
        for (i, l) in lines[..cut].iter().enumerate() {
            first.push_line(l, i as u64 + 1, &mut split).unwrap();
        }
        let snap = first.snapshot();
        drop(first);
        let mut second = defs.engine().unwrap();
        let report = second.restore(&snap).unwrap();
        prop_assert!(report.reset.is_empty());
        for (i, l) in lines[cut..].iter().enumerate() {
            second.push_line(l, (cut + i) as u64 + 1, &mut split).unwrap();
        }
        second.flush(&mut split);
        let a: Vec<String> = whole.iter().map(Output::to_json).collect();
        let b: Vec<String> = split.iter().map(Output::to_json).collect();
        prop_assert_eq!(a, b);
    }

    /// (3) Duplicates (same id) never change outputs.
    #[test]
    fn duplicates_never_change_outputs(events in stream_strategy(), dups in proptest::collection::vec((0usize..120, 0usize..3), 0..40)) {
        let defs = rainstorm();
        let sorted = lines_of(&events);
        let with_ids: Vec<String> = sorted
            .iter()
            .enumerate()
            .map(|(i, (_, l))| l.replacen('{', &format!(r#"{{"id":"e{i}","#), 1))
            .collect();
        // each duplicate arrives a few lines after its original
        let mut noisy: Vec<String> = Vec::new();
        let mut pending: Vec<(usize, String)> = Vec::new();
        for (i, l) in with_ids.iter().enumerate() {
            noisy.push(l.clone());
            for &(d, delay) in &dups {
                if d % with_ids.len() == i {
                    pending.push((i + delay, l.clone()));
                }
            }
            let (due, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(at, _)| *at <= i);
            noisy.extend(due.into_iter().map(|(_, l)| l));
            pending = later;
        }
        noisy.extend(pending.into_iter().map(|(_, l)| l));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut e1 = defs.engine().unwrap();
        outputs(&mut e1, &with_ids, &mut a);
        e1.flush(&mut a);
        let mut e2 = defs.engine().unwrap();
        outputs(&mut e2, &noisy, &mut b);
        e2.flush(&mut b);
        prop_assert_eq!(without_positions(&a), without_positions(&b));
        prop_assert_eq!(e2.stats().duplicates as usize, noisy.len() - with_ids.len());
    }
}

#[test]
fn tokio_stream_merges_sources_with_backpressure() {
    use futures::StreamExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let defs = rainstorm();
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
            .unwrap();
    // the rain gauges only; merged feeds drift apart in event time (the 故陵镇 gauge
    // is silent for two hours), so both runs allow a lateness that covers the drift
    let config = Config {
        lateness_ms: 6 * 3_600_000,
        ..Config::default()
    };
    let lines: Vec<String> = sample
        .lines()
        .filter(|l| l.contains(r#""kind":"rain""#))
        .map(str::to_string)
        .collect();
    let n_lines = lines.len();
    let expected = without_positions(&{
        let mut e = defs.engine_with(config.clone()).unwrap();
        let mut out = Vec::new();
        outputs(&mut e, &lines, &mut out);
        e.flush(&mut out);
        out
    });
    // two feeds (odd and even stations), merged; a channel of 2 forces backpressure
    type Numbered = Vec<(usize, String)>;
    let (odd, even): (Numbered, Numbered) =
        lines.iter().cloned().enumerate().partition(|(_, l)| {
            l.contains("YY-001") || l.contains("YY-003") || l.contains("YY-005")
        });
    let feed = |v: Vec<(usize, String)>| {
        futures::stream::iter(v.into_iter().map(|(i, l)| (i as u64 + 1, l.into_bytes()))).boxed()
    };
    let got = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(2);
        let task = tokio::spawn(yingji::stream::run(
            defs.engine_with(config.clone()).unwrap(),
            vec![feed(odd), feed(even)],
            tx,
            yingji::stream::Options::default(),
        ));
        let mut got = Vec::new();
        while let Some(item) = rx.recv().await {
            match item {
                yingji::stream::Item::Output(o) => got.push(o),
                yingji::stream::Item::Rejected { reason, .. } => panic!("rejected: {reason}"),
            }
        }
        let engine = task.await.unwrap();
        assert_eq!(engine.stats().accepted as usize, n_lines);
        got
    });
    assert_eq!(without_positions(&got), expected);
}

/// Past 1,024 remembered ids the duplicate filter forgets what can no
/// longer arrive in time (by a time-ordered queue, not a sweep per event):
/// a resend of an old id is then late, a resend of a recent one a
/// duplicate; a restore in the middle changes neither outputs nor counts.
#[test]
fn the_duplicate_filter_forgets_by_time_and_survives_a_restore() {
    let defs = Definitions::from_str(
        "t.yj",
        "event rain { station: string\n mm: number }\nsignal 暴雨 { from rain\n key station\n level red when mm >= 50 }\n",
    )
    .unwrap();
    let mut lines = Vec::new();
    for i in 0..3000i64 {
        let (m, s) = (i / 60, i % 60);
        lines.push(format!(
            r#"{{"id":"e{i}","ts":"2024-07-28T{:02}:{m_:02}:{s:02}+08:00","kind":"rain","station":"S{}","mm":{}}}"#,
            m / 60,
            i % 7,
            (i * 13) % 90,
            m_ = m % 60
        ));
        if i % 100 == 99 {
            // a resend of an id long past (late) and of the last one (a duplicate)
            lines.push(lines[(i as usize) / 3].clone());
            lines.push(lines[lines.len() - 2].clone());
        }
    }
    let run = |cut: Option<usize>| {
        let mut e = defs.engine().unwrap();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if cut == Some(i) {
                let snap = e.snapshot();
                e = defs.engine().unwrap();
                e.restore(&snap).unwrap();
            }
            let _ = e.push_line(l, i as u64 + 1, &mut out);
        }
        e.flush(&mut out);
        let s = e.stats();
        (
            out.iter().map(Output::to_json).collect::<Vec<_>>(),
            s.duplicates,
            s.late,
        )
    };
    let whole = run(None);
    // each resend of the last line is a duplicate; a resend of an old id is a
    // duplicate while the filter holds at most 1,024 ids, late after that
    assert_eq!(whole.1 + whole.2, 60, "{whole:?}");
    assert!(
        whole.1 >= 30 && whole.2 >= 15,
        "duplicates {}, late {}",
        whole.1,
        whole.2
    );
    for cut in [500, 1500, 2990] {
        assert_eq!(run(Some(cut)), whole, "restored before line {cut}");
    }
}

proptest! {
    /// Absence timers against a plain model: per key, its last reading; an
    /// absence at last + `missing` unless a reading came at or before then;
    /// a recovery at the next reading; roster keys expected from the first
    /// event; at one instant readings before timers, timers in key order.
    /// (The engine's timers are lazy: a reading does not move them.)
    #[test]
    fn absence_timers_match_a_plain_model(
        evs in proptest::collection::vec((prop_oneof![Just(60_000i64), Just(600_000), Just(1_740_000), Just(1_800_000), Just(1_860_000), Just(7_200_000)], 0usize..4), 1..60),
        cut in proptest::option::of(0usize..60),
    ) {
        let defs = Definitions::from_str(
            "t.yj",
            "event rain { station: string\n mm: number }\nsignal 失联 { from rain\n key station\n missing 30m\n roster [\"A\", \"B\", \"C\"] }\n",
        ).unwrap();
        const KEYS: [&str; 4] = ["A", "B", "C", "D"];
        let t0 = 1_722_096_000_000i64; // 2024-07-28T00:00:00+08:00
        let missing = 1_800_000i64;
        let mut t = t0;
        let mut events = Vec::new();
        for (dt, k) in &evs {
            t += dt;
            events.push((t, KEYS[*k]));
        }
        // the model
        let first = events[0].0;
        let mut last: std::collections::BTreeMap<&str, (i64, bool, bool)> = ["A", "B", "C"]
            .iter()
            .map(|k| (*k, (first, false, false))) // (last, seen, absent)
            .collect();
        let mut want: Vec<String> = Vec::new();
        let fire_until = |upto: i64, last: &mut std::collections::BTreeMap<&str, (i64, bool, bool)>, want: &mut Vec<String>| {
            loop {
                // the earliest due timer (deadline, key)
                let due = last
                    .iter()
                    .filter(|(_, (l, _, a))| !a && l + missing <= upto)
                    .map(|(k, (l, _, _))| (l + missing, *k))
                    .min();
                let Some((d, k)) = due else { break };
                if let Some(e) = last.get_mut(k) {
                    e.2 = true;
                }
                want.push(format!("absence {k} {d}"));
            }
        };
        for &(ts, k) in &events {
            // timers due strictly before this reading's instant
            fire_until(ts - 1, &mut last, &mut want);
            let e = last.entry(k).or_insert((ts, false, false));
            if e.2 {
                want.push(format!("recovered {k} {ts}"));
            }
            *e = (ts, true, false);
            fire_until(ts, &mut last, &mut want);
        }
        // the engine, maybe restored in the middle
        let mut engine = defs.engine().unwrap();
        let mut out = Vec::new();
        for (i, (ts, k)) in events.iter().enumerate() {
            if cut == Some(i) {
                let snap = engine.snapshot();
                engine = defs.engine().unwrap();
                engine.restore(&snap).unwrap();
            }
            let secs = (ts - t0) / 1000;
            let line = format!(
                r#"{{"ts":"2024-07-28T00:00:00+08:00","kind":"rain","station":"{k}","mm":1}}"#
            )
            .replace("2024-07-28T00:00:00+08:00", &yingji::Timestamp { ms: t0 + secs * 1000, offset_min: 480 }.to_string());
            engine.push_line(&line, i as u64 + 1, &mut out).unwrap();
        }
        engine.flush(&mut out);
        let got: Vec<String> = out
            .iter()
            .filter_map(|o| match o {
                Output::Absence(a) => Some(format!("absence {} {}", a.key, a.ts.ms)),
                Output::Recovered(r) => Some(format!("recovered {} {}", r.key, r.ts.ms)),
                _ => None,
            })
            .collect();
        prop_assert_eq!(got, want);
    }
}
