//! # yingji-dsl
//!
//! The authoring half of yingji, laid out along its pipeline:
//!
//! - [`syntax`]: the `.yj` grammar (pest), the YAML front ends, and the
//!   span-carrying AST both converge on;
//! - [`check`]: the one typer, over scopes (signal, record, aggregate, plan
//!   guard) that say which names exist, their types and where script calls
//!   may appear;
//! - [`lower`]: policies to [`yingji_engine::ir`], assessments to
//!   [`yingji_engine::assess`], plans to [`yingji_engine::workflow::ir`];
//! - [`load`]: the pipeline over files or memory, with rustc-style
//!   diagnostics ([`diag`]).
//!
//! `ast`, `parse`, `yaml`, `script`, `assess` and `plan` keep the paths the
//! crate had before this layout.

pub mod builtins;
pub mod check;
pub mod diag;
pub mod fmt;
pub mod limits;
pub mod lint;
pub mod load;
pub mod lower;
pub mod syntax;

pub mod assess;
pub mod plan;

pub use diag::{Diagnostic, Severity, SourceMap, Span};
pub use lower::policy::scripts as script;
pub use syntax::ast;
pub use syntax::yj as parse;

/// The policy YAML front end (the path it had before `syntax/yaml`).
pub mod yaml {
    pub use crate::syntax::yaml::OrderedMap;
    pub use crate::syntax::yaml::policy::*;
}
