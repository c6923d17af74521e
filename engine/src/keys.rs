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
