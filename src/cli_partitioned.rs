//! `yingji run` and `yingji replay` over definitions that declare `partition
//! by F`: one engine per value of `F` ([`yingji::partitioned::Partitioned`]).
//!
//! **`replay --threads N`.** The partitions are spread over `N` engine
//! threads, each owning the values whose FNV-1a hash is its number modulo
//! `N` (stable: a value always lands on the same thread); `max(1, N − 1)`
//! reading threads parse line-aligned chunks (as `crate::cli_replay_par`),
//! read each line's partition from its parsed slot and hand each engine
//! thread its lines of the chunk, in order. An output is tagged with
//! (phase, input position): phase 0 the line that produced it, phase 1 and
//! 2 the `advance_to` and end of input of a partition, at its first line's
//! position. The outputs of one tag come from one thread, in order, so a
//! stable sort by tag gives exactly the single-threaded order (a line's
//! outputs in input order, then the partitions' ends in first-line order);
//! then they are numbered from 1. Rejections are merged by input position.

use crate::cli_replay::{Rejected, Replayed, Settings, Source};
use std::collections::BTreeMap;
use std::sync::mpsc;
use yingji::partitioned::{EngineKit, PartitionError, Partitioned};
use yingji::unstable::engine::event::{Event, Schema, TextCache};
use yingji::Output;

/// A stable hash of a partition value (FNV-1a).
fn owner(value: &str, threads: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in value.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(h % threads.max(1) as u64).unwrap_or(0)
}

/// The replay of partitioned definitions (see [`crate::cli_replay::replay_threads`]).
pub(crate) fn replay(
    kit: EngineKit,
    sources: &[Source],
    settings: Settings,
    (threads, chunk_bytes): (usize, usize),
    kind_of: fn(&str) -> String,
) -> Result<Replayed, String> {
    let mut r = Replayed {
        outputs: Vec::new(),
        rejected: Vec::new(),
        ignored: BTreeMap::new(),
        accepted: 0,
    };
    if threads > 1 {
        return threaded(kit, sources, settings, (threads, chunk_bytes), kind_of);
    }
    let mut p = Partitioned::new(kit);
    let lines = sources.iter().flat_map(|src| {
        src.text
            .lines()
            .enumerate()
            .map(move |(i, line)| (src, src.first_line + i, line))
    });
    for (seq, (src, n, line)) in (1u64..).zip(lines) {
        if line.trim().is_empty() {
            continue;
        }
        let ignored = p.ignored();
        match p.push_line(line, seq, &mut r.outputs) {
            Ok(()) => {
                r.accepted += 1;
                if p.ignored() > ignored {
                    *r.ignored.entry(kind_of(line)).or_default() += 1;
                }
            }
            Err(e) => r.rejected.push(Rejected {
                at: format!("{}:{n}", src.name),
                seq,
                reason: e.to_string(),
            }),
        }
    }
    if let Some(t) = settings.advance_to {
        p.advance_to(t, &mut r.outputs);
    }
    p.finish(settings.until, &mut r.outputs)
        .map_err(|e| e.to_string())?;
    Ok(r)
}

/// One line for an engine thread: input position, place, text, event.
type Routed<'a> = (u64, usize, &'a str, Event);

/// What an engine thread gives back.
struct Done {
    outputs: Vec<((u8, u64), Output)>,
    rejected: Vec<Rejected>,
    ignored: BTreeMap<String, u64>,
    accepted: u64,
    /// The refusal of the end of input with the earliest first line.
    end_error: Option<(u64, String)>,
}

fn threaded(
    kit: EngineKit,
    sources: &[Source],
    settings: Settings,
    (threads, chunk_bytes): (usize, usize),
    kind_of: fn(&str) -> String,
) -> Result<Replayed, String> {
    let engines = threads.max(1);
    let readers = threads.saturating_sub(1).max(1);
    let chunks = crate::cli_replay_par::chunks(sources, chunk_bytes);
    let schema = Schema::new(kit.program());
    let place = |c: &crate::cli_replay_par::Chunk<'_>, k: usize| {
        let (name, first) = sources
            .get(c.src)
            .map_or(("?", 1), |s| (s.name.as_str(), s.first_line));
        format!("{name}:{}", first + c.first_line + k)
    };
    std::thread::scope(|s| {
        // txs[reader][engine]
        let mut rxs: Vec<Vec<mpsc::Receiver<Vec<Routed<'_>>>>> =
            (0..engines).map(|_| Vec::new()).collect();
        let mut reader_handles = Vec::new();
        for w in 0..readers {
            let mut txs = Vec::with_capacity(engines);
            for rx_of in &mut rxs {
                let (tx, rx) = mpsc::sync_channel::<Vec<Routed<'_>>>(2);
                txs.push(tx);
                rx_of.push(rx);
            }
            let (chunks, schema, kit, place) = (&chunks, &schema, &kit, &place);
            reader_handles.push(s.spawn(move || {
                let mut texts = TextCache::default();
                let mut rejected = Vec::new();
                for c in chunks.iter().skip(w).step_by(readers) {
                    let mut parts: Vec<Vec<Routed<'_>>> = (0..engines).map(|_| Vec::new()).collect();
                    for (seq, (k, line)) in (c.first_seq..).zip(c.text.lines().enumerate()) {
                        if line.trim().is_empty() {
                            continue;
                        }
                        let mut ev = Event::empty(seq);
                        let routed = schema
                            .parse_cached(line, kit.program(), seq, &mut ev, &mut texts)
                            .map_err(|e| PartitionError::Line(e.into()))
                            .and_then(|()| kit.partition_of(&ev, line).map(|v| owner(&v, engines)));
                        match routed {
                            Ok(t) => {
                                if let Some(p) = parts.get_mut(t) {
                                    p.push((seq, k, line, ev));
                                }
                            }
                            Err(e) => rejected.push(Rejected {
                                at: place(c, k),
                                seq,
                                reason: e.to_string(),
                            }),
                        }
                    }
                    for (tx, part) in txs.iter().zip(parts) {
                        if tx.send(part).is_err() {
                            return rejected;
                        }
                    }
                }
                rejected
            }));
        }
        let mut engine_handles = Vec::new();
        for rx_of in rxs {
            let (chunks, kit, place) = (&chunks, &kit, &place);
            engine_handles.push(s.spawn(move || -> Result<Done, String> {
                let mut p = Partitioned::new(kit.clone());
                let mut d = Done {
                    outputs: Vec::new(),
                    rejected: Vec::new(),
                    ignored: BTreeMap::new(),
                    accepted: 0,
                    end_error: None,
                };
                let mut out = Vec::new();
                for (i, c) in chunks.iter().enumerate() {
                    let part = rx_of
                        .get(i % readers)
                        .and_then(|rx| rx.recv().ok())
                        .ok_or_else(|| "a reading thread stopped".to_string())?;
                    for (seq, k, line, ev) in part {
                        let ignored = p.ignored();
                        out.clear();
                        match p.push_parsed_line(Ok(ev), line, &mut out) {
                            Ok(()) => {
                                d.accepted += 1;
                                if p.ignored() > ignored {
                                    *d.ignored.entry(kind_of(line)).or_default() += 1;
                                }
                            }
                            Err(e) => d.rejected.push(Rejected {
                                at: place(c, k),
                                seq,
                                reason: e.to_string(),
                            }),
                        }
                        d.outputs.extend(out.drain(..).map(|o| ((0, seq), o)));
                    }
                }
                if let Some(ts) = settings.advance_to {
                    p.advance_each(ts, |first, o| {
                        d.outputs.extend(o.drain(..).map(|o| ((1, first), o)));
                    });
                }
                let mut ends = Vec::new();
                if let Err((first, e)) = p.finish_each(settings.until, |first, o| {
                    ends.extend(o.drain(..).map(|o| ((2, first), o)));
                }) {
                    d.end_error = Some((first, e.to_string()));
                }
                d.outputs.append(&mut ends);
                Ok(d)
            }));
        }
        let mut done = Vec::new();
        for h in engine_handles {
            done.push(
                h.join()
                    .unwrap_or_else(|_| Err("an engine thread failed".to_string()))?,
            );
        }
        let mut rejected = Vec::new();
        for h in reader_handles {
            rejected.extend(h.join().map_err(|_| "a reading thread failed".to_string())?);
        }
        if let Some((_, e)) = done
            .iter()
            .filter_map(|d| d.end_error.as_ref())
            .min_by_key(|(first, _)| *first)
        {
            return Err(e.clone());
        }
        let mut r = Replayed {
            outputs: Vec::new(),
            rejected,
            ignored: BTreeMap::new(),
            accepted: 0,
        };
        let mut tagged = Vec::new();
        for d in done {
            r.accepted += d.accepted;
            r.rejected.extend(d.rejected);
            for (k, n) in d.ignored {
                *r.ignored.entry(k).or_default() += n;
            }
            tagged.extend(d.outputs);
        }
        r.rejected.sort_by_key(|x| x.seq);
        tagged.sort_by_key(|(tag, _)| *tag);
        r.outputs = tagged
            .into_iter()
            .zip(1u64..)
            .map(|((_, mut o), id)| {
                o.set_id(id);
                o
            })
            .collect();
        Ok(r)
    })
}
