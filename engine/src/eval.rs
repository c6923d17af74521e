//! The reference evaluator: a direct walk over [`Expr`].
//!
//! What each operator and built-in means is in [`crate::ops`], the one
//! table both evaluators use; this walk adds only `and`/`or`, which
//! short-circuit and treat anything but `true` as false, `in`, and script
//! calls (through [`Calls`]).

use crate::ir::{BinOp, Builtin, Expr};
use crate::ops::{self, Scalar};
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
    /// The reading: its kind, its time and the key's `days_since` values.
    pub at: At<'a>,
}

/// What an expression sees of the reading besides its fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct At<'a> {
    /// The event's kind ([`Expr::KindField`] reads only its own kind).
    pub kind: Option<crate::ir::KindId>,
    /// The reading's time (the key's time), ms since the epoch, UTC.
    pub ms: i64,
    /// The key's `days_since` values, by mark ([`Expr::DaysSince`]).
    pub marks: &'a [Value],
    /// The area's member aggregates ([`Expr::Group`]).
    pub groups: &'a [Value],
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
        Expr::KindField(k, f) if scope.at.kind == Some(*k) => scope
            .fields
            .get(usize::from(*f))
            .cloned()
            .unwrap_or_default(),
        Expr::KindField(..) => Value::Null,
        Expr::Calendar(c, offset) => Value::Num(c.at(scope.at.ms, *offset)),
        Expr::DaysSince(i) => scope
            .at
            .marks
            .get(usize::from(*i))
            .cloned()
            .unwrap_or_default(),
        Expr::Group(i) => scope
            .at
            .groups
            .get(usize::from(*i))
            .cloned()
            .unwrap_or_default(),
        Expr::Let(i) => scope.lets.get(usize::from(*i)).cloned().unwrap_or_default(),
        Expr::Column(c) => scope.row.get(usize::from(*c)).cloned().unwrap_or_default(),
        Expr::Window(i) => scope
            .windows
            .map_or(Value::Null, |(layout, st)| layout.value(st, *i)),
        Expr::Unary(op, x) => ops::unary(*op, Scalar::of(&eval(x, scope))).to_value(),
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
            let v = Scalar::of(&v);
            Value::Bool(
                list.iter()
                    .any(|item| ops::same(Scalar::of(&eval(item, scope)), v)),
            )
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

/// Applies a built-in function to its numeric arguments (see [`ops::builtin`]).
pub fn builtin(f: Builtin, nums: impl Iterator<Item = Option<f64>>) -> Value {
    ops::builtin(f, nums).to_value()
}

/// Applies a non-short-circuit binary operator (see [`ops::binary`]).
pub fn binary(op: BinOp, a: &Value, b: &Value) -> Value {
    ops::binary(op, Scalar::of(a), Scalar::of(b)).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::UnOp;

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
            at: At::default(),
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
            at: At::default(),
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
