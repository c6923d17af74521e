//! Checking: the one typer ([`Typer`]) over scopes ([`Scope`]).
//!
//! Every expression of every definition is typed here: signal `where`s,
//! `let`s, level and clear conditions and window inputs; grading and
//! deadline conditions over one record; assessment criteria and vetoes over
//! a unit's records; plan guards. The scopes (in [`crate::lower`], next to
//! what they lower to) say which names exist and what they are; the typer
//! decides every operator's type with one table ([`scope::binary_type`]) and
//! asks the scope's [`yingji_engine::ir::Place`] where script calls may
//! appear, the rule `Program::validate` checks too, so `check` and
//! `validate` cannot disagree.

pub mod partition;
pub mod scope;
pub mod typeck;

pub use scope::{Call, Scope, Ty};
pub use typeck::Typer;
