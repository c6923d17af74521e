//! "One clock": rule G(b), which needs the wall time (`Engine::set_wall_time`,
//! being added by the engine rewrite; this file does not compile before it
//! lands, which is why it is separate from `tests/one_clock.rs`).
//!
//! Told the wall time, the engine refuses an event more than `max_ahead`
//! (1 day by default) ahead of it as `clock_suspect`, so a first line dated
//! 9999-01-01 cannot drag the stream's clock to the year 9999 and make every
//! later event late.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test"
)]

mod one_clock_common;

use one_clock_common::*;
use yingji::Output;
use yingji::unstable::engine::Config;

/// Gauges S1..S4 every 5 minutes from 00:00 to 03:00 (S2 offline 01:00 to
/// 02:00, a warning at S3 at 01:00 answered by P1 at 01:03).
fn good_gauges() -> Vec<(u64, String)> {
    let mut lines = Vec::new();
    for m in (0..=180).step_by(5) {
        for st in ["S1", "S2", "S3", "S4"] {
            if st == "S2" && (60..120).contains(&m) {
                continue;
            }
            let mm = if st == "S3" && m == 60 { 60.0 } else { 0.0 };
            lines.push(rain(m, st, mm));
        }
        if m == 60 {
            lines.push(ack(63, "P1", Some("测试预案@S3#1/叫应")));
        }
    }
    numbered(&lines)
}

/// A run with the wall time set to `wall_min` (minutes after 00:00) before
/// the first line.
fn run_with_wall(lines: &[(u64, String)], wall_min: i64) -> Run {
    let d = defs();
    let mut engine = d.engine_with(Config::default()).unwrap();
    engine.set_wall_time(ts(wall_min).ms);
    let mut run = Run::default();
    let mut out: Vec<Output> = Vec::new();
    for (seq, l) in lines {
        if let Err(e) = engine.push_line(l, *seq, &mut out) {
            run.errors.push((*seq, e.to_string()));
        }
        run.outs.extend(out.drain(..).map(|o| o.to_json()));
    }
    engine.finish(None, &mut out).unwrap();
    run.outs.extend(out.drain(..).map(|o| o.to_json()));
    run
}

fn far_future_line() -> (u64, String) {
    (
        99_999,
        r#"{"ts":"9999-01-01T00:00:00+08:00","kind":"rain","station":"S5","mm":0}"#.to_string(),
    )
}

/// Rule G(b): the first line, from S5, is dated 9999-01-01. It is refused as
/// `clock_suspect` (more than a day ahead of the wall time), and every other
/// gauge's outputs are exactly those of the stream without it. Today the
/// 9999 line sets the clock and every later line is refused or late.
#[test]
fn regression_one_bad_clock_silences_everyone_first_line_in_9999() {
    let good = good_gauges();
    let without = run_with_wall(&good, 0);
    assert!(without.errors.is_empty(), "{:?}", without.errors);
    for wall in [0, 90] {
        let mut lines = vec![far_future_line()];
        lines.extend(good.iter().cloned());
        let with = run_with_wall(&lines, wall);
        assert_eq!(
            with.errors.len(),
            1,
            "rule G broken (wall time {}): only the 9999 line may be refused, got {:?}",
            at(wall),
            with.errors
        );
        assert_eq!(with.errors[0].0, 99_999);
        assert!(
            with.errors[0].1.contains("clock_suspect"),
            "rule G broken: the 9999 line must be refused as clock_suspect, got: {}",
            with.errors[0].1
        );
        assert_same(
            "rule G broken: a first line dated 9999 changed the other gauges' outputs",
            &without.outs,
            &with.outs,
        );
    }
}

/// Rule G(b) in the middle of the stream: a 9999 line after an hour of good
/// readings is refused as `clock_suspect` and changes nothing else.
#[test]
fn a_line_dated_9999_in_the_middle_is_refused_and_changes_nothing() {
    let good = good_gauges();
    let without = run_with_wall(&good, 0);
    let mut lines = good.clone();
    lines.insert(good.len() / 3, far_future_line());
    let with = run_with_wall(&lines, 0);
    assert_eq!(
        with.errors.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [99_999],
        "only the 9999 line is refused: {:?}",
        with.errors
    );
    assert!(
        with.errors[0].1.contains("clock_suspect"),
        "{:?}",
        with.errors
    );
    assert_same(
        "rule G broken: a 9999 line in the middle changed the outputs",
        &without.outs,
        &with.outs,
    );
}
