//! `yingji sl651 encode` and `yingji sl651 send`: the sample storm turned
//! into SL 651 frames reads back as the same events, and a corpus file
//! replayed to the TCP server gets its replies and gives its events.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::Command;
use std::sync::Arc;
use yingji_serve::sl651::hex::read_corpus;
use yingji_serve::sl651::{Dedupe, FrameReader, Session, Sl651Stats, StationTable, serve_tcp};

fn yingji() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_yingji"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn table() -> StationTable {
    StationTable::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/sl651/stations.yaml"
    )))
    .unwrap()
}

#[test]
fn the_sample_storm_encoded_reads_back_as_its_events() {
    for enc in ["hex", "ascii"] {
        let out = yingji()
            .args([
                "sl651",
                "encode",
                "--stations",
                "samples/sl651/stations.yaml",
                "--events",
                "samples/rain.jsonl",
                "--encoding",
                enc,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("3876 frame(s); 10 event(s) the station table does not map; 0 refused"),
            "{err}"
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let frames = read_corpus(&text).unwrap();
        let table = table();
        let mut session = Session::new(false);
        let mut dedupe = Dedupe::new(1 << 14);
        let mut got = Vec::new();
        for (_, bytes) in frames {
            let mut rd = FrameReader::new();
            rd.push(&bytes);
            let (frame, _) = rd.next_frame().unwrap().unwrap();
            let h = session
                .handle(&frame, &mut dedupe, yingji_serve::sl651::Clock::now())
                .unwrap();
            let r = h.report.unwrap();
            got.extend(
                table
                    .events(frame.station, table.get(&frame.station).unwrap(), &r)
                    .lines,
            );
        }
        let src =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/rain.jsonl"))
                .unwrap();
        let want: Vec<serde_json::Value> = src
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["kind"] == "rain" || v["kind"] == "river_level")
            .collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            let mut g: serde_json::Value = serde_json::from_str(g).unwrap();
            g.as_object_mut().unwrap().remove("id");
            let field = if w["kind"] == "rain" { "mm" } else { "level_m" };
            assert_eq!(g["ts"], w["ts"], "{g} {w}");
            assert_eq!(
                (&g["kind"], &g["station"], &g["town"]),
                (&w["kind"], &w["station"], &w["town"])
            );
            assert_eq!(g[field].as_f64(), w[field].as_f64(), "{g} {w}");
        }
    }
}

#[test]
fn a_corpus_replayed_to_the_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (at, mut rx, stats) = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = l.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let stats = Arc::new(Sl651Stats::new());
        tokio::spawn(serve_tcp(l, Arc::new(table()), tx, stats.clone()));
        (at, rx, stats)
    });
    let out = yingji()
        .args([
            "sl651",
            "send",
            "--to",
            &at.to_string(),
            "serve/tests/corpus/good.hex",
            "--reply-timeout-ms",
            "500",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 17, "{text}");
    assert_eq!(
        lines.iter().filter(|l| l.ends_with("no reply")).count(),
        2,
        "{text}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("→ Eot (")).count(),
        15,
        "{text}"
    );
    assert!(lines[3].starts_with("serve/tests/corpus/good.hex:7: 32 定时报 station 0050023501 → Eot (7E7E0050023501011234328008020004"), "{}", lines[3]);
    let want = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/serve/tests/corpus/good.events.jsonl"
    ))
    .unwrap();
    let mut got = String::new();
    while let Ok((_, l)) = rx.try_recv() {
        got.push_str(&l);
        got.push('\n');
    }
    assert_eq!(got, want);
    assert_eq!(
        stats.frames_ok.load(std::sync::atomic::Ordering::Relaxed),
        17
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sent 17 frame(s)"), "{err}");
}
