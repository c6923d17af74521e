//! Emergency plans and responsibility chains (叫应) as workflows.
//!
//! A [`PlanSet`] holds plans, chains and the roster. Each plan
//! compiles to a `petgraph` graph ([`graph::PlanGraph`]) that validation
//! analyses and [`export`] draws as the 应急处置流程图 (DOT, Mermaid).
//! [`runtime::WorkflowRuntime`] runs every instance (one per plan and area),
//! driven by event time from the same stream as the signals.

pub mod export;
pub mod graph;
pub mod ir;
pub mod out {
    //! The plan runtime's output payloads, kept under their old path: see
    //! [`crate::output::plan`].
    pub use crate::output::plan::*;
}
pub mod roster;
pub mod runtime;

pub use ir::PlanSet;
pub use runtime::WorkflowRuntime;
