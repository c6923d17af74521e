//! One engine per value of the partition field (`event rain partition by
//! county { … }`): what `partition by` means to `yingji run`, `yingji
//! replay` (and its `--threads`), as to `yingji worker`.
//!
//! The declared semantics is that partitions are independent: each value of
//! the field (a county) has its own engine — its own quorum clock, lateness,
//! duplicates, signal state, plans and timers. A line is parsed once (the
//! engine's own parser, [`Schema::parse_cached`]), its partition read from the
//! parsed field slot, and it is applied to that partition's engine, created
//! at the value's first line.
//!
//! **Order and ids.** The outputs a line produces come in input order; at the
//! end of input each partition finishes in the order of its first line. The
//! engines number their own outputs; a [`Partitioned`] renumbers them, from
//! 1 in that merged order, so ids stay unique in the output. Event positions
//! (`event`) are the input positions given, as without partitions.
//!
//! **Refused lines.** A line that does not parse is refused with the parse's
//! reason (no engine sees it); a line without the field, or with a value
//! that is not text, is refused with [`PartitionError`] (every kind of line,
//! acknowledgements and kinds no definition uses included: they cannot be
//! routed).

use std::borrow::Cow;
use std::sync::Arc;

use std::collections::HashMap;
use yingji_engine::event::{Schema, TextCache};
use yingji_engine::ir::{FieldId, Program};
use yingji_engine::jsonl::{Scalar, Scanner};
use yingji_engine::{
    Config, Engine, Event, EventError, LineError, Output, Stats, Timestamp, Value,
};

/// Why a line was not applied to any partition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// The line lacks the partition field (or it is `null`).
    #[error("no partition field `{0}` (the definitions partition by it)")]
    Missing(String),
    /// The field's value is not text.
    #[error("partition field `{field}` is not text: {got}")]
    NotText {
        /// The field.
        field: String,
        /// What was sent.
        got: String,
    },
    /// The line as any engine refuses it (parse, record checks, push).
    #[error(transparent)]
    Line(#[from] LineError),
}

/// What makes one partition's engine (the definitions' program, plans and
/// reporting deadlines, and the run's settings); shared by engine threads.
#[derive(Clone)]
pub struct EngineKit {
    program: Program,
    plans: yingji_engine::workflow::PlanSet,
    assess: yingji_engine::assess::AssessProgram,
    config: Config,
    /// The partition field and its slot.
    field: (String, FieldId),
    wall_ms: Option<i64>,
}

impl EngineKit {
    pub(crate) fn new(
        loaded: &yingji_dsl::load::Loaded,
        field: &str,
        config: Config,
    ) -> Result<EngineKit, crate::EngineError> {
        config.validate_for(&loaded.program)?;
        // the check guarantees a declared field: a slot exists
        let slot = Schema::new(&loaded.program).field(field).ok_or_else(|| {
            crate::EngineError::Program(yingji_engine::ir::ProgramError {
                signal: String::new(),
                problem: format!("the partition field `{field}` is no event field"),
            })
        })?;
        let kit = EngineKit {
            program: loaded.program.clone(),
            plans: loaded.plans.clone(),
            assess: loaded.assess.clone(),
            config,
            field: (field.to_string(), slot),
            wall_ms: None,
        };
        // a program or setting the engine refuses is refused now, not at a first line
        kit.engine()?;
        Ok(kit)
    }

    /// The partition field's name.
    pub fn field(&self) -> &str {
        &self.field.0
    }

    /// The wall time every engine is told (see [`Engine::set_wall_time`]).
    pub fn set_wall_time(&mut self, ms: i64) {
        self.wall_ms = Some(ms);
    }

    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    fn engine(&self) -> Result<Engine, crate::EngineError> {
        let e = Engine::with_config(self.program.clone(), self.config.clone())?
            .with_deadlines(self.assess.clone());
        let mut e = if self.plans.plans.is_empty() {
            e
        } else {
            e.with_plans(self.plans.clone())
        };
        if let Some(ms) = self.wall_ms {
            e.set_wall_time(ms);
        }
        Ok(e)
    }

    /// The partition of a parsed event: its field's text, from its parsed
    /// slot; for a kind that does not declare the field (an acknowledgement,
    /// a kind no definition uses: its slot is hidden), read from `line` by
    /// the engine's JSONL scanner.
    /// (Borrowed from the event, not cloned: the text is shared with the
    /// parser's cache, and its count touched by several threads.)
    pub fn partition_of<'e>(
        &self,
        ev: &'e Event,
        line: &'e str,
    ) -> Result<Cow<'e, str>, PartitionError> {
        match ev.fields.get(usize::from(self.field.1)) {
            Some(Value::Str(s)) => Ok(Cow::Borrowed(&**s)),
            Some(Value::Bool(b)) => Err(self.not_text(b.to_string())),
            Some(Value::Num(n)) => Err(self.not_text(n.to_string())),
            None | Some(Value::Null) => self.scan(line),
        }
    }

    /// The field's text in `line`, by [`Scanner`] (the line parsed already:
    /// a scan error is not expected, and is reported as the field missing).
    fn scan<'e>(&self, line: &'e str) -> Result<Cow<'e, str>, PartitionError> {
        let missing = || PartitionError::Missing(self.field.0.clone());
        let mut sc = Scanner::new(line);
        let (mut kbuf, mut vbuf) = (String::new(), String::new());
        sc.open().map_err(|_| missing())?;
        loop {
            let is_field = match sc.key(&mut kbuf).map_err(|_| missing())? {
                None => return Err(missing()),
                Some(k) => k == self.field.0,
            };
            if !is_field {
                sc.skip_value(&mut vbuf).map_err(|_| missing())?;
                continue;
            }
            return match sc.value(&mut vbuf).map_err(|_| missing())? {
                Scalar::Str(s) => Ok(Cow::Owned(s.to_string())),
                Scalar::Null => Err(missing()),
                Scalar::Bool(b) => Err(self.not_text(b.to_string())),
                Scalar::Num(n) => Err(self.not_text(n.to_string())),
                Scalar::Nested(k) => Err(self.not_text(format!("an {k}"))),
            };
        }
    }

    fn not_text(&self, got: String) -> PartitionError {
        PartitionError::NotText {
            field: self.field.0.clone(),
            got,
        }
    }
}

/// One engine per partition value, created at the value's first line (see
/// the module documentation).
pub struct Partitioned {
    kit: EngineKit,
    schema: Schema,
    texts: TextCache,
    index: HashMap<Arc<str>, usize>,
    /// (value, input position of its first line, engine), in first-line order.
    parts: Vec<(Arc<str>, u64, Engine)>,
    next_id: u64,
    /// Accepted lines no definition uses, over every partition.
    ignored: u64,
    /// Released events, buffers to parse into.
    spare: Vec<Event>,
}

/// Released events a [`Partitioned`] keeps as parse buffers.
const SPARE: usize = 64;

impl Partitioned {
    /// No partitions yet.
    pub fn new(kit: EngineKit) -> Partitioned {
        Partitioned {
            schema: Schema::new(&kit.program),
            kit,
            texts: TextCache::default(),
            index: HashMap::default(),
            parts: Vec::new(),
            next_id: 1,
            ignored: 0,
            spare: Vec::new(),
        }
    }

    /// What makes the engines.
    pub fn kit(&self) -> &EngineKit {
        &self.kit
    }

    /// The event schema (for parsing elsewhere, as [`Engine::schema`]).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Parses and applies one line at input position `seq` (as
    /// [`Engine::push_line`], to the line's partition).
    pub fn push_line(
        &mut self,
        line: &str,
        seq: u64,
        out: &mut Vec<Output>,
    ) -> Result<(), PartitionError> {
        let mut ev = self.spare.pop().unwrap_or_else(|| Event::empty(seq));
        let parsed = self
            .schema
            .parse_cached(line, &self.kit.program, seq, &mut ev, &mut self.texts)
            .map(|()| ev);
        self.push_parsed_line(parsed, line, out)
    }

    /// [`Partitioned::push_line`] for a line parsed elsewhere (as
    /// [`Engine::push_parsed_line`]).
    pub fn push_parsed_line(
        &mut self,
        parsed: Result<Event, EventError>,
        line: &str,
        out: &mut Vec<Output>,
    ) -> Result<(), PartitionError> {
        let ev = parsed.map_err(LineError::from)?;
        let i = self.partition(&ev, line)?;
        let from = out.len();
        let r = match self.parts.get_mut(i) {
            Some((_, _, engine)) => {
                let was = engine.stats().ignored;
                let r = engine.push_parsed_line(Ok(ev), line, out);
                self.ignored += engine.stats().ignored - was;
                while self.spare.len() < SPARE {
                    match engine.take_spare_event() {
                        Some(e) => self.spare.push(e),
                        None => break,
                    }
                }
                r.map_err(PartitionError::from)
            }
            None => Ok(()),
        };
        self.number(out, from);
        r
    }

    /// The index of the event's partition (created at its first line).
    fn partition(&mut self, ev: &Event, line: &str) -> Result<usize, PartitionError> {
        let value = self.kit.partition_of(ev, line)?;
        if let Some(&i) = self.index.get(&*value) {
            return Ok(i);
        }
        let value: Arc<str> = Arc::from(&*value);
        let engine = self
            .kit
            .engine()
            .map_err(|e| PartitionError::Line(LineError::Record(e.to_string())))?;
        let i = self.parts.len();
        self.index.insert(value.clone(), i);
        self.parts.push((value, ev.seq, engine));
        Ok(i)
    }

    fn number(&mut self, out: &mut [Output], from: usize) {
        for o in out.iter_mut().skip(from) {
            o.set_id(self.next_id);
            self.next_id += 1;
        }
    }

    /// An event buffer no partition needs any more (to parse the next line
    /// into elsewhere, as [`Engine::take_spare_event`]).
    pub fn take_spare_event(&mut self) -> Option<Event> {
        self.spare.pop()
    }

    /// How many accepted lines no definition uses, over every partition.
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Moves every partition's clock to `ts` (as [`Engine::advance_to`]),
    /// in first-line order.
    pub fn advance_to(&mut self, ts: Timestamp, out: &mut Vec<Output>) {
        self.advance_each(ts, |_, o| out.append(o));
    }

    /// [`Partitioned::advance_to`] one partition at a time: `each(its first
    /// line's input position, its outputs)`, in first-line order.
    pub fn advance_each(&mut self, ts: Timestamp, mut each: impl FnMut(u64, &mut Vec<Output>)) {
        let mut out = Vec::new();
        for i in 0..self.parts.len() {
            out.clear();
            if let Some((_, first, e)) = self.parts.get_mut(i) {
                let first = *first;
                e.advance_to(ts, &mut out);
                self.number(&mut out, 0);
                each(first, &mut out);
            }
        }
    }

    /// End of input (as [`Engine::finish`]): every partition in the order
    /// of its first line. With `until` before a partition's clock, that
    /// partition's refusal is the error (those before it have finished).
    pub fn finish(
        &mut self,
        until: Option<Timestamp>,
        out: &mut Vec<Output>,
    ) -> Result<(), yingji_engine::engine::ClockError> {
        self.finish_each(until, |_, o| out.append(o))
            .map_err(|(_, e)| e)
    }

    /// [`Partitioned::finish`] one partition at a time: `each(its first
    /// line's input position, its outputs)`, in first-line order; the error
    /// names the refusing partition's first line.
    pub fn finish_each(
        &mut self,
        until: Option<Timestamp>,
        mut each: impl FnMut(u64, &mut Vec<Output>),
    ) -> Result<(), (u64, yingji_engine::engine::ClockError)> {
        let mut out = Vec::new();
        for i in 0..self.parts.len() {
            out.clear();
            if let Some((_, first, e)) = self.parts.get_mut(i) {
                let first = *first;
                e.finish(until, &mut out).map_err(|e| (first, e))?;
                self.number(&mut out, 0);
                each(first, &mut out);
            }
        }
        Ok(())
    }

    /// The partitions: value, input position of its first line, engine, in
    /// first-line order.
    pub fn partitions(&self) -> impl Iterator<Item = (&str, u64, &Engine)> {
        self.parts.iter().map(|(v, s, e)| (&**v, *s, e))
    }

    /// The partitions' counters, added up.
    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        for (_, _, e) in &self.parts {
            let t = e.stats();
            s.accepted += t.accepted;
            s.applied += t.applied;
            s.ignored += t.ignored;
            s.late += t.late;
            s.duplicates += t.duplicates;
            s.evicted += t.evicted;
        }
        s
    }

    /// What the partitions' scripts logged (`print`/`debug`), partition by
    /// partition, and how many lines were dropped.
    pub fn script_log(&self) -> (Vec<String>, u64) {
        let (mut log, mut dropped) = (Vec::new(), 0);
        for (v, _, e) in &self.parts {
            let (l, d) = e.script_log();
            log.extend(l.into_iter().map(|l| format!("[{v}] {l}")));
            dropped += d;
        }
        (log, dropped)
    }
}
