//! What the HTTP API shows, derived from the engine's outputs: current
//! levels, open plan instances with their calls, and the calls' references
//! (to refuse an ack at once when its reference is unknown, closed or
//! answered already). Kept in the checkpoint and re-derived by the replay,
//! like everything else.

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
    /// Tier (1-based; 0 for plain notifications).
    pub tier: u64,
    /// People called, by id → name.
    pub called: BTreeMap<String, String>,
    /// People who answered.
    pub answered: Vec<String>,
    /// When the tier times out.
    pub deadline: Option<String>,
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
            "step_entered" | "measure" => {
                if let Some(p) = self.plans.get_mut(&inst) {
                    p.step = s(o, "step");
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
                    ..CallView::default()
                });
                c.called.insert(s(o, "person"), s(o, "name"));
            }
            "acked" => {
                if let Some(c) = self.calls.get_mut(&s(o, "ref")) {
                    let p = s(o, "person");
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
                        out.push((person.clone(), r.clone(), c.tier));
                    }
                }
            }
        }
        out
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
