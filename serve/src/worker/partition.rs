//! One owned stream partition: its engines (one per partition value), its
//! input consumer, its outputs and checkpoints.
//!
//! Order of writes (see docs/worker.md, "Exactly-once"): the outputs of an
//! input message go to its value's lane ([`super::lane`]: published in
//! order, each acknowledged before the next); a checkpoint at input
//! sequence S waits until every lane has published the outputs of the
//! messages up to S, then writes the snapshots to the object store, then
//! compare-and-sets its pointer in KV.

use super::group::Group;
use super::lane::{self, Lane};
use super::log;
use super::metrics::Metrics;
use async_nats::HeaderMap;
use async_nats::jetstream::{consumer, kv};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use yingji_engine::Engine;

/// What the task was asked.
pub enum Ctl {
    /// Checkpoint, then stop (the partition goes to another worker).
    Stop(oneshot::Sender<()>),
}

/// Why a partition task ended.
#[derive(Debug)]
pub enum End {
    /// Stopped when asked (checkpointed).
    Stopped,
    /// A write was refused because another owner took over (logged `fenced`).
    Fenced,
    /// The checkpoint cannot be used (logged `refused`); the partition is
    /// left alone until the worker restarts.
    Refused,
}

/// The checkpoint pointer in KV (`ckpt.<p>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pointer {
    /// Stream sequence of the last input message the checkpoint includes.
    pub seq: u64,
    /// Fencing token of the owner that wrote it.
    pub epoch: u64,
    /// The object holding the snapshots (`None`: nothing applied yet).
    pub object: Option<String>,
    /// Definitions hash of the snapshots.
    pub defs: String,
}

/// The checkpoint object: every partition value's engine snapshot.
#[derive(Serialize, Deserialize)]
struct Saved {
    format: u32,
    partition: u32,
    seq: u64,
    defs: String,
    values: Vec<SavedValue>,
}

#[derive(Serialize, Deserialize)]
struct SavedValue {
    value: String,
    /// Events handed to its engine so far (the next gets this + 1).
    events: u64,
    /// The engine snapshot (`Engine::snapshot`, JSON text).
    state: String,
}

/// One partition value (county): its engine and output lane.
struct Value {
    engine: Engine,
    events: u64,
    lane: Lane,
}

/// Tells the lanes to stop when the task ends (returns or is aborted).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Everything the task needs from the worker.
pub struct Env {
    /// The worker's id.
    pub worker: String,
    /// The group's objects.
    pub group: Arc<Group>,
    /// Definitions (engines are made from them).
    pub defs: Arc<crate::defs::Defs>,
    /// Their hash.
    pub defs_hash: String,
    /// The partition field.
    pub field: String,
    /// How often to checkpoint.
    pub every: Duration,
    /// Counters.
    pub metrics: Arc<Metrics>,
}

/// The partition task.
pub struct Task {
    env: Arc<Env>,
    p: u32,
    epoch: u64,
    values: BTreeMap<String, Value>,
    seq: u64,
    ckpt_rev: u64,
    ckpt_object: Option<String>,
    dirty: bool,
    events_since: u64,
    since: Instant,
    saves: u64,
    stop: StopOnDrop,
    fenced_tx: mpsc::UnboundedSender<()>,
    fenced_rx: mpsc::UnboundedReceiver<()>,
}

fn ckpt_key(p: u32) -> String {
    format!("ckpt.{p}")
}

/// Waits a little before retrying a write that failed for no fencing reason.
async fn backoff(attempt: u32) {
    let ms = 100u64 << attempt.min(4);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

impl Task {
    /// Takes partition `p` at `epoch`: reads the checkpoint pointer,
    /// restores the snapshots, claims the pointer with this epoch, then runs
    /// until asked to stop, fenced, or refused.
    pub async fn run(env: Arc<Env>, p: u32, epoch: u64, mut ctl: mpsc::Receiver<Ctl>) -> End {
        let (fenced_tx, fenced_rx) = mpsc::unbounded_channel();
        let mut t = Task {
            env,
            p,
            epoch,
            values: BTreeMap::new(),
            seq: 0,
            ckpt_rev: 0,
            ckpt_object: None,
            dirty: false,
            events_since: 0,
            since: Instant::now(),
            saves: 0,
            stop: StopOnDrop(Arc::new(AtomicBool::new(false))),
            fenced_tx,
            fenced_rx,
        };
        if let Err(end) = t.start().await {
            return end;
        }
        let mut attempt = 0;
        loop {
            match t.consume(&mut ctl).await {
                Ok(end) => return end,
                Err(Retry(why)) => {
                    tracing::warn!(partition = p, error = %why, "input consumer failed; resuming after the last applied message");
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
    }

    fn log(&self, event: &str, fields: serde_json::Value) {
        log::line(&self.env.worker, event, fields);
    }

    fn fenced(&self, write: &str, detail: String) -> End {
        self.log(
            "fenced",
            serde_json::json!({"partition": self.p, "epoch": self.epoch, "write": write, "detail": detail}),
        );
        self.env.metrics.fenced();
        End::Fenced
    }

    fn refused(&self, reason: String, extra: serde_json::Value) -> End {
        let mut f = serde_json::json!({"partition": self.p, "reason": reason});
        if let (Some(m), serde_json::Value::Object(e)) = (f.as_object_mut(), extra) {
            m.extend(e);
        }
        self.log("refused", f);
        End::Refused
    }

    fn engine(&self) -> Result<Engine, End> {
        self.env
            .defs
            .engine(yingji_engine::Config::default())
            .map_err(|e| {
                self.refused(
                    format!("cannot build an engine: {e}"),
                    serde_json::json!({}),
                )
            })
    }

    async fn start(&mut self) -> Result<(), End> {
        let kv = self.env.group.kv.clone();
        let key = ckpt_key(self.p);
        let mut attempt = 0;
        let entry = loop {
            match kv.entry(key.clone()).await {
                Ok(e) => break e,
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "reading the checkpoint pointer");
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        };
        let entry = entry.filter(|e| e.operation == kv::Operation::Put);
        let mine = Pointer {
            seq: 0,
            epoch: self.epoch,
            object: None,
            defs: self.env.defs_hash.clone(),
        };
        let (pointer, rev) = match entry {
            None => (mine, None),
            Some(e) => match serde_json::from_slice::<Pointer>(&e.value) {
                Ok(ptr) => (ptr, Some(e.revision)),
                Err(err) => {
                    return Err(self.refused(
                        format!("the checkpoint pointer {key} is not a pointer ({err})"),
                        serde_json::json!({}),
                    ));
                }
            },
        };
        if pointer.defs != self.env.defs_hash {
            return Err(self.refused(
                format!(
                    "the checkpoint of partition {} was written by definitions {}, these are {}: not restored; the partition is left unprocessed until a worker with its definitions takes it",
                    self.p, pointer.defs, self.env.defs_hash
                ),
                serde_json::json!({"checkpoint_defs": pointer.defs, "defs": self.env.defs_hash}),
            ));
        }
        if let Some(name) = &pointer.object {
            self.restore(name, &pointer).await?;
        }
        self.seq = pointer.seq;
        self.ckpt_object = pointer.object.clone();
        // claim the pointer with this epoch: a stale owner's next checkpoint is refused
        let claim = Pointer {
            epoch: self.epoch,
            ..pointer
        };
        let body: bytes::Bytes = serde_json::to_vec(&claim).unwrap_or_default().into();
        let claimed = match rev {
            None => kv.create(&key, body).await.map_err(|e| {
                if e.kind() == kv::CreateErrorKind::AlreadyExists {
                    (true, e.to_string())
                } else {
                    (false, e.to_string())
                }
            }),
            Some(r) => kv.update(&key, body, r).await.map_err(|e| {
                (
                    e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                    e.to_string(),
                )
            }),
        };
        match claimed {
            Ok(r) => self.ckpt_rev = r,
            Err((true, detail)) => return Err(self.fenced("kv_cas", detail)),
            Err((false, detail)) => {
                // not known to be fenced: give the partition back, it is retried
                tracing::warn!(partition = self.p, error = %detail, "claiming the checkpoint pointer failed");
                return Err(End::Stopped);
            }
        }
        self.log(
            "acquired",
            serde_json::json!({"partition": self.p, "epoch": self.epoch, "from_seq": self.seq + 1}),
        );
        Ok(())
    }

    async fn restore(&mut self, name: &str, pointer: &Pointer) -> Result<(), End> {
        use tokio::io::AsyncReadExt;
        let mut bytes = Vec::new();
        let mut attempt = 0;
        loop {
            bytes.clear();
            let got = match self.env.group.objects.get(name).await {
                Ok(mut o) => o.read_to_end(&mut bytes).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match got {
                Ok(_) => break,
                Err(e) if attempt >= 5 => {
                    return Err(self.refused(
                        format!("checkpoint object {name} cannot be read: {e}"),
                        serde_json::json!({}),
                    ));
                }
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "reading the checkpoint");
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
        let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| {
            self.refused(
                format!("checkpoint object {name} is damaged: {e}"),
                serde_json::json!({}),
            )
        })?;
        if saved.defs != self.env.defs_hash || saved.partition != self.p || saved.seq != pointer.seq
        {
            return Err(self.refused(
                format!(
                    "checkpoint object {name} (partition {}, seq {}, definitions {}) does not match its pointer (partition {}, seq {}) or these definitions ({})",
                    saved.partition, saved.seq, saved.defs, self.p, pointer.seq, self.env.defs_hash
                ),
                serde_json::json!({"checkpoint_defs": saved.defs, "defs": self.env.defs_hash}),
            ));
        }
        for v in saved.values {
            let mut engine = self.engine()?;
            if let Err(e) = engine.restore(v.state.as_bytes()) {
                return Err(self.refused(
                    format!("checkpoint of `{}` in {name}: {e}", v.value),
                    serde_json::json!({}),
                ));
            }
            let value = v.value.clone();
            self.values.insert(
                value,
                Value {
                    engine,
                    events: v.events,
                    lane: self.lane(&v.value),
                },
            );
        }
        self.log(
            "restored",
            serde_json::json!({"partition": self.p, "checkpoint_seq": pointer.seq, "values": self.values.len(), "bytes": bytes.len()}),
        );
        Ok(())
    }

    async fn consume(&mut self, ctl: &mut mpsc::Receiver<Ctl>) -> Result<End, Retry> {
        let deliver = if self.seq == 0 {
            consumer::DeliverPolicy::All
        } else {
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: self.seq + 1,
            }
        };
        let c = self
            .env
            .group
            .input
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: self.env.group.names.partition_filter(self.p),
                deliver_policy: deliver,
                // pulls of 2 s, so a 1 s idle heartbeat: a consumer lost with its
                // server (a leader killed) is noticed in seconds, not 30
                max_expires: Duration::from_secs(2),
                ..Default::default()
            })
            .await
            .map_err(|e| Retry(e.to_string()))?;
        let mut msgs = c.messages().await.map_err(|e| Retry(e.to_string()))?;
        let mut tick = tokio::time::interval(self.env.every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = self.fenced_rx.recv() => return Ok(End::Fenced),
                c = ctl.recv() => {
                    let Some(Ctl::Stop(done)) = c else { return Ok(End::Stopped) };
                    if self.dirty {
                        if let Err(end) = self.checkpoint().await { return Ok(end); }
                    }
                    let _ = done.send(());
                    return Ok(End::Stopped);
                }
                _ = tick.tick() => {
                    if self.dirty {
                        if let Err(end) = self.checkpoint().await { return Ok(end); }
                    }
                }
                m = msgs.next() => {
                    let m = match m {
                        Some(Ok(m)) => m,
                        Some(Err(e)) => return Err(Retry(e.to_string())),
                        None => return Err(Retry("the consumer ended".into())),
                    };
                    let seq = match m.info() {
                        Ok(i) => i.stream_sequence,
                        Err(e) => return Err(Retry(e.to_string())),
                    };
                    if seq <= self.seq {
                        continue;
                    }
                    let subject = m.subject.to_string();
                    if let Err(end) = self.apply(seq, &subject, &m.payload).await {
                        return Ok(end);
                    }
                    self.seq = seq;
                    self.dirty = true;
                }
            }
        }
    }

    /// Applies one input message: routes it to its value's engine and
    /// publishes the outputs, or dead-letters it with a reason.
    async fn apply(&mut self, seq: u64, subject: &str, payload: &[u8]) -> Result<(), End> {
        let value = subject.rsplit('.').next().unwrap_or("").to_string();
        let text = match std::str::from_utf8(payload) {
            Ok(t) => t.trim_end_matches(['\n', '\r']),
            Err(e) => {
                return self
                    .dead(seq, subject, payload, format!("not UTF-8: {e}"))
                    .await;
            }
        };
        if let Err(reason) = check_partition(text, &self.env.field, &value) {
            return self.dead(seq, subject, payload, reason).await;
        }
        if !self.values.contains_key(&value) {
            let engine = self.engine()?;
            self.values.insert(
                value.clone(),
                Value {
                    engine,
                    events: 0,
                    lane: self.lane(&value),
                },
            );
        }
        let mut out = Vec::new();
        let rejected = {
            let Some(v) = self.values.get_mut(&value) else {
                return Ok(());
            };
            v.events += 1;
            v.engine.set_wall_time(log::now_ms());
            v.engine.push_line(text, v.events, &mut out).err()
        };
        self.events_since += 1;
        self.env.metrics.event();
        if let Some(e) = rejected {
            self.dead(seq, subject, payload, format!("refused by the engine: {e}"))
                .await?;
        }
        if !out.is_empty() {
            let Some(v) = self.values.get(&value) else {
                return Ok(());
            };
            let tx = v.lane.tx.clone();
            for o in &out {
                if tx
                    .send(lane::Msg::Out(o.id(), o.to_json().into()))
                    .await
                    .is_err()
                {
                    // the lane ended: it was fenced (and logged it)
                    return Err(End::Fenced);
                }
            }
        }
        Ok(())
    }

    fn lane(&self, value: &str) -> Lane {
        Lane::start(
            self.env.clone(),
            self.p,
            self.epoch,
            value,
            self.stop.0.clone(),
            self.fenced_tx.clone(),
        )
    }

    /// Waits until every lane has published what it was sent; `false` when
    /// a lane was fenced.
    async fn drain(&mut self) -> bool {
        let mut waits = Vec::new();
        for v in self.values.values() {
            let (done, rx) = oneshot::channel();
            if v.lane.tx.send(lane::Msg::Barrier(done)).await.is_err() {
                return false;
            }
            waits.push(rx);
        }
        for w in waits {
            if w.await.is_err() {
                return false;
            }
        }
        true
    }

    async fn dead(
        &mut self,
        seq: u64,
        subject: &str,
        payload: &[u8],
        reason: String,
    ) -> Result<(), End> {
        self.log(
            "dead_letter",
            serde_json::json!({"partition": self.p, "seq": seq, "reason": reason}),
        );
        self.env.metrics.dead();
        let body = serde_json::json!({
            "partition": self.p,
            "seq": seq,
            "subject": subject,
            "reason": reason,
            "event": String::from_utf8_lossy(payload),
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            format!("dead:{}:{seq}", self.p).as_str(),
        );
        let payload: bytes::Bytes = body.to_string().into();
        let mut attempt = 0;
        loop {
            let r = match self
                .env
                .group
                .js
                .publish_with_headers(
                    self.env.group.names.dead_subject(),
                    headers.clone(),
                    payload.clone(),
                )
                .await
            {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match r {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "publishing a dead letter");
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Saves every value's snapshot and compare-and-sets the pointer.
    async fn checkpoint(&mut self) -> Result<(), End> {
        let t0 = Instant::now();
        let saved = Saved {
            format: 1,
            partition: self.p,
            seq: self.seq,
            defs: self.env.defs_hash.clone(),
            values: self
                .values
                .iter()
                .map(|(k, v)| SavedValue {
                    value: k.clone(),
                    events: v.events,
                    state: String::from_utf8_lossy(&v.engine.snapshot()).into_owned(),
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&saved).unwrap_or_default();
        // the snapshot covers messages up to `seq`: their outputs first
        if !self.drain().await {
            return Err(End::Fenced);
        }
        self.saves += 1;
        let name = format!("p{}-e{}-s{}-{}", self.p, self.epoch, self.seq, self.saves);
        let mut attempt = 0;
        loop {
            match self
                .env
                .group
                .objects
                .put(name.as_str(), &mut bytes.as_slice())
                .await
            {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "writing a checkpoint object");
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
        let ptr = Pointer {
            seq: self.seq,
            epoch: self.epoch,
            object: Some(name.clone()),
            defs: self.env.defs_hash.clone(),
        };
        let body: bytes::Bytes = serde_json::to_vec(&ptr).unwrap_or_default().into();
        let mut attempt = 0;
        loop {
            match self
                .env
                .group
                .kv
                .update(ckpt_key(self.p), body.clone(), self.ckpt_rev)
                .await
            {
                Ok(rev) => {
                    self.ckpt_rev = rev;
                    break;
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    // our own earlier try may have landed with its answer lost
                    if let Ok(Some(now)) = self.env.group.kv.entry(ckpt_key(self.p)).await {
                        if now.value == body {
                            self.ckpt_rev = now.revision;
                            break;
                        }
                    }
                    let _ = self.env.group.objects.delete(name.as_str()).await;
                    return Err(self.fenced(
                        "kv_cas",
                        format!("ckpt.{}: expected revision {}: {e}", self.p, self.ckpt_rev),
                    ));
                }
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "writing the checkpoint pointer");
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
        if let Some(old) = self.ckpt_object.replace(name) {
            let _ = self.env.group.objects.delete(old.as_str()).await;
        }
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        let secs = self.since.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.events_since as f64 / secs
        } else {
            0.0
        };
        self.log(
            "checkpoint",
            serde_json::json!({
                "partition": self.p, "seq": self.seq, "bytes": bytes.len(), "ms": (ms * 10.0).round() / 10.0,
                "values": self.values.len(), "events": self.events_since, "events_per_s": rate.round(),
            }),
        );
        self.env
            .metrics
            .checkpoint(self.p, bytes.len() as u64, ms, self.values.len());
        self.events_since = 0;
        self.since = Instant::now();
        self.dirty = false;
        Ok(())
    }
}

/// A failure of the input consumer (the task resumes after its last applied message).
pub struct Retry(String);

/// Checks an event's partition field against its subject's value (the
/// whole line is scanned by the engine's JSONL scanner, no JSON tree).
pub fn check_partition(text: &str, field: &str, value: &str) -> Result<(), String> {
    use yingji_engine::jsonl::{Scalar, Scanner};
    let bad = |e: yingji_engine::jsonl::ScanError| format!("not a JSON object: {e}");
    let mut sc = Scanner::new(text);
    let (mut kbuf, mut vbuf) = (String::new(), String::new());
    let mut found: Option<Result<(), String>> = None;
    sc.open().map_err(bad)?;
    loop {
        let is_field = match sc.key(&mut kbuf).map_err(bad)? {
            None => break,
            Some(k) => k == field,
        };
        if is_field && found.is_none() {
            found = Some(match sc.value(&mut vbuf).map_err(bad)? {
                Scalar::Str(s) if s == value => Ok(()),
                Scalar::Str(s) => Err(format!(
                    "partition field `{field}` is `{s}` but the event was published for `{value}`"
                )),
                Scalar::Null => Err(format!("partition field `{field}` is not text: null")),
                Scalar::Bool(b) => Err(format!("partition field `{field}` is not text: {b}")),
                Scalar::Num(n) => Err(format!("partition field `{field}` is not text: {n}")),
                Scalar::Nested(k) => Err(format!("partition field `{field}` is not text: an {k}")),
            });
        } else {
            sc.skip_value(&mut vbuf).map_err(bad)?;
        }
    }
    sc.end().map_err(bad)?;
    found.unwrap_or_else(|| Err(format!("no partition field `{field}`")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::check_partition as c;

    #[test]
    fn the_partition_field_is_checked_against_the_subject() {
        let ok = r#"{"ts":"2024-07-01T08:00:00+08:00","kind":"rain","county":"510101","mm":1}"#;
        assert_eq!(c(ok, "county", "510101"), Ok(()));
        assert_eq!(
            c(ok, "county", "510102").unwrap_err(),
            "partition field `county` is `510101` but the event was published for `510102`"
        );
        assert_eq!(
            c(r#"{"kind":"rain"}"#, "county", "1").unwrap_err(),
            "no partition field `county`"
        );
        assert_eq!(
            c(r#"{"county":510101}"#, "county", "510101").unwrap_err(),
            "partition field `county` is not text: 510101"
        );
        assert!(
            c("{not json", "county", "1")
                .unwrap_err()
                .starts_with("not a JSON object: ")
        );
        assert!(
            c(r#"{"county":"1"} x"#, "county", "1")
                .unwrap_err()
                .starts_with("not a JSON object: ")
        );
        assert!(
            c("[1]", "county", "1")
                .unwrap_err()
                .starts_with("not a JSON object: ")
        );
        // escapes are decoded before the comparison
        assert_eq!(c(r#"{"county":"51\u0030101"}"#, "county", "510101"), Ok(()));
    }
}
