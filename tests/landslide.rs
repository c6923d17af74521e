//! The landslide policy (`policies/landslide.yj`): the improved tangent
//! angle computed by a rhai script function sets each slope's warning level.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use serde_json::Value as J;
use yingji::Definitions;

fn engine() -> yingji::Engine {
    let root = env!("CARGO_MANIFEST_DIR");
    Definitions::from_paths(&[format!("{root}/policies/landslide.yj")])
        .unwrap()
        .engine()
        .unwrap()
}

fn run(lines: &[String]) -> Vec<J> {
    let mut e = engine();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        e.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    e.flush(&mut out);
    out.iter()
        .map(|o| serde_json::from_str(&o.to_json()).unwrap())
        .collect()
}

fn reading(day: u32, hour: u32, site: &str, mm: f64) -> String {
    format!(
        r#"{{"ts":"2024-07-{day:02}T{hour:02}:00:00+08:00","kind":"displacement","site":"{site}","mm":{mm:?}}}"#
    )
}

/// The sample stream: 宝塔滑坡 creeps (blue), accelerates (yellow, orange,
/// red); 大地湾滑坡 speeds up after rain and recovers; 凉水井滑坡 stays quiet.
#[test]
fn sample_stream_levels() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/samples/landslide.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().map(String::from).collect();
    let out = run(&lines);
    let got: Vec<(String, String, String, String, u64)> = out
        .iter()
        .map(|o| {
            (
                o["ts"].as_str().unwrap().to_string(),
                o["key"].as_str().unwrap().to_string(),
                o["from"].as_str().unwrap().to_string(),
                o["to"].as_str().unwrap().to_string(),
                o["event"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [
        ("2024-07-20T06:00:00+08:00", "YY-HP01", "none", "blue", 4),
        ("2024-07-23T18:00:00+08:00", "YY-HP03", "none", "blue", 48),
        ("2024-07-24T00:00:00+08:00", "YY-HP03", "blue", "yellow", 51),
        ("2024-07-26T12:00:00+08:00", "YY-HP01", "blue", "yellow", 79),
        ("2024-07-26T18:00:00+08:00", "YY-HP03", "yellow", "blue", 84),
        ("2024-07-27T00:00:00+08:00", "YY-HP03", "blue", "none", 87),
        (
            "2024-07-29T12:00:00+08:00",
            "YY-HP01",
            "yellow",
            "orange",
            115,
        ),
        ("2024-07-30T18:00:00+08:00", "YY-HP01", "orange", "red", 130),
    ];
    let want: Vec<(String, String, String, String, u64)> = want
        .iter()
        .map(|(t, k, f, to, e)| {
            (
                t.to_string(),
                k.to_string(),
                f.to_string(),
                to.to_string(),
                *e,
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(
        out.iter().all(|o| o["type"] == "level_changed"),
        "no script errors on the sample"
    );
}

/// Exact output for a hand-made sequence: 3 mm/day at v0 = 1.2 mm/day is
/// α = atan(2.5) = 68.2°: yellow.
#[test]
fn exact_output_for_one_raise() {
    let out = run(&[
        reading(20, 0, "YY-HP01", 10.0),
        reading(20, 12, "YY-HP01", 11.5),
        reading(21, 0, "YY-HP01", 13.0),
    ]);
    assert_eq!(out.len(), 1, "{out:#?}");
    let root = env!("CARGO_MANIFEST_DIR");
    let want = format!(
        r#"{{"event":2,"from":"none","id":1,"key":"YY-HP01","reason":"raise","rule":"yellow when 切线角 >= 45","rule_at":"{root}/policies/landslide.yj:43:3","signal":"滑坡预警","since":"2024-07-20T12:00:00+08:00","to":"yellow","ts":"2024-07-20T12:00:00+08:00","type":"level_changed","values":{{"切线角":68.198590514,"速率":3}}}}"#
    );
    assert_eq!(out[0].to_string(), want);
}

/// A slope without a row in the table has no v0: the angle is null (no
/// call, no error) and no rule fires — which is said once, at its first
/// reading (`table_miss`); a single reading has no rate yet.
#[test]
fn unknown_slope_and_first_reading_raise_nothing() {
    let out = run(&[
        reading(20, 0, "YY-HP02", 5.0),
        reading(20, 0, "YY-HP99", 10.0),
        reading(20, 12, "YY-HP99", 30.0),
    ]);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0]["type"], "table_miss", "{out:#?}");
    assert_eq!(out[0]["key"], "YY-HP99");
    assert_eq!(out[0]["table"], "滑坡监测点");
    assert_eq!(out[0]["event"], 2);
}

/// A slope whose displacement runs away reaches red directly.
#[test]
fn runaway_slope_goes_straight_to_red() {
    let out = run(&[
        reading(20, 0, "YY-HP02", 5.0),
        reading(20, 6, "YY-HP02", 8.0),
    ]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["to"], "red");
    assert_eq!(out[0]["values"]["速率"], 12.0);
}
