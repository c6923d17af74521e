//! Durable state: snapshots of the complete engine state, and restoring them.
//!
//! Format (version 5): one JSON document with one section for the shell and
//! one per operator (see [`crate::shell`]), so no part of the runtime can
//! keep state outside the snapshot, and a checksum:
//!
//! ```json
//! {"format":"yingji-state","version":5,"checksum":"<16 hex digits>",
//!  "shell":{"clock":{…quorum clock…},"offset_min":480,"released":…,"pending":[{…event…}],
//!           "seen_ids":[…],"seen_kkt":[…],"stats":{…},"next_id":…,"host":{…}|null},
//!  "signals":{"signals":[{"name":"暴雨预警","fingerprint":"…","keys":[["YY-001",{…KeyState…}],…]}],
//!             "absence":[[deadline,"signal","key"],…],"gone":[["signal","key",last],…],
//!             "last_sweep":…,"scripts":{…failure limiter…}},
//!  "plans":{…instances, calls, timers…}|null,
//!  "deadlines":{"log":[[seq,"record line"],…],"now":…,"closed":[["set","subject",closed_at],…]}|null}
//! ```
//!
//! `host` is the embedding program's own section ([`Engine::set_host_state`]:
//! the CLI keeps its input and output positions there).
//!
//! **Checksum** (version 5): XXH3-64 (seed 0) of the document without its
//! `checksum` member, written as serde_json writes a `serde_json::Value`
//! (compact, members in sorted order), in 16 lowercase hex digits
//! ([`checksum`]). A version-5 document whose checksum is missing or does
//! not match is refused ([`StateError::Checksum`]): an edited running sum,
//! a truncated or bit-flipped file. Versions 1–4 have no checksum and still
//! load.
//!
//! **Consistency** (every version): before anything is replaced, each kept
//! key is checked against its signal ([`KeyState::check`]: window running
//! sums and counts recomputed from their buffers, min/max deques monotonic,
//! one rule state per level rule, a level the signal can raise); a failure
//! is [`StateError::Inconsistent`] naming the signal and key, and the engine
//! is unchanged.
//!
//! **Fingerprints** (version 5): XXH3-64 of a canonical JSON form of the
//! signal's compiled IR without source positions, its kinds' names and their
//! fields ([`fingerprint`]; pinned by a test, so they are stable across
//! builds and dependency versions). Versions 1–4 stored `FxHasher`
//! fingerprints of the same text, which are only stable for one
//! `rustc-hash` version: on restoring such a snapshot a signal is kept when
//! its stored fingerprint equals the legacy Fx fingerprint this build
//! computes (a migration: the next snapshot stores XXH3), and is otherwise
//! reset and named. Every signal reset — changed, gone, or in the engine but
//! absent from the snapshot — is listed in [`RestoreReport::reset`].
//!
//! Versions 1–3 (one flat document: `signals`, `max_ts`, `released`,
//! `pending`, `seen_ids`, `seen_kkt`, `absence`, `stats`, `workflow`,
//! `deadlines`, `deadlines_closed`) still load; their clock is taken as the
//! latest event time they recorded. Version 2 made live deadlines keep only
//! the lines of the records still held; version 3 compacted closed plan
//! instances (state of earlier versions is compacted on restore). Other
//! versions are refused.
//!
//! A signal's state is kept across a restore only when a signal of the same
//! name with the same definition (fingerprint of its compiled IR, ignoring
//! where it is written) exists; every other signal starts afresh and is
//! listed in the [`RestoreReport`] (so is a signal of this engine that the
//! snapshot does not mention: it starts afresh, named, never silently). Buffered events are stored by field
//! *name*, so they survive field slots moving when definitions change.
//! The keys of a signal on the compiled path are exported from it and
//! imported back into it on restore (the compiled path is kept).

use crate::engine::{Engine, KeyState, Stats};
use crate::event::Event;
use crate::ir::SignalDef;
use crate::shell::clock::SourceClock;
use crate::shell::reorder::{Queued, Reorder};
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
pub const VERSION: u32 = 5;
/// The first version with a checksum and XXH3 fingerprints.
pub const CHECKSUM_VERSION: u32 = 5;
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
    /// The checksum does not match the contents (or is missing).
    #[error(
        "state file checksum mismatch: it says {stored}, its contents hash to {computed}; the file was edited or damaged, refusing to start from it (start fresh explicitly to discard it)"
    )]
    Checksum {
        /// What the file says (`"none"` when missing).
        stored: String,
        /// What its contents hash to.
        computed: String,
    },
    /// A section that contradicts itself (a running sum that is not the sum
    /// of its buffer, a level the signal cannot raise, ...).
    #[error(
        "state file is inconsistent: {0}; refusing to start from it (start fresh explicitly to discard it)"
    )]
    Inconsistent(String),
    /// Taken with a setting this engine does not have, which the state
    /// depends on (see [`crate::config::StateSettings`]).
    #[error(
        "the state was taken with {field} = {snapshot}, this engine runs with {field} = {now}; restoring it would make the state inconsistent (run with {field} = {snapshot}, or start fresh explicitly to discard the state)"
    )]
    Settings {
        /// The setting (as in [`crate::config::FIELDS`]).
        field: &'static str,
        /// The snapshot's value.
        snapshot: String,
        /// This engine's value.
        now: String,
    },
}

/// What a restore kept and what it reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// Signals whose state was restored.
    pub kept: Vec<String>,
    /// Signals whose state was not restored: in the snapshot but changed or
    /// gone from the definitions, or in the definitions but not in the
    /// snapshot (they start afresh).
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
    /// The line of a record reporting deadlines follow (checked again on restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<String>,
}

/// The shell's section: ingestion, the reorder buffer and the clock.
#[derive(Serialize, Deserialize)]
struct ShellSnap {
    clock: SourceClock,
    offset_min: i16,
    released: i64,
    pending: Vec<PendingSnap>,
    seen_ids: Vec<(Arc<str>, i64)>,
    seen_kkt: Vec<(String, Arc<str>, i64)>,
    stats: Stats,
    next_id: u64,
    host: Option<serde_json::Value>,
    /// The settings the state depends on (absent in states written before
    /// they were recorded: then nothing is compared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    settings: Option<crate::config::StateSettings>,
}

/// The signals operator's section.
#[derive(Serialize, Deserialize)]
struct SignalsSnap {
    signals: Vec<SignalSnap>,
    absence: Vec<(i64, String, Arc<str>)>,
    gone: Vec<(String, Arc<str>, i64)>,
    last_sweep: i64,
    /// The script-failure reporter (its rate limiter).
    #[serde(default)]
    scripts: crate::script::LimiterState,
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: String,
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
    shell: ShellSnap,
    signals: SignalsSnap,
    plans: Option<serde_json::Value>,
    deadlines: Option<crate::assess::live::DeadlineState>,
}

/// Versions 1–3: one flat document.
#[derive(Deserialize)]
struct LegacySnapshot {
    signals: Vec<SignalSnap>,
    max_ts: Option<Timestamp>,
    released: i64,
    pending: Vec<PendingSnap>,
    seen_ids: Vec<(Arc<str>, i64)>,
    seen_kkt: Vec<(String, Arc<str>, i64)>,
    absence: Vec<(i64, String, Arc<str>)>,
    stats: Stats,
    last_sweep: i64,
    #[serde(default)]
    workflow: Option<serde_json::Value>,
    #[serde(default)]
    deadlines: Option<(Vec<(u64, String)>, i64)>,
    #[serde(default)]
    deadlines_closed: Vec<(String, Arc<str>, i64)>,
    #[serde(default = "first_id")]
    next_id: u64,
    #[serde(default)]
    host: Option<serde_json::Value>,
}

impl LegacySnapshot {
    fn upgrade(self) -> Snapshot {
        let mut clock = SourceClock::default();
        if let Some(m) = self.max_ts {
            clock.force(m.ms);
        }
        Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            checksum: None,
            shell: ShellSnap {
                clock,
                offset_min: self.max_ts.map_or(0, |m| m.offset_min),
                // instants through `released` were processed (versions 1–3
                // released events at the watermark itself)
                released: self.released,
                pending: self.pending,
                seen_ids: self.seen_ids,
                seen_kkt: self.seen_kkt,
                stats: self.stats,
                next_id: self.next_id,
                host: self.host,
                settings: None,
            },
            signals: SignalsSnap {
                signals: self.signals,
                absence: self.absence,
                gone: Vec::new(),
                last_sweep: self.last_sweep,
                scripts: crate::script::LimiterState::default(),
            },
            plans: self.workflow,
            deadlines: self
                .deadlines
                .map(|(log, now)| crate::assess::live::DeadlineState {
                    log,
                    now,
                    closed: self.deadlines_closed,
                }),
        }
    }
}

fn first_id() -> u64 {
    1
}

/// The canonical text a signal's fingerprint hashes: its compiled IR without
/// source positions, its kinds' names and their fields, as JSON.
fn fingerprint_text(def: &SignalDef, program: &crate::ir::Program) -> String {
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
    serde_json::to_string(&(d, kinds.iter().map(|k| &k.name).collect::<Vec<_>>(), fields))
        .unwrap_or_default()
}

/// A stable fingerprint of a signal's definition (not of where it is
/// written): XXH3-64 of its canonical text (`fingerprint_text`), 16 hex
/// digits. The same on every build (pinned by a test).
pub fn fingerprint(def: &SignalDef, program: &crate::ir::Program) -> String {
    format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(fingerprint_text(def, program).as_bytes())
    )
}

/// The fingerprint versions 1–4 wrote (`FxHasher` over the same text):
/// stable only for one `rustc-hash` version, so used only to migrate old
/// snapshots.
pub fn legacy_fingerprint(def: &SignalDef, program: &crate::ir::Program) -> String {
    let mut h = rustc_hash::FxHasher::default();
    fingerprint_text(def, program).hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The checksum of a state document: XXH3-64 of the document without its
/// `checksum` member, as serde_json writes a [`serde_json::Value`], in 16
/// hex digits.
pub fn checksum(doc: &serde_json::Value) -> String {
    let mut doc = doc.clone();
    if let Some(m) = doc.as_object_mut() {
        m.retain(|k, _| k != "checksum");
    }
    let bytes = serde_json::to_vec(&doc).unwrap_or_default();
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// Recomputes the checksum of a snapshot [`Engine::snapshot`] wrote and an
/// embedder then edited on purpose (the CLI fills in its host section's
/// output lengths at each checkpoint): the same bytes with the checksum
/// replaced. `Err` when `doc` is not such a document.
pub fn reseal(doc: &[u8]) -> Result<Vec<u8>, StateError> {
    let value: serde_json::Value =
        serde_json::from_slice(doc).map_err(|e| StateError::Corrupt(e.to_string()))?;
    let sum = checksum(&value);
    const MEMBER: &[u8] = b"\"checksum\":\"";
    // the member comes right after `format` and `version`
    let head = doc.get(..doc.len().min(128)).unwrap_or_default();
    let at = head
        .windows(MEMBER.len())
        .position(|w| w == MEMBER)
        .map(|i| i + MEMBER.len())
        .filter(|&i| doc.get(i + 16) == Some(&b'"'))
        .ok_or_else(|| StateError::Corrupt("no checksum to reseal".into()))?;
    let mut out = doc.to_vec();
    if let Some(slot) = out.get_mut(at..at + 16) {
        slot.copy_from_slice(sum.as_bytes());
    }
    Ok(out)
}

impl Engine {
    /// The complete state as a versioned JSON document.
    pub fn snapshot(&self) -> Vec<u8> {
        let sig = &self.signals;
        let names = |s: u16| {
            sig.rts
                .get(usize::from(s))
                .map(|r| r.name.to_string())
                .unwrap_or_default()
        };
        let mut signals: Vec<SignalSnap> = self
            .program
            .signals
            .iter()
            .zip(&sig.rts)
            .enumerate()
            .map(|(i, (def, rt))| {
                let mut keys: Vec<(Arc<str>, KeyState)> =
                    match sig.compiled.as_ref().filter(|c| c.is_compiled(i)) {
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
        let mut gone: Vec<(String, Arc<str>, i64)> = sig
            .gone
            .iter()
            .map(|((s, k), t)| (names(*s), k.clone(), *t))
            .collect();
        gone.sort();
        let snap = Snapshot {
            format: FORMAT.into(),
            version: VERSION,
            checksum: None,
            shell: ShellSnap {
                clock: self.clock.clone(),
                offset_min: self.offset_min,
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
                            .filter_map(|(i, v)| {
                                Some((self.program.fields.get(i)?.clone(), v.clone()))
                            })
                            .collect(),
                        skip: q.skip.iter().map(|&s| names(s)).collect(),
                        record: q.record.as_ref().map(|r| r.1.clone()),
                    })
                    .collect(),
                seen_ids: {
                    let mut v: Vec<_> =
                        self.seen_ids.iter().map(|(k, t)| (k.clone(), *t)).collect();
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
                stats: self.stats.clone(),
                next_id: self.next_id,
                host: self.host.clone(),
                settings: Some(crate::config::StateSettings::of(&self.config)),
            },
            signals: SignalsSnap {
                signals,
                absence: sig
                    .absence
                    .iter()
                    .map(|(d, s, k)| (*d, names(*s), k.clone()))
                    .collect(),
                gone,
                last_sweep: sig.last_sweep,
                scripts: sig.scripts.limiter_state(),
            },
            plans: self
                .workflow()
                .and_then(|wf| serde_json::to_value(wf.state()).ok()),
            deadlines: self.deadlines.as_ref().map(|d| d.snapshot_state()),
        };
        let mut snap = snap;
        // the checksum is over the document as a `Value` (what a restore
        // parses); the file keeps the struct's member order (format first)
        snap.checksum = serde_json::to_value(&snap).ok().map(|doc| checksum(&doc));
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
        if found >= CHECKSUM_VERSION {
            let computed = checksum(&probe);
            let stored = probe.get("checksum").and_then(|c| c.as_str());
            if stored != Some(computed.as_str()) {
                return Err(StateError::Checksum {
                    stored: stored.unwrap_or("none").to_string(),
                    computed,
                });
            }
        }
        let snap: Snapshot = if found < 4 {
            serde_json::from_value::<LegacySnapshot>(probe)
                .map_err(|e| StateError::Corrupt(e.to_string()))?
                .upgrade()
        } else {
            serde_json::from_value(probe).map_err(|e| StateError::Corrupt(e.to_string()))?
        };
        if let Some((field, snapshot, now)) = snap
            .shell
            .settings
            .as_ref()
            .and_then(|s| s.differs(&crate::config::StateSettings::of(&self.config)))
        {
            return Err(StateError::Settings {
                field,
                snapshot,
                now,
            });
        }
        let workflow: Option<crate::workflow::runtime::WorkflowState> =
            match (&snap.plans, self.workflow()) {
                (Some(w), Some(_)) => Some(
                    serde_json::from_value(w.clone())
                        .map_err(|e| StateError::Corrupt(format!("plan state: {e}")))?,
                ),
                _ => None,
            };
        let deadlines = match (snap.deadlines, self.deadlines.as_ref()) {
            (Some(st), Some(d)) => Some(
                d.restored(st)
                    .map_err(|e| StateError::Corrupt(format!("deadline records: {e}")))?,
            ),
            _ => None,
        };
        let mut report = RestoreReport::default();
        let index = |name: &str| self.program.signals.iter().position(|s| s.name == name);
        let n = self.signals.rts.len();
        let mut restored = vec![false; n];
        let mut new_keys: Vec<Option<KeyList>> = vec![None; n];
        let sigs = snap.signals;
        let same = |def: &SignalDef, stored: &str| {
            if found >= CHECKSUM_VERSION {
                fingerprint(def, &self.program) == stored
            } else {
                legacy_fingerprint(def, &self.program) == stored
            }
        };
        for s in sigs.signals {
            match index(&s.name) {
                Some(i)
                    if self
                        .program
                        .signals
                        .get(i)
                        .is_some_and(|d| same(d, &s.fingerprint)) =>
                {
                    if let (Some(def), Some(rt)) =
                        (self.program.signals.get(i), self.signals.rts.get(i))
                    {
                        for (key, st) in &s.keys {
                            st.check(def, &rt.layout).map_err(|e| {
                                StateError::Inconsistent(format!(
                                    "signal `{}`, key `{key}`: {e}",
                                    s.name
                                ))
                            })?;
                        }
                    }
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
        for (def, r) in self.program.signals.iter().zip(&restored) {
            if !*r && !report.reset.contains(&def.name) {
                report.reset.push(def.name.clone());
            }
        }
        let kept = |name: &str| {
            let i = index(name)?;
            restored.get(i).copied().filter(|r| *r)?;
            Some(i as u16)
        };
        let shell = snap.shell;
        let mut pending = Reorder::default();
        for p in shell.pending {
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
            let record = match (p.record, self.deadlines.as_ref()) {
                (Some(line), Some(d)) => Some(Box::new((
                    d.check(&line, p.seq)
                        .map_err(|e| StateError::Corrupt(format!("buffered record: {e}")))?,
                    line,
                ))),
                _ => None,
            };
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
                record,
            });
        }
        let absence = sigs
            .absence
            .into_iter()
            .filter_map(|(d, s, k)| Some((d, kept(&s)?, k)))
            .collect();
        let gone = sigs
            .gone
            .into_iter()
            .filter_map(|(s, k, t)| Some(((kept(&s)?, k), t)))
            .collect();
        // the compiled signals' keys go back into the compiled store
        let imports = match self.signals.compiled.as_ref() {
            Some(c) => new_keys
                .iter()
                .enumerate()
                .map(|(i, keys)| {
                    c.is_compiled(i)
                        .then(|| c.prepare_import(i, keys.as_deref().unwrap_or_default()))
                        .transpose()
                })
                .collect::<Result<Vec<_>, String>>()
                .map_err(StateError::Corrupt)?,
            None => Vec::new(),
        };
        // everything validated: now replace the state
        let op = &mut self.signals;
        let mut imports = imports.into_iter();
        for (i, keys) in new_keys.into_iter().enumerate() {
            let imported = imports.next().flatten();
            if let Some(rt) = op.rts.get_mut(i) {
                match (op.compiled.as_mut(), imported) {
                    (Some(c), Some(keys)) => {
                        c.import_keys(i, keys);
                        rt.keys.clear();
                    }
                    _ => rt.keys = keys.unwrap_or_default().into_iter().collect(),
                }
            }
        }
        op.absence = absence;
        op.gone = gone;
        op.last_sweep = sigs.last_sweep;
        op.scripts.restore_limiter(&sigs.scripts);
        self.clock = shell.clock;
        self.offset_min = shell.offset_min;
        self.released = shell.released;
        self.pending = pending;
        self.seen_ids = shell.seen_ids.into_iter().collect();
        self.dedupe_by_time = Default::default();
        self.seen_kkt = shell
            .seen_kkt
            .into_iter()
            .filter_map(|(k, key, t)| Some((self.schema.kind(&k)?, key, t)))
            .collect();
        self.stats = shell.stats;
        self.next_id = shell.next_id.max(1);
        self.host = shell.host;
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
