//! Payloads of the script reporter's [`Output`](super::Output) variants
//! (see [`crate::script`]).

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A failed script call, as emitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptError {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// Event time of the call.
    pub ts: Timestamp,
    /// The function.
    pub function: Arc<str>,
    /// The signal whose expression called it.
    pub signal: Arc<str>,
    /// The key.
    pub key: Arc<str>,
    /// Input position of the event.
    pub event: u64,
    /// The limit that was hit (`operations`, `call_depth`, `string_size`,
    /// `array_size`, `map_size`, `non_finite_argument`), if one was.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::closed::script_limit"
    )]
    pub limit: Option<super::closed::Word>,
    /// What went wrong.
    pub message: String,
}

/// Failures of one function left out of the output during one interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptSuppressed {
    /// The output's id: deterministic (the same in every run of the same
    /// input and definitions), unique within a run, so a sink can
    /// deduplicate; `0` (not written) until the engine numbers it.
    #[serde(default, skip_serializing_if = "crate::id::unset")]
    pub id: u64,

    /// Event time of the failure that closed the interval (or of the end of stream).
    pub ts: Timestamp,
    /// The function.
    pub function: Arc<str>,
    /// How many failures were not reported individually.
    pub suppressed: u64,
    /// Start of the interval.
    pub since: Timestamp,
}
