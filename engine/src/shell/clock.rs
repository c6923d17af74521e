//! The stream's clock: event time agreed by a quorum of sources, so that one
//! source with a wrong clock cannot move it.
//!
//! A *source* is what an event's time speaks for: its key (the station of a
//! gauge reading) when a signal reads its kind, else its kind (acks, records,
//! manual starts). Each source's clock is the latest time it sent. The
//! stream's clock is
//!
//! - with one source seen so far, that source's clock (a single gauge is its
//!   own authority);
//! - otherwise the *second* largest source clock: one source running ahead,
//!   however far, does not move it, and two sources that agree do;
//! - except that when the source in the lead has sent [`SOLO_RUN`] events in a
//!   row with no other source sending anything, it is taken as the only one
//!   still alive (the others went silent: the storm took their power) and
//!   the clock follows it;
//! - and [`SourceClock::force`] (the shell's `advance_to`) moves it directly.
//!
//! The clock never moves backwards. Only the largest and the second largest
//! clock are kept: source clocks only grow, so the second largest of all
//! source clocks is the largest over the sources other than the leader —
//! exact, with no table of sources and O(1) per event.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Events in a row from the leading source, and from no other, after which
/// the clock follows it alone.
pub const SOLO_RUN: u32 = 32;

/// The quorum clock (see the module docs). Serialised into snapshots.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceClock {
    /// The source with the largest clock, and that clock.
    lead: Option<(Arc<str>, i64)>,
    /// The largest clock of any other source.
    second: Option<i64>,
    /// Events in a row from the leading source.
    solo: u32,
    /// The stream's clock.
    now: Option<i64>,
}

impl SourceClock {
    /// The stream's clock (`None` before the first event).
    pub fn now(&self) -> Option<i64> {
        self.now
    }

    /// Whether `source` is the only source seen so far (or none was seen).
    pub fn is_sole(&self, source: &str) -> bool {
        self.second.is_none() && self.lead.as_ref().is_none_or(|(s, _)| s.as_ref() == source)
    }

    /// A source sent an event at `ts`; returns the stream's clock after it.
    pub fn observe(&mut self, source: &Arc<str>, ts: i64) -> Option<i64> {
        match &mut self.lead {
            None => {
                self.lead = Some((source.clone(), ts));
                self.solo = 1;
            }
            Some((s, t)) if s == source => {
                *t = (*t).max(ts);
                self.solo = self.solo.saturating_add(1);
            }
            Some((_, t)) if ts > *t => {
                let old = *t;
                self.second = Some(self.second.map_or(old, |s| s.max(old)));
                self.lead = Some((source.clone(), ts));
                self.solo = 1;
            }
            Some(_) => {
                self.second = Some(self.second.map_or(ts, |s| s.max(ts)));
                self.solo = 0;
            }
        }
        let lead = self.lead.as_ref().map(|(_, t)| *t);
        let candidate = match self.second {
            None => lead,
            Some(_) if self.solo >= SOLO_RUN => lead,
            Some(s) => Some(s),
        };
        self.now = match (self.now, candidate) {
            (Some(n), Some(c)) => Some(n.max(c)),
            (n, c) => n.or(c),
        };
        self.now
    }

    /// Moves the clock to `ts` directly (never backwards).
    pub fn force(&mut self, ts: i64) {
        self.now = Some(self.now.map_or(ts, |n| n.max(ts)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    #[test]
    fn one_source_is_its_own_authority() {
        let mut c = SourceClock::default();
        assert_eq!(c.observe(&src("A"), 10), Some(10));
        assert_eq!(c.observe(&src("A"), 5), Some(10));
        assert_eq!(c.observe(&src("A"), 20), Some(20));
    }

    #[test]
    fn one_source_ahead_does_not_move_the_clock() {
        let mut c = SourceClock::default();
        for t in 0..10 {
            c.observe(&src("A"), t * 300);
            c.observe(&src("B"), t * 300);
            c.observe(&src("C"), t * 300);
        }
        assert_eq!(c.now(), Some(2700));
        // C jumps a day ahead: the clock stays with A and B
        assert_eq!(c.observe(&src("C"), 86_400_000), Some(2700));
        assert_eq!(c.observe(&src("A"), 3000), Some(3000));
        assert_eq!(c.observe(&src("B"), 3000), Some(3000));
        // a second source agreeing with C moves it
        assert_eq!(c.observe(&src("A"), 86_400_000), Some(86_400_000));
    }

    #[test]
    fn a_lone_survivor_is_followed_after_a_run() {
        let mut c = SourceClock::default();
        c.observe(&src("A"), 0);
        c.observe(&src("B"), 0);
        for i in 1..SOLO_RUN as i64 {
            assert_eq!(c.observe(&src("A"), i * 300), Some(0), "event {i}");
        }
        assert_eq!(
            c.observe(&src("A"), SOLO_RUN as i64 * 300),
            Some(SOLO_RUN as i64 * 300)
        );
    }

    #[test]
    fn the_sole_source_is_known() {
        let mut c = SourceClock::default();
        assert!(c.is_sole("A"));
        c.observe(&src("A"), 10);
        assert!(c.is_sole("A"));
        assert!(!c.is_sole("B"));
    }
}
