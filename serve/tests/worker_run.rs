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
    let w = Worker::start(
        &dir,
        nats.port,
        "one",
        "w1",
        &defs,
        &["--partitions", "4", "--checkpoint-every", "300ms"],
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
