//! The checked-in corpus (`tests/corpus/*.hex`): every line read as a
//! station would send it, with what it must give (`# expect:`), and the
//! events of the good frames compared with `good.events.jsonl`.
//! `UPDATE_CORPUS=1` rewrites the files from `sl651_common::corpus()`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code"
)]

mod sl651_common;

use sl651_common::*;
use std::path::PathBuf;
use yingji_serve::sl651::hex::read_corpus;
use yingji_serve::sl651::{Dedupe, FrameReader, Session, StationTable};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn update() -> bool {
    std::env::var_os("UPDATE_CORPUS").is_some()
}

#[test]
fn the_checked_in_corpus_is_what_the_builder_writes() {
    for (name, text) in corpus() {
        let path = dir().join(name);
        if update() {
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            on_disk, text,
            "{name} differs from the builder (UPDATE_CORPUS=1 rewrites it)"
        );
    }
}

/// What reading each line gives (one session and one duplicate memory per
/// file, as one station connection), and the event lines.
fn read_file(
    name: &str,
    table: &StationTable,
) -> (Vec<(usize, Vec<String>, Vec<String>)>, Vec<String>, usize) {
    let text = std::fs::read_to_string(dir().join(name)).unwrap();
    let frames = read_corpus(&text).unwrap();
    let comments: Vec<&str> = text.lines().collect();
    let mut session = Session::new(false);
    let mut dedupe = Dedupe::new(64);
    let mut events = Vec::new();
    let mut unknown = 0;
    let mut out = Vec::new();
    for (line, bytes) in frames {
        let want: Vec<String> = comments[line - 1]
            .split("expect: ")
            .nth(1)
            .unwrap_or_else(|| panic!("{name}:{line}: no `expect:`"))
            .split(" — ")
            .next()
            .unwrap()
            .split(", ")
            .map(str::to_string)
            .collect();
        let mut got = Vec::new();
        let mut rd = FrameReader::new();
        rd.push(&bytes);
        loop {
            while let Some(found) = rd.next_frame() {
                match found {
                    Ok((frame, _)) => {
                        match session.handle(&frame, &mut dedupe, clock(24, 7, 28, 12, 0, 0)) {
                            Ok(h) => {
                                got.push("ok".to_string());
                                if let Some(r) = h.report {
                                    match table.get(&frame.station) {
                                        Some(st) => {
                                            events.extend(table.events(frame.station, st, &r).lines)
                                        }
                                        None => unknown += 1,
                                    }
                                }
                            }
                            Err(e) => got.push(e.reason().to_string()),
                        }
                    }
                    Err((e, _)) => got.push(e.reason().to_string()),
                }
            }
            match rd.finish() {
                Some((e, _)) => got.push(e.reason().to_string()),
                None => break,
            }
        }
        out.push((line, want, got));
    }
    (out, events, unknown)
}

#[test]
fn every_line_gives_what_it_says() {
    let table = StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap();
    let mut lines = 0;
    for name in [
        "good.hex",
        "bad_crc.hex",
        "truncated.hex",
        "multi_packet.hex",
        "duplicated.hex",
        "bad_input.hex",
    ] {
        let (results, _, _) = read_file(name, &table);
        assert!(!results.is_empty(), "{name} is empty");
        for (line, want, got) in results {
            assert_eq!(got, want, "{name}:{line}");
            lines += 1;
        }
    }
    assert!(lines >= 40, "{lines} corpus lines");
}

#[test]
fn good_frames_give_the_checked_in_events() {
    let table = StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap();
    let (_, events, unknown) = read_file("good.hex", &table);
    assert_eq!(unknown, 0);
    let text = events.iter().map(|l| format!("{l}\n")).collect::<String>();
    let path = dir().join("good.events.jsonl");
    if update() {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    // every line is JSON with the fields the bundled policies declare
    for l in &events {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let kind = v["kind"].as_str().unwrap();
        let field = match kind {
            "rain" => "mm",
            "river_level" => "level_m",
            other => panic!("kind {other}"),
        };
        assert!(v[field].is_number(), "{l}");
        assert!(v["ts"].as_str().unwrap().ends_with("+08:00"), "{l}");
        assert!(
            v["station"].is_string() && v["town"].is_string() && v["id"].is_string(),
            "{l}"
        );
    }
}

#[test]
fn multi_packet_messages_give_the_events_of_the_whole_report() {
    let table = StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap();
    let (_, events, _) = read_file("multi_packet.hex", &table);
    let whole = hourly_river(21);
    let r = yingji_serve::sl651::decode_body(whole.function, &whole.body, whole.station).unwrap();
    let mut want = table
        .events(whole.station, table.get(&whole.station).unwrap(), &r)
        .lines;
    assert_eq!(want.len(), 11);
    assert_eq!(events[..11], want[..]);
    // the ASCII message: twelve 5-minute rainfalls of station 0050023502
    assert_eq!(events.len(), 23);
    want.clear();
    assert!(events[11..].iter().all(|l| l.contains("\"YY-002\"")));
}

#[test]
fn duplicates_give_no_events() {
    let table = StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap();
    let (_, events, _) = read_file("duplicated.hex", &table);
    // serial 5 and serial 6: one line each (the repeat of 5 is dropped)
    assert_eq!(events.len(), 2);
    assert!(
        events[0].contains(":5:") && events[1].contains(":6:"),
        "{events:?}"
    );
}

#[test]
fn a_station_not_in_the_table_gives_no_events() {
    let table = StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap();
    let (_, events, unknown) = read_file("bad_input.hex", &table);
    assert_eq!(unknown, 1);
    // the frames read after a resync are station 0050023501's test report
    assert!(
        events.iter().all(|l| l.contains("\"YY-001\"")),
        "{events:?}"
    );
}
