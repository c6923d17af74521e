//! The signals operator: per-signal, per-key state (windows, `let`s, level
//! dynamics), absence timers (失联) and idle-key eviction.
//!
//! It receives the events the shell releases, in event-time order, and its
//! own absence timers at their instants. Each signal is evaluated by the
//! compiled evaluator ([`crate::compiled`]) when it compiles, else by the
//! reference evaluator ([`crate::eval`]); both give identical outputs. An
//! event read by signals on both paths is applied to them in signal order
//! (the compiled changes are held back and merged in), so outputs come in the
//! same order as with either path alone. Absence timers and rosters are kept
//! here, for the signals on the reference (no compiled signal uses them).

use crate::compiled::host::Services;
use crate::error::PushError;
use crate::eval::{At, Calls, Scope, eval, eval_with};
use crate::event::Event;
use crate::ir::{Program, SignalDef};
pub use crate::keys::{KeyState, RuleState};
use crate::output::{Absence, LevelChange, Output, Recovered, Values};
use crate::time::{MS_PER_MINUTE, Timestamp, format_duration};
use crate::value::{Fixed, Level, Value};
use crate::window::WindowLayout;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) struct SignalRt {
    pub(crate) name: Arc<str>,
    pub(crate) layout: WindowLayout,
    let_names: Vec<Arc<str>>,
    rule_texts: Vec<(Arc<str>, Arc<str>)>,
    /// The level machine's view of the rules.
    rules: Vec<crate::levels::Rule>,
    pub(crate) keys: FxHashMap<Arc<str>, KeyState>,
    pub(crate) lateness_ms: i64,
    table_rows: FxHashMap<Arc<str>, u32>,
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

/// A key's conditions for the level machine, evaluated by the reference
/// with its script calls.
struct RefConditions<'a, 'c> {
    def: &'a SignalDef,
    scope: &'a Scope<'a>,
    calls: ScriptCalls<'c>,
}

impl crate::levels::Conditions for RefConditions<'_, '_> {
    fn when(&mut self, i: usize) -> bool {
        self.def
            .levels
            .get(i)
            .is_some_and(|r| eval_with(&r.when, self.scope, &mut self.calls).is_true())
    }
    fn clear(&mut self, i: usize) -> Option<bool> {
        let c = self.def.levels.get(i)?.clear.as_ref()?;
        Some(eval_with(c, self.scope, &mut self.calls).is_true())
    }
}

/// The signals operator (see the module docs).
pub(crate) struct Signals {
    pub(crate) program: Arc<Program>,
    pub(crate) rts: Vec<SignalRt>,
    /// Signals reading each kind; shared, so an event borrows the list for
    /// a reference-count bump instead of copying it.
    pub(crate) by_kind: Vec<Arc<[usize]>>,
    /// `(deadline, signal, key)` of every absence timer.
    pub(crate) absence: AbsenceTimers,
    /// Keys forgotten by the idle expiry while reported absent: `(signal,
    /// key)` → last reading, so their return is still reported `recovered`.
    pub(crate) gone: FxHashMap<(u16, Arc<str>), i64>,
    pub(crate) last_sweep: i64,
    lets: Vec<Value>,
    /// The `days_since` values of the key being evaluated.
    marks: Vec<Value>,
    /// The member aggregates of the key being evaluated.
    groups: Vec<Value>,
    /// Script functions (rhai), compiled once; failures are reported by it.
    pub(crate) scripts: crate::script::ScriptRt,
    /// The compiled evaluator, when at least one signal compiles (see
    /// [`crate::compiled`]): it then holds the per-key state of the signals
    /// it runs in place of their `rts[..].keys`. Not used with an idle expiry.
    pub(crate) compiled: Option<crate::compiled::CompiledEngine>,
    /// Why no signal runs compiled when `compiled` is `None`.
    pub(crate) no_compiled: &'static str,
    /// Per kind: how its signals are evaluated (with `compiled` present).
    kind_mode: Vec<Mode>,
    /// The kinds made of a signal's level changes (`from SIGNAL`).
    fed: Vec<crate::ir::KindId>,
    /// The `members()` value of each area of each `via` signal.
    pub(crate) via_sizes: Vec<FxHashMap<Arc<str>, usize>>,
}

/// How the signals reading one kind are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// All on the compiled path.
    Compiled,
    /// All on the reference evaluator.
    Reference,
    /// Some on each: outputs are merged in signal order.
    Mixed,
}

impl Signals {
    pub(crate) fn new(
        program: Arc<Program>,
        default_lateness: i64,
        scripts: crate::script::ScriptRt,
        compiled: Option<crate::compiled::CompiledEngine>,
        no_compiled: &'static str,
    ) -> Signals {
        // a compiled engine running no signal is of no use
        let compiled = compiled.filter(|c| {
            program.signals.is_empty() || (0..program.signals.len()).any(|i| c.is_compiled(i))
        });
        let mut by_kind = vec![Vec::new(); program.kinds.len()];
        let rts = program
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
                    rules: s.levels.iter().map(crate::levels::Rule::of).collect(),
                    keys: FxHashMap::default(),
                    lateness_ms: s.lateness_ms.unwrap_or(default_lateness),
                    table_rows,
                }
            })
            .collect();
        let kind_mode = by_kind
            .iter()
            .map(|sigs| {
                let on = |i: &usize| compiled.as_ref().is_some_and(|c| c.is_compiled(*i));
                match (sigs.iter().all(on), sigs.iter().any(on)) {
                    (true, _) => Mode::Compiled,
                    (false, true) => Mode::Mixed,
                    (false, false) => Mode::Reference,
                }
            })
            .collect();
        let fed = program
            .signals
            .iter()
            .filter_map(|s| s.feeds.map(|f| f.kind))
            .collect();
        let via_sizes = program.signals.iter().map(via_sizes).collect();
        Signals {
            fed,
            via_sizes,
            program,
            rts,
            by_kind: by_kind.into_iter().map(Arc::from).collect(),
            no_compiled,
            kind_mode,
            absence: BTreeSet::new(),
            gone: FxHashMap::default(),
            last_sweep: i64::MIN,
            lets: Vec::new(),
            marks: Vec::new(),
            groups: Vec::new(),
            scripts,
            compiled,
        }
    }

    /// Signals reading kind `k`.
    pub(crate) fn reading(&self, k: Option<crate::ir::KindId>) -> Option<&Arc<[usize]>> {
        // a kind made of a signal's level changes is never an input
        k.filter(|k| !self.fed.contains(k))
            .and_then(|k| self.by_kind.get(usize::from(k)))
    }

    /// Feeds the level changes in `out[from..]` (and those they cause) to
    /// the signals reading their signal (`from SIGNAL`): each change is an
    /// event of the signal's kind, with `key`, `level` and `from`, at the
    /// change's time, applied right after the reading that made it.
    fn feed_changes(&mut self, from: usize, seq: u64, late: bool, out: &mut Vec<Output>) {
        if self.fed.is_empty() {
            return;
        }
        let mut i = from;
        while let Some(o) = out.get(i) {
            i += 1;
            let Output::LevelChanged(c) = o else {
                continue;
            };
            let Some(feed) = self
                .rts
                .iter()
                .position(|r| r.name == c.signal)
                .and_then(|s| self.program.signals.get(s))
                .and_then(|d| d.feeds)
            else {
                continue;
            };
            let mut fields = vec![Value::Null; self.program.fields.len()];
            for (slot, v) in [
                (feed.key, Value::Str(c.key.clone())),
                (feed.level, Value::Num(f64::from(c.to as u8))),
                (feed.from, Value::Num(f64::from(c.from as u8))),
            ] {
                if let Some(f) = fields.get_mut(usize::from(slot)) {
                    *f = v;
                }
            }
            let ev = Event {
                ts: c.ts,
                kind: Some(feed.kind),
                kind_name: c.signal.clone(),
                id: None,
                fields,
                seq,
            };
            let Some(sigs) = self.by_kind.get(usize::from(feed.kind)).cloned() else {
                continue;
            };
            let _ = self.apply_in_order(&ev, &[], &sigs, late, out);
        }
    }

    /// How the signals reading kind `k` are evaluated.
    fn mode(&self, k: Option<crate::ir::KindId>) -> Mode {
        if self.compiled.is_none() {
            return Mode::Reference;
        }
        k.and_then(|k| self.kind_mode.get(usize::from(k)))
            .copied()
            .unwrap_or(Mode::Reference)
    }

    /// Per signal, `Ok` when it runs compiled, else why not.
    pub(crate) fn compiled_signals(&self) -> Vec<(String, Result<(), String>)> {
        self.program
            .signals
            .iter()
            .enumerate()
            .map(|(i, def)| {
                let status = match &self.compiled {
                    Some(c) => match c.unsupported_feature(i) {
                        None => Ok(()),
                        Some(f) if f == crate::compiled::FORCED => Err(f.to_string()),
                        Some(f) => Err(format!("uses {f}")),
                    },
                    None => Err(self.no_compiled.to_string()),
                };
                (def.name.clone(), status)
            })
            .collect()
    }

    /// The key of `ev` for signal `sig` (`None`: the signal's filter leaves
    /// the event out); an error when the key field is missing.
    pub(crate) fn key_of(&self, sig: usize, ev: &Event) -> Result<Option<Arc<str>>, PushError> {
        let Some(def) = self.program.signals.get(sig) else {
            return Ok(None);
        };
        if let Some(f) = &def.filter {
            let scope = Scope {
                fields: &ev.fields,
                lets: &[],
                windows: None,
                row: &[],
                at: At {
                    kind: ev.kind,
                    ms: ev.ts.ms,
                    marks: &[],
                    groups: &[],
                },
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

    /// Checks every key the event needs (nothing changes); returns the first.
    pub(crate) fn check_keys(
        &mut self,
        ev: &Event,
        sigs: &[usize],
    ) -> Result<Option<Arc<str>>, PushError> {
        if self.mode(ev.kind) == Mode::Compiled
            && let Some(c) = self.compiled.as_mut()
        {
            return c.check_keys(ev);
        }
        // mixed kinds too: the compiled path finds the same keys and errors
        let mut first_key = None;
        for &s in sigs {
            let k = self.key_of(s, ev)?;
            if first_key.is_none() {
                first_key = k;
            }
        }
        Ok(first_key)
    }

    /// When the earliest absence timer is due.
    pub(crate) fn next_due(&self) -> Option<i64> {
        self.absence.first().map(|t| t.0)
    }

    /// Fires the absence timers due at or before `t`, in time order.
    pub(crate) fn fire_through(&mut self, t: i64, offset_min: i16, out: &mut Vec<Output>) {
        while self.absence.first().is_some_and(|a| a.0 <= t) {
            self.fire_absence(offset_min, out);
        }
    }

    fn fire_absence(&mut self, offset: i16, out: &mut Vec<Output>) {
        let Some((deadline, s, key)) = self.absence.pop_first() else {
            return;
        };
        let (Some(rt), Some(def)) = (
            self.rts.get_mut(usize::from(s)),
            self.program.signals.get(usize::from(s)),
        ) else {
            return;
        };
        let missing = def.missing_ms.unwrap_or(0);
        let compiled = self
            .compiled
            .as_mut()
            .filter(|c| c.is_compiled(usize::from(s)));
        let found = match compiled {
            Some(c) => c.absence_due(usize::from(s), &key, deadline, missing),
            None => rt
                .keys
                .get_mut(&key)
                .map(|st| absence_due(&mut st.absent, st.seen, st.last_ms, deadline, missing)),
        };
        let (seen, last_ms) = match found {
            // forgotten, or already reported
            None | Some(Due::Drop) => return,
            // read since: the timer moves to its key's real deadline
            Some(Due::Later(at)) => {
                self.absence.insert((at, s, key));
                return;
            }
            Some(Due::Fire { seen, last_ms }) => (seen, last_ms),
        };
        out.push(Output::Absence(Absence {
            id: 0,
            ts: Timestamp {
                ms: deadline,
                offset_min: offset,
            },
            signal: rt.name.clone(),
            key,
            last_seen: seen.then_some(Timestamp {
                ms: last_ms,
                offset_min: offset,
            }),
            missing: format_duration(missing),
        }));
    }

    /// Roster keys are expected from the start of the stream.
    pub(crate) fn start_roster(&mut self, first: Timestamp) {
        for (i, def) in self.program.signals.iter().enumerate() {
            let Some(missing) = def.missing_ms else {
                continue;
            };
            let Some(rt) = self.rts.get_mut(i) else {
                continue;
            };
            let compiled = self.compiled.as_mut().filter(|c| c.is_compiled(i));
            let mut compiled = compiled;
            for k in &def.roster {
                let key: Arc<str> = Arc::from(k.as_str());
                if let Some(c) = compiled.as_deref_mut() {
                    if !c.expect_key(i, &key, first.ms) {
                        continue;
                    }
                } else {
                    if rt.keys.contains_key(&key) {
                        continue;
                    }
                    let st = new_key_state(rt, def, &key, first.ms);
                    rt.keys.insert(key.clone(), st);
                }
                self.absence
                    .insert((first.ms.saturating_add(missing), i as u16, key));
            }
        }
    }

    /// Forgets keys silent for longer than `ttl` (at most every `ttl / 8`).
    /// A key reported absent is remembered in `gone`, so that its return is
    /// still reported as `recovered`.
    pub(crate) fn forget_idle(&mut self, wm: i64, ttl: i64, evicted: &mut u64) {
        if wm < self.last_sweep.saturating_add(ttl / 8) {
            return;
        }
        self.last_sweep = wm;
        let cutoff = wm.saturating_sub(ttl);
        for (i, rt) in self.rts.iter_mut().enumerate() {
            let before = rt.keys.len();
            let gone = &mut self.gone;
            let missing = self.program.signals.get(i).and_then(|d| d.missing_ms);
            rt.keys.retain(|k, st| {
                let keep = st.last_ms >= cutoff;
                // (a forgotten key's absence timer, if any, is dropped when it comes)
                if !keep && missing.is_some() && st.absent {
                    gone.insert((i as u16, k.clone()), st.last_ms);
                }
                keep
            });
            *evicted += (before - rt.keys.len()) as u64;
        }
    }

    /// Applies a released event to every signal reading its kind, except
    /// those in `skip` (it is late for them); returns whether any applied it.
    pub(crate) fn apply_event(&mut self, ev: &Event, skip: &[u16], out: &mut Vec<Output>) -> bool {
        let Some(sigs) = self.reading(ev.kind).cloned() else {
            return false;
        };
        // keys were checked when the event was accepted
        let start = out.len();
        let applied = self
            .apply_in_order(ev, skip, &sigs, false, out)
            .unwrap_or(false);
        self.feed_changes(start, ev.seq, false, out);
        applied
    }

    /// Applies a late event right away at each key's own time (late policy
    /// `apply`).
    pub(crate) fn apply_late(
        &mut self,
        ev: &Event,
        sigs: &[usize],
        out: &mut Vec<Output>,
    ) -> Result<(), PushError> {
        // each key applies an event at the latest of its own time and the event's
        let start = out.len();
        let applied = self.apply_in_order(ev, &[], sigs, true, out).map(|_| ());
        self.feed_changes(start, ev.seq, true, out);
        applied
    }

    /// Applies `ev` to the signals `sigs` (but those in `skip`), each on its
    /// own path, in signal order: a compiled signal's evaluation and its
    /// outputs come where the signal is declared, between the reference
    /// ones (the script limiter is shared, so the order of calls matters as
    /// much as the order of outputs). `late`: each reference key applies the
    /// event at the latest of its own time and the event's (the compiled
    /// path always does), and a missing key is an error.
    fn apply_in_order(
        &mut self,
        ev: &Event,
        skip: &[u16],
        sigs: &[usize],
        late: bool,
        out: &mut Vec<Output>,
    ) -> Result<bool, PushError> {
        let mode = self.mode(ev.kind);
        if mode == Mode::Compiled
            && let Some(c) = self.compiled.as_mut()
        {
            let mut svc = Services {
                scripts: &mut self.scripts,
                absence: &mut self.absence,
                gone: &mut self.gone,
            };
            return c.push_operator(ev, skip, &mut svc, |_, o| out.push(o));
        }
        // mixed: the compiled engine is set aside while the reference
        // signals are applied between its own
        let mut compiled = match mode {
            Mode::Reference | Mode::Compiled => None,
            Mode::Mixed => self.compiled.take(),
        };
        let mut applied = false;
        if let Some(c) = compiled.as_mut() {
            match c.prepare(ev, skip) {
                Ok(fed) => applied = fed,
                Err(e) => {
                    self.compiled = compiled;
                    return Err(e);
                }
            }
        }
        let mut result = Ok(());
        for &s in sigs {
            let compiled_here = compiled.as_ref().is_some_and(|c| c.is_compiled(s));
            if skip.contains(&(s as u16)) || compiled_here {
                continue;
            }
            let key = match self.key_of(s, ev) {
                Ok(Some(key)) => key,
                Ok(None) => continue,
                Err(e) if late => {
                    result = Err(e);
                    break;
                }
                Err(_) => continue,
            };
            if let Some(c) = compiled.as_mut() {
                let mut svc = Services {
                    scripts: &mut self.scripts,
                    absence: &mut self.absence,
                    gone: &mut self.gone,
                };
                c.apply_before(ev, s, &mut svc, |_, o| out.push(o));
            }
            // a `via` signal: the key is a member, applied to each of its areas
            let areas: Vec<Arc<str>> =
                match self.program.signals.get(s).and_then(|d| d.via.as_ref()) {
                    Some(via) => via
                        .areas(&key)
                        .iter()
                        .map(|a| Arc::from(a.as_str()))
                        .collect(),
                    None => vec![key.clone()],
                };
            let member = self
                .program
                .signals
                .get(s)
                .is_some_and(|d| d.via.is_some())
                .then(|| key.clone());
            // (a member of no area feeds nothing)
            applied |= !areas.is_empty();
            for area in areas {
                if late {
                    let now = self
                        .rts
                        .get(s)
                        .and_then(|r| r.keys.get(&area))
                        .map_or(ev.ts.ms, |k| k.last_ms.max(ev.ts.ms));
                    let mut shifted = ev.clone();
                    shifted.ts.ms = now;
                    self.apply(s, area, member.as_ref(), &shifted, out);
                } else {
                    self.apply(s, area, member.as_ref(), ev, out);
                }
            }
        }
        if let Some(c) = compiled.as_mut() {
            let mut svc = Services {
                scripts: &mut self.scripts,
                absence: &mut self.absence,
                gone: &mut self.gone,
            };
            c.apply_before(ev, usize::MAX, &mut svc, |_, o| out.push(o));
        }
        if compiled.is_some() {
            self.compiled = compiled;
        }
        result.map(|()| applied)
    }

    /// Applies `ev` to `key` of signal `s` (the reference evaluator).
    fn apply(
        &mut self,
        s: usize,
        key: Arc<str>,
        member: Option<&Arc<str>>,
        ev: &Event,
        out: &mut Vec<Output>,
    ) {
        let (Some(def), Some(rt)) = (self.program.signals.get(s), self.rts.get_mut(s)) else {
            return;
        };
        if !rt.keys.contains_key(&key) {
            let mut st = new_key_state(rt, def, &key, ev.ts.ms);
            if let Some(last) = self.gone.remove(&(s as u16, key.clone())) {
                // forgotten while absent: its return is a recovery
                st.seen = true;
                st.absent = true;
                st.last_ms = last;
            }
            rt.keys.insert(key.clone(), st);
        }
        let Some(st) = rt.keys.get_mut(&key) else {
            return;
        };
        let now = ev.ts.ms.max(st.last_ms);
        // a `via` signal reads its member's row (it has one: it has areas)
        let table = def
            .table
            .filter(|_| member.is_none())
            .and_then(|t| self.program.tables.get(usize::from(t)))
            .map(|t| t.name.as_str());
        if let Some(m) = member {
            st.row = rt.table_rows.get(m).copied();
        }
        let reading = Reading {
            signal: s as u16,
            name: &rt.name,
            key: &key,
            ev,
            prior: st.last_ms,
            now,
        };
        reading.before(
            Seen {
                seen: st.seen,
                absent: &mut st.absent,
                has_row: st.row.is_some(),
            },
            def.missing_ms.map(|m| (m, &mut self.absence)),
            || def.roster.iter().any(|r| r.as_str() == key.as_ref()),
            table,
            out,
        );
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
            at: At {
                kind: ev.kind,
                ms: now,
                marks: &[],
                groups: &[],
            },
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
        // `days_since`: each mark's condition, once per reading
        for (m, last) in def.marks.iter().zip(st.marks.iter_mut()) {
            if eval_with(m, &event_scope, &mut calls).is_true() {
                *last = Some(now);
            }
        }
        self.marks.clear();
        self.marks.extend(
            st.mark_values(now)
                .map(|v| v.map_or(Value::Null, Value::Num)),
        );
        // member aggregates: the member's latest value, then the area's
        self.groups.clear();
        if let Some(m) = member {
            let size = self
                .via_sizes
                .get(s)
                .and_then(|v| v.get(&key))
                .copied()
                .unwrap_or(0);
            for (g, members) in def.groups.iter().zip(st.groups.iter_mut()) {
                if g.agg != crate::ir::GroupAgg::Size {
                    let v = match eval_with(&g.input, &event_scope, &mut calls) {
                        Value::Num(n) => Fixed::from_f64(n).map(|f| f.0),
                        Value::Bool(b) => Some(if b { Fixed::SCALE } else { 0 }),
                        _ => None,
                    };
                    crate::keys::set_member(members, m, v);
                }
                self.groups.push(
                    crate::keys::member_value(g.agg, members, size).map_or(Value::Null, Value::Num),
                );
            }
        }
        // the windows are read while the level clocks move
        let KeyState {
            windows,
            level,
            stay_false_since,
            rules,
            ..
        } = st;
        let mut clocks = crate::levels::KeyClocks {
            level,
            stay_false_since,
            rules,
        };
        self.lets.clear();
        for l in &def.lets {
            let v = eval_with(
                &l.expr,
                &Scope {
                    fields: &ev.fields,
                    lets: &self.lets,
                    windows: Some((&rt.layout, windows)),
                    row,
                    at: At {
                        kind: ev.kind,
                        ms: now,
                        marks: &self.marks,
                        groups: &self.groups,
                    },
                },
                &mut calls,
            );
            self.lets.push(v);
        }
        let scope = Scope {
            fields: &ev.fields,
            lets: &self.lets,
            windows: Some((&rt.layout, windows)),
            row,
            at: At {
                kind: ev.kind,
                ms: now,
                marks: &self.marks,
                groups: &self.groups,
            },
        };
        // the level machine (shared with the compiled path)
        let mut cond = RefConditions {
            def,
            scope: &scope,
            calls,
        };
        let observed = crate::levels::observe(&rt.rules, &mut clocks, now, &mut cond);
        // failed script calls are reported before any change they affected
        out.append(&mut cond.calls.rt.pending);
        let step = crate::levels::decide(
            &rt.rules,
            def.step_down,
            &mut clocks,
            now,
            observed,
            &mut cond,
        );
        // (and those of the re-check of a level entered on the way down)
        out.append(&mut cond.calls.rt.pending);
        let Some(crate::levels::Step {
            from,
            to,
            reason,
            since,
            fired,
        }) = step
        else {
            return;
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
    pub(crate) fn level(&self, signal: &str, key: &str) -> Level {
        let Some(i) = self.rts.iter().position(|s| s.name.as_ref() == signal) else {
            return Level::None;
        };
        if let Some(c) = self.compiled.as_ref().filter(|c| c.is_compiled(i)) {
            return c.level(signal, key);
        }
        self.rts
            .get(i)
            .and_then(|s| s.keys.get(key))
            .map_or(Level::None, |k| k.level)
    }

    /// Number of keys held over all signals (on either path: a signal's
    /// keys are held by one of them only).
    pub(crate) fn key_count(&self) -> usize {
        self.compiled.as_ref().map_or(0, |c| c.key_count())
            + self.rts.iter().map(|s| s.keys.len()).sum::<usize>()
    }

    /// Approximate heap bytes of per-key state.
    pub(crate) fn state_bytes(&self) -> usize {
        self.compiled.as_ref().map_or(0, |c| c.state_bytes())
            + self
                .rts
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
                .sum::<usize>()
    }
}

/// `(deadline, signal, key)` of every absence timer.
pub(crate) type AbsenceTimers = BTreeSet<(i64, u16, Arc<str>)>;

/// A key's reading, as both evaluators see it before evaluating it.
pub(crate) struct Reading<'a> {
    pub(crate) signal: u16,
    /// The signal's name.
    pub(crate) name: &'a Arc<str>,
    pub(crate) key: &'a Arc<str>,
    pub(crate) ev: &'a Event,
    /// The key's time before this reading.
    pub(crate) prior: i64,
    /// The key's time with it.
    pub(crate) now: i64,
}

/// What a reading needs of its key's state.
pub(crate) struct Seen<'a> {
    pub(crate) seen: bool,
    pub(crate) absent: &'a mut bool,
    pub(crate) has_row: bool,
}

impl Reading<'_> {
    /// The bookkeeping of a reading before its evaluation, one place for
    /// both evaluators: absence (`missing`: the reading ends a silence — a
    /// `recovered` when the key was absent — and arms the key's timer when
    /// it has none; timers are lazy, see [`Due`]) and a key its table has no
    /// row for (`table_miss`, at its first reading).
    pub(crate) fn before(
        &self,
        key: Seen<'_>,
        absence: Option<(i64, &mut AbsenceTimers)>,
        in_roster: impl FnOnce() -> bool,
        table: Option<&str>,
        out: &mut Vec<Output>,
    ) {
        let ev = self.ev;
        if let Some((missing, timers)) = absence {
            let armed = !*key.absent
                && (key.seen
                    || (in_roster()
                        && timers
                            .iter()
                            .any(|(_, si, k)| *si == self.signal && k == self.key)));
            if !armed {
                timers.insert((
                    self.now.saturating_add(missing),
                    self.signal,
                    self.key.clone(),
                ));
            }
            if *key.absent {
                *key.absent = false;
                out.push(Output::Recovered(Recovered {
                    id: 0,
                    ts: ev.ts,
                    signal: self.name.clone(),
                    key: self.key.clone(),
                    last_seen: key.seen.then_some(Timestamp {
                        ms: self.prior,
                        offset_min: ev.ts.offset_min,
                    }),
                    event: ev.seq,
                }));
            }
        }
        // a key its table has no row for cannot fire: said at its first reading
        if !key.seen
            && !key.has_row
            && let Some(t) = table
        {
            out.push(Output::TableMiss(crate::output::TableMiss {
                id: 0,
                ts: ev.ts,
                signal: self.name.clone(),
                key: self.key.clone(),
                table: Arc::from(t),
                event: ev.seq,
            }));
        }
    }
}

/// What an absence timer does when it comes. Timers are lazy: a reading
/// does not move its key's timer (a remove and an insert per reading); the
/// timer, when it comes, looks at the key's last reading and moves to the
/// real deadline, or fires there.
pub(crate) enum Due {
    /// The key is reported absent already (or forgotten): nothing.
    Drop,
    /// The key was read since the timer was set: it is due then.
    Later(i64),
    /// The key is absent from `deadline` (marked so).
    Fire {
        /// Whether it was ever read.
        seen: bool,
        /// Its last reading (or the stream's start for a roster key never read).
        last_ms: i64,
    },
}

/// The decision for one key (see [`Due`]).
pub(crate) fn absence_due(
    absent: &mut bool,
    seen: bool,
    last_ms: i64,
    deadline: i64,
    missing: i64,
) -> Due {
    if *absent {
        return Due::Drop;
    }
    let real = last_ms.saturating_add(missing);
    if real > deadline {
        return Due::Later(real);
    }
    *absent = true;
    Due::Fire { seen, last_ms }
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
        marks: vec![None; def.marks.len()],
        groups: vec![Vec::new(); def.groups.len()],
    }
}

/// The `members()` of each area of a `via` signal.
pub(crate) fn via_sizes(def: &SignalDef) -> FxHashMap<Arc<str>, usize> {
    let mut sizes: FxHashMap<Arc<str>, usize> = FxHashMap::default();
    for (_, areas) in def.via.iter().flat_map(|v| &v.members) {
        for a in areas {
            *sizes.entry(Arc::from(a.as_str())).or_default() += 1;
        }
    }
    sizes
}
