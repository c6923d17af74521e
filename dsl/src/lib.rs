//! # yingji-dsl
//!
//! The authoring half of yingji: the `.yj` grammar (pest), the YAML front
//! end, the span-carrying AST both converge on, validation with rustc-style
//! diagnostics, and lowering to [`yingji_engine::ir`].

pub mod assess;
pub mod ast;
pub mod diag;
pub mod limits;
pub mod lint;
pub mod load;
pub mod lower;
pub mod parse;
pub mod plan;
pub mod script;
pub mod yaml;

pub use diag::{Diagnostic, Severity, SourceMap, Span};
