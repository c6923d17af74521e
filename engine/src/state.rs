//! Durable state: snapshots of the complete engine state, and restoring them.
//!
//! Format (version 3): one JSON document
//!
//! ```json
//! {"format":"yingji-state","version":3,
//!  "signals":[{"name":"暴雨预警","fingerprint":"…","keys":[["YY-001",{…KeyState…}],…]}],
//!  "max_ts":…, "released":…, "pending":[{…event…}], "seen_ids":[…], "seen_kkt":[…],
//!  "absence":[[deadline,"signal","key"],…], "stats":{…},
//!  "deadlines":[[[seq,"record line"],…],clock], "deadlines_closed":[["set","subject",closed_at],…]}
//! ```
//!
//! Version 2 (live reporting deadlines close subjects, see
//! [`crate::assess::deadline::Tracker`]): `deadlines` holds only the lines of
//! the records still held, and `deadlines_closed` the closed subjects still
//! remembered. Version 1 files load: their `deadlines` hold every record line,
//! and replaying them closes what had closed. Other versions are refused.
//!
//! Version 3 (closed plan instances are compacted, see
//! [`crate::workflow::runtime`]): `workflow` holds only open instances and
//! what late acks still need (`"layout":1`). Plan state of versions 1 and 2
//! (every instance ever started, no `layout`) is compacted on restore. The
//! version was raised so that builds reading version 2 refuse these files
//! instead of misreading their instance numbers.
//!
//! A signal's state is kept across a restore only when a signal of the same
//! name with the same definition (fingerprint of its compiled IR, ignoring
//! where it is written) exists; every other signal starts afresh and is
//! listed in the [`RestoreReport`]. Buffered events are stored by field
//! *name*, so they survive field slots moving when definitions change.

use crate::engine::{Engine, KeyState, Queued, Stats};
use crate::event::Event;
use crate::ir::SignalDef;
use crate::time::Timestamp;
use crate::value::Value;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A signal's keys and their states.
type KeyList = Vec<(Arc<str>, KeyState)>;

/// The snapshot format's name.
pub const FORMAT: &str = "yingji-state";
/// The snapshot format's version this build writes.
pub const VERSION: u32 = 3;
/// The oldest snapshot format version this build reads.
pub const OLDEST_VERSION: u32 = 1;

/// Why a snapshot could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Not a yingji state file, or damaged.
    #[error(
        "not a valid yingji state file ({0}); refusing to start from it (start fresh explicitly to discard it)"
    )]
    Corrupt(String),
    /// Written by another version of the format.
    #[error(
        "state file has format version {found}, this build reads version {expected}; refusing to start from it (start fresh explicitly to discard it)"
    )]
    Version {
        /// Found in the file.
        found: u32,
        /// What this build reads.
        expected: u32,
    },
}

/// What a restore kept and what it reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// Signals whose state was restored.
    pub kept: Vec<String>,
    /// Signals in the snapshot that changed or disappeared (state dropped).
    pub reset: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct SignalSnap {
    name: String,
    fingerprint: String,
    keys: Vec<(Arc<str>, KeyState)>,
}

#[derive(Serialize, Deserialize)]
struct PendingSnap {
    ts: Timestamp,
    kind: Arc<str>,
    id: Option<Arc<str>>,
    seq: u64,
    fields: Vec<(String, Value)>,
    skip: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    signals: Vec<SignalSnap>,
    max_ts: Option<Timestamp>,
    released: i64,
    pending: Vec<PendingSnap>,
    seen_ids: Vec<(Arc<str>, i64)>,
    seen_kkt: Vec<(String, Arc<str>, i64)>,
    absence: Vec<(i64, String, Arc<str>)>,
    stats: Stats,
    last_sweep: i64,
    /// The id the next output gets.
    #[serde(default = "first_id")]
    next_id: u64,
    /// The embedding program's section (see [`Engine::set_host_state`]).
    #[serde(default)]
    host: Option<serde_json::Value>,
    /// Plan instances, calls and timers (when plans are loaded).
    #[serde(default)]
    workflow: Option<serde_json::Value>,
    /// Record lines the live reporting deadlines hold, and their clock.
    #[serde(default)]
    deadlines: Option<(Vec<(u64, String)>, i64)>,
    /// Subjects the live reporting deadlines closed and still remember:
    /// `(deadline set, subject id, closing time)` (version 2).
    #[serde(default)]
    deadlines_closed: Vec<(String, Arc<str>, i64)>,
}

fn first_id() -> u64 {
    1
}

/// A stable fingerprint of a signal's definition (not of where it is written).
pub fn fingerprint(def: &SignalDef, program: &crate::ir::Program) -> String {
    let mut d = def.clone();
    d.at.clear();
    for r in &mut d.levels {
        r.at.clear();
    }
    let kinds: Vec<_> = def
        .kinds
        .iter()
        .filter_map(|k| program.kinds.get(usize::from(*k)))
        .collect();
    let fields: Vec<_> = kinds
        .iter()
        .flat_map(|k| {
            k.fields
                .iter()
                .map(|f| (program.fields.get(usize::from(f.id)), f.ty, f.optional))
        })
        .collect();
    let text =
        serde_json::to_string(&(d, kinds.iter().map(|k| &k.name).collect::<Vec<_>>(), fields))
            .unwrap_or_default();
    let mut h = rustc_hash::FxHasher::default();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

impl Engine {
    /// The complete state as a versioned JSON document.
    pub fn snapshot(&self) -> Vec<u8> {
        let names = |s: u16| {
            self.signals
                .get(usize::from(s))
                .map(|r| r.name.to_string())
                .unwrap_or_default()
        };
        let mut signals: Vec<SignalSnap> = self
            .program
            .signals
            .iter()
            .zip(&self.signals)
            .enumerate()
            .map(|(i, (def, rt))| {
                let mut keys: Vec<(Arc<str>, KeyState)> = match &self.compiled {
                    Some(c) => c.export_keys(i),
                    None => rt
                        .keys
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                };
                keys.sort_by(|a, b| a.0.cmp(&b.0));
                SignalSnap {
                    name: def.name.clone(),
                    fingerprint: fingerprint(def, &self.program),
                    keys,
                }
            })
            .collect();
        signals.sort_by(|a, b| a.name.cmp(&b.name));
        let mut pending: Vec<&Queued> = self.pending.iter().collect();
        pending.sort();
        let deadline_state = self.deadlines.as_ref().map(|d| d.snapshot_state());
        let snap = Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            signals,
            max_ts: self.max_ts,
            released: self.released,
            pending: pending
                .into_iter()
                .map(|q| PendingSnap {
                    ts: q.ev.ts,
                    kind: q.ev.kind_name.clone(),
                    id: q.ev.id.clone(),
                    seq: q.ev.seq,
                    fields: q
                        .ev
                        .fields
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| **v != Value::Null)
                        .filter_map(|(i, v)| Some((self.program.fields.get(i)?.clone(), v.clone())))
                        .collect(),
                    skip: q.skip.iter().map(|&s| names(s)).collect(),
                })
                .collect(),
            seen_ids: {
                let mut v: Vec<_> = self.seen_ids.iter().map(|(k, t)| (k.clone(), *t)).collect();
                v.sort();
                v
            },
            seen_kkt: {
                let mut v: Vec<_> = self
                    .seen_kkt
                    .iter()
                    .map(|(k, key, t)| {
                        let kind = self
                            .program
                            .kinds
                            .get(usize::from(*k))
                            .map(|d| d.name.clone())
                            .unwrap_or_default();
                        (kind, key.clone(), *t)
                    })
                    .collect();
                v.sort();
                v
            },
            absence: self
                .absence
                .iter()
                .map(|(d, s, k)| (*d, names(*s), k.clone()))
                .collect(),
            stats: self.stats.clone(),
            last_sweep: self.last_sweep,
            next_id: self.next_id,
            host: self.host.clone(),
            workflow: self
                .workflow()
                .and_then(|wf| serde_json::to_value(wf.state()).ok()),
            deadlines: deadline_state.as_ref().map(|d| (d.log.clone(), d.now)),
            deadlines_closed: deadline_state.map(|d| d.closed).unwrap_or_default(),
        };
        serde_json::to_vec(&snap).unwrap_or_default()
    }

    /// Replaces this engine's state with a snapshot's. Signals whose
    /// definition changed start afresh (listed in the report); nothing is
    /// changed when the snapshot is unreadable.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<RestoreReport, StateError> {
        let probe: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| StateError::Corrupt(e.to_string()))?;
        if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(StateError::Corrupt(
                "missing `\"format\": \"yingji-state\"`".into(),
            ));
        }
        let found = probe
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0) as u32;
        if !(OLDEST_VERSION..=VERSION).contains(&found) {
            return Err(StateError::Version {
                found,
                expected: VERSION,
            });
        }
        let snap: Snapshot =
            serde_json::from_value(probe).map_err(|e| StateError::Corrupt(e.to_string()))?;
        let workflow: Option<crate::workflow::runtime::WorkflowState> =
            match (&snap.workflow, self.workflow()) {
                (Some(w), Some(_)) => Some(
                    serde_json::from_value(w.clone())
                        .map_err(|e| StateError::Corrupt(format!("plan state: {e}")))?,
                ),
                _ => None,
            };
        let deadlines = match (snap.deadlines.clone(), self.deadlines.as_ref()) {
            (Some((log, now)), Some(d)) => Some(
                d.restored(crate::assess::live::DeadlineState {
                    log,
                    now,
                    closed: snap.deadlines_closed.clone(),
                })
                .map_err(|e| StateError::Corrupt(format!("deadline records: {e}")))?,
            ),
            _ => None,
        };
        let mut report = RestoreReport::default();
        let index = |name: &str| self.program.signals.iter().position(|s| s.name == name);
        let mut restored = vec![false; self.signals.len()];
        let mut new_keys: Vec<Option<KeyList>> = vec![None; self.signals.len()];
        for s in snap.signals {
            match index(&s.name) {
                Some(i)
                    if self
                        .program
                        .signals
                        .get(i)
                        .map(|d| fingerprint(d, &self.program))
                        == Some(s.fingerprint.clone()) =>
                {
                    if let Some(slot) = new_keys.get_mut(i) {
                        *slot = Some(s.keys);
                    }
                    if let Some(r) = restored.get_mut(i) {
                        *r = true;
                    }
                    report.kept.push(s.name);
                }
                _ => report.reset.push(s.name),
            }
        }
        let mut pending = crate::reorder::Reorder::default();
        for p in snap.pending {
            let mut fields = vec![Value::Null; self.schema.field_count()];
            for (name, v) in p.fields {
                if let Some(slot) = self
                    .schema
                    .field(&name)
                    .and_then(|i| fields.get_mut(usize::from(i)))
                {
                    *slot = v;
                }
            }
            let skip = p
                .skip
                .iter()
                .filter_map(|n| index(n).map(|i| i as u16))
                .collect();
            pending.push(Queued {
                ev: Event {
                    ts: p.ts,
                    kind: self.schema.kind(&p.kind),
                    kind_name: p.kind,
                    id: p.id,
                    fields,
                    seq: p.seq,
                },
                skip,
            });
        }
        // everything validated: now replace the state (held by the reference path from here on)
        self.compiled = None;
        for (i, keys) in new_keys.into_iter().enumerate() {
            if let Some(rt) = self.signals.get_mut(i) {
                rt.keys = keys.unwrap_or_default().into_iter().collect();
            }
        }
        self.max_ts = snap.max_ts;
        self.released = snap.released;
        self.pending = pending;
        self.seen_ids = snap.seen_ids.into_iter().collect();
        self.seen_kkt = snap
            .seen_kkt
            .into_iter()
            .filter_map(|(k, key, t)| Some((self.schema.kind(&k)?, key, t)))
            .collect();
        self.absence = snap
            .absence
            .into_iter()
            .filter_map(|(d, s, k)| {
                let i = index(&s)?;
                restored.get(i).copied().filter(|r| *r)?;
                Some((d, i as u16, k))
            })
            .collect();
        self.stats = snap.stats;
        self.last_sweep = snap.last_sweep;
        self.next_id = snap.next_id.max(1);
        self.host = snap.host;
        if let (Some(restored), Some(d)) = (deadlines, self.deadlines.as_mut()) {
            *d = restored;
        }
        if let (Some(w), Some(wf)) = (workflow, self.workflow_mut()) {
            wf.restore(w);
            report.kept.push("plans".into());
        }
        Ok(report)
    }
}
