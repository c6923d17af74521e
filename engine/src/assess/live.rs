//! Reporting deadlines inside the streaming engine.
//!
//! Wraps a [`Tracker`]: record lines of the deadline sets' kinds are checked
//! as records, graded, admitted and observed; the engine's watermark drives
//! the clock, so a due report that does not arrive fires `report_missing` at
//! its deadline.
//!
//! Memory stays bounded: the tracker closes subjects (see [`Tracker`] for
//! exactly when) and drops them with their reports, and reports wait for an
//! unknown subject only for the retention. A report about a closed subject is
//! refused by [`LiveDeadlines::check`] (the engine refuses the line, which
//! changes nothing); see [`crate::assess::records::RecordError::SubjectClosed`].
//!
//! For snapshots the lines of the records the tracker still holds are kept
//! ([`DeadlineState`]): replaying them into a fresh tracker, remembering the
//! closed subjects and moving the clock rebuilds its state exactly, since
//! which subjects close depends only on the records and the clock.

use super::AssessProgram;
use super::deadline::{DeadlineOutput, Tracker};
use super::records::{self, Record};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a snapshot keeps of live deadlines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeadlineState {
    /// `(input position, line)` of every record the tracker still holds, in
    /// the order observed.
    pub log: Vec<(u64, String)>,
    /// The tracker's clock.
    pub now: i64,
    /// Closed subjects still remembered: `(deadline set, subject id, closing
    /// time)`.
    pub closed: Vec<(String, Arc<str>, i64)>,
}

/// Live deadline tracking for one engine.
pub struct LiveDeadlines {
    program: AssessProgram,
    tracker: Tracker,
    /// `(input position, line)` of every record the tracker holds, by token.
    log: BTreeMap<u64, (u64, String)>,
    scratch: Vec<DeadlineOutput>,
    dropped: Vec<u64>,
}

impl LiveDeadlines {
    /// Tracks `program`'s deadline sets with the default retention
    /// ([`super::deadline::DEFAULT_RETENTION_MS`]).
    pub fn new(program: AssessProgram) -> LiveDeadlines {
        LiveDeadlines {
            tracker: Tracker::new(program.clone()),
            program,
            log: BTreeMap::new(),
            scratch: Vec::new(),
            dropped: Vec::new(),
        }
    }

    /// Sets the retention in milliseconds (see [`Tracker::with_retention`]).
    ///
    /// ```
    /// # use yingji_engine::assess::{live::LiveDeadlines, AssessProgram};
    /// let d = LiveDeadlines::new(AssessProgram::default()).with_retention(7 * 86_400_000);
    /// assert_eq!(d.tracker().retention(), 7 * 86_400_000);
    /// ```
    pub fn with_retention(mut self, ms: i64) -> LiveDeadlines {
        self.tracker = Tracker::new(self.program.clone()).with_retention(ms);
        self.log.clear();
        self
    }

    /// The tracker (read-only: what it holds, its clock, its retention).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// How many record lines are kept for snapshots (those of the records
    /// the tracker holds).
    pub fn log_len(&self) -> usize {
        self.log.len()
    }

    /// Whether records of this kind open or settle obligations.
    pub fn follows(&self, kind: &str) -> bool {
        let name = |k: u16| {
            self.program
                .kinds
                .get(usize::from(k))
                .map(|r| r.name.as_str())
        };
        self.program
            .deadlines
            .iter()
            .any(|d| name(d.subject) == Some(kind) || name(d.report) == Some(kind))
    }

    /// Checks, grades and admits a record line (nothing changes): refused
    /// when it fails its record checks, or is a report the tracker no longer
    /// takes ([`Tracker::admit`]).
    pub fn check(&self, line: &str, seq: u64) -> Result<Record, String> {
        let r = self.parse(line, seq)?;
        self.tracker.admit(&r).map_err(|e| e.to_string())?;
        Ok(r)
    }

    fn parse(&self, line: &str, seq: u64) -> Result<Record, String> {
        let mut r = records::parse_record(&self.program, line, seq).map_err(|e| e.to_string())?;
        records::grade(&self.program, &mut r);
        Ok(r)
    }

    /// Observes a checked record.
    pub fn observe<O: From<DeadlineOutput>>(
        &mut self,
        line: &str,
        seq: u64,
        r: &Record,
        out: &mut Vec<O>,
    ) {
        if let Some(token) = self.tracker.take(r, &mut self.scratch) {
            self.log.insert(token, (seq, line.to_string()));
        }
        self.settle(out);
    }

    /// The earliest event time at which [`LiveDeadlines::advance`] would
    /// change anything (see [`Tracker::next_due`]: deadlines pass strictly
    /// after they are due, so this is the earliest such time plus one
    /// millisecond; advancing to any earlier time emits nothing). `None`
    /// when nothing is scheduled. For merging into one event-time timeline
    /// with the engine's other timers.
    pub fn next_due(&self) -> Option<i64> {
        self.tracker.next_due()
    }

    /// Moves the clock (never backwards); deadlines that passed fire.
    pub fn advance<O: From<DeadlineOutput>>(&mut self, now_ms: i64, out: &mut Vec<O>) {
        if now_ms > self.tracker.now() {
            self.tracker.advance(now_ms, &mut self.scratch);
            self.settle(out);
        }
    }

    /// Emits what the tracker produced and forgets the lines it dropped.
    fn settle<O: From<DeadlineOutput>>(&mut self, out: &mut Vec<O>) {
        drain(&mut self.scratch, out);
        self.tracker.drain_dropped(&mut self.dropped);
        for t in self.dropped.drain(..) {
            self.log.remove(&t);
        }
    }

    /// The state to snapshot: the lines still held, the clock and the closed
    /// subjects still remembered.
    pub fn snapshot_state(&self) -> DeadlineState {
        DeadlineState {
            log: self.log.values().cloned().collect(),
            now: self.tracker.now(),
            closed: self.tracker.closed_subjects(),
        }
    }

    /// A tracker rebuilt from a snapshot's state, with this one's program and
    /// retention: the lines are replayed in order (outputs of the replay were
    /// emitted before the snapshot and are not repeated; records the tracker
    /// no longer takes are left out), the closed subjects remembered and the
    /// clock moved. `self` is unchanged; a line that no longer reads as a
    /// record is an error.
    ///
    /// A state whose log holds every record ever observed (snapshot format
    /// version 1, before subjects closed) restores too: the replay closes
    /// what has closed by the snapshot's clock.
    pub fn restored(&self, state: DeadlineState) -> Result<LiveDeadlines, String> {
        let mut d =
            LiveDeadlines::new(self.program.clone()).with_retention(self.tracker.retention());
        let mut sink: Vec<DeadlineOutput> = Vec::new();
        for (seq, line) in state.log {
            let r = d.parse(&line, seq)?;
            if let Some(token) = d.tracker.take(&r, &mut d.scratch) {
                d.log.insert(token, (seq, line));
            }
            d.settle(&mut sink);
        }
        for (set, id, at) in state.closed {
            d.tracker.remember_closed(&set, id, at);
        }
        d.tracker.advance(state.now, &mut d.scratch);
        d.settle(&mut sink);
        Ok(d)
    }
}

fn drain<O: From<DeadlineOutput>>(from: &mut Vec<DeadlineOutput>, out: &mut Vec<O>) {
    out.extend(from.drain(..).map(O::from));
}
