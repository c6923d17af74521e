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
use yingji::Output;
use yingji::partitioned::{EngineKit, PartitionError, Partitioned};
use yingji::unstable::engine::event::{Event, Schema, TextCache};

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
        // released event buffers, from the engine threads back to the readers
        let mut spare_txs = Vec::with_capacity(readers);
        let mut spare_rxs = Vec::with_capacity(readers);
        for _ in 0..readers {
            let (tx, rx) = mpsc::channel::<Vec<Event>>();
            spare_txs.push(tx);
            spare_rxs.push(rx);
        }
        for (w, spare_rx) in spare_rxs.into_iter().enumerate() {
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
                let mut spare: Vec<Event> = Vec::new();
                for c in chunks.iter().skip(w).step_by(readers) {
                    while let Ok(mut more) = spare_rx.try_recv() {
                        spare.append(&mut more);
                    }
                    let mut parts: Vec<Vec<Routed<'_>>> =
                        (0..engines).map(|_| Vec::new()).collect();
                    for (seq, (k, line)) in (c.first_seq..).zip(c.text.lines().enumerate()) {
                        if line.trim().is_empty() {
                            continue;
                        }
                        let mut ev = spare.pop().unwrap_or_else(|| Event::empty(seq));
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
            let spare_txs = spare_txs.clone();
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
                    let mut back = Vec::new();
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
                        while let Some(e) = p.take_spare_event() {
                            back.push(e);
                        }
                    }
                    if let Some(tx) = spare_txs.get((i + 1) % readers)
                        && !back.is_empty()
                    {
                        let _ = tx.send(back);
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
            rejected.extend(
                h.join()
                    .map_err(|_| "a reading thread failed".to_string())?,
            );
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

/// What `yingji run` passes to its partitioned run.
pub(crate) struct RunOpts<'a> {
    /// The event file, or `-`.
    pub events: &'a std::path::Path,
    /// `--out`.
    pub out: Option<&'a std::path::PathBuf>,
    /// `--rejects`.
    pub rejects: Option<&'a std::path::PathBuf>,
    /// `--state` given.
    pub state: bool,
    /// `--open-end`: the partitions are not finished at the end of input.
    pub open_end: bool,
    /// `--clock wall`.
    pub wall_clock: bool,
    /// `--follow`.
    pub follow: bool,
    /// `--until`.
    pub until: Option<yingji::Timestamp>,
    /// `--max-line`.
    pub max_line: usize,
    /// `--format text`: the timeline.
    pub timeline: Option<&'a crate::cli_text::Timeline>,
    /// `--format cap`.
    pub cap: Option<&'a mut crate::cli_cap::CapWriter>,
}

/// `yingji run` over definitions with `partition by`: their engines' kit
/// (a setting the engine refuses: exit 2), then [`run`].
pub(crate) fn run_defs(
    defs: &yingji::Definitions,
    config: yingji::Config,
    o: RunOpts<'_>,
) -> std::io::Result<std::process::ExitCode> {
    match defs.partitioned_kit(config) {
        Ok(Some(mut kit)) => {
            // like `yingji run`: no sensor reports from the future
            kit.set_wall_time(yingji::stream::wall_now(0).ms);
            run(kit, o)
        }
        Ok(None) => Ok(std::process::ExitCode::from(2)),
        Err(e) => {
            eprintln!("yingji: {e}");
            Ok(std::process::ExitCode::from(2))
        }
    }
}

/// `yingji run` over partitioned definitions: the whole input read, one
/// engine per partition value, outputs written in the order of
/// [`Partitioned`]. What cannot work partitioned is refused (exit 2):
/// `--state` (one state file holds one engine's snapshot; `yingji worker`
/// checkpoints each partition), `--clock wall` and `--follow` (a live feed:
/// `yingji worker`).
pub(crate) fn run(kit: EngineKit, o: RunOpts<'_>) -> std::io::Result<std::process::ExitCode> {
    use std::io::{Read as _, Write as _};
    use std::process::ExitCode;
    let field = kit.field().to_string();
    let refuse = |what: &str, why: &str| {
        eprintln!(
            "yingji: {what} cannot be used with `partition by {field}` (one engine per {field}): {why}"
        );
        Ok(ExitCode::from(2))
    };
    if o.state {
        return refuse(
            "--state",
            "a state file holds one engine's snapshot; run without it (`--open-end` gives what a live run would have emitted by the last line), or run the partitions as `yingji worker`s, which checkpoint each partition",
        );
    }
    if o.wall_clock || o.follow {
        return refuse(
            if o.follow { "--follow" } else { "--clock wall" },
            "`run` reads a partitioned input to its end; a live partitioned feed is `yingji worker`'s",
        );
    }
    let name = o.events.display().to_string();
    let mut bytes = Vec::new();
    if o.events.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(o.events)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{name}: {e}")))?;
    }
    let open = |p: Option<&std::path::PathBuf>| -> std::io::Result<Box<dyn std::io::Write>> {
        Ok(match p {
            Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
                |e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())),
            )?)),
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        })
    };
    let mut w = open(o.out)?;
    let mut rw = match o.rejects {
        Some(p) => Some(open(Some(p))?),
        None => None,
    };
    let (timeline, mut cap) = (o.timeline, o.cap);
    let mut write =
        |w: &mut Box<dyn std::io::Write>, outs: &mut Vec<Output>| -> std::io::Result<u64> {
            let (mut n, mut line) = (0u64, Vec::with_capacity(512));
            for out in outs.drain(..) {
                n += u64::from(matches!(out, Output::Late(_)));
                line.clear();
                if let Some(c) = cap.as_deref_mut() {
                    if let Some(path) = c.write(&out)? {
                        writeln!(w, "{}", path.display())?;
                    }
                    continue;
                }
                match timeline {
                    Some(t) => line.extend_from_slice(t.line(&out).as_bytes()),
                    None => serde_json::to_writer(&mut line, &out)?,
                }
                line.push(b'\n');
                w.write_all(&line)?;
            }
            Ok(n)
        };
    let mut p = Partitioned::new(kit);
    let (mut rejected, mut outputs, mut late) = (0u64, 0u64, 0u64);
    let mut outs = Vec::new();
    let mut seq = 0u64;
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let (raw, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        seq += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let reason = if raw.len() > o.max_line {
            Some(
                yingji::stream::Rejection::TooLong {
                    max_line: o.max_line,
                }
                .to_string(),
            )
        } else {
            match std::str::from_utf8(raw) {
                Err(e) => Some(yingji::stream::Rejection::NotUtf8(e).to_string()),
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => p
                    .push_line(line, seq, &mut outs)
                    .err()
                    .map(|e| e.to_string()),
            }
        };
        if let Some(reason) = reason {
            rejected += 1;
            if rejected <= 20 {
                eprintln!("{name}:{seq}: rejected: {reason}");
            } else if rejected == 21 {
                eprintln!("{name}: more rejected lines follow; see the summary");
            }
            if let Some(r) = rw.as_mut() {
                r.write_all(raw.get(..o.max_line).unwrap_or(raw))?;
                r.write_all(b"\n")?;
            }
        }
        outputs += outs.len() as u64;
        late += write(&mut w, &mut outs)?;
    }
    let mut ends = Vec::new();
    if o.open_end {
        // a live group never ends: nothing is released past the last line
    } else if let Err(e) = p.finish(o.until, &mut ends) {
        w.flush()?;
        eprintln!(
            "yingji: --until: {e}; refusing to end the run there (the partitions' ends were not written)"
        );
        return Ok(ExitCode::from(2));
    }
    outputs += ends.len() as u64;
    late += write(&mut w, &mut ends)?;
    w.flush()?;
    if let Some(r) = rw.as_mut() {
        r.flush()?;
    }
    let (log, dropped) = p.script_log();
    for line in &log {
        eprintln!("yingji: script: {line}");
    }
    if dropped > 0 {
        eprintln!("yingji: script: {dropped} more log line(s) dropped");
    }
    let st = p.stats();
    eprintln!(
        "yingji: events read: {}, accepted: {}, rejected: {rejected}, ignored (no definition uses their kind): {}, late: {late}, duplicates: {}, outputs: {outputs}, partitions ({field}): {}",
        st.accepted + rejected,
        st.accepted,
        st.ignored,
        st.duplicates,
        p.partitions().count()
    );
    Ok(ExitCode::SUCCESS)
}
