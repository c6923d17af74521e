//! The runtime shell: one event-time clock for every part of the runtime.
//!
//! The shell owns ingestion (parsing, guards, duplicates, lateness:
//! `ingest`), the reorder buffer (`reorder`), the stream's clock
//! ([`clock`]: event time agreed by a quorum of sources) and the timeline
//! (`instant`): it releases events and the timers of its operators instant
//! by instant, in event-time order. The operators are
//!
//! - the signals ([`crate::operators::signals`]: windows, levels, absences),
//! - the plan runtime ([`crate::workflow::WorkflowRuntime`]: instances, 叫应
//!   calls, acks, step and tier timers),
//! - live reporting deadlines ([`crate::assess::live::LiveDeadlines`]),
//! - the script-failure reporter (inside the signals' [`crate::script::ScriptRt`]).
//!
//! Each keeps its own state, and the snapshot ([`crate::state`]) is the
//! shell's section plus one section per operator. The time model — what
//! "now" is, what is released when, how events and timers at one instant
//! are ordered, what the end of input does — is written down in
//! `ARCHITECTURE.md` ("Time model") and in `shell/instant.rs`.

pub mod clock;
mod ingest;
mod instant;
pub(crate) mod reorder;

pub use crate::error::{ClockError, LineError, PushError};
use crate::event::{Event, EventError, Schema};
use crate::ir::{KindId, Program, ProgramError};
use crate::operators::signals::Signals;
use crate::output::Output;
use crate::time::{MS_PER_DAY, MS_PER_MINUTE, Timestamp, format_duration};
use crate::value::Level;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What to do with an event behind the watermark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatePolicy {
    /// Emit a `late` record and leave the event out (default).
    #[default]
    Emit,
    /// Emit a `late` record and apply the event at the key's current time.
    Apply,
}

/// Run-time settings: the one configuration of every front end (the CLI's
/// flags, the stream, the JSON API of the bindings). Validation, the JSON
/// form (`Config::from_json`) and the settings a saved state depends on are
/// in [`crate::config`].
///
/// ```
/// use yingji_engine::{Config, LatePolicy};
/// let c = Config { lateness_ms: 10 * 60_000, late: LatePolicy::Apply, ..Config::default() };
/// assert_eq!(c.validate(), Ok(()));
/// assert_eq!(Config::from_json(&c.to_json()), Ok(c));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Allowed lateness in ms (default 5 min); signals may set their own.
    pub lateness_ms: i64,
    /// Late events: emitted or applied-and-flagged.
    pub late: LatePolicy,
    /// Treat events with the same kind, key and time as duplicates (events
    /// with the same `id` always are).
    pub dedupe_kind_key_ts: bool,
    /// Refuse events more than this far ahead of the stream's clock from a
    /// source that is not the only one (`clock_suspect`), and more than this
    /// ahead of the wall clock when one is given
    /// ([`Engine::set_wall_time`]); default 1 day; `None` disables both.
    pub max_ahead_ms: Option<i64>,
    /// Forget keys that sent nothing for this long (bounded memory). Must
    /// not be shorter than any signal's `missing` or longest window.
    pub idle_ttl_ms: Option<i64>,
    /// The longest event line accepted, in bytes (without its newline); a
    /// longer line is rejected (default 1 MiB).
    pub max_line: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lateness_ms: 5 * MS_PER_MINUTE,
            late: LatePolicy::Emit,
            dedupe_kind_key_ts: false,
            max_ahead_ms: Some(MS_PER_DAY),
            idle_ttl_ms: None,
            max_line: crate::config::DEFAULT_MAX_LINE,
        }
    }
}

/// Counters over the life of an engine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Events accepted (valid, not rejected).
    pub accepted: u64,
    /// Events applied to at least one signal.
    pub applied: u64,
    /// Events no definition listens to.
    pub ignored: u64,
    /// Events behind the watermark.
    pub late: u64,
    /// Duplicates recognised and not applied again.
    pub duplicates: u64,
    /// Idle keys forgotten.
    pub evicted: u64,
}

pub use crate::operators::signals::{KeyState, RuleState};

/// Released events kept for reuse as parse buffers.
const SPARE_EVENTS: usize = 64;

/// A running engine over one compiled [`Program`].
///
/// ```
/// # use yingji_engine::{engine::Engine, ir::*, value::*};
/// // hand-built IR: one signal, red when a single reading >= 10
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
/// let mut engine = Engine::new(p).unwrap();
/// let mut out = Vec::new();
/// engine.push_line(r#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","station":"A","mm":12}"#, 1, &mut out).unwrap();
/// engine.flush(&mut out); // end of stream: release what the lateness held back
/// assert_eq!(out.len(), 1);
/// assert_eq!(out[0].id(), 1);
/// ```
pub struct Engine {
    pub(crate) program: Arc<Program>,
    pub(crate) schema: Schema,
    /// The signals operator.
    pub(crate) signals: Signals,
    /// The plan operator (instances, 叫应, responses, measures), when plans are loaded.
    pub(crate) workflow: Option<crate::workflow::WorkflowRuntime>,
    /// The live reporting deadlines operator (事故灾害报送), when deadlines are defined.
    pub(crate) deadlines: Option<crate::assess::live::LiveDeadlines>,
    scratch_event: Option<Event>,
    /// Released events kept as parse buffers for [`Engine::push_line`]
    /// (at most [`SPARE_EVENTS`]): a line moves its parsed event into the
    /// reorder buffer instead of copying it.
    spare_events: Vec<Event>,
    /// Events of the instant being released (reused).
    group: Vec<reorder::Queued>,
    /// Outputs of the event being applied, handed to the plans (reused).
    produced: Vec<Output>,
    /// The plans' reactions to one of them (reused).
    reactions: Vec<Output>,
    /// The duplicate filters' entries by time, earliest first, so that
    /// forgetting what can no longer arrive in time costs O(log n) per
    /// entry instead of a sweep of the whole filter per release (rebuilt
    /// from the filters when they are restored).
    pub(crate) dedupe_by_time: DedupeByTime,
    /// Largest and smallest lateness over the run and every signal.
    lateness_range: (i64, i64),
    pub(crate) config: Config,
    /// The stream's clock (see [`clock`]).
    pub(crate) clock: clock::SourceClock,
    /// Offset of the latest event (for printing timer times).
    pub(crate) offset_min: i16,
    /// Every instant at or before this has been released.
    pub(crate) released: i64,
    pub(crate) pending: reorder::Reorder,
    pub(crate) seen_ids: FxHashMap<Arc<str>, i64>,
    pub(crate) seen_kkt: FxHashSet<(KindId, Arc<str>, i64)>,
    pub(crate) stats: Stats,
    /// The wall clock the caller last gave (guards against impossible times).
    wall_ms: Option<i64>,
    /// The id the next output gets (ids are numbered from 1).
    pub(crate) next_id: u64,
    /// What the embedding program keeps in the snapshot beside the engine's
    /// own state (the CLI: its input and output positions).
    pub(crate) host: Option<serde_json::Value>,
    /// Short texts of parsed lines, shared between events (see [`crate::event::TextCache`]).
    texts: crate::event::TextCache,
}

/// See [`Engine`]'s `dedupe_by_time`.
#[derive(Debug, Default)]
pub(crate) struct DedupeByTime {
    pub(crate) ids: std::collections::BinaryHeap<std::cmp::Reverse<(i64, Arc<str>)>>,
    pub(crate) kkt: std::collections::BinaryHeap<std::cmp::Reverse<(i64, KindId, Arc<str>)>>,
}

impl Engine {
    /// Builds the runtime with the default [`Config`]; fails only on a
    /// structurally invalid program.
    pub fn new(program: Program) -> Result<Engine, ProgramError> {
        Self::with_config(program, Config::default())
    }

    /// Builds the runtime with explicit settings; an idle expiry shorter than
    /// a signal's `missing` or longest window is refused (it would forget
    /// what the signal still needs).
    pub fn with_config(program: Program, config: Config) -> Result<Engine, ProgramError> {
        program.validate()?;
        if let Some(ttl) = config.idle_ttl_ms {
            check_idle_ttl(&program, ttl)?;
        }
        let scripts = crate::script::ScriptRt::new(&program.scripts).map_err(|e| ProgramError {
            signal: String::new(),
            problem: e.to_string(),
        })?;
        // each signal compiles on its own; the others stay on the reference
        let (compiled, no_compiled) = match config.idle_ttl_ms {
            None => (
                crate::compiled::CompiledEngine::per_signal(&program).ok(),
                "no feature of it compiles",
            ),
            Some(_) => (None, "an idle expiry (`idle_ttl_ms`) is set"),
        };
        let schema = Schema::new(&program);
        let program = Arc::new(program);
        let signals = Signals::new(
            program.clone(),
            config.lateness_ms,
            scripts,
            compiled,
            no_compiled,
        );
        let lateness_range = signals
            .rts
            .iter()
            .map(|s| s.lateness_ms)
            .fold((config.lateness_ms, config.lateness_ms), |(hi, lo), l| {
                (hi.max(l), lo.min(l))
            });
        Ok(Engine {
            deadlines: None,
            schema,
            program,
            signals,
            workflow: None,
            scratch_event: None,
            spare_events: Vec::new(),
            group: Vec::new(),
            produced: Vec::new(),
            reactions: Vec::new(),
            dedupe_by_time: DedupeByTime::default(),
            lateness_range,
            config,
            clock: clock::SourceClock::default(),
            offset_min: 0,
            released: i64::MIN,
            pending: reorder::Reorder::default(),
            seen_ids: FxHashMap::default(),
            seen_kkt: FxHashSet::default(),
            stats: Stats::default(),
            wall_ms: None,
            next_id: 1,
            host: None,
            texts: crate::event::TextCache::default(),
        })
    }

    /// Numbers the outputs from `from` on (see [`Output::id`]).
    fn number(&mut self, out: &mut [Output], from: usize) {
        for o in out.iter_mut().skip(from) {
            if o.id() == 0 {
                o.set_id(self.next_id);
                self.next_id += 1;
            }
        }
    }

    /// How many outputs this engine (and the runs its state came from) has
    /// numbered: the next output's id is one more.
    pub fn outputs_numbered(&self) -> u64 {
        self.next_id - 1
    }

    /// The stream's clock: the event time the sources agree on (see
    /// [`clock`]; `None` before the first event).
    pub fn clock(&self) -> Option<Timestamp> {
        self.clock.now().map(|ms| Timestamp {
            ms,
            offset_min: self.offset_min,
        })
    }

    /// Tells the engine the wall time (ms since the epoch): an event more
    /// than the far-ahead guard ahead of it is refused as `clock_suspect`
    /// (no sensor reports from the future; a first line dated 9999 must not
    /// become everyone's clock). Replays of history are unaffected.
    pub fn set_wall_time(&mut self, ms: i64) {
        self.wall_ms = Some(ms);
    }

    /// Keeps `state` in the snapshot beside the engine's own (an embedding
    /// program's bookkeeping, e.g. the CLI's input position); restored with it.
    pub fn set_host_state(&mut self, state: Option<serde_json::Value>) {
        self.host = state;
    }

    /// What [`Engine::set_host_state`] stored (or a restored snapshot held).
    pub fn host_state(&self) -> Option<&serde_json::Value> {
        self.host.as_ref()
    }

    /// Moves the clock to `ts` as if an empty event stamped `ts` had arrived:
    /// events the lateness held back, and timers and absences due by
    /// `ts` − lateness, are released. A time at or before the clock changes
    /// nothing.
    ///
    /// ```
    /// # use yingji_engine::{Engine, Timestamp, ir::Program};
    /// let mut e = Engine::new(Program::default()).unwrap();
    /// let mut out = Vec::new();
    /// e.advance_to(Timestamp::parse("2024-07-29T02:00:00+08:00").unwrap(), &mut out);
    /// assert_eq!(e.clock().map(|c| c.to_string()).as_deref(), Some("2024-07-29T02:00:00+08:00"));
    /// ```
    pub fn advance_to(&mut self, ts: Timestamp, out: &mut Vec<Output>) {
        let from = out.len();
        if self.clock.now().is_none_or(|c| ts.ms > c) {
            if self.clock.now().is_none() {
                self.signals.start_roster(ts);
            }
            self.offset_min = ts.offset_min;
            self.clock.force(ts.ms);
            self.release(self.watermark(), false, out);
        }
        self.number(out, from);
    }

    /// End of input: releases every buffered event, then, with `until`, runs
    /// the clock to `until` (timers and absences due by then fire). `until`
    /// earlier than the clock — or than an event still buffered, which the
    /// end of input releases — is refused and changes nothing.
    pub fn finish(
        &mut self,
        until: Option<Timestamp>,
        out: &mut Vec<Output>,
    ) -> Result<(), ClockError> {
        if let (Some(u), Some(end)) = (until, self.end_time()) {
            if u.ms < end {
                return Err(ClockError::UntilBeforeClock {
                    until: u,
                    clock: Timestamp {
                        ms: end,
                        offset_min: self.offset_min,
                    },
                });
            }
        }
        let from = out.len();
        if let Some(u) = until {
            if self.clock.now().is_none() {
                self.signals.start_roster(u);
            }
            self.clock.force(u.ms);
        }
        self.end_of_input(out);
        self.number(out, from);
        Ok(())
    }

    /// End of stream: releases every buffered event and fires the timers
    /// due by the stream's clock (see [`Engine::finish`] to run it further).
    pub fn flush(&mut self, out: &mut Vec<Output>) {
        let from = out.len();
        self.end_of_input(out);
        self.number(out, from);
    }

    /// The compiled program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The run settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The event schema (for parsing events outside [`Engine::push_line`]).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// How many accepted events no definition listens to (a typo in `kind`
    /// shows up here).
    pub fn ignored(&self) -> u64 {
        self.stats.ignored
    }

    /// Parses an event line (see [`Schema::parse`]).
    pub fn parse_event(&self, line: &str, seq: u64) -> Result<Event, EventError> {
        self.schema.parse(line, &self.program, seq)
    }

    /// Parses and accepts one JSONL line; on error nothing changes. Record
    /// kinds that reporting deadlines follow are checked as records first (a
    /// refused record changes nothing).
    pub fn push_line(
        &mut self,
        line: &str,
        seq: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), LineError> {
        let from = out.len();
        let r = self.push_line_inner(line, seq, out);
        self.number(out, from);
        r
    }

    /// [`Engine::push_line`] for a line parsed elsewhere: `parsed` is what
    /// [`Schema::parse_cached`] gave for `line` at input position `seq`
    /// (e.g. on another thread, with that thread's own
    /// [`crate::event::TextCache`]). The outcome, the outputs (and their ids)
    /// and the state after it are those of `push_line(line, seq, out)`: the
    /// parse is the same function, and what follows it is the same code.
    /// The parallel replay (`yingji replay --threads N`) reads and parses on
    /// its reading threads and applies here, in input order.
    pub fn push_parsed_line(
        &mut self,
        parsed: Result<Event, EventError>,
        line: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), LineError> {
        let from = out.len();
        let r = match parsed {
            Err(e) => Err(e.into()),
            Ok(ev) => {
                let mut ev = Some(ev);
                let r = self.push_owned(&mut ev, Some(line), out);
                if let Some(e) = ev.take()
                    && self.spare_events.len() < SPARE_EVENTS
                {
                    self.spare_events.push(e);
                }
                r
            }
        };
        self.number(out, from);
        r
    }

    /// An event buffer the engine no longer needs (a released event), to
    /// parse the next line into ([`Schema::parse_cached`] reuses its
    /// buffers); `None` when it keeps none.
    pub fn take_spare_event(&mut self) -> Option<Event> {
        self.spare_events.pop()
    }

    /// Accepts one event: buffers it until the watermark passes it, then
    /// applies it; emits whatever became due. On error nothing changes.
    pub fn push(&mut self, ev: &Event, out: &mut Vec<Output>) -> Result<(), PushError> {
        let from = out.len();
        // copied into a spare buffer of an event already released (no
        // allocation once the engine has run a while)
        let copy = match self.spare_events.pop() {
            Some(mut e) => {
                e.copy_from(ev);
                e
            }
            None => ev.clone(),
        };
        let mut owned = Some(copy);
        let r = self.push_owned(&mut owned, None, out);
        if let Some(e) = owned.take()
            && self.spare_events.len() < SPARE_EVENTS
        {
            self.spare_events.push(e);
        }
        self.number(out, from);
        r.map_err(|e| match e {
            LineError::Push(p) => p,
            // without a line an event is never parsed or checked as a record
            other => PushError::Refused(other.to_string()),
        })
    }

    /// Whether any signal listens to this event's kind.
    pub fn is_used(&self, kind: Option<KindId>) -> bool {
        self.signals.reading(kind).is_some_and(|v| !v.is_empty())
    }

    /// Where the end of input leaves the clock: the stream's clock, or the
    /// latest event still buffered when a source ran ahead of it.
    fn end_time(&self) -> Option<i64> {
        let last = self.pending.iter().map(|q| q.ev.ts.ms).max();
        match (self.clock.now(), last) {
            (Some(c), Some(l)) => Some(c.max(l)),
            (c, l) => c.or(l),
        }
    }

    /// The largest lateness any signal allows: what holds back release.
    fn max_lateness(&self) -> i64 {
        self.lateness_range.0
    }

    /// The watermark: the clock less the largest lateness (`i64::MIN`
    /// before the first event).
    fn watermark(&self) -> i64 {
        self.clock
            .now()
            .map_or(i64::MIN, |c| c.saturating_sub(self.max_lateness()))
    }

    /// Evaluates with the reference (tree-walking) evaluator only, never the
    /// compiled path: the specification the compiled path is tested against,
    /// and a fallback when comparing the two. State already held moves over.
    ///
    /// ```
    /// # use yingji_engine::{Engine, ir::*, value::*};
    /// # let p = Program { fields: vec!["mm".into()], kinds: vec![KindDef { name: "rain".into(),
    /// #   fields: vec![FieldDef { id: 0, ty: Type::Number, optional: false }] }],
    /// #   signals: vec![], tables: vec![], scripts: Default::default() };
    /// let fast = Engine::new(p.clone()).unwrap();
    /// assert!(fast.is_compiled());
    /// let reference = Engine::new(p).unwrap().reference_evaluator();
    /// assert!(!reference.is_compiled());
    /// ```
    pub fn reference_evaluator(mut self) -> Engine {
        if self
            .signals
            .compiled
            .as_ref()
            .is_some_and(|c| c.key_count() > 0)
        {
            let snap = self.snapshot();
            self.signals.compiled = None;
            // a snapshot of this very engine always restores
            let _ = self.restore(&snap);
        }
        self.signals.compiled = None;
        self.signals.no_compiled = "forced onto the reference evaluator";
        self
    }

    /// Runs the signals at these indices (declaration order) on the
    /// reference evaluator and the others as before, keeping every key's
    /// state: for differential testing, or to rule out the compiled path
    /// when a signal is in doubt. An index out of range is ignored.
    ///
    /// ```
    /// # use yingji_engine::{Engine, ir::*, value::*};
    /// # let rule = |l| LevelRule { level: l, text: String::new(), at: String::new(),
    /// #   when: Expr::Const(Value::Bool(true)), for_ms: 0, for_readings: 0, clear: None, hold_ms: 0 };
    /// # let sig = |n: &str| SignalDef { name: n.into(), at: String::new(), kinds: vec![0],
    /// #   filter: None, key: 0, windows: vec![], lets: vec![], step_down: false, missing_ms: None,
    /// #   roster: vec![], lateness_ms: None, table: None, marks: vec![], via: None, groups: vec![],
    /// #   feeds: None, levels: vec![rule(Level::Red)] };
    /// # let p = Program { fields: vec!["station".into()], kinds: vec![KindDef { name: "rain".into(),
    /// #   fields: vec![FieldDef { id: 0, ty: Type::String, optional: false }] }],
    /// #   signals: vec![sig("a"), sig("b")], tables: vec![], scripts: Default::default() };
    /// let engine = Engine::new(p).unwrap().reference_for(&[1]);
    /// let status: Vec<bool> = engine.compiled_signals().iter().map(|(_, s)| s.is_ok()).collect();
    /// assert_eq!(status, [true, false]);
    /// ```
    pub fn reference_for(mut self, signals: &[usize]) -> Engine {
        let Some(c) = self.signals.compiled.as_ref() else {
            return self;
        };
        if !signals.iter().any(|&i| c.is_compiled(i)) {
            return self;
        }
        let snap = (c.key_count() > 0).then(|| self.snapshot());
        let rebuilt =
            crate::compiled::CompiledEngine::per_signal_except(&self.program, signals).ok();
        // no script units: cannot fail
        let Ok(empty) = crate::script::ScriptRt::new(&Default::default()) else {
            return self;
        };
        let scripts = std::mem::replace(&mut self.signals.scripts, empty);
        self.signals = Signals::new(
            self.program.clone(),
            self.config.lateness_ms,
            scripts,
            rebuilt,
            "forced onto the reference evaluator",
        );
        if let Some(snap) = snap {
            // a snapshot of this very engine always restores
            let _ = self.restore(&snap);
        }
        self
    }

    /// Per signal (in declaration order): `Ok` when it runs on the compiled
    /// path, else why it runs on the reference evaluator.
    pub fn compiled_signals(&self) -> Vec<(String, Result<(), String>)> {
        self.signals.compiled_signals()
    }

    /// Whether events are evaluated by the compiled path (see
    /// [`crate::compiled`]), for at least one signal (see
    /// [`Engine::compiled_signals`]); `false` when no signal compiles, with
    /// `idle_ttl_ms`, or after [`Engine::reference_evaluator`].
    pub fn is_compiled(&self) -> bool {
        self.signals.compiled.is_some()
    }

    /// Runs `plans` alongside the signals. The program must declare the event
    /// kinds plans need (see [`crate::workflow::runtime::merge_kinds`]).
    pub fn with_plans(mut self, plans: crate::workflow::PlanSet) -> Engine {
        self.workflow = Some(crate::workflow::WorkflowRuntime::new(plans, &self.program));
        self
    }

    /// Follows reporting deadlines live: record lines of the deadline sets'
    /// kinds open and settle obligations when they are released (in
    /// event-time order, through the lateness like any event);
    /// `report_due`, `report_late` and `report_missing` come out on the
    /// stream's clock.
    pub fn with_deadlines(mut self, program: crate::assess::AssessProgram) -> Engine {
        if !program.deadlines.is_empty() {
            self.deadlines = Some(crate::assess::live::LiveDeadlines::new(program));
        }
        self
    }

    /// The operators under the shell, each with the snapshot section that
    /// holds its state (`signals.scripts`: the script reporter's rate limiter
    /// inside the signals' section). The shell's own section is `shell`.
    ///
    /// ```
    /// # use yingji_engine::{Engine, ir::Program};
    /// let e = Engine::new(Program::default()).unwrap();
    /// assert_eq!(e.operators(), [("signals", "signals"), ("scripts", "signals.scripts")]);
    /// ```
    pub fn operators(&self) -> Vec<(&'static str, &'static str)> {
        let mut ops = vec![("signals", "signals"), ("scripts", "signals.scripts")];
        if self.workflow.is_some() {
            ops.push(("plans", "plans"));
        }
        if self.deadlines.is_some() {
            ops.push(("deadlines", "deadlines"));
        }
        ops
    }

    /// The plan runtime, when plans are loaded.
    pub fn workflow(&self) -> Option<&crate::workflow::WorkflowRuntime> {
        self.workflow.as_ref()
    }

    pub(crate) fn workflow_mut(&mut self) -> Option<&mut crate::workflow::WorkflowRuntime> {
        self.workflow.as_mut()
    }

    /// The current level of `key` in `signal`.
    pub fn level(&self, signal: &str, key: &str) -> Level {
        self.signals.level(signal, key)
    }

    /// Lines script functions wrote with `print`/`debug` since the last
    /// call (never to stdout), and how many older lines were dropped (the
    /// log keeps the last [`crate::script::LOG_CAPACITY`]).
    pub fn script_log(&self) -> (Vec<String>, u64) {
        self.signals.scripts.take_log()
    }

    /// Events accepted but still held back by the lateness.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Number of keys held over all signals.
    pub fn key_count(&self) -> usize {
        self.signals.key_count()
    }

    /// Approximate heap bytes of per-key state (for memory reports).
    pub fn state_bytes(&self) -> usize {
        self.signals.state_bytes()
    }
}

/// Refuses an idle expiry shorter than what a signal still needs of a
/// silent key: its `missing` (the absence would never be reported) or its
/// longest window (the window would be emptied early).
pub(crate) fn check_idle_ttl(program: &Program, ttl: i64) -> Result<(), ProgramError> {
    for s in &program.signals {
        let longest = s.windows.iter().map(|w| w.duration_ms).max();
        for (what, need) in [("missing", s.missing_ms), ("longest window", longest)] {
            if let Some(need) = need.filter(|&n| ttl < n) {
                return Err(ProgramError {
                    signal: s.name.clone(),
                    problem: format!(
                        "the idle expiry (idle-ttl {}) is shorter than its {what} ({}): a key would be forgotten while the signal still needs it; use an idle-ttl of at least {}",
                        format_duration(ttl),
                        format_duration(need),
                        format_duration(need)
                    ),
                });
            }
        }
    }
    Ok(())
}
