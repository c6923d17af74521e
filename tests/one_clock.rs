//! "One clock for the whole runtime": regression and specification tests.
//!
//! The contract (A–H) these tests pin down:
//!
//! - **A** At one instant `t`: (1) every non-ack event stamped `t` is applied
//!   first (level changes start plans, whose first tier is called at `t`);
//!   (2) acks stamped `t` from people whose call is open are applied before
//!   the escalations due at `t` (an ack at exactly its tier's deadline is in
//!   time); (3) then timers due at `t` fire (escalations, absences); (4) an
//!   ack stamped `t` from a person called at `t` counts. Never does the
//!   outcome depend on the order of same-time lines or on how kinds are
//!   spelled.
//! - **B** An ack for a call that opens at the same instant counts; an ack
//!   stamped before its call (the person is in a tier of an open chain not
//!   yet called) is `ack_rejected` with reason `not_called_yet`.
//! - **C** `advance_to(ts)` moves the clock as an empty event stamped `ts`
//!   would (things due before `ts − lateness` fire: an instant is complete
//!   once the clock has passed it by the lateness); `finish(Some(until))`
//!   releases everything and runs the clock to `until` (everything due by
//!   `until` fires); `until` before the clock is refused and changes nothing.
//! - **D** A split run (snapshot → new engine → restore) gives byte-identical
//!   outputs, ids included, for every output type.
//! - **E** Output `ts` never goes backwards (`late` records excepted).
//! - **F** Ids are ≥ 1, unique, and identical across runs and split runs.
//! - **G** One source with a bad clock silences nobody else.
//! - **H** Idle-key eviction keeps `recovered`; an `idle_ttl` shorter than a
//!   signal's `missing` or longest window is refused.
//!
//! Tests named `regression_*` are one per reported defect. The ones that need
//! `Engine::set_wall_time` live in `tests/one_clock_wall.rs`; the proptests in
//! `tests/one_clock_props.rs`. Fixture: `tests/one_clock/` (see
//! `one_clock_common`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test"
)]

mod one_clock_common;

use one_clock_common::*;
use serde_json::Value as J;
use yingji::unstable::engine::Config;
use yingji::{Definitions, Output};

/// Reference of the 叫应 call of the first instance at `station`.
fn call_of(station: &str) -> String {
    format!("测试预案@{station}#1/叫应")
}

/// Asserts the brief lines of a run, with the rule that is broken.
fn assert_briefs(rule: &str, run: &Run, expected: &[&str]) {
    let got = run.briefs();
    assert_eq!(
        got,
        expected,
        "{rule}\n--- expected ---\n{}\n--- got ---\n{}\n--- full outputs ---\n{}",
        expected.join("\n"),
        got.join("\n"),
        run.outs.join("\n")
    );
}

// ---------------------------------------------------------------- A / B

/// Tier 2 is called at 02:05 by the escalation of tier 1; P2's ack stamped
/// 02:05 must count (rule A4). Today the ack is applied before the
/// escalation fires and is refused.
#[test]
fn regression_ack_at_the_instant_its_tier_is_called_is_refused() {
    let d = defs();
    let lines = [rain(120, "S1", 60.0), ack(125, "P2", Some(S1_CALL))];
    for config in [Config::default(), no_lateness()] {
        let r = run(&d, &config, &lines, End::Until(ts(160)));
        assert_briefs(
            "rule A4 broken: an ack stamped 02:05 from P2, whom the escalation at 02:05 calls, \
             must count (acked, in time) and close the instance; it must not be rejected",
            &r,
            &[
                "level_changed 02:00:00 key=S1 to=yellow reason=raise",
                "plan_started 02:00:00 area=S1",
                "notify 02:00:00 area=S1 person=P1 tier=1",
                "escalated 02:05:00 area=S1 from_tier=1 to_tier=2",
                "notify 02:05:00 area=S1 person=P2 tier=2",
                "acked 02:05:00 area=S1 person=P2 tier=2 in_time=true",
                "plan_closed 02:05:00 area=S1 step=已应结束",
                "absence 02:30:00 key=S1",
            ],
        );
        let acked = &r.json()[5];
        assert_eq!(acked["ref"], S1_CALL, "the ack answers S1's call: {acked}");
        assert_eq!(acked["cause"]["event"], 2, "caused by line 2: {acked}");
    }
}

/// The warning at 02:00 starts the plan and calls P1 at 02:00; P1's ack
/// stamped 02:00 must count whatever the line order and however the sensor
/// kind is spelled. Today the reorder buffer breaks the tie by kind name, so
/// `ack` < `rain` puts the ack first (refused as `unknown_call`) while
/// `aaa_rain` < `ack` lets it count.
#[test]
fn regression_ack_at_the_instant_of_the_warning_that_starts_the_plan_depends_on_kind_spelling() {
    let expected = [
        "level_changed 02:00:00 key=S1 to=yellow reason=raise",
        "plan_started 02:00:00 area=S1",
        "notify 02:00:00 area=S1 person=P1 tier=1",
        "acked 02:00:00 area=S1 person=P1 tier=1 in_time=true",
        "plan_closed 02:00:00 area=S1 step=已应结束",
        "absence 02:30:00 key=S1",
    ];
    let mut failures = Vec::new();
    let mut reference: Option<Vec<String>> = None;
    for spelling in ["rain", "aaa_rain", "zzz_rain"] {
        let d = defs_spelled(spelling, "river");
        for with_ref in [false, true] {
            let warning = (1, rain_k(spelling, 120, "S1", 60.0));
            let answer = (2, ack(120, "P1", with_ref.then_some(S1_CALL)));
            for ack_first in [false, true] {
                let lines = if ack_first {
                    vec![answer.clone(), warning.clone()]
                } else {
                    vec![warning.clone(), answer.clone()]
                };
                let r = run_numbered(&d, &Config::default(), &lines, End::Until(ts(160)));
                let what = format!(
                    "kind spelled `{spelling}`, ack {} ref, ack line {}",
                    if with_ref { "with" } else { "without" },
                    if ack_first { "first" } else { "second" }
                );
                if r.briefs() != expected {
                    failures.push(format!("{what}:\n    {}", r.briefs().join("\n    ")));
                    continue;
                }
                if !with_ref {
                    let outs: Vec<String> =
                        r.outs.iter().map(|o| o.replace(spelling, "rain")).collect();
                    match &reference {
                        None => reference = Some(outs),
                        Some(r0) => {
                            if *r0 != outs {
                                failures.push(format!("{what}: JSON differs from the first run"));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "rule A4/A: an ack stamped at the same instant as the warning that starts its plan \
         must count (acked, in time), whatever the line order and the kind spelling.\n\
         expected:\n    {}\nfailing cases:\n  {}",
        expected.join("\n    "),
        failures.join("\n  ")
    );
}

/// Rule A2: an ack at exactly its tier's deadline is in time and stops the
/// escalation due at that instant, even when another event at that instant
/// moves the clock (in either line order).
#[test]
fn ack_at_exactly_its_tier_deadline_is_in_time_and_stops_the_escalation() {
    let d = defs();
    let base = [
        (1, rain(120, "S1", 60.0)),
        (2, ack(125, "P1", Some(S1_CALL))),
        (3, rain(125, "S2", 1.0)),
    ];
    for swap in [false, true] {
        let mut lines = base.to_vec();
        if swap {
            lines.swap(1, 2);
        }
        let r = run_numbered(&d, &Config::default(), &lines, End::Until(ts(160)));
        assert_briefs(
            "rule A2 broken: an ack at exactly its tier's deadline (02:05) is in time and \
             no escalation may fire",
            &r,
            &[
                "level_changed 02:00:00 key=S1 to=yellow reason=raise",
                "plan_started 02:00:00 area=S1",
                "notify 02:00:00 area=S1 person=P1 tier=1",
                "acked 02:05:00 area=S1 person=P1 tier=1 in_time=true",
                "plan_closed 02:05:00 area=S1 step=已应结束",
                "absence 02:30:00 key=S1",
                "absence 02:35:00 key=S2",
            ],
        );
        assert_eq!(r.json()[3]["after"], "5m");
    }
}

/// Rule B: P2 (tier 2 of S1's open chain) answers at 02:03, before tier 2 is
/// called at 02:05: the ack is `not_called_yet` and counts for nothing; the
/// chain runs on. Today the reason is `unknown_person` (with a reference)
/// or `unknown_call` (without).
#[test]
fn ack_stamped_before_its_call_is_rejected_not_called_yet() {
    let d = defs();
    for with_ref in [true, false] {
        let lines = [
            rain(120, "S1", 60.0),
            ack(123, "P2", with_ref.then_some(S1_CALL)),
        ];
        let r = run(&d, &Config::default(), &lines, End::Until(ts(160)));
        assert_briefs(
            &format!(
                "rule B broken (ack {} ref): an ack stamped 02:03 from P2, a tier-2 person of an \
                 open chain not called until 02:05, must be ack_rejected with reason \
                 not_called_yet, and the chain must run on",
                if with_ref { "with" } else { "without" }
            ),
            &r,
            &[
                "level_changed 02:00:00 key=S1 to=yellow reason=raise",
                "plan_started 02:00:00 area=S1",
                "notify 02:00:00 area=S1 person=P1 tier=1",
                "ack_rejected 02:03:00 person=P2 reason=not_called_yet step=叫应",
                "escalated 02:05:00 area=S1 from_tier=1 to_tier=2",
                "notify 02:05:00 area=S1 person=P2 tier=2",
                "escalated 02:10:00 area=S1 from_tier=2 to_tier=3",
                "notify 02:10:00 area=S1 person=P3 tier=3",
                "unanswered 02:20:00 area=S1",
                "notify 02:20:00 area=S1 person=P9 tier=0",
                "plan_closed 02:20:00 area=S1 step=未应结束",
                "absence 02:30:00 key=S1",
            ],
        );
        let rej = &r.json()[3];
        assert_eq!(
            rej["instance"], S1,
            "the rejection names the instance: {rej}"
        );
    }
}

/// Rule A1/A3: events stamped 02:05 (a warning at S2 starting its own plan)
/// are applied before the timers due at 02:05 (S1's escalation), whatever
/// the line order. Output order at 02:05 is therefore S2's start, then S1's
/// escalation.
#[test]
fn events_at_an_instant_are_applied_before_the_timers_due_then() {
    let d = defs();
    let lines = [rain(120, "S1", 60.0), river(125, "S2", 12.0)];
    for config in [Config::default(), no_lateness()] {
        let r = run(&d, &config, &lines, End::Until(ts(160)));
        let got = r.briefs();
        let head: Vec<&str> = got.iter().take(8).map(String::as_str).collect();
        assert_eq!(
            head,
            [
                "level_changed 02:00:00 key=S1 to=yellow reason=raise",
                "plan_started 02:00:00 area=S1",
                "notify 02:00:00 area=S1 person=P1 tier=1",
                "level_changed 02:05:00 key=S2 to=yellow reason=raise",
                "plan_started 02:05:00 area=S2",
                "notify 02:05:00 area=S2 person=P1 tier=1",
                "escalated 02:05:00 area=S1 from_tier=1 to_tier=2",
                "notify 02:05:00 area=S1 person=P2 tier=2",
            ],
            "rule A1/A3 broken: at 02:05 the warning at S2 (an event) comes before S1's \
             escalation (a timer) due at 02:05:\n{}",
            got.join("\n")
        );
        // the rest, per instance (the order of two instances' timers due at
        // the same instant is not part of the contract)
        let rest = |area: &str| -> Vec<String> {
            got.iter()
                .skip(8)
                .filter(|b| {
                    b.contains(&format!("area={area}")) || b.contains(&format!("key={area}"))
                })
                .cloned()
                .collect()
        };
        assert_eq!(
            rest("S1"),
            [
                "escalated 02:10:00 area=S1 from_tier=2 to_tier=3",
                "notify 02:10:00 area=S1 person=P3 tier=3",
                "unanswered 02:20:00 area=S1",
                "notify 02:20:00 area=S1 person=P9 tier=0",
                "plan_closed 02:20:00 area=S1 step=未应结束",
                "absence 02:30:00 key=S1",
            ],
            "S1's chain after 02:05:\n{}",
            got.join("\n")
        );
        assert_eq!(
            rest("S2"),
            [
                "escalated 02:10:00 area=S2 from_tier=1 to_tier=2",
                "notify 02:10:00 area=S2 person=P2 tier=2",
                "escalated 02:15:00 area=S2 from_tier=2 to_tier=3",
                "notify 02:15:00 area=S2 person=P3 tier=3",
                "unanswered 02:25:00 area=S2",
                "notify 02:25:00 area=S2 person=P9 tier=0",
                "plan_closed 02:25:00 area=S2 step=未应结束",
                "absence 02:35:00 key=S2",
            ],
            "S2's chain (timers measured from its call at 02:05):\n{}",
            got.join("\n")
        );
        assert_eq!(got.len(), 8 + 6 + 8, "nothing else:\n{}", got.join("\n"));
        assert_time_ordered("events before timers", &r.outs);
    }
}

/// The whole instant rule at once: at 02:05 a warning at S2 calls P1 (A1),
/// P1's ack for S2 stamped 02:05 is applied (A2) before S1's escalation due
/// at 02:05 (A3), and P2's ack for S1 stamped 02:05 counts once the
/// escalation calls P2 (A4). Every order of the three 02:05 lines and every
/// spelling of the kinds gives the same outputs.
#[test]
fn the_instant_rule_events_then_open_call_acks_then_timers_then_new_call_acks() {
    let expected = [
        "level_changed 02:00:00 key=S1 to=yellow reason=raise",
        "plan_started 02:00:00 area=S1",
        "notify 02:00:00 area=S1 person=P1 tier=1",
        "level_changed 02:05:00 key=S2 to=yellow reason=raise",
        "plan_started 02:05:00 area=S2",
        "notify 02:05:00 area=S2 person=P1 tier=1",
        "acked 02:05:00 area=S2 person=P1 tier=1 in_time=true",
        "plan_closed 02:05:00 area=S2 step=已应结束",
        "escalated 02:05:00 area=S1 from_tier=1 to_tier=2",
        "notify 02:05:00 area=S1 person=P2 tier=2",
        "acked 02:05:00 area=S1 person=P2 tier=2 in_time=true",
        "plan_closed 02:05:00 area=S1 step=已应结束",
        "absence 02:30:00 key=S1",
        "absence 02:35:00 key=S2",
    ];
    let s2_call = call_of("S2");
    let at_0205 = [
        (2, river(125, "S2", 12.0)),
        (3, ack(125, "P1", Some(&s2_call))),
        (4, ack(125, "P2", Some(S1_CALL))),
    ];
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let mut reference: Option<Vec<String>> = None;
    for (rain_as, river_as) in [("rain", "river"), ("zzz_rain", "aaa_river")] {
        let d = defs_spelled(rain_as, river_as);
        for order in orders {
            let mut lines = vec![(1, rain(120, "S1", 60.0))];
            lines.extend(order.iter().map(|&i| at_0205[i].clone()));
            let lines: Vec<(u64, String)> = lines
                .into_iter()
                .map(|(s, l)| {
                    let l = l
                        .replace(r#""kind":"rain""#, &format!(r#""kind":"{rain_as}""#))
                        .replace(r#""kind":"river""#, &format!(r#""kind":"{river_as}""#));
                    (s, l)
                })
                .collect();
            let r = run_numbered(&d, &Config::default(), &lines, End::Until(ts(160)));
            assert_briefs(
                &format!(
                    "rule A broken (kinds `{rain_as}`/`{river_as}`, 02:05 lines in order \
                     {order:?}): events, then acks for open calls, then timers, then acks for \
                     calls opened by those timers"
                ),
                &r,
                &expected,
            );
            match &reference {
                None => reference = Some(r.outs.clone()),
                Some(r0) => assert_same(
                    &format!(
                        "rule A broken: outputs depend on same-time line order or kind spelling \
                         (kinds `{rain_as}`/`{river_as}`, order {order:?})"
                    ),
                    r0,
                    &r.outs,
                ),
            }
        }
    }
}

// ---------------------------------------------------------------- C

/// With the gauges silent after the warning, the tier-1 escalation must come
/// out at 02:05 (call + timeout) under `finish(Some(t))` and `advance_to`.
/// Today `finish(Some(02:05))` fires only timers due strictly before 02:05,
/// and `advance_to` never runs the plan timers at all.
#[test]
fn regression_escalation_with_silent_gauges_never_comes_out_under_finish() {
    let d = defs();
    let lines = [rain(120, "S1", 60.0)];
    let start = [
        "level_changed 02:00:00 key=S1 to=yellow reason=raise",
        "plan_started 02:00:00 area=S1",
        "notify 02:00:00 area=S1 person=P1 tier=1",
    ];
    let escalated = [
        "escalated 02:05:00 area=S1 from_tier=1 to_tier=2",
        "notify 02:05:00 area=S1 person=P2 tier=2",
    ];

    // finish(Some(02:05)): everything due by 02:05 fires, the 02:10 one does not
    let r = run(&d, &Config::default(), &lines, End::Until(ts(125)));
    let want: Vec<&str> = start.iter().chain(&escalated).copied().collect();
    assert_briefs(
        "rule C broken: finish(Some(02:05)) must fire the escalation due at 02:05 (call 02:00 + \
         tier timeout 5m), stamped 02:05",
        &r,
        &want,
    );
    let esc = &r.json()[3];
    assert_eq!(esc["cause"]["timer"]["due"], at(125), "{esc}");

    // finish(Some(02:12)): the 02:05 and 02:10 escalations, each at its due time
    let r = run(&d, &Config::default(), &lines, End::Until(ts(132)));
    let mut want: Vec<&str> = start.iter().chain(&escalated).copied().collect();
    want.extend([
        "escalated 02:10:00 area=S1 from_tier=2 to_tier=3",
        "notify 02:10:00 area=S1 person=P3 tier=3",
    ]);
    assert_briefs(
        "rule C broken: finish(Some(02:12)) fires the escalations due at 02:05 and 02:10, \
         each stamped at call time + tier timeout",
        &r,
        &want,
    );
}

/// The same silent-gauges escalation under `advance_to` (lateness 5m): the
/// escalation due at 02:05 fires once the clock reaches 02:10. Today
/// `advance_to` releases held events and absences but never runs the plan
/// timers.
#[test]
fn regression_escalation_with_silent_gauges_never_comes_out_under_advance_to() {
    let d = defs();
    let lines = [rain(120, "S1", 60.0)];
    let start = [
        "level_changed 02:00:00 key=S1 to=yellow reason=raise",
        "plan_started 02:00:00 area=S1",
        "notify 02:00:00 area=S1 person=P1 tier=1",
    ];
    let escalated = [
        "escalated 02:05:00 area=S1 from_tier=1 to_tier=2",
        "notify 02:05:00 area=S1 person=P2 tier=2",
    ];
    // advance_to with the default lateness (5m): due by ts − 5m fires
    let mut e = d.engine().unwrap();
    let mut out: Vec<Output> = Vec::new();
    e.push_line(&lines[0], 1, &mut out).unwrap();
    assert!(
        out.is_empty(),
        "the warning is still held back by the lateness"
    );
    e.advance_to(ts(129), &mut out);
    let got: Vec<String> = out
        .iter()
        .map(|o| brief(&serde_json::from_str(&o.to_json()).unwrap()))
        .collect();
    assert_eq!(
        got, start,
        "rule C broken: advance_to(02:09) with lateness 5m releases the 02:00 warning and \
         nothing due after 02:04"
    );
    // at 02:10 an ack stamped 02:05 is still in time (lateness 5m), so the
    // escalation due at 02:05 waits; once the clock passes 02:10 it fires
    e.advance_to(ts(130), &mut out);
    let got: Vec<String> = out
        .iter()
        .map(|o| brief(&serde_json::from_str(&o.to_json()).unwrap()))
        .collect();
    assert_eq!(
        got, start,
        "rule C broken: advance_to(02:10): an ack stamped 02:05 may still come"
    );
    e.advance_to(just_after(ts(130)), &mut out);
    let got: Vec<String> = out
        .iter()
        .map(|o| brief(&serde_json::from_str(&o.to_json()).unwrap()))
        .collect();
    let want: Vec<&str> = start.iter().chain(&escalated).copied().collect();
    assert_eq!(
        got, want,
        "rule C broken: advance_to(just after 02:10) with lateness 5m must fire the escalation \
         due at 02:05 (gauges silent)"
    );
    assert_eq!(
        e.clock(),
        Some(just_after(ts(130))),
        "advance_to moves the clock"
    );
}

/// Rule C: `finish(Some(until))` fires everything due by `until`, an absence
/// due exactly at `until` included; `advance_to(ts)` fires absences due
/// before `ts − lateness` (at exactly `ts − lateness` a reading stamped then
/// would still be in time).
#[test]
fn finish_and_advance_to_fire_absences_due_exactly_at_the_clock() {
    let d = defs();
    let lines = [rain(0, "S1", 1.0)];
    let r = run(&d, &Config::default(), &lines, End::Until(ts(30)));
    assert_briefs(
        "rule C broken: finish(Some(00:30)) must fire the absence due at 00:30",
        &r,
        &["absence 00:30:00 key=S1"],
    );
    let r = run(&d, &Config::default(), &lines, End::Until(ts(29)));
    assert_briefs(
        "rule C broken: finish(Some(00:29)) must not fire the absence due at 00:30",
        &r,
        &[],
    );
    let mut e = d.engine().unwrap();
    let mut out: Vec<Output> = Vec::new();
    e.push_line(&lines[0], 1, &mut out).unwrap();
    e.advance_to(ts(34), &mut out);
    assert!(
        out.is_empty(),
        "rule C broken: advance_to(00:34), lateness 5m: nothing due by 00:29, got {:?}",
        out.iter().map(Output::to_json).collect::<Vec<_>>()
    );
    // at 00:35 a reading stamped 00:30 would still be in time (lateness 5m:
    // only what is more than 5m behind is late), so the instant 00:30 is not
    // complete yet; once the clock passes 00:35 it is, and the absence fires
    e.advance_to(ts(35), &mut out);
    assert!(
        out.is_empty(),
        "rule C broken: advance_to(00:35): a reading stamped 00:30 may still come, got {:?}",
        out.iter().map(Output::to_json).collect::<Vec<_>>()
    );
    e.advance_to(just_after(ts(35)), &mut out);
    let got: Vec<String> = out
        .iter()
        .map(|o| brief(&serde_json::from_str(&o.to_json()).unwrap()))
        .collect();
    assert_eq!(
        got,
        ["absence 00:30:00 key=S1"],
        "rule C broken: advance_to(just after 00:35) with lateness 5m fires the absence due at 00:30"
    );
}

/// Rule C: `finish` with `until` earlier than the clock is an error and
/// changes nothing (the state and the later outputs are as if never called).
#[test]
fn finish_until_before_the_clock_is_refused_and_changes_nothing() {
    let d = defs();
    let lines = [rain(120, "S1", 60.0), rain(130, "S2", 1.0)];
    let whole = run(&d, &Config::default(), &lines, End::Until(ts(160)));

    let mut e = d.engine().unwrap();
    let mut run_ = Run::default();
    push_all(&mut e, &numbered(&lines), &mut run_);
    let before = e.snapshot();
    let mut out: Vec<Output> = Vec::new();
    let r = e.finish(Some(ts(125)), &mut out);
    assert!(
        r.is_err(),
        "rule C broken: finish(Some(02:05)) with the clock at 02:10 must be refused"
    );
    assert!(
        out.is_empty(),
        "rule C broken: a refused finish emits nothing, got {:?}",
        out.iter().map(Output::to_json).collect::<Vec<_>>()
    );
    assert!(
        e.snapshot() == before,
        "rule C broken: a refused finish changed the engine's state"
    );
    end(&mut e, End::Until(ts(160)), &mut run_);
    assert_same(
        "rule C broken: the run after a refused finish differs from a run without it",
        &whole.outs,
        &run_.outs,
    );
}

// ---------------------------------------------------------------- D, E, F

/// A stream over the fixture with every kind of output the fixture makes:
/// level changes (raise, clear), absence and recovered, plans with timely,
/// escalated-instant and rejected acks, escalations, unanswered chains.
fn fixture_stream() -> Vec<String> {
    let mut lines = Vec::new();
    for m in (0..=180).step_by(5) {
        for st in ["S1", "S2", "S3"] {
            // S2 is offline from 01:00 to 02:00
            if st == "S2" && (60..120).contains(&m) {
                continue;
            }
            let mm = match (st, m) {
                ("S1", 60) => 60.0,
                ("S1", 120) => 90.0,
                _ => 0.0,
            };
            lines.push(rain(m, st, mm));
        }
        if m == 90 {
            lines.push(river(m, "S3", 12.0));
        }
        if m == 95 {
            lines.push(river(m, "S3", 3.0));
        }
        match m {
            // P1 answers S1 in time
            60 => lines.push(ack(63, "P1", Some(S1_CALL))),
            // a duplicate, and someone not in the roster
            65 => {
                lines.push(ack(65, "P1", Some(S1_CALL)));
                lines.push(ack(66, "Z9", Some(S1_CALL)));
            }
            // S3: P2 is called at 01:35 by the escalation and answers then
            95 => lines.push(ack(95, "P2", Some(&call_of("S3")))),
            _ => {}
        }
    }
    lines
}

/// Rule D: cutting the fixture stream before any line (snapshot → new
/// engine → restore) gives byte-identical outputs, ids included.
#[test]
fn split_run_equals_one_run_for_levels_absence_and_plans_with_acks() {
    let d = defs();
    let lines = fixture_stream();
    for config in [Config::default(), no_lateness()] {
        let whole = run(&d, &config, &lines, End::Until(ts(240)));
        for ty in [
            "level_changed",
            "absence",
            "recovered",
            "plan_started",
            "notify",
            "escalated",
            "acked",
            "ack_rejected",
            "plan_closed",
        ] {
            assert!(
                !only(&whole.outs, &[ty]).is_empty(),
                "the fixture stream is meant to produce `{ty}` outputs:\n{}",
                whole.outs.join("\n")
            );
        }
        assert_time_ordered("fixture stream, one run", &whole.outs);
        assert_ids("fixture stream, one run", &whole.outs);
        for cut in 0..=lines.len() {
            let split = run_split(&d, &config, &lines, cut, End::Until(ts(240)));
            assert_same(
                &format!(
                    "rule D broken: split before line {} (lateness {} ms) differs from one run",
                    cut + 1,
                    config.lateness_ms
                ),
                &whole.outs,
                &split.outs,
            );
        }
    }
}

/// A policy whose rhai function fails on negative inputs (see tests/scripts.rs).
const SCRIPT_POLICY: &str = "event r { site: string, x: number }\n\
fn f(x: number) -> number in rhai {\n  if x < 0.0 { throw \"negative\"; }\n  x\n}\n\
signal s {\n  from r\n  key site\n  let y = f(x)\n  level red when y >= 10\n  level blue when x >= 0\n}\n";

fn script_reading(min: i64, site: &str, x: f64) -> String {
    format!(
        r#"{{"ts":"{}","kind":"r","site":"{site}","x":{x:?}}}"#,
        at(min)
    )
}

/// 10 failing events in an hour (5 reported, 5 suppressed), a good reading
/// between each, then more failures in the next hour.
fn script_stream() -> Vec<String> {
    let mut lines = Vec::new();
    for i in 0..10 {
        lines.push(script_reading(i * 4, "A", -1.0));
        lines.push(script_reading(
            i * 4 + 2,
            "B",
            if i == 5 { 12.0 } else { 1.0 },
        ));
    }
    for i in 0..3 {
        lines.push(script_reading(70 + i * 5, "A", -2.0));
    }
    lines.push(script_reading(80, "B", 0.0));
    lines
}

/// Rule D for `script_error` / `script_suppressed`: the rate limiter's
/// state must survive a snapshot, so a split run gives the outputs of one run.
#[test]
fn regression_script_limiter_split_differs_from_one_run() {
    let d = Definitions::from_str("scripts.yj", SCRIPT_POLICY).unwrap();
    let lines = script_stream();
    for config in [Config::default(), no_lateness()] {
        let whole = run(&d, &config, &lines, End::Finish);
        let errors = only(&whole.outs, &["script_error"]);
        let suppressed = only(&whole.outs, &["script_suppressed"]);
        assert_eq!(
            errors.len(),
            5 + 3,
            "5 reported in the first hour, 3 in the next:\n{}",
            whole.outs.join("\n")
        );
        assert_eq!(suppressed.len(), 1, "{}", whole.outs.join("\n"));
        let s: J = serde_json::from_str(suppressed[0]).unwrap();
        assert_eq!(s["suppressed"], 5, "{s}");
        assert_ids("script stream, one run", &whole.outs);
        let mut broken = Vec::new();
        for cut in 0..=lines.len() {
            let split = run_split(&d, &config, &lines, cut, End::Finish);
            if split.outs != whole.outs {
                broken.push(cut);
            }
        }
        assert!(
            broken.is_empty(),
            "rule D broken for script_error/script_suppressed (lateness {} ms): a split run \
             differs from one run when cut before lines {:?} (1-based: +1). one run:\n{}",
            config.lateness_ms,
            broken,
            whole.outs.join("\n")
        );
    }
}

/// Reporting-deadline lines (as tests/deadlines_live.rs writes them): an
/// accident at 00:00 whose 单位报县 is due at 01:00 and never comes, and a
/// rain gauge turning orange at 01:02.
fn deadline_stream() -> Vec<String> {
    let accident = r#"{"kind":"accident","id":"A1","unit":"江口镇","ts":"2024-07-29T00:00:00+08:00","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}"#;
    let gauge = |min: i64, mm: f64| {
        format!(
            r#"{{"ts":"{}","kind":"rain","station":"YY-004","town":"江口镇","mm":{mm:?}}}"#,
            at(min)
        )
    };
    let mut lines = vec![accident.to_string(), gauge(30, 0.0), gauge(62, 60.0)];
    for m in (70..=200).step_by(10) {
        lines.push(gauge(m, 0.0));
    }
    lines
}

/// Rule E on live deadlines: `report_missing` at 01:00 must come out before
/// the `level_changed` at 01:02. Today the watermark applies the buffered
/// events first and runs the deadlines after them.
#[test]
fn regression_live_deadline_outputs_out_of_order() {
    let d = bundled_policies();
    let lines = deadline_stream();
    for config in [Config::default(), no_lateness()] {
        let whole = run(&d, &config, &lines, End::Finish);
        let briefs = whole.briefs();
        let missing = briefs
            .iter()
            .position(|b| b.starts_with("report_missing 01:00:00"))
            .unwrap_or_else(|| panic!("no report_missing at 01:00:\n{}", briefs.join("\n")));
        let level = briefs
            .iter()
            .position(|b| b.starts_with("level_changed 01:02:00"))
            .unwrap_or_else(|| panic!("no level_changed at 01:02:\n{}", briefs.join("\n")));
        assert!(
            missing < level,
            "rule E broken (lateness {} ms): level_changed 01:02 is emitted before \
             report_missing 01:00:\n{}",
            config.lateness_ms,
            briefs.join("\n")
        );
        assert_time_ordered("live deadlines, one run", &whole.outs);
        for cut in 0..=lines.len() {
            let split = run_split(&d, &config, &lines, cut, End::Finish);
            assert_time_ordered(
                &format!("live deadlines, split before line {}", cut + 1),
                &split.outs,
            );
            assert_same(
                &format!(
                    "rule D broken: live deadlines split before line {}",
                    cut + 1
                ),
                &whole.outs,
                &split.outs,
            );
        }
    }
}

/// Rule E on the bundled definitions over the bundled samples: one run,
/// split runs, and a run whose clock is moved by `advance_to` past the end.
/// Rule F on the same runs: ids ≥ 1, unique, identical across runs.
#[test]
fn outputs_are_in_time_order_with_stable_ids_on_the_bundled_samples() {
    let d = bundled();
    for sample_file in ["samples/rain.jsonl", "plans/samples/flood_acks.jsonl"] {
        let lines = sample(sample_file);
        let whole = run(&d, &Config::default(), &lines, End::Finish);
        assert!(!whole.outs.is_empty(), "{sample_file} produces outputs");
        assert_time_ordered(&format!("{sample_file}, one run"), &whole.outs);
        let ids = assert_ids(&format!("{sample_file}, one run"), &whole.outs);
        let again = run(&d, &Config::default(), &lines, End::Finish);
        assert_same(
            &format!("rule F broken: two runs of {sample_file} differ"),
            &whole.outs,
            &again.outs,
        );
        let n = lines.len();
        for cut in [1, n / 3, n / 2, n - 1] {
            let split = run_split(&d, &Config::default(), &lines, cut, End::Finish);
            assert_time_ordered(&format!("{sample_file}, split at {cut}"), &split.outs);
            assert_eq!(
                assert_ids(&format!("{sample_file}, split at {cut}"), &split.outs),
                ids,
                "rule F broken: ids of {sample_file} split at {cut} differ from one run"
            );
            assert_same(
                &format!("rule D broken: {sample_file} split before line {}", cut + 1),
                &whole.outs,
                &split.outs,
            );
        }
        // the clock moved past the end by advance_to, then finish
        let mut e = d.engine().unwrap();
        let mut r = Run::default();
        push_all(&mut e, &numbered(&lines), &mut r);
        let clock = e.clock().unwrap();
        let mut out: Vec<Output> = Vec::new();
        for h in 1..=3 {
            e.advance_to(
                yingji::Timestamp {
                    ms: clock.ms + h * 3_600_000,
                    offset_min: clock.offset_min,
                },
                &mut out,
            );
        }
        e.finish(None, &mut out).unwrap();
        r.outs.extend(out.iter().map(Output::to_json));
        assert_time_ordered(&format!("{sample_file}, advance_to past the end"), &r.outs);
        assert_ids(&format!("{sample_file}, advance_to past the end"), &r.outs);
    }
}

/// Rule F on the fixture stream: ids from 1, unique, the same in two runs
/// and in every split run (checked with rule D above); `outputs_numbered`
/// counts them.
#[test]
fn output_ids_are_positive_unique_and_identical_across_runs() {
    let d = defs();
    let lines = fixture_stream();
    let one = run(&d, &Config::default(), &lines, End::Until(ts(240)));
    let ids = assert_ids("fixture stream", &one.outs);
    let two = run(&d, &Config::default(), &lines, End::Until(ts(240)));
    assert_eq!(
        assert_ids("fixture stream, again", &two.outs),
        ids,
        "rule F broken: two runs number their outputs differently"
    );
    for cut in [1, lines.len() / 2, lines.len() - 1] {
        let split = run_split(&d, &Config::default(), &lines, cut, End::Until(ts(240)));
        assert_eq!(
            assert_ids("fixture stream, split", &split.outs),
            ids,
            "rule F broken: split at {cut} numbers outputs differently"
        );
    }
    let mut e = d.engine().unwrap();
    let mut r = Run::default();
    push_all(&mut e, &numbered(&lines), &mut r);
    end(&mut e, End::Until(ts(240)), &mut r);
    assert_eq!(e.outputs_numbered(), r.outs.len() as u64);
}

// ---------------------------------------------------------------- G

/// Good gauges S1..S4 every 5 minutes from 00:00 to 03:00 (S2 offline 01:00
/// to 02:00, S3 warning at 01:00 answered by P1 at 01:03), numbered 1…N.
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
            lines.push(ack(63, "P1", Some(&call_of("S3"))));
        }
    }
    numbered(&lines)
}

/// An output's JSON without its `id` (ids count every output, so another
/// source's outputs shift them; rule F is checked on its own).
fn without_id(s: &str) -> String {
    let mut o: J = serde_json::from_str(s).unwrap();
    if let Some(m) = o.as_object_mut() {
        m.remove("id");
    }
    o.to_string()
}

/// The outputs that are not about `station` (its key, its area, or a `late`
/// record of one of its lines), without ids.
fn not_about(run: &Run, station: &str, its_lines: &[u64]) -> Vec<String> {
    run.outs
        .iter()
        .filter(|s| {
            let o: J = serde_json::from_str(s).unwrap();
            let mine = o["key"] == station
                || o["area"] == station
                || (o["type"] == "late"
                    && o["event"].as_u64().is_some_and(|e| its_lines.contains(&e)));
            !mine
        })
        .map(|s| without_id(s))
        .collect()
}

/// Rule G(a): gauge S5's readings each jump 23 h ahead of its previous one
/// (each within the 1-day max-ahead of the previous). The stream's clock
/// follows a quorum of sources, so S5 cannot move it: every other gauge's
/// outputs are exactly those of the stream without S5, and S5's readings
/// more than a day ahead of the others are refused as `clock_suspect`.
/// Compared: the outputs emitted while the lines are pushed (how `finish`
/// treats S5's accepted readings is not what this test pins down). Today the
/// first jump moves the clock 23 h ahead and everyone else becomes late.
#[test]
fn regression_one_bad_clock_silences_everyone_gauge_jumping_23h() {
    let d = defs();
    let good = good_gauges();
    let without = run_numbered(&d, &Config::default(), &good, End::Nothing);
    assert!(!without.outs.is_empty());

    // S5 reading k at 23·k hours, pushed after the good lines of minute 30·k
    let bad: Vec<(u64, String)> = (0..6)
        .map(|k| (10_001 + k as u64, rain(k * 23 * 60, "S5", 0.0)))
        .collect();
    let mut lines = Vec::new();
    let mut next_bad = 0;
    for (seq, l) in &good {
        lines.push((*seq, l.clone()));
        if let Some(b) = bad.get(next_bad) {
            let after = format!("\"ts\":\"{}\"", at(30 * next_bad as i64));
            if l.contains(&after) && l.contains("\"S4\"") {
                lines.push(b.clone());
                next_bad += 1;
            }
        }
    }
    assert_eq!(next_bad, bad.len(), "every S5 line is in the stream");
    let with = run_numbered(&d, &Config::default(), &lines, End::Nothing);
    let bad_seqs: Vec<u64> = bad.iter().map(|(s, _)| *s).collect();
    for (seq, err) in &with.errors {
        assert!(
            bad_seqs.contains(seq),
            "rule G broken: a good gauge's line {seq} was refused: {err}"
        );
    }
    assert_same(
        "rule G broken: one gauge's bad clock changed the outputs of the other gauges",
        &without
            .outs
            .iter()
            .map(|s| without_id(s))
            .collect::<Vec<_>>(),
        &not_about(&with, "S5", &bad_seqs),
    );
    // readings 2.. are 46 h and more ahead of the others (at most 03:00)
    for (seq, _) in bad.iter().skip(2) {
        let err = with.errors.iter().find(|(s, _)| s == seq);
        match err {
            Some((_, e)) => assert!(
                e.contains("clock_suspect"),
                "rule G broken: S5's far-ahead line {seq} must be refused as clock_suspect, \
                 got: {e}"
            ),
            None => panic!(
                "rule G broken: S5's line {seq}, more than a day ahead of every other gauge, \
                 was accepted (must be refused as clock_suspect)"
            ),
        }
    }
}

/// Rule G: an event far behind the clock (a year typed 1012) is `late` like
/// any event: one `late` record, nothing else changes.
#[test]
fn an_event_dated_1012_is_late_like_any_event() {
    let d = defs();
    let good = good_gauges();
    let without = run_numbered(&d, &Config::default(), &good, End::Finish);
    let typo = (
        20_000,
        rain(90, "S1", 60.0).replace("2024-07-29", "1012-07-29"),
    );
    let mut lines = good.clone();
    lines.insert(good.len() / 2, typo.clone());
    let with = run_numbered(&d, &Config::default(), &lines, End::Finish);
    assert!(
        with.errors.is_empty(),
        "an old event is late, not refused: {:?}",
        with.errors
    );
    let late: Vec<J> = with
        .json()
        .into_iter()
        .filter(|o| o["type"] == "late")
        .collect();
    assert_eq!(late.len(), 1, "exactly one late record: {late:?}");
    assert_eq!(late[0]["event"], 20_000);
    assert_eq!(late[0]["ts"], "1012-07-29T01:30:00+08:00");
    let rest: Vec<String> = with
        .outs
        .iter()
        .filter(|s| !s.contains(r#""type":"late""#))
        .cloned()
        .collect();
    // ids shift by the one late record; compare without them
    let strip = |v: &[String]| -> Vec<J> {
        v.iter()
            .map(|s| {
                let mut o: J = serde_json::from_str(s).unwrap();
                o.as_object_mut().unwrap().remove("id");
                o
            })
            .collect()
    };
    assert_eq!(
        strip(&without.outs),
        strip(&rest),
        "rule G broken: an event dated 1012 changed other outputs"
    );
}

/// Rule G: two accident records, one dated 1012 (a typo): the old one is
/// `late` like any event and opens no obligations, so the run gives a
/// handful of outputs, not one `report_missing` per day since 1012.
#[test]
fn two_deadline_records_one_dated_1012_give_a_bounded_output() {
    let d = bundled_policies();
    let accident = |id: &str, ts: &str| {
        format!(
            r#"{{"kind":"accident","id":"{id}","unit":"江口镇","ts":"{ts}","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}}"#
        )
    };
    let mut lines = vec![
        accident("A1", "2024-07-29T00:00:00+08:00"),
        accident("A2", "1012-07-29T00:00:00+08:00"),
    ];
    for m in (10..=180).step_by(10) {
        lines.push(format!(
            r#"{{"ts":"{}","kind":"rain","station":"YY-004","town":"江口镇","mm":0}}"#,
            at(m)
        ));
    }
    let r = run(&d, &Config::default(), &lines, End::Finish);
    assert!(
        r.outs.len() <= 40,
        "rule G broken: two records gave {} outputs (bounded: a handful); first ones:\n{}",
        r.outs.len(),
        r.outs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    let late = only(&r.outs, &["late"]);
    assert_eq!(
        late.len(),
        1,
        "the 1012 record is late: {}",
        r.outs.join("\n")
    );
    let about_a2: Vec<&String> = r
        .outs
        .iter()
        .filter(|s| s.contains(r#""type":"report_"#) && s.contains(r#""subject":"A2""#))
        .collect();
    assert!(
        about_a2.is_empty(),
        "rule G broken: a late record (1012) opened reporting obligations:\n{}",
        about_a2
            .iter()
            .take(5)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_time_ordered("deadlines with a 1012 record", &r.outs);
}

// ---------------------------------------------------------------- H

/// Rule H: S1 reports at 00:00 and goes offline; with `idle_ttl 2h` it is
/// forgotten while offline; when it returns at 05:00 its `recovered` (last
/// seen 00:00) must still come out, exactly as without `idle_ttl`.
#[test]
fn regression_idle_ttl_forgets_an_offline_key_and_loses_its_recovered() {
    let d = defs();
    let mut lines = vec![rain(0, "S1", 0.0)];
    for m in (5..=360).step_by(5) {
        lines.push(rain(m, "S2", 0.0));
        if m == 300 {
            lines.push(rain(300, "S1", 0.0));
        }
    }
    let ttl = Config {
        idle_ttl_ms: Some(2 * 3_600_000),
        ..Config::default()
    };
    let without = run(&d, &Config::default(), &lines, End::Finish);
    let with = run(&d, &ttl, &lines, End::Finish);
    let s1: Vec<String> = with
        .json()
        .iter()
        .filter(|o| o["key"] == "S1")
        .map(|o| {
            format!(
                "{} last_seen={}",
                brief(o),
                clock_of(o["last_seen"].as_str().unwrap_or("-"))
            )
        })
        .collect();
    assert_eq!(
        s1,
        [
            "absence 00:30:00 key=S1 last_seen=00:00:00",
            "recovered 05:00:00 key=S1 last_seen=00:00:00",
            "absence 05:30:00 key=S1 last_seen=05:00:00",
        ],
        "rule H broken: a key forgotten by idle_ttl while offline must still report \
         `recovered` when it returns"
    );
    assert_same(
        "rule H broken: idle_ttl (2h, longer than `missing 30m`) changed the outputs",
        &without.outs,
        &with.outs,
    );
}

/// The engine's error text, or a panic if the engine was made.
fn refused(d: &Definitions, idle_ttl_ms: i64) -> String {
    match d.engine_with(Config {
        idle_ttl_ms: Some(idle_ttl_ms),
        ..Config::default()
    }) {
        Ok(_) => panic!(
            "rule H broken: idle_ttl {} ms, shorter than a signal's `missing` or longest \
             window, was accepted silently",
            idle_ttl_ms
        ),
        Err(e) => e.to_string(),
    }
}

/// Rule H: an idle_ttl shorter than a signal's `missing` (30m) or longest
/// window (3h) is refused when the engine is made, naming the signal and
/// both durations; one at least as long is accepted.
#[test]
fn regression_idle_ttl_shorter_than_missing_accepted_silently() {
    let d = defs();
    let msg = refused(&d, 10 * 60_000);
    for part in ["失联", "10m", "30m"] {
        assert!(
            msg.contains(part),
            "rule H: the refusal must name the signal and both durations (missing `{part}`): {msg}"
        );
    }
    assert!(
        d.engine_with(Config {
            idle_ttl_ms: Some(30 * 60_000),
            ..Config::default()
        })
        .is_ok(),
        "idle_ttl equal to `missing` is long enough"
    );

    let windows = Definitions::from_str(
        "w.yj",
        "event rain { station: string, mm: number }\n\
         signal 暴雨 { from rain key station let r3 = sum(mm, 3h) level red when r3 >= 100 }\n",
    )
    .unwrap();
    let msg = refused(&windows, 3_600_000);
    for part in ["暴雨", "1h", "3h"] {
        assert!(
            msg.contains(part),
            "rule H: the refusal must name the signal and both durations (missing `{part}`): {msg}"
        );
    }
    assert!(
        windows
            .engine_with(Config {
                idle_ttl_ms: Some(3 * 3_600_000),
                ..Config::default()
            })
            .is_ok(),
        "idle_ttl equal to the longest window is long enough"
    );
}

/// One millisecond after `t`: the clock has passed `t`.
fn just_after(t: yingji::Timestamp) -> yingji::Timestamp {
    yingji::Timestamp { ms: t.ms + 1, ..t }
}
