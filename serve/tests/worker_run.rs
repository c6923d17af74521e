//! `yingji worker` against a real nats-server: one worker's outputs equal
//! the engine's per county; bad input goes to the dead-letter stream;
//! definitions that differ from the group's are refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "tests"
)]

mod common;
mod worker_common;

use std::time::Duration;
use worker_common::*;

#[test]
fn one_worker_equals_the_engine_per_county_and_dead_letters_bad_input() {
    let dir = common::tmp("worker-one");
    let nats = common::nats(&dir);
    let defs = write_defs(&dir, "defs", DEFS_YJ);
    let evs = events(5, 150, 7);
    let gold = golden(&defs, &evs);
    assert!(
        total(&gold) > 50,
        "the generator makes outputs: {}",
        total(&gold)
    );
    let mport = common::free_port();
    let maddr = format!("127.0.0.1:{mport}");
    let w = Worker::start(
        &dir,
        nats.port,
        "one",
        "w1",
        &defs,
        &[
            "--partitions",
            "4",
            "--checkpoint-every",
            "300ms",
            "--metrics",
            &maddr,
        ],
    );
    w.wait_event("ready", Duration::from_secs(20));
    let (first, rest) = evs.split_at(evs.len() / 2);
    publish(nats.port, "one", first);
    // bad input between good events: nothing else is lost
    let bad = vec![
        ("510101".to_string(), "{not json".to_string()),
        ("510102".to_string(), r#"{"ts":"2024-07-01T08:00:00+08:00","kind":"rain","station":"X","mm":1}"#.to_string()),
        ("510103".to_string(), r#"{"ts":"2024-07-01T08:00:00+08:00","kind":"rain","county":"510104","station":"X","mm":1}"#.to_string()),
    ];
    publish(nats.port, "one", &bad);
    publish(nats.port, "one", rest);
    wait_outputs(
        nats.port,
        "one",
        total(&gold),
        Duration::from_secs(60),
        &|| w.logs(),
    );
    assert_golden(nats.port, "one", &gold);
    // every output names its writer's epoch (the epoch its partition was acquired at)
    let epochs: std::collections::BTreeSet<u64> = w
        .events("acquired")
        .iter()
        .map(|v| v["epoch"].as_u64().unwrap())
        .collect();
    let stamped = output_headers(nats.port, "one", "Yingji-Epoch");
    assert_eq!(stamped.len(), total(&gold));
    assert!(
        stamped
            .iter()
            .all(|e| epochs.contains(&e.parse::<u64>().unwrap())),
        "{stamped:?} vs {epochs:?}"
    );
    let dead = messages(nats.port, "YINGJI_one_DEAD");
    assert_eq!(dead.len(), 3, "{dead:?}");
    // three partitions: their order between partitions is not fixed
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|(_, _, p)| {
            serde_json::from_str::<serde_json::Value>(p).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons[0], "no partition field `county`");
    assert!(reasons[1].starts_with("not a JSON object"), "{reasons:?}");
    assert_eq!(
        reasons[2],
        "partition field `county` is `510104` but the event was published for `510103`"
    );
    assert_eq!(w.events("dead_letter").len(), 3);
    assert!(!w.events("checkpoint").is_empty(), "{}", w.logs());
    let c = &w.events("checkpoint")[0];
    assert!(
        c["bytes"].as_u64().unwrap() > 0
            && c["ms"].as_f64().is_some()
            && c["seq"].as_u64().unwrap() > 0,
        "{c}"
    );
    // the metrics count what was applied (the three bad lines never reach an engine)
    let (code, text) = common::try_http(mport, "GET", "/metrics", None, "").unwrap();
    assert_eq!(code, 200);
    assert!(
        text.contains(&format!(
            "yingji_worker_events_total{{worker=\"w1\"}} {}",
            evs.len()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "yingji_worker_outputs_total{{worker=\"w1\"}} {}",
            total(&gold)
        )),
        "{text}"
    );
    assert!(
        text.contains("yingji_worker_dead_letters_total{worker=\"w1\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("yingji_worker_snapshot_bytes{worker=\"w1\",partition=\""),
        "{text}"
    );
    let st = w.stop();
    assert!(st.success(), "{st:?}");
}

#[test]
fn definitions_other_than_the_groups_are_refused() {
    let dir = common::tmp("worker-defs");
    let nats = common::nats(&dir);
    let defs = write_defs(&dir, "a", DEFS_YJ);
    let other = write_defs(&dir, "b", &DEFS_YJ.replace("mm >= 10", "mm >= 11"));
    let w = Worker::start(&dir, nats.port, "g", "w1", &defs, &[]);
    w.wait_event("ready", Duration::from_secs(20));
    let mut w2 = Worker::start(&dir, nats.port, "g", "w2", &other, &[]);
    let st = w2.wait_exit(Duration::from_secs(20));
    assert_eq!(st.code(), Some(3), "{}", w2.logs());
    let refused = w2.events("refused");
    assert_eq!(refused.len(), 1, "{}", w2.logs());
    let reason = refused[0]["reason"].as_str().unwrap();
    let ready = &w.events("ready")[0];
    let theirs = ready["defs"].as_str().unwrap();
    assert!(reason.contains(theirs), "{reason}");
    assert!(reason.contains("differ from the group's"), "{reason}");
    // a partition count other than the group's
    let mut w3 = Worker::start(&dir, nats.port, "g", "w3", &defs, &["--partitions", "3"]);
    assert_eq!(
        w3.wait_exit(Duration::from_secs(20)).code(),
        Some(3),
        "{}",
        w3.logs()
    );
    // definitions without a partition field: exit 2
    let none = write_defs(
        &dir,
        "c",
        "event rain { station: string, mm: number }\nsignal x { from rain key station level red when mm >= 1 }\n",
    );
    let mut w4 = Worker::start(&dir, nats.port, "g", "w4", &none, &[]);
    assert_eq!(
        w4.wait_exit(Duration::from_secs(20)).code(),
        Some(2),
        "{}",
        w4.logs()
    );
    assert!(
        w4.logs().contains("declare no partition field"),
        "{}",
        w4.logs()
    );
    assert!(w.stop().success());
}

/// The fence the design leans on, checked against the real server: a
/// publish that expects the subject's last sequence to be 0 (empty) or N
/// is refused once another message got there first.
#[test]
fn the_server_refuses_a_stale_expected_subject_sequence() {
    let dir = common::tmp("worker-seq");
    let nats = common::nats(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{}", nats.port))
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: "S".into(),
            subjects: vec!["s.*".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        let send = |expect: u64, id: &str| {
            let js = js.clone();
            let id = id.to_string();
            async move {
                let mut h = async_nats::HeaderMap::new();
                h.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    expect.to_string().as_str(),
                );
                h.insert("Nats-Msg-Id", id.as_str());
                match js.publish_with_headers("s.a", h, "x".into()).await {
                    Ok(ack) => ack.await.map(|a| a.sequence).map_err(|e| e.kind()),
                    Err(e) => Err(e.kind()),
                }
            }
        };
        let wrong = async_nats::jetstream::context::PublishErrorKind::WrongLastSequence;
        assert_eq!(send(0, "a:1").await, Ok(1));
        assert_eq!(
            send(0, "a:2").await,
            Err(wrong),
            "0 means: the subject is empty"
        );
        assert_eq!(send(1, "a:2").await, Ok(2));
        assert_eq!(send(1, "a:3").await, Err(wrong));
    });
}
