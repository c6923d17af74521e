//! The runtime: per-signal, per-key state driven by events.

use crate::eval::{Scope, eval};
use crate::event::{Event, EventError, Schema};
use crate::ir::{KindId, Program, ProgramError};
use crate::output::{LevelChange, Output, Values};
use crate::time::Timestamp;
use crate::value::{Fixed, Level, Value};
use crate::window::{WindowLayout, WindowState};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Why an event could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PushError {
    /// A key received a timestamp earlier than one it already has.
    #[error(
        "timestamp {ts} is earlier than {last}, already seen for key `{key}` of signal `{signal}` (events of one key must arrive in time order)"
    )]
    Backwards {
        /// Signal.
        signal: String,
        /// Key.
        key: String,
        /// The rejected time.
        ts: Timestamp,
        /// The latest time already applied.
        last: Timestamp,
    },
    /// The key field's value is missing or not text/number.
    #[error("signal `{signal}` is keyed by `{field}`, which this event does not carry")]
    NoKey {
        /// Signal.
        signal: String,
        /// The key field.
        field: String,
    },
}

/// State of one key of one signal.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyState {
    /// Latest event time applied.
    pub last_ms: i64,
    /// Current level.
    pub level: Level,
    /// Window contents.
    pub windows: WindowState,
}

struct SignalRt {
    name: Arc<str>,
    layout: WindowLayout,
    let_names: Vec<Arc<str>>,
    rule_texts: Vec<(Arc<str>, Arc<str>)>,
    keys: FxHashMap<Arc<str>, KeyState>,
}

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
///         windows: vec![], lets: vec![],
///         levels: vec![LevelRule { level: Level::Red, text: "red when mm >= 10".into(), at: String::new(),
///             when: Expr::Binary(BinOp::Ge, Box::new(Expr::Field(1)), Box::new(Expr::Const(Value::Num(10.0)))) }],
///     }],
/// };
/// let mut engine = Engine::new(p).unwrap();
/// let mut out = Vec::new();
/// engine.push_line(r#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","station":"A","mm":12}"#, 1, &mut out).unwrap();
/// assert_eq!(out.len(), 1);
/// ```
pub struct Engine {
    program: Arc<Program>,
    schema: Schema,
    signals: Vec<SignalRt>,
    by_kind: Vec<Vec<usize>>,
    lets: Vec<Value>,
    scratch_event: Option<Event>,
    ignored: u64,
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
}

impl Engine {
    /// Builds the runtime; fails only on a structurally invalid program.
    pub fn new(program: Program) -> Result<Engine, ProgramError> {
        program.validate()?;
        let mut by_kind = vec![Vec::new(); program.kinds.len()];
        let signals = program
            .signals
            .iter()
            .enumerate()
            .map(|(i, s)| {
                for k in &s.kinds {
                    if let Some(v) = by_kind.get_mut(usize::from(*k)) {
                        v.push(i);
                    }
                }
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
                }
            })
            .collect();
        Ok(Engine {
            schema: Schema::new(&program),
            program: Arc::new(program),
            signals,
            by_kind,
            lets: Vec::new(),
            scratch_event: None,
            ignored: 0,
        })
    }

    /// The compiled program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The event schema (for parsing events outside [`Engine::push_line`]).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Parses an event line (see [`Schema::parse`]).
    pub fn parse_event(&self, line: &str, seq: u64) -> Result<Event, EventError> {
        self.schema.parse(line, &self.program, seq)
    }

    /// Parses and applies one JSONL line; on error nothing is applied.
    pub fn push_line(&mut self, line: &str, seq: u64, out: &mut Vec<Output>) -> Result<(), LineError> {
        let mut ev = self.scratch_event.take().unwrap_or_else(|| Event {
            ts: Timestamp::default(),
            kind: None,
            kind_name: Arc::from(""),
            id: None,
            fields: Vec::new(),
            seq,
        });
        let r = match self.schema.parse_into(line, &self.program, seq, &mut ev) {
            Ok(()) => self.push(&ev, out).map_err(LineError::from),
            Err(e) => Err(e.into()),
        };
        self.scratch_event = Some(ev);
        r
    }

    /// Whether any signal listens to this event's kind.
    pub fn is_used(&self, kind: Option<KindId>) -> bool {
        kind.and_then(|k| self.by_kind.get(usize::from(k))).is_some_and(|v| !v.is_empty())
    }

    fn key_of(&self, sig: usize, ev: &Event) -> Result<Option<Arc<str>>, PushError> {
        let Some(def) = self.program.signals.get(sig) else {
            return Ok(None);
        };
        let scope = Scope {
            fields: &ev.fields,
            lets: &[],
            windows: None,
        };
        if let Some(f) = &def.filter {
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
                field: self.program.fields.get(usize::from(def.key)).cloned().unwrap_or_default(),
            }),
        }
    }

    /// Applies one event; on error nothing is applied.
    pub fn push(&mut self, ev: &Event, out: &mut Vec<Output>) -> Result<(), PushError> {
        let Some(sigs) = ev
            .kind
            .and_then(|k| self.by_kind.get(usize::from(k)))
            .filter(|s| !s.is_empty())
        else {
            self.ignored += 1;
            return Ok(());
        };
        let sigs = sigs.clone();
        // check first, so that a rejected event changes nothing
        let mut targets = Vec::with_capacity(sigs.len());
        for &s in &sigs {
            if let Some(key) = self.key_of(s, ev)? {
                if let Some(st) = self.signals.get(s).and_then(|rt| rt.keys.get(&key)) {
                    if st.last_ms > ev.ts.ms {
                        return Err(PushError::Backwards {
                            signal: self.program.signals.get(s).map(|d| d.name.clone()).unwrap_or_default(),
                            key: key.to_string(),
                            ts: ev.ts,
                            last: Timestamp {
                                ms: st.last_ms,
                                offset_min: ev.ts.offset_min,
                            },
                        });
                    }
                }
                targets.push((s, key));
            }
        }
        for (s, key) in targets {
            self.apply(s, key, ev, out);
        }
        Ok(())
    }

    fn apply(&mut self, s: usize, key: Arc<str>, ev: &Event, out: &mut Vec<Output>) {
        let (Some(def), Some(rt)) = (self.program.signals.get(s), self.signals.get_mut(s)) else {
            return;
        };
        let st = rt
            .keys
            .entry(key.clone())
            .or_insert_with(|| KeyState {
                last_ms: ev.ts.ms,
                level: Level::None,
                windows: rt.layout.new_state(),
            });
        st.last_ms = ev.ts.ms;
        st.windows.advance(ev.ts.ms);
        let event_scope = Scope {
            fields: &ev.fields,
            lets: &[],
            windows: None,
        };
        for (g, input) in rt.layout.inputs().enumerate() {
            if let Some(x) = eval(input, &event_scope).as_num().and_then(Fixed::from_f64) {
                st.windows.push(g, ev.ts.ms, x);
            }
        }
        self.lets.clear();
        for l in &def.lets {
            let v = eval(
                &l.expr,
                &Scope {
                    fields: &ev.fields,
                    lets: &self.lets,
                    windows: Some((&rt.layout, &st.windows)),
                },
            );
            self.lets.push(v);
        }
        let scope = Scope {
            fields: &ev.fields,
            lets: &self.lets,
            windows: Some((&rt.layout, &st.windows)),
        };
        let fired = def.levels.iter().position(|r| eval(&r.when, &scope).is_true());
        let to = fired.and_then(|i| def.levels.get(i)).map_or(Level::None, |r| r.level);
        if to != st.level {
            let rule = fired.and_then(|i| rt.rule_texts.get(i));
            out.push(Output::LevelChanged(LevelChange {
                ts: ev.ts,
                signal: rt.name.clone(),
                key,
                from: st.level,
                to,
                rule: rule.map(|r| r.0.clone()),
                rule_at: rule.map(|r| r.1.clone()),
                values: Values(rt.let_names.iter().cloned().zip(self.lets.iter().cloned()).collect()),
                event: ev.seq,
            }));
            st.level = to;
        }
    }

    /// The current level of `key` in `signal`.
    pub fn level(&self, signal: &str, key: &str) -> Level {
        self.signals
            .iter()
            .find(|s| s.name.as_ref() == signal)
            .and_then(|s| s.keys.get(key))
            .map_or(Level::None, |k| k.level)
    }

    /// How many accepted events no definition listens to (a typo in `kind`
    /// shows up here).
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Number of keys held over all signals.
    pub fn key_count(&self) -> usize {
        self.signals.iter().map(|s| s.keys.len()).sum()
    }
}
