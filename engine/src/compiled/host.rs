//! What the compiled path borrows of the signals operator: its script
//! runtime (rhai calls and their failure reports) and its absence timers.
//!
//! The standalone [`super::CompiledEngine::new`] runs without these (and so
//! refuses signals that need them); the signals operator passes them to
//! [`super::CompiledEngine::push_operator`], so that a signal with script
//! calls or `missing` runs compiled with exactly the reference's meaning:
//! the same calls, in the same order, reported the same way, and the same
//! timers.

use super::expr::{Cell, Host};
use crate::script::{CallSite, ScriptRt};
use crate::time::Timestamp;
use crate::value::Value;
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// The signals operator's services, lent for one event.
pub(crate) struct Services<'a> {
    /// Script functions (rhai); failures are queued in its `pending`.
    pub(crate) scripts: &'a mut ScriptRt,
    /// `(deadline, signal, key)` of every absence timer.
    pub(crate) absence: &'a mut crate::operators::signals::AbsenceTimers,
    /// Keys forgotten by the idle expiry while reported absent.
    pub(crate) gone: &'a mut FxHashMap<(u16, Arc<str>), i64>,
}

/// Runs the script calls of one key's evaluation and keeps their text.
pub(crate) struct ScriptHost<'r> {
    pub(crate) rt: &'r mut ScriptRt,
    pub(crate) signal: Arc<str>,
    pub(crate) key: Arc<str>,
    pub(crate) event: u64,
    pub(crate) ts: Timestamp,
    /// Text results, by [`Cell::Scratch`] index (reused between keys).
    pub(crate) scratch: Vec<Value>,
}

impl Host for ScriptHost<'_> {
    #[inline]
    fn scratch(&self) -> &[Value] {
        &self.scratch
    }
    #[inline]
    fn stack(&mut self) -> Option<&mut Vec<Value>> {
        Some(&mut self.rt.stack)
    }
    fn call(&mut self, f: u16, base: usize) -> Value {
        let site = CallSite {
            signal: &self.signal,
            key: &self.key,
            event: self.event,
            ts: self.ts,
        };
        self.rt.call(f, base, &site)
    }
    fn keep(&mut self, v: Value) -> Cell {
        match u16::try_from(self.scratch.len()) {
            Ok(i) => {
                self.scratch.push(v);
                Cell::Scratch(i)
            }
            // more than 65,535 text results in one evaluation: a signal's
            // calls are bounded by its expressions, far below this
            Err(_) => Cell::Null,
        }
    }
}
