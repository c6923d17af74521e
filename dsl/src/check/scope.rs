//! Scopes: what the one typer asks of the place an expression is in.
//!
//! A scope says which names exist there and what they are (fields and
//! `let`s of a signal; the fields of one record; collections of a unit's
//! records; `level`, `response`, signals and steps of a plan), which calls
//! it adds (window functions, aggregates, `answered(step)`), whether script
//! calls may appear (asked of [`Place`], the rule `Program::validate` uses
//! too), and what the checked expression lowers to. The typer
//! ([`super::Typer`]) walks the tree, decides every operator's type and
//! reports what does not fit; the scope never re-decides a type.

use super::Typer;
use crate::diag::codes;
use crate::syntax::ast::{Arg, Expr, Ident};
use std::fmt;
use yingji_engine::ir::{BinOp, Builtin, Place, UnOp};
use yingji_engine::value::{Type, Value};

/// The types the typer decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// A number.
    Number,
    /// Text.
    String,
    /// `true` / `false`.
    Bool,
    /// A duration literal (only a window's length in signals).
    Duration,
    /// A warning level (plan guards: `level`, a signal, `red`).
    Level,
    /// A response level (plan guards: `response`, `III`).
    Response,
    /// A value of a type known only at run time (plan guards: `event.x`).
    Any,
}

impl Ty {
    /// The name diagnostics use.
    pub fn name(self) -> &'static str {
        match self {
            Ty::Number => "number",
            Ty::String => "string",
            Ty::Bool => "bool",
            Ty::Duration => "duration",
            Ty::Level => "warning level",
            Ty::Response => "response level",
            Ty::Any => "value",
        }
    }

    /// The engine's type, for the types programs hold.
    pub fn engine(self) -> Option<Type> {
        match self {
            Ty::Number => Some(Type::Number),
            Ty::String => Some(Type::String),
            Ty::Bool => Some(Type::Bool),
            Ty::Duration => Some(Type::Duration),
            Ty::Level | Ty::Response | Ty::Any => None,
        }
    }

    /// Whether a value of this type may stand where `other` is wanted.
    pub fn fits(self, other: Ty) -> bool {
        self == other || self == Ty::Any || other == Ty::Any
    }
}

impl From<Type> for Ty {
    fn from(t: Type) -> Ty {
        match t {
            Type::Number => Ty::Number,
            Type::String => Ty::String,
            Type::Bool => Ty::Bool,
            Type::Duration => Ty::Duration,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type `a op b` has, or `None` when `op` does not apply to them: the
/// one operator table of the authoring side.
pub fn binary_type(op: BinOp, a: Ty, b: Ty) -> Option<Ty> {
    match op {
        BinOp::And | BinOp::Or => (a == Ty::Bool && b == Ty::Bool).then_some(Ty::Bool),
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
            (a.fits(Ty::Number) && b.fits(Ty::Number)).then_some(Ty::Number)
        }
        BinOp::Eq | BinOp::Ne => {
            (a.fits(b) && a != Ty::Duration && b != Ty::Duration).then_some(Ty::Bool)
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let ordered = |t: Ty| matches!(t, Ty::Number | Ty::String | Ty::Level | Ty::Response);
            (a.fits(b) && (ordered(a) || ordered(b) || (a == Ty::Any && b == Ty::Any)))
                .then_some(Ty::Bool)
        }
    }
}

/// Whether `op` compares (the typer resolves a name on one side by the type
/// of the other, e.g. `III` after `response`).
pub fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
    )
}

/// The type `op x` takes (and gives).
pub fn operand_type(op: UnOp) -> Ty {
    if op == UnOp::Not {
        Ty::Bool
    } else {
        Ty::Number
    }
}

/// What a scope makes of a call.
pub enum Call<O> {
    /// The scope handled it (`None`: reported).
    Done(Option<(O, Ty)>),
    /// Not one of the scope's own calls: the typer goes on with the
    /// built-ins (`abs`, `min`, `max`) and script functions.
    NotMine,
}

/// The place an expression is checked in; see the module documentation.
pub trait Scope {
    /// What an expression of this scope lowers to.
    type Out;

    /// The code of a type error here.
    fn type_code(&self) -> &'static str {
        codes::TYPE_MISMATCH
    }

    /// The part of a signal this is, which decides whether script calls may
    /// appear ([`Place::scripts_allowed`]); `None` where no script can run.
    fn place(&self) -> Option<Place> {
        None
    }

    /// A literal.
    fn constant(&mut self, v: Value) -> Self::Out;

    /// A duration literal (`3h`, or `every 1h` when `tumbling`), which is a
    /// value nowhere but as a window's length.
    fn duration(
        &mut self,
        ty: &mut Typer<'_>,
        e: &Expr,
        ms: i64,
        tumbling: bool,
    ) -> Option<(Self::Out, Ty)> {
        let _ = (ms, tumbling);
        ty.type_error(
            self.type_code(),
            e.span,
            "a duration cannot be used here".into(),
            "expected a number, string or bool".into(),
        );
        None
    }

    /// A name or dotted name. `expected` is the type of the other side of a
    /// comparison, for names whose meaning depends on it.
    fn path(
        &mut self,
        ty: &mut Typer<'_>,
        e: &Expr,
        parts: &[Ident],
        expected: Option<Ty>,
    ) -> Option<(Self::Out, Ty)>;

    /// The type a leaf has on its own, without looking deeper (`None`: not
    /// known before the other side of its comparison is).
    fn hint(&self, e: &Expr) -> Option<Ty> {
        let _ = e;
        None
    }

    /// `op x`, already typed.
    fn unary(&mut self, ty: &mut Typer<'_>, e: &Expr, op: UnOp, x: Self::Out) -> Option<Self::Out>;

    /// `a op b`, already typed as `t`.
    fn binary(
        &mut self,
        ty: &mut Typer<'_>,
        e: &Expr,
        op: BinOp,
        a: Self::Out,
        b: Self::Out,
        t: Ty,
    ) -> Option<Self::Out>;

    /// `x in [items]`, already typed.
    fn in_list(
        &mut self,
        ty: &mut Typer<'_>,
        e: &Expr,
        x: Self::Out,
        items: Vec<Self::Out>,
    ) -> Option<Self::Out>;

    /// Whether calls here take `where` filters (collections in assessments).
    fn filters(&self) -> bool {
        false
    }

    /// The scope's own calls.
    fn call(
        &mut self,
        ty: &mut Typer<'_>,
        e: &Expr,
        name: &Ident,
        args: &[Arg],
    ) -> Call<Self::Out> {
        let _ = (ty, e, name, args);
        Call::NotMine
    }

    /// `abs`, `min`, `max` of numbers, already typed.
    fn builtin(
        &mut self,
        ty: &mut Typer<'_>,
        e: &Expr,
        b: Builtin,
        args: Vec<Self::Out>,
    ) -> Option<Self::Out>;

    /// A script function's call, already checked against its signature
    /// (only where [`Scope::place`] allows scripts).
    fn script(&mut self, index: u16, args: Vec<Self::Out>) -> Option<Self::Out> {
        let _ = (index, args);
        None
    }

    /// Reports a call of a function that does not exist here.
    fn unknown_function(&mut self, ty: &mut Typer<'_>, name: &Ident, argc: usize);
}
