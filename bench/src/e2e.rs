//! End to end, as `yingji run` does it: a JSONL file read through the
//! streaming API (`yingji::stream`, handed in as a [`RunFile`]) into an [`Engine`] with the run's
//! default settings (5 minutes of allowed lateness, so every event goes
//! through the reorder buffer), every output written as a JSON line; against
//! merely parsing the same file (a buffered reader and the engine's schema
//! parser, nothing else).

use super::run::BenchError;
use super::{Checksum, Workload};
use std::io::{BufRead, Write};
use std::time::Instant;
use yingji_engine::event::Schema;
use yingji_engine::{Engine, Event, Output};

/// Figures of one end-to-end comparison.
#[derive(Clone, Debug)]
pub struct EndToEnd {
    /// Reading and parsing the file, nothing else: ns per line.
    pub parse_ns_per_line: f64,
    /// The whole run (read, parse, buffer, evaluate, write JSON): ns per line.
    pub run_ns_per_line: f64,
    /// Outputs written by the run.
    pub outputs: u64,
    /// Bytes of JSON written.
    pub output_bytes: u64,
    /// The run's level changes.
    pub changes: Checksum,
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Counts bytes and discards them.
#[derive(Default)]
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn io_err(e: std::io::Error) -> BenchError {
    BenchError::Event {
        seq: 0,
        why: format!("bench file: {e}"),
    }
}

/// Signal index of a level change: the windows workload has one signal,
/// the thresholds workload names its signals `t<j>`.
pub fn signal_index(name: &str) -> u32 {
    name.strip_prefix('t')
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// What `yingji run FILE` does with `engine`: reads `file` through the
/// stream API with the default options and calls `each` with every output,
/// in order. The CLI provides it (`yingji bench`); this crate does not
/// depend on the facade.
pub type RunFile = fn(
    engine: Engine,
    file: &std::path::Path,
    each: &mut dyn FnMut(&Output) -> std::io::Result<()>,
) -> std::io::Result<()>;

/// Writes the workload's lines to a file and measures both ways of reading it.
pub fn end_to_end(w: &Workload, run_file: RunFile) -> Result<EndToEnd, BenchError> {
    let path = std::env::temp_dir().join(format!(
        "yingji-bench-{}-{}.jsonl",
        std::process::id(),
        w.name
    ));
    let file = TempFile(path);
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file.0).map_err(io_err)?);
        for l in w.jsonl() {
            f.write_all(l.as_bytes()).map_err(io_err)?;
            f.write_all(b"\n").map_err(io_err)?;
        }
        f.flush().map_err(io_err)?;
    }
    let lines = w.events.len().max(1) as f64;

    // merely parsing: a buffered reader, one reused line buffer and event
    let schema = Schema::new(&w.program);
    let mut ev = Event::empty(0);
    let t = Instant::now();
    let mut reader =
        std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(&file.0).map_err(io_err)?);
    let mut line = String::new();
    let mut seq = 0u64;
    let mut parsed = 0u64;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(io_err)? == 0 {
            break;
        }
        seq += 1;
        let text = line.trim_end_matches(['\n', '\r']);
        if schema.parse_into(text, &w.program, seq, &mut ev).is_ok() {
            parsed += 1;
        }
    }
    let parse = t.elapsed();
    std::hint::black_box(parsed);

    // the run: what `yingji run FILE --out -` does
    let engine = Engine::new(w.program.clone()).map_err(|e| BenchError::Compile(e.to_string()))?;
    let t = Instant::now();
    let mut writer = std::io::BufWriter::new(Counter::default());
    let (mut outputs, mut changes) = (0u64, Checksum::default());
    run_file(engine, &file.0, &mut |o| {
        outputs += 1;
        serde_json::to_writer(&mut writer, o)?;
        writer.write_all(b"\n")?;
        if let Output::LevelChanged(c) = o {
            changes.add(c.event, signal_index(&c.signal), &c.key, c.from, c.to);
        }
        Ok(())
    })
    .map_err(io_err)?;
    writer.flush().map_err(io_err)?;
    let output_bytes = writer.get_ref().0;
    let run = t.elapsed();
    Ok(EndToEnd {
        parse_ns_per_line: parse.as_nanos() as f64 / lines,
        run_ns_per_line: run.as_nanos() as f64 / lines,
        outputs,
        output_bytes,
        changes,
    })
}
