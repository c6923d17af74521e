//! A refused SL 651 frame is logged (`tracing`, level WARN) with its reason,
//! the error and the bytes in hex. Its own test binary: it installs a
//! global subscriber that records events.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod sl651_common;

use sl651_common::*;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use yingji_serve::sl651::hex::to_hex;
use yingji_serve::sl651::{Encoding, Sl651Stats, StationTable, serve_tcp};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", f.name(), v);
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        let _ = write!(self.0, "{}={} ", f.name(), v);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut f = Fields(format!("{} ", e.metadata().level()));
        e.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn a_refused_frame_is_logged_with_its_reason_and_bytes() {
    let cap = Capture::default();
    tracing::subscriber::set_global_default(cap.clone()).unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = l.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let stats = Arc::new(Sl651Stats::new());
    let table = Arc::new(StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap());
    tokio::spawn(serve_tcp(l, table, tx, stats.clone()));
    let mut s = tokio::net::TcpStream::connect(at).await.unwrap();
    let mut bad = every_function(Encoding::Hex)[3].1.encode();
    let n = bad.len();
    bad[n - 1] ^= 0x01;
    let good = every_function(Encoding::Hex)[4].1.encode();
    s.write_all(&bad).await.unwrap();
    s.write_all(&good).await.unwrap();
    // the good frame behind it is answered and its event sent
    let mut buf = [0u8; 256];
    let got = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(got > 0);
    assert!(rx.recv().await.unwrap().1.contains("\"YY-H01\""));
    let logs = cap.0.lock().unwrap().clone();
    let line = logs
        .iter()
        .find(|l| l.contains("SL 651 frame refused"))
        .unwrap_or_else(|| panic!("no log line: {logs:?}"));
    assert!(line.starts_with("WARN "), "{line}");
    assert!(line.contains("reason=bad_crc "), "{line}");
    assert!(line.contains("error=bad CRC: the frame carries"), "{line}");
    assert!(line.contains(&format!("bytes={} ", to_hex(&bad))), "{line}");
    assert_eq!(stats.errors_of("bad_crc"), 1);
}
