//! The chaos test of issue 18: a 3-node NATS JetStream cluster and three
//! `yingji worker` processes on 127.0.0.1, a seeded province of ~200k events
//! (`yingji_bench::province`: 38 counties, storms, readings out of order,
//! late readings, resent frames, a closing tail), and a seeded loop of
//! actions: kill -9 a worker and restart it, SIGSTOP a worker past its lease
//! then SIGCONT it, SIGTERM a worker (it leaves, then joins again), kill -9
//! the leader of the input or the output stream (one server down at most,
//! restarted, waited for until every replica is current), and at least once
//! kill every worker and keep them down longer than the output stream's
//! duplicate window (set to 5 s here), so message-id dedupe cannot hide a
//! republished output.
//!
//! At the end, with every worker back and the outputs settled: the input
//! stream holds every generated message once; the output stream's message
//! ids (`Nats-Msg-Id: <county>:<id>`) are exactly the golden set, none twice,
//! in the golden order per county, with the golden payloads; and at least one
//! fenced write (`"event":"fenced"`) was refused. The golden output of a
//! county is `yingji run samples/province --events <its lines in stream
//! order> --open-end` (no end of input: a worker never sees one, so what the
//! lateness holds back at the end — tail readings only — stays held on
//! both sides).
//!
//! Short form (CI): `cargo test --test chaos_nats -- --ignored --nocapture`.
//! Long form: `YINGJI_CHAOS_SEED`, `YINGJI_CHAOS_ACTIONS`,
//! `YINGJI_CHAOS_EVENTS` (docs/testing.md). On failure the seed, the action
//! log and the scratch folder (logs, stores) are printed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test: a failure is a panic with its reason"
)]

mod nats_harness;

use nats_harness::{Cluster, Js, Worker, WorkerArgs, log_events, scratch};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use yingji_bench::Rng;
use yingji_bench::province::{self, Params};

const GROUP: &str = "chaos";
const WORKERS: usize = 3;
const PARTITIONS: u32 = 8;
const LEASE_MS: u64 = 3_000;
/// The output stream's duplicate window in this test.
const DUP_WINDOW: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// kill -9 a worker, restart it after `down_ms` (a new process, a new id).
    KillWorker { slot: usize, down_ms: u64 },
    /// SIGSTOP a worker for its lease and `extra_ms` more, then SIGCONT.
    StopWorker { slot: usize, extra_ms: u64 },
    /// SIGTERM a worker (it checkpoints, releases, exits 0), start it again.
    TermWorker { slot: usize, down_ms: u64 },
    /// kill -9 the stream leader (input or output stream), restart it.
    KillLeader { output: bool, down_ms: u64 },
    /// kill -9 every worker, restart them after `down_ms` (longer than the
    /// duplicate window and a lease).
    LongRecovery { down_ms: u64 },
    /// Nothing but time.
    Pause { ms: u64 },
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a whole number")),
        Err(_) => default,
    }
}

/// The seeded action list; every kind the issue names is in it at least once.
fn plan(rng: &mut Rng, n: usize) -> Vec<Action> {
    let slot = |rng: &mut Rng| rng.below(WORKERS as u64) as usize;
    let long = |rng: &mut Rng| Action::LongRecovery {
        down_ms: DUP_WINDOW.as_millis() as u64 + LEASE_MS + 1_000 + rng.below(2_000),
    };
    let mut actions: Vec<Action> = (0..n)
        .map(|_| match rng.below(10) {
            0..=2 => Action::KillWorker {
                slot: slot(rng),
                down_ms: rng.below(3_000),
            },
            3 | 4 => Action::StopWorker {
                slot: slot(rng),
                extra_ms: 1_000 + rng.below(2_000),
            },
            5 => Action::TermWorker {
                slot: slot(rng),
                down_ms: rng.below(2_000),
            },
            6 | 7 => Action::KillLeader {
                output: rng.below(2) == 1,
                down_ms: 500 + rng.below(3_000),
            },
            8 if n >= 10 && rng.below(3) == 0 => long(rng),
            _ => Action::Pause {
                ms: 500 + rng.below(1_500),
            },
        })
        .collect();
    // the required kinds at distinct seeded positions
    let required = [
        Action::StopWorker {
            slot: slot(rng),
            extra_ms: 1_500,
        },
        Action::KillWorker {
            slot: slot(rng),
            down_ms: 500,
        },
        Action::KillLeader {
            output: rng.below(2) == 1,
            down_ms: 1_500,
        },
        long(rng),
    ];
    let mut used = BTreeSet::new();
    for a in required {
        let has = actions
            .iter()
            .any(|b| std::mem::discriminant(b) == std::mem::discriminant(&a));
        if has {
            continue;
        }
        let mut at = rng.below(n as u64) as usize;
        while used.contains(&at) {
            at = (at + 1) % n;
        }
        used.insert(at);
        actions[at] = a;
    }
    actions
}

/// The group's running workers, by slot.
struct Group {
    args: WorkerArgs,
    slots: Vec<Option<Worker>>,
    incarnation: Vec<u32>,
    logs: Vec<PathBuf>,
}

impl Group {
    fn start(&mut self, slot: usize) -> Result<(), String> {
        let id = format!("w{}-{}", slot + 1, self.incarnation[slot]);
        self.incarnation[slot] += 1;
        let mut w = Worker::start(&self.args, &id);
        self.logs.push(w.log.clone());
        let r = w.wait_event("ready", Duration::from_secs(60));
        self.slots[slot] = Some(w);
        r
    }

    fn worker(&mut self, slot: usize) -> Option<&mut Worker> {
        self.slots[slot].as_mut()
    }

    /// Partitions a slot's worker holds now, from its log.
    fn owned(&self, slot: usize) -> usize {
        let Some(w) = &self.slots[slot] else {
            return 0;
        };
        let mut held = BTreeSet::new();
        for e in log_events(&w.log) {
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
        held.len()
    }

    /// Workers that exited without being told to.
    fn crashed(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for w in self.slots.iter_mut().flatten() {
            if let Some(st) = w.exited() {
                out.push(format!(
                    "worker {} exited on its own ({st}); log {}:\n{}",
                    w.id,
                    w.log.display(),
                    nats_harness::tail(&w.log, 15)
                ));
            }
        }
        out
    }
}

fn county_of(subject: &str) -> &str {
    subject.rsplit('.').next().unwrap_or_default()
}

#[test]
#[ignore = "several minutes with a NATS cluster: run by its own .ci/run step (`cargo test --test chaos_nats -- --ignored`)"]
fn workers_lose_and_duplicate_nothing_under_chaos() {
    let seed = env_u64("YINGJI_CHAOS_SEED", 18);
    let n_actions = env_u64("YINGJI_CHAOS_ACTIONS", 24).clamp(4, 10_000) as usize;
    let n_events = env_u64("YINGJI_CHAOS_EVENTS", 200_000).max(1_000) as usize;
    eprintln!(
        "chaos: YINGJI_CHAOS_SEED={seed} YINGJI_CHAOS_ACTIONS={n_actions} YINGJI_CHAOS_EVENTS={n_events}"
    );
    let t_start = Instant::now();
    let dir = scratch("chaos");
    let mut log: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let result = run(seed, n_actions, n_events, &dir, &mut log, &mut failures);
    if let Err(e) = result {
        failures.push(e);
    }
    let secs = t_start.elapsed().as_secs_f64();
    if failures.is_empty() {
        eprintln!("chaos: passed in {secs:.0} s");
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        panic!(
            "chaos test failed (YINGJI_CHAOS_SEED={seed} YINGJI_CHAOS_ACTIONS={n_actions} YINGJI_CHAOS_EVENTS={n_events}, {secs:.0} s; logs and stores in {})\n\naction log:\n{}\n\nfailures:\n{}",
            dir.display(),
            log.join("\n"),
            failures.join("\n\n")
        );
    }
}

fn run(
    seed: u64,
    n_actions: usize,
    n_events: usize,
    dir: &std::path::Path,
    log: &mut Vec<String>,
    failures: &mut Vec<String>,
) -> Result<(), String> {
    let t0 = Instant::now();
    let note = |log: &mut Vec<String>, s: String| {
        let line = format!("{:7.1}s  {s}", t0.elapsed().as_secs_f64());
        eprintln!("chaos: {line}");
        log.push(line);
    };
    let mut rng = Rng::new(seed);
    let prov = province::generate(&Params {
        seed,
        events: n_events,
        counties: province::COUNTIES.len(),
    })
    .map_err(|e| e.to_string())?;
    note(
        log,
        format!(
            "generated {} messages ({:?})",
            prov.messages.len(),
            prov.counts
        ),
    );
    let actions = plan(&mut rng, n_actions);

    let mut cluster = Cluster::start(&dir.join("nats"));
    note(log, format!("cluster up: {}", cluster.urls()));
    let js = Js::connect(&cluster.urls());
    let defs = vec![nats_harness::root().join("samples/province")];
    let mut group = Group {
        args: WorkerArgs {
            nats: cluster.urls(),
            group: GROUP.into(),
            partitions: PARTITIONS,
            replicas: 3,
            lease: format!("{LEASE_MS}ms"),
            checkpoint_every: "2s".into(),
            defs: defs.clone(),
            dir: dir.to_path_buf(),
            bin: nats_harness::yingji(),
            metrics: None,
        },
        slots: (0..WORKERS).map(|_| None).collect(),
        incarnation: vec![0; WORKERS],
        logs: Vec::new(),
    };
    for s in 0..WORKERS {
        group.start(s)?;
    }
    note(log, "3 workers ready".into());

    let in_stream = format!("YINGJI_{GROUP}_IN");
    let out_stream = format!("YINGJI_{GROUP}_OUT");
    let kv_stream = format!("KV_yingji_{GROUP}");
    for st in [&in_stream, &out_stream, &kv_stream] {
        js.wait_healthy(st, Duration::from_secs(30))?;
        let info = js.info(st)?;
        if info.config.num_replicas != 3 {
            failures.push(format!(
                "{st} has {} replicas, not 3 (--replicas 3)",
                info.config.num_replicas
            ));
        }
    }
    // a short duplicate window, so that a recovery can outlast it
    let mut cfg = js.info(&out_stream)?.config;
    cfg.duplicate_window = DUP_WINDOW;
    js.rt
        .block_on(js.js.update_stream(&cfg))
        .map_err(|e| format!("update {out_stream}: {e}"))?;
    let window = js.info(&out_stream)?.config.duplicate_window;
    if window != DUP_WINDOW {
        return Err(format!(
            "{out_stream} duplicate window is {window:?}, not {DUP_WINDOW:?}"
        ));
    }
    note(log, format!("{out_stream} duplicate window {window:?}"));

    // publish in chunks before the first two thirds of the actions
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
    // a publisher of its own, so that publishes are in flight while servers
    // die: before each of the first two thirds of the actions, the next chunk
    // is handed to it (it publishes them in order, retrying with the same
    // message id)
    let n_chunks = (n_actions * 2 / 3).max(1);
    let chunk = msgs.len().div_ceil(n_chunks);
    let chunks: Vec<Vec<(String, String, String)>> =
        msgs.chunks(chunk).map(<[_]>::to_vec).collect();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<(String, String, String)>>();
    let urls = cluster.urls();
    let publisher = std::thread::spawn(move || -> Result<usize, String> {
        let js = Js::connect(&urls);
        let mut retried = 0;
        for (k, c) in rx.into_iter().enumerate() {
            let r = js.publish(&c, Duration::from_secs(120))?;
            if r > 0 {
                eprintln!("chaos: publisher: chunk {} needed {r} retries", k + 1);
            }
            retried += r;
        }
        Ok(retried)
    });
    let mut chunks = chunks.into_iter();

    for (k, action) in actions.iter().enumerate() {
        if let Some(c) = chunks.next() {
            tx.send(c)
                .map_err(|_| "the publisher stopped".to_string())?;
        }
        note(
            log,
            format!("action {}/{}: {action:?}", k + 1, actions.len()),
        );
        match *action {
            Action::KillWorker { slot, down_ms } => {
                if let Some(w) = group.worker(slot) {
                    w.kill9();
                }
                std::thread::sleep(Duration::from_millis(down_ms));
                group.start(slot)?;
            }
            Action::StopWorker { slot, extra_ms } => {
                // a worker that holds partitions, so that it has something to be fenced on
                let slot = (0..WORKERS)
                    .map(|i| (slot + i) % WORKERS)
                    .find(|&s| group.owned(s) > 0)
                    .unwrap_or(slot);
                let Some(pid) = group.worker(slot).and_then(|w| w.pid()) else {
                    continue;
                };
                note(
                    log,
                    format!(
                        "  SIGSTOP slot {slot} (pid {pid}, {} partitions)",
                        group.owned(slot)
                    ),
                );
                nats_harness::signal(pid, "STOP");
                std::thread::sleep(Duration::from_millis(LEASE_MS + extra_ms));
                nats_harness::signal(pid, "CONT");
            }
            Action::TermWorker { slot, down_ms } => {
                if let Some(w) = group.worker(slot) {
                    match w.term(Duration::from_secs(30)) {
                        Some(st) if st.success() => {}
                        Some(st) => {
                            failures.push(format!("worker {} exited {st} on SIGTERM", w.id))
                        }
                        None => failures.push(format!(
                            "worker {} did not exit within 30 s of SIGTERM",
                            w.id
                        )),
                    }
                }
                std::thread::sleep(Duration::from_millis(down_ms));
                group.start(slot)?;
            }
            Action::KillLeader { output, down_ms } => {
                let st = if output { &out_stream } else { &in_stream };
                let leader = js.wait_healthy(st, Duration::from_secs(60))?;
                let node: usize = leader
                    .strip_prefix('n')
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=3).contains(n))
                    .ok_or(format!("{st}: leader `{leader}` is not n1..n3"))?;
                note(log, format!("  kill -9 {leader} (leader of {st})"));
                cluster.kill9(node);
                std::thread::sleep(Duration::from_millis(down_ms));
                cluster.restart(node);
                for s in [&in_stream, &out_stream, &kv_stream] {
                    let l = js.wait_healthy(s, Duration::from_secs(90))?;
                    note(log, format!("  {s} healthy, leader {l}"));
                }
            }
            Action::LongRecovery { down_ms } => {
                for s in 0..WORKERS {
                    if let Some(w) = group.worker(s) {
                        w.kill9();
                    }
                }
                std::thread::sleep(Duration::from_millis(down_ms));
                for s in 0..WORKERS {
                    group.start(s)?;
                }
            }
            Action::Pause { ms } => std::thread::sleep(Duration::from_millis(ms)),
        }
        for c in group.crashed() {
            failures.push(c);
        }
        // a crashed worker is restarted, so that the run goes on to its checks
        for s in 0..WORKERS {
            if group.worker(s).is_some_and(|w| w.exited().is_some()) {
                group.start(s)?;
            }
        }
        std::thread::sleep(Duration::from_millis(200 + rng.below(800)));
    }
    for c in chunks {
        tx.send(c)
            .map_err(|_| "the publisher stopped".to_string())?;
    }
    drop(tx);
    let retried = publisher
        .join()
        .map_err(|_| "the publisher panicked".to_string())??;
    note(
        log,
        format!(
            "all {} messages published ({retried} publishes retried)",
            msgs.len()
        ),
    );

    // the input as stored: every generated message once
    let stored_in = js.read_all(&in_stream)?;
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &stored_in {
        lines
            .entry(county_of(&m.subject).to_string())
            .or_default()
            .push(m.payload.clone());
    }
    if stored_in.len() != msgs.len() {
        failures.push(format!(
            "the input stream holds {} messages, {} were published",
            stored_in.len(),
            msgs.len()
        ));
    }
    for (county, generated) in prov.by_county() {
        let mut a: Vec<&str> = generated;
        let mut b: Vec<&str> = lines
            .get(county)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        a.sort_unstable();
        b.sort_unstable();
        if a != b {
            failures.push(format!(
                "county {county}: the input stream holds {} lines, {} were generated, or other lines",
                b.len(),
                a.len()
            ));
        }
    }
    let golden = nats_harness::golden_by_county(&defs, &dir.join("golden"), &lines)?;
    let golden_total: usize = golden.values().map(Vec::len).sum();
    note(
        log,
        format!(
            "golden: {golden_total} outputs over {} counties",
            golden.len()
        ),
    );

    // wait until the outputs settle
    let mut last = (u64::MAX, Instant::now());
    let t_wait = Instant::now();
    loop {
        for c in group.crashed() {
            failures.push(c);
        }
        let n = js.info(&out_stream).map(|i| i.state.messages).unwrap_or(0);
        if n != last.0 {
            last = (n, Instant::now());
        }
        let quiet = last.1.elapsed();
        if (n as usize >= golden_total && quiet > Duration::from_secs(4))
            || quiet > Duration::from_secs(60)
            || t_wait.elapsed() > Duration::from_secs(300)
        {
            note(
                log,
                format!(
                    "outputs settled at {n} after {:.0} s",
                    t_wait.elapsed().as_secs_f64()
                ),
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    let stored_out = js.read_all(&out_stream)?;
    compare(&golden, &stored_out, failures);

    let mut fenced = 0;
    let mut fenced_kinds = BTreeMap::new();
    for l in &group.logs {
        for e in log_events(l) {
            if e.event == "fenced" {
                fenced += 1;
                let w = e
                    .json
                    .get("write")
                    .and_then(|w| w.as_str())
                    .unwrap_or("?")
                    .to_string();
                *fenced_kinds.entry(w).or_insert(0) += 1;
            }
        }
    }
    note(
        log,
        format!("fenced writes refused: {fenced} {fenced_kinds:?}"),
    );
    if fenced == 0 {
        failures.push(
            "no fenced write was refused (no `\"event\":\"fenced\"` line in any worker log)".into(),
        );
    }

    for s in 0..WORKERS {
        if let Some(w) = group.worker(s) {
            match w.term(Duration::from_secs(30)) {
                Some(st) if st.success() => {}
                Some(st) => {
                    failures.push(format!("worker {} exited {st} on the final SIGTERM", w.id))
                }
                None => failures.push(format!(
                    "worker {} did not exit within 30 s of the final SIGTERM",
                    w.id
                )),
            }
        }
    }
    cluster.stop();
    Ok(())
}

/// The output stream against the golden outputs: the same ids, none twice,
/// the golden order per county, the golden payloads.
fn compare(
    golden: &BTreeMap<String, Vec<String>>,
    stored: &[nats_harness::Stored],
    failures: &mut Vec<String>,
) {
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    let mut want_order: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (county, lines) in golden {
        for l in lines {
            let id = serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v.get("id").and_then(|i| i.as_u64()));
            let Some(id) = id else {
                failures.push(format!("golden line of {county} without an id: {l}"));
                continue;
            };
            let key = format!("{county}:{id}");
            want_order.entry(county).or_default().push(key.clone());
            want.insert(key, l.clone());
        }
    }
    let mut got_order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bad = Vec::new();
    for m in stored {
        *seen.entry(m.msg_id.as_str()).or_insert(0) += 1;
        let county = county_of(&m.subject);
        if !m.msg_id.starts_with(&format!("{county}:")) {
            bad.push(format!(
                "seq {}: id `{}` on subject {}",
                m.seq, m.msg_id, m.subject
            ));
        }
        got_order
            .entry(county.to_string())
            .or_default()
            .push(m.msg_id.clone());
        if let Some(w) = want.get(&m.msg_id) {
            if w.trim_end() != m.payload.trim_end() {
                bad.push(format!(
                    "seq {} id {}: payload differs\n  stream: {}\n  golden: {}",
                    m.seq, m.msg_id, m.payload, w
                ));
            }
        }
    }
    let missing: Vec<&String> = want
        .keys()
        .filter(|k| !seen.contains_key(k.as_str()))
        .collect();
    let extra: Vec<&&str> = seen.keys().filter(|k| !want.contains_key(**k)).collect();
    let twice: Vec<(&&str, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let first = |v: Vec<String>| v.into_iter().take(10).collect::<Vec<_>>().join("\n  ");
    if !missing.is_empty() {
        failures.push(format!(
            "{} golden outputs missing from the output stream (of {}), e.g.\n  {}",
            missing.len(),
            want.len(),
            first(
                missing
                    .iter()
                    .map(|k| format!("{k}: {}", want[*k]))
                    .collect()
            )
        ));
    }
    if !extra.is_empty() {
        failures.push(format!(
            "{} ids on the output stream are not golden, e.g.\n  {}",
            extra.len(),
            first(extra.iter().map(|k| k.to_string()).collect())
        ));
    }
    if !twice.is_empty() {
        failures.push(format!(
            "{} ids published more than once, e.g.\n  {}",
            twice.len(),
            first(twice.iter().map(|(k, n)| format!("{k} ×{n}")).collect())
        ));
    }
    if stored.len() != want.len() {
        failures.push(format!(
            "the output stream holds {} messages, the golden {}",
            stored.len(),
            want.len()
        ));
    }
    for (county, w) in &want_order {
        let g = got_order
            .get(*county)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if g != w.as_slice() {
            let at = g
                .iter()
                .zip(w)
                .position(|(a, b)| a != b)
                .unwrap_or(g.len().min(w.len()));
            failures.push(format!(
                "county {county}: order differs from the golden at position {at} (stream {:?}, golden {:?}; {} vs {} outputs)",
                g.get(at),
                w.get(at),
                g.len(),
                w.len()
            ));
        }
    }
    if !bad.is_empty() {
        failures.push(format!(
            "{} bad messages, e.g.\n  {}",
            bad.len(),
            first(bad)
        ));
    }
    eprintln!(
        "chaos: compared {} stored outputs with {} golden ({} missing, {} extra, {} twice)",
        stored.len(),
        want.len(),
        missing.len(),
        extra.len(),
        twice.len()
    );
}
