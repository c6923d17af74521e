//! Syntax: text to the span-carrying AST. The `.yj` grammar ([`yj`]), the
//! YAML documents ([`yaml`]), and the AST itself ([`ast`]).

pub mod ast;
pub mod yaml;
pub mod yj;
