//! Compiled expressions: slots resolved, constants folded, values `Copy`.
//!
//! A [`Cell`] is the compiled counterpart of [`Value`]: it never owns text.
//! Every string an expression can produce is either an event field's string
//! or a string constant of the program (no operator builds new text), so a
//! cell names the string by where it lives instead of holding it. Cells are
//! 16 bytes and `Copy`: evaluating an expression never touches a reference
//! count nor the heap.

use crate::eval::{Scope, eval as ref_eval};
use crate::ir::{BinOp, Builtin, Expr, UnOp};
use crate::value::Value;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// A value during compiled evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Cell {
    /// Absent.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// The string held by the event's field in this slot.
    FieldStr(u16),
    /// The program's string constant with this index.
    ConstStr(u32),
    /// The string in this column of the key's table row.
    RowStr(u16),
}

impl Cell {
    /// `true` only for `Bool(true)`, as [`Value::is_true`].
    #[inline]
    pub fn is_true(self) -> bool {
        matches!(self, Cell::Bool(true))
    }

    /// The number inside, if any.
    #[inline]
    pub fn as_num(self) -> Option<f64> {
        match self {
            Cell::Num(n) => Some(n),
            _ => None,
        }
    }

    /// Converts to a [`Value`] (clones an `Arc`, never copies text).
    pub fn to_value(self, cx: &Cx<'_>) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Bool(b) => Value::Bool(b),
            Cell::Num(n) => Value::Num(n),
            Cell::FieldStr(f) => cx.fields.get(usize::from(f)).cloned().unwrap_or_default(),
            Cell::ConstStr(i) => cx
                .consts
                .get(i as usize)
                .map_or(Value::Null, |s| Value::Str(s.clone())),
            Cell::RowStr(c) => cx.row.get(usize::from(c)).cloned().unwrap_or_default(),
        }
    }
}

/// What a compiled expression can see.
pub struct Cx<'a> {
    /// The event's fields by slot.
    pub fields: &'a [Value],
    /// The program's string constants.
    pub consts: &'a [Arc<str>],
    /// The `let`s computed so far.
    pub lets: &'a [Cell],
    /// The key's window values, by window index (empty outside a key's evaluation).
    pub windows: &'a [Cell],
    /// The key's row in the signal's table (empty: none).
    pub row: &'a [Value],
}

impl Cx<'_> {
    #[inline]
    fn text(&self, c: Cell) -> Option<&str> {
        match c {
            Cell::FieldStr(f) => self.fields.get(usize::from(f)).and_then(Value::as_str),
            Cell::ConstStr(i) => self.consts.get(i as usize).map(|s| s.as_ref()),
            Cell::RowStr(c) => self.row.get(usize::from(c)).and_then(Value::as_str),
            _ => None,
        }
    }

    /// Equality with [`Value`]'s `PartialEq` semantics.
    #[inline]
    fn same(&self, a: Cell, b: Cell) -> bool {
        match (a, b) {
            (Cell::Null, Cell::Null) => true,
            (Cell::Bool(x), Cell::Bool(y)) => x == y,
            (Cell::Num(x), Cell::Num(y)) => x == y,
            (
                Cell::FieldStr(_) | Cell::ConstStr(_) | Cell::RowStr(_),
                Cell::FieldStr(_) | Cell::ConstStr(_) | Cell::RowStr(_),
            ) => self.text(a) == self.text(b),
            _ => false,
        }
    }

    #[inline]
    fn field(&self, f: u16) -> Cell {
        match self.fields.get(usize::from(f)) {
            Some(Value::Num(n)) => Cell::Num(*n),
            Some(Value::Str(_)) => Cell::FieldStr(f),
            Some(Value::Bool(b)) => Cell::Bool(*b),
            Some(Value::Null) | None => Cell::Null,
        }
    }

    #[inline]
    fn column(&self, c: u16) -> Cell {
        match self.row.get(usize::from(c)) {
            Some(Value::Num(n)) => Cell::Num(*n),
            Some(Value::Str(_)) => Cell::RowStr(c),
            Some(Value::Bool(b)) => Cell::Bool(*b),
            Some(Value::Null) | None => Cell::Null,
        }
    }
}

/// A comparison against a numeric constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
}

impl Cmp {
    fn from_op(op: BinOp) -> Option<Cmp> {
        Some(match op {
            BinOp::Ge => Cmp::Ge,
            BinOp::Gt => Cmp::Gt,
            BinOp::Le => Cmp::Le,
            BinOp::Lt => Cmp::Lt,
            _ => return None,
        })
    }
    /// `c op x` is `x (flipped op) c`.
    fn flipped(self) -> Cmp {
        match self {
            Cmp::Ge => Cmp::Le,
            Cmp::Gt => Cmp::Lt,
            Cmp::Le => Cmp::Ge,
            Cmp::Lt => Cmp::Gt,
        }
    }
    /// `x op c` for numbers.
    #[inline]
    pub fn holds(self, x: f64, c: f64) -> bool {
        match self {
            Cmp::Ge => x >= c,
            Cmp::Gt => x > c,
            Cmp::Le => x <= c,
            Cmp::Lt => x < c,
        }
    }
}

/// A compiled expression.
#[derive(Clone, Debug, PartialEq)]
pub enum CExpr {
    /// A (folded) constant.
    Const(Cell),
    /// An event field.
    Field(u16),
    /// A `let` by index.
    Let(u16),
    /// A window by index.
    Window(u16),
    /// A column of the key's table row.
    Column(u16),
    /// `subject op constant` with a numeric constant (either side in the source).
    CmpNum(Cmp, Box<CExpr>, f64),
    /// `-x`
    Neg(Box<CExpr>),
    /// `not x`
    Not(Box<CExpr>),
    /// `a and b`
    And(Box<CExpr>, Box<CExpr>),
    /// `a or b`
    Or(Box<CExpr>, Box<CExpr>),
    /// Any other binary operator.
    Bin(BinOp, Box<CExpr>, Box<CExpr>),
    /// `x in [..]`
    In(Box<CExpr>, Vec<CExpr>),
    /// Built-in call.
    Call(Builtin, Vec<CExpr>),
}

/// String constants collected while compiling.
#[derive(Default, Debug)]
pub struct Consts {
    /// By index.
    pub strings: Vec<Arc<str>>,
    /// Index of each string (so collecting is linear, not quadratic).
    index: FxHashMap<Arc<str>, u32>,
}

impl Consts {
    fn cell(&mut self, v: &Value) -> Cell {
        match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Num(n) => Cell::Num(*n),
            Value::Str(s) => {
                if let Some(&i) = self.index.get(s) {
                    return Cell::ConstStr(i);
                }
                let i = u32::try_from(self.strings.len()).unwrap_or(u32::MAX);
                self.strings.push(s.clone());
                self.index.insert(s.clone(), i);
                Cell::ConstStr(i)
            }
        }
    }
}

/// Whether `e` reads nothing of an event, a `let` or a window.
fn is_constant(e: &Expr) -> bool {
    let mut constant = true;
    e.walk(&mut |x| {
        if matches!(
            x,
            Expr::Field(_) | Expr::Let(_) | Expr::Window(_) | Expr::Column(_)
        ) {
            constant = false;
        }
    });
    constant
}

/// Compiles `e`, folding every constant sub-expression with the reference
/// evaluator itself (so folding cannot change a result).
pub fn compile(e: &Expr, consts: &mut Consts) -> CExpr {
    if is_constant(e) {
        let scope = Scope {
            fields: &[],
            lets: &[],
            windows: None,
            row: &[],
        };
        return CExpr::Const(consts.cell(&ref_eval(e, &scope)));
    }
    let b = |x: &Expr, consts: &mut Consts| Box::new(compile(x, consts));
    match e {
        Expr::Const(v) => CExpr::Const(consts.cell(v)),
        Expr::Field(f) => CExpr::Field(*f),
        Expr::Let(i) => CExpr::Let(*i),
        Expr::Window(i) => CExpr::Window(*i),
        Expr::Column(c) => CExpr::Column(*c),
        Expr::Unary(UnOp::Neg, x) => CExpr::Neg(b(x, consts)),
        Expr::Unary(UnOp::Not, x) => CExpr::Not(b(x, consts)),
        Expr::Binary(BinOp::And, x, y) => CExpr::And(b(x, consts), b(y, consts)),
        Expr::Binary(BinOp::Or, x, y) => CExpr::Or(b(x, consts), b(y, consts)),
        Expr::Binary(op, x, y) => {
            let (cx, cy) = (compile(x, consts), compile(y, consts));
            match (Cmp::from_op(*op), cx, cy) {
                (Some(c), s, CExpr::Const(Cell::Num(n))) if !n.is_nan() => {
                    CExpr::CmpNum(c, Box::new(s), n)
                }
                (Some(c), CExpr::Const(Cell::Num(n)), s) if !n.is_nan() => {
                    CExpr::CmpNum(c.flipped(), Box::new(s), n)
                }
                (_, cx, cy) => CExpr::Bin(*op, Box::new(cx), Box::new(cy)),
            }
        }
        Expr::In(x, list) => CExpr::In(
            b(x, consts),
            list.iter().map(|i| compile(i, consts)).collect(),
        ),
        Expr::Call(f, args) => CExpr::Call(*f, args.iter().map(|a| compile(a, consts)).collect()),
        // script calls are rejected before compiling (see `compiled::unsupported`)
        Expr::Script(..) => CExpr::Const(Cell::Null),
    }
}

/// [`eval`] with the commonest shapes (a window, a `let`, a constant, and a
/// comparison of one of them with a number) inlined at the call site.
#[inline(always)]
pub fn eval_fast(e: &CExpr, cx: &Cx<'_>) -> Cell {
    // the shapes of most `let`s and level rules, without a call
    let leaf = |x: &CExpr| match x {
        CExpr::Window(i) => Some(cx.windows.get(usize::from(*i)).copied().unwrap_or_default()),
        CExpr::Let(i) => Some(cx.lets.get(usize::from(*i)).copied().unwrap_or_default()),
        CExpr::Const(c) => Some(*c),
        _ => None,
    };
    if let Some(v) = leaf(e) {
        return v;
    }
    if let CExpr::CmpNum(op, s, c) = e
        && let Some(v) = leaf(s)
    {
        return match v {
            Cell::Num(x) => Cell::Bool(op.holds(x, *c)),
            _ => Cell::Bool(false),
        };
    }
    eval(e, cx)
}

/// Evaluates a compiled expression (same results as [`crate::eval::eval`]).
pub fn eval(e: &CExpr, cx: &Cx<'_>) -> Cell {
    match e {
        CExpr::Const(c) => *c,
        CExpr::Field(f) => cx.field(*f),
        CExpr::Let(i) => cx.lets.get(usize::from(*i)).copied().unwrap_or_default(),
        CExpr::Window(i) => cx.windows.get(usize::from(*i)).copied().unwrap_or_default(),
        CExpr::Column(c) => cx.column(*c),
        CExpr::CmpNum(op, s, c) => match eval(s, cx) {
            Cell::Num(x) => Cell::Bool(op.holds(x, *c)),
            // text, booleans and null never compare with a number
            _ => Cell::Bool(false),
        },
        CExpr::Neg(x) => match eval(x, cx) {
            Cell::Num(n) => Cell::Num(-n),
            _ => Cell::Null,
        },
        CExpr::Not(x) => match eval(x, cx) {
            Cell::Bool(b) => Cell::Bool(!b),
            _ => Cell::Null,
        },
        CExpr::And(a, b) => Cell::Bool(eval(a, cx).is_true() && eval(b, cx).is_true()),
        CExpr::Or(a, b) => Cell::Bool(eval(a, cx).is_true() || eval(b, cx).is_true()),
        CExpr::Bin(op, a, b) => binary(*op, eval(a, cx), eval(b, cx), cx),
        CExpr::In(x, list) => {
            let v = eval(x, cx);
            if v == Cell::Null {
                return Cell::Bool(false);
            }
            Cell::Bool(list.iter().any(|item| cx.same(eval(item, cx), v)))
        }
        CExpr::Call(Builtin::Abs, args) => args
            .first()
            .and_then(|a| eval(a, cx).as_num())
            .map_or(Cell::Null, |n| Cell::Num(n.abs())),
        CExpr::Call(f, args) => {
            let mut acc: Option<f64> = None;
            for a in args {
                let Some(n) = eval(a, cx).as_num() else {
                    return Cell::Null;
                };
                acc = Some(match acc {
                    None => n,
                    Some(a) if *f == Builtin::Min => a.min(n),
                    Some(a) => a.max(n),
                });
            }
            acc.map_or(Cell::Null, Cell::Num)
        }
    }
}

/// [`crate::eval::binary`] over cells.
fn binary(op: BinOp, a: Cell, b: Cell, cx: &Cx<'_>) -> Cell {
    use Cell::{Bool, Num};
    match (op, a, b) {
        (BinOp::Eq | BinOp::Ne, Cell::Null, _) | (BinOp::Eq | BinOp::Ne, _, Cell::Null) => {
            Bool(false)
        }
        (BinOp::Eq, x, y) => Bool(cx.same(x, y)),
        (BinOp::Ne, x, y) => Bool(!cx.same(x, y)),
        (_, Num(x), Num(y)) => match op {
            BinOp::Add => Num(x + y),
            BinOp::Sub => Num(x - y),
            BinOp::Mul => Num(x * y),
            BinOp::Div if y == 0.0 => Cell::Null,
            BinOp::Div => Num(x / y),
            BinOp::Rem if y == 0.0 => Cell::Null,
            BinOp::Rem => Num(x % y),
            BinOp::Lt => Bool(x < y),
            BinOp::Le => Bool(x <= y),
            BinOp::Gt => Bool(x > y),
            BinOp::Ge => Bool(x >= y),
            BinOp::Eq | BinOp::Ne | BinOp::And | BinOp::Or => Cell::Null,
        },
        _ => match (cx.text(a), cx.text(b)) {
            (Some(x), Some(y)) => match op {
                BinOp::Lt => Bool(x < y),
                BinOp::Le => Bool(x <= y),
                BinOp::Gt => Bool(x > y),
                BinOp::Ge => Bool(x >= y),
                _ => Cell::Null,
            },
            _ => match op {
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => Bool(false),
                _ => Cell::Null,
            },
        },
    }
}
