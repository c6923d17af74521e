//! Reporting deadlines inside the streaming engine.
//!
//! Wraps a [`Tracker`]: record lines of the deadline sets' kinds are checked
//! as records, graded and observed; the engine's watermark drives the clock,
//! so a due report that does not arrive fires `report_missing` at its
//! deadline. For snapshots the observed record lines are kept: replaying them
//! into a fresh tracker rebuilds its state exactly (records are rare next to
//! sensor readings, so the log stays small).

use super::AssessProgram;
use super::deadline::{DeadlineOutput, Tracker};
use super::records::{self, Record};
use crate::output::Output;

/// Live deadline tracking for one engine.
pub struct LiveDeadlines {
    program: AssessProgram,
    tracker: Tracker,
    /// `(input position, line)` of every record observed, in order.
    log: Vec<(u64, String)>,
    scratch: Vec<DeadlineOutput>,
}

impl LiveDeadlines {
    /// Tracks `program`'s deadline sets.
    pub fn new(program: AssessProgram) -> LiveDeadlines {
        LiveDeadlines {
            tracker: Tracker::new(program.clone()),
            program,
            log: Vec::new(),
            scratch: Vec::new(),
        }
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

    /// Checks and grades a record line (nothing changes).
    pub fn check(&self, line: &str, seq: u64) -> Result<Record, String> {
        let mut r = records::parse_record(&self.program, line, seq).map_err(|e| e.to_string())?;
        records::grade(&self.program, &mut r);
        Ok(r)
    }

    /// Observes a checked record.
    pub fn observe(&mut self, line: &str, seq: u64, r: &Record, out: &mut Vec<Output>) {
        self.log.push((seq, line.to_string()));
        self.tracker.observe(r, &mut self.scratch);
        drain(&mut self.scratch, out);
    }

    /// Moves the clock (never backwards); deadlines that passed fire.
    pub fn advance(&mut self, now_ms: i64, out: &mut Vec<Output>) {
        if now_ms > self.tracker.now() {
            self.tracker.advance(now_ms, &mut self.scratch);
            drain(&mut self.scratch, out);
        }
    }

    /// The state to snapshot: the observed lines and the clock.
    pub fn state(&self) -> (Vec<(u64, String)>, i64) {
        (self.log.clone(), self.tracker.now())
    }

    /// Rebuilds the tracker from a snapshot's lines and clock (outputs of the
    /// replay were emitted before the snapshot and are not repeated).
    pub fn restore(&mut self, log: Vec<(u64, String)>, now: i64) -> Result<(), String> {
        let mut tracker = Tracker::new(self.program.clone());
        let mut sink = Vec::new();
        for (seq, line) in &log {
            let r = self.check(line, *seq)?;
            tracker.observe(&r, &mut sink);
        }
        tracker.advance(now, &mut sink);
        self.tracker = tracker;
        self.log = log;
        Ok(())
    }
}

fn drain(from: &mut Vec<DeadlineOutput>, out: &mut Vec<Output>) {
    out.extend(from.drain(..).map(|d| match d {
        DeadlineOutput::ReportDue(n) => Output::ReportDue(n),
        DeadlineOutput::ReportLate(n) => Output::ReportLate(n),
        DeadlineOutput::ReportMissing(n) => Output::ReportMissing(n),
    }));
}
