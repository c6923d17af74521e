//! The tokio API: streams of event lines in, a stream of outputs out.
//!
//! Several sources are merged; outputs go through a bounded channel, so a
//! slow consumer slows reading down (backpressure) instead of growing memory.
//! When every source ends the engine releases what the lateness held back
//! (unless told not to, to keep it for a saved state) and is handed back so
//! the caller can save its state: a clean shutdown loses nothing.
//!
//! - **Sources** are streams of `(position, line)` pairs ([`lines`] and
//!   [`lines_from`] read them from any `AsyncBufRead`, numbering lines from
//!   1). Outputs name the event that caused them (`"event"`): with one
//!   source that is its position, as `yingji run` numbers lines; with
//!   several, [`event_id`] makes the ids of different sources distinct
//!   (source `k`'s line `n` is `k · 2^40 + n`; [`event_source`] reads it
//!   back), so two sources' line 7 are two events.
//! - **Rejections** are typed ([`Rejection`]): a line longer than the
//!   `max_line` setting, text that is not UTF-8, or the engine's own
//!   [`LineError`] (which says what was wrong with the event).
//! - **Settings** are the engine's [`Config`](crate::Config) (lateness,
//!   far-ahead guard, `max_line`, …); [`Options`] says only how to run
//!   (flush at the end, checkpoints, a wall clock, a final time).
//! - **While it runs** the engine is the task's, and a [`Handle`] queries it
//!   between two lines: levels, the clock, a snapshot.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use futures::StreamExt;
//! use yingji::{Definitions, Level, stream::{Item, Options, Rejection, handle, run}};
//! let defs = Definitions::from_str("r.yj",
//!     "event rain { station: string, mm: number }\n\
//!      signal s { from rain key station level red when mm >= 10 }").unwrap();
//! let gauge = |lines: &[&str]| {
//!     let v: Vec<(u64, Vec<u8>)> = lines.iter().enumerate()
//!         .map(|(i, l)| (i as u64 + 1, l.as_bytes().to_vec())).collect();
//!     futures::stream::iter(v).boxed()
//! };
//! let a = gauge(&[r#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","station":"A","mm":12}"#]);
//! let b = gauge(&[r#"{"ts":"2024-07-29T03:11:00+08:00","kind":"rain","station":"B","mm":"lots"}"#]);
//! let (tx, rx) = tokio::sync::mpsc::channel(64);
//! let (query, requests) = handle();
//! let options = Options { requests: Some(requests), ..Options::default() };
//! let task = tokio::spawn(run(defs.engine().unwrap(), vec![a, b], tx, options));
//! let items: Vec<Item> = tokio_stream::wrappers::ReceiverStream::new(rx).collect().await;
//! // the output names its event: source 0, line 1
//! assert!(matches!(&items[..], [.., Item::Output(o)] if o.to_json().contains(r#""event":1,"#)));
//! // the rejection is typed, and names source 1, line 1
//! assert!(items.iter().any(|i| matches!(i,
//!     Item::Rejected { source: 1, seq: 1, reason: Rejection::Line(_), .. })));
//! let engine = task.await.unwrap();
//! assert_eq!(engine.level("s", "A"), Level::Red);
//! assert_eq!(query.level("s", "A").await, None, "the run is over: nobody answers");
//! # }
//! ```

use futures::stream::{BoxStream, StreamExt, select_all};
use tokio::sync::mpsc::Sender;
use yingji_engine::engine::ClockError;
use yingji_engine::time::Timestamp;
use yingji_engine::{Engine, Level, LineError, Output};

/// How long a live feed (`wall_clock`) may stay silent before the clock is
/// moved to the wall clock.
pub const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Bits of an event id that hold the position within its source (see
/// [`event_id`]).
pub const SOURCE_SHIFT: u32 = 40;

/// The event id of line `position` of source `source` (0-based, in the order
/// the sources were given): `source · 2^40 + position`. Source 0's ids are
/// its positions, so one source keeps its line numbers.
///
/// ```
/// use yingji::stream::{event_id, event_source};
/// assert_eq!(event_id(0, 17), 17);
/// assert_eq!(event_id(2, 17), 2 * (1 << 40) + 17);
/// assert_eq!(event_source(event_id(2, 17)), (2, 17));
/// ```
pub fn event_id(source: usize, position: u64) -> u64 {
    ((source as u64) << SOURCE_SHIFT) | (position & ((1 << SOURCE_SHIFT) - 1))
}

/// The source and position of an event id made by [`event_id`].
pub fn event_source(event: u64) -> (usize, u64) {
    (
        usize::try_from(event >> SOURCE_SHIFT).unwrap_or(usize::MAX),
        event & ((1 << SOURCE_SHIFT) - 1),
    )
}

/// Why a line was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Longer than the `max_line` setting ([`Config::max_line`](crate::Config::max_line)).
    #[error(
        "line longer than --max-line ({max_line} bytes): rejected unread, reading goes on at the next line (its first {max_line} bytes are what --rejects keeps)"
    )]
    TooLong {
        /// The setting.
        max_line: usize,
    },
    /// Not UTF-8 text.
    #[error("not UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
    /// The engine refused it (not an event of a known kind, out of time,
    /// a duplicate's conflict, …); nothing was applied.
    #[error(transparent)]
    Line(#[from] LineError),
}

/// What the stream yields.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "outputs are the common case; boxing them would allocate once per output"
)]
pub enum Item {
    /// An engine output.
    Output(Output),
    /// A line that was not accepted: where it came from, the raw bytes, why.
    Rejected {
        /// Its source (0-based, in the order the sources were given).
        source: usize,
        /// Position in its source (1-based line).
        seq: u64,
        /// The line as received (its first `max_line` bytes when too long).
        line: Vec<u8>,
        /// The reason.
        reason: Rejection,
    },
}

/// What [`run_marked`] sends: the items of [`run`] and, in order with them,
/// checkpoints, so that a consumer can make everything sent before a
/// checkpoint durable before it saves the checkpoint's state.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "items are the common case; boxing them would allocate once per output"
)]
pub enum Marked {
    /// An output or a rejected line.
    Item(Item),
    /// The engine's state after every item sent before this one.
    Checkpoint {
        /// [`Engine::snapshot`] (its host section set by the mark callback).
        snapshot: Vec<u8>,
        /// The last checkpoint of the run (after the end of input).
        last: bool,
    },
}

/// A periodic callback with the engine (e.g. saving its state).
pub type Checkpoint = Box<dyn FnMut(&Engine) + Send>;

/// Sets the engine's host section before a checkpoint snapshot of [`run_marked`].
pub type HostSection = Box<dyn FnMut(&mut Engine) + Send>;

/// A question for the running engine (see [`Handle::with`]).
type Request = Box<dyn FnOnce(&Engine) + Send>;

/// Queries the engine of a running stream: each call waits until the loop
/// is between two lines, asks, and returns the answer; `None` once the run
/// is over (the engine is then the caller's again). Clone it freely.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: tokio::sync::mpsc::Sender<Request>,
}

/// The receiving end of a [`Handle`]: give it to the run
/// ([`Options::requests`]).
pub struct Requests {
    rx: tokio::sync::mpsc::Receiver<Request>,
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Requests")
    }
}

/// A [`Handle`] and the [`Requests`] to give to [`Options::requests`].
pub fn handle() -> (Handle, Requests) {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    (Handle { tx }, Requests { rx })
}

impl Handle {
    /// Runs `f` on the engine between two lines and returns what it returns.
    pub async fn with<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let request: Request = Box::new(move |e: &Engine| {
            let _ = tx.send(f(e));
        });
        self.tx.send(request).await.ok()?;
        rx.await.ok()
    }

    /// The current level of `key` in `signal` ([`Engine::level`]).
    pub async fn level(&self, signal: &str, key: &str) -> Option<Level> {
        let (signal, key) = (signal.to_string(), key.to_string());
        self.with(move |e| e.level(&signal, &key)).await
    }

    /// The stream's clock ([`Engine::clock`]).
    pub async fn clock(&self) -> Option<Option<Timestamp>> {
        self.with(Engine::clock).await
    }

    /// The engine's complete state now ([`Engine::snapshot`]), to save or
    /// to restore elsewhere.
    pub async fn snapshot(&self) -> Option<Vec<u8>> {
        self.with(Engine::snapshot).await
    }
}

/// How to run (the engine's settings are its [`Config`](crate::Config):
/// the longest line accepted is its `max_line`).
pub struct Options {
    /// Release everything at the end (true), or keep the reorder buffer for
    /// a saved state (false).
    pub flush_at_end: bool,
    /// Called with the engine after every `n` lines (periodic state saves).
    /// [`run_marked`] uses only the `n`, and sends checkpoints instead.
    pub checkpoint: Option<(u64, Checkpoint)>,
    /// A live feed: when no line has arrived for a [`TICK`], move the clock
    /// to the wall clock ([`Engine::advance_to`]; the lateness still applies),
    /// so timers and absences fire while the feed is silent.
    pub wall_clock: bool,
    /// At the end of input, release everything and run the clock to this
    /// time ([`Engine::finish`]); implies `flush_at_end`.
    pub until: Option<Timestamp>,
    /// Questions from a [`Handle`], answered between two lines.
    pub requests: Option<Requests>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flush_at_end: true,
            checkpoint: None,
            wall_clock: false,
            until: None,
            requests: None,
        }
    }
}

/// The default `max_line` of [`Config`](crate::Config): 1 MiB.
pub const DEFAULT_MAX_LINE: usize = yingji_engine::config::DEFAULT_MAX_LINE;

/// The wall clock as a timestamp written with `offset_min`.
pub fn wall_now(offset_min: i16) -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp { ms, offset_min }
}

/// Lines between two readings of the wall clock for the far-ahead guard.
const WALL_REFRESH: u64 = 4096;

/// Why the loop asks for a checkpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// Every `n` lines.
    Every,
    /// A live feed went quiet after doing something.
    Idle,
    /// After the end of input.
    End,
}

/// Runs `engine` over the merged `sources` of `(position, line)` pairs,
/// sending outputs and rejects to `tx`; returns the engine when all sources
/// end (or the receiver is dropped). A refused `until` (earlier than the
/// clock) leaves the engine as at the end of input; [`run_marked`] reports it.
pub async fn run(
    mut engine: Engine,
    sources: Vec<BoxStream<'static, (u64, Vec<u8>)>>,
    tx: Sender<Item>,
    options: Options,
) -> Engine {
    let Options {
        flush_at_end,
        checkpoint,
        wall_clock,
        until,
        requests,
    } = options;
    let (every, mut save) = match checkpoint {
        Some((n, f)) => (n, Some(f)),
        None => (0, None),
    };
    let _ = drive(
        &mut engine,
        sources,
        &tx,
        |item| item,
        (flush_at_end, wall_clock, until, every, requests),
        |engine: &mut Engine, mark: Mark| {
            if mark == Mark::Every {
                if let Some(f) = save.as_mut() {
                    f(engine);
                }
            }
            None
        },
    )
    .await;
    engine
}

/// [`run`] with checkpoints in the channel (only with `options.checkpoint`;
/// its callback is not called): every `n` lines, when a live feed goes
/// quiet, and after the end of input, `host` sets the engine's host section
/// and a [`Marked::Checkpoint`] with the snapshot follows the items it
/// covers. Returns the engine and whether `options.until` was accepted (when
/// refused, no last checkpoint is sent).
pub async fn run_marked(
    mut engine: Engine,
    sources: Vec<BoxStream<'static, (u64, Vec<u8>)>>,
    tx: Sender<Marked>,
    options: Options,
    mut host: HostSection,
) -> (Engine, Result<(), ClockError>) {
    let every = options.checkpoint.as_ref().map_or(0, |(n, _)| *n);
    let marking = options.checkpoint.is_some();
    let result = drive(
        &mut engine,
        sources,
        &tx,
        Marked::Item,
        (
            options.flush_at_end,
            options.wall_clock,
            options.until,
            every,
            options.requests,
        ),
        |engine: &mut Engine, mark: Mark| {
            if !marking {
                return None;
            }
            host(engine);
            Some(Marked::Checkpoint {
                snapshot: engine.snapshot(),
                last: mark == Mark::End,
            })
        },
    )
    .await;
    (engine, result)
}

/// What the loop reads: a line of a source, or a question.
enum Input {
    Line((usize, u64, Vec<u8>)),
    Ask(Request),
    End,
}

/// The loop behind [`run`] and [`run_marked`]. `Err` only for a refused `until`.
async fn drive<T: Send + 'static>(
    engine: &mut Engine,
    sources: Vec<BoxStream<'static, (u64, Vec<u8>)>>,
    tx: &Sender<T>,
    wrap: impl Fn(Item) -> T,
    (flush_at_end, wall_clock, until, every, requests): (
        bool,
        bool,
        Option<Timestamp>,
        u64,
        Option<Requests>,
    ),
    mut mark: impl FnMut(&mut Engine, Mark) -> Option<T>,
) -> Result<(), ClockError> {
    let max_line = engine.config().max_line;
    // one source needs no merging (select_all polls through a FuturesUnordered per line)
    let lines: BoxStream<'static, (usize, u64, Vec<u8>)> = if sources.len() == 1 {
        let mut sources = sources;
        match sources.pop() {
            Some(only) => only.map(|(seq, line)| (0, seq, line)).boxed(),
            None => futures::stream::empty().boxed(),
        }
    } else {
        select_all(
            sources
                .into_iter()
                .enumerate()
                .map(|(k, s)| s.map(move |(seq, line)| (k, seq, line)).boxed()),
        )
        .boxed()
    };
    // questions from a handle come in with the lines, answered between two;
    // the end of the lines ends the run, whoever still holds a handle
    let lines = lines
        .map(Input::Line)
        .chain(futures::stream::once(async { Input::End }));
    let mut merged = match requests {
        Some(r) => futures::stream::select(
            lines,
            tokio_stream::wrappers::ReceiverStream::new(r.rx).map(Input::Ask),
        )
        .boxed(),
        None => lines.boxed(),
    };
    let mut out = Vec::new();
    let mut n = 0u64;
    // no sensor reports from the future: events far ahead of the wall clock
    // are refused as `clock_suspect` (refreshed as the run goes on)
    engine.set_wall_time(wall_now(0).ms);
    // something happened since the last checkpoint (for idle checkpoints of live feeds)
    let mut dirty = false;
    loop {
        let next = if wall_clock {
            // `next()` is cancel-safe: a line being read stays in the stream
            tokio::time::timeout(TICK, merged.next()).await.ok()
        } else {
            Some(merged.next().await)
        };
        let Some(next) = next else {
            let offset = engine.clock().map_or(8 * 60, |c| c.offset_min);
            let now = wall_now(offset);
            engine.set_wall_time(now.ms);
            engine.advance_to(now, &mut out);
            dirty |= !out.is_empty();
            for o in out.drain(..) {
                if tx.send(wrap(Item::Output(o))).await.is_err() {
                    return Ok(());
                }
            }
            if dirty {
                dirty = false;
                if let Some(m) = mark(engine, Mark::Idle) {
                    if tx.send(m).await.is_err() {
                        return Ok(());
                    }
                }
            }
            continue;
        };
        let (source, seq, raw) = match next {
            None | Some(Input::End) => break,
            Some(Input::Ask(f)) => {
                f(engine);
                continue;
            }
            Some(Input::Line(l)) => l,
        };
        n += 1;
        if n.is_multiple_of(WALL_REFRESH) {
            engine.set_wall_time(wall_now(0).ms);
        }
        dirty = true;
        let line = raw.strip_suffix(b"\r").unwrap_or(&raw);
        if !line.iter().all(u8::is_ascii_whitespace) {
            let too_long = raw.len() > max_line;
            let result = if too_long {
                Err(Rejection::TooLong { max_line })
            } else {
                Ok(())
            };
            let result = result.and_then(|()| match std::str::from_utf8(line) {
                Ok(text) => engine
                    .push_line(text, event_id(source, seq), &mut out)
                    .map_err(Rejection::Line),
                Err(e) => Err(Rejection::NotUtf8(e)),
            });
            if let Err(reason) = result {
                let kept = if too_long {
                    raw.get(..max_line).unwrap_or(&raw)
                } else {
                    line
                };
                let item = Item::Rejected {
                    source,
                    seq,
                    line: kept.to_vec(),
                    reason,
                };
                if tx.send(wrap(item)).await.is_err() {
                    return Ok(());
                }
            }
            for o in out.drain(..) {
                if tx.send(wrap(Item::Output(o))).await.is_err() {
                    return Ok(());
                }
            }
        }
        if every > 0 && n.is_multiple_of(every) {
            dirty = false;
            if let Some(m) = mark(engine, Mark::Every) {
                if tx.send(m).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if until.is_some() || flush_at_end {
        engine.finish(until, &mut out)?;
        for o in out.drain(..) {
            if tx.send(wrap(Item::Output(o))).await.is_err() {
                return Ok(());
            }
        }
    }
    if let Some(m) = mark(engine, Mark::End) {
        let _ = tx.send(m).await;
    }
    Ok(())
}

/// The hash of an input prefix the CLI keeps, so that a state file can tell
/// whether a rerun reads the same input: line by line (each line without its
/// newline), `H = XXH3-64(line, seed = H)`, starting from `H = 0` for no
/// input; a last line without a newline counts as a line. Lines are hashed
/// as they are read (XXH3 is a few instructions per 16 bytes, so this costs
/// the run next to nothing), and [`PrefixHash`] rebuilds it from the raw
/// bytes of a file.
///
/// ```
/// use yingji::stream::{PrefixHash, hash_line};
/// let by_lines = hash_line(hash_line(0, b"{\"a\":1}"), b"{\"b\":2}");
/// let mut raw = PrefixHash::default();
/// raw.update(b"{\"a\":1}\n{\"b\"");
/// raw.update(b":2}");
/// assert_eq!(raw.finish(), by_lines);
/// assert_ne!(hash_line(0, b"x"), hash_line(0, b"y"));
/// ```
pub fn hash_line(hash: u64, line: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(line, hash)
}

/// [`hash_line`] over raw bytes given in any chunks (split at newlines). A
/// line split across chunks is hashed as it streams by (XXH3 seeded with the
/// hash so far), so a very long line is never held.
#[derive(Clone, Default)]
pub struct PrefixHash {
    hash: u64,
    /// The current line's hash so far, when it has bytes.
    partial: Option<xxhash_rust::xxh3::Xxh3>,
}

impl std::fmt::Debug for PrefixHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixHash")
            .field("hash", &self.hash)
            .field("in_line", &self.partial.is_some())
            .finish()
    }
}

impl PrefixHash {
    /// Takes the next bytes of the input.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while let Some(i) = memchr::memchr(b'\n', bytes) {
            let (line, rest) = bytes.split_at(i);
            self.hash = match self.partial.take() {
                None => hash_line(self.hash, line),
                Some(mut h) => {
                    h.update(line);
                    h.digest()
                }
            };
            bytes = rest.get(1..).unwrap_or_default();
        }
        if !bytes.is_empty() {
            let seed = self.hash;
            self.partial
                .get_or_insert_with(|| xxhash_rust::xxh3::Xxh3::with_seed(seed))
                .update(bytes);
        }
    }

    /// The hash of everything given (a last line without a newline included).
    pub fn finish(&self) -> u64 {
        match &self.partial {
            None => self.hash,
            Some(h) => h.digest(),
        }
    }
}

/// How much of an input the lines handed out so far cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// Lines handed out (the last line's number).
    pub lines: u64,
    /// Bytes those lines took, newlines included.
    pub bytes: u64,
    /// [`hash_line`] over those lines.
    pub hash: u64,
}

/// The live [`Position`] of a stream made by [`lines_from`].
#[derive(Clone, Debug, Default)]
pub struct Progress(std::sync::Arc<std::sync::Mutex<Position>>);

impl Progress {
    /// Where the stream is: after the last line it handed out.
    pub fn get(&self) -> Position {
        self.0.lock().map(|p| *p).unwrap_or_default()
    }

    fn advance(&self, line: &[u8], newline: bool) {
        if let Ok(mut p) = self.0.lock() {
            p.lines += 1;
            p.bytes += line.len() as u64 + u64::from(newline);
            p.hash = hash_line(p.hash, line);
        }
    }

    /// A line hashed as it streamed by (too long to keep).
    fn advance_hashed(&self, hash: u64, len: u64, newline: bool) {
        if let Ok(mut p) = self.0.lock() {
            p.lines += 1;
            p.bytes += len + u64::from(newline);
            p.hash = hash;
        }
    }
}

/// Where [`lines_checked`] leaves a read error: the stream of lines simply
/// ends, and the caller asks here whether it ended because the input did.
#[derive(Clone, Debug, Default)]
pub struct ReadError(std::sync::Arc<std::sync::Mutex<Option<(u64, std::io::Error)>>>);

impl ReadError {
    /// The error that ended the stream, with the number of lines read before it.
    pub fn take(&self) -> Option<(u64, std::io::Error)> {
        self.0.lock().ok().and_then(|mut e| e.take())
    }

    fn set(&self, after: u64, e: std::io::Error) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((after, e));
        }
    }
}

/// Lines of an async reader as `(line number, bytes)`, for [`run`]; the
/// stream ends at the end of the input or at the first read error, which is
/// then in the returned [`ReadError`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use futures::StreamExt;
/// let (lines, err) = yingji::stream::lines_checked(&b"{}\n{}\n"[..]);
/// assert_eq!(lines.count().await, 2);
/// assert!(err.take().is_none());
/// # }
/// ```
pub fn lines_checked<R: tokio::io::AsyncBufRead + Unpin + Send + 'static>(
    reader: R,
) -> (BoxStream<'static, (u64, Vec<u8>)>, ReadError) {
    let (stream, err, _) = lines_from(reader, Position::default(), false, DEFAULT_MAX_LINE);
    (stream, err)
}

/// [`lines_checked`] for a reader already at `start` (a resumed input: line
/// numbers go on from `start.lines`), with the live [`Progress`]. With
/// `follow`, the end of the input is not the end of the stream: it waits for
/// more bytes like `tail -f` (a last line without a newline waits for it).
/// A line longer than `max_line` bytes is handed over cut to its first
/// `max_line + 1` bytes (so [`run`] with the same `max_line` rejects it) and
/// is never held whole: the rest streams through the hash and is dropped;
/// the [`Progress`] still counts all its bytes and hashes all of it.
pub fn lines_from<R: tokio::io::AsyncBufRead + Unpin + Send + 'static>(
    reader: R,
    start: Position,
    follow: bool,
    max_line: usize,
) -> (BoxStream<'static, (u64, Vec<u8>)>, ReadError, Progress) {
    let err = ReadError::default();
    let progress = Progress(std::sync::Arc::new(std::sync::Mutex::new(start)));
    let stream = Lines {
        reader,
        n: start.lines,
        partial: Vec::new(),
        err: err.clone(),
        done: false,
        progress: progress.clone(),
        follow,
        sleep: None,
        max_line,
        long: None,
    };
    (stream.boxed(), err, progress)
}

/// How often a followed input is polled for more bytes at its end.
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// The stream behind [`lines_checked`]: lines found with `memchr` in the
/// reader's own buffer and copied out once (a line split across two reads
/// is gathered in `partial`).
struct Lines<R> {
    reader: R,
    n: u64,
    partial: Vec<u8>,
    err: ReadError,
    done: bool,
    progress: Progress,
    follow: bool,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    max_line: usize,
    /// A line past `max_line`: its hash so far and full length (`partial`
    /// keeps only its first `max_line + 1` bytes).
    long: Option<(xxhash_rust::xxh3::Xxh3, u64)>,
}

impl<R: tokio::io::AsyncBufRead + Unpin> Lines<R> {
    /// Takes `bytes` of the current line (not its newline).
    fn take_part(&mut self, bytes: &[u8]) {
        if let Some((h, len)) = self.long.as_mut() {
            h.update(bytes);
            *len += bytes.len() as u64;
        } else if self.partial.len() + bytes.len() > self.max_line {
            let mut h = xxhash_rust::xxh3::Xxh3::with_seed(self.progress.get().hash);
            h.update(&self.partial);
            h.update(bytes);
            let len = (self.partial.len() + bytes.len()) as u64;
            let keep = (self.max_line + 1).saturating_sub(self.partial.len());
            self.partial
                .extend_from_slice(bytes.get(..keep).unwrap_or(bytes));
            self.long = Some((h, len));
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    /// The current line ends (at a newline, or at the end of input).
    fn end_line(&mut self, newline: bool) -> (u64, Vec<u8>) {
        self.n += 1;
        let line = std::mem::take(&mut self.partial);
        match self.long.take() {
            Some((h, len)) => self.progress.advance_hashed(h.digest(), len, newline),
            None => self.progress.advance(&line, newline),
        }
        (self.n, line)
    }
}

impl<R: tokio::io::AsyncBufRead + Unpin> futures::Stream for Lines<R> {
    type Item = (u64, Vec<u8>);

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::future::Future;
        use std::task::Poll;
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => this.sleep = None,
                }
            }
            let mut reader = std::pin::Pin::new(&mut this.reader);
            let available = match reader.as_mut().poll_fill_buf(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    this.err.set(this.n, e);
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(b)) => b,
            };
            if available.is_empty() {
                if this.follow {
                    // like `tail -f`: look again in a moment
                    this.sleep = Some(Box::pin(tokio::time::sleep(FOLLOW_POLL)));
                    continue;
                }
                // end of input: a last line without a newline still counts
                this.done = true;
                if this.partial.is_empty() {
                    return Poll::Ready(None);
                }
                return Poll::Ready(Some(this.end_line(false)));
            }
            match memchr::memchr(b'\n', available) {
                Some(i) => {
                    let head = available.get(..i).unwrap_or_default();
                    if this.partial.is_empty() && i <= this.max_line {
                        // the common case: the whole line in the buffer, one copy
                        let line = head.to_vec();
                        reader.consume(i + 1);
                        this.n += 1;
                        this.progress.advance(&line, true);
                        return Poll::Ready(Some((this.n, line)));
                    }
                    let head = head.to_vec();
                    reader.consume(i + 1);
                    this.take_part(&head);
                    return Poll::Ready(Some(this.end_line(true)));
                }
                None => {
                    let chunk = available.to_vec();
                    reader.consume(chunk.len());
                    this.take_part(&chunk);
                }
            }
        }
    }
}

/// Lines of an async reader as `(line number, bytes)`, for [`run`]; ends at
/// the end of the input or at the first read error (use [`lines_checked`]
/// to tell the two apart).
pub fn lines<R: tokio::io::AsyncBufRead + Unpin + Send + 'static>(
    reader: R,
) -> BoxStream<'static, (u64, Vec<u8>)> {
    lines_checked(reader).0
}

#[cfg(test)]
#[allow(clippy::expect_used, reason = "test")]
mod tests {
    use super::*;

    fn read_all(input: &'static [u8], capacity: usize) -> Vec<(u64, Vec<u8>)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (lines, err) = lines_checked(tokio::io::BufReader::with_capacity(capacity, input));
            let got: Vec<_> = lines.collect().await;
            assert!(err.take().is_none());
            got
        })
    }

    #[test]
    fn lines_are_split_the_same_whatever_the_read_size() {
        let input: &[u8] = b"first\n\nthird line, longer than a buffer\r\nlast without newline";
        let expected: Vec<(u64, Vec<u8>)> = vec![
            (1, b"first".to_vec()),
            (2, b"".to_vec()),
            (3, b"third line, longer than a buffer\r".to_vec()),
            (4, b"last without newline".to_vec()),
        ];
        for capacity in [1, 2, 3, 7, 64, 1 << 16] {
            assert_eq!(read_all(input, capacity), expected, "buffer of {capacity}");
        }
        assert_eq!(read_all(b"a\n", 1), vec![(1, b"a".to_vec())]);
        assert!(read_all(b"", 4).is_empty());
    }

    #[test]
    fn a_line_past_max_line_is_cut_but_counted_and_hashed_whole() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 5000));
        input.extend(b"\nafter\n");
        input.extend(std::iter::repeat_n(b'y', 3000)); // a long last line, no newline
        let input: &'static [u8] = Box::leak(input.into_boxed_slice());
        for capacity in [1, 7, 64, 4096, 1 << 16] {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            let (got, at) = rt.block_on(async {
                let (lines, _, progress) = lines_from(
                    tokio::io::BufReader::with_capacity(capacity, input),
                    Position::default(),
                    false,
                    100,
                );
                (lines.collect::<Vec<_>>().await, progress.get())
            });
            let lens: Vec<(u64, usize)> = got.iter().map(|(n, l)| (*n, l.len())).collect();
            assert_eq!(
                lens,
                [(1, 5), (2, 101), (3, 5), (4, 101)],
                "buffer {capacity}"
            );
            assert!(
                got.get(1)
                    .is_some_and(|(_, l)| l.iter().all(|&b| b == b'x'))
            );
            let mut whole = PrefixHash::default();
            whole.update(input);
            assert_eq!(at.lines, 4);
            assert_eq!(at.bytes, input.len() as u64);
            assert_eq!(at.hash, whole.finish(), "buffer {capacity}");
        }
    }
}
