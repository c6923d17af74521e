//! The service core: one task owns the engine and applies, in order, the
//! lines of every source, the wall-clock ticks and the API's commands.
//!
//! **Order and durability.** Each input is written to the [journal](crate::journal)
//! before it is applied; its outputs are then queued for every sink that
//! takes them ([`crate::queue`]). A checkpoint (on an interval, on SIGTERM
//! and SIGINT, on reload and at shutdown) is the engine's snapshot with the
//! service's own state in its host section: journal position, followed
//! files' positions, the API's views, the routing state. A restart restores
//! it and applies the journal written after it: the engine re-derives the
//! same outputs with the same ids, and the queues, which remember the
//! highest id they took, do not take them twice. Nothing acknowledged to a
//! source (journaled) is lost; nothing is queued twice.
//!
//! **Wall clock.** With `clock: wall` (the default), every `tick` the
//! engine's wall time is set and its clock advanced to the wall time
//! (`advance_to`), so a 5-minute 叫应 escalation fires 5 minutes after its
//! call while the gauges are silent. Ticks are journaled like lines, so a
//! replay moves the clock exactly as the live run did.

use crate::config::{ServeConfig, SinkConfig, SinkFormat};
use crate::defs::{Defs, DefsError};
use crate::journal::{Journal, Record, write_atomic};
use crate::metrics::Metrics;
use crate::queue::{Pushed, Queue, QueuedRecord};
use crate::route::{RouteMessage, Router, Silence, SilenceSpec};
use crate::views::{AckCheck, Views};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, oneshot};
use yingji_engine::{Engine, Output, Timestamp};

/// An event line from a source.
#[derive(Debug)]
pub struct Input {
    /// The source's name.
    pub src: Arc<str>,
    /// The line.
    pub line: String,
    /// For followed files: the byte offset after the line.
    pub at: Option<u64>,
    /// Told once the line is in the journal (durable): a source that can
    /// acknowledge upstream (MQTT, `POST /events`) does so then, not on
    /// receipt.
    pub journaled: Option<oneshot::Sender<()>>,
}

/// The answer to `POST /ack`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AckOutcome {
    /// The engine counted the ack (`acked`).
    Acked {
        /// The `acked` output.
        output: Value,
    },
    /// Refused, with the plans' reason (`unknown_call`, `unknown_person`,
    /// `duplicate`, `closed`, `not_called_yet`, `ambiguous`).
    Refused {
        /// The reason.
        reason: String,
        /// The `ack_rejected` output, when the engine refused it.
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
    },
    /// The ack line itself was refused by the engine.
    Invalid {
        /// Why.
        message: String,
    },
}

/// What a reload did.
#[derive(Clone, Debug, Serialize)]
pub struct ReloadReport {
    /// Signals whose state was kept.
    pub kept: Vec<String>,
    /// Signals that changed (or are new or gone) and start afresh.
    pub reset: Vec<String>,
    /// Files loaded.
    pub files: usize,
}

/// A command for the engine task.
pub enum Command {
    /// An ack from `POST /ack`.
    Ack {
        /// The person.
        person: String,
        /// The call reference.
        call_ref: Option<String>,
        /// Where the verdict goes (immediately for refusals).
        reply: oneshot::Sender<AckOutcome>,
    },
    /// Adds a silence.
    Silence {
        /// What to silence.
        spec: SilenceSpec,
        /// The silence as stored, or why it was refused.
        reply: oneshot::Sender<Result<Silence, String>>,
    },
    /// Reloads the definitions from their paths.
    Reload {
        /// The report, or the diagnostics of definitions that failed.
        reply: oneshot::Sender<Result<ReloadReport, DefsError>>,
    },
    /// Takes a checkpoint now.
    Checkpoint {
        /// Done (or the error's text).
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A fresh engine on the running definitions for a replay (no allowed
    /// lateness), with the screen's names and places.
    Fork {
        /// The engine and the meta, or why not.
        reply: oneshot::Sender<Result<(Engine, Arc<crate::web::Meta>), String>>,
    },
    /// Stops: applies what is in the input channel, checkpoints, returns.
    Shutdown,
}

/// The service's status, for `/health`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Status {
    /// The engine's clock.
    pub clock: Option<String>,
    /// Events applied since the state began.
    pub events: u64,
    /// When the last checkpoint was written (wall time).
    pub last_checkpoint: Option<String>,
    /// Definition files loaded.
    pub files: usize,
}

/// State shared between the engine task, the sources, the sinks and the API.
pub struct Shared {
    /// The configuration.
    pub cfg: Arc<ServeConfig>,
    /// Where sources send lines.
    pub in_tx: mpsc::Sender<Input>,
    /// Where the API sends commands.
    pub cmd_tx: mpsc::Sender<Command>,
    /// What the API shows.
    pub views: RwLock<Views>,
    /// Silences (a copy of the router's, for `GET /silences`).
    pub silences: RwLock<Vec<Silence>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The sinks' queues, in configuration order.
    pub queues: Vec<Arc<Queue>>,
    /// Status.
    pub status: RwLock<Status>,
    /// The live screen's boot id, clock and stream.
    pub board: crate::web::Board,
    /// The screen's names, places and flowcharts (rebuilt on reload).
    pub meta: RwLock<Arc<crate::web::Meta>>,
    /// Drill replays.
    pub replays: Arc<crate::web::replay::Replays>,
}

impl Shared {
    /// The screen's meta now.
    pub fn meta(&self) -> Arc<crate::web::Meta> {
        self.meta
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_meta(&self, m: crate::web::Meta) {
        *self
            .meta
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(m);
    }
}

/// The service's part of the snapshot (`host` section, key `serve`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct HostState {
    journal: (u64, u64),
    files: BTreeMap<String, u64>,
    wall_ms: Option<i64>,
    seq: u64,
    svc_seq: u64,
    views: Views,
    router: crate::route::RouterState,
    #[serde(default)]
    cap: crate::cap::CapState,
}

/// A failure that stops the service.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The definitions did not load.
    #[error("the definitions did not load:\n{0}")]
    Defs(#[from] DefsError),
    /// The state folder or a file in it.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A checkpoint that cannot be restored.
    #[error("{path}: the checkpoint cannot be restored: {message} (move it away to start afresh)")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Anything else that prevents starting (a port in use, …).
    #[error("{0}")]
    Start(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// Wall time now, ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How a record is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Journal it, apply it, count it.
    Live,
    /// Already journaled: apply it, count it.
    Journaled,
    /// From the journal at start: apply it only (it was counted and logged
    /// when it came in).
    Replay,
}

/// A sink as the engine task sees it.
struct SinkSlot {
    cfg: SinkConfig,
    queue: Arc<Queue>,
}

impl SinkSlot {
    fn takes(&self, kind: &str) -> bool {
        if self.cfg.format == SinkFormat::Cap && kind != "level_changed" {
            return false;
        }
        self.cfg.types.is_empty() || self.cfg.types.iter().any(|t| t == kind)
    }
}

/// The engine task.
pub struct Core {
    engine: Engine,
    defs: Defs,
    cfg: Arc<ServeConfig>,
    journal: Journal,
    host: HostState,
    router: Router,
    sinks: Vec<SinkSlot>,
    shared: Arc<Shared>,
    waiters: HashMap<u64, (oneshot::Sender<AckOutcome>, (String, String))>,
    pending_acks: HashSet<(String, String)>,
    /// Station → area (township), from the roster's station table.
    stations: HashMap<String, String>,
    /// The CAP mapping, when a sink writes CAP.
    cap: Option<crate::cap::CapConfig>,
    /// The townships of the screen (`web.townships`).
    towns: crate::web::Towns,
    checkpoint_path: PathBuf,
}

fn engine_config(cfg: &ServeConfig) -> yingji_engine::Config {
    yingji_engine::Config {
        lateness_ms: cfg.lateness.0,
        max_ahead_ms: Some(cfg.max_ahead.0),
        ..yingji_engine::Config::default()
    }
}

impl Core {
    /// Loads the definitions, restores the checkpoint (if any) and applies
    /// the journal after it. `queues` are the sinks' queues (opened by the
    /// caller, in configuration order).
    pub async fn start(
        paths: &[PathBuf],
        cfg: Arc<ServeConfig>,
        shared: Arc<Shared>,
    ) -> Result<Core, ServeError> {
        let defs = Defs::load(paths)?;
        let warnings = defs.warnings();
        if !warnings.is_empty() {
            tracing::warn!(warnings = %warnings, "definitions loaded with warnings");
        }
        let mut engine = defs.engine(engine_config(&cfg))?;
        let towns = crate::web::load_towns(&cfg).map_err(ServeError::Start)?;
        shared.set_meta(
            crate::web::Meta::new(defs.plans(), &towns)
                .map_err(|e| ServeError::Start(format!("the screen: {e}")))?,
        );
        let dir = cfg.state_dir.clone();
        std::fs::create_dir_all(&dir).map_err(io(format!("{}: create", dir.display())))?;
        let checkpoint_path = dir.join("checkpoint.json");
        let mut host = HostState {
            journal: (1, 0),
            ..HostState::default()
        };
        match std::fs::read(&checkpoint_path) {
            Ok(bytes) => {
                let report = engine.restore(&bytes).map_err(|e| ServeError::Checkpoint {
                    path: checkpoint_path.clone(),
                    message: e.to_string(),
                })?;
                if let Some(h) = engine.host_state().and_then(|h| h.get("serve")) {
                    host =
                        serde_json::from_value(h.clone()).map_err(|e| ServeError::Checkpoint {
                            path: checkpoint_path.clone(),
                            message: format!("its `host.serve` section: {e}"),
                        })?;
                }
                tracing::info!(
                    checkpoint = %checkpoint_path.display(),
                    kept = ?report.kept,
                    reset = ?report.reset,
                    events = host.seq,
                    "restored the checkpoint"
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(state_dir = %dir.display(), "no checkpoint: starting afresh");
            }
            Err(e) => return Err(io(format!("{}: read", checkpoint_path.display()))(e)),
        }
        // journals older than the checkpoint's are covered by it
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                let old = name
                    .strip_prefix("journal-")
                    .and_then(|n| n.strip_suffix(".jsonl"))
                    .and_then(|n| n.parse::<u64>().ok())
                    .is_some_and(|g| g < host.journal.0);
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let (journal, replay) = Journal::open(&dir, host.journal.0, host.journal.1, cfg.fsync)
            .map_err(io("the input journal"))?;
        if let Some(w) = host.wall_ms {
            engine.set_wall_time(w);
        }
        let router = Router::new(cfg.route.clone().unwrap_or_default(), host.router.clone());
        let stations = defs.stations();
        let sinks = cfg
            .sinks
            .iter()
            .zip(shared.queues.iter())
            .map(|(c, q)| SinkSlot {
                cfg: c.clone(),
                queue: q.clone(),
            })
            .collect();
        let cap = match &cfg.cap_mapping {
            Some(p) if cfg.sinks.iter().any(|s| s.format == SinkFormat::Cap) => Some(
                crate::cap::CapConfig::load(p)
                    .map_err(|e| ServeError::Start(format!("cap_mapping: {e}")))?,
            ),
            _ => None,
        };
        let mut core = Core {
            engine,
            defs,
            cfg: cfg.clone(),
            journal,
            host,
            router,
            sinks,
            shared,
            waiters: HashMap::new(),
            pending_acks: HashSet::new(),
            stations,
            cap,
            towns,
            checkpoint_path,
        };
        *core.views_mut() = std::mem::take(&mut core.host.views);
        core.sync_silences();
        for s in &cfg.silences {
            if core.router.has_silence_like(s) {
                continue;
            }
            if let Err(e) = core.add_silence(s.clone(), false).await {
                return Err(ServeError::Start(format!("silences in the config: {e}")));
            }
        }
        let n = replay.len();
        for rec in replay {
            core.apply(rec, Mode::Replay).await;
        }
        if n > 0 {
            tracing::info!(records = n, "applied the journal after the checkpoint");
        }
        core.checkpoint()
            .map_err(|e| ServeError::Start(format!("first checkpoint: {e}")))?;
        Ok(core)
    }

    fn views_mut(&self) -> std::sync::RwLockWriteGuard<'_, Views> {
        self.shared
            .views
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sync_silences(&self) {
        let mut g = self
            .shared
            .silences
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = self.router.silences().to_vec();
    }

    /// Where followed files resume (by source name).
    pub fn file_positions(&self) -> BTreeMap<String, u64> {
        self.host.files.clone()
    }

    fn offset_min(&self) -> i16 {
        self.cfg.utc_offset_min
    }

    /// A line from a source: journaled (the source is told), then applied.
    async fn input(&mut self, inp: Input) {
        let rec = Record::Line {
            src: inp.src.to_string(),
            line: inp.line,
            at: inp.at,
        };
        if let Err(e) = self.journal.append(&rec) {
            tracing::error!(error = %e, "cannot write the input journal; applying anyway");
        }
        if let Some(done) = inp.journaled {
            let _ = done.send(());
        }
        self.apply(rec, Mode::Journaled).await;
    }

    /// Applies one record (see [`Mode`]).
    async fn apply(&mut self, rec: Record, mode: Mode) {
        let live = mode != Mode::Replay;
        if mode == Mode::Live {
            if let Err(e) = self.journal.append(&rec) {
                // without the journal a crash would lose it: say so loudly
                tracing::error!(error = %e, "cannot write the input journal; applying anyway");
            }
        }
        match rec {
            Record::Line { src, line, at } => {
                if let Some(at) = at {
                    self.host.files.insert(src.clone(), at);
                }
                self.apply_line(&src, &line, live).await;
            }
            Record::Tick { tick } => {
                self.host.wall_ms = Some(tick);
                self.engine.set_wall_time(tick);
                let mut out = Vec::new();
                self.engine.advance_to(
                    Timestamp {
                        ms: tick,
                        offset_min: self.offset_min(),
                    },
                    &mut out,
                );
                self.dispatch(out).await;
                let msgs = self.router.tick(tick);
                self.route_out(msgs).await;
            }
            Record::Silence { silence } => {
                let id = silence.id.clone();
                if let Err(e) = self.router.add_silence(silence) {
                    tracing::warn!(silence = %id, error = %e, "journaled silence refused");
                }
                self.sync_silences();
            }
        }
    }

    async fn apply_line(&mut self, src: &str, line: &str, live: bool) {
        self.host.seq += 1;
        let seq = self.host.seq;
        if live {
            self.shared.metrics.event_in(src);
        }
        let mut out = Vec::new();
        match self.engine.push_line(line, seq, &mut out) {
            Ok(()) => {
                if live {
                    if let Some(lag) = lateness_secs(line) {
                        self.shared.metrics.lateness(lag);
                    }
                }
                if let Some((station, ts)) = crate::web::reading_of(line) {
                    self.views_mut().reading(&station, &ts);
                }
            }
            Err(e) => {
                let reason = match &e {
                    yingji_engine::LineError::Event(yingji_engine::EventError::NotJson(_)) => {
                        "not_json"
                    }
                    _ => "event",
                };
                if live {
                    self.shared.metrics.rejected(src, reason);
                    let shown: String = line.chars().take(200).collect();
                    tracing::warn!(source = src, event = seq, reason, error = %e, line = %shown, "line refused");
                }
            }
        }
        self.dispatch(out).await;
    }

    /// Hands outputs to the views, the waiting acks, the router and the sinks.
    async fn dispatch(&mut self, outs: Vec<Output>) {
        let mut routed = Vec::new();
        self.shared
            .board
            .set_clock(self.engine.clock().map(|c| c.to_string()));
        let texts: Vec<String> = outs.iter().map(Output::to_json).collect();
        let outs: Vec<(Output, Value)> = outs
            .into_iter()
            .zip(&texts)
            .map(|(o, t)| (o, serde_json::from_str(t).unwrap_or(Value::Null)))
            .collect();
        // the views, the timeline and the screen's stream
        crate::web::apply_outputs(
            &self.shared.views,
            &self.shared.board,
            &self.shared.meta(),
            &outs,
            self.cfg.web.timeline,
        );
        for ((o, v), json) in outs.into_iter().zip(texts) {
            let kind = o.type_name();
            self.shared.metrics.output(kind);
            if kind == "acked" || kind == "ack_rejected" {
                self.answer_ack(kind, &v);
            }
            let area = v
                .get("key")
                .and_then(Value::as_str)
                .and_then(|k| self.stations.get(k))
                .cloned();
            routed.extend(self.router.on_output(&v, area.as_deref()));
            let cap_xml = match &self.cap {
                Some(c) if kind == "level_changed" => {
                    crate::cap::alert_xml(&o, c, &mut self.host.cap)
                }
                _ => None,
            };
            let mid = o.id().to_string();
            self.enqueue(&mid, kind, &json, cap_xml.as_deref()).await;
        }
        self.route_out(routed).await;
    }

    async fn route_out(&mut self, msgs: Vec<RouteMessage>) {
        for m in msgs {
            let v = serde_json::to_value(&m).unwrap_or(Value::Null);
            let json = v.to_string();
            self.shared.metrics.output("route_message");
            self.enqueue(&m.id, "route_message", &json, None).await;
        }
    }

    /// Queues a record for every sink that takes `kind`; `cap`: its CAP
    /// alert, for sinks writing CAP (they skip records without one).
    async fn enqueue(&mut self, mid: &str, kind: &str, json: &str, cap: Option<&str>) {
        for s in &self.sinks {
            if !s.takes(kind) {
                continue;
            }
            let body = match s.cfg.format {
                SinkFormat::Json => json.to_string(),
                SinkFormat::Cap => match cap {
                    Some(x) => x.to_string(),
                    None => continue,
                },
            };
            let rec = QueuedRecord {
                mid: mid.to_string(),
                kind: kind.to_string(),
                body,
            };
            match s.queue.push(&rec).await {
                Ok(Pushed::Queued | Pushed::Duplicate) => {}
                Ok(Pushed::Full) => {}
                Err(e) => {
                    tracing::error!(sink = s.queue.name(), error = %e, mid, "cannot queue an output")
                }
            }
        }
    }

    /// A service record (`definitions_reloaded`, …) to the sinks.
    async fn service_record(&mut self, kind: &str, mut body: Value) {
        self.host.svc_seq += 1;
        let id = format!("svc-{}", self.host.svc_seq);
        if let Some(m) = body.as_object_mut() {
            m.insert("id".into(), Value::from(id.clone()));
            m.insert("type".into(), Value::from(kind));
            m.insert(
                "ts".into(),
                Value::from(
                    Timestamp {
                        ms: self.host.wall_ms.unwrap_or_else(now_ms),
                        offset_min: self.offset_min(),
                    }
                    .to_string(),
                ),
            );
        }
        self.shared.metrics.output(kind);
        {
            let meta = self.shared.meta();
            let mut v = self.views_mut();
            let e = v.record(meta.generic_entry(&body), self.cfg.web.timeline);
            self.shared.board.output(&e);
            self.shared.board.batch_done(&v);
        }
        let json = body.to_string();
        self.enqueue(&id, kind, &json, None).await;
    }

    fn answer_ack(&mut self, kind: &str, v: &Value) {
        let Some(ev) = v.pointer("/cause/event").and_then(Value::as_u64) else {
            return;
        };
        let Some((reply, key)) = self.waiters.remove(&ev) else {
            return;
        };
        self.pending_acks.remove(&key);
        let outcome = if kind == "acked" {
            AckOutcome::Acked { output: v.clone() }
        } else {
            AckOutcome::Refused {
                reason: v
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                output: Some(v.clone()),
            }
        };
        let _ = reply.send(outcome);
    }

    async fn ack(
        &mut self,
        person: String,
        call_ref: Option<String>,
        reply: oneshot::Sender<AckOutcome>,
    ) {
        let key = (person.clone(), call_ref.clone().unwrap_or_default());
        if call_ref.is_some() && self.pending_acks.contains(&key) {
            let _ = reply.send(AckOutcome::Refused {
                reason: "duplicate".into(),
                output: None,
            });
            return;
        }
        let check = self
            .shared
            .views
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .check_ack(&person, call_ref.as_deref());
        if let AckCheck::Refuse(reason) = check {
            let _ = reply.send(AckOutcome::Refused {
                reason: reason.into(),
                output: None,
            });
            return;
        }
        // stamped now (never behind the clock); on event time alone, at the clock
        let wall = now_ms();
        let ms = match (self.cfg.clock, self.engine.clock()) {
            (crate::config::ClockMode::Wall, Some(c)) => c.ms.max(wall),
            (crate::config::ClockMode::Events, Some(c)) => c.ms,
            (_, None) => wall,
        };
        let ts = Timestamp {
            ms,
            offset_min: self.offset_min(),
        };
        let mut line = serde_json::json!({"ts": ts.to_string(), "kind": "ack", "person": person});
        if let (Some(r), Some(m)) = (&call_ref, line.as_object_mut()) {
            m.insert("ref".into(), Value::from(r.clone()));
        }
        let line = line.to_string();
        if let Err(e) = self.journal.append(&Record::Line {
            src: "http:ack".into(),
            line: line.clone(),
            at: None,
        }) {
            tracing::error!(error = %e, "cannot write the input journal; applying anyway");
        }
        self.host.seq += 1;
        let seq = self.host.seq;
        self.shared.metrics.event_in("http:ack");
        let mut out = Vec::new();
        if let Err(e) = self.engine.push_line(&line, seq, &mut out) {
            self.shared.metrics.rejected("http:ack", "event");
            let _ = reply.send(AckOutcome::Invalid {
                message: e.to_string(),
            });
            self.dispatch(out).await;
            return;
        }
        if self.waiters.len() > 10_000 {
            // verdicts nobody waits for any more (the callers answered `pending`)
            self.waiters.retain(|_, (r, _)| !r.is_closed());
        }
        self.pending_acks.insert(key.clone());
        self.waiters.insert(seq, (reply, key));
        self.dispatch(out).await;
    }

    async fn add_silence(&mut self, spec: SilenceSpec, live: bool) -> Result<Silence, String> {
        let silence = self
            .router
            .make_silence(spec, self.host.wall_ms.unwrap_or_else(now_ms))?;
        let rec = Record::Silence {
            silence: silence.clone(),
        };
        if live {
            if let Err(e) = self.journal.append(&rec) {
                tracing::error!(error = %e, "cannot write the input journal; applying anyway");
            }
        }
        self.router.add_silence(silence.clone())?;
        self.sync_silences();
        tracing::info!(silence = %silence.id, "silence added");
        Ok(silence)
    }

    /// Writes the checkpoint (atomically) and starts a new journal.
    pub fn checkpoint(&mut self) -> Result<(), String> {
        let (generation, _) = self.journal.position();
        let mut host = HostState {
            journal: (generation + 1, 0),
            files: self.host.files.clone(),
            wall_ms: self.host.wall_ms,
            seq: self.host.seq,
            svc_seq: self.host.svc_seq,
            views: self
                .shared
                .views
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
            router: self.router.state(),
            cap: self.host.cap.clone(),
        };
        let value = serde_json::to_value(&host).map_err(|e| e.to_string())?;
        host.views = Views::default();
        self.engine
            .set_host_state(Some(serde_json::json!({ "serve": value })));
        let bytes = self.engine.snapshot();
        write_atomic(&self.checkpoint_path, &bytes)
            .map_err(|e| format!("{}: {e}", self.checkpoint_path.display()))?;
        self.journal
            .rotate()
            .map_err(|e| format!("the input journal: {e}"))?;
        let mut st = self
            .shared
            .status
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.last_checkpoint = Some(
            Timestamp {
                ms: now_ms(),
                offset_min: self.offset_min(),
            }
            .to_string(),
        );
        Ok(())
    }

    async fn reload(&mut self) -> Result<ReloadReport, DefsError> {
        let defs = Defs::load(&self.defs.paths)?;
        let mut engine = defs.engine(engine_config(&self.cfg))?;
        // what the journal holds was applied under the old definitions:
        // checkpoint it first, so no restart replays it under the new ones
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "checkpoint before reload failed");
        }
        let snapshot = self.engine.snapshot();
        let report = engine.restore(&snapshot).map_err(|e| DefsError {
            rendered: format!("the running state does not fit the new definitions: {e}"),
            diagnostics: serde_json::json!([{"severity":"error","message": e.to_string()}]),
        })?;
        if let Some(w) = self.host.wall_ms {
            engine.set_wall_time(w);
        }
        self.engine = engine;
        self.stations = defs.stations();
        match crate::web::Meta::new(defs.plans(), &self.towns) {
            Ok(m) => self.shared.set_meta(m),
            Err(e) => tracing::error!(error = %e, "the screen's names after the reload"),
        }
        let files = defs.files();
        self.defs = defs;
        tracing::info!(kept = ?report.kept, reset = ?report.reset, files, "definitions reloaded");
        self.service_record(
            "definitions_reloaded",
            serde_json::json!({"kept": report.kept, "reset": report.reset, "files": files}),
        )
        .await;
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "checkpoint after reload failed");
        }
        Ok(ReloadReport {
            kept: report.kept,
            reset: report.reset,
            files,
        })
    }

    fn publish_status(&self) {
        let m = &self.shared.metrics;
        let wf = self.engine.workflow();
        m.gauge(
            "yingji_open_plans",
            wf.map_or(0, |w| w.open_instances()) as f64,
        );
        m.gauge(
            "yingji_pending_timers",
            wf.map_or(0, |w| w.pending_timers()) as f64,
        );
        m.gauge("yingji_buffered_events", self.engine.pending_len() as f64);
        for s in &self.sinks {
            m.gauge(
                &format!("yingji_sink_queue_bytes{{sink=\"{}\"}}", s.queue.name()),
                s.queue.depth_bytes() as f64,
            );
        }
        let mut st = self
            .shared
            .status
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        st.clock = self.engine.clock().map(|c| c.to_string());
        st.events = self.host.seq;
        st.files = self.defs.files();
    }

    /// Runs until [`Command::Shutdown`]; returns after the last checkpoint.
    pub async fn run(
        mut self,
        mut in_rx: mpsc::Receiver<Input>,
        mut cmd_rx: mpsc::Receiver<Command>,
    ) {
        let wall = self.cfg.clock == crate::config::ClockMode::Wall;
        let mut tick = tokio::time::interval(self.cfg.tick.std());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ckpt = tokio::time::interval(self.cfg.checkpoint_every.std());
        ckpt.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ckpt.tick().await;
        let mut status = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tokio::select! {
                biased;
                cmd = cmd_rx.recv() => {
                    match cmd {
                        None | Some(Command::Shutdown) => break,
                        Some(Command::Ack { person, call_ref, reply }) => self.ack(person, call_ref, reply).await,
                        Some(Command::Silence { spec, reply }) => {
                            let r = self.add_silence(spec, true).await;
                            let _ = reply.send(r);
                        }
                        Some(Command::Reload { reply }) => {
                            let r = self.reload().await;
                            if let Err(e) = &r {
                                tracing::warn!(diagnostics = %e.rendered, "reload refused: the running definitions stay");
                            }
                            let _ = reply.send(r);
                        }
                        Some(Command::Checkpoint { reply }) => {
                            let _ = reply.send(self.checkpoint());
                        }
                        Some(Command::Fork { reply }) => {
                            let config = yingji_engine::Config {
                                lateness_ms: 0,
                                ..engine_config(&self.cfg)
                            };
                            let r = self
                                .defs
                                .engine(config)
                                .map(|e| (e, self.shared.meta()))
                                .map_err(|e| e.rendered);
                            let _ = reply.send(r);
                        }
                    }
                }
                _ = tick.tick(), if wall => {
                    self.apply(Record::Tick { tick: now_ms() }, Mode::Live).await;
                }
                _ = ckpt.tick() => {
                    if let Err(e) = self.checkpoint() {
                        tracing::error!(error = %e, "checkpoint failed");
                    }
                }
                _ = status.tick() => self.publish_status(),
                Some(inp) = in_rx.recv() => self.input(inp).await,
            }
        }
        // what the sources handed over already is applied, not dropped
        in_rx.close();
        while let Ok(inp) = in_rx.try_recv() {
            self.input(inp).await;
        }
        match self.checkpoint() {
            Ok(()) => tracing::info!("final checkpoint written"),
            Err(e) => tracing::error!(error = %e, "final checkpoint failed"),
        }
        self.publish_status();
    }
}

/// Seconds between an event line's `ts` and now (None when it has none).
fn lateness_secs(line: &str) -> Option<f64> {
    #[derive(Deserialize)]
    struct Ts<'a> {
        #[serde(borrow)]
        ts: &'a str,
    }
    let ts: Ts = serde_json::from_str(line).ok()?;
    let t = Timestamp::parse(ts.ts).ok()?;
    Some(((now_ms() - t.ms) as f64 / 1000.0).max(0.0))
}
