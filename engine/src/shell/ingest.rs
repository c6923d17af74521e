//! Ingestion: an input line or event is parsed, checked (far-ahead and
//! clock guards, keys, records, duplicates, lateness) and filed into the
//! reorder buffer. A refused event changes no state.

use super::reorder::Queued;
use super::{Engine, LatePolicy, LineError, PushError};
use crate::event::Event;
use crate::output::{Late, Output};
use crate::time::{Timestamp, format_duration};
use std::sync::Arc;

type Record = crate::assess::records::Record;

impl Engine {
    pub(super) fn push_line_inner(
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
        if let Err(e) = self
            .schema
            .parse_cached(line, &self.program, seq, &mut ev, &mut self.texts)
        {
            self.scratch_event = Some(ev);
            return Err(e.into());
        }
        let mut ev = Some(ev);
        let r = self.push_owned(&mut ev, Some(line), out);
        // an event the reorder buffer did not take is the next line's buffer
        self.scratch_event = ev;
        r
    }

    /// A line of a kind reporting deadlines follow, checked as a record.
    fn check_record(&self, ev: &Event, line: &str) -> Result<Record, LineError> {
        match self.deadlines.as_ref() {
            Some(d) => d.check(line, ev.seq).map_err(LineError::Record),
            None => Err(LineError::Record("no reporting deadlines".into())),
        }
    }

    /// Whether reporting deadlines follow this event's kind (records are
    /// checked as records only when they come as lines).
    fn is_record(&self, ev: &Event, line: Option<&str>) -> bool {
        line.is_some()
            && self
                .deadlines
                .as_ref()
                .is_some_and(|d| d.follows(&ev.kind_name))
    }

    /// Accepts an event the caller gives away: moved into the reorder
    /// buffer instead of copied. `ev` is left `Some` when the buffer did not
    /// take it (ignored, duplicate, late, or an error). `line`: the line it
    /// was parsed from (records reporting deadlines follow are checked and
    /// kept as their line).
    pub(super) fn push_owned(
        &mut self,
        ev: &mut Option<Event>,
        line: Option<&str>,
        out: &mut Vec<Output>,
    ) -> Result<(), LineError> {
        if let Some(e) = ev.as_mut() {
            // rules and windows see the same value (`value::Fixed::admit`)
            crate::value::admit_numbers(&mut e.fields).map_err(|(i, why)| {
                let name = self.program.fields.get(i).map_or("?", String::as_str);
                PushError::Refused(format!("field `{name}`: {why}"))
            })?;
        }
        let Some(e) = ev.as_ref() else {
            return Ok(());
        };
        if let Some((skip, record)) = self.accept(e, line, out)? {
            if let Some(e) = ev.take() {
                self.pending.push(Queued {
                    ev: e,
                    skip,
                    record,
                });
                self.release(self.watermark(), false, out);
            }
        }
        self.stats.accepted += 1;
        Ok(())
    }

    /// Checks an event and handles everything short of buffering it; returns
    /// the signals it is late for when it goes into the reorder buffer
    /// (`None`: it does not). On error nothing changes.
    #[allow(
        clippy::type_complexity,
        reason = "the signals an event is late for and its checked record, used once"
    )]
    fn accept(
        &mut self,
        ev: &Event,
        line: Option<&str>,
        out: &mut Vec<Output>,
    ) -> Result<Option<(Vec<u16>, Option<Box<(Record, String)>>)>, LineError> {
        let is_record = self.is_record(ev, line);
        // plans see every declared kind (acks, manual starts, awaited events);
        // deadlines see their records
        let others = (self.workflow.is_some() && ev.kind.is_some()) || is_record;
        let sigs: Arc<[usize]> = match self.signals.reading(ev.kind) {
            Some(s) if !s.is_empty() || others => s.clone(),
            _ if others => Arc::from(Vec::new()),
            _ => {
                self.stats.ignored += 1;
                return Ok(None);
            }
        };
        // keys are checked before anything changes
        let first_key = self.signals.check_keys(ev, &sigs)?;
        let source: Arc<str> = first_key.clone().unwrap_or_else(|| ev.kind_name.clone());
        self.check_clock(ev, &source, first_key.is_some())?;
        if let Some(id) = &ev.id {
            if self.seen_ids.contains_key(id) {
                self.stats.duplicates += 1;
                return Ok(None);
            }
        }
        let kkt = match (self.config.dedupe_kind_key_ts, ev.kind, first_key) {
            (true, Some(kind), Some(key)) => {
                let entry = (kind, key, ev.ts.ms);
                if self.seen_kkt.contains(&entry) {
                    self.stats.duplicates += 1;
                    return Ok(None);
                }
                Some(entry)
            }
            _ => None,
        };
        // late for which signals (and for the rest of the runtime)?
        let latest = self.clock.now().unwrap_or(ev.ts.ms);
        let behind_released = ev.ts.ms <= self.released;
        let mut skip = Vec::new();
        // an event at or after the clock and the released mark is late for no signal
        let maybe_late =
            ev.ts.ms < latest.saturating_sub(self.lateness_range.1.min(0)) || behind_released;
        for &s in sigs.iter().filter(|_| maybe_late) {
            let lateness = self.signals.rts.get(s).map_or(0, |r| r.lateness_ms);
            if ev.ts.ms < latest.saturating_sub(lateness) || behind_released {
                skip.push(s as u16);
            }
        }
        // plans and deadlines follow the run's lateness
        let late_for_rest = others
            && (ev.ts.ms < latest.saturating_sub(self.config.lateness_ms) || behind_released);
        let late = !skip.is_empty() || late_for_rest;
        // a record going into the buffer is checked as a record now (a
        // refused one changes nothing); a late one is only reported late
        let record = match (is_record, line) {
            (true, Some(l)) if !late => Some(Box::new((self.check_record(ev, l)?, l.to_string()))),
            _ => None,
        };
        if let Some(id) = &ev.id {
            self.seen_ids.insert(id.clone(), ev.ts.ms);
            self.dedupe_by_time
                .ids
                .push(std::cmp::Reverse((ev.ts.ms, id.clone())));
        }
        if let Some((kind, key, ts)) = kkt {
            self.seen_kkt.insert((kind, key.clone(), ts));
            self.dedupe_by_time
                .kkt
                .push(std::cmp::Reverse((ts, kind, key)));
        }
        if self.clock.now().is_none() {
            self.signals.start_roster(ev.ts);
        }
        if late {
            self.stats.late += 1;
            let apply = self.config.late == LatePolicy::Apply && !skip.is_empty();
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
                    .filter_map(|&s| self.signals.rts.get(usize::from(s)).map(|r| r.name.clone()))
                    .collect(),
                applied: apply,
            }));
            if apply {
                // applied at each key's current time, right away
                self.signals.apply_late(ev, &sigs, out)?;
                self.stats.applied += 1;
                return Ok(None);
            }
            if skip.len() == sigs.len() && (late_for_rest || !others) {
                return Ok(None);
            }
        }
        self.offset_min = ev.ts.offset_min;
        self.clock.observe(&source, ev.ts.ms);
        Ok(Some((skip, record)))
    }

    /// The guards on an event's time: against the wall clock when one was
    /// given, and, for a sensor (a keyed source) that is not the only source,
    /// against the stream's clock (see [`super::clock`]). Records, acks and
    /// manual starts are sparse by nature (weeks may pass between two
    /// accidents): they face only the wall clock, and being one source among
    /// others they cannot move the stream's clock alone.
    fn check_clock(&self, ev: &Event, source: &str, keyed: bool) -> Result<(), PushError> {
        let Some(guard) = self.config.max_ahead_ms else {
            return Ok(());
        };
        let suspect = |against: &'static str, clock: i64| PushError::ClockSuspect {
            sender: source.to_string(),
            ts: ev.ts,
            against,
            clock: Timestamp {
                ms: clock,
                offset_min: ev.ts.offset_min,
            },
            guard: format_duration(guard),
        };
        if let Some(wall) = self.wall_ms {
            if ev.ts.ms > wall.saturating_add(guard) {
                return Err(suspect("the wall clock", wall));
            }
        }
        if let Some(now) = self.clock.now() {
            if keyed && ev.ts.ms > now.saturating_add(guard) && !self.clock.is_sole(source) {
                return Err(suspect("the stream's clock", now));
            }
        }
        Ok(())
    }
}
