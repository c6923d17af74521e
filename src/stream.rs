//! The tokio API: a stream of event lines in, a stream of outputs out.
//!
//! Several sources are merged; outputs go through a bounded channel, so a
//! slow consumer slows reading down (backpressure) instead of growing memory.
//! When every source ends the engine releases what the lateness held back
//! (unless told not to, to keep it for a saved state) and is handed back so
//! the caller can save its state: a clean shutdown loses nothing.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use futures::StreamExt;
//! use yingji::{Definitions, stream::{Item, Options, run}};
//! let defs = Definitions::from_str("r.yj",
//!     "event rain { station: string, mm: number }\n\
//!      signal s { from rain key station level red when mm >= 10 }").unwrap();
//! let lines = futures::stream::iter(vec![
//!     (1, br#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","station":"A","mm":12}"#.to_vec()),
//! ]);
//! let (tx, rx) = tokio::sync::mpsc::channel(64);
//! let engine = defs.engine().unwrap();
//! let task = tokio::spawn(run(engine, vec![lines.boxed()], tx, Options::default()));
//! let items: Vec<Item> = tokio_stream::wrappers::ReceiverStream::new(rx).collect().await;
//! assert!(matches!(&items[0], Item::Output(o) if o.to_json().contains(r#""to":"red""#)));
//! let _engine = task.await.unwrap();
//! # }
//! ```

use futures::stream::{BoxStream, StreamExt, select_all};
use tokio::sync::mpsc::Sender;
use yingji_engine::{Engine, Output};

/// What the stream yields.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "outputs are the common case; boxing them would allocate once per output"
)]
pub enum Item {
    /// An engine output.
    Output(Output),
    /// A line that was not accepted: its position, the raw bytes, why.
    Rejected {
        /// Position in its source (1-based line).
        seq: u64,
        /// The line as received.
        line: Vec<u8>,
        /// The reason.
        reason: String,
    },
}

/// A periodic callback with the engine (e.g. saving its state).
pub type Checkpoint = Box<dyn FnMut(&Engine) + Send>;

/// How to run.
pub struct Options {
    /// Release everything at the end (true), or keep the reorder buffer for
    /// a saved state (false).
    pub flush_at_end: bool,
    /// Called with the engine after every `n` lines (periodic state saves).
    pub checkpoint: Option<(u64, Checkpoint)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            flush_at_end: true,
            checkpoint: None,
        }
    }
}

/// Runs `engine` over the merged `sources` of `(position, line)` pairs,
/// sending outputs and rejects to `tx`; returns the engine when all sources
/// end (or the receiver is dropped).
pub async fn run(
    mut engine: Engine,
    sources: Vec<BoxStream<'static, (u64, Vec<u8>)>>,
    tx: Sender<Item>,
    mut options: Options,
) -> Engine {
    // one source needs no merging (select_all polls through a FuturesUnordered per line)
    let mut merged: BoxStream<'static, (u64, Vec<u8>)> = if sources.len() == 1 {
        let mut sources = sources;
        match sources.pop() {
            Some(only) => only,
            None => futures::stream::empty().boxed(),
        }
    } else {
        select_all(sources).boxed()
    };
    let mut out = Vec::new();
    let mut n = 0u64;
    while let Some((seq, raw)) = merged.next().await {
        n += 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(&raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let result = match std::str::from_utf8(line) {
            Ok(text) => engine
                .push_line(text, seq, &mut out)
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        if let Err(reason) = result {
            let item = Item::Rejected {
                seq,
                line: line.to_vec(),
                reason,
            };
            if tx.send(item).await.is_err() {
                return engine;
            }
        }
        for o in out.drain(..) {
            if tx.send(Item::Output(o)).await.is_err() {
                return engine;
            }
        }
        if let Some((every, save)) = options.checkpoint.as_mut() {
            if *every > 0 && n % *every == 0 {
                save(&engine);
            }
        }
    }
    if options.flush_at_end {
        engine.flush(&mut out);
        for o in out.drain(..) {
            if tx.send(Item::Output(o)).await.is_err() {
                break;
            }
        }
    }
    engine
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
    let err = ReadError::default();
    let stream = Lines {
        reader,
        n: 0,
        partial: Vec::new(),
        err: err.clone(),
        done: false,
    };
    (stream.boxed(), err)
}

/// The stream behind [`lines_checked`]: lines found with `memchr` in the
/// reader's own buffer and copied out once (a line split across two reads
/// is gathered in `partial`).
struct Lines<R> {
    reader: R,
    n: u64,
    partial: Vec<u8>,
    err: ReadError,
    done: bool,
}

impl<R: tokio::io::AsyncBufRead + Unpin> futures::Stream for Lines<R> {
    type Item = (u64, Vec<u8>);

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
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
                // end of input: a last line without a newline still counts
                this.done = true;
                if this.partial.is_empty() {
                    return Poll::Ready(None);
                }
                this.n += 1;
                return Poll::Ready(Some((this.n, std::mem::take(&mut this.partial))));
            }
            match memchr::memchr(b'\n', available) {
                Some(i) => {
                    let line = match available.get(..i) {
                        Some(head) if this.partial.is_empty() => head.to_vec(),
                        Some(head) => {
                            this.partial.extend_from_slice(head);
                            std::mem::take(&mut this.partial)
                        }
                        None => std::mem::take(&mut this.partial),
                    };
                    reader.consume(i + 1);
                    this.n += 1;
                    return Poll::Ready(Some((this.n, line)));
                }
                None => {
                    let len = available.len();
                    this.partial.extend_from_slice(available);
                    reader.consume(len);
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
}
