//! Expressions, the part of the AST every definition shares: `.yj` and YAML
//! policies, assessments and plan guards are all parsed into these.

use crate::diag::Span;
pub use yingji_engine::ir::{BinOp, UnOp};

/// A name with its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name as written.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// An expression with its place.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `50`, `0.5`
    Num(f64),
    /// `3h` in milliseconds
    Duration(i64),
    /// `every 1h`: a tumbling window length in milliseconds
    Every(i64),
    /// `"双江街道"`
    Str(String),
    /// `true`
    Bool(bool),
    /// `mm`, `table.column`
    Path(Vec<Ident>),
    /// `-x`, `not x`
    Unary(UnOp, Box<Expr>),
    /// `a + b`, `a >= b`, `a and b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x in [..]`
    In(Box<Expr>, Vec<Expr>),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `sum(mm, 3h)`, `count(accidents where deaths > 0)`
    Call(Ident, Vec<Arg>),
    /// Text already reported as an error (e.g. `3x`): later stages skip it silently.
    Invalid,
}

/// A call argument with an optional `where` filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// The argument.
    pub expr: Expr,
    /// `where` condition (collections).
    pub filter: Option<Expr>,
}
