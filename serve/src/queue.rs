//! A sink's durable queue: an append-only file of records and a committed
//! offset, so a sink that is down loses nothing and a restart delivers what
//! was queued and not yet delivered.
//!
//! Files (in the state folder): `queue-<sink>.jsonl`, one record per line
//! (`{"mid":"42","type":"level_changed","body":"..."}`), and
//! `queue-<sink>.meta.json` (`{"committed":1234,"high":{"":42}}`), written
//! atomically after each delivered batch.
//!
//! **Identity and dedupe.** Every record has a message id (`mid`): an
//! engine output's id (`"42"`), or a namespaced id for the service's own
//! records (`"svc-3"`, `"route-7"`). Ids of one namespace only grow, so the
//! queue keeps the highest id queued per namespace (`high`) and refuses a
//! record at or below it: after a restart the engine re-derives the outputs
//! after its checkpoint with the same ids, and those already queued are not
//! queued twice.
//!
//! **Bounds and back-pressure.** A queue holds at most
//! [`QueueConfig::max_bytes`](crate::config::QueueConfig) of undelivered
//! records. When a queue is full, [`Queue::push`] waits until the sink
//! delivers: the engine task stops, the input channel fills and the sources
//! wait in turn (a followed file is not read further, SL 651 and HTTP
//! senders see their writes wait or `503`, MQTT and NATS subscriptions
//! buffer in the client and then in the broker). Nothing is dropped; the
//! `/health` endpoint reports the sink as `full`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One queued record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueuedRecord {
    /// Message id (see the module docs).
    pub mid: String,
    /// The output's type (`level_changed`, …, `route_message`, `service`).
    #[serde(rename = "type")]
    pub kind: String,
    /// What the sink sends (JSON text, or CAP XML).
    pub body: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    committed: u64,
    #[serde(default)]
    high: BTreeMap<String, u64>,
}

/// Splits a message id into its namespace and number (`"svc-3"` → `("svc", 3)`,
/// `"42"` → `("", 42)`).
pub fn split_mid(mid: &str) -> Option<(&str, u64)> {
    match mid.rsplit_once('-') {
        Some((ns, n)) => Some((ns, n.parse().ok()?)),
        None => Some(("", mid.parse().ok()?)),
    }
}

struct Inner {
    file: File,
    end: u64,
    committed: u64,
    high: BTreeMap<String, u64>,
}

/// A durable queue shared by the engine task (which pushes) and the sink's
/// delivery task (which reads and commits).
pub struct Queue {
    name: String,
    path: PathBuf,
    meta_path: PathBuf,
    max_bytes: u64,
    inner: Mutex<Inner>,
    /// Signalled when records are pushed.
    pub pushed: tokio::sync::Notify,
    /// Signalled when records are committed (space freed).
    pub freed: tokio::sync::Notify,
}

/// What [`Queue::try_push`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued.
    Queued,
    /// Already queued before (a re-derived output after a restart).
    Duplicate,
    /// The queue is full; nothing was written.
    Full,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    // a panic while holding the lock leaves plain data: keep going
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Queue {
    /// Opens (or creates) the queue of sink `name` in `dir`, recovering its
    /// committed offset and its highest ids; a torn last record is cut off.
    pub fn open(dir: &Path, name: &str, max_bytes: u64) -> std::io::Result<Arc<Queue>> {
        let path = dir.join(format!("queue-{name}.jsonl"));
        let meta_path = dir.join(format!("queue-{name}.meta.json"));
        let meta: Meta = match std::fs::read(&meta_path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                std::io::Error::other(format!("{}: unreadable: {e}", meta_path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(e),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut high = meta.high;
        let mut good = 0u64;
        {
            file.seek(SeekFrom::Start(0))?;
            let mut r = BufReader::new(&file);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = r.read_until(b'\n', &mut buf)?;
                if n == 0 || buf.last() != Some(&b'\n') {
                    break;
                }
                let Ok(rec) = serde_json::from_slice::<QueuedRecord>(&buf) else {
                    break;
                };
                if let Some((ns, n)) = split_mid(&rec.mid) {
                    let h = high.entry(ns.to_string()).or_insert(0);
                    *h = (*h).max(n);
                }
                good += n as u64;
            }
        }
        if file.metadata()?.len() > good {
            tracing::warn!(queue = name, "queue ends in a torn record: cut off");
            file.set_len(good)?;
        }
        let committed = meta.committed.min(good);
        Ok(Arc::new(Queue {
            name: name.to_string(),
            path,
            meta_path,
            max_bytes,
            inner: Mutex::new(Inner {
                file,
                end: good,
                committed,
                high,
            }),
            pushed: tokio::sync::Notify::new(),
            freed: tokio::sync::Notify::new(),
        }))
    }

    /// The sink's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Appends a record unless it was queued before or the queue is full.
    pub fn try_push(&self, rec: &QueuedRecord) -> std::io::Result<Pushed> {
        let mut g = lock(&self.inner);
        let key = split_mid(&rec.mid);
        if let Some((ns, n)) = key {
            if g.high.get(ns).is_some_and(|&h| n <= h) {
                return Ok(Pushed::Duplicate);
            }
        }
        if g.end - g.committed >= self.max_bytes {
            return Ok(Pushed::Full);
        }
        let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
        line.push(b'\n');
        g.file.write_all(&line)?;
        g.end += line.len() as u64;
        if let Some((ns, n)) = key {
            g.high.insert(ns.to_string(), n);
        }
        drop(g);
        self.pushed.notify_one();
        Ok(Pushed::Queued)
    }

    /// [`Queue::try_push`], waiting while the queue is full (back-pressure).
    pub async fn push(&self, rec: &QueuedRecord) -> std::io::Result<Pushed> {
        loop {
            let freed = self.freed.notified();
            match self.try_push(rec)? {
                Pushed::Full => {
                    tracing::warn!(queue = %self.name, "sink queue full: the engine waits for the sink");
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), freed).await;
                }
                done => return Ok(done),
            }
        }
    }

    /// Bytes queued and not yet delivered.
    pub fn depth_bytes(&self) -> u64 {
        let g = lock(&self.inner);
        g.end - g.committed
    }

    /// Whether the queue is at its bound.
    pub fn is_full(&self) -> bool {
        self.depth_bytes() >= self.max_bytes
    }

    /// Up to `max` undelivered records and the offset after each.
    pub fn peek(&self, max: usize) -> std::io::Result<Vec<(QueuedRecord, u64)>> {
        let (from, end) = {
            let g = lock(&self.inner);
            (g.committed, g.end)
        };
        if from >= end {
            return Ok(Vec::new());
        }
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(from))?;
        let mut r = BufReader::new(f.take(end - from));
        let mut out = Vec::new();
        let mut pos = from;
        let mut buf = Vec::new();
        while out.len() < max {
            buf.clear();
            let n = r.read_until(b'\n', &mut buf)?;
            if n == 0 {
                break;
            }
            pos += n as u64;
            match serde_json::from_slice::<QueuedRecord>(&buf) {
                Ok(rec) => out.push((rec, pos)),
                Err(e) => {
                    return Err(std::io::Error::other(format!(
                        "{}: unreadable record at byte {}: {e}",
                        self.path.display(),
                        pos - n as u64
                    )));
                }
            }
        }
        Ok(out)
    }

    /// Marks everything before `offset` delivered (persisted atomically);
    /// an emptied queue file is truncated.
    pub fn commit(&self, offset: u64) -> std::io::Result<()> {
        let mut g = lock(&self.inner);
        g.committed = offset.min(g.end);
        if g.committed == g.end && g.end > (1 << 20) {
            g.file.set_len(0)?;
            g.end = 0;
            g.committed = 0;
        }
        let meta = Meta {
            committed: g.committed,
            high: g.high.clone(),
        };
        let bytes = serde_json::to_vec(&meta).map_err(std::io::Error::other)?;
        crate::journal::write_atomic(&self.meta_path, &bytes)?;
        drop(g);
        self.freed.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    fn rec(mid: &str) -> QueuedRecord {
        QueuedRecord {
            mid: mid.into(),
            kind: "level_changed".into(),
            body: format!("{{\"id\":{mid}}}"),
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("yj-queue-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn survives_reopen_dedupes_and_commits() {
        let d = dir("a");
        let q = Queue::open(&d, "s", 1 << 20).unwrap();
        assert_eq!(q.try_push(&rec("1")).unwrap(), Pushed::Queued);
        assert_eq!(q.try_push(&rec("2")).unwrap(), Pushed::Queued);
        assert_eq!(q.try_push(&rec("2")).unwrap(), Pushed::Duplicate);
        assert_eq!(q.try_push(&rec("svc-1")).unwrap(), Pushed::Queued);
        let got = q.peek(10).unwrap();
        assert_eq!(got.len(), 3);
        q.commit(got[0].1).unwrap();
        drop(q);
        let q = Queue::open(&d, "s", 1 << 20).unwrap();
        let got: Vec<String> = q.peek(10).unwrap().into_iter().map(|r| r.0.mid).collect();
        assert_eq!(got, ["2", "svc-1"]);
        assert_eq!(q.try_push(&rec("1")).unwrap(), Pushed::Duplicate);
        assert_eq!(q.try_push(&rec("3")).unwrap(), Pushed::Queued);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_full_queue_refuses_until_committed() {
        let d = dir("b");
        let q = Queue::open(&d, "s", 40).unwrap();
        assert_eq!(q.try_push(&rec("1")).unwrap(), Pushed::Queued);
        assert_eq!(q.try_push(&rec("2")).unwrap(), Pushed::Full);
        assert!(q.is_full());
        let got = q.peek(10).unwrap();
        q.commit(got[0].1).unwrap();
        assert_eq!(q.try_push(&rec("2")).unwrap(), Pushed::Queued);
        let _ = std::fs::remove_dir_all(&d);
    }
}
