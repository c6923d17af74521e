//! `yingji replay --threads N`: the replay's reading and parsing on N − 1
//! threads, the engine on one, outputs identical to the single-threaded run.
//!
//! **What runs in parallel.** The event files are read (and gunzipped) on
//! one thread each, then cut into line-aligned chunks of about
//! [`CHUNK_BYTES`] (a cut falls just after a `\n`, so a chunk's
//! `str::lines` are exactly the file's lines there). Chunk `c` is parsed by
//! reading thread `c mod (N − 1)` with the engine's own parser
//! ([`yingji::unstable::engine::event::Schema::parse_cached`] over the JSONL
//! scanner, each thread with its own text cache); the engine thread takes
//! the chunks back in input order and applies every line with
//! [`yingji::Engine::push_parsed_line`], which is `push_line` minus the parse.
//! Input positions (`seq`) are known before parsing (a `memchr` count of
//! each chunk's lines), so every event, every output's `event` and every
//! rejection carries the position the single-threaded run gives it.
//!
//! (Definitions that *declare* independent partitions, `partition by F`,
//! run one engine per value instead, on N engine threads:
//! `crate::cli_partitioned`.)
//!
//! **Why the engine is not partitioned by key (yet).** Everything after the
//! parse depends on state that is global to the run, not to a key:
//!
//! - the quorum clock (the second latest source time, a source followed
//!   alone after 32 events in a row) decides for every event whether it is
//!   late, whether it is `clock_suspect`, and when each instant is released;
//!   a partition fed only its own keys would see another clock;
//! - duplicates by `id` are recognised across all keys;
//! - level changes of any key start and wake plans (county-level plans such
//!   as `plans/overall.yaml` read every township), `from SIGNAL` signals and
//!   `via` member aggregates read other keys' levels, scripts share one
//!   failure limiter, and within one instant the outputs of different keys
//!   interleave in kind and content order, then timers, then acks.
//!
//! A key-partitioned engine would need every partition to run the ingest
//! decisions (clock, lateness, duplicates) over *every* event while filing
//! only its own keys, an engine-exposed ordering key (instant, phase, rank
//! in the instant's group) to merge outputs before numbering them, and a
//! separate stage for plans fed the merged level changes; none of that is
//! built. On this machine's 2 cores the pipeline takes the parse (the
//! largest single cost of a line) off the engine thread, which is what a
//! second core can do; BENCHMARKS.md ("Parallel replay") has the figures.

use crate::cli_replay::{Rejected, Replayed, Source};
use std::sync::mpsc;
use yingji::unstable::engine::event::{Event, EventError, Schema, TextCache};
use yingji::unstable::engine::ir::Program;
use yingji::{Engine, Output};

/// About how many bytes of events one chunk holds.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Chunks a reading thread may have parsed ahead of the engine thread.
const AHEAD: usize = 2;

/// A line-aligned piece of one source.
pub(crate) struct Chunk<'a> {
    /// Index of its source.
    pub src: usize,
    /// Its text (whole lines; the last chunk of a source may lack the final
    /// newline).
    pub text: &'a str,
    /// The input position of its first line.
    pub first_seq: u64,
    /// The line number, in its source, of its first line (0-based).
    pub first_line: usize,
}

/// Cuts the sources into line-aligned chunks, numbering lines on through
/// them as [`crate::cli_replay::numbered`] does.
pub(crate) fn chunks(sources: &[Source], size: usize) -> Vec<Chunk<'_>> {
    let mut v = Vec::new();
    let mut seq = 0u64;
    for (src, s) in sources.iter().enumerate() {
        let bytes = s.text.as_bytes();
        let (mut start, mut line) = (0usize, 0usize);
        while start < bytes.len() {
            let mut end = start.saturating_add(size.max(1)).min(bytes.len());
            if end < bytes.len() {
                end = bytes
                    .get(end..)
                    .and_then(|rest| memchr::memchr(b'\n', rest))
                    .map_or(bytes.len(), |i| end + i + 1);
            }
            // `end` is just after a `\n` or the end: a char boundary
            let Some(text) = s.text.get(start..end) else {
                break;
            };
            let n = memchr::memchr_iter(b'\n', text.as_bytes()).count()
                + usize::from(!text.ends_with('\n'));
            v.push(Chunk {
                src,
                text,
                first_seq: seq + 1,
                first_line: line,
            });
            seq += n as u64;
            line += n;
            start = end;
        }
    }
    v
}

/// Parses a chunk's lines that are not blank, in order.
fn parse_chunk(
    c: &Chunk<'_>,
    schema: &Schema,
    program: &Program,
    texts: &mut TextCache,
    spare: &mut Vec<Event>,
) -> Vec<Result<Event, EventError>> {
    let mut v = Vec::with_capacity(c.text.len() / 64 + 1);
    for (seq, line) in (c.first_seq..).zip(c.text.lines()) {
        if !line.trim().is_empty() {
            let mut ev = spare.pop().unwrap_or_else(|| Event::empty(seq));
            v.push(
                schema
                    .parse_cached(line, program, seq, &mut ev, texts)
                    .map(|()| ev),
            );
        }
    }
    v
}

/// Reads the event files, one thread per file; the first file that cannot
/// be read (in the order given) is the error, as when reading them in turn.
pub(crate) fn read_sources(files: &[std::path::PathBuf]) -> Result<Vec<Source>, String> {
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| s.spawn(move || Source::file(f)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a reading thread failed".to_string()))
            })
            .collect()
    })
}

/// Applies the sources' lines to `engine` as the single-threaded replay
/// does, parsing on `threads − 1` reading threads (at least one).
pub(crate) fn push_all(
    engine: &mut Engine,
    sources: &[Source],
    (threads, chunk_bytes): (usize, usize),
    r: &mut Replayed,
    kind_of: fn(&str) -> String,
) -> Result<(), String> {
    let workers = threads.saturating_sub(1).max(1);
    let chunks = chunks(sources, chunk_bytes);
    let schema = engine.schema().clone();
    let program = engine.program().clone();
    std::thread::scope(|s| {
        let mut rxs = Vec::with_capacity(workers);
        let mut spare_txs = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Vec<Result<Event, EventError>>>(AHEAD);
            let (spare_tx, spare_rx) = mpsc::channel::<Vec<Event>>();
            rxs.push(rx);
            spare_txs.push(spare_tx);
            let (chunks, schema, program) = (&chunks, &schema, &program);
            s.spawn(move || {
                let mut texts = TextCache::default();
                let mut spare = Vec::new();
                for c in chunks.iter().skip(w).step_by(workers) {
                    while let Ok(mut more) = spare_rx.try_recv() {
                        spare.append(&mut more);
                    }
                    if tx
                        .send(parse_chunk(c, schema, program, &mut texts, &mut spare))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
        let mut out: Vec<Output> = std::mem::take(&mut r.outputs);
        for (i, c) in chunks.iter().enumerate() {
            let w = i % workers;
            let parsed = rxs
                .get(w)
                .and_then(|rx| rx.recv().ok())
                .ok_or_else(|| "a reading thread stopped".to_string())?;
            let mut parsed = parsed.into_iter();
            let name = sources.get(c.src).map_or("?", |s| s.name.as_str());
            let first_line = sources.get(c.src).map_or(1, |s| s.first_line);
            let mut back = Vec::new();
            for (seq, (k, line)) in (c.first_seq..).zip(c.text.lines().enumerate()) {
                if !line.trim().is_empty() {
                    let p = parsed
                        .next()
                        .ok_or_else(|| "a reading thread lost a line".to_string())?;
                    let ignored = engine.stats().ignored;
                    match engine.push_parsed_line(p, line, &mut out) {
                        Ok(()) => {
                            r.accepted += 1;
                            if engine.stats().ignored > ignored {
                                *r.ignored.entry(kind_of(line)).or_default() += 1;
                            }
                        }
                        Err(e) => r.rejected.push(Rejected {
                            at: format!("{name}:{}", first_line + c.first_line + k),
                            seq,
                            reason: e.to_string(),
                        }),
                    }
                    // released events go back to the reading threads as buffers
                    while let Some(e) = engine.take_spare_event() {
                        back.push(e);
                    }
                }
            }
            if let Some(tx) = spare_txs.get((i + 1) % workers)
                && !back.is_empty()
            {
                let _ = tx.send(std::mem::take(&mut back));
            }
        }
        r.outputs = out;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            name: "f".into(),
            text: text.into(),
            first_line: 1,
        }
    }

    #[test]
    fn chunks_are_the_lines_numbered_on_through_the_sources() {
        let line = "x".repeat(CHUNK_BYTES / 3);
        let a = format!("{line}\n{line}\r\n\n{line}\n{line}\n{line}");
        let b = format!("{line}\n\n{line}\n");
        let sources = [src(&a), src(&b)];
        let got: Vec<(u64, String, &str)> = chunks(&sources, CHUNK_BYTES)
            .iter()
            .flat_map(|c| {
                c.text.lines().enumerate().map(move |(k, l)| {
                    (
                        c.first_seq + k as u64,
                        format!("f:{}", 1 + c.first_line + k),
                        l,
                    )
                })
            })
            .collect();
        let want: Vec<(u64, String, &str)> = crate::cli_replay::numbered(&sources);
        assert_eq!(got, want);
        assert!(chunks(&sources, CHUNK_BYTES).len() > 2);
    }
}
