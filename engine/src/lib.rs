//! # yingji-engine
//!
//! The runtime half of yingji: the compiled IR ([`ir`]), the reference
//! evaluator ([`eval`]), sliding windows ([`window`]), events ([`event`]),
//! per-key state and the engine loop ([`engine`]), and outputs ([`output`]).
//!
//! Invariants: this crate does no I/O and knows nothing of the DSL's syntax;
//! nothing an event carries can make it panic; a rejected event changes no state.

pub mod assess;
pub mod compiled;
pub mod config;
pub mod engine {
    //! The runtime's entry point, kept under its old path: see [`crate::shell`].
    pub use crate::shell::*;
}
pub mod error;
pub mod eval;
pub mod event;
pub mod id;
pub mod ir;
pub mod jsonl;
pub mod keys;
pub mod levels;
pub mod operators;
pub mod ops;
pub mod output;
pub mod script;
pub mod shell;
pub mod state;
pub mod time;
pub mod value;
pub mod window;
pub mod workflow;

pub use config::ConfigError;
pub use engine::{Config, Engine, LatePolicy, LineError, PushError, Stats};
pub use event::{Event, EventError};
pub use ir::Program;
pub use output::Output;
pub use time::Timestamp;
pub use value::{Level, Value};
