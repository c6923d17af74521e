//! Why an input or a clock move was refused (a leaf module: every part of
//! the runtime reports with these, none of them depends on another part).

use crate::event::EventError;
use crate::time::Timestamp;

/// Why an event could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PushError {
    /// The event is further ahead of the stream's clock than the guard allows.
    #[error("timestamp {ts} is more than {guard} ahead of the stream's clock {latest}")]
    TooFarAhead {
        /// The rejected time.
        ts: Timestamp,
        /// The stream's clock.
        latest: Timestamp,
        /// The configured guard.
        guard: String,
    },
    /// The event's source (its key, or its kind) runs too far ahead of the
    /// clock the other sources agree on, or of the wall clock: its clock is
    /// suspect, and the event is left out so that it cannot move anyone
    /// else's time.
    #[error("clock_suspect: {sender} sent {ts}, more than {guard} ahead of {against} {clock}")]
    ClockSuspect {
        /// The source (key or kind).
        sender: String,
        /// The rejected time.
        ts: Timestamp,
        /// What it was compared with: `the stream's clock` or `the wall clock`.
        against: &'static str,
        /// That clock.
        clock: Timestamp,
        /// The configured guard.
        guard: String,
    },
    /// The event was refused for another reason (the text says which).
    #[error("{0}")]
    Refused(String),
    /// The key field's value is missing.
    #[error("signal `{signal}` is keyed by `{field}`, which this event does not carry")]
    NoKey {
        /// Signal.
        signal: String,
        /// The key field.
        field: String,
    },
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
