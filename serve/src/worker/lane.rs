//! One partition value's output lane: its outputs published in order, one
//! at a time (each publish expects the subject's last sequence, which only
//! the previous acknowledgement tells), while the lanes of other values
//! publish at the same time. A barrier answers once everything sent before
//! it is acknowledged (a checkpoint waits for it).

use super::log;
use super::partition::Env;
use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// What a lane is sent.
pub enum Msg {
    /// An output: its id and JSON line.
    Out(u64, bytes::Bytes),
    /// Answer once everything before is published.
    Barrier(oneshot::Sender<()>),
}

/// The sending side of a lane.
pub struct Lane {
    /// Outputs and barriers, in order.
    pub tx: mpsc::Sender<Msg>,
}

/// Outputs a lane may hold before the engine waits for it.
const DEPTH: usize = 1024;

struct Ctx {
    env: Arc<Env>,
    p: u32,
    epoch: u64,
    value: String,
    subject: String,
    /// Last output id on the subject and that message's stream sequence
    /// (`None`: to be read from the subject).
    published: Option<(u64, u64)>,
    /// Set when the partition task ends: publish nothing more.
    stop: Arc<AtomicBool>,
}

impl Lane {
    /// Starts the lane of `value`; a fenced publish is reported on `fenced`
    /// (after its `fenced` log line) and ends the lane.
    pub fn start(
        env: Arc<Env>,
        p: u32,
        epoch: u64,
        value: &str,
        stop: Arc<AtomicBool>,
        fenced: mpsc::UnboundedSender<()>,
    ) -> Lane {
        let (tx, rx) = mpsc::channel(DEPTH);
        let subject = env.group.names.output_subject(value);
        let ctx = Ctx {
            env,
            p,
            epoch,
            value: value.to_string(),
            subject,
            published: None,
            stop,
        };
        tokio::spawn(run(ctx, rx, fenced));
        Lane { tx }
    }
}

async fn run(mut c: Ctx, mut rx: mpsc::Receiver<Msg>, fenced: mpsc::UnboundedSender<()>) {
    while let Some(m) = rx.recv().await {
        if c.stop.load(Ordering::Relaxed) {
            return;
        }
        match m {
            Msg::Barrier(done) => {
                let _ = done.send(());
            }
            Msg::Out(id, payload) => {
                if !c.publish(id, payload).await {
                    c.stop.store(true, Ordering::Relaxed);
                    let _ = fenced.send(());
                    return;
                }
            }
        }
    }
}

async fn backoff(attempt: u32) {
    let ms = 100u64 << attempt.min(4);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

impl Ctx {
    /// The last output id and sequence on the subject.
    async fn learn(&self) -> Result<(u64, u64), String> {
        match self
            .env
            .group
            .out
            .get_last_raw_message_by_subject(&self.subject)
            .await
        {
            Ok(m) => {
                let id = m
                    .headers
                    .get(async_nats::header::NATS_MESSAGE_ID)
                    .and_then(|h| h.as_str().rsplit(':').next().and_then(|n| n.parse().ok()))
                    .ok_or_else(|| {
                        format!(
                            "the last message on {} has no `<value>:<id>` message id",
                            self.subject
                        )
                    })?;
                Ok((id, m.sequence))
            }
            Err(e)
                if e.kind()
                    == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok((0, 0))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Whether the partition's lease is still this owner's (same owner and
    /// epoch, not expired).
    async fn still_owner(&self) -> bool {
        match self.env.group.kv.entry(format!("lease.{}", self.p)).await {
            Ok(Some(e)) => serde_json::from_slice::<super::Lease>(&e.value).is_ok_and(|l| {
                l.owner == self.env.worker && l.epoch == self.epoch && l.expires_ms > log::now_ms()
            }),
            _ => false,
        }
    }

    /// Publishes output `id` unless it is already on the subject; `false`
    /// when fenced (a wrong expected sequence and the lease no longer ours;
    /// with the lease still ours, a fenced owner's write got in first: the
    /// subject is read again and what is there skipped).
    async fn publish(&mut self, id: u64, payload: bytes::Bytes) -> bool {
        let mut attempt = 0;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return true;
            }
            let (last_id, last_seq) = match self.published {
                Some(k) => k,
                None => match self.learn().await {
                    Ok(k) => {
                        self.published = Some(k);
                        k
                    }
                    Err(e) => {
                        tracing::warn!(partition = self.p, error = %e, "reading the last output");
                        backoff(attempt).await;
                        attempt += 1;
                        continue;
                    }
                },
            };
            if id <= last_id {
                return true;
            }
            let mut headers = HeaderMap::new();
            headers.insert(
                async_nats::header::NATS_MESSAGE_ID,
                format!("{}:{id}", self.value).as_str(),
            );
            headers.insert(
                async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
                last_seq.to_string().as_str(),
            );
            // the writer's fencing token, for the record (the fence itself is
            // the expected sequence)
            headers.insert("Yingji-Epoch", self.epoch.to_string().as_str());
            headers.insert("Yingji-Worker", self.env.worker.as_str());
            let r = match self
                .env
                .group
                .js
                .publish_with_headers(self.subject.clone(), headers, payload.clone())
                .await
            {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match r {
                Ok(ack) if !ack.duplicate => {
                    self.published = Some((id, ack.sequence));
                    self.env.metrics.output();
                    return true;
                }
                // deduplicated by id: read what the subject holds now
                Ok(_) => self.published = None,
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                    if !self.still_owner().await {
                        log::line(
                            &self.env.worker,
                            "fenced",
                            serde_json::json!({
                                "partition": self.p, "epoch": self.epoch, "write": "publish_seq",
                                "detail": format!("{}: expected last sequence {last_seq}: {e}", self.subject),
                            }),
                        );
                        self.env.metrics.fenced();
                        return false;
                    }
                    self.published = None;
                }
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "publishing an output");
                    self.published = None;
                    backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
    }
}
