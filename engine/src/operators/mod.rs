//! The operators under the shell ([`crate::shell`]): each receives the
//! events the shell releases and its own timers, in event-time order, and
//! keeps its own state (its own section of the snapshot).
//!
//! - [`signals`]: warning signals (windows, levels, absences, idle keys);
//! - the plan runtime, [`crate::workflow::WorkflowRuntime`];
//! - live reporting deadlines, [`crate::assess::live::LiveDeadlines`];
//! - the script-failure reporter, inside [`crate::script::ScriptRt`].

pub mod signals;
