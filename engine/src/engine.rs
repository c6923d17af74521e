//! The runtime: per-signal, per-key state driven by event time.
//!
//! Events enter a reorder buffer; the watermark (latest event time seen
//! minus the allowed lateness) releases them in event-time order, so a
//! stream shuffled within the lateness gives the same outputs as the sorted
//! stream. Events behind the watermark are *late*: reported, never silently
//! dropped. Duplicates (same `id`, or same kind/key/time when configured)
//! are counted and not applied twice. Absence timers fire on the watermark,
//! so replays are deterministic. The whole state can be snapshotted and
//! restored ([`crate::state`]).

use crate::eval::{Calls, Scope, eval, eval_with};
use crate::event::{Event, EventError, Schema};
use crate::ir::{KindId, Program, ProgramError, SignalDef};
use crate::output::{Absence, Late, LevelChange, Output, Recovered, Values};
use crate::time::{MS_PER_DAY, MS_PER_MINUTE, Timestamp, format_duration};
use crate::value::{Fixed, Level, Value};
use crate::window::{WindowLayout, WindowState};
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Why an event could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PushError {
    /// The event is further ahead of the stream than the guard allows.
    #[error("timestamp {ts} is more than {guard} ahead of the latest event time {latest}")]
    TooFarAhead {
        /// The rejected time.
        ts: Timestamp,
        /// The latest event time accepted so far.
        latest: Timestamp,
        /// The configured guard.
        guard: String,
    },
    /// The key field's value is missing.
    #[error("signal `{signal}` is keyed by `{field}`, which this event does not carry")]
    NoKey {
        /// Signal.
        signal: String,
        /// The key field.
        field: String,
    },
}

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

/// Run-time settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Allowed lateness in ms (default 5 min); signals may set their own.
    pub lateness_ms: i64,
    /// Late events: emitted or applied-and-flagged.
    pub late: LatePolicy,
    /// Treat events with the same kind, key and time as duplicates (events
    /// with the same `id` always are).
    pub dedupe_kind_key_ts: bool,
    /// Reject events more than this far ahead of the latest event time
    /// (default 1 day); `None` disables the guard.
    pub max_ahead_ms: Option<i64>,
    /// Forget keys that sent nothing for this long (bounded memory).
    pub idle_ttl_ms: Option<i64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lateness_ms: 5 * MS_PER_MINUTE,
            late: LatePolicy::Emit,
            dedupe_kind_key_ts: false,
            max_ahead_ms: Some(MS_PER_DAY),
            idle_ttl_ms: None,
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

/// Dynamic state of one level rule for one key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// Since when the `when` condition has held without a break.
    pub since: Option<i64>,
    /// Consecutive readings for which it has held.
    pub readings: u32,
}

/// State of one key of one signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyState {
    /// Latest event time applied.
    pub last_ms: i64,
    /// Whether any reading was applied (roster keys start without).
    pub seen: bool,
    /// Current level.
    pub level: Level,
    /// Since when the current level's stay condition has been false.
    pub stay_false_since: Option<i64>,
    /// Per level rule.
    pub rules: Vec<RuleState>,
    /// Window contents.
    pub windows: WindowState,
    /// Reported absent and not yet recovered.
    pub absent: bool,
    /// The key's row in the signal's table.
    pub row: Option<u32>,
}

pub(crate) struct SignalRt {
    pub(crate) name: Arc<str>,
    pub(crate) layout: WindowLayout,
    let_names: Vec<Arc<str>>,
    rule_texts: Vec<(Arc<str>, Arc<str>)>,
    pub(crate) keys: FxHashMap<Arc<str>, KeyState>,
    lateness_ms: i64,
    table_rows: FxHashMap<Arc<str>, u32>,
}

/// Released events kept for reuse as parse buffers.
const SPARE_EVENTS: usize = 64;

/// An event waiting in the reorder buffer, ordered by time and then by
/// content (never by arrival), so shuffled input releases in one order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Queued {
    pub(crate) ev: Event,
    /// Signals for which this event is late (left out for them).
    pub(crate) skip: Vec<u16>,
}

fn cmp_value(a: &Value, b: &Value) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Num(_) => 2,
        Value::Str(_) => 3,
    };
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Num(x), Value::Num(y)) => x.total_cmp(y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

impl Ord for Queued {
    fn cmp(&self, o: &Self) -> Ordering {
        self.ev
            .ts
            .ms
            .cmp(&o.ev.ts.ms)
            .then_with(|| self.ev.kind_name.cmp(&o.ev.kind_name))
            .then_with(|| {
                self.ev
                    .fields
                    .iter()
                    .zip(&o.ev.fields)
                    .map(|(a, b)| cmp_value(a, b))
                    .find(|c| c.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
            .then_with(|| self.ev.id.cmp(&o.ev.id))
            .then_with(|| self.ev.seq.cmp(&o.ev.seq))
    }
}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for Queued {}

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
///         lateness_ms: None, table: None,
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
/// ```
pub struct Engine {
    pub(crate) program: Arc<Program>,
    pub(crate) schema: Schema,
    pub(crate) signals: Vec<SignalRt>,
    /// Signals reading each kind; shared, so an event borrows the list for
    /// a reference-count bump instead of copying it.
    by_kind: Vec<Arc<[usize]>>,
    lets: Vec<Value>,
    scratch_event: Option<Event>,
    /// Released events kept as parse buffers for [`Engine::push_line`]
    /// (at most [`SPARE_EVENTS`]): a line moves its parsed event into the
    /// reorder buffer instead of copying it.
    spare_events: Vec<Event>,
    /// Largest and smallest lateness over the run and every signal.
    lateness_range: (i64, i64),
    pub(crate) config: Config,
    /// Largest event time seen.
    pub(crate) max_ts: Option<Timestamp>,
    /// Everything at or before this has been released.
    pub(crate) released: i64,
    pub(crate) pending: crate::reorder::Reorder,
    pub(crate) seen_ids: FxHashMap<Arc<str>, i64>,
    pub(crate) seen_kkt: FxHashSet<(KindId, Arc<str>, i64)>,
    /// `(deadline, signal, key)` of every absence timer.
    pub(crate) absence: BTreeSet<(i64, u16, Arc<str>)>,
    pub(crate) stats: Stats,
    pub(crate) last_sweep: i64,
    /// Plan instances (叫应, responses, measures), when plans are loaded.
    workflow: Option<crate::workflow::WorkflowRuntime>,
    /// Script functions (rhai), compiled once.
    scripts: crate::script::ScriptRt,
    /// Live reporting deadlines (事故灾害报送), when deadlines are defined.
    pub(crate) deadlines: Option<crate::assess::live::LiveDeadlines>,
    /// The compiled evaluator, when the program compiles (see
    /// [`crate::compiled`]): it then holds every signal's per-key state in
    /// place of `signals[..].keys`. Not used with `idle_ttl_ms`; dropped by
    /// [`Engine::restore`], which continues on the reference path.
    pub(crate) compiled: Option<crate::compiled::CompiledEngine>,
    /// The id the next output gets (ids are numbered from 1).
    pub(crate) next_id: u64,
    /// What the embedding program keeps in the snapshot beside the engine's
    /// own state (the CLI: its input and output positions).
    pub(crate) host: Option<serde_json::Value>,
}

/// Why the clock could not be moved as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClockError {
    /// The end-of-input time is earlier than the stream's clock.
    #[error("cannot run the clock to {until}: the stream's clock is already at {clock}")]
    UntilBeforeClock {
        /// The time asked for.
        until: Timestamp,
        /// The stream's clock.
        clock: Timestamp,
    },
}

/// Runs script calls for one key of one signal (see [`crate::script`]).
struct ScriptCalls<'a> {
    rt: &'a mut crate::script::ScriptRt,
    site: crate::script::CallSite<'a>,
}

impl Calls for ScriptCalls<'_> {
    fn stack(&mut self) -> &mut Vec<Value> {
        &mut self.rt.stack
    }
    fn call(&mut self, f: u16, base: usize) -> Value {
        self.rt.call(f, base, &self.site)
    }
}

/// Either kind of failure for one input line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LineError {
    /// The line is not a valid event.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The event could not be applied.
    #[error(transparent)]
    Push(#[from] PushError),
    /// A record that reporting deadlines follow failed its record checks.
    #[error("{0}")]
    Record(String),
}

impl Engine {
    /// Builds the runtime with the default [`Config`]; fails only on a
    /// structurally invalid program.
    pub fn new(program: Program) -> Result<Engine, ProgramError> {
        Self::with_config(program, Config::default())
    }

    /// Builds the runtime with explicit settings.
    pub fn with_config(program: Program, config: Config) -> Result<Engine, ProgramError> {
        program.validate()?;
        let scripts = crate::script::ScriptRt::new(&program.scripts).map_err(|e| ProgramError {
            signal: String::new(),
            problem: e.to_string(),
        })?;
        let mut by_kind = vec![Vec::new(); program.kinds.len()];
        let signals: Vec<SignalRt> = program
            .signals
            .iter()
            .enumerate()
            .map(|(i, s)| {
                for k in &s.kinds {
                    if let Some(v) = by_kind.get_mut(usize::from(*k)) {
                        v.push(i);
                    }
                }
                let table_rows = s
                    .table
                    .and_then(|t| program.tables.get(usize::from(t)))
                    .map(|t| {
                        t.rows
                            .iter()
                            .enumerate()
                            .map(|(i, (k, _))| (Arc::from(k.as_str()), i as u32))
                            .collect()
                    })
                    .unwrap_or_default();
                SignalRt {
                    name: Arc::from(s.name.as_str()),
                    layout: WindowLayout::new(&s.windows),
                    let_names: s.lets.iter().map(|l| Arc::from(l.name.as_str())).collect(),
                    rule_texts: s
                        .levels
                        .iter()
                        .map(|r| (Arc::from(r.text.as_str()), Arc::from(r.at.as_str())))
                        .collect(),
                    keys: FxHashMap::default(),
                    lateness_ms: s.lateness_ms.unwrap_or(config.lateness_ms),
                    table_rows,
                }
            })
            .collect();
        let lateness_range = signals
            .iter()
            .map(|s| s.lateness_ms)
            .fold((config.lateness_ms, config.lateness_ms), |(hi, lo), l| {
                (hi.max(l), lo.min(l))
            });
        let compiled = match config.idle_ttl_ms {
            None => crate::compiled::CompiledEngine::new(&program).ok(),
            Some(_) => None,
        };
        Ok(Engine {
            deadlines: None,
            compiled,
            schema: Schema::new(&program),
            program: Arc::new(program),
            signals,
            by_kind: by_kind.into_iter().map(Arc::from).collect(),
            lets: Vec::new(),
            scratch_event: None,
            spare_events: Vec::new(),
            lateness_range,
            config,
            max_ts: None,
            released: i64::MIN,
            pending: crate::reorder::Reorder::default(),
            seen_ids: FxHashMap::default(),
            seen_kkt: FxHashSet::default(),
            workflow: None,
            scripts,
            absence: BTreeSet::new(),
            stats: Stats::default(),
            last_sweep: i64::MIN,
            next_id: 1,
            host: None,
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

    /// The stream's clock: the event time the runtime has reached (`None`
    /// before the first event).
    pub fn clock(&self) -> Option<Timestamp> {
        self.max_ts
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
    /// events the lateness held back and timers and absences due by then are
    /// released. A time at or before the clock changes nothing.
    pub fn advance_to(&mut self, ts: Timestamp, out: &mut Vec<Output>) {
        let from = out.len();
        self.advance_inner(ts, out);
        self.number(out, from);
    }

    fn advance_inner(&mut self, ts: Timestamp, out: &mut Vec<Output>) {
        if self.max_ts.is_some_and(|m| ts.ms <= m.ms) {
            return;
        }
        if self.max_ts.is_none() {
            self.start_roster(ts);
        }
        self.max_ts = Some(ts);
        let wm = ts.ms.saturating_sub(self.max_lateness());
        self.release(wm, out);
    }

    /// End of input: releases every buffered event, then, with `until`, runs
    /// the clock to `until` (timers and absences due by then fire). `until`
    /// earlier than the clock is refused and changes nothing.
    pub fn finish(
        &mut self,
        until: Option<Timestamp>,
        out: &mut Vec<Output>,
    ) -> Result<(), ClockError> {
        if let (Some(u), Some(c)) = (until, self.max_ts) {
            if u.ms < c.ms {
                return Err(ClockError::UntilBeforeClock { until: u, clock: c });
            }
        }
        let from = out.len();
        self.flush_inner(out);
        if let Some(u) = until {
            self.advance_inner(u, out);
            self.flush_inner(out);
        }
        self.number(out, from);
        Ok(())
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

    fn push_line_inner(
        &mut self,
        line: &str,
        seq: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), LineError> {
        let mut ev = self
            .scratch_event
            .take()
            .or_else(|| self.spare_events.pop())
            .unwrap_or_else(|| Event::empty(seq));
        if let Err(e) = self.schema.parse_into(line, &self.program, seq, &mut ev) {
            self.scratch_event = Some(ev);
            return Err(e.into());
        }
        let record = match self.check_record(&ev, line) {
            Ok(r) => r,
            Err(e) => {
                self.scratch_event = Some(ev);
                return Err(e);
            }
        };
        let seq = ev.seq;
        let mut ev = Some(ev);
        let r = self.push_owned(&mut ev, out);
        // an event the reorder buffer did not take is the next line's buffer
        self.scratch_event = ev;
        r?;
        self.observe_record(line, seq, record, out);
        Ok(())
    }

    /// A line of a kind reporting deadlines follow, checked as a record.
    fn check_record(
        &self,
        ev: &Event,
        line: &str,
    ) -> Result<Option<crate::assess::records::Record>, LineError> {
        match self.deadlines.as_ref() {
            Some(d) if d.follows(&ev.kind_name) => {
                Ok(Some(d.check(line, ev.seq).map_err(LineError::Record)?))
            }
            _ => Ok(None),
        }
    }

    fn observe_record(
        &mut self,
        line: &str,
        seq: u64,
        record: Option<crate::assess::records::Record>,
        out: &mut Vec<Output>,
    ) {
        if let (Some(d), Some(r)) = (self.deadlines.as_mut(), record) {
            d.observe(line, seq, &r, out);
        }
    }

    /// Whether any signal listens to this event's kind.
    pub fn is_used(&self, kind: Option<KindId>) -> bool {
        kind.and_then(|k| self.by_kind.get(usize::from(k)))
            .is_some_and(|v| !v.is_empty())
    }

    /// The largest lateness any signal allows: what holds back release.
    fn max_lateness(&self) -> i64 {
        self.lateness_range.0
    }

    fn key_of(&self, sig: usize, ev: &Event) -> Result<Option<Arc<str>>, PushError> {
        let Some(def) = self.program.signals.get(sig) else {
            return Ok(None);
        };
        if let Some(f) = &def.filter {
            let scope = Scope {
                fields: &ev.fields,
                lets: &[],
                windows: None,
                row: &[],
            };
            if !eval(f, &scope).is_true() {
                return Ok(None);
            }
        }
        match ev.fields.get(usize::from(def.key)) {
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(Value::Num(n)) => Ok(Some(Arc::from(Value::Num(*n).to_string()))),
            Some(Value::Bool(b)) => Ok(Some(Arc::from(b.to_string()))),
            _ => Err(PushError::NoKey {
                signal: def.name.clone(),
                field: self
                    .program
                    .fields
                    .get(usize::from(def.key))
                    .cloned()
                    .unwrap_or_default(),
            }),
        }
    }

    /// Accepts one event: buffers it until the watermark passes it, then
    /// applies it; emits whatever became due. On error nothing changes.
    pub fn push(&mut self, ev: &Event, out: &mut Vec<Output>) -> Result<(), PushError> {
        let from = out.len();
        let r = self.accept(ev, out).map(|skip| {
            if let Some(skip) = skip {
                self.enqueue(ev.clone(), skip, out);
            }
            self.stats.accepted += 1;
        });
        self.number(out, from);
        r
    }

    /// [`Engine::push`] of an event the caller gives away: moved into the
    /// reorder buffer instead of copied. `ev` is left `Some` when the buffer
    /// did not take it (ignored, duplicate, late, or an error).
    fn push_owned(
        &mut self,
        ev: &mut Option<Event>,
        out: &mut Vec<Output>,
    ) -> Result<(), PushError> {
        let Some(e) = ev.as_ref() else {
            return Ok(());
        };
        if let Some(skip) = self.accept(e, out)? {
            if let Some(e) = ev.take() {
                self.enqueue(e, skip, out);
            }
        }
        self.stats.accepted += 1;
        Ok(())
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
        if self.compiled.as_ref().is_some_and(|c| c.key_count() > 0) {
            let snap = self.snapshot();
            self.compiled = None;
            // a snapshot of this very engine always restores
            let _ = self.restore(&snap);
        }
        self.compiled = None;
        self
    }

    /// Whether events are evaluated by the compiled path (see
    /// [`crate::compiled`]); `false` for programs it does not support, with
    /// `idle_ttl_ms`, after a restore, or after [`Engine::reference_evaluator`].
    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    /// Runs `plans` alongside the signals. The program must declare the event
    /// kinds plans need (see [`crate::workflow::runtime::merge_kinds`]).
    pub fn with_plans(mut self, plans: crate::workflow::PlanSet) -> Engine {
        self.workflow = Some(crate::workflow::WorkflowRuntime::new(plans, &self.program));
        self
    }

    /// Follows reporting deadlines live: record lines of the deadline sets'
    /// kinds open and settle obligations; `report_due`, `report_late` and
    /// `report_missing` come out on the event-time clock.
    pub fn with_deadlines(mut self, program: crate::assess::AssessProgram) -> Engine {
        if !program.deadlines.is_empty() {
            self.deadlines = Some(crate::assess::live::LiveDeadlines::new(program));
        }
        self
    }

    /// The plan runtime, when plans are loaded.
    pub fn workflow(&self) -> Option<&crate::workflow::WorkflowRuntime> {
        self.workflow.as_ref()
    }

    pub(crate) fn workflow_mut(&mut self) -> Option<&mut crate::workflow::WorkflowRuntime> {
        self.workflow.as_mut()
    }

    /// Checks an event and handles everything short of buffering it; returns
    /// the signals it is late for when it goes into the reorder buffer
    /// (`None`: it does not). On error nothing changes.
    fn accept(&mut self, ev: &Event, out: &mut Vec<Output>) -> Result<Option<Vec<u16>>, PushError> {
        // plans see every declared kind (acks, manual starts, awaited events)
        let for_plans = self.workflow.is_some() && ev.kind.is_some();
        let sigs = match ev.kind.and_then(|k| self.by_kind.get(usize::from(k))) {
            Some(s) if !s.is_empty() || for_plans => s.clone(),
            _ if for_plans => Arc::from(Vec::new()),
            _ => {
                self.stats.ignored += 1;
                return Ok(None);
            }
        };
        if let (Some(latest), Some(guard)) = (self.max_ts, self.config.max_ahead_ms) {
            if ev.ts.ms > latest.ms.saturating_add(guard) {
                return Err(PushError::TooFarAhead {
                    ts: ev.ts,
                    latest,
                    guard: format_duration(guard),
                });
            }
        }
        // keys are checked before anything changes
        let first_key = match self.compiled.as_mut() {
            Some(c) => c.check_keys(ev)?,
            None => {
                let mut first_key = None;
                for &s in sigs.iter() {
                    let k = self.key_of(s, ev)?;
                    if first_key.is_none() {
                        first_key = k;
                    }
                }
                first_key
            }
        };
        if let Some(id) = &ev.id {
            if self.seen_ids.contains_key(id) {
                self.stats.duplicates += 1;
                return Ok(None);
            }
        }
        if self.config.dedupe_kind_key_ts {
            if let (Some(kind), Some(key)) = (ev.kind, first_key.clone()) {
                if !self.seen_kkt.insert((kind, key, ev.ts.ms)) {
                    self.stats.duplicates += 1;
                    return Ok(None);
                }
            }
        }
        if let Some(id) = &ev.id {
            self.seen_ids.insert(id.clone(), ev.ts.ms);
        }
        if self.max_ts.is_none() {
            self.start_roster(ev.ts);
        }
        // late for which signals?
        let latest = self.max_ts.map_or(ev.ts.ms, |m| m.ms);
        let mut skip = Vec::new();
        // an event at or after the latest time and the released mark is late for no signal
        let maybe_late = ev.ts.ms < latest.saturating_sub(self.lateness_range.1.min(0))
            || ev.ts.ms < self.released;
        for &s in sigs.iter().filter(|_| maybe_late) {
            let lateness = self.signals.get(s).map_or(0, |r| r.lateness_ms);
            if ev.ts.ms < latest.saturating_sub(lateness) || ev.ts.ms < self.released {
                skip.push(s as u16);
            }
        }
        if !skip.is_empty() {
            self.stats.late += 1;
            let apply = self.config.late == LatePolicy::Apply;
            out.push(Output::Late(Late {
                id: 0,
                ts: ev.ts,
                kind: ev.kind_name.clone(),
                event: ev.seq,
                watermark: Timestamp {
                    ms: latest.saturating_sub(self.config.lateness_ms),
                    offset_min: ev.ts.offset_min,
                },
                signals: skip
                    .iter()
                    .filter_map(|&s| self.signals.get(usize::from(s)).map(|r| r.name.clone()))
                    .collect(),
                applied: apply,
            }));
            if let (true, Some(c)) = (apply, self.compiled.as_mut()) {
                // each key applies an event at the latest of its own time and the event's
                c.push_skipping(ev, &[], |e, ch| out.push(e.output(ev, ch)))?;
                self.stats.applied += 1;
                return Ok(None);
            }
            if apply {
                // applied at each key's current time, right away
                for &s in sigs.iter() {
                    if let Some(key) = self.key_of(s, ev)? {
                        let now = self
                            .signals
                            .get(s)
                            .and_then(|r| r.keys.get(&key))
                            .map_or(ev.ts.ms, |k| k.last_ms.max(ev.ts.ms));
                        let mut shifted = ev.clone();
                        shifted.ts.ms = now;
                        self.apply(s, key, &shifted, out);
                    }
                }
                self.stats.applied += 1;
                return Ok(None);
            }
            if skip.len() == sigs.len() && !for_plans {
                return Ok(None);
            }
        }
        if self.max_ts.is_none_or(|m| ev.ts.ms > m.ms) {
            self.max_ts = Some(ev.ts);
        }
        Ok(Some(skip))
    }

    /// Puts an accepted event into the reorder buffer and releases what the
    /// watermark passed.
    fn enqueue(&mut self, ev: Event, skip: Vec<u16>, out: &mut Vec<Output>) {
        self.pending.push(Queued { ev, skip });
        let wm = self
            .max_ts
            .map_or(i64::MIN, |m| m.ms.saturating_sub(self.max_lateness()));
        self.release(wm, out);
    }

    /// End of stream: releases every buffered event and fires the absence
    /// timers due by the latest event time.
    pub fn flush(&mut self, out: &mut Vec<Output>) {
        let from = out.len();
        self.flush_inner(out);
        self.number(out, from);
    }

    fn flush_inner(&mut self, out: &mut Vec<Output>) {
        if let Some(m) = self.max_ts {
            self.release(m.ms, out);
            self.scripts.flush(m);
            out.append(&mut self.scripts.pending);
            if let Some(wf) = self.workflow.as_mut() {
                wf.advance(m.ms, out);
            }
        }
    }

    /// Applies buffered events with `ts <= wm` and absence timers with
    /// `deadline < wm`, in time order (an event at exactly a deadline counts
    /// as on time).
    fn release(&mut self, wm: i64, out: &mut Vec<Output>) {
        loop {
            let next_ev = self.pending.next_time().filter(|&t| t <= wm);
            let next_timer = self.absence.first().map(|t| t.0).filter(|&d| d < wm);
            match (next_ev, next_timer) {
                (Some(t), Some(d)) if d < t => self.fire_absence(out),
                (Some(_), _) => {
                    if let Some(q) = self.pending.pop() {
                        self.released = self.released.max(q.ev.ts.ms);
                        self.apply_event(&q, out);
                        if self.spare_events.len() < SPARE_EVENTS {
                            self.spare_events.push(q.ev);
                        }
                    }
                }
                (None, Some(_)) => self.fire_absence(out),
                (None, None) => break,
            }
        }
        self.released = self.released.max(wm);
        if let Some(d) = self.deadlines.as_mut() {
            d.advance(wm, out);
        }
        self.forget_old(wm);
    }

    fn fire_absence(&mut self, out: &mut Vec<Output>) {
        let Some((deadline, s, key)) = self.absence.pop_first() else {
            return;
        };
        // plan timers due earlier come first, so outputs stay in time order
        if let Some(wf) = self.workflow.as_mut() {
            wf.advance(deadline, out);
        }
        let (Some(rt), Some(def)) = (
            self.signals.get_mut(usize::from(s)),
            self.program.signals.get(usize::from(s)),
        ) else {
            return;
        };
        let Some(st) = rt.keys.get_mut(&key) else {
            return;
        };
        st.absent = true;
        let offset = self.max_ts.map_or(0, |m| m.offset_min);
        out.push(Output::Absence(Absence {
            id: 0,
            ts: Timestamp {
                ms: deadline,
                offset_min: offset,
            },
            signal: rt.name.clone(),
            key,
            last_seen: st.seen.then_some(Timestamp {
                ms: st.last_ms,
                offset_min: offset,
            }),
            missing: format_duration(def.missing_ms.unwrap_or(0)),
        }));
    }

    /// Roster keys are expected from the start of the stream.
    fn start_roster(&mut self, first: Timestamp) {
        for (i, def) in self.program.signals.iter().enumerate() {
            let Some(missing) = def.missing_ms else {
                continue;
            };
            let Some(rt) = self.signals.get_mut(i) else {
                continue;
            };
            for k in &def.roster {
                let key: Arc<str> = Arc::from(k.as_str());
                if rt.keys.contains_key(&key) {
                    continue;
                }
                let st = new_key_state(rt, def, &key, first.ms);
                rt.keys.insert(key.clone(), st);
                self.absence
                    .insert((first.ms.saturating_add(missing), i as u16, key));
            }
        }
    }

    fn forget_old(&mut self, wm: i64) {
        // duplicate filters only need what could still arrive in time
        let horizon = wm.saturating_sub(self.max_lateness());
        if self.seen_ids.len() > 1024 || !self.seen_kkt.is_empty() {
            self.seen_ids.retain(|_, ts| *ts >= horizon);
            self.seen_kkt.retain(|(_, _, ts)| *ts >= horizon);
        }
        let Some(ttl) = self.config.idle_ttl_ms else {
            return;
        };
        if wm < self.last_sweep.saturating_add(ttl / 8) {
            return;
        }
        self.last_sweep = wm;
        let cutoff = wm.saturating_sub(ttl);
        for (i, rt) in self.signals.iter_mut().enumerate() {
            let before = rt.keys.len();
            let absence = &mut self.absence;
            let missing = self.program.signals.get(i).and_then(|d| d.missing_ms);
            rt.keys.retain(|k, st| {
                let keep = st.last_ms >= cutoff;
                if !keep {
                    if let Some(m) = missing {
                        absence.remove(&(st.last_ms.saturating_add(m), i as u16, k.clone()));
                    }
                }
                keep
            });
            self.stats.evicted += (before - rt.keys.len()) as u64;
        }
    }

    fn apply_event(&mut self, q: &Queued, out: &mut Vec<Output>) {
        let Some(sigs) =
            q.ev.kind
                .and_then(|k| self.by_kind.get(usize::from(k)))
                .cloned()
        else {
            return;
        };
        // plan timers due before this event come first
        if let Some(wf) = self.workflow.as_mut() {
            wf.advance(q.ev.ts.ms, out);
        }
        let first = out.len();
        self.apply_signals(q, &sigs, out);
        if let Some(wf) = self.workflow.as_mut() {
            // the event itself (acks, manual starts), then reactions to level changes
            let produced = out.split_off(first);
            wf.on_event(&q.ev, out);
            for o in produced {
                out.push(o.clone());
                wf.on_output(&o, out);
            }
        }
    }

    fn apply_signals(&mut self, q: &Queued, sigs: &[usize], out: &mut Vec<Output>) {
        if let Some(c) = self.compiled.as_mut() {
            // keys were checked when the event was accepted
            if let Ok(true) = c.push_skipping(&q.ev, &q.skip, |e, ch| out.push(e.output(&q.ev, ch)))
            {
                self.stats.applied += 1;
            }
            return;
        }
        let mut applied = false;
        for &s in sigs {
            if q.skip.contains(&(s as u16)) {
                continue;
            }
            if let Ok(Some(key)) = self.key_of(s, &q.ev) {
                self.apply(s, key, &q.ev, out);
                applied = true;
            }
        }
        if applied {
            self.stats.applied += 1;
        }
    }

    fn apply(&mut self, s: usize, key: Arc<str>, ev: &Event, out: &mut Vec<Output>) {
        let (Some(def), Some(rt)) = (self.program.signals.get(s), self.signals.get_mut(s)) else {
            return;
        };
        if !rt.keys.contains_key(&key) {
            let st = new_key_state(rt, def, &key, ev.ts.ms);
            rt.keys.insert(key.clone(), st);
        }
        let Some(st) = rt.keys.get_mut(&key) else {
            return;
        };
        let now = ev.ts.ms.max(st.last_ms);
        // absence: this reading ends a silence and re-arms the timer
        if let Some(missing) = def.missing_ms {
            if st.seen || def.roster.iter().any(|r| r.as_str() == key.as_ref()) {
                let old = if st.seen {
                    st.last_ms
                } else {
                    self.max_ts.map_or(now, |_| 0)
                };
                self.absence
                    .remove(&(old.saturating_add(missing), s as u16, key.clone()));
                // a roster key never seen has its timer at stream start + missing
                if !st.seen {
                    let first = self
                        .absence
                        .iter()
                        .find(|(_, si, k)| *si == s as u16 && *k == key)
                        .cloned();
                    if let Some(t) = first {
                        self.absence.remove(&t);
                    }
                }
            }
            if st.absent {
                st.absent = false;
                out.push(Output::Recovered(Recovered {
                    id: 0,
                    ts: ev.ts,
                    signal: rt.name.clone(),
                    key: key.clone(),
                    last_seen: st.seen.then_some(Timestamp {
                        ms: st.last_ms,
                        offset_min: ev.ts.offset_min,
                    }),
                    event: ev.seq,
                }));
            }
            self.absence
                .insert((now.saturating_add(missing), s as u16, key.clone()));
        }
        st.seen = true;
        st.last_ms = now;
        st.windows
            .advance_local(now, i64::from(ev.ts.offset_min) * MS_PER_MINUTE);
        let row: &[Value] = match (def.table, st.row) {
            (Some(t), Some(r)) => self
                .program
                .tables
                .get(usize::from(t))
                .and_then(|t| t.rows.get(r as usize))
                .map_or(&[], |(_, v)| v.as_slice()),
            _ => &[],
        };
        let event_scope = Scope {
            fields: &ev.fields,
            lets: &[],
            windows: None,
            row,
        };
        let mut calls = ScriptCalls {
            rt: &mut self.scripts,
            site: crate::script::CallSite {
                signal: &rt.name,
                key: &key,
                event: ev.seq,
                ts: ev.ts,
            },
        };
        for (g, input) in rt.layout.inputs().enumerate() {
            let x = match eval_with(input, &event_scope, &mut calls) {
                Value::Num(n) => Fixed::from_f64(n),
                Value::Bool(b) => Some(Fixed(if b { Fixed::SCALE } else { 0 })),
                _ => None,
            };
            if let Some(x) = x {
                st.windows.push(g, now, x);
            }
        }
        self.lets.clear();
        for l in &def.lets {
            let v = eval_with(
                &l.expr,
                &Scope {
                    fields: &ev.fields,
                    lets: &self.lets,
                    windows: Some((&rt.layout, &st.windows)),
                    row,
                },
                &mut calls,
            );
            self.lets.push(v);
        }
        let scope = Scope {
            fields: &ev.fields,
            lets: &self.lets,
            windows: Some((&rt.layout, &st.windows)),
            row,
        };
        // which rules hold, which are armed (held long enough)
        let mut up: Option<usize> = None;
        let mut cur_holds = false;
        let mut cur_rule = None;
        for (i, r) in def.levels.iter().enumerate() {
            let holds = eval_with(&r.when, &scope, &mut calls).is_true();
            let rs = match st.rules.get_mut(i) {
                Some(rs) => rs,
                None => continue,
            };
            if holds {
                let since = *rs.since.get_or_insert(now);
                rs.readings = rs.readings.saturating_add(1);
                let armed = now.saturating_sub(since) >= r.for_ms && rs.readings >= r.for_readings;
                if armed && up.is_none() {
                    up = Some(i);
                }
            } else {
                rs.since = None;
                rs.readings = 0;
            }
            if r.level == st.level {
                cur_rule = Some(i);
                cur_holds = match &r.clear {
                    Some(c) => !eval_with(c, &scope, &mut calls).is_true(),
                    None => holds,
                };
            }
        }
        // failed script calls are reported before any change they affected
        out.append(&mut self.scripts.pending);
        let up_level = up
            .and_then(|i| def.levels.get(i))
            .map_or(Level::None, |r| r.level);
        let from = st.level;
        let (to, reason, since) = if up_level > from {
            let since = up
                .and_then(|i| st.rules.get(i))
                .and_then(|r| r.since)
                .unwrap_or(now);
            (up_level, "raise", since)
        } else if from == Level::None || cur_holds {
            st.stay_false_since = None;
            return;
        } else {
            let false_since = *st.stay_false_since.get_or_insert(now);
            let hold = cur_rule
                .and_then(|i| def.levels.get(i))
                .map_or(0, |r| r.hold_ms);
            if now.saturating_sub(false_since) < hold {
                return;
            }
            if def.step_down {
                (up_level.max(from.step_down()), "step_down", false_since)
            } else {
                (up_level, "clear", false_since)
            }
        };
        if to == from {
            return;
        }
        st.level = to;
        let fired = def.levels.iter().position(|r| r.level == to);
        // a level entered on the way down whose own condition is already
        // false starts its hold now (so each step is held, not skipped)
        st.stay_false_since = match fired.and_then(|i| def.levels.get(i)) {
            Some(r) if reason != "raise" => {
                let stays = match &r.clear {
                    Some(c) => !eval(c, &scope).is_true(),
                    None => eval(&r.when, &scope).is_true(),
                };
                (!stays).then_some(now)
            }
            _ => None,
        };
        let rule = fired.and_then(|i| rt.rule_texts.get(i));
        out.push(Output::LevelChanged(LevelChange {
            id: 0,
            ts: Timestamp {
                ms: now,
                offset_min: ev.ts.offset_min,
            },
            signal: rt.name.clone(),
            key,
            from,
            to,
            rule: rule.map(|r| r.0.clone()),
            rule_at: rule.map(|r| r.1.clone()),
            values: Values(
                rt.let_names
                    .iter()
                    .cloned()
                    .zip(self.lets.iter().cloned())
                    .collect(),
            ),
            event: ev.seq,
            reason,
            since: Timestamp {
                ms: since,
                offset_min: ev.ts.offset_min,
            },
        }));
    }

    /// The current level of `key` in `signal`.
    pub fn level(&self, signal: &str, key: &str) -> Level {
        if let Some(c) = &self.compiled {
            return c.level(signal, key);
        }
        self.signals
            .iter()
            .find(|s| s.name.as_ref() == signal)
            .and_then(|s| s.keys.get(key))
            .map_or(Level::None, |k| k.level)
    }

    /// Lines script functions wrote with `print`/`debug` since the last
    /// call (never to stdout), and how many older lines were dropped (the
    /// log keeps the last [`crate::script::LOG_CAPACITY`]).
    pub fn script_log(&self) -> (Vec<String>, u64) {
        self.scripts.take_log()
    }

    /// Events accepted but still held back by the lateness.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Number of keys held over all signals.
    pub fn key_count(&self) -> usize {
        if let Some(c) = &self.compiled {
            return c.key_count();
        }
        self.signals.iter().map(|s| s.keys.len()).sum()
    }

    /// Approximate heap bytes of per-key state (for memory reports).
    pub fn state_bytes(&self) -> usize {
        if let Some(c) = &self.compiled {
            return c.state_bytes();
        }
        self.signals
            .iter()
            .map(|s| {
                s.keys
                    .iter()
                    .map(|(k, st)| {
                        k.len()
                            + std::mem::size_of::<KeyState>()
                            + st.windows.heap_bytes()
                            + st.rules.capacity() * std::mem::size_of::<RuleState>()
                            + 16
                    })
                    .sum::<usize>()
            })
            .sum()
    }
}

pub(crate) fn new_key_state(rt: &SignalRt, def: &SignalDef, key: &Arc<str>, now: i64) -> KeyState {
    KeyState {
        last_ms: now,
        seen: false,
        level: Level::None,
        stay_false_since: None,
        rules: vec![RuleState::default(); def.levels.len()],
        windows: rt.layout.new_state(),
        absent: false,
        row: rt.table_rows.get(key).copied(),
    }
}
