//! `yingji worker` groups against a real nats-server: two workers split the
//! partitions; one killed with SIGKILL, the other takes its partitions over
//! with no output lost or repeated; a stale owner (SIGSTOP past its lease)
//! is fenced; a checkpoint of other definitions is never restored.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "tests"
)]

mod common;
mod worker_common;

use std::collections::BTreeSet;
use std::time::Duration;
use worker_common::*;

fn partitions_of(w: &Worker) -> BTreeSet<u64> {
    w.events("acquired")
        .iter()
        .map(|v| v["partition"].as_u64().unwrap())
        .collect()
}

#[test]
fn two_workers_split_and_one_takes_over_when_the_other_is_killed() {
    let dir = common::tmp("worker-two");
    let nats = common::nats(&dir);
    let defs = write_defs(&dir, "defs", DEFS_YJ);
    let evs = events(8, 120, 11);
    let gold = golden(&defs, &evs);
    let opts = [
        "--partitions",
        "8",
        "--lease",
        "1s",
        "--checkpoint-every",
        "200ms",
    ];
    let mut a = Worker::start(&dir, nats.port, "two", "wa", &defs, &opts);
    a.wait_event("ready", Duration::from_secs(20));
    let b = Worker::start(&dir, nats.port, "two", "wb", &defs, &opts);
    b.wait_event("acquired", Duration::from_secs(20));
    // the split settles: A hands B its share
    common::wait_until(
        Duration::from_secs(20),
        "both workers to own partitions",
        || !a.events("released").is_empty() && !b.events("acquired").is_empty(),
    );
    let (first, rest) = evs.split_at(evs.len() / 2);
    publish(nats.port, "two", first);
    let half = golden(&defs, first);
    let logs = || format!("A:\n{}\nB:\n{}", a.logs(), b.logs());
    wait_outputs(
        nats.port,
        "two",
        total(&half),
        Duration::from_secs(60),
        &logs,
    );
    let released_of = |a: &Worker| -> BTreeSet<u64> {
        a.events("released")
            .iter()
            .map(|v| v["partition"].as_u64().unwrap())
            .collect()
    };
    // the hand-over settles (under load it may take a few rounds)
    common::wait_until(Duration::from_secs(20), "the split to settle", || {
        let kept = partitions_of(&a).difference(&released_of(&a)).count();
        kept + partitions_of(&b).len() == 8
    });
    let (pa, pb) = (partitions_of(&a), partitions_of(&b));
    assert!(!pb.is_empty(), "{}", logs());
    let released = released_of(&a);
    // what A handed over went to B; A kept the rest
    assert!(
        released.is_subset(&pb),
        "A released only what B acquired\n{}",
        logs()
    );
    let kept: BTreeSet<u64> = pa.difference(&released).copied().collect();
    assert!(!kept.is_empty(), "A kept some partitions\n{}", logs());
    assert!(
        kept.is_disjoint(&pb),
        "no partition owned twice\n{}",
        logs()
    );
    assert_eq!(kept.len() + pb.len(), 8, "{}", logs());
    // kill A mid-stream: B takes A's partitions over and replays from A's checkpoints
    let before = b.events("acquired").len();
    a.kill9();
    publish(nats.port, "two", rest);
    common::wait_until(Duration::from_secs(30), "B to take A's partitions", || {
        partitions_of(&b).len() == 8 && b.events("acquired").len() > before
    });
    wait_outputs(
        nats.port,
        "two",
        total(&gold),
        Duration::from_secs(60),
        &|| b.logs(),
    );
    assert_golden(nats.port, "two", &gold);
    assert!(
        !b.events("restored").is_empty(),
        "B restored A's checkpoints\n{}",
        b.logs()
    );
    assert!(b.stop().success());
}

#[test]
fn a_stale_owner_is_fenced() {
    let dir = common::tmp("worker-fence");
    let nats = common::nats(&dir);
    let defs = write_defs(&dir, "defs", DEFS_YJ);
    let evs = events(4, 150, 5);
    let gold = golden(&defs, &evs);
    // A checkpoints rarely, so its view of the pointers is old when it wakes
    let a = Worker::start(
        &dir,
        nats.port,
        "fence",
        "wa",
        &defs,
        &[
            "--partitions",
            "4",
            "--lease",
            "1s",
            "--checkpoint-every",
            "500ms",
        ],
    );
    a.wait_event("acquired", Duration::from_secs(20));
    let (first, rest) = evs.split_at(evs.len() / 3);
    publish(nats.port, "fence", first);
    wait_outputs(
        nats.port,
        "fence",
        total(&golden(&defs, first)),
        Duration::from_secs(60),
        &|| a.logs(),
    );
    // A stops renewing (SIGSTOP) past its lease; B takes everything
    a.signal("-STOP");
    let b = Worker::start(
        &dir,
        nats.port,
        "fence",
        "wb",
        &defs,
        &[
            "--partitions",
            "4",
            "--lease",
            "1s",
            "--checkpoint-every",
            "200ms",
        ],
    );
    common::wait_until(Duration::from_secs(30), "B to own all partitions", || {
        partitions_of(&b).len() == 4
    });
    publish(nats.port, "fence", rest);
    wait_outputs(
        nats.port,
        "fence",
        total(&gold),
        Duration::from_secs(60),
        &|| b.logs(),
    );
    // A wakes up with leases and pointers it no longer holds: its writes are refused
    a.signal("-CONT");
    common::wait_until(Duration::from_secs(20), "A to log a fenced write", || {
        !a.events("fenced").is_empty()
    });
    let f = &a.events("fenced")[0];
    assert!(f["write"] == "kv_cas" || f["write"] == "publish_seq", "{f}");
    assert!(f["detail"].as_str().is_some_and(|d| !d.is_empty()), "{f}");
    std::thread::sleep(Duration::from_secs(2));
    assert_golden(nats.port, "fence", &gold);
    assert!(b.stop().success());
    assert!(a.stop().success());
}

#[test]
fn a_checkpoint_of_other_definitions_is_refused_not_restored() {
    let dir = common::tmp("worker-ckpt");
    let nats = common::nats(&dir);
    let defs = write_defs(&dir, "a", DEFS_YJ);
    let evs = events(2, 40, 3);
    let a = Worker::start(
        &dir,
        nats.port,
        "ck",
        "wa",
        &defs,
        &["--partitions", "2", "--checkpoint-every", "200ms"],
    );
    a.wait_event("ready", Duration::from_secs(20));
    publish(nats.port, "ck", &evs);
    a.wait_event("checkpoint", Duration::from_secs(20));
    let old_hash = a.events("ready")[0]["defs"].as_str().unwrap().to_string();
    assert!(a.stop().success());
    // an operator points the group at new definitions but keeps the old checkpoints
    let other = write_defs(&dir, "b", &DEFS_YJ.replace("mm >= 10", "mm >= 12"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let new_hash = rt.block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{}", nats.port))
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client);
        let kv = js.get_key_value("yingji_ck").await.unwrap();
        let d = yingji_serve::defs::Defs::load(std::slice::from_ref(&other)).unwrap();
        let h = yingji_serve::worker::defs_hash(&d);
        kv.put(
            "defs",
            serde_json::json!({"hash": h, "partitions": 2})
                .to_string()
                .into(),
        )
        .await
        .unwrap();
        h
    });
    let b = Worker::start(&dir, nats.port, "ck", "wb", &other, &["--partitions", "2"]);
    common::wait_until(
        Duration::from_secs(20),
        "B to refuse the checkpoints",
        || {
            b.events("refused")
                .iter()
                .filter(|r| r.get("checkpoint_defs").is_some())
                .count()
                >= 1
        },
    );
    for r in b.events("refused") {
        assert_eq!(r["checkpoint_defs"], old_hash.as_str(), "{r}");
        assert_eq!(r["defs"], new_hash.as_str(), "{r}");
    }
    // nothing was restored, and B did not start those partitions fresh
    assert!(b.events("restored").is_empty(), "{}", b.logs());
    let refused: BTreeSet<u64> = b
        .events("refused")
        .iter()
        .map(|v| v["partition"].as_u64().unwrap())
        .collect();
    let acquired: BTreeSet<u64> = partitions_of(&b);
    assert!(acquired.is_disjoint(&refused), "{}", b.logs());
    assert!(b.stop().success());
}

#[test]
fn a_worker_that_leaves_hands_its_partitions_over_at_once() {
    let dir = common::tmp("worker-leave");
    let nats = common::nats(&dir);
    let defs = write_defs(&dir, "defs", DEFS_YJ);
    let evs = events(6, 80, 13);
    let gold = golden(&defs, &evs);
    // a long lease: a take-over within it shows the hand-over did not wait for expiry
    let opts = [
        "--partitions",
        "6",
        "--lease",
        "6s",
        "--checkpoint-every",
        "300ms",
    ];
    let a = Worker::start(&dir, nats.port, "leave", "wa", &defs, &opts);
    a.wait_event("ready", Duration::from_secs(20));
    let b = Worker::start(&dir, nats.port, "leave", "wb", &defs, &opts);
    common::wait_until(Duration::from_secs(30), "both to own partitions", || {
        let released: BTreeSet<u64> = a
            .events("released")
            .iter()
            .map(|v| v["partition"].as_u64().unwrap())
            .collect();
        let kept = partitions_of(&a).difference(&released).count();
        !partitions_of(&b).is_empty() && kept + partitions_of(&b).len() == 6
    });
    let (first, rest) = evs.split_at(evs.len() / 2);
    publish(nats.port, "leave", first);
    wait_outputs(
        nats.port,
        "leave",
        total(&golden(&defs, first)),
        Duration::from_secs(60),
        &|| format!("{}\n{}", a.logs(), b.logs()),
    );
    let b_had = partitions_of(&b);
    let start = std::time::Instant::now();
    let st = b.stop();
    assert!(st.success(), "{st:?}");
    common::wait_until(Duration::from_secs(20), "A to take B's partitions", || {
        a.events("acquired")
            .iter()
            .filter(|v| b_had.contains(&v["partition"].as_u64().unwrap()))
            .count()
            >= b_had.len()
    });
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "taken over in {:?}, not after the lease\n{}",
        start.elapsed(),
        a.logs()
    );
    publish(nats.port, "leave", rest);
    wait_outputs(
        nats.port,
        "leave",
        total(&gold),
        Duration::from_secs(60),
        &|| a.logs(),
    );
    assert_golden(nats.port, "leave", &gold);
    assert!(a.stop().success());
}

#[test]
fn a_worker_killed_and_restarted_with_its_id_resumes_from_its_checkpoints() {
    let dir = common::tmp("worker-restart");
    let nats = common::nats(&dir);
    let defs = write_defs(&dir, "defs", DEFS_YJ);
    let evs = events(4, 150, 17);
    let gold = golden(&defs, &evs);
    // a long lease: the restarted worker takes its own leases without waiting for it
    let opts = [
        "--partitions",
        "4",
        "--lease",
        "10s",
        "--checkpoint-every",
        "200ms",
    ];
    let mut a = Worker::start(&dir, nats.port, "restart", "w1", &defs, &opts);
    a.wait_event("ready", Duration::from_secs(20));
    let (first, rest) = evs.split_at(evs.len() / 2);
    publish(nats.port, "restart", first);
    wait_outputs(
        nats.port,
        "restart",
        total(&golden(&defs, first)),
        Duration::from_secs(60),
        &|| a.logs(),
    );
    a.wait_event("checkpoint", Duration::from_secs(20));
    a.kill9();
    publish(nats.port, "restart", rest);
    let start = std::time::Instant::now();
    let b = Worker::start(&dir, nats.port, "restart", "w1", &defs, &opts);
    common::wait_until(
        Duration::from_secs(20),
        "the restarted worker to take its partitions",
        || partitions_of(&b).len() == 4,
    );
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "{:?}\n{}",
        start.elapsed(),
        b.logs()
    );
    assert_eq!(b.events("restored").len(), 4, "{}", b.logs());
    wait_outputs(
        nats.port,
        "restart",
        total(&gold),
        Duration::from_secs(60),
        &|| b.logs(),
    );
    assert_golden(nats.port, "restart", &gold);
    assert!(b.events("fenced").is_empty(), "{}", b.logs());
    assert!(b.stop().success());
}

#[test]
fn the_worker_rides_out_a_nats_server_killed_and_restarted() {
    let dir = common::tmp("worker-nats-restart");
    let port = common::free_port();
    let server = nats_at(&dir, port);
    let defs = write_defs(&dir, "defs", DEFS_YJ);
    let evs = events(4, 150, 23);
    let gold = golden(&defs, &evs);
    let w = Worker::start(
        &dir,
        port,
        "ride",
        "w1",
        &defs,
        &[
            "--partitions",
            "4",
            "--lease",
            "2s",
            "--checkpoint-every",
            "300ms",
        ],
    );
    w.wait_event("ready", Duration::from_secs(20));
    let (first, rest) = evs.split_at(evs.len() / 2);
    publish(port, "ride", first);
    wait_outputs(
        port,
        "ride",
        total(&golden(&defs, first)),
        Duration::from_secs(60),
        &|| w.logs(),
    );
    server.kill9();
    std::thread::sleep(Duration::from_secs(3));
    let _server = nats_at(&dir, port);
    publish(port, "ride", rest);
    wait_outputs(port, "ride", total(&gold), Duration::from_secs(90), &|| {
        w.logs()
    });
    assert_golden(port, "ride", &gold);
    assert!(w.stop().success());
}
