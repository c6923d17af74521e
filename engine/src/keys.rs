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
        self.marks.iter().map(move |m| m.map(|t| days_between(t, now)))
    }
}

/// Days (a decimal number) from `then` to `now`, both in ms: what
/// `days_since` gives, one formula for both evaluators.
#[inline]
pub fn days_between(then: i64, now: i64) -> f64 {
    now.saturating_sub(then) as f64 / 86_400_000.0
}
