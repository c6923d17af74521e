//! The stream API: a `Handle` queries the engine while the run goes on,
//! several sources get distinct event ids, rejections are typed, and the
//! engine's `Config` (its `max_line`) governs the stream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use futures::StreamExt;
use yingji::stream::{Item, Options, Rejection, event_id, event_source, handle, run};
use yingji::{Config, Definitions, Level, LineError, Output};

const RAIN: &str = "event rain { station: string, mm: number }\n\
    signal s { from rain key station level red when mm >= 10 }";

fn rain(min: u32, station: &str, mm: &str) -> Vec<u8> {
    format!(
        r#"{{"ts":"2024-07-29T01:{min:02}:00+08:00","kind":"rain","station":"{station}","mm":{mm}}}"#
    )
    .into_bytes()
}

#[tokio::test(flavor = "current_thread")]
async fn a_handle_answers_while_the_run_goes_on() {
    let defs = Definitions::from_str("r.yj", RAIN).unwrap();
    let config = Config::from_json(r#"{"lateness":"0s"}"#).unwrap();
    let (lines_tx, lines_rx) = tokio::sync::mpsc::channel::<(u64, Vec<u8>)>(4);
    let source = tokio_stream::wrappers::ReceiverStream::new(lines_rx).boxed();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let (query, requests) = handle();
    let options = Options {
        requests: Some(requests),
        ..Options::default()
    };
    let task = tokio::spawn(run(
        defs.engine_with(config.clone()).unwrap(),
        vec![source],
        tx,
        options,
    ));

    assert_eq!(query.clock().await, Some(None), "no event yet");
    lines_tx.send((1, rain(0, "A", "12"))).await.unwrap();
    lines_tx.send((2, rain(1, "A", "1"))).await.unwrap();
    // the first event raised red; its output comes before the answer
    let first = rx.recv().await.unwrap();
    assert!(matches!(&first, Item::Output(Output::LevelChanged(c)) if c.to == Level::Red));
    let clock = query.clock().await.unwrap().unwrap();
    assert_eq!(clock.to_string(), "2024-07-29T01:01:00+08:00");
    assert_eq!(query.level("s", "A").await, Some(Level::Red));

    // a snapshot taken while running restores elsewhere
    let snapshot = query.snapshot().await.unwrap();
    let mut elsewhere = defs.engine_with(config).unwrap();
    elsewhere.restore(&snapshot).unwrap();
    assert_eq!(elsewhere.clock(), Some(clock));

    drop(lines_tx);
    let engine = task.await.unwrap();
    assert_eq!(engine.stats().accepted, 2);
    assert_eq!(query.level("s", "A").await, None, "the run is over");
}

#[tokio::test(flavor = "current_thread")]
async fn sources_get_distinct_event_ids_and_typed_rejections() {
    let defs = Definitions::from_str("r.yj", RAIN).unwrap();
    let source = |lines: Vec<Vec<u8>>| {
        let v: Vec<(u64, Vec<u8>)> = lines
            .into_iter()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l))
            .collect();
        futures::stream::iter(v).boxed()
    };
    // both sources' line 1 raises a warning: two events, two ids
    let a = source(vec![rain(0, "A", "12")]);
    let b = source(vec![
        rain(0, "B", "12"),
        rain(2, "B", "\"much\""),
        b"\xff\xfe".to_vec(),
        format!(r#"{{"pad":"{}"}}"#, "x".repeat(200)).into_bytes(),
    ]);
    let config = Config::from_json(r#"{"max_line":128}"#).unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(run(
        defs.engine_with(config).unwrap(),
        vec![a, b],
        tx,
        Options::default(),
    ));
    let items: Vec<Item> = tokio_stream::wrappers::ReceiverStream::new(rx)
        .collect()
        .await;
    task.await.unwrap();

    let mut events: Vec<(String, u64)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Output(Output::LevelChanged(c)) => Some((c.key.to_string(), c.event)),
            _ => None,
        })
        .collect();
    events.sort();
    assert_eq!(
        events,
        [
            ("A".to_string(), event_id(0, 1)),
            ("B".to_string(), event_id(1, 1))
        ]
    );
    assert_eq!(event_source(events[1].1), (1, 1));
    assert_ne!(events[0].1, events[1].1);

    let rejected: Vec<(usize, u64, &Rejection)> = items
        .iter()
        .filter_map(|i| match i {
            Item::Rejected {
                source,
                seq,
                reason,
                ..
            } => Some((*source, *seq, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert!(matches!(
        rejected[0],
        (1, 2, Rejection::Line(LineError::Event(_)))
    ));
    assert!(matches!(rejected[1], (1, 3, Rejection::NotUtf8(_))));
    assert!(matches!(
        rejected[2],
        (1, 4, Rejection::TooLong { max_line: 128 })
    ));
    // the words are the ones `yingji run` always printed
    assert!(
        rejected[2]
            .2
            .to_string()
            .starts_with("line longer than --max-line (128 bytes)"),
        "{}",
        rejected[2].2
    );
    assert!(rejected[1].2.to_string().starts_with("not UTF-8: "));
}
