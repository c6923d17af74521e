//! Lowering: checked definitions to the engine's programs. Policies
//! ([`policy`]: events, tables, signals, levels, windows, scripts),
//! assessments ([`assess`]: records, grading, deadlines, assessments) and
//! plans ([`plan`]: rosters, chains, plans, steps, guards, graph checks).
//! Every expression is typed by the one typer ([`crate::check`]).

pub mod assess;
pub mod plan;
pub mod policy;

pub use policy::{Lowered, lower};
