//! The one operator and built-in table of the expression language.
//!
//! Both evaluators — the reference walk ([`crate::eval`]) and the compiled
//! one ([`crate::compiled::expr`]) — hold their values in their own form
//! (an owned [`Value`], a 16-byte `Copy` cell naming where its text lives)
//! and meet here through a borrowed [`Scalar`]: what an operator means is
//! written once, so the two cannot drift apart.
//!
//! The semantics: arithmetic on numbers; a missing value (`null`)
//! propagates through arithmetic and makes every comparison false, so a rule
//! never fires on data it does not have; `==`/`!=` with `null` on either side
//! are false; division and remainder by zero give `null`; text compares by
//! bytes (`<`, `<=`, `>`, `>=`, `==`, `!=`), never with a number; no operator
//! builds new text. `and`/`or` short-circuit in the evaluators (they treat
//! anything but `true` as false) and are not in this table.
//!
//! ```
//! use yingji_engine::ir::BinOp;
//! use yingji_engine::ops::{Scalar, binary};
//! assert_eq!(binary(BinOp::Add, Scalar::Num(1.0), Scalar::Num(2.0)), Scalar::Num(3.0));
//! assert_eq!(binary(BinOp::Div, Scalar::Num(1.0), Scalar::Num(0.0)), Scalar::Null);
//! assert_eq!(binary(BinOp::Ge, Scalar::Null, Scalar::Num(0.0)), Scalar::Bool(false));
//! assert_eq!(binary(BinOp::Lt, Scalar::Text("a"), Scalar::Text("b")), Scalar::Bool(true));
//! ```

use crate::ir::{BinOp, Builtin, UnOp};
use crate::value::Value;

/// A value as the operators see it: text borrowed from wherever it lives.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Scalar<'a> {
    /// Absent.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// Text.
    Text(&'a str),
}

impl<'a> Scalar<'a> {
    /// The borrowed view of `v`.
    #[inline]
    pub fn of(v: &'a Value) -> Scalar<'a> {
        match v {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Num(n) => Scalar::Num(*n),
            Value::Str(s) => Scalar::Text(s),
        }
    }

    /// The owned value (text is copied; operator results never hold text).
    #[inline]
    pub fn to_value(self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Num(n) => Value::Num(n),
            Scalar::Text(s) => Value::Str(s.into()),
        }
    }

    /// The number inside, if any.
    #[inline]
    pub fn as_num(self) -> Option<f64> {
        match self {
            Scalar::Num(n) => Some(n),
            _ => None,
        }
    }
}

/// Equality as `in` and `==` use it between two present values: same kind
/// and same content (`null` equals only `null`; see [`binary`] for `==`).
#[inline]
pub fn same(a: Scalar<'_>, b: Scalar<'_>) -> bool {
    a == b
}

/// A unary operator (text and booleans are not numbers, numbers are not
/// booleans: a mismatch is `null`).
#[inline]
pub fn unary(op: UnOp, x: Scalar<'_>) -> Scalar<'static> {
    match (op, x) {
        (UnOp::Neg, Scalar::Num(n)) => Scalar::Num(-n),
        (UnOp::Not, Scalar::Bool(b)) => Scalar::Bool(!b),
        _ => Scalar::Null,
    }
}

/// A comparison of a number with a numeric constant, as [`binary`] would
/// give it (`Lt`/`Le`/`Gt`/`Ge` only; anything else is `false`).
#[inline]
pub fn compare_num(op: BinOp, x: f64, c: f64) -> bool {
    match op {
        BinOp::Lt => x < c,
        BinOp::Le => x <= c,
        BinOp::Gt => x > c,
        BinOp::Ge => x >= c,
        _ => false,
    }
}

/// A binary operator other than `and`/`or` (those short-circuit in the
/// evaluators). The result never holds text.
#[inline]
pub fn binary(op: BinOp, a: Scalar<'_>, b: Scalar<'_>) -> Scalar<'static> {
    use Scalar::{Bool, Null, Num, Text};
    match (op, a, b) {
        (BinOp::Eq | BinOp::Ne, Null, _) | (BinOp::Eq | BinOp::Ne, _, Null) => Bool(false),
        (BinOp::Eq, x, y) => Bool(same(x, y)),
        (BinOp::Ne, x, y) => Bool(!same(x, y)),
        (_, Num(x), Num(y)) => match op {
            BinOp::Add => Num(x + y),
            BinOp::Sub => Num(x - y),
            BinOp::Mul => Num(x * y),
            BinOp::Div | BinOp::Rem if y == 0.0 => Null,
            BinOp::Div => Num(x / y),
            BinOp::Rem => Num(x % y),
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Bool(compare_num(op, x, y)),
            BinOp::Eq | BinOp::Ne | BinOp::And | BinOp::Or => Null,
        },
        (_, Text(x), Text(y)) => match op {
            BinOp::Lt => Bool(x < y),
            BinOp::Le => Bool(x <= y),
            BinOp::Gt => Bool(x > y),
            BinOp::Ge => Bool(x >= y),
            _ => Null,
        },
        _ => match op {
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Bool(false),
            _ => Null,
        },
    }
}

/// Applies a built-in function to its numeric arguments (a missing or
/// non-numeric argument gives `null`; `min`/`max` of nothing is `null`).
pub fn builtin(f: Builtin, mut nums: impl Iterator<Item = Option<f64>>) -> Scalar<'static> {
    match f {
        Builtin::Abs => nums
            .next()
            .flatten()
            .map_or(Scalar::Null, |n| Scalar::Num(n.abs())),
        Builtin::Min | Builtin::Max => {
            let mut acc: Option<f64> = None;
            for n in nums {
                let Some(n) = n else {
                    return Scalar::Null;
                };
                acc = Some(match acc {
                    None => n,
                    Some(a) if f == Builtin::Min => a.min(n),
                    Some(a) => a.max(n),
                });
            }
            acc.map_or(Scalar::Null, Scalar::Num)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_never_compares() {
        for op in [
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::Eq,
            BinOp::Ne,
        ] {
            assert_eq!(
                binary(op, Scalar::Null, Scalar::Num(1.0)),
                Scalar::Bool(false)
            );
            assert_eq!(
                binary(op, Scalar::Text("a"), Scalar::Null),
                Scalar::Bool(false)
            );
        }
        assert_eq!(
            binary(BinOp::Add, Scalar::Null, Scalar::Num(1.0)),
            Scalar::Null
        );
    }

    #[test]
    fn text_and_numbers_do_not_mix() {
        assert_eq!(
            binary(BinOp::Lt, Scalar::Text("1"), Scalar::Num(2.0)),
            Scalar::Bool(false)
        );
        assert_eq!(
            binary(BinOp::Eq, Scalar::Text("1"), Scalar::Num(1.0)),
            Scalar::Bool(false)
        );
        assert_eq!(
            binary(BinOp::Ne, Scalar::Text("1"), Scalar::Num(1.0)),
            Scalar::Bool(true)
        );
        assert_eq!(
            binary(BinOp::Add, Scalar::Text("a"), Scalar::Text("b")),
            Scalar::Null
        );
    }

    #[test]
    fn builtins() {
        let max = builtin(Builtin::Max, [Some(2.0), Some(-3.0)].into_iter());
        assert_eq!(max, Scalar::Num(2.0));
        assert_eq!(
            builtin(Builtin::Min, [Some(2.0), None].into_iter()),
            Scalar::Null
        );
        assert_eq!(
            builtin(Builtin::Abs, [Some(-3.5)].into_iter()),
            Scalar::Num(3.5)
        );
        assert_eq!(builtin(Builtin::Max, std::iter::empty()), Scalar::Null);
    }
}
