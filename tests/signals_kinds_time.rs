//! Signals reading several kinds (`rain.mm`, `river_level.level_m`), the
//! local calendar functions (`month()`, `hour()`, `day_of_year()`,
//! `weekday()`, `day()`) and `days_since(cond)`: scenarios with exact
//! outputs on both evaluators, a split run through a snapshot, and the
//! diagnostics for bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use serde_json::Value as J;
use yingji::{Definitions, Output};

const KINDS: &str = r#"
event rain { station: string, town: string, mm: number }
event river_level { station: string, town: string, level_m: number }
"#;

/// Runs `lines` through `defs` on the compiled path and on the reference
/// evaluator; both must give the same outputs. Returns them as JSON.
fn run(defs: &Definitions, lines: &[&str]) -> Vec<J> {
    let mut outs = Vec::new();
    for reference in [false, true] {
        let mut e = defs.engine().unwrap();
        if reference {
            e = e.reference_evaluator();
        } else {
            assert!(
                e.compiled_signals().iter().all(|(_, s)| s.is_ok()),
                "every signal compiles: {:?}",
                e.compiled_signals()
            );
        }
        let mut out: Vec<Output> = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            e.push_line(l, i as u64 + 1, &mut out)
                .unwrap_or_else(|err| panic!("line {}: {err}", i + 1));
        }
        e.flush(&mut out);
        outs.push(out.iter().map(Output::to_json).collect::<Vec<_>>());
    }
    assert_eq!(outs[0], outs[1], "compiled and reference differ");
    outs[0]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `ts key from→to` and the named values of each level change.
fn changes(out: &[J], values: &[&str]) -> Vec<String> {
    out.iter()
        .filter(|o| o["type"] == "level_changed")
        .map(|o| {
            let mut s = format!(
                "{} {} {}→{}",
                o["ts"].as_str().unwrap(),
                o["key"].as_str().unwrap(),
                o["from"].as_str().unwrap(),
                o["to"].as_str().unwrap()
            );
            for v in values {
                s.push_str(&format!(" {v}={}", o["values"][v]));
            }
            s
        })
        .collect()
}

const FLOOD_SEASON: &str = r#"
# 汛期雨水情: a township's rain and its river gauge together, in the flood season only
signal 汛期雨水情 {
  from rain, river_level
  key town
  let 汛期 = month() >= 5 and month() <= 9
  let r3 = sum(rain.mm, 3h)
  let 水位 = last(river_level.level_m, 6h)
  level orange when 汛期 and r3 >= 30 and 水位 >= 182
  level yellow when 汛期 and (r3 >= 30 or 水位 >= 182)
}
"#;

#[test]
fn a_signal_reads_two_kinds_each_window_only_its_own_kind() {
    let defs = Definitions::from_str("t.yj", &format!("{KINDS}{FLOOD_SEASON}")).unwrap();
    let out = run(
        &defs,
        &[
            // April: out of season, nothing fires whatever the water does
            r#"{"ts":"2024-04-30T10:00:00+08:00","kind":"rain","station":"YY-004","town":"江口镇","mm":40}"#,
            r#"{"ts":"2024-04-30T10:30:00+08:00","kind":"river_level","station":"YY-H02","town":"江口镇","level_m":183}"#,
            // 2024-04-30T16:30Z is 1 May 00:30 in Yunyang: the season has begun
            r#"{"ts":"2024-04-30T16:30:00Z","kind":"river_level","station":"YY-H02","town":"江口镇","level_m":182.5}"#,
            // a river reading never enters the rain window: r3 is rain only
            // (the April 40 mm is long out of the 3 h window)
            r#"{"ts":"2024-05-01T01:00:00+08:00","kind":"rain","station":"YY-004","town":"江口镇","mm":31}"#,
            r#"{"ts":"2024-05-01T02:00:00+08:00","kind":"river_level","station":"YY-H02","town":"江口镇","level_m":181}"#,
            r#"{"ts":"2024-05-01T05:00:00+08:00","kind":"rain","station":"YY-004","town":"江口镇","mm":0}"#,
        ],
    );
    assert_eq!(
        changes(&out, &["汛期", "r3", "水位"]),
        [
            "2024-04-30T16:30:00Z 江口镇 none→yellow 汛期=true r3=0 水位=182.5",
            "2024-05-01T01:00:00+08:00 江口镇 yellow→orange 汛期=true r3=31 水位=182.5",
            "2024-05-01T02:00:00+08:00 江口镇 orange→yellow 汛期=true r3=31 水位=181",
            "2024-05-01T05:00:00+08:00 江口镇 yellow→none 汛期=true r3=0 水位=181",
        ]
    );
}

#[test]
fn calendar_functions_read_local_time_at_utc_plus_8() {
    let defs = Definitions::from_str(
        "t.yj",
        &format!(
            "{KINDS}{}",
            r#"
signal 日历 {
  from rain
  key station
  let 月 = month()
  let 日 = day()
  let 时 = hour()
  let 年内日 = day_of_year()
  let 星期 = weekday()
  level yellow when mm >= 1
}
"#
        ),
    )
    .unwrap();
    let line = |ts: &str, mm: u32| {
        format!(r#"{{"ts":"{ts}","kind":"rain","station":"S","town":"T","mm":{mm}}}"#)
    };
    let lines = [
        // Monday 29 July 2024, 03:00 in Yunyang
        line("2024-07-29T03:00:00+08:00", 1),
        line("2024-07-29T04:00:00+08:00", 0),
        // 31 Dec 2024 (a leap year: day 366), 23:00 local, written in UTC
        line("2024-12-31T15:00:00Z", 1),
        line("2024-12-31T16:00:00Z", 0),
        // 1 Jan 2025 00:30 local, written at -05:00: Wednesday, day 1
        line("2024-12-31T11:30:00-05:00", 1),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = run(&defs, &lines);
    assert_eq!(
        changes(&out, &["月", "日", "时", "年内日", "星期"]),
        [
            "2024-07-29T03:00:00+08:00 S none→yellow 月=7 日=29 时=3 年内日=211 星期=1",
            "2024-07-29T04:00:00+08:00 S yellow→none 月=7 日=29 时=4 年内日=211 星期=1",
            "2024-12-31T15:00:00Z S none→yellow 月=12 日=31 时=23 年内日=366 星期=2",
            "2024-12-31T16:00:00Z S yellow→none 月=1 日=1 时=0 年内日=1 星期=3",
            "2024-12-31T11:30:00-05:00 S none→yellow 月=1 日=1 时=0 年内日=1 星期=3",
        ]
    );
}

const DROUGHT: &str = r#"
# 久旱: days since a gauge last measured rain (null until it ever has)
signal 久旱 {
  from rain
  key station
  let 无雨日数 = days_since(mm >= 0.1)
  level orange when 无雨日数 >= 20
  level yellow when 无雨日数 >= 10
}
"#;

fn drought_lines() -> Vec<String> {
    let line = |day: &str, mm: f64| {
        format!(
            r#"{{"ts":"2024-{day}T08:00:00+08:00","kind":"rain","station":"YY-001","town":"T","mm":{mm}}}"#
        )
    };
    vec![
        // never rained yet: null, no level however long it stays dry
        line("06-01", 0.0),
        line("06-20", 0.0),
        line("06-21", 0.5),
        line("06-30", 0.0),
        line("07-01", 0.0),
        line("07-11", 0.0),
        line("07-12", 2.0),
    ]
}

#[test]
fn days_since_counts_days_from_the_last_time_the_condition_held() {
    let defs = Definitions::from_str("t.yj", &format!("{KINDS}{DROUGHT}")).unwrap();
    let lines = drought_lines();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = run(&defs, &lines);
    assert_eq!(
        changes(&out, &["无雨日数"]),
        [
            "2024-07-01T08:00:00+08:00 YY-001 none→yellow 无雨日数=10",
            "2024-07-11T08:00:00+08:00 YY-001 yellow→orange 无雨日数=20",
            "2024-07-12T08:00:00+08:00 YY-001 orange→none 无雨日数=0",
        ]
    );
}

#[test]
fn days_since_survives_a_snapshot_and_a_restore() {
    let defs = Definitions::from_str("t.yj", &format!("{KINDS}{DROUGHT}")).unwrap();
    let lines = drought_lines();
    let whole = run(&defs, &lines.iter().map(String::as_str).collect::<Vec<_>>());
    for reference in [false, true] {
        for cut in 1..lines.len() {
            let mk = || {
                let e = defs.engine().unwrap();
                if reference {
                    e.reference_evaluator()
                } else {
                    e
                }
            };
            let mut a = mk();
            let mut out: Vec<Output> = Vec::new();
            for (i, l) in lines.iter().take(cut).enumerate() {
                a.push_line(l, i as u64 + 1, &mut out).unwrap();
            }
            let snap = a.snapshot();
            let mut b = mk();
            b.restore(&snap).unwrap();
            for (i, l) in lines.iter().enumerate().skip(cut) {
                b.push_line(l, i as u64 + 1, &mut out).unwrap();
            }
            b.flush(&mut out);
            let got: Vec<J> = out
                .iter()
                .map(|o| serde_json::from_str(&o.to_json()).unwrap())
                .collect();
            let strip = |v: &[J]| -> Vec<String> { changes(v, &["无雨日数"]) };
            assert_eq!(
                strip(&got),
                strip(&whole),
                "cut {cut}, reference {reference}"
            );
        }
    }
}

#[test]
fn a_restored_mark_after_the_keys_last_reading_is_refused() {
    let defs = Definitions::from_str("t.yj", &format!("{KINDS}{DROUGHT}")).unwrap();
    let mut e = defs.engine().unwrap();
    let mut out = Vec::new();
    for (i, l) in drought_lines().iter().take(3).enumerate() {
        e.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    let snap = String::from_utf8(e.snapshot()).unwrap();
    let mut doc: J = serde_json::from_str(&snap).unwrap();
    // move the mark a day past the key's last reading, and reseal
    let key = &mut doc["signals"]["signals"][0]["keys"][0][1];
    let last = key["last_ms"].as_i64().unwrap();
    key["marks"][0] = J::from(last + 86_400_000);
    let edited = yingji::unstable::engine::state::reseal(doc.to_string().as_bytes()).unwrap();
    let mut fresh = defs.engine().unwrap();
    let err = fresh.restore(&edited).unwrap_err().to_string();
    assert!(err.contains("days_since mark"), "{err}");
}

fn diagnose(text: &str) -> String {
    match Definitions::from_str("bad.yj", &format!("{KINDS}{text}")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn an_unqualified_field_of_one_kind_only_asks_to_qualify_it() {
    let d = diagnose(
        "signal s {\n  from rain, river_level\n  key station\n  let r3 = sum(mm, 3h)\n  level yellow when r3 >= 1\n}\n",
    );
    assert!(
        d.contains("error[E0101]: `mm` is not a field of every kind this signal reads"),
        "{d}"
    );
    assert!(d.contains("bad.yj:7:16"), "{d}");
    assert!(d.contains("declared by rain only"), "{d}");
    assert!(d.contains("qualify it with its kind: `rain.mm`"), "{d}");
}

#[test]
fn a_field_declared_with_two_types_must_be_qualified() {
    let d = match Definitions::from_str(
        "bad.yj",
        "event a { k: string, v: number }\nevent b { k: string, v: string }\nsignal s {\n  from a, b\n  key k\n  level yellow when v >= 1\n}\n",
    ) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(d.contains("`v` is not a field of every kind"), "{d}");
    assert!(d.contains("bad.yj:6:21"), "{d}");
    assert!(
        d.contains("declared with different types by a and b"),
        "{d}"
    );
}

#[test]
fn a_kind_not_in_from_and_an_unknown_kind_are_errors_at_their_place() {
    let d = diagnose(
        "event quake { station: string, mag: number }\nsignal s {\n  from rain\n  key station\n  let a = quake.mag\n  let b = lake.level_m\n  let c = rain.depth\n  level yellow when rain.mm >= 1\n}\n",
    );
    assert!(
        d.contains("error[E0102]: this signal does not read event kind `quake`"),
        "{d}"
    );
    assert!(d.contains("bad.yj:8:11"), "{d}");
    assert!(d.contains("add it: `from rain, quake`"), "{d}");
    assert!(
        d.contains("error[E0102]: no event kind or table `lake`"),
        "{d}"
    );
    assert!(d.contains("bad.yj:9:11"), "{d}");
    assert!(
        d.contains("error[E0101]: event kind `rain` has no field `depth`"),
        "{d}"
    );
    assert!(d.contains("bad.yj:10:16"), "{d}");
}

#[test]
fn calendar_and_days_since_calls_are_checked() {
    let d = diagnose(
        "signal s {\n  from rain\n  key station\n  where days_since(mm > 0) > 1\n  let a = month(1)\n  let b = days_since(mm)\n  let c = days_since()\n  level yellow when hour() >= 20 and a >= 1\n}\n",
    );
    assert!(d.contains("`days_since` cannot be used here"), "{d}");
    assert!(d.contains("bad.yj:7:9"), "{d}");
    assert!(d.contains("`month()` takes no arguments, got 1"), "{d}");
    assert!(d.contains("bad.yj:8:11"), "{d}");
    assert!(d.contains("bad.yj:9:22"), "{d}");
    assert!(d.contains("`days_since` takes 1 argument, got 0"), "{d}");
    assert!(d.contains("bad.yj:10:11"), "{d}");
}

#[test]
fn a_script_cannot_take_a_built_in_calendar_name() {
    let d = diagnose(
        "fn month(x: number) -> number in rhai { x }\nsignal s {\n  from rain\n  key station\n  level yellow when mm >= 1\n}\n",
    );
    assert!(d.contains("`month` is a built-in function"), "{d}");
}

#[test]
fn a_signal_may_read_the_calendar_at_another_offset() {
    let text = |tz: &str| {
        format!(
            "{KINDS}signal 日历 {{\n  from rain\n  key station\n  {tz}\n  let 月 = month()\n  let 时 = hour()\n  level yellow when mm >= 1\n}}\n"
        )
    };
    let lines = [r#"{"ts":"2024-04-30T16:30:00Z","kind":"rain","station":"S","town":"T","mm":1}"#];
    let got = |tz: &str| {
        let defs = Definitions::from_str("t.yj", &text(tz)).unwrap();
        changes(&run(&defs, &lines), &["月", "时"])
    };
    assert_eq!(got(""), ["2024-04-30T16:30:00Z S none→yellow 月=5 时=0"]);
    assert_eq!(
        got("timezone +08:00"),
        ["2024-04-30T16:30:00Z S none→yellow 月=5 时=0"]
    );
    assert_eq!(
        got("timezone UTC+0"),
        ["2024-04-30T16:30:00Z S none→yellow 月=4 时=16"]
    );
    assert_eq!(
        got("timezone -05:30"),
        ["2024-04-30T16:30:00Z S none→yellow 月=4 时=11"]
    );
    let d = diagnose(
        "signal s {\n  from rain\n  key station\n  timezone +15:00\n  level yellow when mm >= 1\n}\n",
    );
    assert!(d.contains("`+15:00` is not an offset from UTC"), "{d}");
    assert!(d.contains("bad.yj:7:12"), "{d}");
    let d = diagnose(
        "signal s {\n  from rain\n  key station\n  timezone +08:00\n  timezone +09:00\n  level yellow when mm >= 1\n}\n",
    );
    assert!(
        d.contains("`timezone` is given twice in this signal"),
        "{d}"
    );
    assert!(d.contains("bad.yj:8:3"), "{d}");
}
