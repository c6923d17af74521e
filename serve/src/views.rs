//! What the HTTP API shows, derived from the engine's outputs: current
//! levels, open plan instances with their calls, and the calls' references
//! (to refuse an ack at once when its reference is unknown, closed or
//! answered already); for the duty-officer screen ([`crate::web`]) also
//! who was called when and on which channels, answers and their response
//! times, escalations, measures in order, stations' absence and last
//! readings, and the timeline of the last outputs with their text. Kept in
//! the checkpoint and re-derived by the replay, like everything else.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};

/// A signal's level at one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelView {
    /// The level (`yellow`, …).
    pub level: String,
    /// Since when (event time of the change).
    pub since: String,
}

/// One call of an open instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    /// The instance.
    pub instance: String,
    /// The chain, if any.
    pub chain: Option<String>,
    /// The tier called last (1-based; 0 for plain notifications): a call
    /// is one chain run, its tiers called one after the other.
    pub tier: u64,
    /// People called, by id → name.
    pub called: BTreeMap<String, String>,
    /// People who answered.
    pub answered: Vec<String>,
    /// When the tier called last times out.
    pub deadline: Option<String>,
    /// The plan.
    #[serde(default)]
    pub plan: String,
    /// The step that called.
    #[serde(default)]
    pub step: String,
    /// Each person called, in call order.
    #[serde(default)]
    pub people: Vec<PersonCall>,
    /// Escalations away from this call's tier.
    #[serde(default)]
    pub escalations: Vec<EscalationView>,
}

/// One person of a call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PersonCall {
    /// The person's id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The role called.
    pub role: String,
    /// The tier that called this person.
    #[serde(default)]
    pub tier: u64,
    /// When that tier times out.
    #[serde(default)]
    pub deadline: Option<String>,
    /// The channels (`电话`, `短信`, …).
    pub channels: Vec<String>,
    /// When called (event time).
    pub called: String,
    /// When answered, if so.
    pub answered: Option<String>,
    /// Seconds from the call to the answer.
    pub response_s: Option<i64>,
    /// The answer came in time (the `acked` output's `in_time`).
    pub in_time: Option<bool>,
}

/// An escalation (`escalated`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EscalationView {
    /// The tier that did not answer.
    pub from_tier: u64,
    /// The tier called next.
    pub to_tier: u64,
    /// When.
    pub ts: String,
    /// `timeout` (nobody answered in time) or `declined`.
    pub reason: String,
}

/// A measure taken (`measure`), in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasureView {
    /// The measure.
    pub measure: String,
    /// Its target (area).
    pub target: String,
    /// When.
    pub ts: String,
    /// The step that took it.
    pub step: String,
}

/// A station (a signal key from the roster's station table or seen in
/// readings).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StationView {
    /// Absent (an `absence` not yet followed by `recovered`).
    pub absent: bool,
    /// Since when absent.
    pub absent_since: Option<String>,
    /// The event time of its last reading.
    pub last: Option<String>,
}

/// One timeline entry: an output with its text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Its number in the timeline (the SSE event id's sequence).
    pub seq: u64,
    /// Event time.
    pub ts: String,
    /// The output's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The township's GB/T 2260 code, when the output is about one.
    pub township: Option<String>,
    /// The signal, when the output is about one.
    pub signal: Option<String>,
    /// The `yingji run --format text` line.
    pub text: String,
    /// The output's JSON.
    pub output: Value,
}

/// An open plan instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    /// The plan.
    pub plan: String,
    /// The instance's area.
    pub area: String,
    /// When it started.
    pub started: String,
    /// The current step.
    pub step: String,
    /// The highest tier called so far.
    pub tier: u64,
    /// The declared response level, if any.
    pub response: Option<String>,
    /// Call references of this instance.
    pub calls: Vec<String>,
    /// Measures taken, in order.
    #[serde(default)]
    pub measures: Vec<MeasureView>,
}

/// Closed call references remembered (for the `closed` refusal).
const CLOSED_KEPT: usize = 10_000;

/// The views.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Views {
    /// signal → key → level (keys at `none` are left out).
    pub levels: BTreeMap<String, BTreeMap<String, LevelView>>,
    /// instance → view.
    pub plans: BTreeMap<String, PlanView>,
    /// call reference → call.
    pub calls: BTreeMap<String, CallView>,
    /// References of closed instances with who had answered them, oldest
    /// first (bounded).
    pub closed: VecDeque<(String, Vec<String>)>,
    /// Stations by key.
    #[serde(default)]
    pub stations: BTreeMap<String, StationView>,
    /// The last outputs with their text, oldest first (bounded by
    /// `web.timeline`).
    #[serde(default)]
    pub timeline: VecDeque<TimelineEntry>,
    /// The last timeline number given.
    #[serde(default)]
    pub seq: u64,
    /// Event time of the last output.
    #[serde(default)]
    pub updated: Option<String>,
}

/// Seconds from `a` to `b` (RFC 3339), when both parse.
fn secs_between(a: &str, b: &str) -> Option<i64> {
    let a = yingji_engine::Timestamp::parse(a).ok()?;
    let b = yingji_engine::Timestamp::parse(b).ok()?;
    Some((b.ms - a.ms).div_euclid(1000))
}

/// What the views say about an ack before the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckCheck {
    /// Let the engine decide.
    Pass,
    /// Refused at once, with the engine's reason name.
    Refuse(&'static str),
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

impl Views {
    /// Applies one output (its JSON).
    pub fn apply(&mut self, o: &Value) {
        let inst = s(o, "instance");
        match o.get("type").and_then(Value::as_str).unwrap_or("") {
            "level_changed" => {
                let (sig, key, to) = (s(o, "signal"), s(o, "key"), s(o, "to"));
                let m = self.levels.entry(sig.clone()).or_default();
                if to == "none" {
                    m.remove(&key);
                    if m.is_empty() {
                        self.levels.remove(&sig);
                    }
                } else {
                    m.insert(
                        key,
                        LevelView {
                            level: to,
                            since: s(o, "ts"),
                        },
                    );
                }
            }
            "plan_started" => {
                self.plans.insert(
                    inst,
                    PlanView {
                        plan: s(o, "plan"),
                        area: s(o, "area"),
                        started: s(o, "ts"),
                        step: s(o, "step"),
                        ..PlanView::default()
                    },
                );
            }
            "step_entered" => {
                if let Some(p) = self.plans.get_mut(&inst) {
                    p.step = s(o, "step");
                }
            }
            "measure" => {
                if let Some(p) = self.plans.get_mut(&inst) {
                    p.step = s(o, "step");
                    p.measures.push(MeasureView {
                        measure: s(o, "measure"),
                        target: s(o, "target"),
                        ts: s(o, "ts"),
                        step: s(o, "step"),
                    });
                }
            }
            "absence" => {
                let st = self.stations.entry(s(o, "key")).or_default();
                st.absent = true;
                st.absent_since = Some(s(o, "ts"));
            }
            "recovered" => {
                let st = self.stations.entry(s(o, "key")).or_default();
                st.absent = false;
                st.absent_since = None;
            }
            "escalated" => {
                let from = o.get("from_tier").and_then(Value::as_u64).unwrap_or(0);
                let chain = o.get("chain").and_then(Value::as_str);
                let declined = o.pointer("/cause/event").is_some();
                let esc = EscalationView {
                    from_tier: from,
                    to_tier: o.get("to_tier").and_then(Value::as_u64).unwrap_or(0),
                    ts: s(o, "ts"),
                    reason: if declined { "declined" } else { "timeout" }.into(),
                };
                if let Some(p) = self.plans.get(&inst) {
                    for r in &p.calls {
                        if let Some(c) = self.calls.get_mut(r) {
                            if c.chain.as_deref() == chain && c.step == s(o, "step") {
                                c.escalations.push(esc.clone());
                            }
                        }
                    }
                }
            }
            "response_declared" => {
                if let Some(p) = self.plans.get_mut(&inst) {
                    p.response = Some(s(o, "level"));
                }
            }
            "notify" => {
                let r = s(o, "ref");
                let tier = o.get("tier").and_then(Value::as_u64).unwrap_or(0);
                if let Some(p) = self.plans.get_mut(&inst) {
                    p.tier = p.tier.max(tier);
                    p.step = s(o, "step");
                    if !p.calls.contains(&r) {
                        p.calls.push(r.clone());
                    }
                }
                let c = self.calls.entry(r).or_insert_with(|| CallView {
                    instance: inst.clone(),
                    chain: o.get("chain").and_then(Value::as_str).map(str::to_string),
                    tier,
                    deadline: o
                        .get("deadline")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    plan: s(o, "plan"),
                    step: s(o, "step"),
                    ..CallView::default()
                });
                let person = s(o, "person");
                let deadline = o
                    .get("deadline")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if tier >= c.tier {
                    c.tier = tier;
                    c.deadline = deadline.clone();
                }
                c.called.insert(person.clone(), s(o, "name"));
                if !c.people.iter().any(|p| p.id == person) {
                    c.people.push(PersonCall {
                        id: person,
                        name: s(o, "name"),
                        role: s(o, "role"),
                        channels: o
                            .get("channels")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default(),
                        called: s(o, "ts"),
                        tier,
                        deadline,
                        ..PersonCall::default()
                    });
                }
            }
            "acked" => {
                if let Some(c) = self.calls.get_mut(&s(o, "ref")) {
                    let p = s(o, "person");
                    let ts = s(o, "ts");
                    if let Some(pc) = c.people.iter_mut().find(|x| x.id == p) {
                        if pc.answered.is_none() {
                            pc.response_s = secs_between(&pc.called, &ts);
                            pc.answered = Some(ts);
                            pc.in_time = o.get("in_time").and_then(Value::as_bool);
                        }
                    }
                    if !c.answered.contains(&p) {
                        c.answered.push(p);
                    }
                }
            }
            "plan_closed" => {
                if let Some(p) = self.plans.remove(&inst) {
                    for r in p.calls {
                        let answered = self
                            .calls
                            .remove(&r)
                            .map(|c| c.answered)
                            .unwrap_or_default();
                        self.closed.push_back((r, answered));
                    }
                    while self.closed.len() > CLOSED_KEPT {
                        self.closed.pop_front();
                    }
                }
            }
            _ => {}
        }
    }

    /// A reading of station `key` at `ts` (its last reading time).
    pub fn reading(&mut self, key: &str, ts: &str) {
        let st = self.stations.entry(key.to_string()).or_default();
        if st.last.as_deref().is_none_or(|l| later(ts, l)) {
            st.last = Some(ts.to_string());
        }
    }

    /// Adds an entry to the timeline (numbered here), keeping the last
    /// `keep`; returns it numbered.
    pub fn record(&mut self, mut entry: TimelineEntry, keep: usize) -> TimelineEntry {
        self.seq += 1;
        entry.seq = self.seq;
        if self.updated.as_deref().is_none_or(|u| later(&entry.ts, u)) {
            self.updated = Some(entry.ts.clone());
        }
        self.timeline.push_back(entry.clone());
        while self.timeline.len() > keep.max(1) {
            self.timeline.pop_front();
        }
        entry
    }

    /// Checks an ack from `person` carrying `call_ref` against the calls
    /// known: an unknown or closed reference, a person the call did not
    /// call, an answer given already are refused at once; the rest (and
    /// acks without a reference) go to the engine.
    pub fn check_ack(&self, person: &str, call_ref: Option<&str>) -> AckCheck {
        let Some(r) = call_ref else {
            return AckCheck::Pass;
        };
        match self.calls.get(r) {
            Some(c) if c.answered.iter().any(|p| p == person) => AckCheck::Refuse("duplicate"),
            Some(c) if !c.called.contains_key(person) => AckCheck::Refuse("unknown_person"),
            Some(_) => AckCheck::Pass,
            None => match self.closed.iter().find(|(c, _)| c == r) {
                // the same answer again, after it closed the plan: idempotent
                Some((_, who)) if who.iter().any(|p| p == person) => AckCheck::Refuse("duplicate"),
                Some(_) => AckCheck::Refuse("closed"),
                None => AckCheck::Refuse("unknown_call"),
            },
        }
    }

    /// Who is still pending in each open instance: people called, not
    /// answered, by call.
    pub fn pending(&self, instance: &str) -> Vec<(String, String, u64)> {
        let Some(p) = self.plans.get(instance) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in &p.calls {
            if let Some(c) = self.calls.get(r) {
                for person in c.called.keys() {
                    if !c.answered.contains(person) {
                        let tier = c
                            .people
                            .iter()
                            .find(|x| &x.id == person)
                            .map_or(c.tier, |x| x.tier);
                        out.push((person.clone(), r.clone(), tier));
                    }
                }
            }
        }
        out
    }
}

/// `a` is later than `b` (RFC 3339 texts; unparsable ones compare as text).
fn later(a: &str, b: &str) -> bool {
    match (
        yingji_engine::Timestamp::parse(a),
        yingji_engine::Timestamp::parse(b),
    ) {
        (Ok(x), Ok(y)) => x.ms > y.ms,
        _ => a > b,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_acks_and_closing() {
        let mut v = Views::default();
        v.apply(&json!({"type":"plan_started","instance":"P@A#1","plan":"P","area":"A","ts":"t0","step":"叫应"}));
        v.apply(&json!({"type":"notify","instance":"P@A#1","ref":"P@A#1/叫应/1","person":"p1","name":"张三","tier":1,"step":"叫应"}));
        assert_eq!(v.check_ack("p1", Some("P@A#1/叫应/1")), AckCheck::Pass);
        assert_eq!(
            v.check_ack("p9", Some("P@A#1/叫应/1")),
            AckCheck::Refuse("unknown_person")
        );
        assert_eq!(
            v.check_ack("p1", Some("nope")),
            AckCheck::Refuse("unknown_call")
        );
        assert_eq!(v.pending("P@A#1").len(), 1);
        v.apply(&json!({"type":"acked","instance":"P@A#1","ref":"P@A#1/叫应/1","person":"p1"}));
        assert_eq!(
            v.check_ack("p1", Some("P@A#1/叫应/1")),
            AckCheck::Refuse("duplicate")
        );
        assert!(v.pending("P@A#1").is_empty());
        v.apply(&json!({"type":"plan_closed","instance":"P@A#1"}));
        assert_eq!(
            v.check_ack("p1", Some("P@A#1/叫应/1")),
            AckCheck::Refuse("duplicate")
        );
        assert_eq!(
            v.check_ack("p2", Some("P@A#1/叫应/1")),
            AckCheck::Refuse("closed")
        );
        assert!(v.plans.is_empty());
    }

    #[test]
    fn levels_drop_keys_back_at_none() {
        let mut v = Views::default();
        v.apply(&json!({"type":"level_changed","signal":"s","key":"A","to":"red","ts":"t1"}));
        assert_eq!(v.levels["s"]["A"].level, "red");
        v.apply(&json!({"type":"level_changed","signal":"s","key":"A","to":"none","ts":"t2"}));
        assert!(v.levels.is_empty());
    }
}
