//! Script functions: pure functions written in rhai, called from policy
//! expressions like built-ins (`tangent_angle(v, v0)`).
//!
//! - **Compiled once.** Each script unit (an inline `fn ... in rhai { }` or
//!   an imported `.rhai` file) is compiled at load with
//!   [`rhai::OptimizationLevel::Full`]; the [`rhai::AST`] is cached and the
//!   unit's sandboxed [`rhai::Engine`] is reused for every call, with one
//!   reusable [`rhai::Scope`] that is rewound after each call.
//! - **Sandboxed.** Limits on operations, call depth, expression depth and
//!   string/array/map sizes ([`ScriptLimits`]; safe defaults, configurable
//!   per unit); `eval` is disabled, modules are compiled out (`no_module`:
//!   `import` is a syntax error, there is no file access), and
//!   `print`/`debug` go to the engine's script log, never to stdout.
//! - **Pure.** Every call starts from an empty scope, top-level statements
//!   of a unit never run, and rhai functions cannot see anything but their
//!   arguments: no state survives a call (state belongs in windows). The
//!   engine has rhai's standard library without its time and core-language
//!   packages (no `timestamp`, `elapsed`, `sleep`, `exit`; see
//!   [`library`] and [`REFUSED`]); a unit calling one of them does not
//!   load, and `yingji check` reports the call ([`refused_calls`]).
//! - **Bounded.** The operation limit is the deterministic bound of a call;
//!   a wall-clock budget ([`time_budget`]) is only a safety net.
//! - **Contained.** A script error, a limit breach, a wrong return type or a
//!   non-finite argument makes the call `null` (so the rule using it does not
//!   fire) and produces a [`ScriptError`] record; the engine goes on.
//!   Failures are rate-limited per function ([`REPORT_FIRST`] per
//!   [`REPORT_INTERVAL_MS`] of event time, then one
//!   [`ScriptSuppressed`] summary).
//!
//! NaN: numbers never cross the script boundary unless finite. A NaN or
//! infinite argument is not passed to the script (the call is `null` and
//! reported, `limit: "non_finite_argument"`); a NaN or infinite result is
//! reported as a wrong return type. A `null` argument (missing data) makes
//! the call `null` without a report, as for built-ins.

use crate::time::Timestamp;
use crate::value::{Type, Value};
use rhai::{Dynamic, OptimizationLevel};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Failures of one function reported individually per interval.
pub const REPORT_FIRST: u32 = 5;
/// The rate-limiting interval (event time): 1 h.
pub const REPORT_INTERVAL_MS: i64 = 3_600_000;
/// Lines the script log keeps (older lines are dropped and counted).
pub const LOG_CAPACITY: usize = 1000;

/// Sandbox limits of one script unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScriptLimits {
    /// Operations per call (rhai counts expressions and statements).
    pub operations: u64,
    /// Nested function calls (recursion depth).
    pub call_depth: usize,
    /// Expression nesting depth (checked when compiling).
    pub expr_depth: usize,
    /// Longest string, in bytes.
    pub string_size: usize,
    /// Largest array.
    pub array_size: usize,
    /// Largest object map.
    pub map_size: usize,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        ScriptLimits {
            operations: 100_000,
            call_depth: 16,
            expr_depth: 64,
            string_size: 4096,
            array_size: 1024,
            map_size: 256,
        }
    }
}

impl ScriptLimits {
    /// The limit names a policy may set, with their largest allowed value.
    pub const KEYS: [(&'static str, u64); 6] = [
        ("operations", 10_000_000),
        ("call_depth", 64),
        ("expr_depth", 256),
        ("string_size", 1 << 20),
        ("array_size", 100_000),
        ("map_size", 100_000),
    ];

    /// Sets limit `key` to `value`; an unknown key or a value outside
    /// `1..=max` is an error message.
    pub fn set(&mut self, key: &str, value: u64) -> Result<(), String> {
        let Some(&(_, max)) = Self::KEYS.iter().find(|(k, _)| *k == key) else {
            let names: Vec<&str> = Self::KEYS.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "unknown limit `{key}` (limits: {})",
                names.join(", ")
            ));
        };
        if value == 0 || value > max {
            return Err(format!("limit `{key}` must be between 1 and {max}"));
        }
        let v = usize::try_from(value).unwrap_or(usize::MAX);
        match key {
            "operations" => self.operations = value,
            "call_depth" => self.call_depth = v,
            "expr_depth" => self.expr_depth = v,
            "string_size" => self.string_size = v,
            "array_size" => self.array_size = v,
            _ => self.map_size = v,
        }
        Ok(())
    }
}

/// One compiled-together piece of rhai: an inline function or a `.rhai` file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptUnit {
    /// Complete rhai source (only `fn` definitions are ever run).
    pub source: String,
    /// Where it comes from (`landslide.yj:12:1`, `landslide.rhai`), for the log.
    pub origin: String,
    /// Sandbox limits.
    pub limits: ScriptLimits,
}

/// A declared script function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptFn {
    /// The name policies call it by.
    pub name: String,
    /// The name of the rhai function in its unit.
    pub rhai_name: String,
    /// Declared parameters.
    pub params: Vec<(String, Type)>,
    /// Declared return type.
    pub ret: Type,
    /// Index into [`Scripts::units`].
    pub unit: u16,
    /// Where it is declared (`file:line:col`).
    pub at: String,
}

/// Every script unit and function of a program.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scripts {
    /// Compilation units.
    pub units: Vec<ScriptUnit>,
    /// Functions, referenced by [`crate::ir::Expr::Script`].
    pub functions: Vec<ScriptFn>,
}

impl Scripts {
    /// Whether there are no script functions.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }
}

/// A rhai syntax error, at a 1-based line and column (characters) of the
/// unit's source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct SyntaxError {
    /// Line in the source (1-based; 0 when rhai gives none).
    pub line: usize,
    /// Column in the line, in characters (1-based; 0 when rhai gives none).
    pub col: usize,
    /// rhai's message.
    pub message: String,
}

/// Why a program's scripts cannot be made ready.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScriptLoadError {
    /// A unit does not compile.
    #[error("script `{origin}`: {error}")]
    Syntax {
        /// The unit's origin.
        origin: String,
        /// The error.
        error: SyntaxError,
    },
    /// A declared function is not defined (with that arity) in its unit.
    #[error("script function `{name}` is not defined with {arity} parameter(s) in `{origin}`")]
    Missing {
        /// The function.
        name: String,
        /// Declared arity.
        arity: usize,
        /// The unit's origin.
        origin: String,
    },
    /// A function refers to a unit that does not exist.
    #[error("script function `{0}` refers to a missing unit")]
    BadUnit(String),
    /// A unit calls a function scripts cannot call (see [`REFUSED`]).
    #[error("script `{origin}` calls `{name}`, which is not available to scripts: {why}")]
    Refused {
        /// The unit's origin.
        origin: String,
        /// The refused function.
        name: String,
        /// Why.
        why: &'static str,
    },
}

/// The bounded log `print` and `debug` write to.
#[derive(Debug, Default)]
pub struct ScriptLog {
    lines: VecDeque<String>,
    dropped: u64,
}

impl ScriptLog {
    fn push(&mut self, line: String) {
        if self.lines.len() >= LOG_CAPACITY {
            self.lines.pop_front();
            self.dropped += 1;
        }
        self.lines.push_back(line);
    }

    /// Takes the lines logged so far and how many older ones were dropped.
    pub fn take(&mut self) -> (Vec<String>, u64) {
        let dropped = std::mem::take(&mut self.dropped);
        (self.lines.drain(..).collect(), dropped)
    }
}

/// The wall-clock budget of one call, in ms, before the share of its
/// operation limit (see [`time_budget`]).
pub const CALL_TIME_BASE_MS: u64 = 1_000;
/// The wall-clock budget of one call per operation its limit allows, in ns.
pub const CALL_TIME_PER_OPERATION_NS: u64 = 2_000;

/// How long one call of a unit with `limits` may take on the wall clock
/// before it is aborted (limit `"time"`): [`CALL_TIME_BASE_MS`] plus
/// [`CALL_TIME_PER_OPERATION_NS`] per allowed operation (1.2 s with the
/// default 100 000 operations, 21 s with the largest setting).
///
/// A safety net only. The operation limit ([`ScriptLimits::operations`]) is
/// the deterministic bound: a runaway call breaches it after the same
/// number of operations in every run. rhai runs an operation in about
/// 0.35 µs in a debug build (10 million in 3.5 s, measured) and faster in
/// release, so the budget, several times longer, decides only when the
/// machine is stalled; a run where it decides is not reproducible (its
/// `script_error` says `limit: "time"`).
pub fn time_budget(limits: &ScriptLimits) -> Duration {
    Duration::from_millis(CALL_TIME_BASE_MS)
        + Duration::from_nanos(limits.operations.saturating_mul(CALL_TIME_PER_OPERATION_NS))
}

/// How many operations pass between two looks at the wall clock.
const CLOCK_EVERY_OPS: u64 = 1024;

/// Functions of rhai's standard library scripts cannot call, and why (the
/// engine does not register them; `yingji check` refuses a call to them).
pub const REFUSED: [(&str, &str); 9] = [
    (
        "timestamp",
        "scripts must be pure (the same inputs give the same result) and it reads the wall clock",
    ),
    (
        "elapsed",
        "scripts must be pure (the same inputs give the same result) and it reads the wall clock",
    ),
    (
        "sleep",
        "scripts must be pure (the same inputs give the same result) and must not block the engine",
    ),
    (
        "exit",
        "a script function returns its result; it cannot end the script",
    ),
    ("parse_json", REFUSED_CORE),
    ("take", REFUSED_CORE),
    ("tag", REFUSED_CORE),
    ("set_tag", REFUSED_CORE),
    ("get_fn_metadata_list", REFUSED_CORE),
];

const REFUSED_CORE: &str =
    "it belongs to rhai's core-language package, which scripts do not get (see the README)";

/// Why scripts cannot call `name`, if they cannot.
pub fn refused(name: &str) -> Option<&'static str> {
    REFUSED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, why)| *why)
}

/// The rhai packages every script engine gets, merged into one module
/// (one lookup per native call): rhai's `StandardPackage` without
/// `LanguageCorePackage` (`sleep`, `exit`, `parse_json`, tags, reflection)
/// and `BasicTimePackage` (`timestamp`, `elapsed`). Built once per process.
pub fn library() -> rhai::Shared<rhai::Module> {
    use rhai::packages::{
        ArithmeticPackage, BasicArrayPackage, BasicBlobPackage, BasicFnPackage,
        BasicIteratorPackage, BasicMapPackage, BasicMathPackage, BasicStringPackage,
        BitFieldPackage, LogicPackage, MoreStringPackage, Package,
    };
    static LIBRARY: OnceLock<rhai::Shared<rhai::Module>> = OnceLock::new();
    LIBRARY
        .get_or_init(|| {
            let mut lib = rhai::Module::new();
            for p in [
                ArithmeticPackage::new().as_shared_module(),
                BasicStringPackage::new().as_shared_module(),
                BasicIteratorPackage::new().as_shared_module(),
                BasicFnPackage::new().as_shared_module(),
                BitFieldPackage::new().as_shared_module(),
                LogicPackage::new().as_shared_module(),
                BasicMathPackage::new().as_shared_module(),
                BasicArrayPackage::new().as_shared_module(),
                BasicBlobPackage::new().as_shared_module(),
                BasicMapPackage::new().as_shared_module(),
                MoreStringPackage::new().as_shared_module(),
            ] {
                lib.combine_flatten((*p).clone());
            }
            lib.build_index();
            lib.into()
        })
        .clone()
}

/// The wall clock of the call a unit's engine is running, for its time
/// budget (see [`time_budget`]).
#[derive(Debug)]
struct CallClock {
    /// When the current call started (ns since [`clock_base`]).
    started_ns: AtomicU64,
    /// The budget, in ns.
    budget_ns: AtomicU64,
}

fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    u64::try_from(clock_base().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl CallClock {
    fn new(budget: Duration) -> CallClock {
        CallClock {
            started_ns: AtomicU64::new(now_ns()),
            budget_ns: AtomicU64::new(u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX)),
        }
    }

    fn start(&self) {
        self.started_ns.store(now_ns(), Ordering::Relaxed);
    }

    fn over(&self) -> bool {
        let spent = now_ns().saturating_sub(self.started_ns.load(Ordering::Relaxed));
        spent > self.budget_ns.load(Ordering::Relaxed)
    }
}

/// A sandboxed rhai engine with `limits`; `print`/`debug` go to `log`
/// (or nowhere) prefixed with `origin`.
///
/// Built from [`rhai::Engine::new_raw`] with only the packages of
/// [`library`]: no wall clock, no sleeping, nothing that reads the
/// environment, so a call's result depends on its arguments alone.
pub fn sandbox(
    limits: &ScriptLimits,
    origin: &str,
    log: Option<Arc<Mutex<ScriptLog>>>,
) -> rhai::Engine {
    sandbox_clocked(
        limits,
        origin,
        log,
        Arc::new(CallClock::new(time_budget(limits))),
    )
}

fn sandbox_clocked(
    limits: &ScriptLimits,
    origin: &str,
    log: Option<Arc<Mutex<ScriptLog>>>,
    clock: Arc<CallClock>,
) -> rhai::Engine {
    let mut e = rhai::Engine::new_raw();
    e.register_global_module(library());
    e.set_optimization_level(OptimizationLevel::Full);
    e.set_max_operations(limits.operations);
    e.set_max_call_levels(limits.call_depth);
    e.set_max_expr_depths(limits.expr_depth, limits.expr_depth);
    e.set_max_string_size(limits.string_size);
    e.set_max_array_size(limits.array_size);
    e.set_max_map_size(limits.map_size);
    e.set_max_variables(1024);
    e.set_max_functions(256);
    e.set_strict_variables(true);
    e.disable_symbol("eval");
    e.on_progress(move |ops| {
        if ops % CLOCK_EVERY_OPS == 0 && clock.over() {
            Some(Dynamic::from("time"))
        } else {
            None
        }
    });
    let print_log = log.clone();
    let print_origin = origin.to_string();
    e.on_print(move |s| {
        if let Some(l) = &print_log {
            if let Ok(mut l) = l.lock() {
                l.push(format!("{print_origin}: {s}"));
            }
        }
    });
    let debug_origin = origin.to_string();
    e.on_debug(move |s, _, _| {
        if let Some(l) = &log {
            if let Ok(mut l) = l.lock() {
                l.push(format!("{debug_origin}: [debug] {s}"));
            }
        }
    });
    e
}

/// A call of a function scripts cannot call (see [`REFUSED`]), found by
/// [`refused_calls`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedCall {
    /// Byte offset of the called name in the source.
    pub offset: usize,
    /// The called function.
    pub name: String,
    /// The rhai function the call is in (`None`: top level).
    pub in_fn: Option<String>,
    /// Why it is refused.
    pub why: &'static str,
}

#[derive(Debug, PartialEq)]
enum Tok<'s> {
    Ident(&'s str, usize),
    Str(String, usize),
    Punct(char),
}

/// Splits rhai source into identifiers, string literals and punctuation,
/// skipping comments, numbers and whitespace; the code inside `${ }` of a
/// backtick string is split too.
fn tokens(src: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let b = src.as_bytes();
    let mut i = 0;
    lex(src, b, &mut i, &mut out, false);
    out
}

/// Lexes from `*i`; in an interpolation (`inner`), stops after the `}`
/// that closes it.
fn lex<'s>(src: &'s str, b: &[u8], i: &mut usize, out: &mut Vec<Tok<'s>>, inner: bool) {
    let mut depth = 0usize;
    while let Some(&c) = b.get(*i) {
        let next = b.get(*i + 1).copied();
        match c {
            b'/' if next == Some(b'/') => {
                while b.get(*i).is_some_and(|&c| c != b'\n') {
                    *i += 1;
                }
            }
            b'/' if next == Some(b'*') => {
                let mut level = 0usize;
                while *i < b.len() {
                    if b.get(*i..*i + 2) == Some(b"/*") {
                        level += 1;
                        *i += 2;
                    } else if b.get(*i..*i + 2) == Some(b"*/") {
                        level = level.saturating_sub(1);
                        *i += 2;
                        if level == 0 {
                            break;
                        }
                    } else {
                        *i += 1;
                    }
                }
            }
            b'"' | b'\'' => {
                let start = *i;
                *i += 1;
                let mut text = String::new();
                while let Some(&d) = b.get(*i) {
                    if d == b'\\' {
                        *i += 2;
                        continue;
                    }
                    if d == c {
                        break;
                    }
                    *i += 1;
                }
                if let Some(t) = src.get(start + 1..(*i).min(src.len())) {
                    text.push_str(t);
                }
                *i += 1;
                out.push(Tok::Str(text, start));
            }
            b'`' => {
                *i += 1;
                while let Some(&d) = b.get(*i) {
                    if d == b'\\' {
                        *i += 2;
                    } else if d == b'`' {
                        *i += 1;
                        break;
                    } else if d == b'$' && b.get(*i + 1) == Some(&b'{') {
                        *i += 2;
                        lex(src, b, i, out, true);
                    } else {
                        *i += 1;
                    }
                }
            }
            b'#' if matches!(next, Some(b'#' | b'"')) => {
                // raw string: #"..."#, ##"..."##, ...
                let start = *i;
                let hashes = b[start..].iter().take_while(|&&h| h == b'#').count();
                *i += hashes;
                if b.get(*i) != Some(&b'"') {
                    continue;
                }
                *i += 1;
                let body = *i;
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                while *i < b.len() && b.get(*i..*i + close.len()) != Some(close.as_slice()) {
                    *i += 1;
                }
                let text = src.get(body..(*i).min(src.len())).unwrap_or_default();
                out.push(Tok::Str(text.to_string(), start));
                *i += close.len();
            }
            c if c.is_ascii_digit() => {
                while b.get(*i).is_some_and(|&d| {
                    d.is_ascii_alphanumeric()
                        || d == b'_'
                        || (d == b'.' && b.get(*i + 1).is_some_and(u8::is_ascii_digit))
                }) {
                    *i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = *i;
                while b
                    .get(*i)
                    .is_some_and(|&d| d.is_ascii_alphanumeric() || d == b'_')
                {
                    *i += 1;
                }
                out.push(Tok::Ident(src.get(start..*i).unwrap_or_default(), start));
            }
            c if c.is_ascii_whitespace() => *i += 1,
            c if c.is_ascii() => {
                *i += 1;
                if inner {
                    if c == b'{' {
                        depth += 1;
                    } else if c == b'}' {
                        if depth == 0 {
                            return;
                        }
                        depth -= 1;
                    }
                }
                out.push(Tok::Punct(char::from(c)));
            }
            // non-ASCII outside strings and comments: not rhai, rhai reports it
            _ => *i += 1,
        }
    }
}

/// Every call in `src` of a function scripts cannot call ([`REFUSED`]):
/// `name(...)`, `name!(...)`, `x.name(...)` and `Fn("name")`, unless `src`
/// defines a function of that name itself. Comments and strings are skipped.
pub fn refused_calls(src: &str) -> Vec<RefusedCall> {
    let toks = tokens(src);
    let defined: Vec<&str> = toks
        .windows(2)
        .filter_map(|w| match w {
            [Tok::Ident("fn", _), Tok::Ident(n, _)] => Some(*n),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    let (mut depth, mut current, mut pending): (usize, Option<&str>, Option<&str>) =
        (0, None, None);
    for (k, t) in toks.iter().enumerate() {
        let at = |j: usize| toks.get(k + j);
        match t {
            Tok::Punct('{') => {
                if depth == 0 {
                    current = pending.take();
                }
                depth += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    current = None;
                }
            }
            Tok::Ident("fn", _) => {
                if let Some(Tok::Ident(n, _)) = at(1) {
                    pending = Some(n);
                }
            }
            Tok::Ident(name, off) => {
                let after_fn = k
                    .checked_sub(1)
                    .and_then(|j| toks.get(j))
                    .is_some_and(|p| matches!(p, Tok::Ident("fn", _)));
                let called = matches!(at(1), Some(Tok::Punct('(')))
                    || matches!(
                        (at(1), at(2)),
                        (Some(Tok::Punct('!')), Some(Tok::Punct('(')))
                    );
                let mut hit = None;
                if called && !after_fn {
                    hit = Some(((*name).to_string(), *off));
                }
                if *name == "Fn" {
                    if let (Some(Tok::Punct('(')), Some(Tok::Str(s, so))) = (at(1), at(2)) {
                        hit = Some((s.clone(), *so));
                    }
                }
                if let Some((n, o)) = hit {
                    if let (Some(why), false) = (refused(&n), defined.contains(&n.as_str())) {
                        out.push(RefusedCall {
                            offset: o,
                            name: n,
                            in_fn: current.map(str::to_string),
                            why,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Compiles `source` in the sandbox (used by `yingji check` and at load).
pub fn compile(
    source: &str,
    limits: &ScriptLimits,
) -> Result<(rhai::Engine, rhai::AST), SyntaxError> {
    compile_with(sandbox(limits, "", None), source)
}

fn compile_with(
    engine: rhai::Engine,
    source: &str,
) -> Result<(rhai::Engine, rhai::AST), SyntaxError> {
    match engine.compile(source) {
        Ok(ast) => Ok((engine, ast)),
        Err(e) => Err(SyntaxError {
            line: e.1.line().unwrap_or(0),
            col: e.1.position().unwrap_or(0),
            message: e.0.to_string(),
        }),
    }
}

/// Whether `ast` defines `name` with `arity` parameters.
pub fn defines(ast: &rhai::AST, name: &str, arity: usize) -> bool {
    ast.iter_functions()
        .any(|f| f.name == name && f.params.len() == arity)
}

pub use crate::output::script::{ScriptError, ScriptSuppressed};

/// Where a call comes from (for error records).
#[derive(Clone, Debug)]
pub struct CallSite<'a> {
    /// The signal.
    pub signal: &'a Arc<str>,
    /// The key.
    pub key: &'a Arc<str>,
    /// Input position of the event.
    pub event: u64,
    /// Event time.
    pub ts: Timestamp,
}

struct UnitRt {
    engine: rhai::Engine,
    ast: rhai::AST,
    clock: Arc<CallClock>,
}

/// The failure rate limiter of one function: the current interval and what
/// it has reported and suppressed so far.
///
/// Interval boundaries depend on the failing calls' event times only: an
/// interval opens at the event time of the first failure that falls at or
/// after the end of the previous one (`since + REPORT_INTERVAL_MS`) and never
/// on wall-clock time, so a run split by snapshot and restore (with
/// [`ScriptRt::limiter_state`] / [`ScriptRt::restore_limiter`]) reports
/// exactly what one uninterrupted run reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Reports {
    /// Start of the current interval.
    since: Option<Timestamp>,
    reported: u32,
    suppressed: u64,
}

/// The failure rate limiter of every script function, for snapshots: see
/// [`ScriptRt::limiter_state`]. Serialises as
/// `{"functions":[{"function":"f","since":"2024-07-29T01:00:00+08:00","reported":5,"suppressed":3}]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterState {
    /// One entry per function that has failed, sorted by function name
    /// (functions that never failed are left out).
    #[serde(default)]
    pub functions: Vec<FnLimiterState>,
}

/// The rate limiter of one script function (an entry of [`LimiterState`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FnLimiterState {
    /// The function's name (as policies call it).
    pub function: String,
    /// Start of the current reporting interval (`None`: no failure yet).
    pub since: Option<Timestamp>,
    /// Failures reported individually in the interval (at most [`REPORT_FIRST`]).
    pub reported: u32,
    /// Failures suppressed in the interval and not yet summarised.
    pub suppressed: u64,
}

struct FnRt {
    name: Arc<str>,
    rhai_name: String,
    params: Vec<(String, Type)>,
    ret: Type,
    unit: usize,
    reports: Reports,
}

/// The script functions of a running engine.
pub struct ScriptRt {
    units: Vec<UnitRt>,
    fns: Vec<FnRt>,
    scope: rhai::Scope<'static>,
    args: Vec<Dynamic>,
    /// Argument values of calls being evaluated (a stack: calls nest).
    pub(crate) stack: Vec<Value>,
    log: Arc<Mutex<ScriptLog>>,
    /// Records produced and not yet emitted.
    pub(crate) pending: Vec<crate::output::Output>,
}

impl std::fmt::Debug for ScriptRt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptRt")
            .field("functions", &self.fns.len())
            .finish()
    }
}

impl ScriptRt {
    /// Compiles every unit once and checks every declared function exists.
    pub fn new(scripts: &Scripts) -> Result<ScriptRt, ScriptLoadError> {
        let log = Arc::new(Mutex::new(ScriptLog::default()));
        let mut units = Vec::new();
        for u in &scripts.units {
            if let Some(r) = refused_calls(&u.source).into_iter().next() {
                return Err(ScriptLoadError::Refused {
                    origin: u.origin.clone(),
                    name: r.name,
                    why: r.why,
                });
            }
            let clock = Arc::new(CallClock::new(time_budget(&u.limits)));
            let engine = sandbox_clocked(&u.limits, &u.origin, Some(log.clone()), clock.clone());
            let (engine, ast) =
                compile_with(engine, &u.source).map_err(|error| ScriptLoadError::Syntax {
                    origin: u.origin.clone(),
                    error,
                })?;
            units.push(UnitRt { engine, ast, clock });
        }
        let mut fns = Vec::new();
        for f in &scripts.functions {
            let unit = usize::from(f.unit);
            let (Some(u), Some(def)) = (units.get(unit), scripts.units.get(unit)) else {
                return Err(ScriptLoadError::BadUnit(f.name.clone()));
            };
            if !defines(&u.ast, &f.rhai_name, f.params.len()) {
                return Err(ScriptLoadError::Missing {
                    name: f.name.clone(),
                    arity: f.params.len(),
                    origin: def.origin.clone(),
                });
            }
            fns.push(FnRt {
                name: Arc::from(f.name.as_str()),
                rhai_name: f.rhai_name.clone(),
                params: f.params.clone(),
                ret: f.ret,
                unit,
                reports: Reports::default(),
            });
        }
        Ok(ScriptRt {
            units,
            fns,
            scope: rhai::Scope::new(),
            args: Vec::new(),
            stack: Vec::new(),
            log,
            pending: Vec::new(),
        })
    }

    /// Sets the wall-clock budget of every call (default: [`time_budget`]
    /// of each unit's limits); a call over it fails with limit `"time"`.
    pub fn set_time_budget(&mut self, budget: Duration) {
        let ns = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
        for u in &self.units {
            u.clock.budget_ns.store(ns, Ordering::Relaxed);
        }
    }

    /// Takes the script log (`print`/`debug` lines) and the number of lines
    /// dropped because the log was full.
    pub fn take_log(&self) -> (Vec<String>, u64) {
        self.log.lock().map(|mut l| l.take()).unwrap_or_default()
    }

    /// Calls function `f` with the arguments `stack[base..]` (which it
    /// removes); failures become pending records and `null`.
    pub fn call(&mut self, f: u16, base: usize, site: &CallSite<'_>) -> Value {
        let result = self.try_call(usize::from(f), base);
        self.stack.truncate(base);
        match result {
            Ok(v) => v,
            Err((limit, message)) => {
                self.report(usize::from(f), site, limit, message);
                Value::Null
            }
        }
    }

    /// Calls function `f` with `args` (the entry point for hosts and benches;
    /// the evaluator uses [`ScriptRt::call`] with its argument stack).
    pub fn call_with(&mut self, f: u16, args: &[Value], site: &CallSite<'_>) -> Value {
        let base = self.stack.len();
        self.stack.extend_from_slice(args);
        self.call(f, base, site)
    }

    /// Records produced by failed calls and not yet emitted.
    pub fn take_pending(&mut self) -> Vec<crate::output::Output> {
        std::mem::take(&mut self.pending)
    }

    fn try_call(&mut self, f: usize, base: usize) -> Result<Value, (Option<&'static str>, String)> {
        let Some(func) = self.fns.get(f) else {
            return Err((None, format!("no script function #{f}")));
        };
        let Some(unit) = self.units.get(func.unit) else {
            return Err((None, format!("no script unit for `{}`", func.name)));
        };
        self.args.clear();
        for (i, v) in self
            .stack
            .get(base..)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let param = func.params.get(i).map_or("?", |(n, _)| n.as_str());
            match v {
                // missing data: no call, no report (as for built-ins)
                Value::Null => return Ok(Value::Null),
                Value::Num(n) if !n.is_finite() => {
                    return Err((
                        Some("non_finite_argument"),
                        format!("argument `{param}` is {n}; it was not passed to the script"),
                    ));
                }
                Value::Num(n) => self.args.push(Dynamic::from_float(*n)),
                Value::Bool(b) => self.args.push(Dynamic::from_bool(*b)),
                Value::Str(s) => self.args.push(Dynamic::from(s.to_string())),
            }
        }
        if self.args.len() != func.params.len() {
            return Err((
                None,
                format!(
                    "called with {} argument(s), declared {}",
                    self.args.len(),
                    func.params.len()
                ),
            ));
        }
        self.scope.clear();
        unit.clock.start();
        #[allow(
            deprecated,
            reason = "call_fn_raw takes a reusable argument buffer; call_fn_with_options needs a FuncArgs value per call"
        )]
        let r = unit.engine.call_fn_raw(
            &mut self.scope,
            &unit.ast,
            false,
            true,
            &func.rhai_name,
            None,
            &mut self.args,
        );
        self.scope.clear();
        let out = r.map_err(|e| describe(&e))?;
        convert(out, func.ret)
    }

    fn report(
        &mut self,
        f: usize,
        site: &CallSite<'_>,
        limit: Option<&'static str>,
        message: String,
    ) {
        let Some(func) = self.fns.get_mut(f) else {
            return;
        };
        let r = &mut func.reports;
        let rolled = r
            .since
            .is_none_or(|s| site.ts.ms >= s.ms.saturating_add(REPORT_INTERVAL_MS));
        if rolled {
            if let (Some(since), true) = (r.since, r.suppressed > 0) {
                self.pending
                    .push(crate::output::Output::ScriptSuppressed(ScriptSuppressed {
                        id: 0,
                        ts: site.ts,
                        function: func.name.clone(),
                        suppressed: r.suppressed,
                        since,
                    }));
            }
            r.since = Some(site.ts);
            r.reported = 0;
            r.suppressed = 0;
        }
        if r.reported < REPORT_FIRST {
            r.reported += 1;
            self.pending
                .push(crate::output::Output::ScriptError(ScriptError {
                    id: 0,
                    ts: site.ts,
                    function: func.name.clone(),
                    signal: site.signal.clone(),
                    key: site.key.clone(),
                    event: site.event,
                    limit,
                    message,
                }));
        } else {
            r.suppressed += 1;
        }
    }

    /// The rate limiter of every function (interval start, failures reported
    /// and suppressed), to keep in a snapshot: sorted by function name,
    /// functions that never failed left out, so equal limiters give equal
    /// states.
    pub fn limiter_state(&self) -> LimiterState {
        let mut functions: Vec<FnLimiterState> = self
            .fns
            .iter()
            .filter(|f| f.reports != Reports::default())
            .map(|f| FnLimiterState {
                function: f.name.to_string(),
                since: f.reports.since,
                reported: f.reports.reported,
                suppressed: f.reports.suppressed,
            })
            .collect();
        functions.sort_by(|a, b| a.function.cmp(&b.function));
        LimiterState { functions }
    }

    /// Replaces every function's rate limiter with the one `st` holds for a
    /// function of the same name (a function `st` does not name starts
    /// afresh); names of functions this runtime does not have are ignored.
    /// A `reported` count above [`REPORT_FIRST`] is read as [`REPORT_FIRST`].
    pub fn restore_limiter(&mut self, st: &LimiterState) {
        for func in &mut self.fns {
            func.reports = st
                .functions
                .iter()
                .find(|e| *e.function == *func.name)
                .map(|e| Reports {
                    since: e.since,
                    reported: e.reported.min(REPORT_FIRST),
                    suppressed: e.suppressed,
                })
                .unwrap_or_default();
        }
    }

    /// End of stream: one summary for every function with failures not yet reported.
    pub fn flush(&mut self, ts: Timestamp) {
        for func in &mut self.fns {
            let r = &mut func.reports;
            if let (Some(since), true) = (r.since, r.suppressed > 0) {
                self.pending
                    .push(crate::output::Output::ScriptSuppressed(ScriptSuppressed {
                        id: 0,
                        ts,
                        function: func.name.clone(),
                        suppressed: r.suppressed,
                        since,
                    }));
                r.suppressed = 0;
            }
        }
    }
}

/// The limit an error breached (if any) and a message.
fn describe(e: &rhai::EvalAltResult) -> (Option<&'static str>, String) {
    use rhai::EvalAltResult as E;
    let limit = match innermost(e) {
        E::ErrorTooManyOperations(_) => Some("operations"),
        E::ErrorTerminated(..) => Some("time"),
        E::ErrorStackOverflow(_) => Some("call_depth"),
        E::ErrorTooManyVariables(_) => Some("variables"),
        E::ErrorDataTooLarge(what, _) if what.contains("string") => Some("string_size"),
        E::ErrorDataTooLarge(what, _) if what.contains("array") => Some("array_size"),
        E::ErrorDataTooLarge(what, _) if what.contains("map") => Some("map_size"),
        E::ErrorDataTooLarge(..) => Some("data_size"),
        _ => None,
    };
    (limit, e.to_string())
}

fn innermost(e: &rhai::EvalAltResult) -> &rhai::EvalAltResult {
    match e {
        rhai::EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => innermost(inner),
        other => other,
    }
}

/// Checks a result against the declared type.
fn convert(v: Dynamic, ret: Type) -> Result<Value, (Option<&'static str>, String)> {
    let wrong = |v: &Dynamic| {
        (
            None,
            format!(
                "returned a {} where a {} was declared",
                v.type_name(),
                ret.name()
            ),
        )
    };
    match ret {
        Type::Number => {
            let n = if let Ok(f) = v.as_float() {
                f
            } else if let Ok(i) = v.as_int() {
                i as f64
            } else {
                return Err(wrong(&v));
            };
            if n.is_finite() {
                Ok(Value::Num(n))
            } else {
                Err((
                    None,
                    format!("returned {n} where a finite number was declared"),
                ))
            }
        }
        Type::Bool => v.as_bool().map(Value::Bool).map_err(|_| wrong(&v)),
        Type::String => {
            if v.is_string() {
                Ok(Value::from(v.to_string().as_str()))
            } else {
                Err(wrong(&v))
            }
        }
        Type::Duration => Err(wrong(&v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(src: &str, limits: ScriptLimits, ret: Type, params: usize) -> ScriptRt {
        let scripts = Scripts {
            units: vec![ScriptUnit {
                source: src.into(),
                origin: "t".into(),
                limits,
            }],
            functions: vec![ScriptFn {
                name: "f".into(),
                rhai_name: "f".into(),
                params: (0..params)
                    .map(|i| (format!("p{i}"), Type::Number))
                    .collect(),
                ret,
                unit: 0,
                at: String::new(),
            }],
        };
        match ScriptRt::new(&scripts) {
            Ok(r) => r,
            Err(e) => unreachable!("{e}"),
        }
    }

    fn call(r: &mut ScriptRt, args: &[f64]) -> Value {
        let (s, k): (Arc<str>, Arc<str>) = (Arc::from("s"), Arc::from("k"));
        let site = CallSite {
            signal: &s,
            key: &k,
            event: 1,
            ts: Timestamp::default(),
        };
        let base = r.stack.len();
        r.stack.extend(args.iter().map(|a| Value::Num(*a)));
        r.call(0, base, &site)
    }

    fn limit_of(r: &ScriptRt) -> Option<&'static str> {
        match r.pending.last() {
            Some(crate::output::Output::ScriptError(e)) => e.limit,
            _ => Some("none"),
        }
    }

    #[test]
    fn calls_and_checks_types() {
        let mut r = rt(
            "fn f(a, b) { a / b }",
            ScriptLimits::default(),
            Type::Number,
            2,
        );
        assert_eq!(call(&mut r, &[3.0, 2.0]), Value::Num(1.5));
        let mut r = rt(
            "fn f(a) { \"x\" }",
            ScriptLimits::default(),
            Type::Number,
            1,
        );
        assert_eq!(call(&mut r, &[1.0]), Value::Null);
        assert_eq!(limit_of(&r), None);
        let mut r = rt("fn f(a) { 1 }", ScriptLimits::default(), Type::Number, 1);
        assert_eq!(
            call(&mut r, &[1.0]),
            Value::Num(1.0),
            "an integer result is a number"
        );
    }

    #[test]
    fn limits_fire() {
        let mut r = rt(
            "fn f(a) { loop { a += 1.0; } }",
            ScriptLimits::default(),
            Type::Number,
            1,
        );
        assert_eq!(call(&mut r, &[1.0]), Value::Null);
        assert_eq!(limit_of(&r), Some("operations"));
        let mut r = rt(
            "fn f(a) { f(a + 1.0) }",
            ScriptLimits::default(),
            Type::Number,
            1,
        );
        assert_eq!(call(&mut r, &[1.0]), Value::Null);
        assert_eq!(limit_of(&r), Some("call_depth"));
        let mut r = rt(
            "fn f(a) { let s = \"x\"; loop { s += s; } }",
            ScriptLimits::default(),
            Type::Number,
            1,
        );
        assert_eq!(call(&mut r, &[1.0]), Value::Null);
        assert_eq!(limit_of(&r), Some("string_size"));
        let mut r = rt("fn f(a) { a }", ScriptLimits::default(), Type::Number, 1);
        assert_eq!(call(&mut r, &[f64::NAN]), Value::Null);
        assert_eq!(limit_of(&r), Some("non_finite_argument"));
    }

    #[test]
    fn eval_and_import_do_not_compile() {
        assert!(compile("fn f(a) { eval(\"1\") }", &ScriptLimits::default()).is_err());
        assert!(compile("import \"x\" as m; fn f(a) { a }", &ScriptLimits::default()).is_err());
    }

    #[test]
    fn print_goes_to_the_log() {
        let mut r = rt(
            "fn f(a) { print(`a=${a}`); a }",
            ScriptLimits::default(),
            Type::Number,
            1,
        );
        assert_eq!(call(&mut r, &[2.0]), Value::Num(2.0));
        assert_eq!(r.take_log().0, vec!["t: a=2.0".to_string()]);
    }

    /// Every pending record as JSON text (the engine would number them).
    fn emitted(r: &mut ScriptRt) -> Vec<String> {
        r.take_pending().iter().map(|o| o.to_json()).collect()
    }

    /// A failing call of `f` at `min` minutes after midnight UTC.
    fn fail_at(r: &mut ScriptRt, f: u16, min: i64) {
        let (s, k): (Arc<str>, Arc<str>) = (Arc::from("s"), Arc::from("k"));
        let site = CallSite {
            signal: &s,
            key: &k,
            event: 1 + min as u64,
            ts: Timestamp {
                ms: 1_722_211_200_000 + min * 60_000,
                offset_min: 480,
            },
        };
        assert_eq!(r.call_with(f, &[Value::Num(1.0)], &site), Value::Null);
    }

    fn two_failing() -> ScriptRt {
        let f = |name: &str| ScriptFn {
            name: name.into(),
            rhai_name: "f".into(),
            params: vec![("a".into(), Type::Number)],
            ret: Type::Number,
            unit: 0,
            at: String::new(),
        };
        let scripts = Scripts {
            units: vec![ScriptUnit {
                source: "fn f(a) { throw \"no\" }".into(),
                origin: "t".into(),
                limits: ScriptLimits::default(),
            }],
            functions: vec![f("zeta"), f("alpha")],
        };
        match ScriptRt::new(&scripts) {
            Ok(r) => r,
            Err(e) => unreachable!("{e}"),
        }
    }

    /// Failing calls: `zeta` every 7 minutes over 3 h, `alpha` 10 times at
    /// the start and once 2 h later.
    fn schedule() -> Vec<(u16, i64)> {
        let mut calls: Vec<(u16, i64)> = (0..26).map(|i| (0, i * 7)).collect();
        calls.extend((0..10).map(|i| (1, i)));
        calls.push((1, 130));
        calls.sort_by_key(|&(f, m)| (m, f));
        calls
    }

    #[test]
    fn a_limiter_carried_over_a_restore_reports_as_one_run() {
        let calls = schedule();
        let mut one = two_failing();
        let mut whole = Vec::new();
        for &(f, m) in &calls {
            fail_at(&mut one, f, m);
        }
        whole.extend(emitted(&mut one));
        one.flush(Timestamp {
            ms: 1_722_211_200_000 + 200 * 60_000,
            offset_min: 480,
        });
        whole.extend(emitted(&mut one));
        let errors = whole.iter().filter(|o| o.contains("script_error")).count();
        assert!(errors < calls.len(), "some failures were suppressed");
        assert!(whole.iter().any(|o| o.contains("script_suppressed")));

        for split in [1, 7, 12, 20, calls.len() - 1] {
            let mut first = two_failing();
            let mut got = Vec::new();
            for &(f, m) in &calls[..split] {
                fail_at(&mut first, f, m);
            }
            got.extend(emitted(&mut first));
            let state = first.limiter_state();
            // through serde, as a snapshot would carry it
            let text = serde_json::to_string(&state).unwrap_or_default();
            let back: LimiterState = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(back, state, "{text}");
            let names: Vec<&str> = state
                .functions
                .iter()
                .map(|e| e.function.as_str())
                .collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(names, sorted, "sorted by name");

            let mut second = two_failing();
            second.restore_limiter(&back);
            assert_eq!(second.limiter_state(), state);
            for &(f, m) in &calls[split..] {
                fail_at(&mut second, f, m);
            }
            got.extend(emitted(&mut second));
            second.flush(Timestamp {
                ms: 1_722_211_200_000 + 200 * 60_000,
                offset_min: 480,
            });
            got.extend(emitted(&mut second));
            assert_eq!(got, whole, "split after {split} calls");
        }
    }

    #[test]
    fn without_the_limiter_a_split_run_reports_more() {
        // the bug this state fixes: 10 failures, split after 5
        let mut one = two_failing();
        let mut split = two_failing();
        let mut fresh = two_failing();
        for m in 0..10 {
            fail_at(&mut one, 1, m);
            fail_at(if m < 5 { &mut split } else { &mut fresh }, 1, m);
        }
        let count = |v: &[String]| v.iter().filter(|o| o.contains("script_error")).count();
        assert_eq!(count(&emitted(&mut one)), 5);
        let mut both = emitted(&mut split);
        both.extend(emitted(&mut fresh));
        assert_eq!(count(&both), 10);
    }

    #[test]
    fn restore_ignores_unknown_names_and_resets_the_rest() {
        let mut r = two_failing();
        fail_at(&mut r, 0, 0);
        let st = LimiterState {
            functions: vec![
                FnLimiterState {
                    function: "alpha".into(),
                    since: Some(Timestamp::default()),
                    reported: 99,
                    suppressed: 4,
                },
                FnLimiterState {
                    function: "gone".into(),
                    since: None,
                    reported: 1,
                    suppressed: 0,
                },
            ],
        };
        r.restore_limiter(&st);
        let got = r.limiter_state();
        assert_eq!(got.functions.len(), 1, "{got:?}");
        assert_eq!(got.functions[0].function, "alpha");
        assert_eq!(got.functions[0].reported, REPORT_FIRST);
        assert_eq!(got.functions[0].suppressed, 4);
        assert_eq!(LimiterState::default(), two_failing().limiter_state());
    }

    #[test]
    fn refused_calls_are_found_in_code_only() {
        let names = |src: &str| -> Vec<(String, Option<String>)> {
            refused_calls(src)
                .into_iter()
                .map(|r| (r.name, r.in_fn))
                .collect()
        };
        let src = "fn f(a) { sleep(1); let t = timestamp(); t.elapsed() }";
        assert_eq!(
            names(src),
            [
                ("sleep".into(), Some("f".into())),
                ("timestamp".into(), Some("f".into())),
                ("elapsed".into(), Some("f".into()))
            ]
        );
        let at = refused_calls(src);
        assert_eq!(&src[at[0].offset..at[0].offset + 5], "sleep");
        // comments, strings, variables and properties are not calls
        assert!(names("// sleep(1)\n/* timestamp() /* nested */ */ fn f(a) { let timestamp = \"sleep(1)\"; a.sleep + timestamp }").is_empty());
        assert!(names("fn f(a) { #\"sleep(1)\"# + 'x' + a }").is_empty());
        // interpolations are code; Fn pointers and `!` calls count
        assert_eq!(names("fn f(a) { `${timestamp()}` }").len(), 1);
        assert_eq!(names("fn g() { Fn(\"sleep\").call(1) }")[0].0, "sleep");
        assert_eq!(names("fn g() { exit!(1) }")[0].0, "exit");
        // a unit's own function of that name is fine
        assert!(names("fn sleep(x) { x } fn f(a) { sleep(a) }").is_empty());
        // top level
        assert_eq!(names("sleep(1);"), [("sleep".into(), None)]);
    }

    #[test]
    fn the_wall_clock_and_sleep_are_not_registered() {
        // names built at run time get past the load-time scan: the engine
        // itself must not have the functions
        for body in [
            "Fn(\"sl\" + \"eep\").call(1); a",
            "Fn(\"time\" + \"stamp\").call(); a",
            "Fn(\"ex\" + \"it\").call(1)",
        ] {
            let mut r = rt(
                &format!("fn f(a) {{ {body} }}"),
                ScriptLimits::default(),
                Type::Number,
                1,
            );
            assert_eq!(call(&mut r, &[1.0]), Value::Null, "{body}");
            let msg = r
                .take_pending()
                .first()
                .map(|o| o.to_json())
                .unwrap_or_default();
            assert!(msg.contains("not found"), "{body}: {msg}");
        }
        // ...but the standard functions scripts use are
        let mut r = rt(
            "fn f(a) { let v = [a, 2.0]; v.sort(); v[0].sqrt() + \"ab\".len() + #{x: 1}.x + max(1, 2) + (3 & 1) }",
            ScriptLimits::default(),
            Type::Number,
            1,
        );
        assert_eq!(call(&mut r, &[1.0]), Value::Num(7.0));
    }

    #[test]
    fn a_unit_calling_a_refused_function_does_not_load() {
        let scripts = Scripts {
            units: vec![ScriptUnit {
                source: "fn f(a) { sleep(1000); a }".into(),
                origin: "t".into(),
                limits: ScriptLimits::default(),
            }],
            functions: vec![],
        };
        match ScriptRt::new(&scripts) {
            Err(ScriptLoadError::Refused { name, .. }) => assert_eq!(name, "sleep"),
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn the_time_budget_aborts_a_call() {
        let mut r = rt(
            "fn f(a) { loop { a += 1.0; } }",
            ScriptLimits::default(),
            Type::Number,
            1,
        );
        r.set_time_budget(Duration::ZERO);
        assert_eq!(call(&mut r, &[1.0]), Value::Null);
        assert_eq!(limit_of(&r), Some("time"));
        // a quick call is unaffected by a generous budget
        r.set_time_budget(Duration::from_secs(60));
        let mut q = rt(
            "fn f(a) { a * 2.0 }",
            ScriptLimits::default(),
            Type::Number,
            1,
        );
        q.set_time_budget(Duration::from_secs(60));
        assert_eq!(call(&mut q, &[2.0]), Value::Num(4.0));
    }

    #[test]
    fn limit_settings() {
        let mut l = ScriptLimits::default();
        assert!(l.set("operations", 500).is_ok());
        assert_eq!(l.operations, 500);
        assert!(l.set("operations", 0).is_err());
        assert!(l.set("call_depth", 65).is_err());
        assert!(l.set("speed", 1).is_err());
    }
}
