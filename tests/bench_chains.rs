//! The `chains` bench workload: a deterministic generator, the streaming
//! engine and the hand-written baseline agreeing record for record, the
//! 叫应 outcomes it is meant to exercise, and its parameter errors. No test
//! here measures or asserts a duration.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::process::Command;
use yingji::Output;
use yingji_bench::ParamError;
use yingji_bench::chains::{
    ChainInput, ChainsWorkload, NativeChains, Outcomes, RECORD_KINDS, Record, Tally, chains,
    round_start, run_engine,
};

fn engine_run(w: &ChainsWorkload) -> (Tally, Vec<Output>) {
    let defs = yingji::Definitions::load(&yingji::MemLoader(w.files())).unwrap();
    let mut eng = defs.engine().unwrap();
    let mut out = Vec::new();
    for ev in &w.events {
        eng.push(ev, &mut out).unwrap();
    }
    eng.flush(&mut out);
    let mut tally = Tally::default();
    for o in &out {
        tally.output(o);
    }
    // the helper the bench and criterion use gives the same tally
    let mut again = Tally::default();
    let mut eng = defs.engine().unwrap();
    run_engine(&mut eng, &w.events, &mut again).unwrap();
    assert_eq!(tally, again);
    (tally, out)
}

fn native_run(w: &ChainsWorkload) -> Tally {
    let mut n = NativeChains::new(w);
    let mut tally = Tally::default();
    for (ev, input) in w.events.iter().zip(&w.inputs) {
        n.push(ev.ts.ms, input, &mut tally);
    }
    n.finish(&mut tally);
    tally
}

/// Counts by kind, in [`Record`] order.
fn counts(t: &Tally) -> [u64; RECORD_KINDS] {
    t.by_kind
}

#[test]
fn generator_is_deterministic_and_prefix_stable() {
    let a = chains(40, 500, 9).unwrap();
    let b = chains(40, 500, 9).unwrap();
    assert_eq!(a.source, b.source);
    assert_eq!(a.plan_yaml, b.plan_yaml);
    assert_eq!(a.roster_yaml, b.roster_yaml);
    assert_eq!(a.jsonl(), b.jsonl());
    assert_eq!(a.inputs, b.inputs);
    assert_eq!(a.outcomes, b.outcomes);
    assert_eq!(a.events.len(), 500);
    // a longer stream of the same seed starts with the shorter one
    let longer = chains(40, 800, 9).unwrap();
    assert_eq!(longer.jsonl()[..500], a.jsonl()[..]);
    // another seed gives another stream over the same definitions
    let c = chains(40, 500, 10).unwrap();
    assert_eq!(a.plan_yaml, c.plan_yaml);
    assert_ne!(a.jsonl(), c.jsonl());
    // events are in time order and numbered from 1
    assert!(a.events.windows(2).all(|p| p[0].ts.ms <= p[1].ts.ms));
    assert!(
        a.events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1)
    );
}

#[test]
fn generated_definitions_load_cleanly() {
    let w = chains(45, 200, 1).unwrap();
    let defs = yingji::Definitions::load(&yingji::MemLoader(w.files())).unwrap();
    assert!(
        defs.warnings().is_empty(),
        "{:?}",
        defs.warnings()
            .iter()
            .map(|d| &d.message)
            .collect::<Vec<_>>()
    );
    assert_eq!(defs.unstable_plans().plans.len(), 1);
    assert_eq!(defs.unstable_plans().chains.len(), 1);
    let tiers: Vec<(&str, i64)> = defs.unstable_plans().chains[0]
        .tiers
        .iter()
        .map(|t| (t.role.as_str(), t.timeout_ms))
        .collect();
    assert_eq!(
        tiers,
        [
            ("县防汛负责人", 300_000),
            ("乡镇主要负责人", 300_000),
            ("村防汛责任人", 600_000)
        ]
    );
    assert_eq!(defs.unstable_plans().chains[0].fallback, ["县应急值班室"]);
    // county lead, duty office, 3 town heads (20 villages a town), 45 village persons
    assert_eq!(defs.unstable_plans().roster.people.len(), 2 + 3 + 45);
}

#[test]
fn engine_and_native_agree_on_every_record() {
    for (m, n, seed) in [(1, 3, 1), (8, 100, 7), (25, 1_000, 3), (120, 5_000, 42)] {
        let w = chains(m, n, seed).unwrap();
        let (yingji, _) = engine_run(&w);
        let native = native_run(&w);
        assert_eq!(yingji, native, "chains {m}, events {n}, seed {seed}");
        assert_eq!(yingji.count(Record::Other), 0);
    }
}

#[test]
fn small_fixed_instance_exact_records() {
    // 8 villages, 100 events: four complete rounds and a fifth cut short
    let w = chains(8, 100, 7).unwrap();
    assert_eq!(w.rounds, 4);
    assert_eq!(
        w.outcomes,
        Outcomes {
            in_time: 10,
            after_one_escalation: 14,
            after_two_escalations: 7,
            never: 6,
            too_late: 3,
        }
    );
    let (yingji, _) = engine_run(&w);
    // level, started, notify, escalated, acked, rejected, unanswered, closed, other
    assert_eq!(counts(&yingji), [72, 40, 85, 37, 25, 3, 8, 33, 0]);
    assert_eq!(yingji, native_run(&w));
}

#[test]
fn complete_rounds_match_the_generated_outcomes() {
    // cut the stream where round 3 starts: three complete rounds, every chain ended
    let long = chains(30, 1_000, 5).unwrap();
    let cut = long
        .events
        .iter()
        .position(|e| e.ts.ms >= round_start(3))
        .unwrap();
    let w = chains(30, cut, 5).unwrap();
    assert_eq!(w.rounds, 3);
    let o = w.outcomes;
    assert_eq!(o.total(), 90);
    let (t, _) = engine_run(&w);
    assert_eq!(t, native_run(&w));
    let unanswered = (o.never + o.too_late) as u64;
    let escalated = (o.after_one_escalation + 2 * o.after_two_escalations) as u64 + 2 * unanswered;
    assert_eq!(t.count(Record::Started), 90);
    assert_eq!(
        t.count(Record::Level),
        180,
        "a rise and a stand-down per chain"
    );
    assert_eq!(t.count(Record::Escalated), escalated);
    assert_eq!(t.count(Record::Unanswered), unanswered);
    assert_eq!(
        t.count(Record::Acked),
        (o.in_time + o.after_one_escalation + o.after_two_escalations) as u64
    );
    assert_eq!(t.count(Record::Rejected), o.too_late as u64);
    // the first call, one per escalation, and the duty office per unanswered chain
    assert_eq!(t.count(Record::Notify), 90 + escalated + unanswered);
    assert_eq!(t.count(Record::Closed), 90);
    assert_eq!(
        (
            o.in_time,
            o.after_one_escalation,
            o.after_two_escalations,
            o.never,
            o.too_late
        ),
        (35, 25, 12, 11, 7)
    );
}

#[test]
fn checksum_tells_a_diverging_run_apart() {
    let w = chains(8, 100, 7).unwrap();
    let (yingji, _) = engine_run(&w);
    let first_ack = w
        .inputs
        .iter()
        .position(|x| matches!(x, ChainInput::Ack { .. }))
        .unwrap();
    // the same answer one second later: same records by kind, another checksum
    let mut later = w.clone();
    later.events[first_ack].ts.ms += 1_000;
    let shifted = native_run(&later);
    assert_eq!(counts(&shifted), counts(&yingji));
    assert_ne!(shifted.sum, yingji.sum);
    // an answer from someone who was not called is rejected instead
    let mut wrong = w.clone();
    if let ChainInput::Ack { person, .. } = &mut wrong.inputs[first_ack] {
        *person = "V999999".into();
    }
    let t = native_run(&wrong);
    assert_ne!(t.sum, yingji.sum);
    assert_eq!(
        t.count(Record::Rejected),
        yingji.count(Record::Rejected) + 1
    );
}

#[test]
fn records_show_escalation_fallback_lateness_and_rejection() {
    let w = chains(8, 100, 7).unwrap();
    let (_, out) = engine_run(&w);
    // an escalation to the village tier
    assert!(out.iter().any(|o| matches!(o,
        Output::Escalated(e) if e.from_tier == 2 && e.to_tier == 3 && e.timeout == "5m")));
    // an unanswered chain tells the county duty office
    let unanswered = out
        .iter()
        .find_map(|o| match o {
            Output::Unanswered(u) => Some(u),
            _ => None,
        })
        .unwrap();
    assert_eq!(unanswered.fallback.len(), 1);
    assert_eq!(unanswered.fallback[0].as_ref(), "县应急值班室");
    assert!(out.iter().any(|o| matches!(o,
        Output::Notify(n) if n.tier == 0 && n.person.as_ref() == "C002"
            && n.head.ts == unanswered.head.ts && n.head.area == unanswered.head.area)));
    // the county lead answering after the chain moved on is late, but answers it
    assert!(out.iter().any(|o| matches!(o,
        Output::Acked(a) if a.tier == 1 && !a.in_time && a.answers_chain)));
    assert!(out.iter().any(|o| matches!(o,
        Output::Acked(a) if a.tier == 1 && a.in_time)));
    // an answer after the chain gave up is rejected: the instance closed
    assert!(out.iter().any(|o| matches!(o,
        Output::AckRejected(r) if r.reason == yingji::unstable::engine::workflow::out::AckReject::Closed)));
    // a village's second warning round is a new instance with its own reference
    assert!(out.iter().any(|o| matches!(o,
        Output::PlanStarted(p) if p.head.instance.ends_with("#2"))));
}

#[test]
fn bad_parameters_are_rejected_with_clear_messages() {
    let msg = |r: Result<ChainsWorkload, ParamError>| r.err().map(|e| e.to_string());
    assert_eq!(
        msg(chains(0, 100, 1)).as_deref(),
        Some("--chains must be at least 1")
    );
    assert_eq!(
        msg(chains(5, 0, 1)).as_deref(),
        Some("--events must be at least 1")
    );
    assert_eq!(
        msg(chains(10, 29, 1)).as_deref(),
        Some(
            "--events 29 is too few for --chains 10: every chain needs up to 3 events per round (start, answer, stand-down), so at least 30"
        )
    );
    assert_eq!(
        msg(chains(1_000_001, 5_000_000, 1)).as_deref(),
        Some("--chains 1000001 is more than this workload supports (1000000)")
    );
    assert!(
        chains(10, 30, 1).is_ok(),
        "exactly three events per chain is enough"
    );
}

fn bench_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(["bench", "--workload", "chains", "--no-progress"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_rejects_impossible_parameters_with_exit_2() {
    for (args, want) in [
        (
            vec!["--chains", "0"],
            "yingji bench: --chains must be at least 1\n",
        ),
        (
            vec!["--events", "0"],
            "yingji bench: --events must be at least 1\n",
        ),
        (
            vec!["--chains", "100", "--events", "299"],
            "yingji bench: --events 299 is too few for --chains 100: every chain needs up to 3 events per round (start, answer, stand-down), so at least 300\n",
        ),
    ] {
        let out = bench_cli(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), want, "{args:?}");
        assert!(out.stdout.is_empty(), "no figures on bad input");
    }
}

#[test]
fn cli_json_has_the_contract_fields() {
    let out = bench_cli(&["--chains", "20", "--events", "300", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON object per workload");
    let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["workload"], "chains");
    assert_eq!(v["events"], 300);
    assert_eq!(v["checksums_equal"], true);
    assert!(v["rhai_ns_per_event"].is_null());
    for f in [
        "yingji_ns_per_event",
        "native_ns_per_event",
        "compile_ms",
        "state_bytes_per_key",
    ] {
        assert!(v[f].is_number(), "{f}: {}", v[f]);
    }
    assert!(v.get("peak_rss_bytes").is_some());
    assert_eq!(v["params"]["chains"], 20);
}
