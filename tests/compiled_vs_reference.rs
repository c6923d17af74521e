//! The compiled engine must behave exactly like the reference engine: same
//! outputs in the same order, same errors, same final levels and the same
//! snapshots, on random rule sets (filters with indexable equalities,
//! ladders and arbitrary rules, windows, lets, tables, level dynamics,
//! absence with rosters, rhai script calls that fail, return text, numbers
//! or booleans) and random event streams (including events without a key,
//! unknown kinds, timestamps that go backwards, lateness > 0 with events out
//! of order), with a restore at a random cut, and some signals forced onto
//! the reference next to compiled ones; and on every bundled policy with the
//! bundled samples.
//!
//! Three runs are compared: the streaming engine forced onto the reference
//! evaluator, the streaming engine on its compiled path (per signal), and —
//! where the program needs nothing of the signals operator (no scripts, no
//! absence), the stream is in order and lateness is 0 — the bare compiled
//! kernel.

use proptest::prelude::*;
use std::sync::Arc;
use yingji::unstable::engine::Config;
use yingji::unstable::engine::compiled::CompiledEngine;
use yingji::unstable::engine::ir::{
    Agg, BinOp, Builtin, Expr, FieldDef, KindDef, LetDef, LevelRule, Program, SignalDef, TableDef,
    UnOp, WindowDef,
};
use yingji::unstable::engine::value::Type;
use yingji::{Engine, Event, Level, Timestamp, Value};

const NFIELDS: u16 = 5; // station, region, mm, ok, depth
const STRS: [&str; 4] = ["A", "B", "R1", "R2"];

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1.5),
            Just(50.0),
            Just(-3.0),
            Just(100.0)
        ]
        .prop_map(|n| Expr::Const(Value::Num(n))),
        (0..STRS.len()).prop_map(|i| Expr::Const(Value::from(STRS[i]))),
        any::<bool>().prop_map(|b| Expr::Const(Value::Bool(b))),
        Just(Expr::Const(Value::Null)),
        (0..NFIELDS).prop_map(Expr::Field),
        (0u16..6).prop_map(Expr::Let),
        (0u16..6).prop_map(Expr::Window),
        (0u16..3).prop_map(Expr::Column),
    ]
}

/// The script functions of every generated program (one unit): an
/// identity, one that fails above 60, a predicate and one returning text.
fn scripts() -> yingji::unstable::engine::script::Scripts {
    use yingji::unstable::engine::script::{ScriptFn, ScriptLimits, ScriptUnit, Scripts};
    let source = r#"
fn id(x) { x }
fn half(x) { if x > 60.0 { throw "too big"; } x / 2.0 }
fn pos(x) { x > 0.0 }
fn tag(x) { if x > 10.0 { "A" } else { "small" } }
"#;
    let f = |name: &str, ret: Type| ScriptFn {
        name: name.into(),
        rhai_name: name.into(),
        params: vec![("x".into(), Type::Number)],
        ret,
        unit: 0,
        at: format!("t.yj:{name}"),
    };
    Scripts {
        units: vec![ScriptUnit {
            source: source.into(),
            origin: "t.yj".into(),
            limits: ScriptLimits::default(),
        }],
        functions: vec![
            f("id", Type::Number),
            f("half", Type::Number),
            f("pos", Type::Bool),
            f("tag", Type::String),
        ],
    }
}

/// Removes script calls (for a `where`, where they are not allowed).
fn no_scripts(e: &Expr) -> Expr {
    let f = |x: &Expr| Box::new(no_scripts(x));
    match e {
        Expr::Script(_, a) => a.first().map_or(Expr::Const(Value::Null), no_scripts),
        Expr::Unary(o, x) => Expr::Unary(*o, f(x)),
        Expr::Binary(o, a, b) => Expr::Binary(*o, f(a), f(b)),
        Expr::In(x, l) => Expr::In(f(x), l.iter().map(no_scripts).collect()),
        Expr::Call(c, a) => Expr::Call(*c, a.iter().map(no_scripts).collect()),
        other => other.clone(),
    }
}

/// Replaces table columns by fields (for a signal without a table).
fn no_columns(e: &Expr) -> Expr {
    let f = |x: &Expr| Box::new(no_columns(x));
    match e {
        Expr::Column(c) => Expr::Field(*c % NFIELDS),
        Expr::Unary(o, x) => Expr::Unary(*o, f(x)),
        Expr::Binary(o, a, b) => Expr::Binary(*o, f(a), f(b)),
        Expr::In(x, l) => Expr::In(f(x), l.iter().map(no_columns).collect()),
        Expr::Call(c, a) => Expr::Call(*c, a.iter().map(no_columns).collect()),
        Expr::Script(c, a) => Expr::Script(*c, a.iter().map(no_columns).collect()),
        other => other.clone(),
    }
}

fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        let ops = [
            BinOp::Add,
            BinOp::Sub,
            BinOp::Mul,
            BinOp::Div,
            BinOp::Rem,
            BinOp::Eq,
            BinOp::Ne,
            BinOp::Lt,
            BinOp::Le,
            BinOp::Gt,
            BinOp::Ge,
            BinOp::And,
            BinOp::Or,
        ];
        prop_oneof![
            (0..ops.len(), inner.clone(), inner.clone()).prop_map(move |(o, a, b)| Expr::Binary(
                ops[o],
                Box::new(a),
                Box::new(b)
            )),
            inner
                .clone()
                .prop_map(|x| Expr::Unary(UnOp::Neg, Box::new(x))),
            inner
                .clone()
                .prop_map(|x| Expr::Unary(UnOp::Not, Box::new(x))),
            (
                inner.clone(),
                proptest::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(x, l)| Expr::In(Box::new(x), l)),
            (0..3usize, proptest::collection::vec(inner.clone(), 0..3))
                .prop_map(|(f, a)| Expr::Call([Builtin::Abs, Builtin::Min, Builtin::Max][f], a)),
            (0u16..4, inner).prop_map(|(f, a)| Expr::Script(f, vec![a])),
        ]
    })
}

/// Replaces references that are not visible in a context by fields.
fn fix(e: &Expr, lets: u16, windows: u16) -> Expr {
    let f = |x: &Expr| Box::new(fix(x, lets, windows));
    match e {
        Expr::Let(i) if *i >= lets => Expr::Field(*i % NFIELDS),
        Expr::Window(i) if *i >= windows => Expr::Field(*i % NFIELDS),
        Expr::Unary(o, x) => Expr::Unary(*o, f(x)),
        Expr::Binary(o, a, b) => Expr::Binary(*o, f(a), f(b)),
        Expr::In(x, l) => Expr::In(f(x), l.iter().map(|i| fix(i, lets, windows)).collect()),
        Expr::Call(c, a) => Expr::Call(*c, a.iter().map(|i| fix(i, lets, windows)).collect()),
        Expr::Script(c, a) => Expr::Script(*c, a.iter().map(|i| fix(i, lets, windows)).collect()),
        other => other.clone(),
    }
}

fn num(n: f64) -> Box<Expr> {
    Box::new(Expr::Const(Value::Num(n)))
}

#[derive(Debug, Clone)]
struct SigSpec {
    kinds: Vec<u16>,
    filter: Option<Expr>,
    key: u16,
    windows: Vec<(usize, Expr, i64)>,
    lets: Vec<Expr>,
    levels: Levels,
    /// Forced onto the reference evaluator ([`Engine::reference_for`]), so
    /// a program of such and other signals runs mixed.
    reference: bool,
    /// Absence: `missing` (ms), and whether keys `A` and `B` are a roster.
    absence: Option<(i64, bool)>,
    /// Reads the per-key table (keys `A`, `R1`, `1.5` have rows).
    table: bool,
    /// Level dynamics: `for` (ms, readings), a `clear` condition, `hold`,
    /// `step down` (spread over the rules by index).
    dynamics: Option<Dynamics>,
}

#[derive(Debug, Clone)]
struct Dynamics {
    for_ms: i64,
    for_readings: u32,
    clear: Option<Expr>,
    hold_ms: i64,
    step_down: bool,
}

fn dynamics() -> impl Strategy<Value = Option<Dynamics>> {
    proptest::option::of(
        (
            prop_oneof![Just(0i64), Just(1_000), Just(600_000)],
            0u32..3,
            proptest::option::of(expr()),
            prop_oneof![Just(0i64), Just(2_000), Just(900_000)],
            any::<bool>(),
        )
            .prop_map(
                |(for_ms, for_readings, clear, hold_ms, step_down)| Dynamics {
                    for_ms,
                    for_readings,
                    clear,
                    hold_ms,
                    step_down,
                },
            ),
    )
}

/// A signal with level dynamics, and maybe a table.
fn dynamic_signal() -> impl Strategy<Value = SigSpec> {
    (signal(), dynamics(), any::<bool>()).prop_map(|(mut s, d, t)| {
        s.dynamics = d;
        s.table = t;
        s
    })
}

#[derive(Debug, Clone)]
enum Levels {
    Ladder(Expr, usize, Vec<f64>, bool),
    Free(Vec<Expr>),
}

fn signal() -> impl Strategy<Value = SigSpec> {
    let filter = prop_oneof![
        Just(None),
        expr().prop_map(Some),
        (0..STRS.len(), proptest::option::of(expr())).prop_map(|(i, rest)| {
            let eq = Expr::Binary(
                BinOp::Eq,
                Box::new(Expr::Field(1)),
                Box::new(Expr::Const(Value::from(STRS[i]))),
            );
            Some(match rest {
                Some(r) => Expr::Binary(BinOp::And, Box::new(r), Box::new(eq)),
                None => eq,
            })
        }),
        prop_oneof![Just(1.5), Just(0.0)].prop_map(|n| Some(Expr::Binary(
            BinOp::Eq,
            num(n),
            Box::new(Expr::Field(2))
        ))),
    ];
    let levels = prop_oneof![
        (
            expr(),
            0..4usize,
            proptest::collection::vec(
                prop_oneof![Just(0.0), Just(1.5), Just(3.0), Just(50.0), Just(100.0)],
                1..5
            ),
            any::<bool>()
        )
            .prop_map(|(s, op, t, flip)| Levels::Ladder(s, op, t, flip)),
        proptest::collection::vec(expr(), 1..5).prop_map(Levels::Free),
    ];
    (
        proptest::collection::vec(0u16..3, 1..3),
        filter,
        prop_oneof![Just(0u16), Just(0), Just(1), Just(2), Just(3)],
        proptest::collection::vec(
            (
                0..5usize,
                expr(),
                prop_oneof![Just(1_000i64), Just(60_000), Just(3_600_000)],
            ),
            0..4,
        ),
        proptest::collection::vec(expr(), 0..4),
        levels,
    )
        .prop_map(|(kinds, filter, key, windows, lets, levels)| SigSpec {
            kinds,
            filter,
            key,
            windows,
            lets,
            levels,
            reference: false,
            absence: None,
            dynamics: None,
            table: false,
        })
}

fn program(specs: &[SigSpec]) -> Program {
    let ty = [
        Type::String,
        Type::String,
        Type::Number,
        Type::Bool,
        Type::Number,
    ];
    let all: Vec<FieldDef> = (0..NFIELDS)
        .map(|id| FieldDef {
            id,
            ty: ty[usize::from(id)],
            optional: true,
        })
        .collect();
    let aggs = [Agg::Sum, Agg::Avg, Agg::Min, Agg::Max, Agg::Count];
    let signals = specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let fix = |e: &Expr, l: u16, w: u16| {
                let e = fix(e, l, w);
                if s.table { e } else { no_columns(&e) }
            };
            let nw = s.windows.len() as u16;
            let nl = s.lets.len() as u16;
            let whens: Vec<Expr> = match &s.levels {
                Levels::Free(rules) => rules.iter().map(|r| fix(r, nl, nw)).collect(),
                Levels::Ladder(subject, op, ts, flip) => {
                    let subject = fix(subject, nl, nw);
                    let mut ts = ts.clone();
                    let op = [BinOp::Ge, BinOp::Gt, BinOp::Le, BinOp::Lt][*op];
                    if matches!(op, BinOp::Ge | BinOp::Gt) {
                        ts.sort_by(|a, b| b.total_cmp(a));
                    } else {
                        ts.sort_by(f64::total_cmp);
                    }
                    ts.iter()
                        .map(|&t| {
                            if *flip {
                                let flipped = match op {
                                    BinOp::Ge => BinOp::Le,
                                    BinOp::Gt => BinOp::Lt,
                                    BinOp::Le => BinOp::Ge,
                                    _ => BinOp::Gt,
                                };
                                Expr::Binary(flipped, num(t), Box::new(subject.clone()))
                            } else {
                                Expr::Binary(op, Box::new(subject.clone()), num(t))
                            }
                        })
                        .collect()
                }
            };
            SignalDef {
                name: format!("s{i}"),
                at: format!("t.yj:{i}:1"),
                kinds: s.kinds.clone(),
                filter: s.filter.as_ref().map(|f| no_scripts(&fix(f, 0, 0))),
                key: s.key,
                windows: s
                    .windows
                    .iter()
                    .map(|(a, e, d)| WindowDef {
                        agg: aggs[*a],
                        input: fix(e, 0, 0),
                        duration_ms: *d,
                        tumbling: false,
                    })
                    .collect(),
                lets: s
                    .lets
                    .iter()
                    .enumerate()
                    .map(|(j, e)| LetDef {
                        name: format!("l{j}"),
                        expr: fix(e, j as u16, nw),
                    })
                    .collect(),
                levels: whens
                    .into_iter()
                    .zip(Level::DESCENDING)
                    .enumerate()
                    .map(|(j, (when, level))| {
                        let d = s.dynamics.as_ref();
                        let on = |k: usize| d.filter(|_| j % 2 == k);
                        LevelRule {
                            level,
                            text: format!("{level} when …"),
                            at: format!("t.yj:{i}:{}", level as u8),
                            when,
                            for_ms: on(0).map_or(0, |d| d.for_ms),
                            for_readings: on(1).map_or(0, |d| d.for_readings),
                            clear: on(1).and_then(|d| d.clear.as_ref()).map(|c| fix(c, nl, nw)),
                            hold_ms: d.map_or(0, |d| d.hold_ms),
                        }
                    })
                    .collect(),
                step_down: s.dynamics.as_ref().is_some_and(|d| d.step_down),
                missing_ms: s.absence.map(|a| a.0),
                roster: match s.absence {
                    Some((_, true)) => vec!["A".into(), "B".into()],
                    _ => vec![],
                },
                lateness_ms: None,
                table: s.table.then_some(0),
            }
        })
        .collect();
    Program {
        fields: ["station", "region", "mm", "ok", "depth"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        kinds: ["rain", "river", "quake"]
            .iter()
            .map(|k| KindDef {
                name: k.to_string(),
                fields: all.clone(),
            })
            .collect(),
        signals,
        tables: vec![TableDef {
            name: "t".into(),
            columns: vec!["n".into(), "s".into(), "b".into()],
            rows: vec![
                (
                    "A".into(),
                    vec![Value::Num(50.0), Value::from("R1"), Value::Bool(true)],
                ),
                (
                    "R1".into(),
                    vec![Value::Num(1.5), Value::from("A"), Value::Bool(false)],
                ),
                (
                    "1.5".into(),
                    vec![Value::Num(-3.0), Value::from("B"), Value::Null],
                ),
            ],
        }],
        scripts: scripts(),
    }
}

fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        2 => (0..STRS.len()).prop_map(|i| Value::from(STRS[i])),
        3 => prop_oneof![Just(0.0), Just(-0.0), Just(1.5), Just(25.0), Just(50.0), Just(0.1), Just(-2.0), Just(99.9)].prop_map(Value::Num),
        1 => any::<bool>().prop_map(Value::Bool),
    ]
}

fn events() -> impl Strategy<Value = Vec<(i64, Option<u16>, Vec<Value>)>> {
    proptest::collection::vec(
        (
            prop_oneof![4 => 1i64..2_000_000, 1 => 1i64..10],
            prop_oneof![Just(Some(0u16)), Just(Some(1)), Just(Some(2)), Just(None)],
            proptest::collection::vec(field_value(), NFIELDS as usize),
        ),
        1..120,
    )
}

/// A signal of a mixed program: some stay on the reference evaluator, some
/// detect absence.
fn mixed_signal() -> impl Strategy<Value = SigSpec> {
    (
        prop_oneof![signal(), direct_signal(), dynamic_signal()],
        any::<bool>(),
        absence(),
    )
        .prop_map(|(mut s, r, a)| {
            s.reference = r;
            s.absence = a;
            s
        })
}

/// Absence settings: none, or a `missing` with or without a roster.
fn absence() -> impl Strategy<Value = Option<(i64, bool)>> {
    proptest::option::of((prop_oneof![Just(90_000i64), Just(1_500_000)], any::<bool>()))
}

fn run(specs: &[SigSpec], evs: &[(i64, Option<u16>, Vec<Value>)]) -> Result<(), TestCaseError> {
    run_cut(specs, evs, None, Late::default())
}

/// Lateness allowed, and how far each event is moved back in time (taken
/// modulo the lateness plus a little, so some events are late).
#[derive(Debug, Clone, Default)]
struct Late {
    lateness_ms: i64,
    jitter: Vec<i64>,
}

fn late() -> impl Strategy<Value = Late> {
    (
        prop_oneof![Just(0i64), Just(60_000), Just(1_800_000)],
        proptest::collection::vec(0i64..4_000_000, 120),
    )
        .prop_map(|(lateness_ms, jitter)| Late {
            lateness_ms,
            jitter,
        })
}

/// [`run`]; with `cut`, the streaming engine is snapshotted after that many
/// events and replaced by a fresh engine restored from the snapshot (which
/// keeps the compiled path for the signals that compile).
fn run_cut(
    specs: &[SigSpec],
    evs: &[(i64, Option<u16>, Vec<Value>)],
    cut: Option<usize>,
    late: Late,
) -> Result<(), TestCaseError> {
    let p = program(specs);
    let forced: Vec<usize> = (0..specs.len()).filter(|&i| specs[i].reference).collect();
    let config = Config {
        lateness_ms: late.lateness_ms,
        max_ahead_ms: None,
        ..Config::default()
    };
    let mut reference = Engine::with_config(p.clone(), config.clone())
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .reference_evaluator();
    prop_assert!(!reference.is_compiled());
    // the bare kernel compiles whole programs that need nothing of the
    // signals operator, and is compared on in-order streams only
    let needs_operator = specs.iter().any(|s| s.absence.is_some())
        || p.signals.iter().any(|s| {
            let mut script = false;
            let mut see = |e: &Expr| e.walk(&mut |x| script |= matches!(x, Expr::Script(..)));
            s.windows.iter().for_each(|w| see(&w.input));
            s.lets.iter().for_each(|l| see(&l.expr));
            s.levels.iter().for_each(|r| {
                see(&r.when);
                r.clear.iter().for_each(&mut see);
            });
            script
        });
    let mut compiled = match CompiledEngine::new(&p) {
        Ok(c) if late.lateness_ms == 0 => Some(c),
        Ok(_) => None,
        Err(_) if needs_operator => None,
        Err(e) => return Err(TestCaseError::fail(e.to_string())),
    };
    // the streaming engine on its compiled path (per signal, some forced
    // onto the reference): same outputs and the same snapshot
    let fresh = || {
        Engine::with_config(p.clone(), config.clone())
            .map(|e| e.reference_for(&forced))
            .map_err(|e| TestCaseError::fail(e.to_string()))
    };
    let mut streaming = fresh()?;
    let expect: Vec<bool> = specs.iter().map(|s| !s.reference).collect();
    let status = |e: &Engine| -> Vec<bool> {
        e.compiled_signals()
            .iter()
            .map(|(_, s)| s.is_ok())
            .collect()
    };
    prop_assert_eq!(streaming.is_compiled(), expect.iter().any(|c| *c));
    if streaming.is_compiled() {
        prop_assert_eq!(status(&streaming), expect.clone());
    }
    let mut t = 1_722_000_000_000i64;
    let (mut out_r, mut out_c, mut out_s) = (Vec::new(), Vec::new(), Vec::new());
    for (seq, (dt, kind, fields)) in evs.iter().enumerate() {
        t += dt;
        let back = match late.lateness_ms {
            0 => 0,
            l => late.jitter.get(seq).copied().unwrap_or(0) % (l + l / 4),
        };
        let ev = Event {
            ts: Timestamp {
                ms: t - back,
                offset_min: 480,
            },
            kind: *kind,
            // the kind's own name: a restore finds buffered events' kinds by name
            kind_name: Arc::from(
                kind.map_or("other", |k| ["rain", "river", "quake"][usize::from(k)]),
            ),
            id: None,
            // the numbers the shell admits (`value::Fixed::admit`: millionths,
            // -0 as 0): the bare kernel gets events after ingestion
            fields: {
                let mut f = fields.clone();
                let _ = yingji::unstable::engine::value::admit_numbers(&mut f);
                f
            },
            seq: seq as u64 + 1,
        };
        if cut == Some(seq) {
            // both restore (a buffered event's fields go through the
            // snapshot's number format, -0 becoming 0, for both alike)
            // the bare kernel, which is not restored, is compared up to the cut only
            compiled = None;
            let snap_r = reference.snapshot();
            reference = Engine::with_config(p.clone(), config.clone())
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .reference_evaluator();
            reference
                .restore(&snap_r)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let snap = streaming.snapshot();
            prop_assert_eq!(
                String::from_utf8_lossy(&snap_r),
                String::from_utf8_lossy(&snap),
                "snapshot at the cut"
            );
            streaming = fresh()?;
            streaming
                .restore(&snap)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(streaming.is_compiled(), expect.iter().any(|c| *c));
            let again = streaming.snapshot();
            prop_assert_eq!(
                String::from_utf8_lossy(&snap),
                String::from_utf8_lossy(&again),
                "snapshot after restore"
            );
        }
        let r = reference.push(&ev, &mut out_r);
        if let Some(compiled) = compiled.as_mut() {
            let c = compiled.push(&ev, &mut out_c);
            prop_assert_eq!(&r, &c, "event {}", seq + 1);
            prop_assert_eq!(reference.is_used(*kind), compiled.is_used(*kind));
        }
        let st = streaming.push(&ev, &mut out_s);
        prop_assert_eq!(&r, &st, "event {} (streaming)", seq + 1);
    }
    reference.flush(&mut out_r);
    streaming.flush(&mut out_s);
    // the bare kernel does not number outputs; the engines do
    for o in out_r.iter_mut().chain(out_s.iter_mut()) {
        o.set_id(0);
    }
    // Debug text compares NaN values as equal, PartialEq would not
    if compiled.is_some() {
        prop_assert_eq!(format!("{out_r:#?}"), format!("{out_c:#?}"));
    }
    prop_assert_eq!(format!("{out_r:#?}"), format!("{out_s:#?}"));
    let (snap_r, snap_s) = (reference.snapshot(), streaming.snapshot());
    prop_assert_eq!(
        String::from_utf8_lossy(&snap_r),
        String::from_utf8_lossy(&snap_s)
    );
    prop_assert_eq!(reference.key_count(), streaming.key_count());
    for s in &p.signals {
        for k in STRS.iter().chain(&["1.5", "0", "-2", "true", "false"]) {
            let want = reference.level(&s.name, k);
            prop_assert_eq!(want, streaming.level(&s.name, k));
            if let Some(compiled) = compiled.as_ref() {
                prop_assert_eq!(want, compiled.level(&s.name, k));
            }
        }
    }
    if let Some(compiled) = compiled.as_ref() {
        prop_assert_eq!(reference.key_count(), compiled.key_count());
    }
    Ok(())
}

/// Signals the compiled path evaluates from its packed per-signal record:
/// `where region == "R1"` keyed by region, a ladder on one field, no
/// windows or lets (the shape of a province's threshold rules). The subject
/// field may hold text, booleans or nothing, which no rule matches.
fn direct_signal() -> impl Strategy<Value = SigSpec> {
    (
        proptest::collection::vec(0u16..3, 1..3),
        0..STRS.len(),
        any::<bool>(),
        prop_oneof![Just(2u16), Just(4), Just(0), Just(3)],
        0..4usize,
        proptest::collection::vec(
            prop_oneof![Just(0.0), Just(1.5), Just(25.0), Just(50.0), Just(99.9)],
            1..5,
        ),
        any::<bool>(),
    )
        .prop_map(|(kinds, r, eq_flip, subject, op, ts, flip)| {
            let (f, c) = (
                Box::new(Expr::Field(1)),
                Box::new(Expr::Const(Value::from(STRS[r]))),
            );
            let eq = if eq_flip {
                Expr::Binary(BinOp::Eq, c, f)
            } else {
                Expr::Binary(BinOp::Eq, f, c)
            };
            SigSpec {
                kinds,
                filter: Some(eq),
                key: 1,
                windows: vec![],
                lets: vec![],
                levels: Levels::Ladder(Expr::Field(subject), op, ts, flip),
                reference: false,
                absence: None,
                dynamics: None,
                table: false,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn compiled_matches_reference(specs in proptest::collection::vec(signal(), 1..6), evs in events()) {
        run(&specs, &evs)?;
    }

    /// Some signals compiled, some on the reference, in one engine; and
    /// the same after a restore at a random cut.
    #[test]
    fn mixed_programs_match_reference(
        specs in proptest::collection::vec(mixed_signal(), 1..7),
        evs in events(),
        cut in proptest::option::of(0usize..120),
        late in late(),
    ) {
        run_cut(&specs, &evs, cut, late)?;
    }

    /// Level dynamics (`for`, `clear`, `hold`, `step down`) compile.
    #[test]
    fn dynamics_match_reference(
        specs in proptest::collection::vec(prop_oneof![dynamic_signal(), direct_signal()], 1..6),
        evs in events(),
        cut in proptest::option::of(0usize..120),
    ) {
        run_cut(&specs, &evs, cut, Late::default())?;
    }

    /// Absence (with and without rosters), script calls, tables and
    /// dynamics, with lateness and events out of order, and a restore.
    #[test]
    fn operator_features_match_reference(
        specs in proptest::collection::vec(mixed_signal(), 1..5),
        evs in events(),
        cut in proptest::option::of(0usize..120),
        late in late(),
    ) {
        run_cut(&specs, &evs, cut, late)?;
    }

    /// A restore at a random cut keeps the compiled path and its state.
    #[test]
    fn restored_compiled_matches_reference(
        specs in proptest::collection::vec(prop_oneof![signal(), direct_signal(), dynamic_signal()], 1..6),
        evs in events(),
        cut in 0usize..120,
    ) {
        run_cut(&specs, &evs, Some(cut), Late::default())?;
    }

    #[test]
    fn direct_ladders_match_reference(
        specs in proptest::collection::vec(prop_oneof![3 => direct_signal(), 1 => signal()], 1..8),
        evs in events(),
    ) {
        run(&specs, &evs)?;
    }
}

/// A fixed scenario through the DSL: the rainstorm policy plus a keyed
/// threshold ladder; both engines give the same, non-trivial outputs.
#[test]
fn rainstorm_policy_same_outputs() -> Result<(), Box<dyn std::error::Error>> {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/rainstorm.yj"
    ))?;
    let defs = yingji::Definitions::from_str("rainstorm.yj", &src)?;
    let config = Config {
        lateness_ms: 0,
        ..Config::default()
    };
    let mut reference =
        Engine::with_config(defs.unstable_program().clone(), config)?.reference_evaluator();
    assert!(!reference.is_compiled());
    let mut compiled = CompiledEngine::new(defs.unstable_program())?;
    assert_eq!(
        compiled.ladder_count(),
        0,
        "rainstorm rules read different windows"
    );
    let events =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))?;
    let (mut out_r, mut out_c) = (Vec::new(), Vec::new());
    for (i, line) in events.lines().enumerate() {
        let ev = reference.parse_event(line, i as u64 + 1)?;
        let r = reference.push(&ev, &mut out_r);
        let c = compiled.push(&ev, &mut out_c);
        assert_eq!(r, c);
    }
    reference.flush(&mut out_r);
    assert!(out_r.len() >= 4, "the sample stream raises warnings");
    // the bare kernel does not number outputs; the engine does
    for o in &mut out_r {
        o.set_id(0);
    }
    assert_eq!(out_r, out_c);
    Ok(())
}

/// Every bundled policy and plan over the bundled samples: the engine on
/// its compiled path (every bundled signal compiles) gives the outputs and
/// the snapshots of the engine forced onto the reference, with lateness,
/// with the events of a window of the stream permuted, and with a restore
/// at a random cut.
fn bundled_run(
    sample: &str,
    lateness_ms: i64,
    cut: usize,
    swap: usize,
) -> Result<(), TestCaseError> {
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let root = env!("CARGO_MANIFEST_DIR");
    let defs =
        yingji::Definitions::from_paths(&[format!("{root}/policies"), format!("{root}/plans")])
            .map_err(|e| fail(&e))?;
    let text = std::fs::read_to_string(format!("{root}/samples/{sample}")).map_err(|e| fail(&e))?;
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // two neighbours exchanged: same-time or slightly out-of-order input
    if lines.len() > 1 {
        let i = swap % (lines.len() - 1);
        lines.swap(i, i + 1);
    }
    let config = yingji::unstable::engine::Config {
        lateness_ms,
        ..yingji::unstable::engine::Config::default()
    };
    let make = |reference: bool| -> Result<Engine, TestCaseError> {
        let e = defs.engine_with(config.clone()).map_err(|e| fail(&e))?;
        Ok(if reference {
            e.reference_evaluator()
        } else {
            e
        })
    };
    let mut runs = Vec::new();
    for reference in [true, false] {
        let mut engine = make(reference)?;
        if !reference {
            let all = engine.compiled_signals();
            prop_assert!(all.iter().all(|(_, s)| s.is_ok()), "{all:?}");
        }
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if i == cut % lines.len() {
                let snap = engine.snapshot();
                engine = make(reference)?;
                engine.restore(&snap).map_err(|e| fail(&e))?;
            }
            let _ = engine.push_line(line, i as u64 + 1, &mut out);
        }
        engine.flush(&mut out);
        let snap = String::from_utf8_lossy(&engine.snapshot()).into_owned();
        runs.push((format!("{out:#?}"), snap, out.len()));
    }
    prop_assert!(runs[0].2 > 0, "the sample produces outputs");
    prop_assert_eq!(&runs[0].0, &runs[1].0);
    prop_assert_eq!(&runs[0].1, &runs[1].1);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn bundled_policies_match_reference(
        sample in prop_oneof![Just("rain.jsonl"), Just("landslide.jsonl")],
        lateness_ms in prop_oneof![Just(0i64), Just(600_000), Just(3_600_000)],
        cut in 0usize..5000,
        swap in 0usize..5000,
    ) {
        bundled_run(sample, lateness_ms, cut, swap)?;
    }
}
