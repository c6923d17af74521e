//! The compiled evaluation path: the same semantics as [`crate::Engine`]
//! (which stays the reference), lowered for speed.
//!
//! [`CompiledEngine::new`] lowers a [`Program`] once:
//! - every expression to a [`expr::CExpr`]: slots resolved, constant
//!   sub-expressions folded (by the reference evaluator itself), numeric
//!   comparisons specialised;
//! - every signal's level rules to a [`ladder::Ladder`] when they are a
//!   threshold ladder (one evaluation of the subject and one binary search);
//! - every event kind to a [`index::KindIndex`]: signals that require
//!   `field == constant` are found by one hash lookup of the event's value;
//! - keys are interned once (`u32` ids) and state lives per signal in a map
//!   from key id.
//!
//! Scope: the compiled kernel applies events in the order given, as the
//! reference engine applies an event its reorder buffer has released. The
//! streaming shell (reorder buffer, lateness, duplicates) stays with
//! [`crate::Engine`]. Level dynamics (`for`, `clear`, `hold`, `clear after`,
//! `step down`) go through the level machine both evaluators share
//! ([`crate::levels`]); tables are read from the key's row. Signals using
//! absence detection (`missing`, rosters), script calls or more than four
//! level rules are not compiled: [`CompiledEngine::new`] refuses a program
//! with any ([`CompileError::Unsupported`]), [`CompiledEngine::per_signal`]
//! compiles the others and leaves those to the reference evaluator (the
//! signals operator dispatches per signal).
//!
//! After warm-up (every key seen once, buffers grown), [`CompiledEngine::push_with`]
//! allocates nothing per event; [`CompiledEngine::push`] allocates only for
//! the [`Output`]s it returns. Outputs are identical to the reference
//! engine's, in the same order, with the same errors.

pub mod expr;
pub mod flat;
pub(crate) mod host;
pub mod index;
pub mod ladder;

use crate::error::PushError;
use crate::event::Event;
use crate::ir::{Expr, KindId, Program, ProgramError};
use crate::output::{LevelChange, Output, Values};
use crate::time::{MS_PER_MINUTE, Timestamp};
use crate::value::{Fixed, Level, Value};
use crate::window::{WindowLayout, WindowState};
use expr::{CExpr, Cell, Cmp, Consts, Cx, Host, Pure};
use flat::{FlatLayout, FlatWindows};
use host::{ScriptHost, Services};
use index::KindIndex;
use ladder::Ladder;
use rustc_hash::FxHashMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// How a signal picks its level.
#[derive(Debug)]
enum Levels {
    /// A threshold ladder.
    Ladder(Ladder),
    /// Rules tried in order.
    Rules(Vec<CExpr>),
}

/// Why a program cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The program is structurally invalid.
    #[error(transparent)]
    Invalid(#[from] ProgramError),
    /// The program uses a feature only the reference engine implements.
    #[error(
        "signal `{signal}` uses {feature}, which the compiled path does not implement; use the reference engine"
    )]
    Unsupported {
        /// The signal.
        signal: String,
        /// The feature.
        feature: &'static str,
    },
}

/// The first feature of `p` that [`CompiledEngine::new`] (the standalone
/// engine, without the operator's script runtime and absence timers) does
/// not implement.
pub fn unsupported(p: &Program) -> Option<CompileError> {
    let fed_kinds: Vec<KindId> = p
        .signals
        .iter()
        .filter_map(|s| s.feeds.map(|f| f.kind))
        .collect();
    p.signals.iter().find_map(|s| {
        let fed = s.kinds.iter().any(|k| fed_kinds.contains(k));
        unsupported_signal(s)
            .or_else(|| needs_operator(s))
            .or_else(|| {
                fed.then_some(
                    "another signal's level changes (`from SIGNAL`) outside the signals operator",
                )
            })
            .map(|feature| CompileError::Unsupported {
                signal: s.name.clone(),
                feature,
            })
    })
}

/// The first feature of signal `s` that only the reference engine implements.
pub fn unsupported_signal(s: &crate::ir::SignalDef) -> Option<&'static str> {
    (s.levels.len() > MAX_RULES).then_some("more than four level rules")
}

/// What signal `s` needs of the signals operator when compiled: script
/// calls run through its script runtime, absence through its timers.
fn needs_operator(s: &crate::ir::SignalDef) -> Option<&'static str> {
    if s.missing_ms.is_some() || !s.roster.is_empty() {
        Some("absence detection (`missing`) outside the signals operator")
    } else if uses_scripts(s) {
        Some("a script function call outside the signals operator")
    } else {
        None
    }
}

/// Whether signal `s` calls a script function anywhere.
fn uses_scripts(s: &crate::ir::SignalDef) -> bool {
    let mut script = false;
    let mut see = |e: &Expr| {
        e.walk(&mut |x| {
            script |= matches!(x, Expr::Script(..));
        })
    };
    s.filter.iter().for_each(&mut see);
    s.windows.iter().for_each(|w| see(&w.input));
    s.marks.iter().for_each(&mut see);
    s.groups.iter().for_each(|g| see(&g.input));
    s.lets.iter().for_each(|l| see(&l.expr));
    s.levels.iter().for_each(|r| see(&r.when));
    s.levels
        .iter()
        .filter_map(|r| r.clear.as_ref())
        .for_each(&mut see);
    script
}

/// Why a signal left out by [`CompiledEngine::per_signal_except`] is not compiled.
pub const FORCED: &str = "forced onto the reference evaluator";

/// Level rules per signal (one per level).
const MAX_RULES: usize = 4;
/// "Not holding" in [`KeyState::since`].
const NEVER: i64 = i64::MIN;

/// Window contents of one key.
#[derive(Clone, Debug)]
enum Win {
    /// The signal has no windows.
    None,
    /// Sliding totals over one input (see [`flat`]).
    Flat(FlatWindows),
    /// Anything else: the reference store.
    Generic(WindowState),
}

/// How a signal's windows are stored.
#[derive(Debug)]
enum WinLayout {
    None,
    Flat(FlatLayout),
    Generic(WindowLayout),
}

impl WinLayout {
    fn new_state(&self) -> Win {
        match self {
            WinLayout::None => Win::None,
            WinLayout::Flat(_) => Win::Flat(FlatWindows::default()),
            WinLayout::Generic(l) => Win::Generic(l.new_state()),
        }
    }
}

/// Level state of one key of one signal (everything but its windows).
#[derive(Clone, Copy, Debug)]
struct Core {
    last_ms: i64,
    /// Per rule: since when its condition has held without a break.
    since: [i64; MAX_RULES],
    /// Since when the current level's condition has been false ([`NEVER`]: not false).
    stay_false_since: i64,
    /// Per rule: consecutive readings for which it has held.
    readings: [u32; MAX_RULES],
    level: Level,
}

impl Core {
    /// The state of a key first seen at `ms`.
    fn new(ms: i64) -> Core {
        Core {
            last_ms: ms,
            since: [NEVER; MAX_RULES],
            stay_false_since: NEVER,
            readings: [0; MAX_RULES],
            level: Level::None,
        }
    }

    /// Event time as the key sees it (never backwards).
    #[inline]
    fn advance(&mut self, ts_ms: i64) -> i64 {
        let now = ts_ms.max(self.last_ms);
        self.last_ms = now;
        now
    }

    /// The level machine ([`crate::levels`]) specialised for the direct
    /// path's rules, which have no `for`/`clear`/`hold`/`step_down`: `up`
    /// is the first rule that holds, `holds` the mask of all that hold.
    /// Returns `(from, to, since)` on a change. (Running the shared machine
    /// here measured 87–97 ns/event against 74 on the thresholds workload;
    /// the differential proptest holds the two equal.)
    #[inline]
    fn step(
        &mut self,
        up: Option<usize>,
        holds: u8,
        levels: &[Level],
        now: i64,
    ) -> Option<(Level, Level, i64)> {
        let mut cur_holds = false;
        for (i, ((since, readings), level)) in self
            .since
            .iter_mut()
            .zip(self.readings.iter_mut())
            .zip(levels)
            .enumerate()
        {
            let h = holds & (1 << i) != 0;
            if !h {
                *since = NEVER;
                *readings = 0;
            } else {
                if *since == NEVER {
                    *since = now;
                }
                *readings = readings.saturating_add(1);
            }
            if *level == self.level {
                cur_holds = h;
            }
        }
        let up_level = up
            .and_then(|i| levels.get(i))
            .copied()
            .unwrap_or(Level::None);
        let from = self.level;
        let since_ms = if up_level > from {
            up.and_then(|i| self.since.get(i))
                .copied()
                .filter(|&t| t != NEVER)
                .unwrap_or(now)
        } else if from == Level::None || cur_holds {
            self.stay_false_since = NEVER;
            return None;
        } else {
            if self.stay_false_since == NEVER {
                self.stay_false_since = now;
            }
            self.stay_false_since
        };
        let to = up_level;
        if to == from {
            return None;
        }
        self.level = to;
        self.stay_false_since = NEVER;
        Some((from, to, since_ms))
    }

    /// From the reference engine's form (windows aside).
    fn import(k: &crate::keys::KeyState) -> Core {
        let mut c = Core::new(k.last_ms);
        c.level = k.level;
        c.stay_false_since = k.stay_false_since.unwrap_or(NEVER);
        for ((since, readings), r) in c.since.iter_mut().zip(c.readings.iter_mut()).zip(&k.rules) {
            *since = r.since.unwrap_or(NEVER);
            *readings = r.readings;
        }
        c
    }

    /// The reference engine's form (windows and table row aside).
    fn export(&self, rules: usize, windows: WindowState) -> crate::keys::KeyState {
        let opt = |t: i64| (t != NEVER).then_some(t);
        crate::keys::KeyState {
            last_ms: self.last_ms,
            seen: true,
            level: self.level,
            stay_false_since: opt(self.stay_false_since),
            rules: self
                .since
                .iter()
                .zip(&self.readings)
                .take(rules)
                .map(|(&since, &readings)| crate::keys::RuleState {
                    since: opt(since),
                    readings,
                })
                .collect(),
            windows,
            absent: false,
            row: None,
            marks: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl crate::levels::Clocks for Core {
    #[inline]
    fn level(&self) -> Level {
        self.level
    }
    #[inline]
    fn set_level(&mut self, l: Level) {
        self.level = l;
    }
    #[inline]
    fn stay_false_since(&self) -> Option<i64> {
        (self.stay_false_since != NEVER).then_some(self.stay_false_since)
    }
    #[inline]
    fn set_stay_false_since(&mut self, t: Option<i64>) {
        self.stay_false_since = t.unwrap_or(NEVER);
    }
    #[inline]
    fn since(&self, i: usize) -> Option<i64> {
        self.since.get(i).copied().filter(|&t| t != NEVER)
    }
    #[inline]
    fn set_since(&mut self, i: usize, t: Option<i64>) {
        if let Some(s) = self.since.get_mut(i) {
            *s = t.unwrap_or(NEVER);
        }
    }
    #[inline]
    fn readings(&self, i: usize) -> u32 {
        self.readings.get(i).copied().unwrap_or(0)
    }
    #[inline]
    fn set_readings(&mut self, i: usize, n: u32) {
        if let Some(r) = self.readings.get_mut(i) {
            *r = n;
        }
    }
}

/// A key's conditions for the level machine, compiled: a ladder's rules
/// from its one search, other rules and `clear`s evaluated when asked.
struct CConditions<'a, H> {
    levels: &'a Levels,
    clears: &'a [Option<CExpr>],
    cx: &'a Cx<'a>,
    host: &'a mut H,
    /// Ladder: the rules that hold.
    mask: u8,
}

impl<H: Host> crate::levels::Conditions for CConditions<'_, H> {
    #[inline]
    fn when(&mut self, i: usize) -> bool {
        match self.levels {
            Levels::Ladder(_) => self.mask & (1 << i) != 0,
            Levels::Rules(rules) => rules
                .get(i)
                .is_some_and(|r| expr::eval_fast(r, self.cx, self.host).is_true()),
        }
    }
    #[inline]
    fn clear(&mut self, i: usize) -> Option<bool> {
        let c = self.clears.get(i)?.as_ref()?;
        Some(expr::eval(c, self.cx, self.host).is_true())
    }
}

/// State of one key of one signal.
#[derive(Clone, Debug)]
struct KeyState {
    core: Core,
    windows: Win,
    /// The key's row in the signal's table.
    row: Option<u32>,
    /// Whether a reading has arrived (a roster key starts unseen).
    seen: bool,
    /// Whether the key is reported absent (signals with `missing`).
    absent: bool,
    /// Per `days_since` mark: when it last held ([`NEVER`]: never).
    marks: Vec<i64>,
    /// Per member aggregate: the members' latest values.
    groups: Vec<crate::keys::Members>,
}

/// Mask of the rules from `up` on (for a ladder exactly these hold).
#[inline]
fn ladder_mask(up: Option<usize>, n: usize) -> u8 {
    up.map_or(0u8, |i| ((1u16 << n) - (1u16 << i)) as u8)
}

/// "No key fixed at compile time" in [`Hot::fixed_key`].
const NO_KEY: u32 = u32::MAX;

/// What the event loop reads of a signal for every event that may feed it,
/// packed into one record so that the signals an event touches stay in a
/// few cache lines.
///
/// A *direct* signal — a threshold ladder over one numeric field, its key
/// fixed by the index hit (`where region == "R1" … key region`), with no
/// windows, `let`s or residual filter — is evaluated from this record alone,
/// and its only key's state lives here too.
#[derive(Clone, Debug)]
struct Hot {
    /// Ladder thresholds (direct signals).
    thresholds: [f64; MAX_RULES],
    /// State of the fixed key (direct signals, once `seen`).
    core: Core,
    /// Interned key when the index hit decides it, else [`NO_KEY`].
    fixed_key: u32,
    /// Slot of the key field.
    key_field: u16,
    /// Slot of the ladder's subject field (direct signals).
    subject: u16,
    /// Level of each rule.
    levels: [Level; MAX_RULES],
    /// Number of rules.
    rules: u8,
    /// The ladder's comparison (direct signals).
    op: Cmp,
    direct: bool,
    residual: bool,
    /// Whether the fixed key has been seen (direct signals).
    seen: bool,
}

impl Hot {
    /// The direct path: one field read, a branch-free scan of at most four
    /// thresholds, the level step.
    #[inline]
    fn apply_direct(&mut self, s: u32, ev: &Event) -> Option<Change> {
        let n = usize::from(self.rules);
        let up = match ev.fields.get(usize::from(self.subject)) {
            Some(Value::Num(x)) => {
                let op = self.op;
                let ts = self.thresholds.get(..n).unwrap_or_default();
                // the ladder is monotone: the failing rules are a prefix, so their count is the first that holds
                let i = ts.iter().filter(|&&t| !op.holds(*x, t)).count();
                (i < n).then_some(i)
            }
            _ => None,
        };
        if !self.seen {
            self.seen = true;
            self.core = Core::new(ev.ts.ms);
        }
        let now = self.core.advance(ev.ts.ms);
        let levels = self.levels.get(..n).unwrap_or_default();
        let (from, to, since_ms) = self.core.step(up, ladder_mask(up, n), levels, now)?;
        Some(Change {
            signal: s,
            key: self.fixed_key,
            from,
            to,
            rule: rule_of(levels, to),
            event: ev.seq,
            ts_ms: now,
            since_ms,
            reason: if to > from {
                crate::output::ChangeReason::Raise
            } else {
                crate::output::ChangeReason::Clear
            },
        })
    }
}

/// What one key's evaluation hands the loop besides a level change.
enum Emitted {
    /// A level change.
    Change(Change),
    /// A recovery or a failed script call, of this signal (rare: boxed).
    Other(u32, Box<Output>),
}

/// Moves a host's failure reports (script errors) into the outputs.
trait Reports {
    fn report(&mut self, extras: &mut Vec<Output>);
}

impl Reports for Pure {
    #[inline]
    fn report(&mut self, _extras: &mut Vec<Output>) {}
}

impl Reports for ScriptHost<'_> {
    fn report(&mut self, extras: &mut Vec<Output>) {
        extras.append(&mut self.rt.pending);
    }
}

/// One key's windows, `let`s and level machine at `now`, with script calls
/// run by `host` (their failures reported into `extras` before the change
/// they affected, as the reference reports them).
#[allow(
    clippy::too_many_arguments,
    reason = "the engine's buffers, lent field by field"
)]
fn evaluate<H: Host + Reports>(
    sig: &CSignal,
    st: &mut KeyState,
    ev: &Event,
    now: i64,
    group: Option<(&Arc<str>, usize)>,
    consts: &[Arc<str>],
    lets: &mut Vec<Cell>,
    wvals: &mut Vec<Cell>,
    host: &mut H,
    extras: &mut Vec<Output>,
) -> Option<(crate::levels::Step, i64)> {
    let row: &[Value] = st
        .row
        .and_then(|r| sig.rows.get(r as usize))
        .map_or(&[], Vec::as_slice);
    wvals.clear();
    if sig.nwindows > 0 || !sig.marks.is_empty() || group.is_some() {
        let cx = Cx {
            fields: &ev.fields,
            consts,
            lets: &[],
            windows: &[],
            row,
            kind: ev.kind,
            ms: now,
        };
        let mut reading = |input: &CExpr| match expr::eval(input, &cx, host) {
            Cell::Num(n) => Fixed::from_f64(n),
            Cell::Bool(b) => Some(Fixed(if b { Fixed::SCALE } else { 0 })),
            _ => None,
        };
        match (&sig.layout, &mut st.windows) {
            (WinLayout::Flat(l), Win::Flat(w)) => {
                l.advance(w, now);
                if let Some(x) = sig.inputs.first().and_then(&mut reading) {
                    l.push(w, now, x);
                }
                wvals
                    .extend((0..sig.nwindows).map(|i| l.value(w, i).map_or(Cell::Null, Cell::Num)));
            }
            (WinLayout::Generic(l), Win::Generic(w)) => {
                w.advance_local(now, i64::from(ev.ts.offset_min) * MS_PER_MINUTE);
                for (g, input) in sig.inputs.iter().enumerate() {
                    if let Some(x) = reading(input) {
                        w.push(g, now, x);
                    }
                }
                wvals.extend((0..sig.nwindows).map(
                    |i| match u16::try_from(i).map(|i| l.value(w, i)) {
                        Ok(Value::Num(n)) => Cell::Num(n),
                        _ => Cell::Null,
                    },
                ));
            }
            _ => {}
        }
        // `days_since` values follow the window values
        for (m, last) in sig.marks.iter().zip(st.marks.iter_mut()) {
            if expr::eval(m, &cx, host).is_true() {
                *last = now;
            }
            wvals.push(if *last == NEVER {
                Cell::Null
            } else {
                Cell::Num(crate::keys::days_between(*last, now))
            });
        }
        // member aggregates follow: the member's latest value, then the area's
        if let Some((m, size)) = group {
            for ((agg, input), members) in sig.groups.iter().zip(st.groups.iter_mut()) {
                if *agg != crate::ir::GroupAgg::Size {
                    let v = match expr::eval(input, &cx, host) {
                        Cell::Num(n) => Fixed::from_f64(n).map(|f| f.0),
                        Cell::Bool(b) => Some(if b { Fixed::SCALE } else { 0 }),
                        _ => None,
                    };
                    crate::keys::set_member(members, m, v);
                }
                wvals.push(
                    crate::keys::member_value(*agg, members, size).map_or(Cell::Null, Cell::Num),
                );
            }
        }
    }
    lets.clear();
    for l in &sig.lets {
        let v = expr::eval_fast(
            l,
            &Cx {
                fields: &ev.fields,
                consts,
                lets,
                windows: wvals,
                row,
                kind: ev.kind,
                ms: now,
            },
            host,
        );
        lets.push(v);
    }
    let cx = Cx {
        fields: &ev.fields,
        consts,
        lets,
        windows: wvals,
        row,
        kind: ev.kind,
        ms: now,
    };
    // for a ladder, exactly the rules from the first that holds on hold
    let mask = match &sig.levels {
        Levels::Ladder(l) => {
            let up = l.first_holding(expr::eval(&l.subject, &cx, host));
            ladder_mask(up, l.thresholds.len())
        }
        Levels::Rules(_) => 0,
    };
    let mut cond = CConditions {
        levels: &sig.levels,
        clears: &sig.clears,
        cx: &cx,
        host,
        mask,
    };
    let rules = &sig.rules;
    let observed = crate::levels::observe(rules, &mut st.core, now, &mut cond);
    // failed script calls are reported before any change they affected
    cond.host.report(extras);
    let step = crate::levels::decide(rules, sig.step_down, &mut st.core, now, observed, &mut cond);
    // (and those of the re-check of a level entered on the way down)
    cond.host.report(extras);
    Some((step?, now))
}

/// Index of the rule of level `to`.
#[inline]
fn rule_of(levels: &[Level], to: Level) -> Option<u32> {
    levels
        .iter()
        .position(|l| *l == to)
        .and_then(|i| u32::try_from(i).ok())
}

/// Per-key states of one signal.
#[derive(Debug, Default)]
struct Store {
    /// Interned key id → index in `states` plus one (0: none).
    slot: Vec<u32>,
    /// States, in order of first appearance.
    states: Vec<KeyState>,
    /// Key id of each state.
    ids: Vec<u32>,
}

impl Store {
    #[inline]
    fn get(&self, key: u32) -> Option<&KeyState> {
        let i = self.slot.get(key as usize).copied().unwrap_or(0);
        self.states.get((i as usize).wrapping_sub(1))
    }

    #[inline]
    fn get_or_insert(
        &mut self,
        key: u32,
        make: impl FnOnce() -> KeyState,
    ) -> Option<&mut KeyState> {
        let k = key as usize;
        if k >= self.slot.len() {
            self.slot.resize(k + 1, 0);
        }
        let slot = self.slot.get_mut(k)?;
        if *slot == 0 {
            self.states.push(make());
            self.ids.push(key);
            *slot = u32::try_from(self.states.len()).unwrap_or(u32::MAX);
        }
        let i = (*slot as usize).wrapping_sub(1);
        self.states.get_mut(i)
    }

    fn heap_bytes(&self) -> usize {
        self.slot.capacity() * 4
            + self.ids.capacity() * 4
            + self.states.capacity() * std::mem::size_of::<KeyState>()
            + self
                .states
                .iter()
                .map(|k| match &k.windows {
                    Win::None => 0,
                    Win::Flat(f) => f.heap_bytes(),
                    Win::Generic(g) => g.heap_bytes(),
                })
                .sum::<usize>()
    }
}

#[derive(Debug)]
struct CSignal {
    name: Arc<str>,
    residual: Option<CExpr>,
    layout: WinLayout,
    /// Number of windows.
    nwindows: usize,
    inputs: Vec<CExpr>,
    lets: Vec<CExpr>,
    let_names: Vec<Arc<str>>,
    levels: Levels,
    rule_levels: Vec<Level>,
    /// The level machine's view of the rules.
    rules: Vec<crate::levels::Rule>,
    /// Per rule, its `clear` condition.
    clears: Vec<Option<CExpr>>,
    step_down: bool,
    rule_texts: Vec<(Arc<str>, Arc<str>)>,
    /// The rows of the signal's table, and each row's index by key.
    rows: Vec<Vec<Value>>,
    table_rows: FxHashMap<Arc<str>, u32>,
    states: Store,
    /// Whether any of its expressions calls a script (evaluated with a
    /// [`ScriptHost`]; the ladder and the direct path are not used).
    scripts: bool,
    /// Absence: the silence that makes a key absent.
    missing_ms: Option<i64>,
    /// Absence: the keys expected from the start of the stream.
    roster: Vec<Arc<str>>,
    /// The name of the table the signal reads, if any.
    table: Option<Arc<str>>,
    /// The conditions of its `days_since` calls.
    marks: Vec<CExpr>,
    /// `via`: each member's areas.
    via: Option<crate::ir::Via>,
    /// `via`: the `members()` of each area.
    via_sizes: FxHashMap<Arc<str>, usize>,
    /// Its member aggregates.
    groups: Vec<(crate::ir::GroupAgg, CExpr)>,
}

/// Keys of one signal converted for [`CompiledEngine::import_keys`].
#[derive(Debug)]
pub struct Imported(Vec<(Arc<str>, KeyState)>);

/// Interned keys: each distinct key text once, as a `u32`.
#[derive(Debug, Default)]
struct Interner {
    ids: FxHashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    #[inline]
    fn intern(&mut self, s: &str) -> u32 {
        self.intern_shared(s, None)
    }

    /// [`Interner::intern`], keeping `shared` (the event's own text, when
    /// it has one) instead of copying the text for a new key.
    #[inline]
    fn intern_shared(&mut self, s: &str, shared: Option<&Arc<str>>) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        let name: Arc<str> = shared.cloned().unwrap_or_else(|| Arc::from(s));
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }
}

/// A level change, without allocation: indices into the engine's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// Signal index (as in [`Program::signals`]).
    pub signal: u32,
    /// Interned key id (see [`CompiledEngine::key_name`]).
    pub key: u32,
    /// Level before.
    pub from: Level,
    /// Level now.
    pub to: Level,
    /// Index of the rule that now holds, if any.
    pub rule: Option<u32>,
    /// The event's sequence number.
    pub event: u64,
    /// Event time in ms.
    pub ts_ms: i64,
    /// Since when the deciding condition has held (ms).
    pub since_ms: i64,
    /// `raise`, `clear` or `step_down`.
    pub reason: crate::output::ChangeReason,
}

/// The compiled engine: drop-in for [`crate::Engine::push`].
///
/// ```
/// # use yingji_engine::{compiled::CompiledEngine, Engine, ir::*, value::*};
/// let p = Program {
///     fields: vec!["station".into(), "mm".into()],
///     kinds: vec![KindDef { name: "rain".into(), fields: vec![
///         FieldDef { id: 0, ty: Type::String, optional: false },
///         FieldDef { id: 1, ty: Type::Number, optional: false }] }],
///     signals: vec![SignalDef {
///         name: "heavy".into(), at: String::new(), kinds: vec![0], filter: None, key: 0,
///         windows: vec![], lets: vec![], step_down: false, missing_ms: None, roster: vec![],
///         lateness_ms: None, table: None, marks: vec![], via: None, groups: vec![], feeds: None,
///         levels: vec![LevelRule { level: Level::Red, text: "red when mm >= 10".into(), at: String::new(),
///             when: Expr::Binary(BinOp::Ge, Box::new(Expr::Field(1)), Box::new(Expr::Const(Value::Num(10.0)))),
///             for_ms: 0, for_readings: 0, clear: None, hold_ms: 0 }],
///     }],
///     tables: vec![],
///     scripts: Default::default(),
/// };
/// let reference = Engine::new(p.clone()).unwrap();
/// let mut fast = CompiledEngine::new(&p).unwrap();
/// let ev = reference.parse_event(r#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","station":"A","mm":12}"#, 1).unwrap();
/// let mut out = Vec::new();
/// fast.push(&ev, &mut out).unwrap();
/// assert_eq!(out.len(), 1);
/// ```
#[derive(Debug)]
pub struct CompiledEngine {
    /// Per signal: the feature that keeps it on the reference (`None`: compiled).
    unsupported: Vec<Option<&'static str>>,
    field_names: Vec<String>,
    consts: Vec<Arc<str>>,
    kinds: Vec<KindIndex>,
    signals: Vec<CSignal>,
    /// Per signal, its [`Hot`] record (same indices as `signals`).
    hot: Vec<Hot>,
    keys: Interner,
    candidates: Vec<u32>,
    targets: Vec<(u32, u32)>,
    /// The event's key for the first signal it feeds (a `via` signal's
    /// member), found by [`CompiledEngine::check`].
    first_key: Option<u32>,
    /// The next of `targets` to apply (a mixed event, see [`CompiledEngine::prepare`]).
    cursor: usize,
    lets: Vec<Cell>,
    /// Window values of the key being evaluated.
    wvals: Vec<Cell>,
    /// Text results of the script calls of the key being evaluated.
    scratch: Vec<Value>,
    /// Outputs of the key being evaluated other than its level change.
    extras: Vec<Output>,
    key_text: String,
}

impl CompiledEngine {
    /// Compiles `program`; fails on a structurally invalid program and on
    /// one that uses a feature only the reference engine implements.
    pub fn new(program: &Program) -> Result<CompiledEngine, CompileError> {
        program.validate()?;
        if let Some(e) = unsupported(program) {
            return Err(e);
        }
        Self::build(program, &[])
    }

    /// Compiles every signal of `program` on its own: a signal using a
    /// feature only the reference evaluator implements is left out of the
    /// kind index (it is never fed; see [`CompiledEngine::is_compiled`] and
    /// [`CompiledEngine::unsupported_feature`]), the others run compiled.
    /// Fails only on a structurally invalid program.
    pub fn per_signal(program: &Program) -> Result<CompiledEngine, CompileError> {
        Self::per_signal_except(program, &[])
    }

    /// [`CompiledEngine::per_signal`], leaving the signals at the indices in
    /// `except` to the reference too (see [`crate::Engine::reference_for`]).
    pub fn per_signal_except(
        program: &Program,
        except: &[usize],
    ) -> Result<CompiledEngine, CompileError> {
        program.validate()?;
        Self::build(program, except)
    }

    /// Whether signal `signal` runs on the compiled path.
    pub fn is_compiled(&self, signal: usize) -> bool {
        matches!(self.unsupported.get(signal), Some(None))
    }

    /// Why signal `signal` does not run compiled (`None`: it does).
    pub fn unsupported_feature(&self, signal: usize) -> Option<&'static str> {
        self.unsupported.get(signal).copied().flatten()
    }

    fn build(program: &Program, except: &[usize]) -> Result<CompiledEngine, CompileError> {
        let unsupported: Vec<Option<&'static str>> = program
            .signals
            .iter()
            .enumerate()
            .map(|(i, s)| unsupported_signal(s).or_else(|| except.contains(&i).then_some(FORCED)))
            .collect();
        let mut consts = Consts::default();
        let mut kinds: Vec<KindIndex> =
            program.kinds.iter().map(|_| KindIndex::default()).collect();
        let mut signals = Vec::with_capacity(program.signals.len());
        let mut hot = Vec::with_capacity(program.signals.len());
        let mut keys = Interner::default();
        for (i, s) in program.signals.iter().enumerate() {
            let filter = s.filter.as_ref().map(|f| expr::compile(f, &mut consts));
            let split = index::split(filter, &consts);
            let sig = u32::try_from(i).map_err(|_| ProgramError {
                signal: s.name.clone(),
                problem: "too many signals".into(),
            })?;

            // a signal left to the reference is never fed
            if matches!(unsupported.get(i), Some(None)) {
                for k in &s.kinds {
                    if let Some(ki) = kinds.get_mut(usize::from(*k)) {
                        ki.add(sig, split.eq.as_ref());
                    }
                }
            }
            // an index hit on the key field with a text constant decides the key
            // (a `via` signal's key field names a member, not its key)
            let fixed_key = match &split.eq {
                Some((f, index::EqKey::Str(text))) if *f == s.key && s.via.is_none() => {
                    Some(keys.intern(text))
                }
                _ => None,
            };
            let table = s.table.and_then(|t| program.tables.get(usize::from(t)));
            let reference = WindowLayout::new(&s.windows);
            let inputs = reference
                .inputs()
                .map(|e| expr::compile(e, &mut consts))
                .collect();
            let layout = if s.windows.is_empty() {
                WinLayout::None
            } else {
                FlatLayout::new(&s.windows).map_or(WinLayout::Generic(reference), WinLayout::Flat)
            };
            let rules: Vec<CExpr> = s
                .levels
                .iter()
                .map(|r| expr::compile_in(&r.when, &mut consts, s.windows.len(), s.marks.len()))
                .collect();
            let scripts = uses_scripts(s);
            // a ladder evaluates its subject once for all rules; a script
            // call is made once per rule, as the reference makes it
            let ladder = if scripts {
                None
            } else {
                Ladder::detect(&rules)
            };
            let mut h = Hot {
                thresholds: [0.0; MAX_RULES],
                core: Core::new(0),
                fixed_key: fixed_key.unwrap_or(NO_KEY),
                key_field: s.key,
                subject: 0,
                levels: [Level::None; MAX_RULES],
                rules: u8::try_from(s.levels.len()).unwrap_or(u8::MAX),
                op: Cmp::Ge,
                direct: false,
                residual: split.residual.is_some(),
                seen: false,
            };
            for (slot, r) in h.levels.iter_mut().zip(&s.levels) {
                *slot = r.level;
            }
            if let (Some(l), Some(_), None, true, true) = (
                &ladder,
                fixed_key,
                &split.residual,
                s.windows.is_empty(),
                s.lets.is_empty(),
            ) && let CExpr::Field(f) = l.subject
                && l.thresholds.len() <= MAX_RULES
                // the direct step knows no level dynamics
                && !s.step_down
                && s.table.is_none()
                && s.missing_ms.is_none()
                && s.roster.is_empty()
                && s.marks.is_empty()
                && s.levels.iter().all(|r| {
                    r.for_ms == 0 && r.for_readings <= 1 && r.clear.is_none() && r.hold_ms == 0
                })
            {
                h.direct = true;
                h.subject = f;
                h.op = l.op;
                for (slot, t) in h.thresholds.iter_mut().zip(&l.thresholds) {
                    *slot = *t;
                }
            }
            hot.push(h);
            signals.push(CSignal {
                name: Arc::from(s.name.as_str()),
                residual: split.residual,
                layout,
                nwindows: s.windows.len(),
                inputs,
                lets: s
                    .lets
                    .iter()
                    .map(|l| expr::compile_in(&l.expr, &mut consts, s.windows.len(), s.marks.len()))
                    .collect(),
                let_names: s.lets.iter().map(|l| Arc::from(l.name.as_str())).collect(),
                levels: match ladder {
                    Some(l) => Levels::Ladder(l),
                    None => Levels::Rules(rules),
                },
                rule_levels: s.levels.iter().map(|r| r.level).collect(),
                rules: s.levels.iter().map(crate::levels::Rule::of).collect(),
                clears: s
                    .levels
                    .iter()
                    .map(|r| {
                        r.clear.as_ref().map(|c| {
                            expr::compile_in(c, &mut consts, s.windows.len(), s.marks.len())
                        })
                    })
                    .collect(),
                step_down: s.step_down,
                rows: table
                    .map(|t| t.rows.iter().map(|(_, v)| v.clone()).collect())
                    .unwrap_or_default(),
                table_rows: table
                    .map(|t| {
                        t.rows
                            .iter()
                            .enumerate()
                            .map(|(i, (k, _))| {
                                (Arc::from(k.as_str()), u32::try_from(i).unwrap_or(u32::MAX))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                rule_texts: s
                    .levels
                    .iter()
                    .map(|r| (Arc::from(r.text.as_str()), Arc::from(r.at.as_str())))
                    .collect(),
                states: Store::default(),
                scripts,
                missing_ms: s.missing_ms,
                roster: s.roster.iter().map(|r| Arc::from(r.as_str())).collect(),
                table: table.map(|t| Arc::from(t.name.as_str())),
                marks: s
                    .marks
                    .iter()
                    .map(|m| expr::compile(m, &mut consts))
                    .collect(),
                via: s.via.clone(),
                via_sizes: crate::operators::signals::via_sizes(s),
                groups: s
                    .groups
                    .iter()
                    .map(|g| (g.agg, expr::compile(&g.input, &mut consts)))
                    .collect(),
            });
        }
        for k in &mut kinds {
            k.mark_direct(|s| hot.get(s as usize).is_some_and(|h| h.direct));
        }
        Ok(CompiledEngine {
            unsupported,
            field_names: program.fields.clone(),
            consts: consts.strings,
            kinds,
            signals,
            hot,
            keys,
            candidates: Vec::new(),
            targets: Vec::new(),
            first_key: None,
            cursor: 0,
            lets: Vec::new(),
            wvals: Vec::new(),
            scratch: Vec::new(),
            extras: Vec::new(),
            key_text: String::new(),
        })
    }

    /// Number of signals whose level rules compiled to a threshold ladder.
    pub fn ladder_count(&self) -> usize {
        self.signals
            .iter()
            .filter(|s| matches!(s.levels, Levels::Ladder(_)))
            .count()
    }

    /// Number of per-kind field equality indexes built.
    pub fn indexed_count(&self) -> usize {
        self.kinds.iter().map(|k| k.by_field.len()).sum::<usize>()
    }

    /// Whether any signal listens to this event's kind.
    pub fn is_used(&self, kind: Option<KindId>) -> bool {
        kind.and_then(|k| self.kinds.get(usize::from(k)))
            .is_some_and(|k| !k.always.is_empty() || !k.by_field.is_empty())
    }

    /// The text of an interned key.
    pub fn key_name(&self, key: u32) -> Option<&Arc<str>> {
        self.keys.names.get(key as usize)
    }

    /// The name of signal `signal`.
    pub fn signal_name(&self, signal: u32) -> Option<&Arc<str>> {
        self.signals.get(signal as usize).map(|s| &s.name)
    }

    /// The current level of `key` in `signal`.
    pub fn level(&self, signal: &str, key: &str) -> Level {
        let Some(&id) = self.keys.ids.get(key) else {
            return Level::None;
        };
        let Some(i) = self.signals.iter().position(|s| s.name.as_ref() == signal) else {
            return Level::None;
        };
        match self.hot.get(i) {
            Some(h) if h.direct => {
                if h.seen && h.fixed_key == id {
                    h.core.level
                } else {
                    Level::None
                }
            }
            _ => self
                .signals
                .get(i)
                .and_then(|s| s.states.get(id))
                .map_or(Level::None, |k| k.core.level),
        }
    }

    /// Number of keys held over all signals.
    pub fn key_count(&self) -> usize {
        self.signals
            .iter()
            .map(|s| s.states.states.len())
            .sum::<usize>()
            + self.hot.iter().filter(|h| h.direct && h.seen).count()
    }

    /// Approximate bytes of per-key state (hash tables, window buffers, interned names).
    pub fn state_bytes(&self) -> usize {
        let per_signal: usize = self
            .signals
            .iter()
            .map(|s| s.states.heap_bytes())
            .sum::<usize>()
            + self.hot.iter().filter(|h| h.direct && h.seen).count() * std::mem::size_of::<Hot>();
        let interner = self.keys.ids.capacity() * (std::mem::size_of::<(Arc<str>, u32)>() + 1)
            + self.keys.names.capacity() * std::mem::size_of::<Arc<str>>()
            + self.keys.names.iter().map(|n| n.len() + 16).sum::<usize>();
        per_signal + interner
    }

    /// Applies one event, appending [`Output`]s exactly as [`crate::Engine::push`] would.
    pub fn push(&mut self, ev: &Event, out: &mut Vec<Output>) -> Result<(), PushError> {
        self.push_inner(ev, &[], None, |eng, e| match e {
            Emitted::Change(c) => out.push(eng.output(ev, c)),
            // a key without a table row (`table_miss`)
            Emitted::Other(_, o) => out.push(*o),
        })
        .map(|_| ())
    }

    /// Applies one event, calling `sink` with each level change (no allocation).
    ///
    /// `sink` receives the engine (for names and the change's values, see
    /// [`CompiledEngine::output`]) and the change.
    pub fn push_with(
        &mut self,
        ev: &Event,
        sink: impl FnMut(&Self, Change),
    ) -> Result<(), PushError> {
        self.push_skipping(ev, &[], sink).map(|_| ())
    }

    /// [`CompiledEngine::push_with`], leaving out the signals listed in
    /// `skip` (the streaming engine's late-for-these-signals list); returns
    /// whether the event fed at least one signal.
    pub fn push_skipping(
        &mut self,
        ev: &Event,
        skip: &[u16],
        mut sink: impl FnMut(&Self, Change),
    ) -> Result<bool, PushError> {
        self.push_inner(ev, skip, None, |eng, e| {
            if let Emitted::Change(c) = e {
                sink(eng, c);
            }
        })
    }

    /// The signals operator's entry: [`CompiledEngine::push_skipping`] with
    /// its script runtime and absence timers lent, so that signals with
    /// script calls or `missing` run compiled too. `emit` receives every
    /// output with its signal's index, in the reference's order (a
    /// recovery, then failed script calls, then the level change).
    pub(crate) fn push_operator(
        &mut self,
        ev: &Event,
        skip: &[u16],
        svc: &mut Services<'_>,
        mut emit: impl FnMut(u32, Output),
    ) -> Result<bool, PushError> {
        self.push_inner(ev, skip, Some(svc), |eng, e| match e {
            Emitted::Change(c) => emit(c.signal, eng.output(ev, c)),
            Emitted::Other(s, o) => emit(s, *o),
        })
    }

    /// Phase one of a mixed event (some signals of its kind on the
    /// reference): finds the (signal, key) pairs the event feeds, changing
    /// nothing; [`CompiledEngine::apply_before`] then applies them in
    /// signal order between the reference signals. Returns whether the
    /// event feeds any compiled signal.
    pub(crate) fn prepare(&mut self, ev: &Event, skip: &[u16]) -> Result<bool, PushError> {
        self.cursor = 0;
        self.targets.clear();
        let Some(kind) = ev.kind.and_then(|k| self.kinds.get(usize::from(k))) else {
            return Ok(false);
        };
        let mut candidates = std::mem::take(&mut self.candidates);
        kind.candidates(&ev.fields, &mut candidates);
        if !skip.is_empty() {
            candidates.retain(|&s| u16::try_from(s).map_or(true, |s| !skip.contains(&s)));
        }
        let checked = self.check(ev, &candidates);
        self.candidates = candidates;
        if let Err(e) = checked {
            self.targets.clear();
            return Err(e);
        }
        Ok(!self.targets.is_empty())
    }

    /// Applies the prepared targets of the signals before `before` (see
    /// [`CompiledEngine::prepare`]), emitting their outputs in order.
    pub(crate) fn apply_before(
        &mut self,
        ev: &Event,
        before: usize,
        svc: &mut Services<'_>,
        mut emit: impl FnMut(u32, Output),
    ) {
        while let Some(&(s, k)) = self.targets.get(self.cursor) {
            if s as usize >= before {
                break;
            }
            self.cursor += 1;
            let change = self.apply(s, k, ev, Some(svc));
            for o in self.extras.drain(..) {
                emit(s, o);
            }
            if let Some(c) = change {
                emit(s, self.output(ev, c));
            }
        }
    }

    fn push_inner(
        &mut self,
        ev: &Event,
        skip: &[u16],
        mut svc: Option<&mut Services<'_>>,
        mut sink: impl FnMut(&Self, Emitted),
    ) -> Result<bool, PushError> {
        let Some(kind) = ev.kind.and_then(|k| self.kinds.get(usize::from(k))) else {
            return Ok(false);
        };
        // one bucket of direct signals: they cannot fail and need no key
        // lookup, so no checking phase; apply them in one pass
        if skip.is_empty()
            && let Some(sole) = kind.sole_bucket(&ev.fields)
        {
            let Some(bucket) = sole else {
                return Ok(false);
            };
            if bucket.direct {
                for &s in &bucket.signals {
                    let change = self
                        .hot
                        .get_mut(s as usize)
                        .and_then(|h| h.apply_direct(s, ev));
                    if let Some(c) = change {
                        sink(self, Emitted::Change(c));
                    }
                }
                return Ok(!bucket.signals.is_empty());
            }
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        kind.candidates(&ev.fields, &mut candidates);
        if !skip.is_empty() {
            candidates.retain(|&s| u16::try_from(s).map_or(true, |s| !skip.contains(&s)));
        }
        let checked = self.check(ev, &candidates);
        self.candidates = candidates;
        checked?;
        for i in 0..self.targets.len() {
            let Some(&(s, k)) = self.targets.get(i) else {
                break;
            };
            let change = self.apply(s, k, ev, svc.as_deref_mut());
            if !self.extras.is_empty() {
                let mut extras = std::mem::take(&mut self.extras);
                for o in extras.drain(..) {
                    sink(self, Emitted::Other(s, Box::new(o)));
                }
                self.extras = extras;
            }
            if let Some(c) = change {
                sink(self, Emitted::Change(c));
            }
        }
        Ok(!self.targets.is_empty())
    }

    /// Checks that every signal the event feeds can find its key, changing
    /// no state (as the streaming engine does before it buffers an event);
    /// returns the key of the first signal it feeds.
    pub fn check_keys(&mut self, ev: &Event) -> Result<Option<Arc<str>>, PushError> {
        let Some(kind) = ev.kind.and_then(|k| self.kinds.get(usize::from(k))) else {
            return Ok(None);
        };
        if let Some(sole) = kind.sole_bucket(&ev.fields) {
            let Some(bucket) = sole else {
                return Ok(None);
            };
            if bucket.direct {
                let first = bucket
                    .signals
                    .first()
                    .and_then(|&s| self.hot.get(s as usize));
                return Ok(first.and_then(|h| self.key_name(h.fixed_key)).cloned());
            }
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        kind.candidates(&ev.fields, &mut candidates);
        let checked = self.check(ev, &candidates);
        self.candidates = candidates;
        checked?;
        Ok(self.first_key.and_then(|k| self.key_name(k)).cloned())
    }

    /// The state of every key of signal `signal` in the reference engine's
    /// form (for snapshots), in no particular order.
    pub fn export_keys(&self, signal: usize) -> Vec<(Arc<str>, crate::keys::KeyState)> {
        let Some(sig) = self.signals.get(signal) else {
            return Vec::new();
        };
        let rules = sig.rule_levels.len();
        if let Some(h) = self.hot.get(signal).filter(|h| h.direct) {
            return match self.key_name(h.fixed_key) {
                Some(name) if h.seen => {
                    vec![(name.clone(), h.core.export(rules, WindowState::default()))]
                }
                _ => Vec::new(),
            };
        }
        sig.states
            .ids
            .iter()
            .zip(&sig.states.states)
            .filter_map(|(&id, st)| {
                let windows = match (&sig.layout, &st.windows) {
                    (WinLayout::Flat(l), Win::Flat(w)) => l.to_reference(w)?,
                    (_, Win::Generic(w)) => w.clone(),
                    _ => WindowState::default(),
                };
                let mut k = st.core.export(rules, windows);
                k.marks = st
                    .marks
                    .iter()
                    .map(|&t| (t != NEVER).then_some(t))
                    .collect();
                k.groups = st.groups.clone();
                k.row = st.row;
                k.seen = st.seen;
                k.absent = st.absent;
                Some((self.key_name(id)?.clone(), k))
            })
            .collect()
    }

    /// Converts the reference form of signal `signal`'s keys (from a
    /// snapshot) into this engine's; nothing changes until
    /// [`CompiledEngine::import_keys`]. Fails when a key's windows do not
    /// have the signal's shape.
    pub fn prepare_import(
        &self,
        signal: usize,
        keys: &[(Arc<str>, crate::keys::KeyState)],
    ) -> Result<Imported, String> {
        let Some(sig) = self.signals.get(signal) else {
            return Ok(Imported(Vec::new()));
        };
        keys.iter()
            .map(|(name, k)| {
                let windows = match &sig.layout {
                    WinLayout::None => Win::None,
                    WinLayout::Flat(l) => {
                        Win::Flat(l.from_reference(&k.windows).ok_or_else(|| {
                            format!(
                                "signal `{}`, key `{name}`: windows of another shape",
                                sig.name
                            )
                        })?)
                    }
                    WinLayout::Generic(_) => Win::Generic(k.windows.clone()),
                };
                Ok((
                    name.clone(),
                    KeyState {
                        core: Core::import(k),
                        windows,
                        row: k.row,
                        seen: k.seen,
                        absent: k.absent,
                        marks: k.marks.iter().map(|t| t.unwrap_or(NEVER)).collect(),
                        groups: k.groups.clone(),
                    },
                ))
            })
            .collect::<Result<Vec<_>, String>>()
            .map(Imported)
    }

    /// What the absence timer of `key` of signal `signal`, due at
    /// `deadline`, does (see [`crate::operators::signals::Due`]); `None`
    /// when the key is unknown.
    pub(crate) fn absence_due(
        &mut self,
        signal: usize,
        key: &str,
        deadline: i64,
        missing: i64,
    ) -> Option<crate::operators::signals::Due> {
        let id = *self.keys.ids.get(key)?;
        let sig = self.signals.get_mut(signal)?;
        let i = (sig.states.slot.get(id as usize).copied()? as usize).checked_sub(1)?;
        let st = sig.states.states.get_mut(i)?;
        Some(crate::operators::signals::absence_due(
            &mut st.absent,
            st.seen,
            st.core.last_ms,
            deadline,
            missing,
        ))
    }

    /// Adds roster key `key` of signal `signal`, expected from `first_ms`
    /// and not yet seen; `false` when the key is already held.
    pub(crate) fn expect_key(&mut self, signal: usize, key: &str, first_ms: i64) -> bool {
        let id = self.keys.intern(key);
        let Some(sig) = self.signals.get_mut(signal) else {
            return false;
        };
        if sig.states.get(id).is_some() {
            return false;
        }
        let layout = &sig.layout;
        let row = sig.table_rows.get(key).copied();
        sig.states
            .get_or_insert(id, || KeyState {
                core: Core::new(first_ms),
                windows: layout.new_state(),
                row,
                seen: false,
                absent: false,
                marks: vec![NEVER; sig.marks.len()],
                groups: vec![Vec::new(); sig.groups.len()],
            })
            .is_some()
    }

    /// Replaces the state of every key of signal `signal` (a restore).
    pub fn import_keys(&mut self, signal: usize, keys: Imported) {
        let (Some(sig), Some(h)) = (self.signals.get_mut(signal), self.hot.get_mut(signal)) else {
            return;
        };
        sig.states = Store::default();
        if h.direct {
            h.seen = false;
            let fixed = self.keys.names.get(h.fixed_key as usize);
            if let Some((_, k)) = keys.0.into_iter().find(|(n, _)| Some(n) == fixed) {
                h.core = k.core;
                h.seen = true;
            }
            return;
        }
        for (name, k) in keys.0 {
            let id = self.keys.intern(&name);
            if let Some(slot) = sig.states.get_or_insert(id, || k.clone()) {
                *slot = k;
            }
        }
    }

    /// Phase one: which (signal, key) pairs the event feeds; an error leaves state untouched.
    fn check(&mut self, ev: &Event, candidates: &[u32]) -> Result<(), PushError> {
        self.targets.clear();
        self.first_key = None;
        for &s in candidates {
            let Some(h) = self.hot.get(s as usize) else {
                continue;
            };
            if h.residual {
                let residual = self
                    .signals
                    .get(s as usize)
                    .and_then(|c| c.residual.as_ref());
                if let Some(f) = residual {
                    // a filter sees no table row (as in the reference)
                    let cx = Cx {
                        fields: &ev.fields,
                        consts: &self.consts,
                        lets: &[],
                        windows: &[],
                        row: &[],
                        kind: ev.kind,
                        ms: ev.ts.ms,
                    };
                    if !expr::eval(f, &cx, &mut Pure).is_true() {
                        continue;
                    }
                }
            }
            if h.fixed_key != NO_KEY {
                if self.first_key.is_none() {
                    self.first_key = Some(h.fixed_key);
                }
                self.targets.push((s, h.fixed_key));
                continue;
            }
            let field = ev.fields.get(usize::from(h.key_field));
            let shared = match field {
                Some(Value::Str(s)) => Some(s),
                _ => None,
            };
            let text: &str = match field {
                Some(Value::Str(s)) => s,
                Some(Value::Num(n)) => {
                    self.key_text.clear();
                    // writing into a String cannot fail
                    let _ = write!(self.key_text, "{n}");
                    &self.key_text
                }
                Some(Value::Bool(b)) => {
                    if *b {
                        "true"
                    } else {
                        "false"
                    }
                }
                _ => {
                    return Err(PushError::NoKey {
                        signal: self
                            .signals
                            .get(s as usize)
                            .map(|c| c.name.to_string())
                            .unwrap_or_default(),
                        field: self
                            .field_names
                            .get(usize::from(h.key_field))
                            .cloned()
                            .unwrap_or_default(),
                    });
                }
            };
            // a `via` signal: the member's areas, in the order written (the
            // member is the event's key, as for the reference)
            if let Some(via) = self.signals.get(s as usize).and_then(|c| c.via.as_ref()) {
                if self.first_key.is_none() {
                    self.first_key = Some(self.keys.intern_shared(text, shared));
                }
                for a in via.areas(text) {
                    let key = self.keys.intern(a);
                    self.targets.push((s, key));
                }
                continue;
            }
            let key = self.keys.intern_shared(text, shared);
            if self.first_key.is_none() {
                self.first_key = Some(key);
            }
            self.targets.push((s, key));
        }
        Ok(())
    }

    /// Phase two for one target: the reference engine's `apply` for the
    /// features compiled (absence and script calls need `svc`).
    fn apply(
        &mut self,
        s: u32,
        key: u32,
        ev: &Event,
        svc: Option<&mut Services<'_>>,
    ) -> Option<Change> {
        if let Some(h) = self.hot.get_mut(s as usize).filter(|h| h.direct) {
            return h.apply_direct(s, ev);
        }
        // a `via` signal's reading is its member's
        let member = match (
            self.signals
                .get(s as usize)
                .is_some_and(|c| c.via.is_some()),
            self.hot.get(s as usize),
        ) {
            (true, Some(h)) => match ev.fields.get(usize::from(h.key_field)) {
                Some(Value::Str(t)) => Some(t.clone()),
                Some(v @ (Value::Num(_) | Value::Bool(_))) => Some(Arc::from(v.to_string())),
                _ => None,
            },
            _ => None,
        };
        let CompiledEngine {
            signals,
            keys,
            consts,
            lets,
            wvals,
            scratch,
            extras,
            ..
        } = self;
        let sig = signals.get_mut(s as usize)?;
        let name = keys.names.get(key as usize)?;
        let mut states = std::mem::take(&mut sig.states);
        let fresh = states.get(key).is_none();
        let step = states
            .get_or_insert(key, || KeyState {
                core: Core::new(ev.ts.ms),
                windows: sig.layout.new_state(),
                row: sig.table_rows.get(name).copied(),
                seen: false,
                absent: false,
                marks: vec![NEVER; sig.marks.len()],
                groups: vec![Vec::new(); sig.groups.len()],
            })
            .and_then(|st| {
                let mut svc = svc;
                if fresh
                    && let Some(svc) = svc.as_deref_mut()
                    && let Some(last) = svc.gone.remove(&(s as u16, name.clone()))
                {
                    // forgotten while absent: its return is a recovery
                    st.seen = true;
                    st.absent = true;
                    st.core.last_ms = last;
                }
                if let Some(m) = &member {
                    st.row = sig.table_rows.get(m).copied();
                }
                let prior = st.core.last_ms;
                let now = st.core.advance(ev.ts.ms);
                let reading = crate::operators::signals::Reading {
                    signal: s as u16,
                    name: &sig.name,
                    key: name,
                    ev,
                    prior,
                    now,
                };
                reading.before(
                    crate::operators::signals::Seen {
                        seen: st.seen,
                        absent: &mut st.absent,
                        has_row: st.row.is_some(),
                    },
                    sig.missing_ms
                        .zip(svc.as_deref_mut())
                        .map(|(m, svc)| (m, &mut *svc.absence)),
                    || sig.roster.iter().any(|r| r == name),
                    sig.table.as_deref().filter(|_| member.is_none()),
                    extras,
                );
                let group = member
                    .as_ref()
                    .map(|m| (m, sig.via_sizes.get(name).copied().unwrap_or(0)));
                st.seen = true;
                match (sig.scripts, svc) {
                    (true, Some(svc)) => {
                        let mut host = ScriptHost {
                            rt: svc.scripts,
                            signal: sig.name.clone(),
                            key: name.clone(),
                            event: ev.seq,
                            ts: ev.ts,
                            scratch: std::mem::take(scratch),
                        };
                        host.scratch.clear();
                        let step = evaluate(
                            sig, st, ev, now, group, consts, lets, wvals, &mut host, extras,
                        );
                        *scratch = host.scratch;
                        step
                    }
                    _ => evaluate(
                        sig, st, ev, now, group, consts, lets, wvals, &mut Pure, extras,
                    ),
                }
            });
        sig.states = states;
        let (step, now) = step?;
        Some(Change {
            signal: s,
            key,
            from: step.from,
            to: step.to,
            rule: step.fired.and_then(|i| u32::try_from(i).ok()),
            event: ev.seq,
            ts_ms: now,
            since_ms: step.since,
            reason: step.reason,
        })
    }

    /// Builds the reference [`Output`] for a change just reported for `ev`
    /// (call from the `push_with` sink: the values are the signal's `let`s of
    /// that evaluation).
    pub fn output(&self, ev: &Event, c: Change) -> Output {
        let sig = self.signals.get(c.signal as usize);
        let rule = c
            .rule
            .and_then(|i| sig.and_then(|s| s.rule_texts.get(i as usize)));
        let row: &[Value] = sig
            .and_then(|s| {
                let r = s.states.get(c.key)?.row?;
                s.rows.get(r as usize)
            })
            .map_or(&[], Vec::as_slice);
        let cx = Cx {
            fields: &ev.fields,
            consts: &self.consts,
            lets: &[],
            windows: &[],
            row,
            kind: ev.kind,
            ms: c.ts_ms,
        };
        Output::LevelChanged(LevelChange {
            id: 0,
            ts: Timestamp {
                ms: c.ts_ms,
                offset_min: ev.ts.offset_min,
            },
            signal: sig.map_or_else(|| Arc::from(""), |s| s.name.clone()),
            key: self
                .key_name(c.key)
                .cloned()
                .unwrap_or_else(|| Arc::from("")),
            from: c.from,
            to: c.to,
            rule: rule.map(|r| r.0.clone()),
            rule_at: rule.map(|r| r.1.clone()),
            values: Values(
                sig.map(|s| {
                    s.let_names
                        .iter()
                        .cloned()
                        .zip(self.lets.iter().map(|v| v.to_value(&cx, &self.scratch)))
                        .collect()
                })
                .unwrap_or_default(),
            ),
            event: c.event,
            reason: c.reason,
            since: Timestamp {
                ms: c.since_ms,
                offset_min: ev.ts.offset_min,
            },
        })
    }
}
