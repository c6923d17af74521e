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
        self.windows.check(layout)
    }
}
