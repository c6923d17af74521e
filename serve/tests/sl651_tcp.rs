//! The SL 651 TCP server over 127.0.0.1: frames in, replies back, event
//! lines out; bad frames counted by reason without dropping the connection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code"
)]

mod sl651_common;

use sl651_common::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use yingji_serve::sl651::{
    Direction, Encoding, End, Frame, FrameReader, Handed, ServerOptions, Sl651Stats, StationAddr,
    StationTable, serve_tcp_reports, serve_tcp_with,
};

struct Client {
    s: TcpStream,
    rd: FrameReader,
}

impl Client {
    async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.unwrap();
    }
    /// The next reply, or `None` if none comes within 300 ms.
    async fn reply(&mut self) -> Option<Frame> {
        let mut buf = [0u8; 1024];
        loop {
            if let Some(f) = self.rd.next_frame() {
                return Some(f.unwrap().0);
            }
            match tokio::time::timeout(Duration::from_millis(300), self.s.read(&mut buf)).await {
                Ok(Ok(0)) | Err(_) => return None,
                Ok(Ok(n)) => self.rd.push(&buf[..n]),
                Ok(Err(e)) => panic!("{e}"),
            }
        }
    }
}

async fn start() -> (
    std::net::SocketAddr,
    mpsc::Receiver<(String, String)>,
    Arc<Sl651Stats>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let table = Arc::new(StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap());
    let (tx, rx) = mpsc::channel(1024);
    let stats = Arc::new(Sl651Stats::new());
    let opts = ServerOptions {
        idle_timeout: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    let task = tokio::spawn(serve_tcp_with(listener, table, tx, stats.clone(), opts));
    (at, rx, stats, task)
}

async fn connect(at: std::net::SocketAddr) -> Client {
    Client {
        s: TcpStream::connect(at).await.unwrap(),
        rd: FrameReader::new(),
    }
}

async fn line(rx: &mut mpsc::Receiver<(String, String)>) -> (String, String) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn frames_in_replies_back_events_out_and_bad_frames_do_not_drop_the_link() {
    let (at, mut rx, stats, task) = start().await;
    let mut c = connect(at).await;
    let frames = every_function(Encoding::Hex);

    // a timed report: EOT with its serial number, one event line
    c.send(&frames[3].1.encode()).await;
    let r = c.reply().await.unwrap();
    assert_eq!(
        (r.direction, r.end, r.station),
        (Direction::Down, End::Eot, addr(1))
    );
    assert_eq!(r.body[..2], [0, 4]);
    let (src, l) = line(&mut rx).await;
    assert_eq!(src, "sl651");
    assert_eq!(
        l,
        r#"{"ts":"2024-07-28T09:00:00+08:00","kind":"rain","station":"YY-001","town":"双江街道","mm":1.5,"id":"sl651:0050023501:4:240728090007:rain:2024-07-28T09:00:00+08:00"}"#
    );

    // a bad CRC, noise and a good frame in one write: one reply, the link stays up
    let mut bad = frames[4].1.encode();
    let n = bad.len();
    bad[n - 1] ^= 0x55;
    let mut burst = bad;
    burst.extend_from_slice(b"\xAA\xBB");
    burst.extend_from_slice(&frames[4].1.encode());
    c.send(&burst).await;
    let r = c.reply().await.unwrap();
    assert_eq!((r.end, r.body[..2].to_vec()), (End::Eot, vec![0, 5]));
    assert!(line(&mut rx).await.1.contains(r#""level_m":175.23"#));
    assert_eq!(stats.errors_of("bad_crc"), 1);
    assert_eq!(stats.errors_of("garbage"), 1);

    // the same report again: replied to, no event
    c.send(&frames[4].1.encode()).await;
    assert_eq!(c.reply().await.unwrap().body[..2], [0, 5]);
    // a keep-alive: no reply
    c.send(&frames[0].1.encode()).await;
    assert!(c.reply().await.is_none());
    // a multi-packet hourly report: ACK, ACK, EOT, then its events
    let mut ends = Vec::new();
    for p in hourly_river(77).packets(20) {
        c.send(&p.encode()).await;
        ends.push(c.reply().await.unwrap().end);
    }
    assert_eq!(ends, [End::Ack, End::Ack, End::Eot]);
    let first = line(&mut rx).await.1;
    assert!(
        first.contains(":77:") && first.contains("\"YY-H01\""),
        "{first}"
    );
    assert_eq!(stats.duplicates.load(Ordering::Relaxed), 1);
    for _ in 0..10 {
        assert!(line(&mut rx).await.1.contains(":77:"));
    }

    // a station not in the table: replied to, counted, no event
    let stranger = StationAddr::parse("9900000001").unwrap();
    let rep = report(
        stranger,
        0x50,
        1,
        clock(24, 7, 28, 9, 0, 0),
        clock(24, 7, 28, 9, 0, 0),
        vec![pj(10)],
    );
    c.send(
        &frame(
            Encoding::Hex,
            yingji_serve::sl651::Function::Timed,
            stranger,
            &rep,
        )
        .encode(),
    )
    .await;
    assert_eq!(c.reply().await.unwrap().station, stranger);
    assert_eq!(stats.unknown_station.load(Ordering::Relaxed), 1);

    // half a frame, then silence: reported truncated; the link still works
    let good = frames[6].1.encode();
    c.send(&good[..20]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stats.errors_of("truncated"), 1);
    c.send(&good).await;
    assert_eq!(c.reply().await.unwrap().body[..2], [0, 7]);
    assert!(line(&mut rx).await.1.contains("\"YY-004\""));

    // ASCII in, ASCII out
    let a = &every_function(Encoding::Ascii)[7].1;
    c.send(&a.encode()).await;
    assert_eq!(c.reply().await.unwrap().encoding, Encoding::Ascii);
    assert!(line(&mut rx).await.1.contains("\"YY-005\""));

    // an unknown function code: counted, no reply, the link stays up
    c.send(&patch_hex(frames[3].1.encode(), 10, &[0x99])).await;
    assert!(c.reply().await.is_none());
    assert_eq!(stats.errors_of("unknown_function"), 1);

    let ok = stats.frames_ok.load(Ordering::Relaxed);
    assert_eq!(ok, 10, "frames handled");
    assert!(
        stats
            .prometheus()
            .contains("yingji_sl651_frames_refused_total{reason=\"bad_crc\"} 1\n")
    );
    drop(rx);
    // the server ends once nobody reads its events
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn several_stations_at_once() {
    let (at, mut rx, stats, _task) = start().await;
    let mut clients = Vec::new();
    for n in 1..=6u8 {
        clients.push((n, connect(at).await));
    }
    for (n, c) in &mut clients {
        let r = report(
            addr(*n),
            0x50,
            100 + u16::from(*n),
            clock(24, 7, 28, 12, 0, *n),
            clock(24, 7, 28, 12, 0, 0),
            vec![pj(i64::from(*n) * 10)],
        );
        c.send(
            &frame(
                Encoding::Hex,
                yingji_serve::sl651::Function::Timed,
                addr(*n),
                &r,
            )
            .encode(),
        )
        .await;
    }
    for (n, c) in &mut clients {
        let r = c.reply().await.unwrap();
        assert_eq!(r.station, addr(*n));
        assert_eq!(r.body[..2], (100 + u16::from(*n)).to_be_bytes());
    }
    let mut keys: Vec<String> = Vec::new();
    for _ in 0..6 {
        let v: serde_json::Value = serde_json::from_str(&line(&mut rx).await.1).unwrap();
        keys.push(format!("{} {}", v["station"].as_str().unwrap(), v["mm"]));
    }
    keys.sort();
    assert_eq!(
        keys,
        [
            "YY-001 1.0",
            "YY-002 2.0",
            "YY-003 3.0",
            "YY-004 4.0",
            "YY-005 5.0",
            "YY-006 6.0"
        ]
    );
    assert_eq!(stats.connections.load(Ordering::Relaxed), 6);
}

#[tokio::test]
async fn a_damaged_packet_is_asked_for_again() {
    let (at, mut rx, stats, _task) = start().await;
    let mut c = connect(at).await;
    let parts = hourly_river(88).packets(20);
    assert_eq!(parts.len(), 3);
    c.send(&parts[0].encode()).await;
    assert_eq!(c.reply().await.unwrap().end, End::Ack);
    // packet 2 damaged on the way: NAK for packet 2 (serial of the message)
    let mut bad = parts[1].encode();
    bad[20] ^= 0x40;
    c.send(&bad).await;
    let n = c.reply().await.unwrap();
    assert_eq!(
        (n.end, n.packet.map(|p| p.seq), n.body[..2].to_vec()),
        (End::Nak, Some(2), vec![0, 88])
    );
    assert_eq!(stats.errors_of("bad_crc"), 1);
    // sent again, then the last: the message completes
    c.send(&parts[1].encode()).await;
    assert_eq!(c.reply().await.unwrap().end, End::Ack);
    c.send(&parts[2].encode()).await;
    assert_eq!(c.reply().await.unwrap().end, End::Eot);
    let first = line(&mut rx).await.1;
    assert!(first.contains(":88:"), "{first}");
    // a single frame with a bad CRC gets no NAK (nothing to resend by number)
    let mut single = every_function(Encoding::Hex)[3].1.encode();
    let len = single.len();
    single[len - 1] ^= 1;
    c.send(&single).await;
    assert!(c.reply().await.is_none());
}

/// `serve_tcp_reports`: the station hears back only once the receiver
/// confirms the report (journaled); a report dropped unconfirmed closes the
/// connection unanswered, so the station sends it again.
#[tokio::test]
async fn the_reply_waits_for_the_confirmation_of_the_report() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let table = Arc::new(StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap());
    let (tx, mut rx) = mpsc::channel::<Handed>(4);
    let stats = Arc::new(Sl651Stats::new());
    let opts = ServerOptions {
        idle_timeout: Duration::from_millis(200),
        ..ServerOptions::default()
    };
    let task = tokio::spawn(serve_tcp_reports(listener, table, tx, stats.clone(), opts));
    let frames = every_function(Encoding::Hex);

    let mut c = connect(at).await;
    c.send(&frames[3].1.encode()).await;
    let handed = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(handed.source, "sl651");
    assert_eq!(handed.lines.len(), 1);
    assert!(
        handed.lines[0].contains(r#""mm":1.5"#),
        "{:?}",
        handed.lines
    );
    // not confirmed yet: no reply
    assert!(c.reply().await.is_none());
    handed.confirm.send(()).unwrap();
    let r = c.reply().await.unwrap();
    assert_eq!((r.end, r.body[..2].to_vec()), (End::Eot, vec![0, 4]));
    assert_eq!(stats.events.load(Ordering::Relaxed), 1);

    // a report dropped without confirmation: the connection ends unanswered
    let mut c = connect(at).await;
    c.send(&frames[4].1.encode()).await;
    let handed = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    drop(handed);
    assert!(c.reply().await.is_none());
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(2), c.s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "the connection is closed");
    assert_eq!(stats.events.load(Ordering::Relaxed), 1);
    drop(rx);
    task.abort();
}
