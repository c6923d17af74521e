//! `chains`: M concurrent 叫应 (call-and-respond) chains with timers.
//!
//! The generated county has `chains` villages (村), twenty to a town (镇).
//! Every village runs one responsibility chain per warning round:
//!
//! - tier 1 县防汛负责人 (one person for the county), 5 min to answer;
//! - tier 2 乡镇主要负责人 (the town head), 5 min;
//! - tier 3 村防汛责任人 (the village's own person), 10 min, then the
//!   county duty office (县应急值班室) is told and the chain is unanswered.
//!
//! A round starts every 30 min of event time: each village sends a reading
//! that lifts the signal `压测预警` to yellow or orange within the first two
//! minutes (so all `chains` chains run side by side), the plan `叫应压测`
//! starts an instance and calls tier 1. The village's chain then ends one of
//! five ways, drawn from the seed: answered by tier 1 in time (40 %), answered
//! after one escalation (20 %), after two (15 %), never answered (15 %), or
//! answered too late, after the chain gave up and the instance closed (10 %,
//! the answer is rejected). A reading below yellow 25 min after the start
//! clears the signal so the next round can start a new instance.
//!
//! Answers carry the call reference from the `notify` record, as a real
//! answer would. Timer deadlines, answers at exactly a deadline (in time) and
//! answers right after one are all part of the stream.
//!
//! [`NativeChains`] is the hand-written baseline: per village a small state
//! machine and one timer heap for all of them. [`Tally`] condenses the
//! records both produce (level changes, starts, calls, escalations, answers,
//! rejected answers, unanswered chains, closings, each with area, tier,
//! person and time) so the runs can be checked equal before any figure is
//! reported.

use super::{ParamError, Rng, T0_MS};
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::sync::Arc;
use yingji_engine::workflow::WorkflowRuntime;
use yingji_engine::workflow::out::AckReject;
use yingji_engine::{Engine, Event, Level, Output, Program, Timestamp, Value};

/// The plan every village runs.
pub const PLAN: &str = "叫应压测";
/// The plan's notify step (the last part of a call reference).
pub const NOTIFY_STEP: &str = "叫应";
/// The signal whose rise starts the plan.
pub const SIGNAL: &str = "压测预警";
/// The chain.
pub const CHAIN: &str = "压测叫应";
/// The chain's tiers: role and timeout (ms).
pub const TIERS: [(&str, i64); 3] = [
    ("县防汛负责人", 5 * 60_000),
    ("乡镇主要负责人", 5 * 60_000),
    ("村防汛责任人", 10 * 60_000),
];
/// Who is told when the last tier does not answer.
pub const FALLBACK_ROLE: &str = "县应急值班室";
/// Villages per town.
pub const VILLAGES_PER_TOWN: usize = 20;
/// Event time between the starts of two rounds.
pub const ROUND_MS: i64 = 30 * 60_000;
/// The most chains the generator names (`村000000` … `村999999`).
pub const MAX_CHAINS: usize = 1_000_000;
/// Events a chain needs per round at most: start, answer, stand-down.
pub const EVENTS_PER_CHAIN: usize = 3;
/// Person id of the county flood-control lead (tier 1 everywhere).
pub const COUNTY_LEAD: &str = "C001";
/// Person id of the county duty office (the fallback).
pub const DUTY_OFFICE: &str = "C002";

/// The signal, as `.yj`.
pub const CHAINS_SOURCE: &str = "event reading { village: string, value: number }
signal 压测预警 {
  from reading
  key village
  level orange when value >= 80
  level yellow when value >= 50
}
";

/// Start of a stand-down after a start (the chain has ended by then).
const STAND_DOWN_MS: i64 = 25 * 60_000;
/// Starts of one round are spread over this much event time.
const START_SPREAD_MS: u64 = 120_000;

/// How a generated chain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Tier 1 answers within its 5 min (an answer at exactly 5 min included).
    InTime,
    /// Tier 1 (late) or tier 2 (in time) answers between 5 and 10 min.
    AfterOneEscalation,
    /// Tier 1, 2 or 3 answers between 10 and 20 min.
    AfterTwoEscalations,
    /// Nobody answers: unanswered at 20 min, the duty office is told.
    Never,
    /// An answer comes after the chain gave up (rejected: the instance closed).
    TooLate,
}

/// Chains started in the stream, by how they were generated to end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// [`Outcome::InTime`].
    pub in_time: usize,
    /// [`Outcome::AfterOneEscalation`].
    pub after_one_escalation: usize,
    /// [`Outcome::AfterTwoEscalations`].
    pub after_two_escalations: usize,
    /// [`Outcome::Never`].
    pub never: usize,
    /// [`Outcome::TooLate`].
    pub too_late: usize,
}

impl Outcomes {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::InTime => self.in_time += 1,
            Outcome::AfterOneEscalation => self.after_one_escalation += 1,
            Outcome::AfterTwoEscalations => self.after_two_escalations += 1,
            Outcome::Never => self.never += 1,
            Outcome::TooLate => self.too_late += 1,
        }
    }
    /// Chains started.
    pub fn total(&self) -> usize {
        self.in_time
            + self.after_one_escalation
            + self.after_two_escalations
            + self.never
            + self.too_late
    }
}

/// One input as the native baseline reads it (the same content as the
/// engine's pre-parsed [`Event`]).
#[derive(Clone, Debug, PartialEq)]
pub enum ChainInput {
    /// `{"kind":"reading","village":..,"value":..}`.
    Reading {
        /// The village (signal key and plan area).
        village: Arc<str>,
        /// The reading.
        value: f64,
    },
    /// `{"kind":"ack","person":..,"ref":..}`.
    Ack {
        /// Who answers.
        person: Arc<str>,
        /// The call reference from the `notify` record.
        call_ref: Arc<str>,
    },
}

/// A generated `chains` workload.
#[derive(Clone, Debug)]
pub struct ChainsWorkload {
    /// Concurrent chains (villages).
    pub chains: usize,
    /// The signal (`.yj`).
    pub source: String,
    /// The plan and its chain (plan YAML).
    pub plan_yaml: String,
    /// The roster: county, towns, villages and one person per role and area.
    pub roster_yaml: String,
    /// Events in time order, pre-parsed against `program`.
    pub events: Vec<Event>,
    /// The same events as the native baseline reads them.
    pub inputs: Vec<ChainInput>,
    /// Chains started in the stream, by generated outcome.
    pub outcomes: Outcomes,
    /// Complete rounds in the stream (a last, partial round is not counted).
    pub rounds: usize,
    /// The compiled program (signals plus the kinds plans need).
    pub program: Program,
}

/// Event time (ms) at which round `r` (0-based) starts: 2024-07-28T00:00+08:00
/// plus `r` × [`ROUND_MS`]; a round's starts fall in its first two minutes.
pub fn round_start(r: usize) -> i64 {
    T0_MS + r as i64 * ROUND_MS
}

/// Name of village `v`.
pub fn village_name(v: usize) -> String {
    format!("村{v:06}")
}

/// Name of town `t`.
pub fn town_name(t: usize) -> String {
    format!("镇{t:05}")
}

/// Person id of the head of town `t` (tier 2).
pub fn town_head(t: usize) -> String {
    format!("T{t:05}")
}

/// Person id of village `v`'s flood-control person (tier 3).
pub fn village_person(v: usize) -> String {
    format!("V{v:06}")
}

/// The call reference of round `n` (1-based) in `village`.
pub fn call_ref(village: &str, n: usize) -> String {
    format!("{PLAN}@{village}#{n}/{NOTIFY_STEP}")
}

fn plan_yaml() -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# 叫应压测: a village's warning starts a 叫应 chain (generated by `yingji bench`)."
    );
    let _ = writeln!(s, "plan: {PLAN}");
    let _ = writeln!(
        s,
        "description: 村级预警触发三级叫应, 未应则告知县应急值班室"
    );
    let _ = writeln!(s, "triggers:\n  - {{ signal: {SIGNAL}, level: yellow }}");
    let _ = writeln!(s, "steps:");
    let _ = writeln!(s, "  - id: {NOTIFY_STEP}\n    notify: chain/{CHAIN}");
    let _ = writeln!(
        s,
        "  - id: 等待应答\n    await_ack: {{ of: {NOTIFY_STEP}, timeout: 30m, on_timeout: 未应结束 }}"
    );
    let _ = writeln!(
        s,
        "  - id: 已应结束\n    close: {{ verify: [预警, 反馈, 核实] }}"
    );
    let _ = writeln!(
        s,
        "  - id: 未应结束\n    close: {{ verify: [预警, 反馈, 核实] }}"
    );
    let _ = writeln!(s, "chains:\n  {CHAIN}:");
    for (i, (role, ms)) in TIERS.iter().enumerate() {
        let fallback = if i + 1 == TIERS.len() {
            format!(", fallback: [{FALLBACK_ROLE}]")
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "    - {{ tier: {role}, timeout: {}m{fallback} }}",
            ms / 60_000
        );
    }
    s
}

fn roster_yaml(chains: usize) -> String {
    let towns = chains.div_ceil(VILLAGES_PER_TOWN);
    let mut s = String::with_capacity(chains * 110);
    s.push_str("roster: 压测名册\nareas:\n  本县: [");
    for t in 0..towns {
        if t > 0 {
            s.push_str(", ");
        }
        s.push_str(&town_name(t));
    }
    s.push_str("]\n");
    for t in 0..towns {
        let _ = write!(s, "  {}: [", town_name(t));
        let first = t * VILLAGES_PER_TOWN;
        for v in first..(first + VILLAGES_PER_TOWN).min(chains) {
            if v > first {
                s.push_str(", ");
            }
            s.push_str(&village_name(v));
        }
        s.push_str("]\n");
    }
    s.push_str("people:\n");
    let (lead, town_role, village_role) = (TIERS[0].0, TIERS[1].0, TIERS[2].0);
    let _ = writeln!(
        s,
        "  - {{ id: {COUNTY_LEAD}, name: 县防汛负责人甲, role: {lead}, area: 本县, channels: [电话, 短信] }}"
    );
    let _ = writeln!(
        s,
        "  - {{ id: {DUTY_OFFICE}, name: 县应急值班员, role: {FALLBACK_ROLE}, area: 本县, channels: [电话] }}"
    );
    for t in 0..towns {
        let _ = writeln!(
            s,
            "  - {{ id: {}, name: 镇长{t}, role: {town_role}, area: {}, channels: [电话, 短信, 微信群] }}",
            town_head(t),
            town_name(t)
        );
    }
    for v in 0..chains {
        let _ = writeln!(
            s,
            "  - {{ id: {}, name: 村支书{v}, role: {village_role}, area: {}, channels: [电话, 铜锣] }}",
            village_person(v),
            village_name(v)
        );
    }
    s
}

/// Loads generated definitions (what `compile_ms` times).
pub fn load_definitions(
    source: &str,
    plan_yaml: &str,
    roster_yaml: &str,
) -> Result<yingji_dsl::load::Loaded, ParamError> {
    super::load_files(vec![
        ("chains.yj".to_string(), source.to_string()),
        ("chains_plan.yaml".to_string(), plan_yaml.to_string()),
        ("chains_roster.yaml".to_string(), roster_yaml.to_string()),
    ])
}

impl ChainsWorkload {
    /// Loads this workload's definitions afresh.
    pub fn definitions(&self) -> Result<yingji_dsl::load::Loaded, ParamError> {
        load_definitions(&self.source, &self.plan_yaml, &self.roster_yaml)
    }

    /// The definition files (name, text): the signal, the plan and the roster.
    pub fn files(&self) -> Vec<(String, String)> {
        vec![
            ("chains.yj".to_string(), self.source.clone()),
            ("chains_plan.yaml".to_string(), self.plan_yaml.clone()),
            ("chains_roster.yaml".to_string(), self.roster_yaml.clone()),
        ]
    }

    /// The events as JSONL lines (what `yingji run` would read).
    pub fn jsonl(&self) -> Vec<String> {
        self.events
            .iter()
            .zip(&self.inputs)
            .map(|(ev, input)| match input {
                ChainInput::Reading { village, value } => format!(
                    r#"{{"ts":"{}","kind":"reading","village":"{village}","value":{value}}}"#,
                    ev.ts
                ),
                ChainInput::Ack { person, call_ref } => format!(
                    r#"{{"ts":"{}","kind":"ack","person":"{person}","ref":"{call_ref}"}}"#,
                    ev.ts
                ),
            })
            .collect()
    }
}

/// One generated input before sorting by time.
struct Pending {
    ts: i64,
    input: ChainInput,
    /// For a start: how the chain it starts will end.
    starts: Option<Outcome>,
}

/// `chains`: `chains` villages each running a 叫应 chain per round, side by
/// side; `events` inputs in all (readings and answers, in time order).
///
/// Every chain needs up to [`EVENTS_PER_CHAIN`] events per round, so
/// `events` must be at least that many times `chains`: then the first round
/// is complete and every chain runs at least once.
pub fn chains(chains_n: usize, events_n: usize, seed: u64) -> Result<ChainsWorkload, ParamError> {
    super::check_counts(&[("chains", chains_n), ("events", events_n)])?;
    if chains_n > MAX_CHAINS {
        return Err(ParamError::TooManyChains {
            chains: chains_n,
            max: MAX_CHAINS,
        });
    }
    let min = chains_n.saturating_mul(EVENTS_PER_CHAIN);
    if events_n < min {
        return Err(ParamError::TooFewEvents {
            events: events_n,
            chains: chains_n,
            min,
        });
    }
    let source = CHAINS_SOURCE.to_string();
    let plan_yaml = plan_yaml();
    let roster_yaml = roster_yaml(chains_n);
    let defs = load_definitions(&source, &plan_yaml, &roster_yaml)?;
    let program = defs.program;
    let slot = |name: &str| program.fields.iter().position(|f| f == name);
    let kind = |name: &str| {
        program
            .kinds
            .iter()
            .position(|k| k.name == name)
            .and_then(|k| u16::try_from(k).ok())
    };
    let (f_village, f_value, f_person, f_ref) =
        (slot("village"), slot("value"), slot("person"), slot("ref"));
    let (k_reading, k_ack) = (kind("reading"), kind("ack"));
    let (reading_name, ack_name): (Arc<str>, Arc<str>) = (Arc::from("reading"), Arc::from("ack"));

    let villages: Vec<Arc<str>> = (0..chains_n).map(|v| Arc::from(village_name(v))).collect();
    let lead: Arc<str> = Arc::from(COUNTY_LEAD);
    let heads: Vec<Arc<str>> = (0..chains_n.div_ceil(VILLAGES_PER_TOWN))
        .map(|t| Arc::from(town_head(t)))
        .collect();
    let people: Vec<Arc<str>> = (0..chains_n)
        .map(|v| Arc::from(village_person(v)))
        .collect();
    let person_of = |v: usize, tier: u64| -> Arc<str> {
        match tier {
            0 => lead.clone(),
            1 => heads
                .get(v / VILLAGES_PER_TOWN)
                .cloned()
                .unwrap_or_else(|| lead.clone()),
            _ => people.get(v).cloned().unwrap_or_else(|| lead.clone()),
        }
    };

    let mut rng = Rng::new(seed);
    let mut events = Vec::with_capacity(events_n);
    let mut inputs = Vec::with_capacity(events_n);
    let mut outcomes = Outcomes::default();
    let mut rounds = 0;
    let mut round: Vec<Pending> = Vec::with_capacity(chains_n * EVENTS_PER_CHAIN);
    // every round adds at least two events per chain, so this ends
    while events.len() < events_n {
        let base = round_start(rounds);
        round.clear();
        for (v, village) in villages.iter().enumerate() {
            let start = base + rng.below(START_SPREAD_MS) as i64;
            let value = 50.0 + rng.below(500) as f64 / 10.0;
            let (outcome, answer) = match rng.below(100) {
                0..40 => (Outcome::InTime, Some((1, 300, 1))),
                40..60 => (Outcome::AfterOneEscalation, Some((301, 600, 2))),
                60..75 => (Outcome::AfterTwoEscalations, Some((601, 1200, 3))),
                75..90 => (Outcome::Never, None),
                _ => (Outcome::TooLate, Some((1201, 1440, 3))),
            };
            round.push(Pending {
                ts: start,
                input: ChainInput::Reading {
                    village: village.clone(),
                    value,
                },
                starts: Some(outcome),
            });
            if let Some((lo, hi, tiers)) = answer {
                let after_s = (lo + rng.below(hi - lo + 1)) as i64;
                let tier = rng.below(tiers);
                round.push(Pending {
                    ts: start + after_s * 1000,
                    input: ChainInput::Ack {
                        person: person_of(v, tier),
                        call_ref: Arc::from(call_ref(village, rounds + 1)),
                    },
                    starts: None,
                });
            }
            round.push(Pending {
                ts: start + STAND_DOWN_MS,
                input: ChainInput::Reading {
                    village: village.clone(),
                    value: rng.below(500) as f64 / 10.0,
                },
                starts: None,
            });
        }
        round.sort_by_key(|p| p.ts);
        let room = events_n - events.len();
        if round.len() <= room {
            rounds += 1;
        } else {
            round.truncate(room);
        }
        for p in round.drain(..) {
            if let Some(o) = p.starts {
                outcomes.add(o);
            }
            let seq = events.len() as u64 + 1;
            let mut fields = vec![Value::Null; program.fields.len()];
            let mut set = |slot: Option<usize>, v: Value| {
                if let Some(x) = slot.and_then(|s| fields.get_mut(s)) {
                    *x = v;
                }
            };
            let (kind, kind_name) = match &p.input {
                ChainInput::Reading { village, value } => {
                    set(f_village, Value::Str(village.clone()));
                    set(f_value, Value::Num(*value));
                    (k_reading, reading_name.clone())
                }
                ChainInput::Ack { person, call_ref } => {
                    set(f_person, Value::Str(person.clone()));
                    set(f_ref, Value::Str(call_ref.clone()));
                    (k_ack, ack_name.clone())
                }
            };
            events.push(Event {
                ts: Timestamp {
                    ms: p.ts,
                    offset_min: 480,
                },
                kind,
                kind_name,
                id: None,
                fields,
                seq,
            });
            inputs.push(p.input);
        }
    }
    Ok(ChainsWorkload {
        chains: chains_n,
        source,
        plan_yaml,
        roster_yaml,
        events,
        inputs,
        outcomes,
        rounds,
        program,
    })
}

/// What a record in a [`Tally`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// The signal's level changed.
    Level = 0,
    /// A plan instance started.
    Started = 1,
    /// A person was called.
    Notify = 2,
    /// A tier timed out and the next was called.
    Escalated = 3,
    /// An answer was accepted.
    Acked = 4,
    /// An answer changed nothing.
    Rejected = 5,
    /// The chain ran out of tiers.
    Unanswered = 6,
    /// The instance closed.
    Closed = 7,
    /// Anything else (neither leg of this workload should produce it).
    Other = 8,
}

/// Number of [`Record`] kinds.
pub const RECORD_KINDS: usize = 9;

/// An order-independent digest of the records of a run, and their counts by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Count and wrapping sum of the records' hashes.
    pub sum: super::Checksum,
    /// Records by [`Record`] kind.
    pub by_kind: [u64; RECORD_KINDS],
}

fn fnv(mut h: u64, s: &str) -> u64 {
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn ack_reason(r: AckReject) -> u8 {
    match r {
        AckReject::UnknownCall => 1,
        AckReject::UnknownPerson => 2,
        AckReject::Duplicate => 3,
        AckReject::Closed => 4,
        AckReject::Ambiguous => 5,
        AckReject::NotCalledYet => 6,
    }
}

impl Tally {
    /// Adds one record: its kind, the area (for a rejected answer: the
    /// reference it carried), the tier, the person, the time and flags.
    #[inline]
    pub fn add(
        &mut self,
        kind: Record,
        area: &str,
        tier: u16,
        person: &str,
        ts_ms: i64,
        flags: u8,
    ) {
        let h = fnv(fnv(0xcbf2_9ce4_8422_2325, area) ^ 0xff, person);
        let mut z = h
            ^ (ts_ms as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (u64::from(tier) << 16 | u64::from(flags) << 8 | kind as u64)
                .wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        z = (z ^ (z >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        self.sum.changes += 1;
        self.sum.sum = self.sum.sum.wrapping_add(z ^ (z >> 32));
        if let Some(n) = self.by_kind.get_mut(kind as usize) {
            *n += 1;
        }
    }

    /// Adds one engine output.
    pub fn output(&mut self, o: &Output) {
        match o {
            Output::LevelChanged(c) => {
                self.add(
                    Record::Level,
                    &c.key,
                    c.to as u16,
                    "",
                    c.ts.ms,
                    c.from as u8,
                );
            }
            Output::PlanStarted(p) => {
                self.add(Record::Started, &p.head.area, 0, "", p.head.ts.ms, 0);
            }
            Output::Notify(n) => {
                self.add(
                    Record::Notify,
                    &n.head.area,
                    n.tier,
                    &n.person,
                    n.head.ts.ms,
                    0,
                );
            }
            Output::Escalated(e) => self.add(
                Record::Escalated,
                &e.head.area,
                e.from_tier,
                "",
                e.head.ts.ms,
                e.to_tier as u8,
            ),
            Output::Acked(a) => self.add(
                Record::Acked,
                &a.head.area,
                a.tier,
                &a.person,
                a.head.ts.ms,
                u8::from(a.in_time) | u8::from(a.answers_chain) << 1,
            ),
            Output::AckRejected(r) => self.add(
                Record::Rejected,
                r.call_ref.as_deref().unwrap_or(""),
                0,
                &r.person,
                r.ts.ms,
                ack_reason(r.reason),
            ),
            Output::Unanswered(u) => {
                self.add(Record::Unanswered, &u.head.area, 0, "", u.head.ts.ms, 0);
            }
            Output::PlanClosed(c) => self.add(
                Record::Closed,
                &c.head.area,
                0,
                "",
                c.head.ts.ms,
                u8::from(c.complete),
            ),
            other => self.add(Record::Other, "", 0, "", other.ts().ms, 0),
        }
    }

    /// Records of one kind.
    pub fn count(&self, kind: Record) -> u64 {
        self.by_kind.get(kind as usize).copied().unwrap_or(0)
    }
}

/// Runs `events` through the streaming engine (signals, then plans), ending
/// the stream with [`Engine::flush`]; every output goes into `tally`.
pub fn run_engine(
    engine: &mut Engine,
    events: &[Event],
    tally: &mut Tally,
) -> Result<(), yingji_engine::PushError> {
    let mut out = Vec::new();
    for ev in events {
        engine.push(ev, &mut out)?;
        for o in out.drain(..) {
            tally.output(&o);
        }
    }
    engine.flush(&mut out);
    for o in out.drain(..) {
        tally.output(&o);
    }
    Ok(())
}

/// Approximate heap bytes of an engine's state for this workload: the
/// signal's per-key state plus the plan runtime's own account
/// ([`WorkflowRuntime::state_bytes`]: open instances, calls, timers, indexes
/// and the call references of closed instances).
pub fn engine_state_bytes(engine: &Engine) -> usize {
    let signals = engine.state_bytes();
    signals + engine.workflow().map_or(0, WorkflowRuntime::state_bytes)
}

/// The current call of one village.
#[derive(Clone, Copy, Debug, Default)]
struct VillageState {
    /// The signal's level for this village.
    level: Level,
    /// Instances started here (the current one's number).
    round: u32,
    /// Whether the current instance is open.
    open: bool,
    /// Whether its chain was answered.
    answered: bool,
    /// Tiers called so far.
    tiers_called: u8,
    /// When each tier was called (ms).
    called: [i64; 3],
    /// Whether each tier's person answered.
    acked: [bool; 3],
}

/// A tier timer: due, sequence, village, round, tier (0-based).
type NativeTimer = (i64, u64, u32, u32, u8);

/// The hand-written baseline: per village a state machine for its current
/// call, one binary heap of tier deadlines for all villages (a deadline
/// made obsolete by an answer is dropped when it surfaces).
#[derive(Debug)]
pub struct NativeChains {
    index: FxHashMap<Arc<str>, u32>,
    villages: Vec<VillageState>,
    names: Vec<Arc<str>>,
    heads: Vec<Arc<str>>,
    people: Vec<Arc<str>>,
    lead: Arc<str>,
    duty: Arc<str>,
    timers: BinaryHeap<Reverse<NativeTimer>>,
    seq: u64,
    now: i64,
}

fn level_of(value: f64) -> Level {
    if value >= 80.0 {
        Level::Orange
    } else if value >= 50.0 {
        Level::Yellow
    } else {
        Level::None
    }
}

impl NativeChains {
    /// The villages, towns and people of a workload.
    pub fn new(w: &ChainsWorkload) -> NativeChains {
        let names: Vec<Arc<str>> = (0..w.chains).map(|v| Arc::from(village_name(v))).collect();
        NativeChains {
            index: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
                .collect(),
            villages: vec![VillageState::default(); w.chains],
            heads: (0..w.chains.div_ceil(VILLAGES_PER_TOWN))
                .map(|t| Arc::from(town_head(t)))
                .collect(),
            people: (0..w.chains)
                .map(|v| Arc::from(village_person(v)))
                .collect(),
            names,
            lead: Arc::from(COUNTY_LEAD),
            duty: Arc::from(DUTY_OFFICE),
            timers: BinaryHeap::new(),
            seq: 0,
            now: i64::MIN,
        }
    }

    fn person(&self, v: usize, tier: usize) -> &str {
        match tier {
            0 => &self.lead,
            1 => self.heads.get(v / VILLAGES_PER_TOWN).map_or("", |p| p),
            _ => self.people.get(v).map_or("", |p| p),
        }
    }

    fn name(&self, v: usize) -> &str {
        self.names.get(v).map_or("", |n| n)
    }

    /// One input at `ts`: due deadlines first, then the input.
    #[inline]
    pub fn push(&mut self, ts: i64, input: &ChainInput, tally: &mut Tally) {
        self.advance(ts, tally);
        match input {
            ChainInput::Reading { village, value } => {
                let Some(&v) = self.index.get(village) else {
                    return;
                };
                let v = v as usize;
                let to = level_of(*value);
                let Some(st) = self.villages.get_mut(v) else {
                    return;
                };
                let from = st.level;
                if to == from {
                    return;
                }
                st.level = to;
                let start = !st.open && to > from && to >= Level::Yellow;
                tally.add(Record::Level, village, to as u16, "", ts, from as u8);
                if start {
                    self.start(v, ts, tally);
                }
            }
            ChainInput::Ack { person, call_ref } => self.ack(ts, person, call_ref, tally),
        }
    }

    fn start(&mut self, v: usize, ts: i64, tally: &mut Tally) {
        let Some(st) = self.villages.get_mut(v) else {
            return;
        };
        st.round += 1;
        st.open = true;
        st.answered = false;
        st.tiers_called = 1;
        st.called = [ts, 0, 0];
        st.acked = [false; 3];
        let round = st.round;
        let (name, person) = (self.name(v), self.person(v, 0));
        tally.add(Record::Started, name, 0, "", ts, 0);
        tally.add(Record::Notify, name, 1, person, ts, 0);
        self.timer(ts + TIERS[0].1, v, round, 0);
    }

    fn timer(&mut self, due: i64, v: usize, round: u32, tier: u8) {
        self.seq += 1;
        self.timers.push(Reverse((
            due,
            self.seq,
            u32::try_from(v).unwrap_or(u32::MAX),
            round,
            tier,
        )));
    }

    fn ack(&mut self, ts: i64, person: &str, call_ref: &str, tally: &mut Tally) {
        let reject = |tally: &mut Tally, why: AckReject| {
            tally.add(Record::Rejected, call_ref, 0, person, ts, ack_reason(why));
        };
        // `叫应压测@村000123#2/叫应`: plan, village, instance number, step
        let parsed = call_ref
            .split_once('@')
            .filter(|(plan, _)| *plan == PLAN)
            .and_then(|(_, rest)| rest.split_once('#'))
            .and_then(|(village, rest)| {
                let (n, step) = rest.split_once('/')?;
                let n: u32 = n.parse().ok()?;
                (step == NOTIFY_STEP && n > 0).then_some((village, n))
            })
            .and_then(|(village, n)| Some((*self.index.get(village)? as usize, n)));
        let Some((v, n)) = parsed else {
            return reject(tally, AckReject::UnknownCall);
        };
        let Some(st) = self.villages.get(v).copied() else {
            return reject(tally, AckReject::UnknownCall);
        };
        if n > st.round {
            return reject(tally, AckReject::UnknownCall);
        }
        if n < st.round || !st.open {
            return reject(tally, AckReject::Closed);
        }
        let Some(t) = (0..usize::from(st.tiers_called)).find(|&t| self.person(v, t) == person)
        else {
            return reject(tally, AckReject::UnknownPerson);
        };
        if st.acked.get(t).copied().unwrap_or(true) {
            return reject(tally, AckReject::Duplicate);
        }
        let deadline = st.called.get(t).copied().unwrap_or(0) + TIERS.get(t).map_or(0, |x| x.1);
        let in_time = ts <= deadline;
        let answers = !st.answered;
        let name = self.name(v);
        tally.add(
            Record::Acked,
            name,
            t as u16 + 1,
            person,
            ts,
            u8::from(in_time) | u8::from(answers) << 1,
        );
        // the chain is answered: the plan goes on to its closing step
        tally.add(Record::Closed, name, 0, "", ts, 1);
        if let Some(st) = self.villages.get_mut(v) {
            if let Some(a) = st.acked.get_mut(t) {
                *a = true;
            }
            st.answered = true;
            st.open = false;
        }
    }

    /// Fires every deadline due strictly before `now`.
    pub fn advance(&mut self, now: i64, tally: &mut Tally) {
        while let Some(&Reverse((due, _, v, round, tier))) = self.timers.peek() {
            if due >= now {
                break;
            }
            self.timers.pop();
            self.fire(due, v as usize, round, tier, tally);
        }
        self.now = self.now.max(now);
    }

    fn fire(&mut self, due: i64, v: usize, round: u32, tier: u8, tally: &mut Tally) {
        let Some(st) = self.villages.get(v).copied() else {
            return;
        };
        if st.round != round || !st.open || st.answered {
            return;
        }
        let t = usize::from(tier);
        let name = self.name(v);
        if let Some(&(_, timeout)) = TIERS.get(t + 1) {
            tally.add(Record::Escalated, name, tier as u16 + 1, "", due, tier + 2);
            tally.add(
                Record::Notify,
                name,
                tier as u16 + 2,
                self.person(v, t + 1),
                due,
                0,
            );
            if let Some(st) = self.villages.get_mut(v) {
                if let Some(c) = st.called.get_mut(t + 1) {
                    *c = due;
                }
                st.tiers_called = tier + 2;
            }
            self.timer(due + timeout, v, round, tier + 1);
        } else {
            tally.add(Record::Unanswered, name, 0, "", due, 0);
            tally.add(Record::Notify, name, 0, &self.duty, due, 0);
            tally.add(Record::Closed, name, 0, "", due, 0);
            if let Some(st) = self.villages.get_mut(v) {
                st.open = false;
            }
        }
    }

    /// End of the stream: fires the deadlines due before the last input's time.
    pub fn finish(&mut self, tally: &mut Tally) {
        self.advance(self.now, tally);
    }

    /// Bytes of state held (index, villages, names, timers).
    pub fn state_bytes(&self) -> usize {
        use std::mem::size_of;
        self.index.capacity() * (size_of::<(Arc<str>, u32)>() + 1)
            + self.villages.capacity() * size_of::<VillageState>()
            + self.names.iter().map(|n| n.len() + 16 + 16).sum::<usize>()
            + self.people.iter().map(|n| n.len() + 16 + 16).sum::<usize>()
            + self.heads.iter().map(|n| n.len() + 16 + 16).sum::<usize>()
            + self.timers.capacity() * size_of::<Reverse<NativeTimer>>()
    }
}
