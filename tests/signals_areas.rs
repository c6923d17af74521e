//! Aggregation over keys: `key FIELD via TABLE.COLUMN` (a member's readings
//! go to each of its areas), member aggregates (`max_of`, `count_of`,
//! `members()`, …) and `from SIGNAL` (another signal's level changes as
//! events). The bundled 隐患点+风险区 双控 (`policies/risk_areas.yj`) and
//! 流域面雨量 (`policies/areal_rainfall.yj`) with exact outputs on both
//! evaluators, and the diagnostics for bad input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use serde_json::Value as J;
use yingji::{Definitions, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn policies(files: &[&str]) -> Definitions {
    let paths: Vec<String> = files
        .iter()
        .map(|f| format!("{ROOT}/policies/{f}"))
        .collect();
    Definitions::from_paths(&paths).unwrap_or_else(|e| panic!("{}", e.rendered))
}

/// Runs `lines` on the compiled path and on the reference evaluator (same
/// outputs required); the outputs as JSON.
fn run(defs: &Definitions, lines: &[String]) -> Vec<J> {
    let mut outs = Vec::new();
    for reference in [false, true] {
        let mut e = defs.engine().unwrap();
        if reference {
            e = e.reference_evaluator();
        } else {
            assert!(
                e.compiled_signals().iter().all(|(_, s)| s.is_ok()),
                "{:?}",
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

fn changes(out: &[J], signal: &str, values: &[&str]) -> Vec<String> {
    out.iter()
        .filter(|o| o["type"] == "level_changed" && o["signal"] == signal)
        .map(|o| {
            let mut s = format!(
                "{} {} {}→{} event {}",
                &o["ts"].as_str().unwrap()[11..16],
                o["key"].as_str().unwrap(),
                o["from"].as_str().unwrap(),
                o["to"].as_str().unwrap(),
                o["event"]
            );
            for v in values {
                s.push_str(&format!(" {v}={}", o["values"][v]));
            }
            s
        })
        .collect()
}

/// A slope's cumulative displacement at `hh:00` on 20 July: the rate over
/// the last day sets 滑坡预警 (tangent angle), which 双控 aggregates.
fn disp(hour: u32, site: &str, mm: f64) -> String {
    format!(
        r#"{{"ts":"2024-07-20T{hour:02}:00:00+08:00","kind":"displacement","site":"{site}","mm":{mm}}}"#
    )
}

#[test]
fn a_risk_area_takes_the_highest_level_of_its_hazard_points() {
    let defs = policies(&["landslide.yj", "risk_areas.yj"]);
    // v0 of YY-HP01 is 1.2 mm/day: α = atan(v/1.2); YY-HP03 v0 = 1.5
    let lines = vec![
        disp(0, "YY-HP01", 0.0),
        disp(0, "YY-HP03", 0.0),
        // HP01 at 1.25 mm/day: α ≈ 46° yellow (in both of its areas)
        disp(1, "YY-HP01", 1.25 / 24.0),
        // HP03 at 10 mm/day: α ≈ 81.5° orange (长江北岸 only)
        disp(1, "YY-HP03", 10.0 / 24.0),
        // HP01 at 9 mm/day: orange; 长江北岸 has two points at orange: red
        disp(2, "YY-HP01", 9.0 / 12.0),
        // HP01 back to 1.1 mm/day over the day: blue (α ≈ 42.5°); 宝塔
        // follows it down, 长江北岸 stays orange with HP03
        disp(3, "YY-HP01", 1.1 * 3.0 / 24.0),
    ];
    let out = run(&defs, &lines);
    assert_eq!(
        changes(&out, "滑坡预警", &[]),
        [
            "01:00 YY-HP01 none→yellow event 3",
            "01:00 YY-HP03 none→orange event 4",
            "02:00 YY-HP01 yellow→orange event 5",
            "03:00 YY-HP01 orange→blue event 6",
        ]
    );
    assert_eq!(
        changes(&out, "风险区预警", &["最高", "橙色以上", "点数"]),
        [
            "01:00 宝塔风险区 none→yellow event 3 最高=2 橙色以上=0 点数=2",
            "01:00 长江北岸风险区 none→yellow event 3 最高=2 橙色以上=0 点数=2",
            "01:00 长江北岸风险区 yellow→orange event 4 最高=3 橙色以上=1 点数=2",
            "02:00 宝塔风险区 yellow→orange event 5 最高=3 橙色以上=1 点数=2",
            "02:00 长江北岸风险区 orange→red event 5 最高=3 橙色以上=2 点数=2",
            "03:00 宝塔风险区 orange→blue event 6 最高=1 橙色以上=0 点数=2",
            "03:00 长江北岸风险区 red→orange event 6 最高=3 橙色以上=1 点数=2",
        ]
    );
    // each area change comes right after the point change that caused it
    let order: Vec<String> = out
        .iter()
        .filter(|o| o["type"] == "level_changed")
        .map(|o| {
            format!(
                "{}:{}",
                o["signal"].as_str().unwrap(),
                o["key"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        order[..3],
        [
            "滑坡预警:YY-HP01",
            "风险区预警:宝塔风险区",
            "风险区预警:长江北岸风险区"
        ]
    );
}

fn rain(hhmm: &str, station: &str, mm: f64) -> String {
    format!(
        r#"{{"ts":"2024-07-29T{hhmm}:00+08:00","kind":"rain","station":"{station}","town":"T","mm":{mm}}}"#
    )
}

#[test]
fn areal_rainfall_is_the_weighted_sum_of_a_catchments_gauges() {
    let defs = policies(&["rainstorm.yj", "areal_rainfall.yj"]);
    let lines = vec![
        // 磨刀溪: YY-003 weighs 0.7, YY-006 0.3
        rain("01:00", "YY-003", 30.0), // 21
        rain("01:10", "YY-006", 40.0), // 21 + 12 = 33: yellow
        rain("02:00", "YY-003", 30.0), // 54: orange
        // a gauge of no catchment changes nothing
        rain("02:10", "YY-001", 90.0),
        // 汤溪河: YY-004 0.6, YY-005 0.4
        rain("02:20", "YY-004", 40.0), // 24
        rain("02:30", "YY-005", 60.0), // 24 + 24 = 48: yellow
        // the first readings leave the 3 h window: 磨刀溪 33 - 21 = 33 + 0: still ≥ 30
        rain("04:05", "YY-003", 0.0), // 21 + 12 + 21 - 21 = 33 → (01:00 gone) 33
        rain("05:05", "YY-006", 0.0), // 01:10 gone: 21 (02:00) → yellow (24 h: 75)
    ];
    let out = run(&defs, &lines);
    assert_eq!(
        changes(&out, "流域面雨量预警", &["面雨量3h", "面雨量24h", "站数"]),
        [
            "01:10 磨刀溪流域 none→yellow event 2 面雨量3h=33 面雨量24h=33 站数=2",
            "02:00 磨刀溪流域 yellow→orange event 3 面雨量3h=54 面雨量24h=54 站数=2",
            "02:30 汤溪河流域 none→yellow event 6 面雨量3h=48 面雨量24h=48 站数=2",
            "04:05 磨刀溪流域 orange→yellow event 7 面雨量3h=33 面雨量24h=54 站数=2",
        ]
    );
}

#[test]
fn mean_of_and_sum_of_and_min_of_over_members() {
    let text = r#"
event reading { point: string, v: number? }
table 点 {
  "P1": { 区: ["A", "B"] }
  "P2": { 区: "A" }
  "P3": { 区: "B" }
}
signal 区值 {
  from reading
  key point via 点.区
  let 均 = mean_of(v)
  let 和 = sum_of(v)
  let 小 = min_of(v)
  let 数 = members()
  level yellow when 均 >= 10
}
"#;
    let defs = Definitions::from_str("t.yj", text).unwrap();
    let r = |m: u32, p: &str, v: &str| {
        format!(
            r#"{{"ts":"2024-07-29T03:{m:02}:00+08:00","kind":"reading","point":"{p}","v":{v}}}"#
        )
    };
    let lines = vec![
        r(0, "P1", "12"),   // A: [12] mean 12 yellow; B: [12] yellow
        r(1, "P2", "4"),    // A: [12, 4] mean 8 → none
        r(2, "P3", "30"),   // B: [12, 30] mean 21
        r(3, "P1", "null"), // P1 has no value now: A [4] → none stays; B [30] mean 30
        r(4, "P2", "20"),   // A [20] → yellow
    ];
    let out = run(&defs, &lines);
    assert_eq!(
        changes(&out, "区值", &["均", "和", "小", "数"]),
        [
            "03:00 A none→yellow event 1 均=12 和=12 小=12 数=2",
            "03:00 B none→yellow event 1 均=12 和=12 小=12 数=2",
            "03:01 A yellow→none event 2 均=8 和=16 小=4 数=2",
            "03:04 A none→yellow event 5 均=20 和=20 小=20 数=2",
        ]
    );
}

fn diagnose(text: &str) -> String {
    match Definitions::from_str("bad.yj", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const EV: &str =
    "event reading { point: string, v: number }\ntable 点 { \"P1\": { 区: \"A\", 权: 0.5 } }\n";

#[test]
fn a_membership_must_be_a_table_column_of_names() {
    let d = diagnose(&format!(
        "{EV}signal s {{\n  from reading\n  key point via 表.区\n  level yellow when v >= 1\n}}\n"
    ));
    assert!(d.contains("error[E0101]: no table `表` is defined"), "{d}");
    assert!(d.contains("bad.yj:5:17"), "{d}");
    let d = diagnose(&format!(
        "{EV}signal s {{\n  from reading\n  key point via 点.权\n  level yellow when v >= 1\n}}\n"
    ));
    assert!(
        d.contains("column `权` of `点` does not hold area names"),
        "{d}"
    );
    assert!(d.contains("bad.yj:5:19"), "{d}");
    let d = diagnose(&format!(
        "{EV}signal s {{\n  from reading\n  key point via 点.名\n  level yellow when v >= 1\n}}\n"
    ));
    assert!(d.contains("table `点` has no column `名`"), "{d}");
}

#[test]
fn member_aggregates_need_areas_and_a_place_that_can_hold_them() {
    let d = diagnose(&format!(
        "{EV}signal s {{\n  from reading\n  key point\n  level yellow when max_of(v) >= 1\n}}\n"
    ));
    assert!(
        d.contains("`max_of` aggregates over an area's members"),
        "{d}"
    );
    assert!(d.contains("bad.yj:6:21"), "{d}");
    let d = diagnose(&format!(
        "{EV}signal s {{\n  from reading\n  key point via 点.区\n  where max_of(v) > 0\n  let a = members(v)\n  let b = mean_of(point)\n  level yellow when v >= 1\n}}\n"
    ));
    assert!(d.contains("`max_of` cannot be used here"), "{d}");
    assert!(d.contains("bad.yj:6:9"), "{d}");
    assert!(d.contains("`members` takes 0 arguments, got 1"), "{d}");
    assert!(d.contains("bad.yj:7:11"), "{d}");
    assert!(
        d.contains("`mean_of` needs numbers, but this is a string"),
        "{d}"
    );
    assert!(d.contains("bad.yj:8:19"), "{d}");
}

#[test]
fn absence_cannot_be_detected_by_area() {
    let d = diagnose(&format!(
        "{EV}signal s {{\n  from reading\n  key point via 点.区\n  missing 30m\n}}\n"
    ));
    assert!(
        d.contains("absence (`missing`, `roster`) cannot be used with `via`"),
        "{d}"
    );
    assert!(d.contains("bad.yj:5:17"), "{d}");
}

#[test]
fn from_an_unknown_signal_or_a_cycle_is_an_error() {
    let d =
        diagnose("signal a {\n  from 不存在\n  key member\n  level yellow when level >= 1\n}\n");
    assert!(
        d.contains("error[E0102]: no event kind `不存在` is declared"),
        "{d}"
    );
    assert!(d.contains("bad.yj:2:8"), "{d}");
    assert!(d.contains("or name a signal defined above"), "{d}");
    // a signal cannot read itself
    let d = diagnose(&format!(
        "{EV}signal a {{\n  from reading, a\n  key point\n  level yellow when v >= 1\n}}\n"
    ));
    assert!(d.contains("no event kind `a` is declared"), "{d}");
}

#[test]
fn a_signal_reads_another_defined_in_a_later_file() {
    // risk_areas.yj before landslide.yj: the order of the files does not matter
    let defs = policies(&["risk_areas.yj", "landslide.yj"]);
    let lines = vec![disp(0, "YY-HP03", 0.0), disp(1, "YY-HP03", 10.0 / 24.0)];
    let out = run(&defs, &lines);
    assert_eq!(
        changes(&out, "风险区预警", &["最高"]),
        ["01:00 长江北岸风险区 none→orange event 2 最高=3"]
    );
}

#[test]
fn an_input_line_of_a_signals_own_kind_is_not_a_level_change() {
    let defs = policies(&["landslide.yj", "risk_areas.yj"]);
    let fake = vec![
        r#"{"ts":"2024-07-20T00:00:00+08:00","kind":"滑坡预警","member":"YY-HP01","level":4,"prior":0}"#
            .to_string(),
    ];
    let out = run(&defs, &fake);
    assert!(out.iter().all(|o| o["type"] != "level_changed"), "{out:?}");
}
