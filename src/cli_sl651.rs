//! `yingji sl651`: SL 651-2014 tools for trying `yingji serve` without
//! gauges: `encode` turns JSONL events into frames (hex, one per line), and
//! `send` replays such a file to a centre over TCP, printing the replies.

use std::io::{self, BufRead, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use yingji_serve::sl651::hex::{read_corpus, to_hex};
use yingji_serve::sl651::replay::Replayer;
use yingji_serve::sl651::{Encoding, FrameReader, Function, StationTable, decode};

/// The `sl651` subcommands.
#[derive(clap::Subcommand)]
pub enum Sl651Cmd {
    /// Replay the frames of a file (hex, one per line, `#` comments) to a
    /// centre, waiting for each reply; prints one line per frame.
    Send {
        /// The centre, `HOST:PORT`.
        #[arg(long)]
        to: String,
        /// The frame file (e.g. serve/tests/corpus/good.hex, or `encode`'s output).
        file: PathBuf,
        /// Pause between frames, milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// How long to wait for a reply, milliseconds.
        #[arg(long, default_value_t = 2000)]
        reply_timeout_ms: u64,
    },
    /// Turn JSONL events (e.g. samples/rain.jsonl) into SL 651 timed
    /// reports of the table's stations, hex, one frame per line.
    Encode {
        /// The station table (e.g. samples/sl651/stations.yaml).
        #[arg(long)]
        stations: PathBuf,
        /// The event file.
        #[arg(long)]
        events: PathBuf,
        /// `hex` (HEX/BCD frames) or `ascii`.
        #[arg(long, default_value = "hex")]
        encoding: String,
    },
}

/// Runs a subcommand.
pub fn run(cmd: Sl651Cmd) -> ExitCode {
    let r = match cmd {
        Sl651Cmd::Send {
            to,
            file,
            delay_ms,
            reply_timeout_ms,
        } => send(&to, &file, delay_ms, reply_timeout_ms),
        Sl651Cmd::Encode {
            stations,
            events,
            encoding,
        } => encode(&stations, &events, &encoding),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("yingji: {e}");
            ExitCode::from(1)
        }
    }
}

fn send(to: &str, file: &Path, delay_ms: u64, timeout_ms: u64) -> io::Result<ExitCode> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))?;
    let frames = match read_corpus(&text) {
        Ok(f) => f,
        Err((line, e)) => {
            eprintln!("yingji: {}:{line}: {e}", file.display());
            return Ok(ExitCode::from(1));
        }
    };
    let mut s =
        TcpStream::connect(to).map_err(|e| io::Error::new(e.kind(), format!("{to}: {e}")))?;
    let mut reader = FrameReader::new();
    let mut out = io::stdout().lock();
    let (mut replies, mut silent) = (0u64, 0u64);
    for (line, bytes) in &frames {
        s.write_all(bytes)?;
        // a keep-alive and a frame that does not read get no reply
        let expect = decode(bytes).is_ok_and(|f| f.function != Function::LinkKeepAlive);
        let what = match decode(bytes) {
            Ok(f) => format!(
                "{:02X} {} station {}",
                f.function.code(),
                f.function.name(),
                f.station
            ),
            Err(e) => format!("not a frame ({}): {e}", e.reason()),
        };
        let reply = if expect {
            wait_reply(&mut s, &mut reader, Duration::from_millis(timeout_ms))?
        } else {
            None
        };
        match reply {
            Some(r) => {
                replies += 1;
                writeln!(
                    out,
                    "{}:{line}: {what} → {:?} ({})",
                    file.display(),
                    r.0,
                    r.1
                )?;
            }
            None => {
                silent += 1;
                writeln!(out, "{}:{line}: {what} → no reply", file.display())?;
            }
        }
        if delay_ms > 0 {
            std::thread::sleep(Duration::from_millis(delay_ms));
        }
    }
    eprintln!(
        "yingji: sent {} frame(s) to {to}: {replies} replied to, {silent} without a reply",
        frames.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The next reply's end character and bytes (hex), or `None` after `timeout`.
fn wait_reply(
    s: &mut TcpStream,
    reader: &mut FrameReader,
    timeout: Duration,
) -> io::Result<Option<(yingji_serve::sl651::End, String)>> {
    let until = Instant::now() + timeout;
    let mut buf = [0u8; 1024];
    loop {
        if let Some(found) = reader.next_frame() {
            if let Ok((f, raw)) = found {
                return Ok(Some((f.end, to_hex(&raw))));
            }
            continue;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => reader.push(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
    }
}

fn encode(stations: &Path, events: &Path, encoding: &str) -> io::Result<ExitCode> {
    let encoding = match encoding {
        "hex" => Encoding::Hex,
        "ascii" => Encoding::Ascii,
        other => {
            eprintln!("yingji: --encoding {other}: use hex or ascii");
            return Ok(ExitCode::from(2));
        }
    };
    let table = match StationTable::load(stations) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("yingji: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let f = std::fs::File::open(events)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", events.display())))?;
    let mut rep = Replayer::new(&table, encoding);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let (mut frames, mut skipped, mut bad) = (0u64, 0u64, 0u64);
    for (n, line) in io::BufReader::new(f).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match rep.frame(&line) {
            Ok(Some(fr)) => {
                frames += 1;
                writeln!(out, "{}", to_hex(&fr.encode()))?;
            }
            Ok(None) => skipped += 1,
            Err(e) => {
                bad += 1;
                eprintln!("{}:{}: {e}", events.display(), n + 1);
            }
        }
    }
    out.flush()?;
    eprintln!(
        "yingji: {frames} frame(s); {skipped} event(s) the station table does not map; {bad} refused"
    );
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
