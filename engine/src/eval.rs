//! The reference evaluator: a direct walk over [`Expr`].
//!
//! Semantics: arithmetic on numbers; a missing value (`null`) propagates
//! through arithmetic and makes comparisons false, so a rule never fires on
//! data it does not have; division by zero gives `null`; `and`/`or`
//! short-circuit and treat `null` as false.

use crate::ir::{BinOp, Builtin, Expr, UnOp};
use crate::value::Value;
use crate::window::{WindowLayout, WindowState};

/// What an expression can see.
pub struct Scope<'a> {
    /// The event's fields, by slot.
    pub fields: &'a [Value],
    /// The `let`s computed so far.
    pub lets: &'a [Value],
    /// The key's windows, if any.
    pub windows: Option<(&'a WindowLayout, &'a WindowState)>,
    /// The key's row in the signal's table, if any.
    pub row: &'a [Value],
}

/// Who runs script function calls ([`Expr::Script`]) during evaluation.
pub trait Calls {
    /// The argument stack: a call pushes its evaluated arguments here.
    fn stack(&mut self) -> &mut Vec<Value>;
    /// Calls script function `f` with the arguments `stack()[base..]`,
    /// which it removes; failures are `null`.
    fn call(&mut self, f: u16, base: usize) -> Value;
}

/// No script functions: every script call is `null`.
#[derive(Debug, Default)]
pub struct NoScripts(Vec<Value>);

impl Calls for NoScripts {
    fn stack(&mut self) -> &mut Vec<Value> {
        &mut self.0
    }
    fn call(&mut self, _f: u16, base: usize) -> Value {
        self.0.truncate(base);
        Value::Null
    }
}

/// Evaluates `e` in `scope` (script calls are `null`; see [`eval_with`]).
pub fn eval(e: &Expr, scope: &Scope<'_>) -> Value {
    eval_with(e, scope, &mut NoScripts::default())
}

/// Evaluates `e` in `scope`, running script calls through `calls`.
pub fn eval_with(e: &Expr, scope: &Scope<'_>, calls: &mut dyn Calls) -> Value {
    let mut eval = |e: &Expr, scope: &Scope<'_>| eval_with(e, scope, calls);
    match e {
        Expr::Const(v) => v.clone(),
        Expr::Field(f) => scope
            .fields
            .get(usize::from(*f))
            .cloned()
            .unwrap_or_default(),
        Expr::Let(i) => scope.lets.get(usize::from(*i)).cloned().unwrap_or_default(),
        Expr::Column(c) => scope.row.get(usize::from(*c)).cloned().unwrap_or_default(),
        Expr::Window(i) => scope
            .windows
            .map_or(Value::Null, |(layout, st)| layout.value(st, *i)),
        Expr::Unary(UnOp::Neg, x) => match eval(x, scope) {
            Value::Num(n) => Value::Num(-n),
            _ => Value::Null,
        },
        Expr::Unary(UnOp::Not, x) => match eval(x, scope) {
            Value::Bool(b) => Value::Bool(!b),
            _ => Value::Null,
        },
        Expr::Binary(BinOp::And, a, b) => {
            Value::Bool(eval(a, scope).is_true() && eval(b, scope).is_true())
        }
        Expr::Binary(BinOp::Or, a, b) => {
            Value::Bool(eval(a, scope).is_true() || eval(b, scope).is_true())
        }
        Expr::Binary(op, a, b) => binary(*op, &eval(a, scope), &eval(b, scope)),
        Expr::In(x, list) => {
            let v = eval(x, scope);
            if v == Value::Null {
                return Value::Bool(false);
            }
            Value::Bool(list.iter().any(|item| eval(item, scope) == v))
        }
        Expr::Script(f, args) => {
            let base = calls.stack().len();
            for a in args {
                let v = eval_with(a, scope, calls);
                calls.stack().push(v);
            }
            calls.call(*f, base)
        }
        Expr::Call(f, args) => builtin(*f, args.iter().map(|a| eval(a, scope).as_num())),
    }
}

/// Applies a built-in function to its numeric arguments (a missing or
/// non-numeric argument gives null).
pub fn builtin(f: Builtin, mut nums: impl Iterator<Item = Option<f64>>) -> Value {
    match f {
        Builtin::Abs => nums
            .next()
            .flatten()
            .map_or(Value::Null, |n| Value::Num(n.abs())),
        Builtin::Min | Builtin::Max => {
            let mut acc: Option<f64> = None;
            for n in nums {
                let Some(n) = n else { return Value::Null };
                acc = Some(match acc {
                    None => n,
                    Some(a) if f == Builtin::Min => a.min(n),
                    Some(a) => a.max(n),
                });
            }
            acc.map_or(Value::Null, Value::Num)
        }
    }
}

/// Applies a non-short-circuit binary operator.
pub fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    use Value::{Num, Str};
    match (op, a, b) {
        (BinOp::Eq, Value::Null, _) | (BinOp::Eq, _, Value::Null) => Value::Bool(false),
        (BinOp::Ne, Value::Null, _) | (BinOp::Ne, _, Value::Null) => Value::Bool(false),
        (BinOp::Eq, x, y) => Value::Bool(x == y),
        (BinOp::Ne, x, y) => Value::Bool(x != y),
        (_, Num(x), Num(y)) => {
            let (x, y) = (*x, *y);
            match op {
                BinOp::Add => Num(x + y),
                BinOp::Sub => Num(x - y),
                BinOp::Mul => Num(x * y),
                BinOp::Div if y == 0.0 => Value::Null,
                BinOp::Div => Num(x / y),
                BinOp::Rem if y == 0.0 => Value::Null,
                BinOp::Rem => Num(x % y),
                BinOp::Lt => Value::Bool(x < y),
                BinOp::Le => Value::Bool(x <= y),
                BinOp::Gt => Value::Bool(x > y),
                BinOp::Ge => Value::Bool(x >= y),
                BinOp::Eq | BinOp::Ne | BinOp::And | BinOp::Or => Value::Null,
            }
        }
        (_, Str(x), Str(y)) => match op {
            BinOp::Lt => Value::Bool(x < y),
            BinOp::Le => Value::Bool(x <= y),
            BinOp::Gt => Value::Bool(x > y),
            BinOp::Ge => Value::Bool(x >= y),
            _ => Value::Null,
        },
        _ => match op {
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Value::Bool(false),
            _ => Value::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: f64) -> Box<Expr> {
        Box::new(Expr::Const(Value::Num(n)))
    }

    #[test]
    fn null_never_fires() {
        let scope = Scope {
            fields: &[Value::Null],
            lets: &[],
            windows: None,
            row: &[],
        };
        let e = Expr::Binary(BinOp::Ge, Box::new(Expr::Field(0)), num(1.0));
        assert_eq!(eval(&e, &scope), Value::Bool(false));
        let e = Expr::Unary(UnOp::Not, Box::new(e));
        assert_eq!(eval(&e, &scope), Value::Bool(true));
        let div = Expr::Binary(BinOp::Div, num(1.0), num(0.0));
        assert_eq!(eval(&div, &scope), Value::Null);
    }

    #[test]
    fn builtins() {
        let scope = Scope {
            fields: &[],
            lets: &[],
            windows: None,
            row: &[],
        };
        let e = Expr::Call(
            Builtin::Max,
            vec![Expr::Const(Value::Num(2.0)), Expr::Const(Value::Num(-3.0))],
        );
        assert_eq!(eval(&e, &scope), Value::Num(2.0));
        let e = Expr::Call(Builtin::Abs, vec![Expr::Const(Value::Num(-3.5))]);
        assert_eq!(eval(&e, &scope), Value::Num(3.5));
    }
}
