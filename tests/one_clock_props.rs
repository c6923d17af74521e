//! "One clock" properties (rules A, D, E, F of `tests/one_clock.rs`) over
//! random streams of the `tests/one_clock/` fixture: rain and river readings
//! at three stations, warnings that start 叫应 plans, and acks (with and
//! without a call reference), all on a 5-minute grid from 02:00 so that many
//! lines share a timestamp and acks fall on tier deadlines and escalations.
//!
//! - permuting the lines that share a timestamp changes no output;
//! - additionally renaming the sensor kinds consistently in the definitions
//!   and the stream (`rain` → `zzz_rain`, `river` → `aaa_river`; `ack` is the
//!   plan runtime's own kind and cannot be renamed) changes no output once
//!   the kind names are mapped back;
//! - cutting the stream anywhere with snapshot/restore changes no output.
//!
//! Lines keep their sequence number (their identity) when permuted, so
//! outputs naming an input line compare equal. Identical lines are removed
//! (two identical acks differ only by which line is "the duplicate").
//! 32 cases each by default; `PROPTEST_CASES` raises it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test"
)]

mod one_clock_common;

use one_clock_common::*;
use proptest::prelude::*;
use yingji::unstable::engine::Config;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

const STATIONS: [&str; 3] = ["S1", "S2", "S3"];
const PEOPLE: [&str; 3] = ["P1", "P2", "P3"];

/// One generated input line, before it is written.
#[derive(Clone, Debug)]
enum Ev {
    Rain {
        slot: i64,
        st: usize,
        mm: f64,
    },
    River {
        slot: i64,
        st: usize,
        level: f64,
    },
    Ack {
        slot: i64,
        person: usize,
        call: Option<usize>,
    },
}

impl Ev {
    fn minute(&self) -> i64 {
        let slot = match self {
            Ev::Rain { slot, .. } | Ev::River { slot, .. } | Ev::Ack { slot, .. } => *slot,
        };
        120 + slot * 5
    }

    fn line(&self, rain_as: &str, river_as: &str) -> String {
        let m = self.minute();
        match self {
            Ev::Rain { st, mm, .. } => rain_k(rain_as, m, STATIONS[*st], *mm),
            Ev::River { st, level, .. } => river(m, STATIONS[*st], *level)
                .replace(r#""kind":"river""#, &format!(r#""kind":"{river_as}""#)),
            Ev::Ack { person, call, .. } => {
                let r = call.map(|s| format!("测试预案@{}#1/叫应", STATIONS[s]));
                ack(m, PEOPLE[*person], r.as_deref())
            }
        }
    }
}

fn ev() -> impl Strategy<Value = Ev> {
    let slot = 0i64..8;
    prop_oneof![
        4 => (slot.clone(), 0usize..3, prop::sample::select(vec![0.0, 1.0, 60.0, 90.0]))
            .prop_map(|(slot, st, mm)| Ev::Rain { slot, st, mm }),
        2 => (slot.clone(), 0usize..3, prop::sample::select(vec![1.0, 12.0]))
            .prop_map(|(slot, st, level)| Ev::River { slot, st, level }),
        4 => (slot, 0usize..3, prop::option::of(0usize..3))
            .prop_map(|(slot, person, call)| Ev::Ack { slot, person, call }),
    ]
}

/// A stream: events in time order, identical lines removed, each with a
/// random key that orders it among the lines sharing its timestamp.
fn stream() -> impl Strategy<Value = (Vec<Ev>, Vec<u32>)> {
    prop::collection::vec(ev(), 2..32).prop_flat_map(|evs| {
        let n = evs.len();
        (Just(evs), prop::collection::vec(any::<u32>(), n))
    })
}

/// The events sorted by time (stable), without identical lines.
fn in_time_order(evs: &[Ev]) -> Vec<Ev> {
    let mut v: Vec<Ev> = Vec::new();
    for e in evs {
        let l = e.line("rain", "river");
        if !v.iter().any(|x| x.line("rain", "river") == l) {
            v.push(e.clone());
        }
    }
    v.sort_by_key(Ev::minute);
    v
}

/// The numbered lines in time order, and the same lines with those sharing
/// a timestamp permuted by `keys`, kinds spelled as given.
fn permuted(evs: &[Ev], keys: &[u32], rain_as: &str, river_as: &str) -> Vec<(u64, String)> {
    let mut idx: Vec<usize> = (0..evs.len()).collect();
    idx.sort_by_key(|&i| (evs[i].minute(), keys.get(i).copied().unwrap_or(0)));
    idx.into_iter()
        .map(|i| (i as u64 + 1, evs[i].line(rain_as, river_as)))
        .collect()
}

/// Outputs with the renamed kinds mapped back.
fn normalised(outs: &[String], rain_as: &str, river_as: &str) -> Vec<String> {
    outs.iter()
        .map(|o| {
            o.replace(&format!(r#""kind":"{rain_as}""#), r#""kind":"rain""#)
                .replace(&format!(r#""kind":"{river_as}""#), r#""kind":"river""#)
        })
        .collect()
}

const UNTIL: i64 = 200;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // no regressions file: a failing case is printed in full instead
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Rule A: the order of same-time lines changes no output.
    #[test]
    fn permuting_same_time_lines_changes_no_output((evs, keys) in stream()) {
        let evs = in_time_order(&evs);
        let d = defs();
        let base: Vec<(u64, String)> = numbered(
            &evs.iter().map(|e| e.line("rain", "river")).collect::<Vec<_>>(),
        );
        let one = run_numbered(&d, &Config::default(), &base, End::Until(ts(UNTIL)));
        assert_time_ordered("random stream", &one.outs);
        assert_ids("random stream", &one.outs);
        let lines = permuted(&evs, &keys, "rain", "river");
        let other = run_numbered(&d, &Config::default(), &lines, End::Until(ts(UNTIL)));
        prop_assert!(
            one.outs == other.outs,
            "rule A broken: permuting same-time lines changed the outputs\n\
             sorted input:\n{}\npermuted input:\n{}\n--- outputs sorted ---\n{}\n--- outputs permuted ---\n{}",
            base.iter().map(|(s, l)| format!("{s}: {l}")).collect::<Vec<_>>().join("\n"),
            lines.iter().map(|(s, l)| format!("{s}: {l}")).collect::<Vec<_>>().join("\n"),
            one.briefs().join("\n"),
            other.briefs().join("\n"),
        );
    }

    /// Rule A: permuting same-time lines and renaming the sensor kinds
    /// (`rain` → `zzz_rain`, `river` → `aaa_river`, so `ack` sorts between
    /// them the other way round) changes no output.
    #[test]
    fn permuting_and_renaming_kinds_changes_no_output((evs, keys) in stream()) {
        let evs = in_time_order(&evs);
        let d = defs();
        let base: Vec<(u64, String)> = numbered(
            &evs.iter().map(|e| e.line("rain", "river")).collect::<Vec<_>>(),
        );
        let one = run_numbered(&d, &Config::default(), &base, End::Until(ts(UNTIL)));
        let (rain_as, river_as) = ("zzz_rain", "aaa_river");
        let renamed = defs_spelled(rain_as, river_as);
        let lines = permuted(&evs, &keys, rain_as, river_as);
        let other = run_numbered(&renamed, &Config::default(), &lines, End::Until(ts(UNTIL)));
        let other_outs = normalised(&other.outs, rain_as, river_as);
        prop_assert!(
            one.outs == other_outs,
            "rule A broken: renaming the sensor kinds (and permuting same-time lines) changed \
             the outputs\nrenamed, permuted input:\n{}\n--- outputs ---\n{}\n--- outputs renamed ---\n{}",
            lines.iter().map(|(s, l)| format!("{s}: {l}")).collect::<Vec<_>>().join("\n"),
            one.briefs().join("\n"),
            other.briefs().join("\n"),
        );
    }

    /// Rule D (and E, F): a run cut at a random line with snapshot/restore
    /// gives byte-identical outputs, ids included.
    #[test]
    fn a_split_run_equals_one_run((evs, _keys) in stream(), cut in any::<prop::sample::Index>()) {
        let evs = in_time_order(&evs);
        let d = defs();
        let lines: Vec<String> = evs.iter().map(|e| e.line("rain", "river")).collect();
        let cut = cut.index(lines.len() + 1);
        for config in [Config::default(), no_lateness()] {
            let one = run(&d, &config, &lines, End::Until(ts(UNTIL)));
            let split = run_split(&d, &config, &lines, cut, End::Until(ts(UNTIL)));
            assert_time_ordered("random stream, split", &split.outs);
            assert_ids("random stream, split", &split.outs);
            prop_assert!(
                one.outs == split.outs,
                "rule D broken: cut before line {} (lateness {} ms) differs from one run\n\
                 input:\n{}\n--- one run ---\n{}\n--- split ---\n{}",
                cut + 1,
                config.lateness_ms,
                lines.join("\n"),
                one.outs.join("\n"),
                split.outs.join("\n"),
            );
        }
    }
}
