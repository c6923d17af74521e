//! `yingji worker`: the definitions run by a group of workers over NATS
//! JetStream, partitioned by the field the definitions declare
//! (`event rain partition by county { … }`).
//!
//! Each stream partition (`0..P`, the input stream's subject transform
//! `partition(P,1)`) is owned by one worker at a time through a lease in the
//! group's KV bucket (compare-and-set on the revision; the revision at
//! acquisition is the epoch, the fencing token written with every
//! checkpoint pointer). Inside a partition every value (county) has its own
//! engine. Outputs go to `yingji.G.out.<value>` with the expected last
//! subject sequence and the message id `<value>:<id>`. See docs/worker.md.

pub mod group;
pub mod lane;
pub mod log;
pub mod metrics;
pub mod partition;

use group::GroupDefs;
use metrics::Metrics;
use partition::{Ctl, End, Env, Task};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Why the worker could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A bad argument or definitions that cannot be used (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Definitions or settings different from the group's (exit 3).
    #[error("refused: {0}")]
    Refused(String),
    /// NATS unreachable or a JetStream object not created (exit 1).
    #[error("NATS: {0}")]
    Nats(String),
}

impl WorkerError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::Usage(_) => 2,
            WorkerError::Refused(_) => 3,
            WorkerError::Nats(_) => 1,
        }
    }
}

/// The worker's settings (the command line).
#[derive(Clone, Debug)]
pub struct WorkerArgs {
    /// NATS server URLs.
    pub nats: Vec<String>,
    /// The group name.
    pub group: String,
    /// This worker's id.
    pub id: String,
    /// Stream partitions (fixed at group creation).
    pub partitions: u32,
    /// Replicas of the streams and buckets.
    pub replicas: usize,
    /// Lease duration.
    pub lease: Duration,
    /// Checkpoint interval.
    pub checkpoint_every: Duration,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<String>,
    /// The definitions.
    pub paths: Vec<PathBuf>,
}

/// A lease (`lease.<p>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Lease {
    /// The owning worker (empty: released).
    pub owner: String,
    /// The KV revision at which the owner acquired it (the fencing token).
    pub epoch: u64,
    /// Until when (ms since the epoch) it holds without a renewal.
    pub expires_ms: i64,
}

/// A registered worker (`worker.<id>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Registered {
    id: String,
    seen_ms: i64,
}

/// The worker a partition belongs to among `live` (rendezvous hashing:
/// the highest hash of `id/p` wins), so every worker computes the same.
pub fn assign(live: &[String], p: u32) -> Option<&str> {
    live.iter()
        .max_by_key(|w| xxhash_rust::xxh3::xxh3_64(format!("{w}/{p}").as_bytes()))
        .map(String::as_str)
}

/// The definitions hash: XXH3-64 of the loaded files' texts, sorted (paths
/// are left out: workers may load them from different folders).
pub fn defs_hash(defs: &crate::defs::Defs) -> String {
    let mut texts = defs.texts();
    texts.sort();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for t in &texts {
        h.update(&(t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    format!("{:016x}", h.digest())
}

struct Owned {
    epoch: u64,
    rev: u64,
    expires_ms: i64,
    ctl: mpsc::Sender<Ctl>,
    task: tokio::task::JoinHandle<End>,
}

fn lease_key(p: u32) -> String {
    format!("lease.{p}")
}

/// Runs the worker until SIGTERM/SIGINT.
pub async fn run(args: WorkerArgs) -> Result<(), WorkerError> {
    if !group::valid_group(&args.group) {
        return Err(WorkerError::Usage(format!(
            "--group `{}`: letters, digits, `_` and `-` only (it is part of subject and bucket names)",
            args.group
        )));
    }
    if args.partitions == 0 || args.partitions > 4096 {
        return Err(WorkerError::Usage(format!(
            "--partitions {}: between 1 and 4096",
            args.partitions
        )));
    }
    let id = args.id.clone();
    let defs = crate::defs::Defs::load(&args.paths).map_err(|e| {
        log::line(
            &id,
            "refused",
            serde_json::json!({"reason": format!("the definitions do not load:\n{e}")}),
        );
        WorkerError::Usage(format!("the definitions do not load:\n{e}"))
    })?;
    let Some(field) = defs.partition().map(|p| p.field.clone()) else {
        let msg = "the definitions declare no partition field: write `event KIND partition by FIELD { FIELD: string, … }`".to_string();
        log::line(&id, "refused", serde_json::json!({"reason": msg}));
        return Err(WorkerError::Usage(msg));
    };
    let hash = defs_hash(&defs);
    let mut addrs = Vec::new();
    for u in &args.nats {
        addrs.push(
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| WorkerError::Usage(format!("--nats {u}: {e}")))?,
        );
    }
    let client = async_nats::ConnectOptions::new()
        .name(format!("yingji-worker-{id}"))
        .retry_on_initial_connect()
        .connect(addrs)
        .await
        .map_err(|e| WorkerError::Nats(e.to_string()))?;
    let js = async_nats::jetstream::new(client);
    let group = tokio::time::timeout(
        Duration::from_secs(60),
        group::setup(js, &args.group, args.partitions, args.replicas),
    )
    .await
    .map_err(|_| WorkerError::Nats("setting up the group's streams timed out".into()))??;
    let mine = GroupDefs {
        hash: hash.clone(),
        partitions: args.partitions,
    };
    if let Err(e) = group::check_defs(&group, &mine).await {
        log::line(
            &id,
            "refused",
            serde_json::json!({"reason": e.to_string(), "defs": hash}),
        );
        return Err(e);
    }
    let metrics = Arc::new(Metrics::default());
    let env = Arc::new(Env {
        worker: id.clone(),
        group: Arc::new(group),
        defs: Arc::new(defs),
        defs_hash: hash.clone(),
        field: field.clone(),
        every: args.checkpoint_every,
        metrics: metrics.clone(),
    });
    let owned_count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    if let Some(addr) = &args.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| WorkerError::Usage(format!("--metrics {addr}: {e}")))?;
        let (m, w, n) = (metrics.clone(), id.clone(), owned_count.clone());
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let text = m.prometheus(&w, n.load(std::sync::atomic::Ordering::Relaxed));
                async move { text }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
    }
    log::line(
        &id,
        "ready",
        serde_json::json!({"group": args.group, "partitions": args.partitions, "field": field, "defs": hash, "lease_ms": args.lease.as_millis() as u64}),
    );
    let mut mgr = Manager {
        env,
        args,
        owned: BTreeMap::new(),
        blocked: BTreeSet::new(),
        owned_count,
    };
    mgr.run().await;
    Ok(())
}

struct Manager {
    env: Arc<Env>,
    args: WorkerArgs,
    owned: BTreeMap<u32, Owned>,
    blocked: BTreeSet<u32>,
    owned_count: Arc<std::sync::atomic::AtomicUsize>,
}

impl Manager {
    fn id(&self) -> &str {
        &self.env.worker
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.args.lease.as_millis()).unwrap_or(i64::MAX)
    }

    async fn run(&mut self) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        let tick_every = (self.args.lease / 3).max(Duration::from_millis(100));
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => self.round().await,
            }
        }
        self.shutdown().await;
    }

    /// One round: heartbeat, collect ended tasks, renew, hand over, acquire.
    async fn round(&mut self) {
        let now = log::now_ms();
        let kv = self.env.group.kv.clone();
        let me = Registered {
            id: self.id().to_string(),
            seen_ms: now,
        };
        if let Err(e) = kv
            .put(
                format!("worker.{}", self.id()),
                serde_json::to_vec(&me).unwrap_or_default().into(),
            )
            .await
        {
            tracing::warn!(error = %e, "heartbeat");
        }
        let live = self.live(now).await;
        // tasks that ended on their own
        let ended: Vec<u32> = self
            .owned
            .iter()
            .filter(|(_, o)| o.task.is_finished())
            .map(|(p, _)| *p)
            .collect();
        for p in ended {
            if let Some(o) = self.owned.remove(&p) {
                let Owned {
                    epoch, rev, task, ..
                } = o;
                let end = task.await;
                self.env.metrics.forget(p);
                match end {
                    Ok(End::Refused) => {
                        self.blocked.insert(p);
                        self.release(p, epoch, rev).await;
                    }
                    Ok(End::Fenced) => {}
                    Ok(End::Stopped) | Err(_) => self.release(p, epoch, rev).await,
                }
            }
        }
        // renew
        let ps: Vec<u32> = self.owned.keys().copied().collect();
        for p in ps {
            let Some(o) = self.owned.get(&p) else {
                continue;
            };
            let lease = Lease {
                owner: self.id().to_string(),
                epoch: o.epoch,
                expires_ms: now + self.lease_ms(),
            };
            let body = serde_json::to_vec(&lease).unwrap_or_default();
            match kv.update(lease_key(p), body.into(), o.rev).await {
                Ok(rev) => {
                    if let Some(o) = self.owned.get_mut(&p) {
                        o.rev = rev;
                        o.expires_ms = lease.expires_ms;
                    }
                }
                Err(e)
                    if e.kind()
                        == async_nats::jetstream::kv::UpdateErrorKind::WrongLastRevision =>
                {
                    // our own earlier renewal may have landed with its answer lost
                    if let Ok(Some(entry)) = kv.entry(lease_key(p)).await {
                        let ours = serde_json::from_slice::<Lease>(&entry.value)
                            .is_ok_and(|l| l.owner == self.id() && l.epoch == o.epoch);
                        if ours && entry.operation == async_nats::jetstream::kv::Operation::Put {
                            if let Some(o) = self.owned.get_mut(&p) {
                                o.rev = entry.revision;
                            }
                            continue;
                        }
                    }
                    log::line(
                        self.id(),
                        "fenced",
                        serde_json::json!({"partition": p, "epoch": o.epoch, "write": "kv_cas", "detail": format!("lease.{p}: renewal at revision {}: {e}", o.rev)}),
                    );
                    self.env.metrics.fenced();
                    self.drop_task(p);
                }
                Err(e) => {
                    tracing::warn!(partition = p, error = %e, "renewing a lease");
                    if o.expires_ms <= now {
                        // cannot tell whether another owner took it: stop writing
                        self.drop_task(p);
                    }
                }
            }
        }
        // hand over what is now assigned elsewhere, acquire what is assigned
        // here: only with a complete view of the live workers
        if let Some(live) = live {
            let away: Vec<u32> = self
                .owned
                .keys()
                .copied()
                .filter(|p| assign(&live, *p) != Some(self.id()))
                .collect();
            for p in away {
                self.stop(p).await;
            }
            for p in 0..self.args.partitions {
                if self.owned.contains_key(&p)
                    || self.blocked.contains(&p)
                    || assign(&live, p) != Some(self.id())
                {
                    continue;
                }
                self.acquire(p, now).await;
            }
        } else {
            tracing::warn!(
                "could not read the live workers: no hand-over or acquisition this round"
            );
        }
        self.owned_count
            .store(self.owned.len(), std::sync::atomic::Ordering::Relaxed);
    }

    /// Live workers: registered and seen within one lease (this one always).
    /// Live workers: registered and seen within one lease (this one
    /// always); `None` when the bucket could not be read completely (the
    /// round then neither hands over nor acquires).
    async fn live(&self, now: i64) -> Option<Vec<String>> {
        use futures::StreamExt;
        let mut live = vec![self.id().to_string()];
        let kv = &self.env.group.kv;
        let mut keys = kv.keys().await.ok()?;
        let mut names = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.ok()?;
            if k.starts_with("worker.") {
                names.push(k);
            }
        }
        for k in names {
            if let Some(v) = kv.get(k).await.ok()? {
                if let Ok(r) = serde_json::from_slice::<Registered>(&v) {
                    if r.seen_ms > now - self.lease_ms() && r.id != self.id() {
                        live.push(r.id);
                    }
                }
            }
        }
        live.sort();
        Some(live)
    }

    fn drop_task(&mut self, p: u32) {
        if let Some(o) = self.owned.remove(&p) {
            o.task.abort();
            self.env.metrics.forget(p);
        }
    }

    async fn acquire(&mut self, p: u32, now: i64) {
        let kv = &self.env.group.kv;
        let lease = Lease {
            owner: self.id().to_string(),
            epoch: 0,
            expires_ms: now + self.lease_ms(),
        };
        let body: bytes::Bytes = serde_json::to_vec(&lease).unwrap_or_default().into();
        let got = match kv.entry(lease_key(p)).await {
            Ok(None) => kv.create(lease_key(p), body).await.ok(),
            Ok(Some(e)) => {
                let free = e.operation != async_nats::jetstream::kv::Operation::Put
                    || serde_json::from_slice::<Lease>(&e.value)
                        // released, expired, or this worker's own from before a
                        // restart (it runs no task for it: no other writer)
                        .map_or(true, |l| {
                            l.owner.is_empty() || l.expires_ms < now || l.owner == self.id()
                        });
                if free {
                    kv.update(lease_key(p), body, e.revision).await.ok()
                } else {
                    None
                }
            }
            Err(e) => {
                tracing::warn!(partition = p, error = %e, "reading a lease");
                None
            }
        };
        let Some(epoch) = got else { return };
        // write the epoch into the lease (the revision is only known now)
        let lease = Lease { epoch, ..lease };
        let body: bytes::Bytes = serde_json::to_vec(&lease).unwrap_or_default().into();
        let Ok(rev) = kv.update(lease_key(p), body, epoch).await else {
            return;
        };
        let (ctl, rx) = mpsc::channel(1);
        let task = tokio::spawn(Task::run(self.env.clone(), p, epoch, rx));
        self.owned.insert(
            p,
            Owned {
                epoch,
                rev,
                expires_ms: lease.expires_ms,
                ctl,
                task,
            },
        );
    }

    /// Asks a task to checkpoint and stop, then releases its lease.
    async fn stop(&mut self, p: u32) {
        let Some(o) = self.owned.remove(&p) else {
            return;
        };
        let (done, rx) = oneshot::channel();
        if o.ctl.send(Ctl::Stop(done)).await.is_ok() {
            let _ = tokio::time::timeout(self.args.lease, rx).await;
        }
        let mut task = o.task;
        if tokio::time::timeout(Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            // stuck (NATS unreachable): no more writes from it; the next owner
            // starts from the last checkpoint that made it
            task.abort();
        }
        self.env.metrics.forget(p);
        let kv = &self.env.group.kv;
        let lease = Lease {
            owner: String::new(),
            epoch: o.epoch,
            expires_ms: 0,
        };
        let body = serde_json::to_vec(&lease).unwrap_or_default();
        if kv.update(lease_key(p), body.into(), o.rev).await.is_ok() {
            log::line(
                self.id(),
                "released",
                serde_json::json!({"partition": p, "epoch": o.epoch}),
            );
        }
    }

    async fn release(&self, p: u32, epoch: u64, rev: u64) {
        let lease = Lease {
            owner: String::new(),
            epoch,
            expires_ms: 0,
        };
        let body = serde_json::to_vec(&lease).unwrap_or_default();
        if self
            .env
            .group
            .kv
            .update(lease_key(p), body.into(), rev)
            .await
            .is_ok()
        {
            log::line(
                self.id(),
                "released",
                serde_json::json!({"partition": p, "epoch": epoch}),
            );
        }
    }

    async fn shutdown(&mut self) {
        let ps: Vec<u32> = self.owned.keys().copied().collect();
        for p in ps {
            self.stop(p).await;
        }
        let _ = self
            .env
            .group
            .kv
            .delete(format!("worker.{}", self.id()))
            .await;
        log::line(self.id(), "stopped", serde_json::json!({}));
    }
}

fn parse_duration(flag: &str, v: &str) -> Result<Duration, WorkerError> {
    let ms = yingji_engine::time::parse_duration(v)
        .map_err(|e| WorkerError::Usage(format!("{flag} {v}: {e}")))?;
    if ms <= 0 {
        return Err(WorkerError::Usage(format!("{flag} {v}: must be positive")));
    }
    Ok(Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)))
}

const HELP: &str =
    "yingji worker --nats URL[,URL...] --group G [--id ID] [--partitions P] [--replicas R]
              [--lease DURATION] [--checkpoint-every DURATION] [--metrics ADDR] PATH...

Runs the definitions in PATH as one worker of group G on NATS JetStream: events
published on yingji.G.in.<value> (value = the partition field the definitions
declare), outputs on yingji.G.out.<value>. See docs/worker.md.";

/// Parses the command line (after `worker`).
pub fn parse_args(args: Vec<String>) -> Result<Option<WorkerArgs>, WorkerError> {
    let mut a = WorkerArgs {
        nats: Vec::new(),
        group: String::new(),
        id: format!("{}-{}", hostname(), std::process::id()),
        partitions: 8,
        replicas: 1,
        lease: Duration::from_secs(5),
        checkpoint_every: Duration::from_secs(5),
        metrics: None,
        paths: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, WorkerError> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| WorkerError::Usage(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "--nats" => a.nats.extend(value()?.split(',').map(str::to_string)),
            "--group" => a.group = value()?,
            "--id" => a.id = value()?,
            "--partitions" => {
                let v = value()?;
                a.partitions = v
                    .parse()
                    .map_err(|_| WorkerError::Usage(format!("--partitions {v}: a whole number")))?;
            }
            "--replicas" => {
                let v = value()?;
                a.replicas = v
                    .parse()
                    .ok()
                    .filter(|r| (1..=5).contains(r))
                    .ok_or_else(|| WorkerError::Usage(format!("--replicas {v}: 1 to 5")))?;
            }
            "--lease" => a.lease = parse_duration("--lease", &value()?)?,
            "--checkpoint-every" => {
                a.checkpoint_every = parse_duration("--checkpoint-every", &value()?)?
            }
            "--metrics" => a.metrics = Some(value()?),
            s if s.starts_with('-') => {
                return Err(WorkerError::Usage(format!(
                    "unknown option `{s}` (see --help)"
                )));
            }
            _ => a.paths.push(PathBuf::from(arg)),
        }
    }
    if a.nats.is_empty() {
        return Err(WorkerError::Usage("--nats URL is required".into()));
    }
    if a.group.is_empty() {
        return Err(WorkerError::Usage("--group NAME is required".into()));
    }
    if a.paths.is_empty() {
        return Err(WorkerError::Usage(
            "give the definitions (files or folders) to run".into(),
        ));
    }
    if a.id.is_empty()
        || a.id.len() > 64
        || !a
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(WorkerError::Usage(format!(
            "--id `{}`: letters, digits, `-` and `_` only, at most 64 (it is part of a KV key)",
            a.id
        )));
    }
    Ok(Some(a))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| {
            h.trim()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .take(40)
                .collect::<String>()
        })
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// `yingji worker ARGS`: returns the exit code (0 after SIGTERM/SIGINT,
/// 2 bad arguments or definitions, 3 refused by the group, 1 NATS).
pub fn main_with_args(args: Vec<String>) -> i32 {
    let args = match parse_args(args) {
        Ok(Some(a)) => a,
        Ok(None) => return 0,
        Err(e) => {
            eprintln!("yingji worker: {e}");
            return e.exit_code();
        }
    };
    crate::init_logs(true);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("yingji worker: cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("yingji worker: {e}");
            e.exit_code()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<Option<WorkerArgs>, WorkerError> {
        let mut v: Vec<String> = ["--nats", "nats://127.0.0.1:4222", "--group", "g", "defs"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        parse_args(v)
    }

    #[test]
    fn the_command_line_is_checked() {
        let a = args(&["--id", "w1", "--lease", "2s", "--partitions", "16"])
            .unwrap()
            .unwrap();
        assert_eq!((a.id.as_str(), a.partitions), ("w1", 16));
        assert_eq!(a.lease, Duration::from_secs(2));
        assert_eq!(args(&["--id", "a.b"]).unwrap_err().exit_code(), 2);
        assert_eq!(args(&["--id", "县1"]).unwrap_err().exit_code(), 2);
        assert_eq!(args(&["--lease", "0s"]).unwrap_err().exit_code(), 2);
        assert_eq!(args(&["--lease", "5 parsecs"]).unwrap_err().exit_code(), 2);
        assert_eq!(args(&["--replicas", "7"]).unwrap_err().exit_code(), 2);
        assert_eq!(args(&["--bogus"]).unwrap_err().exit_code(), 2);
        assert!(parse_args(vec!["defs".into()]).is_err());
        let default = args(&[]).unwrap().unwrap();
        assert!(
            default
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{}",
            default.id
        );
    }

    #[test]
    fn every_worker_computes_the_same_assignment() {
        let live: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let owners: Vec<&str> = (0..64).map(|p| assign(&live, p).unwrap()).collect();
        // all three get some, and the order of the list does not matter
        for w in ["a", "b", "c"] {
            assert!(owners.contains(&w));
        }
        let mut rev = live.clone();
        rev.reverse();
        assert!((0..64).all(|p| assign(&rev, p) == assign(&live, p)));
        // a worker leaving moves only its own partitions
        let two: Vec<String> = ["a", "c"].iter().map(|s| s.to_string()).collect();
        for p in 0..64 {
            if owners[p as usize] != "b" {
                assert_eq!(assign(&two, p), Some(owners[p as usize]));
            }
        }
    }
}
