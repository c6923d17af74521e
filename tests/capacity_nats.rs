//! Capacity figures of a `yingji worker` group (issue 18, docs/capacity.md):
//! on a 3-node JetStream cluster on 127.0.0.1 (R3 streams,
//! `sync_interval: always`), with the seeded province of
//! `yingji_bench::province`:
//!
//! 1. the publish rate into the R3 input stream;
//! 2. events/s of one worker that owns every partition, catching up on the
//!    whole province (wall time from its first event to its last, from its
//!    `/metrics`; and its CPU time, from `/proc`);
//! 3. per-partition state: the last checkpoint of each partition (snapshot
//!    bytes, counties, checkpoint time);
//! 4. failover: two workers share the partitions while late readings tick
//!    in for every county (each gives a `late` output at once); one is
//!    killed with SIGKILL; per partition it held, the time from the kill to
//!    the new owner's `acquired` and `restored` lines and to the first output
//!    stored on that partition's subjects.
//!
//! Measurements, not checks: run by hand on a release build and copy the
//! figures into docs/capacity.md and BENCHMARKS.md:
//!
//! `cargo test --release --test capacity_nats -- --ignored --nocapture`
//!
//! (`YINGJI_CAP_EVENTS`, default 200000; `YINGJI_CAP_LEASE`, default 5s, the
//! worker's default lease.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test: a failure is a panic with its reason"
)]

mod nats_harness;

use nats_harness::{Cluster, Js, Worker, WorkerArgs, log_events, scratch};
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime};
use yingji_bench::province::{self, Params};

const GROUP: &str = "cap";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A counter from a worker's `/metrics` (summed over its label sets).
fn metric(port: u16, name: &str) -> Option<f64> {
    let out = std::process::Command::new("curl")
        .args(["-fsS", "--max-time", "1"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut sum = None;
    for l in text.lines() {
        if l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) {
            let v: f64 = l.rsplit(' ').next()?.parse().ok()?;
            sum = Some(sum.unwrap_or(0.0) + v);
        }
    }
    sum
}

/// User + system CPU seconds of a process.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|x| x.1).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // fields 14 and 15 of stat (utime, stime) are 12 and 13 after the name
    (ticks(11) + ticks(12)) / 100.0
}

fn ts_of(e: &nats_harness::LogEvent) -> Option<SystemTime> {
    let t = e.json.get("ts")?.as_str()?;
    let ts = yingji_engine::Timestamp::parse(t).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ts.ms.max(0) as u64))
}

fn since(t: SystemTime, from: SystemTime) -> f64 {
    t.duration_since(from)
        .map(|d| d.as_secs_f64())
        .unwrap_or_else(|e| -e.duration().as_secs_f64())
}

fn owned(log: &std::path::Path) -> BTreeSet<u64> {
    let mut held = BTreeSet::new();
    for e in log_events(log) {
        let p = e.json.get("partition").and_then(|p| p.as_u64());
        match (e.event.as_str(), p) {
            ("acquired", Some(p)) => {
                held.insert(p);
            }
            ("released" | "fenced", Some(p)) => {
                held.remove(&p);
            }
            _ => {}
        }
    }
    held
}

#[test]
#[ignore = "a measurement (minutes, a NATS cluster): cargo test --release --test capacity_nats -- --ignored --nocapture"]
fn capacity_figures() {
    let n_events: usize = std::env::var("YINGJI_CAP_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let lease = std::env::var("YINGJI_CAP_LEASE").unwrap_or_else(|_| "5s".into());
    let dir = scratch("capacity");
    let prov = province::generate(&Params {
        seed: 1,
        events: n_events,
        counties: province::COUNTIES.len(),
    })
    .unwrap();
    let n = prov.messages.len();
    let mut cluster = Cluster::start(&dir.join("nats"));
    let js = Js::connect(&cluster.urls());
    let args = |metrics: u16| {
        WorkerArgs {
            nats: cluster.urls(),
            group: GROUP.into(),
            partitions: 8,
            replicas: 3,
            lease: lease.clone(),
            checkpoint_every: "2s".into(),
            defs: vec![nats_harness::root().join("samples/province")],
            dir: dir.clone(),
            bin: nats_harness::yingji(),
            metrics: None,
        }
        .with_metrics(metrics)
    };

    // the group's streams exist once a worker is ready; it then leaves
    let mut w0 = Worker::start(&args(free_port()), "setup");
    w0.wait_event("ready", Duration::from_secs(60)).unwrap();
    let in_stream = format!("YINGJI_{GROUP}_IN");
    let out_stream = format!("YINGJI_{GROUP}_OUT");
    js.wait_healthy(&in_stream, Duration::from_secs(30))
        .unwrap();
    js.wait_healthy(&out_stream, Duration::from_secs(30))
        .unwrap();
    assert!(
        w0.term(Duration::from_secs(30))
            .is_some_and(|s| s.success())
    );

    // 1. publish rate
    let msgs: Vec<(String, String, String)> = prov
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            (
                format!("yingji.{GROUP}.in.{}", m.county),
                format!("in-{i}"),
                m.line.clone(),
            )
        })
        .collect();
    let t = Instant::now();
    js.publish(&msgs, Duration::from_secs(120)).unwrap();
    let pub_s = t.elapsed().as_secs_f64();
    eprintln!(
        "capacity: published {n} events to the R3 input stream in {pub_s:.2} s: {:.0} events/s (acks awaited in batches of 256)",
        n as f64 / pub_s
    );
    let bytes_in = js.info(&in_stream).unwrap().state.bytes;
    eprintln!(
        "capacity: input stream {bytes_in} bytes for {n} messages ({:.0} bytes/message, per replica)",
        bytes_in as f64 / n as f64
    );

    // 2. one worker catches up on everything
    let m1 = free_port();
    let mut w1 = Worker::start(&args(m1), "solo");
    w1.wait_event("ready", Duration::from_secs(60)).unwrap();
    let pid1 = w1.pid().unwrap();
    let cpu0 = cpu_secs(pid1);
    let t_start = Instant::now();
    let mut t_first = None;
    let t_done;
    loop {
        let ev = metric(m1, "yingji_worker_events_total").unwrap_or(0.0);
        if ev > 0.0 && t_first.is_none() {
            t_first = Some((Instant::now(), ev));
        }
        if ev as usize >= n {
            t_done = Instant::now();
            break;
        }
        assert!(
            t_start.elapsed() < Duration::from_secs(600),
            "the worker took more than 10 minutes ({ev} of {n} events)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let cpu = cpu_secs(pid1) - cpu0;
    let (t1, ev1) = t_first.unwrap();
    let wall = (t_done - t1).as_secs_f64();
    eprintln!(
        "capacity: one worker, 8 partitions, 38 counties: {} events in {wall:.2} s wall = {:.0} events/s; worker CPU {cpu:.2} s = {:.0} events per CPU-second (2 cores shared with 3 nats-servers)",
        n as f64 - ev1,
        (n as f64 - ev1) / wall,
        n as f64 / cpu
    );

    // 3. per-partition state: the last checkpoint of each partition after the catch-up
    std::thread::sleep(Duration::from_secs(5));
    let mut last: BTreeMap<u64, serde_json::Value> = BTreeMap::new();
    for e in log_events(&w1.log) {
        if e.event == "checkpoint" {
            if let Some(p) = e.json.get("partition").and_then(|p| p.as_u64()) {
                last.insert(p, e.json.clone());
            }
        }
    }
    let mut total_bytes = 0u64;
    let mut total_counties = 0u64;
    let mut ms_all = Vec::new();
    for (p, j) in &last {
        let b = j.get("bytes").and_then(|v| v.as_u64()).unwrap_or(0);
        let c = j.get("values").and_then(|v| v.as_u64()).unwrap_or(0);
        let ms = j.get("ms").and_then(|v| v.as_f64()).unwrap_or(0.0);
        total_bytes += b;
        total_counties += c;
        ms_all.push(ms);
        eprintln!("capacity: partition {p}: {c} counties, snapshot {b} bytes, checkpoint {ms} ms");
    }
    let mut all_ckpt_ms: Vec<f64> = log_events(&w1.log)
        .iter()
        .filter(|e| e.event == "checkpoint")
        .filter_map(|e| e.json.get("ms").and_then(|v| v.as_f64()))
        .collect();
    all_ckpt_ms.sort_by(f64::total_cmp);
    let pct = |v: &[f64], q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    eprintln!(
        "capacity: state {total_bytes} bytes over {total_counties} counties = {:.0} bytes/county ({} stations each: {:.0} bytes/station); checkpoint time over {} checkpoints: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        total_bytes as f64 / total_counties.max(1) as f64,
        province::STATIONS,
        total_bytes as f64 / total_counties.max(1) as f64 / province::STATIONS as f64,
        all_ckpt_ms.len(),
        pct(&all_ckpt_ms, 0.5),
        pct(&all_ckpt_ms, 0.9),
        pct(&all_ckpt_ms, 1.0)
    );

    // 4. failover
    let stored_in = js.read_all(&in_stream).unwrap();
    let mut partition_of: BTreeMap<String, u64> = BTreeMap::new();
    for m in &stored_in {
        // yingji.G.p.<n>.<county>
        let parts: Vec<&str> = m.subject.split('.').collect();
        if let [_, _, _, p, c] = parts.as_slice() {
            if let Ok(p) = p.parse() {
                partition_of.insert(c.to_string(), p);
            }
        }
    }
    let m2 = free_port();
    let mut w2 = Worker::start(&args(m2), "second");
    w2.wait_event("ready", Duration::from_secs(60)).unwrap();
    let t = Instant::now();
    while (owned(&w1.log).is_empty() || owned(&w2.log).is_empty())
        && t.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let (o1, o2) = (owned(&w1.log), owned(&w2.log));
    eprintln!("capacity: shared: solo holds {o1:?}, second holds {o2:?}");
    let (victim, survivor_log, victim_parts) = if o1.len() >= o2.len() {
        (&mut w1, w2.log.clone(), o1)
    } else {
        (&mut w2, w1.log.clone(), o2)
    };
    // late readings for every county, round robin, every 10 ms
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counties: Vec<&'static str> = province::COUNTIES.iter().map(|c| c.0).collect();
    let ticker = {
        let stop = stop.clone();
        let urls = cluster.urls();
        std::thread::spawn(move || {
            let js = Js::connect(&urls);
            let mut k = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let c = counties[k % counties.len()];
                let line = format!(
                    r#"{{"ts":"2024-07-01T00:00:00+08:00","kind":"rain","county":"{c}","station":"{c}-R01","id":"tick-{k}","mm":0.0}}"#
                );
                let _ = js.publish(
                    &[(format!("yingji.{GROUP}.in.{c}"), format!("tick-{k}"), line)],
                    Duration::from_secs(30),
                );
                k += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            k
        })
    };
    std::thread::sleep(Duration::from_secs(4));
    let t_kill = SystemTime::now();
    victim.kill9();
    std::thread::sleep(Duration::from_secs(25));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ticks = ticker.join().unwrap();
    let stored_out = js.read_all(&out_stream).unwrap();
    let mut first_out: BTreeMap<u64, SystemTime> = BTreeMap::new();
    for m in &stored_out {
        if m.time <= t_kill {
            continue;
        }
        let c = m.subject.rsplit('.').next().unwrap_or_default();
        if let Some(&p) = partition_of.get(c) {
            if victim_parts.contains(&p) {
                first_out.entry(p).or_insert(m.time);
            }
        }
    }
    let events = log_events(&survivor_log);
    let mut rows = Vec::new();
    for p in &victim_parts {
        let after = |name: &str| {
            events
                .iter()
                .filter(|e| e.event == name)
                .filter(|e| e.json.get("partition").and_then(|v| v.as_u64()) == Some(*p))
                .filter_map(ts_of)
                .find(|t| *t > t_kill)
        };
        let acq = after("acquired").map(|t| since(t, t_kill));
        let res = after("restored").map(|t| since(t, t_kill));
        let out = first_out.get(p).map(|t| since(*t, t_kill));
        eprintln!(
            "capacity: failover of partition {p} (lease {lease}): acquired +{acq:?} s, restored +{res:?} s, first output +{out:?} s"
        );
        if let Some(o) = out {
            rows.push(o);
        }
    }
    rows.sort_by(f64::total_cmp);
    eprintln!(
        "capacity: failover (kill -9 to the first output of the new owner), {} partitions, {ticks} late readings ticked: min {:.2} s, median {:.2} s, max {:.2} s",
        rows.len(),
        pct(&rows, 0.0),
        pct(&rows, 0.5),
        pct(&rows, 1.0)
    );
    drop(w1);
    drop(w2);
    cluster.stop();
    let _ = std::fs::remove_dir_all(&dir);
}
