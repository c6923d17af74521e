//! Per-key state of a signal, as both evaluators keep it (the reference
//! evaluator in [`crate::operators::signals`], the compiled one in
//! [`crate::compiled`] exports it for snapshots): a leaf, so neither
//! evaluator depends on the other.

use crate::value::Level;
use crate::window::WindowState;
use serde::{Deserialize, Serialize};

/// Dynamic state of one level rule for one key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Since when the `when` condition has held without a break.
    pub since: Option<i64>,
    /// Consecutive readings for which it has held.
    pub readings: u32,
}

/// State of one key of one signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    /// Latest event time applied.
    pub last_ms: i64,
    /// Whether any reading was applied (roster keys start without).
    pub seen: bool,
    /// Current level.
    pub level: Level,
    /// Since when the current level's stay condition has been false.
    pub stay_false_since: Option<i64>,
    /// Per level rule.
    pub rules: Vec<RuleState>,
    /// Window contents.
    pub windows: WindowState,
    /// Reported absent and not yet recovered.
    pub absent: bool,
    /// The key's row in the signal's table.
    pub row: Option<u32>,
    /// Per `days_since` mark: when its condition last held (event time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Option<i64>>,
    /// Per member aggregate: each member's latest value (exact millionths),
    /// by member name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Members>,
}

/// The members of an area with a value, sorted by name: `(member, millionths)`.
pub type Members = Vec<(std::sync::Arc<str>, i64)>;

/// Records `member`'s latest value (`None`: it has none now).
pub fn set_member(m: &mut Members, member: &std::sync::Arc<str>, v: Option<i64>) {
    match (
        m.binary_search_by(|(k, _)| k.as_ref().cmp(member.as_ref())),
        v,
    ) {
        (Ok(i), Some(v)) => {
            if let Some(e) = m.get_mut(i) {
                e.1 = v;
            }
        }
        (Ok(i), None) => {
            m.remove(i);
        }
        (Err(i), Some(v)) => m.insert(i, (member.clone(), v)),
        (Err(_), None) => {}
    }
}

/// An aggregate over an area's member values (`size`: its number of
/// members): one function for both evaluators.
pub fn member_value(agg: crate::ir::GroupAgg, m: &Members, size: usize) -> Option<f64> {
    use crate::ir::GroupAgg;
    let scale = crate::value::Fixed::SCALE as f64;
    let vals = m.iter().map(|(_, v)| *v);
    match agg {
        GroupAgg::Size => Some(size as f64),
        GroupAgg::Count => Some(m.iter().filter(|(_, v)| *v != 0).count() as f64),
        GroupAgg::Max => vals.max().map(|v| v as f64 / scale),
        GroupAgg::Min => vals.min().map(|v| v as f64 / scale),
        GroupAgg::Sum => Some(vals.map(i128::from).sum::<i128>() as f64 / scale),
        GroupAgg::Mean => (!m.is_empty())
            .then(|| vals.map(i128::from).sum::<i128>() as f64 / scale / m.len() as f64),
    }
}

impl KeyState {
    /// Checks a restored key against its signal: one rule state per level
    /// rule, a level the signal can raise (or none), and window contents
    /// consistent with their running totals ([`WindowState::check`]).
    pub fn check(
        &self,
        def: &crate::ir::SignalDef,
        layout: &crate::window::WindowLayout,
    ) -> Result<(), String> {
        if self.rules.len() != def.levels.len() {
            return Err(format!(
                "{} rule state(s), the signal has {} level rule(s)",
                self.rules.len(),
                def.levels.len()
            ));
        }
        // `step down` passes through every level below the highest rule's,
        // with a rule or not (red → orange → yellow → …)
        let reachable = if def.step_down {
            def.levels.iter().any(|r| r.level >= self.level)
        } else {
            def.levels.iter().any(|r| r.level == self.level)
        };
        if self.level != Level::None && !reachable {
            return Err(format!(
                "level {} is not one the signal can raise",
                self.level.name()
            ));
        }
        if self.marks.len() != def.marks.len() {
            return Err(format!(
                "{} days_since mark(s), the signal has {}",
                self.marks.len(),
                def.marks.len()
            ));
        }
        if self.groups.len() != def.groups.len() {
            return Err(format!(
                "{} member aggregate(s), the signal has {}",
                self.groups.len(),
                def.groups.len()
            ));
        }
        if self
            .groups
            .iter()
            .any(|g| g.windows(2).any(|w| matches!(w, [a, b] if a.0 >= b.0)))
        {
            return Err("member values not sorted by member".into());
        }
        if let Some(t) = self.marks.iter().flatten().find(|t| **t > self.last_ms) {
            return Err(format!(
                "a days_since mark at {t}, after the key's last reading ({})",
                self.last_ms
            ));
        }
        self.windows.check(layout)
    }

    /// The `days_since` values at `now` (null for a mark that never held).
    pub fn mark_values(&self, now: i64) -> impl Iterator<Item = Option<f64>> + '_ {
        self.marks
            .iter()
            .map(move |m| m.map(|t| days_between(t, now)))
    }
}

/// Days (a decimal number) from `then` to `now`, both in ms: what
/// `days_since` gives, one formula for both evaluators.
#[inline]
pub fn days_between(then: i64, now: i64) -> f64 {
    now.saturating_sub(then) as f64 / 86_400_000.0
}
