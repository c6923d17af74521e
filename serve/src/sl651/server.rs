//! The SL 651 TCP server: stations connect, send frames, get replies; each
//! report becomes JSONL event lines on a channel.

use super::error::FrameError;
use super::frame::{Found, FrameReader, decode_ignoring_crc};
use super::hex::to_hex;
use super::session::{Dedupe, Session};
use super::table::StationTable;
use super::time::Clock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::Sender;

/// Counters for the metrics endpoint.
#[derive(Debug, Default)]
pub struct Sl651Stats {
    /// Frames read and handled.
    pub frames_ok: AtomicU64,
    /// Reports dropped as duplicates (station + serial + send time seen).
    pub duplicates: AtomicU64,
    /// Reports from stations not in the table (replied to, no events).
    pub unknown_station: AtomicU64,
    /// Event lines sent.
    pub events: AtomicU64,
    /// Readings left out: their field was already set (see [`super::table`]).
    pub conflicts: AtomicU64,
    /// Replies written.
    pub replies: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    errors: [AtomicU64; FrameError::REASONS.len()],
}

impl Sl651Stats {
    /// All counters at zero.
    pub fn new() -> Sl651Stats {
        Sl651Stats::default()
    }

    /// Counts a refused frame by its reason.
    pub fn count_error(&self, e: &FrameError) {
        if let Some(c) = self.errors.get(e.reason_index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Refused frames of one reason ([`FrameError::REASONS`]).
    pub fn errors_of(&self, reason: &str) -> u64 {
        FrameError::REASONS
            .iter()
            .position(|r| *r == reason)
            .and_then(|i| self.errors.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Refused frames by reason, every reason listed.
    pub fn errors(&self) -> Vec<(&'static str, u64)> {
        FrameError::REASONS
            .iter()
            .zip(&self.errors)
            .map(|(r, c)| (*r, c.load(Ordering::Relaxed)))
            .collect()
    }

    /// The counters in Prometheus text format (`yingji_sl651_…`).
    pub fn prometheus(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut s = String::new();
        for (name, help, v) in [
            (
                "frames_ok_total",
                "SL 651 frames read and handled",
                g(&self.frames_ok),
            ),
            (
                "duplicates_total",
                "SL 651 reports dropped as duplicates",
                g(&self.duplicates),
            ),
            (
                "unknown_station_total",
                "SL 651 reports from stations not in the table",
                g(&self.unknown_station),
            ),
            (
                "events_total",
                "event lines made from SL 651 reports",
                g(&self.events),
            ),
            (
                "conflicts_total",
                "SL 651 readings left out for a field already set",
                g(&self.conflicts),
            ),
            ("replies_total", "SL 651 replies written", g(&self.replies)),
            (
                "connections_total",
                "SL 651 connections accepted",
                g(&self.connections),
            ),
        ] {
            s.push_str(&format!(
                "# HELP yingji_sl651_{name} {help}\n# TYPE yingji_sl651_{name} counter\nyingji_sl651_{name} {v}\n"
            ));
        }
        s.push_str("# HELP yingji_sl651_frames_refused_total SL 651 frames refused, by reason\n# TYPE yingji_sl651_frames_refused_total counter\n");
        for (r, v) in self.errors() {
            s.push_str(&format!(
                "yingji_sl651_frames_refused_total{{reason=\"{r}\"}} {v}\n"
            ));
        }
        s
    }
}

/// Settings of the server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The source name sent with each line (`sl651`).
    pub source: String,
    /// Reply ESC (the station stays online) instead of EOT.
    pub keep_online: bool,
    /// A frame still incomplete after this long without bytes is reported
    /// truncated and dropped.
    pub idle_timeout: Duration,
    /// How many reports (station, serial, send time) are remembered to
    /// recognise duplicates.
    pub dedupe_capacity: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            source: "sl651".into(),
            keep_online: false,
            idle_timeout: Duration::from_secs(10),
            dedupe_capacity: 65_536,
        }
    }
}

/// Serves SL 651 stations on `listener` with the default
/// [`ServerOptions`]: see [`serve_tcp_with`].
pub async fn serve_tcp(
    listener: TcpListener,
    table: Arc<StationTable>,
    tx: Sender<(String, String)>,
    stats: Arc<Sl651Stats>,
) {
    serve_tcp_with(listener, table, tx, stats, ServerOptions::default()).await;
}

/// Serves SL 651 stations: every connection is read frame by frame; each
/// report of a station in `table` becomes event lines sent on `tx` as
/// `(source, line)`; replies are written back (see [`super::session`]). A
/// bad frame is counted in `stats` by reason and logged (reason and bytes
/// in hex) and the connection stays up: reading resumes at the next start
/// of a frame. A report's lines are sent before its reply is written, so
/// a reply means the report is in (a full channel delays the reply, never
/// drops the report). Returns when `tx` is closed.
pub async fn serve_tcp_with(
    listener: TcpListener,
    table: Arc<StationTable>,
    tx: Sender<(String, String)>,
    stats: Arc<Sl651Stats>,
    opts: ServerOptions,
) {
    serve(listener, table, Handover::Lines(tx), stats, opts).await;
}

/// A station's report handed over by [`serve_tcp_reports`]: its event lines,
/// and the sender to confirm on once they are safe (journaled). The station
/// gets its reply only after the confirmation; a report dropped without one
/// closes the connection unanswered, so the station sends it again.
#[derive(Debug)]
pub struct Handed {
    /// The source name ([`ServerOptions::source`]).
    pub source: String,
    /// The report's event lines, in order (may be empty: a report of no
    /// readings the table maps).
    pub lines: Vec<String>,
    /// Send `()` here once the lines are safe.
    pub confirm: tokio::sync::oneshot::Sender<()>,
}

/// Serves SL 651 stations like [`serve_tcp_with`], but hands each report
/// over whole as a [`Handed`] report and writes the station's reply only after the
/// receiver confirms it: a reply then means the report is journaled, not
/// only sent (what `yingji serve` uses, so that a crash between the two
/// loses nothing a station was told had arrived). Returns when `tx` is
/// closed.
pub async fn serve_tcp_reports(
    listener: TcpListener,
    table: Arc<StationTable>,
    tx: Sender<Handed>,
    stats: Arc<Sl651Stats>,
    opts: ServerOptions,
) {
    serve(listener, table, Handover::Reports(tx), stats, opts).await;
}

/// Where a connection hands its reports.
#[derive(Clone)]
enum Handover {
    /// Line by line; the reply follows the last send.
    Lines(Sender<(String, String)>),
    /// A report at a time; the reply follows its confirmation.
    Reports(Sender<Handed>),
}

impl Handover {
    async fn closed(&self) {
        match self {
            Handover::Lines(tx) => tx.closed().await,
            Handover::Reports(tx) => tx.closed().await,
        }
    }
}

async fn serve(
    listener: TcpListener,
    table: Arc<StationTable>,
    tx: Handover,
    stats: Arc<Sl651Stats>,
    opts: ServerOptions,
) {
    let dedupe = Arc::new(Mutex::new(Dedupe::new(opts.dedupe_capacity)));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = tx.closed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                stats.connections.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "SL 651 station connected");
                let conn = Conn {
                    table: table.clone(),
                    tx: tx.clone(),
                    stats: stats.clone(),
                    dedupe: dedupe.clone(),
                    opts: opts.clone(),
                    peer: peer.to_string(),
                };
                tokio::spawn(conn.run(stream));
            }
            Err(e) => {
                // e.g. too many open files: wait a little, keep serving
                tracing::warn!(error = %e, "SL 651 accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

struct Conn {
    table: Arc<StationTable>,
    tx: Handover,
    stats: Arc<Sl651Stats>,
    dedupe: Arc<Mutex<Dedupe>>,
    opts: ServerOptions,
    peer: String,
}

impl Conn {
    async fn run(self, stream: TcpStream) {
        let (mut rd, mut wr) = stream.into_split();
        let mut reader = FrameReader::new();
        let mut session = Session::new(self.opts.keep_online);
        let mut buf = vec![0u8; 8192];
        loop {
            let read = tokio::time::timeout(self.opts.idle_timeout, rd.read(&mut buf)).await;
            let ended = match read {
                Err(_quiet) => {
                    if reader.pending() > 0
                        && !self.drain(&mut reader, &mut session, &mut wr, true).await
                    {
                        return;
                    }
                    continue;
                }
                Ok(Ok(0)) => true,
                Ok(Ok(n)) => {
                    reader.push(&buf[..n]);
                    false
                }
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "SL 651 read failed");
                    true
                }
            };
            if !self.drain(&mut reader, &mut session, &mut wr, ended).await || ended {
                tracing::debug!(peer = %self.peer, "SL 651 station disconnected");
                return;
            }
        }
    }

    /// Handles every complete frame; with `finish`, also what is left (a
    /// truncated frame). `false` when the engine side has gone.
    async fn drain(
        &self,
        reader: &mut FrameReader,
        session: &mut Session,
        wr: &mut tokio::net::tcp::OwnedWriteHalf,
        finish: bool,
    ) -> bool {
        loop {
            while let Some(found) = reader.next_frame() {
                if !self.found(found, session, wr).await {
                    return false;
                }
            }
            if !finish {
                return true;
            }
            match reader.finish() {
                Some(bad) => {
                    if !self.found(Err(bad), session, wr).await {
                        return false;
                    }
                }
                None => return true,
            }
        }
    }

    fn refused(&self, e: &FrameError, raw: &[u8]) {
        self.stats.count_error(e);
        tracing::warn!(
            peer = %self.peer,
            reason = e.reason(),
            error = %e,
            bytes = %to_hex(raw),
            "SL 651 frame refused"
        );
    }

    async fn found(
        &self,
        found: Found,
        session: &mut Session,
        wr: &mut tokio::net::tcp::OwnedWriteHalf,
    ) -> bool {
        let (frame, raw) = match found {
            Ok(f) => f,
            Err((e, raw)) => {
                self.refused(&e, &raw);
                // a damaged packet of a multi-packet message: ask for it again
                if let (FrameError::BadCrc { .. }, Ok(f)) = (&e, decode_ignoring_crc(&raw)) {
                    if let Some(n) = session.nak(&f, Clock::now()) {
                        self.write_reply(wr, &n).await;
                    }
                }
                return true;
            }
        };
        let handled = {
            let mut d = self.dedupe.lock().unwrap_or_else(|p| p.into_inner());
            session.handle(&frame, &mut d, Clock::now())
        };
        let h = match handled {
            Ok(h) => h,
            Err(e) => {
                self.refused(&e, &raw);
                return true;
            }
        };
        self.stats.frames_ok.fetch_add(1, Ordering::Relaxed);
        if h.duplicate {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
            tracing::info!(peer = %self.peer, station = %frame.station, "SL 651 duplicate report dropped");
        }
        if let Some(report) = &h.report {
            match self.table.get(&frame.station) {
                Some(st) => {
                    let ev = self.table.events(frame.station, st, report);
                    for c in &ev.conflicts {
                        self.stats.conflicts.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(station = %frame.station, conflict = %c, "SL 651 reading left out");
                    }
                    match &self.tx {
                        Handover::Lines(tx) => {
                            for line in ev.lines {
                                if tx.send((self.opts.source.clone(), line)).await.is_err() {
                                    return false;
                                }
                                self.stats.events.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Handover::Reports(tx) => {
                            let n = ev.lines.len() as u64;
                            let (confirm, confirmed) = tokio::sync::oneshot::channel();
                            let report = Handed {
                                source: self.opts.source.clone(),
                                lines: ev.lines,
                                confirm,
                            };
                            // no confirmation: no reply, the station sends again
                            if tx.send(report).await.is_err() || confirmed.await.is_err() {
                                return false;
                            }
                            self.stats.events.fetch_add(n, Ordering::Relaxed);
                        }
                    }
                }
                None => {
                    self.stats.unknown_station.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        peer = %self.peer,
                        station = %frame.station,
                        bytes = %to_hex(&raw),
                        "SL 651 report from a station not in the table"
                    );
                }
            }
        }
        if let Some(reply) = h.reply {
            self.write_reply(wr, &reply).await;
        }
        true
    }

    async fn write_reply(
        &self,
        wr: &mut tokio::net::tcp::OwnedWriteHalf,
        reply: &super::frame::Frame,
    ) {
        if let Err(e) = wr.write_all(&reply.encode()).await {
            tracing::debug!(peer = %self.peer, error = %e, "SL 651 reply failed");
        } else {
            self.stats.replies.fetch_add(1, Ordering::Relaxed);
        }
    }
}
