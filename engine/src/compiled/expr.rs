//! Compiled expressions: slots resolved, constants folded, values `Copy`.
//!
//! A [`Cell`] is the compiled counterpart of [`Value`]: it never owns text.
//! Every string an expression can produce is either an event field's string
//! or a string constant of the program (no operator builds new text), so a
//! cell names the string by where it lives instead of holding it. Cells are
//! 16 bytes and `Copy`: evaluating an expression never touches a reference
//! count nor the heap. Script functions (rhai) are the one exception: their
//! text results are kept, for the evaluation of one key, by the [`Host`]
//! that runs them ([`Cell::Scratch`]).
//!
//! What the operators and built-ins mean is in [`crate::ops`], the table
//! the reference evaluator uses too; this module only resolves where values
//! live and folds constants.

use crate::eval::{At, Scope, eval as ref_eval};
use crate::ir::{BinOp, Builtin, Expr, UnOp};
use crate::ops::{self, Scalar};
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
    /// The text a script call returned, kept by the [`Host`] under this index.
    Scratch(u16),
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

    /// Converts to a [`Value`] (clones an `Arc`, never copies text);
    /// `scratch` is the [`Host::scratch`] of the evaluation that made it.
    pub fn to_value(self, cx: &Cx<'_>, scratch: &[Value]) -> Value {
        match self {
            Cell::Scratch(i) => scratch.get(usize::from(i)).cloned().unwrap_or_default(),
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

    /// A result of the operator table (which never builds text).
    #[inline]
    fn of(s: Scalar<'_>) -> Cell {
        match s {
            Scalar::Bool(b) => Cell::Bool(b),
            Scalar::Num(n) => Cell::Num(n),
            // no operator or built-in produces text (see `crate::ops`)
            Scalar::Null | Scalar::Text(_) => Cell::Null,
        }
    }
}

/// Who runs the script calls of a compiled evaluation, and keeps their text.
pub trait Host {
    /// Text results of the calls so far, by [`Cell::Scratch`] index.
    fn scratch(&self) -> &[Value];
    /// The argument stack: a call pushes its evaluated arguments here
    /// (`None`: this host runs no scripts, a call is `null`; it is used only
    /// where a signal has none).
    fn stack(&mut self) -> Option<&mut Vec<Value>>;
    /// Calls script function `f` with the arguments `stack()[base..]`
    /// (which it removes); failures are `null`.
    fn call(&mut self, f: u16, base: usize) -> Value;
    /// Keeps a script's text result and names it.
    fn keep(&mut self, v: Value) -> Cell;
}

/// No script calls: the host of every signal without them.
#[derive(Debug, Default)]
pub struct Pure;

impl Host for Pure {
    #[inline]
    fn scratch(&self) -> &[Value] {
        &[]
    }
    #[inline]
    fn stack(&mut self) -> Option<&mut Vec<Value>> {
        None
    }
    fn call(&mut self, _f: u16, _base: usize) -> Value {
        Value::Null
    }
    fn keep(&mut self, _v: Value) -> Cell {
        Cell::Null
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
    /// The event's kind ([`CExpr::KindField`] reads only its own kind).
    pub kind: Option<crate::ir::KindId>,
    /// The reading's time (the key's time), ms since the epoch, UTC.
    pub ms: i64,
}

impl<'a> Cx<'a> {
    /// The operator table's view of `c` (`scratch`: the host's texts).
    #[inline]
    fn scalar<'s>(&'s self, c: Cell, scratch: &'s [Value]) -> Scalar<'s> {
        let text =
            |v: Option<&'s Value>| v.and_then(Value::as_str).map_or(Scalar::Null, Scalar::Text);
        match c {
            Cell::Null => Scalar::Null,
            Cell::Bool(b) => Scalar::Bool(b),
            Cell::Num(n) => Scalar::Num(n),
            Cell::FieldStr(f) => text(self.fields.get(usize::from(f))),
            Cell::ConstStr(i) => self
                .consts
                .get(i as usize)
                .map_or(Scalar::Null, |s| Scalar::Text(s)),
            Cell::RowStr(c) => text(self.row.get(usize::from(c))),
            Cell::Scratch(i) => text(scratch.get(usize::from(i))),
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
    /// Script function call (run by the [`Host`]).
    Script(u16, Vec<CExpr>),
    /// A field of one kind: null for events of another kind.
    KindField(crate::ir::KindId, u16),
    /// A calendar function of the reading's time at an offset (minutes).
    Calendar(crate::ir::Calendar, i16),
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

/// Whether `e` reads nothing of an event, a `let` or a window, and calls
/// no script (a call is never folded: it may fail, and failures are
/// reported where they happen).
fn is_constant(e: &Expr) -> bool {
    let mut constant = true;
    e.walk(&mut |x| {
        if matches!(
            x,
            Expr::Field(_)
                | Expr::Let(_)
                | Expr::Window(_)
                | Expr::Column(_)
                | Expr::Script(..)
                | Expr::KindField(..)
                | Expr::Calendar(..)
                | Expr::DaysSince(_)
                | Expr::Group(_)
        ) {
            constant = false;
        }
    });
    constant
}

/// Compiles `e`, folding every constant sub-expression with the reference
/// evaluator itself (so folding cannot change a result). `days_since`
/// values follow the `nwindows` window values ([`CExpr::Window`] indices
/// from `nwindows` on).
pub fn compile(e: &Expr, consts: &mut Consts) -> CExpr {
    compile_in(e, consts, 0, 0)
}

/// [`compile`] for a signal with `nwindows` windows and `nmarks`
/// `days_since` marks (member aggregates follow the marks).
pub fn compile_in(e: &Expr, consts: &mut Consts, nwindows: usize, nmarks: usize) -> CExpr {
    if is_constant(e) {
        let scope = Scope {
            fields: &[],
            lets: &[],
            windows: None,
            row: &[],
            at: At::default(),
        };
        return CExpr::Const(consts.cell(&ref_eval(e, &scope)));
    }
    let n = nwindows;
    let b = |x: &Expr, consts: &mut Consts| Box::new(compile_in(x, consts, n, nmarks));
    let compile = |x: &Expr, consts: &mut Consts| compile_in(x, consts, n, nmarks);
    match e {
        Expr::Const(v) => CExpr::Const(consts.cell(v)),
        Expr::Field(f) => CExpr::Field(*f),
        Expr::KindField(k, f) => CExpr::KindField(*k, *f),
        Expr::Calendar(c, o) => CExpr::Calendar(*c, *o),
        Expr::DaysSince(i) => CExpr::Window(u16::try_from(n + usize::from(*i)).unwrap_or(u16::MAX)),
        Expr::Group(i) => {
            CExpr::Window(u16::try_from(n + nmarks + usize::from(*i)).unwrap_or(u16::MAX))
        }
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
        Expr::Script(f, args) => {
            CExpr::Script(*f, args.iter().map(|a| compile(a, consts)).collect())
        }
    }
}

/// Whether `e` calls a script function.
pub fn calls_script(e: &CExpr) -> bool {
    match e {
        CExpr::Script(..) => true,
        CExpr::Const(_)
        | CExpr::Field(_)
        | CExpr::Let(_)
        | CExpr::Window(_)
        | CExpr::Column(_)
        | CExpr::KindField(..)
        | CExpr::Calendar(..) => false,
        CExpr::CmpNum(_, x, _) | CExpr::Neg(x) | CExpr::Not(x) => calls_script(x),
        CExpr::And(a, b) | CExpr::Or(a, b) | CExpr::Bin(_, a, b) => {
            calls_script(a) || calls_script(b)
        }
        CExpr::In(x, list) => calls_script(x) || list.iter().any(calls_script),
        CExpr::Call(_, args) => args.iter().any(calls_script),
    }
}

/// [`eval`] with the commonest shapes (a window, a `let`, a constant, and a
/// comparison of one of them with a number) inlined at the call site.
#[inline(always)]
pub fn eval_fast<H: Host>(e: &CExpr, cx: &Cx<'_>, h: &mut H) -> Cell {
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
    eval(e, cx, h)
}

/// Evaluates a compiled expression (same results as
/// [`crate::eval::eval_with`]: both apply [`crate::ops`]), running script
/// calls through `h`.
pub fn eval<H: Host>(e: &CExpr, cx: &Cx<'_>, h: &mut H) -> Cell {
    match e {
        CExpr::Const(c) => *c,
        CExpr::Field(f) => cx.field(*f),
        CExpr::KindField(k, f) if cx.kind == Some(*k) => cx.field(*f),
        CExpr::KindField(..) => Cell::Null,
        CExpr::Calendar(c, o) => Cell::Num(c.at(cx.ms, *o)),
        CExpr::Let(i) => cx.lets.get(usize::from(*i)).copied().unwrap_or_default(),
        CExpr::Window(i) => cx.windows.get(usize::from(*i)).copied().unwrap_or_default(),
        CExpr::Column(c) => cx.column(*c),
        CExpr::CmpNum(op, s, c) => match eval(s, cx, h) {
            Cell::Num(x) => Cell::Bool(op.holds(x, *c)),
            // text, booleans and null never compare with a number
            _ => Cell::Bool(false),
        },
        CExpr::Neg(x) => {
            let v = eval(x, cx, h);
            Cell::of(ops::unary(UnOp::Neg, cx.scalar(v, h.scratch())))
        }
        CExpr::Not(x) => {
            let v = eval(x, cx, h);
            Cell::of(ops::unary(UnOp::Not, cx.scalar(v, h.scratch())))
        }
        CExpr::And(a, b) => Cell::Bool(eval(a, cx, h).is_true() && eval(b, cx, h).is_true()),
        CExpr::Or(a, b) => Cell::Bool(eval(a, cx, h).is_true() || eval(b, cx, h).is_true()),
        CExpr::Bin(op, a, b) => {
            let (x, y) = (eval(a, cx, h), eval(b, cx, h));
            let scratch = h.scratch();
            Cell::of(ops::binary(
                *op,
                cx.scalar(x, scratch),
                cx.scalar(y, scratch),
            ))
        }
        CExpr::In(x, list) => {
            let v = eval(x, cx, h);
            if v == Cell::Null {
                return Cell::Bool(false);
            }
            for item in list {
                let i = eval(item, cx, h);
                let scratch = h.scratch();
                if ops::same(cx.scalar(i, scratch), cx.scalar(v, scratch)) {
                    return Cell::Bool(true);
                }
            }
            Cell::Bool(false)
        }
        CExpr::Call(f, args) => Cell::of(ops::builtin(
            *f,
            args.iter().map(|a| eval(a, cx, h).as_num()),
        )),
        CExpr::Script(f, args) => {
            let Some(base) = h.stack().map(|s| s.len()) else {
                return Cell::Null;
            };
            for a in args {
                let c = eval(a, cx, h);
                let v = c.to_value(cx, h.scratch());
                if let Some(stack) = h.stack() {
                    stack.push(v);
                }
            }
            match h.call(*f, base) {
                Value::Null => Cell::Null,
                Value::Bool(b) => Cell::Bool(b),
                Value::Num(n) => Cell::Num(n),
                text @ Value::Str(_) => h.keep(text),
            }
        }
    }
}
