//! The `yingji` command-line harness: check definitions, run event streams.

mod cli_assess;
mod cli_bench;
mod cli_cap;
mod cli_explain;
mod cli_fmt;
mod cli_graph;
mod cli_partitioned;
mod cli_replay;
mod cli_replay_par;
mod cli_serve;
mod cli_sl651;
mod cli_test;
mod cli_text;
mod cli_worker;
mod lsp;

use clap::{Parser, Subcommand, ValueEnum};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use yingji::Definitions;
use yingji::stream::{Marked, Position};
use yingji_engine::time::Timestamp;

#[derive(Parser)]
#[command(
    name = "yingji",
    version,
    about = "应急 — warnings, plans and assessments as executable definitions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// How `run` writes its outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OutFormat {
    /// One JSON object per line (the output contract).
    Json,
    /// A Chinese timeline for a duty officer.
    Text,
    /// One CAP 1.2 / GB/T 35965.1 alert file per warning change (`--out-dir`).
    Cap,
}

/// Event-time and state settings of `run`.
#[derive(clap::Args, Clone)]
struct StreamArgs {
    /// Allowed lateness (events older than the latest time minus this are late).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    lateness: i64,
    /// Late events: `emit` a `late` record and leave them out, or `apply` them flagged.
    #[arg(long, value_enum, default_value = "emit")]
    late: LateArg,
    /// Also treat events with the same kind, key and time as duplicates (same `id` always are).
    #[arg(long)]
    dedupe_kind_key_ts: bool,
    /// Reject events further than this ahead of the latest event time (`off` to disable).
    #[arg(long, default_value = "1d")]
    max_ahead: String,
    /// Forget keys silent for this long (bounded memory).
    #[arg(long, value_parser = parse_duration)]
    idle_ttl: Option<i64>,
    /// State file: restored at start (a missing file starts fresh), saved atomically
    /// at exit and every `--save-every` lines. With a state file, events the lateness
    /// still holds back are kept in the state for the next run (use `--final` or
    /// `--until` to release them). With `--out FILE` and an event file, outputs are
    /// exactly-once: the state records how far the input was read and how long the
    /// output was, so rerunning the same command after a crash goes on where the
    /// last save left off (see README, "Exactly-once outputs").
    #[arg(long)]
    state: Option<PathBuf>,
    /// Save the state every N input lines (with `--state`).
    #[arg(long, default_value_t = 100_000)]
    save_every: u64,
    /// Start fresh even if the state file is unreadable or from another version.
    #[arg(long)]
    fresh_state: bool,
    /// Release every buffered event at the end even when saving state.
    #[arg(long = "final")]
    final_: bool,
    /// The end of the input is not the end of the stream: what the lateness
    /// still holds back is not released and no timer fires past the clock, so
    /// the outputs are what a live engine would have given after the last line
    /// (as a `yingji worker`, which never sees an end). Also with `partition by`.
    #[arg(long, conflicts_with_all = ["final_", "until"])]
    open_end: bool,
    /// At the end of input, release everything (even with `--state`: the end of
    /// input is final) and run the clock to this RFC 3339 time, so timers due by
    /// then fire (e.g. a 叫应 escalation when the gauges went silent). A time
    /// earlier than the stream's clock is refused (exit 2).
    #[arg(long, value_parser = parse_ts)]
    until: Option<Timestamp>,
    /// `event`: event time is the only clock. `wall`: a live feed (`--events -`
    /// or `--follow`); when no line has arrived for 1 s, the clock moves to the
    /// wall clock (the lateness still applies), so timers fire while the feed is silent.
    #[arg(long, value_enum, default_value = "event")]
    clock: ClockArg,
    /// Follow a growing event file like `tail -f`: at its end, wait for more
    /// lines; the run ends only when interrupted (with `--state`, a rerun goes on
    /// from the last save; with `--clock wall` the state is also saved whenever
    /// the feed goes quiet).
    #[arg(long)]
    follow: bool,
    /// The longest event line accepted (bytes; `64KiB`, `1MiB`, `4MB`, ...).
    /// A longer line is rejected with its line number, counted like any bad
    /// line (its first bytes copied to `--rejects`), and reading goes on at
    /// the next line; it is never held in memory whole.
    #[arg(long, default_value = "1MiB", value_parser = parse_size)]
    max_line: usize,
    /// Follow symbolic links (folder members, `.rhai` imports) to files
    /// outside the given files and folders (refused by default).
    #[arg(long)]
    allow_outside_roots: bool,
}

/// A size in bytes: a number, optionally with `K`/`KB`/`KiB`, `M`/`MB`/`MiB`
/// (binary multiples either way: 1 KiB = 1024 bytes).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 1048576, 64KiB, 1MiB)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("`{s}`: unknown unit (use K, KiB, M, MiB, G, GiB)")),
    };
    match n.checked_mul(mult) {
        Some(0) => Err("--max-line must be at least 1 byte".into()),
        Some(v) => Ok(v),
        None => Err(format!("`{s}` is too large")),
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ClockArg {
    Event,
    Wall,
}

fn parse_ts(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| e.to_string())
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LateArg {
    Emit,
    Apply,
}

fn parse_duration(s: &str) -> Result<i64, String> {
    yingji_engine::time::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_guard(s: &str) -> Result<Option<i64>, String> {
    if s == "off" {
        Ok(None)
    } else {
        parse_duration(s).map(Some)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Score units on their records: criteria, 一票否决 vetoes with evidence, grades.
    Assess(cli_assess::AssessArgs),
    /// Validate definitions (files or folders); exit 0 when valid, 1 with errors.
    Check {
        /// `.yj` / `.yaml` files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Diagnostics as text (rustc style) or JSON.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Also print, per signal, whether it runs on the compiled path
        /// (`compiled`) or on the reference evaluator and why
        /// (`reference: <reason>`), one line each on standard output (on standard
        /// error with `--format json`, so standard output stays one JSON document).
        #[arg(long)]
        explain: bool,
        /// Follow symbolic links (folder members, `.rhai` imports) to files
        /// outside the given files and folders (refused by default).
        #[arg(long)]
        allow_outside_roots: bool,
    },
    /// Run definitions over a JSONL event stream and write outputs as JSONL.
    Run {
        /// `.yj` / `.yaml` files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Event file (JSONL), or `-` for standard input.
        #[arg(long)]
        events: PathBuf,
        /// Where to write outputs (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where to copy rejected event lines as they were.
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Outputs as JSON lines (`json`, the contract) or as a Chinese
        /// timeline for a duty officer (`text`: time, 乡镇, what happened, who
        /// was called, who answered and how long it took).
        #[arg(long = "format", value_enum, default_value = "json")]
        out_format: OutFormat,
        /// Also report every plan step an instance enters (`step_entered`).
        #[arg(long)]
        trace: bool,
        #[command(flatten)]
        stream: StreamArgs,
        #[command(flatten)]
        cap: cli_cap::CapArgs,
    },
    /// Benchmark generated workloads against a hand-written baseline and rhai.
    Bench(yingji_bench::cli::BenchArgs),
    /// Run authors' scenario files (`*.test.yaml`): events in, expected outputs out.
    Test(cli_test::TestArgs),
    /// Explain an output: its rule, the readings in its windows, the level dynamics, a plan's chain.
    Explain(cli_explain::ExplainArgs),
    /// Run definitions over recorded events, or compare two definition sets (`--diff OLD NEW`).
    Replay(cli_replay::ReplayArgs),
    /// Run definitions as a live service: sources, sinks, checkpoints, HTTP API (serve.yaml).
    Serve(cli_serve::ServeArgs),
    /// Run definitions as one worker of a partitioned group on NATS JetStream.
    Worker(cli_worker::WorkerArgs),
    /// SL 651-2014 tools: turn events into gauge frames, replay frames to a centre.
    Sl651 {
        #[command(subcommand)]
        cmd: cli_sl651::Sl651Cmd,
    },
    /// Lay out `.yj` (and YAML) definition files canonically; `--check` lists files that would change.
    Fmt(cli_fmt::FmtArgs),
    /// Language server over standard input/output (for editors: diagnostics, hover, definitions, completion, formatting).
    Lsp,
    /// Draw a plan as the 应急处置流程图 (Graphviz DOT or Mermaid).
    Graph {
        /// Plan files or folders, like `check` (a single file: its folder's
        /// chains and roster are loaded too).
        #[arg(required = true)]
        plan_paths: Vec<PathBuf>,
        /// `dot` or `mermaid`.
        #[arg(long, default_value = "dot")]
        format: String,
        /// The plan to draw, when there are several.
        #[arg(long)]
        plan: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Assess(a) => cli_assess::run(&a),
        Command::Check {
            paths,
            format,
            explain,
            allow_outside_roots,
        } => check(&paths, format, explain, allow_outside_roots),
        Command::Fmt(a) => cli_fmt::run(&a),
        Command::Lsp => lsp::run(),
        Command::Bench(args) => yingji_bench::cli::main(&args, cli_bench::run_file),
        Command::Test(a) => cli_test::run(&a),
        Command::Replay(a) => cli_replay::run(&a),
        Command::Explain(a) => cli_explain::run(&a),
        Command::Serve(args) => cli_serve::run(args),
        Command::Worker(args) => cli_worker::run(args),
        Command::Sl651 { cmd } => cli_sl651::run(cmd),
        Command::Graph {
            plan_paths,
            format,
            plan,
        } => cli_graph::run(&plan_paths, &format, plan.as_deref()),
        Command::Run {
            paths,
            events,
            out,
            rejects,
            out_format,
            trace,
            stream,
            cap,
        } => match run(
            &paths,
            &events,
            out.as_ref(),
            rejects.as_ref(),
            &stream,
            (out_format, trace, &cap),
        ) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("yingji: {e}");
                ExitCode::from(1)
            }
        },
    }
}

fn load(
    paths: &[PathBuf],
    format: Format,
    allow_outside_roots: bool,
) -> Result<Definitions, ExitCode> {
    match Definitions::from_paths_with(paths, allow_outside_roots) {
        Ok(defs) => {
            if format == Format::Text {
                for w in defs.warnings() {
                    eprint!("{}", w.render(defs.sources()));
                }
            }
            Ok(defs)
        }
        Err(e) => {
            match format {
                Format::Text => {
                    eprintln!("{e}");
                    let errors = e.diagnostics.iter().filter(|d| d.is_error()).count();
                    eprintln!("yingji: {errors} error(s); definitions not accepted");
                }
                Format::Json => println!("{}", e.to_json()),
            }
            Err(ExitCode::from(1))
        }
    }
}

fn check(paths: &[PathBuf], format: Format, explain: bool, allow_outside_roots: bool) -> ExitCode {
    match load(paths, format, allow_outside_roots) {
        Ok(defs) => {
            if explain {
                match defs.engine() {
                    Ok(engine) => {
                        for (name, status) in engine.compiled_signals() {
                            let line = match status {
                                Ok(()) => format!("{name}: compiled"),
                                Err(why) => format!("{name}: reference: {why}"),
                            };
                            // standard output stays one JSON document with --format json
                            match format {
                                Format::Text => println!("{line}"),
                                Format::Json => eprintln!("{line}"),
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("yingji: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            match format {
                Format::Text => eprintln!(
                    "yingji: {} file(s) OK: {} event kind(s), {} signal(s), {} plan(s), {} chain(s), {} warning(s)",
                    defs.files(),
                    defs.event_kinds().count(),
                    defs.signals().count(),
                    defs.plans().count(),
                    defs.chain_count(),
                    defs.warnings().len()
                ),
                Format::Json => println!(
                    "{}",
                    serde_json::Value::Array(
                        defs.warnings()
                            .iter()
                            .map(|d| d.to_json(defs.sources()))
                            .collect()
                    )
                ),
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Placeholders the writer replaces with the output lengths once the outputs
/// before a checkpoint are durable (see [`patch_host`]).
const OUT_BYTES_PENDING: u64 = u64::MAX;
const REJECTS_BYTES_PENDING: u64 = u64::MAX - 1;

/// An output file (or standard output) and how many bytes it holds.
struct Sink {
    w: Box<dyn Write>,
    /// The file again, to fsync it (`None` for standard output).
    file: Option<File>,
    len: u64,
}

impl Sink {
    /// Creates `path` (standard output when `None`), or with `resume_at`
    /// opens it, refuses it when shorter, and cuts it back to that length
    /// (a torn last line included) to append.
    fn open(path: Option<&PathBuf>, resume_at: Option<u64>) -> io::Result<Sink> {
        let Some(p) = path else {
            return Ok(Sink {
                w: Box::new(BufWriter::new(io::stdout().lock())),
                file: None,
                len: 0,
            });
        };
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", p.display()));
        let (f, len) = match resume_at {
            None => (File::create(p).map_err(named)?, 0),
            Some(at) => {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(p)
                    .map_err(named)?;
                let have = f.metadata().map_err(named)?.len();
                if have < at {
                    return Err(io::Error::other(format!(
                        "{}: has {have} bytes but the state file records {at} bytes written to it; refusing to go on (was it truncated or replaced?)",
                        p.display()
                    )));
                }
                f.set_len(at).map_err(named)?;
                f.seek(io::SeekFrom::Start(at)).map_err(named)?;
                (f, at)
            }
        };
        let file = Some(f.try_clone().map_err(named)?);
        Ok(Sink {
            w: Box::new(BufWriter::with_capacity(1 << 16, f)),
            file,
            len,
        })
    }

    fn line(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)?;
        self.w.write_all(b"\n")?;
        self.len += bytes.len() as u64 + 1;
        Ok(())
    }

    /// Everything written so far reaches the disk.
    fn durable(&mut self) -> io::Result<()> {
        self.w.flush()?;
        if let Some(f) = &self.file {
            f.sync_data()?;
        }
        Ok(())
    }
}

/// Replaces the placeholder `"key":<pending>` in the snapshot's host section
/// with `value` (the snapshot is the engine's JSON text; strings in it have
/// their quotes escaped, so the pattern only matches the host's own field).
fn patch_host(snapshot: &[u8], key: &str, pending: u64, value: Option<u64>) -> io::Result<Vec<u8>> {
    let Some(value) = value else {
        // no such output: the field is `null` already
        return Ok(snapshot.to_vec());
    };
    let pattern = format!("\"{key}\":{pending}");
    let host = memchr::memmem::find(snapshot, b"\"host\":").unwrap_or(0);
    let at = snapshot
        .get(host..)
        .and_then(|tail| memchr::memmem::find(tail, pattern.as_bytes()))
        .map(|i| host + i)
        .ok_or_else(|| {
            io::Error::other(format!(
                "internal error: no `{key}` in the state's host section"
            ))
        })?;
    let mut doc = Vec::with_capacity(snapshot.len() + 8);
    doc.extend_from_slice(snapshot.get(..at).unwrap_or_default());
    doc.extend_from_slice(format!("\"{key}\":{value}").as_bytes());
    doc.extend_from_slice(snapshot.get(at + pattern.len()..).unwrap_or_default());
    Ok(doc)
}

/// Saves `doc` as `path` atomically and durably: a uniquely named temporary
/// file in the same folder, fsynced, renamed over `path`, then the folder fsynced.
fn save_state(path: &Path, doc: &[u8]) -> io::Result<()> {
    static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "state".into(), |n| n.to_string_lossy().into_owned());
    let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let written = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(doc)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::new(e.kind(), format!("{}: {e}", path.display())));
    }
    // the rename is durable once the folder is (not every platform can open a folder)
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes the temporary files [`save_state`] leaves behind when a run is
/// killed while saving (`.S.<pid>.<n>.tmp` next to `S`).
fn remove_stale_temporaries(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let middle = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"));
        let ours = middle.is_some_and(|m| {
            let mut parts = m.split('.');
            let numeric = |p: Option<&str>| {
                p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            };
            numeric(parts.next()) && numeric(parts.next()) && parts.next().is_none()
        });
        if ours {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Where a state file's run stopped reading and writing (its host section).
struct Recorded {
    input: String,
    at: Position,
    out: Option<String>,
    out_bytes: Option<u64>,
    rejects: Option<String>,
    rejects_bytes: Option<u64>,
}

impl Recorded {
    fn from_host(host: &serde_json::Value) -> Option<Recorded> {
        let s = |k: &str| host.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let n = |k: &str| host.get(k).and_then(serde_json::Value::as_u64);
        Some(Recorded {
            input: s("input")?,
            at: Position {
                lines: n("input_lines")?,
                bytes: n("input_bytes")?,
                hash: u64::from_str_radix(&s("input_xxh3_lines")?, 16).ok()?,
            },
            out: s("out"),
            out_bytes: n("out_bytes"),
            rejects: s("rejects"),
            rejects_bytes: n("rejects_bytes"),
        })
    }
}

fn path_text(p: Option<&PathBuf>) -> Option<String> {
    p.map(|p| p.display().to_string())
}

/// Checks that `events` starts with the `at.bytes` bytes the state has read.
fn check_prefix(events: &Path, state: &Path, at: &Position) -> io::Result<Result<(), String>> {
    let mut f = File::open(events)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", events.display())))?;
    let len = f.metadata()?.len();
    let other = format!("state file {} was made from another input", state.display());
    if len < at.bytes {
        return Ok(Err(format!(
            "{other}: {} has {len} bytes, but the state has already read {} bytes ({} lines) of it",
            events.display(),
            at.bytes,
            at.lines
        )));
    }
    let mut hash = yingji::stream::PrefixHash::default();
    let mut left = at.bytes;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let got = f.read(buf.get_mut(..want).unwrap_or_default())?;
        if got == 0 {
            break;
        }
        hash.update(buf.get(..got).unwrap_or_default());
        left -= got as u64;
    }
    let hash = hash.finish();
    if left > 0 || hash != at.hash {
        return Ok(Err(format!(
            "{other}: the first {} bytes of {} differ from the ones it read (line hash {hash:016x}, recorded {:016x}); use another state file, or --fresh-state",
            at.bytes,
            events.display(),
            at.hash
        )));
    }
    Ok(Ok(()))
}

fn run(
    paths: &[PathBuf],
    events: &PathBuf,
    out: Option<&PathBuf>,
    rejects: Option<&PathBuf>,
    args: &StreamArgs,
    (out_format, trace, cap): (OutFormat, bool, &cli_cap::CapArgs),
) -> io::Result<ExitCode> {
    let stdin = events.as_os_str() == "-";
    if args.clock == ClockArg::Wall && !stdin && !args.follow {
        eprintln!(
            "yingji: --clock wall needs a live feed: --events - (standard input) or --follow; {} is a plain file, read as fast as the disk allows, so its event times are the only clock",
            events.display()
        );
        return Ok(ExitCode::from(2));
    }
    let mut defs = match load(paths, Format::Text, args.allow_outside_roots) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    defs.set_trace(trace);
    let mut cap_writer = match out_format {
        OutFormat::Cap => match cli_cap::CapWriter::open(cap, paths, args.state.is_some()) {
            Ok(w) => Some(w),
            Err(msg) => {
                eprintln!("yingji: {msg}");
                return Ok(ExitCode::from(2));
            }
        },
        _ => match cli_cap::misplaced(cap) {
            Some(msg) => {
                eprintln!("yingji: {msg}");
                return Ok(ExitCode::from(2));
            }
            None => None,
        },
    };
    let timeline =
        (out_format == OutFormat::Text).then(|| cli_text::Timeline::new(defs.unstable_plans()));
    let config = yingji::Config {
        lateness_ms: args.lateness,
        late: match args.late {
            LateArg::Emit => yingji::LatePolicy::Emit,
            LateArg::Apply => yingji::LatePolicy::Apply,
        },
        dedupe_kind_key_ts: args.dedupe_kind_key_ts,
        max_ahead_ms: match parse_guard(&args.max_ahead) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("yingji: --max-ahead: {e}");
                return Ok(ExitCode::from(2));
            }
        },
        idle_ttl_ms: args.idle_ttl,
        max_line: args.max_line,
    };
    // `partition by`: one engine per value (src/cli_partitioned.rs)
    if defs.partition_field().is_some() {
        let opts = cli_partitioned::RunOpts {
            events,
            out,
            rejects,
            state: args.state.is_some(),
            open_end: args.open_end,
            wall_clock: args.clock == ClockArg::Wall,
            follow: args.follow,
            until: args.until,
            max_line: args.max_line,
            timeline: timeline.as_ref(),
            cap: cap_writer.as_mut(),
        };
        return cli_partitioned::run_defs(&defs, config, opts);
    }
    let mut engine = match defs.engine_with(config) {
        Ok(e) => e,
        Err(e) => {
            // a valid program is refused only for a setting it cannot run
            // with (an --idle-ttl shorter than a signal's `missing` or window)
            eprintln!("yingji: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(state) = &args.state {
        remove_stale_temporaries(state);
        match std::fs::read(state) {
            Ok(bytes) => match engine.restore(&bytes) {
                Ok(report) => {
                    eprintln!(
                        "yingji: restored state from {} ({} signal(s) kept, {} reset)",
                        state.display(),
                        report.kept.iter().filter(|k| *k != "plans").count(),
                        report.reset.len()
                    );
                    if !report.reset.is_empty() {
                        eprintln!(
                            "yingji: state reset (definition changed, or not in the state file) for: {}",
                            report.reset.join(", ")
                        );
                    }
                }
                Err(e) if args.fresh_state => {
                    eprintln!("yingji: {}: {e}; starting fresh as asked", state.display())
                }
                Err(e) => {
                    eprintln!("yingji: {}: {e}", state.display());
                    return Ok(ExitCode::from(1));
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                eprintln!(
                    "yingji: no state file at {}; starting fresh",
                    state.display()
                );
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", state.display()),
                ));
            }
        }
    }
    if let (Some(until), Some(clock)) = (args.until, engine.clock()) {
        if until < clock {
            eprintln!(
                "yingji: --until {until} is earlier than the stream's clock {clock} (from the state file); refusing, nothing was written"
            );
            return Ok(ExitCode::from(2));
        }
    }
    let name = events.display().to_string();
    // the same input as the state's last run: go on where it stopped
    let resume = args
        .state
        .as_ref()
        .and_then(|_| engine.host_state())
        .and_then(Recorded::from_host)
        .filter(|r| r.input == name);
    if let (Some(r), Some(state)) = (&resume, &args.state) {
        if stdin {
            eprintln!(
                "yingji: {} has read {} line(s), {} byte(s) of standard input: lines are numbered on from {}, so feed it from line {}, byte {}",
                state.display(),
                r.at.lines,
                r.at.bytes,
                r.at.lines + 1,
                r.at.lines + 1,
                r.at.bytes
            );
        } else if let Err(msg) = check_prefix(events, state, &r.at)? {
            eprintln!("yingji: {msg}");
            return Ok(ExitCode::from(1));
        } else if r.at.lines > 0 {
            eprintln!(
                "yingji: going on from line {} (byte {}) of {name}",
                r.at.lines + 1,
                r.at.bytes
            );
        }
    }
    let start = resume.as_ref().map_or_else(Position::default, |r| r.at);
    let resume_out = |given: Option<&PathBuf>, recorded: Option<&String>, len: Option<u64>| match (
        &resume,
        path_text(given),
    ) {
        (Some(_), Some(g)) if recorded == Some(&g) => len,
        _ => None,
    };
    let out_at = resume_out(
        out,
        resume.as_ref().and_then(|r| r.out.as_ref()),
        resume.as_ref().and_then(|r| r.out_bytes),
    );
    let rejects_at = resume_out(
        rejects,
        resume.as_ref().and_then(|r| r.rejects.as_ref()),
        resume.as_ref().and_then(|r| r.rejects_bytes),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let state_path = args.state.clone();
    let flush_at_end = !args.open_end && (args.state.is_none() || args.final_);
    let options = yingji::stream::Options {
        flush_at_end,
        checkpoint: state_path
            .as_ref()
            .map(|_| -> (u64, yingji::stream::Checkpoint) { (args.save_every, Box::new(|_| {})) }),
        wall_clock: args.clock == ClockArg::Wall,
        until: args.until,
        requests: None,
    };
    let follow = args.follow && !stdin;
    let live = follow || args.clock == ClockArg::Wall;
    let (out_name, rejects_name) = (path_text(out), path_text(rejects));
    rt.block_on(async move {
        let (source, read_error, progress) = if stdin {
            yingji::stream::lines_from(
                tokio::io::BufReader::new(tokio::io::stdin()),
                start,
                false,
                args.max_line,
            )
        } else {
            let mut f = tokio::fs::File::open(events)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", events.display())))?;
            if start.bytes > 0 {
                use tokio::io::AsyncSeekExt;
                f.seek(io::SeekFrom::Start(start.bytes)).await?;
            }
            yingji::stream::lines_from(
                tokio::io::BufReader::with_capacity(1 << 16, f),
                start,
                follow,
                args.max_line,
            )
        };
        let at = progress.clone();
        let input = name.clone();
        let (outs, rejs) = (out_name.clone(), rejects_name.clone());
        let host: yingji::stream::HostSection = Box::new(move |e: &mut yingji::Engine| {
            let p = at.get();
            let pending = |name: &Option<String>, placeholder: u64| {
                name.as_ref().map(|_| placeholder)
            };
            e.set_host_state(Some(serde_json::json!({
                "input": input,
                "input_lines": p.lines,
                "input_bytes": p.bytes,
                "input_xxh3_lines": format!("{:016x}", p.hash),
                "out": outs,
                "out_bytes": pending(&outs, OUT_BYTES_PENDING),
                "rejects": rejs,
                "rejects_bytes": pending(&rejs, REJECTS_BYTES_PENDING),
            })));
        });
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let task = tokio::spawn(yingji::stream::run_marked(
            engine,
            vec![source],
            tx,
            options,
            host,
        ));
        let mut writer = Sink::open(out, out_at)?;
        let mut reject_writer = match rejects {
            Some(p) => Some(Sink::open(Some(p), rejects_at)?),
            None => None,
        };
        let (mut rejected, mut outputs, mut late) = (0u64, 0u64, 0u64);
        let mut line = Vec::with_capacity(512);
        while let Some(item) = rx.recv().await {
            match item {
                Marked::Item(yingji::stream::Item::Output(o)) => {
                    outputs += 1;
                    if matches!(o, yingji::Output::Late(_)) {
                        late += 1;
                    }
                    line.clear();
                    if let Some(c) = cap_writer.as_mut() {
                        if let Some(path) = c.write(&o)? {
                            writer.line(path.display().to_string().as_bytes())?;
                        }
                    } else {
                        match &timeline {
                            Some(t) => line.extend_from_slice(t.line(&o).as_bytes()),
                            None => serde_json::to_writer(&mut line, &o)?,
                        }
                        writer.line(&line)?;
                    }
                }
                Marked::Item(yingji::stream::Item::Rejected {
                    seq, line, reason, ..
                }) => {
                    rejected += 1;
                    if rejected <= 20 {
                        eprintln!("{name}:{seq}: rejected: {reason}");
                    } else if rejected == 21 {
                        eprintln!("{name}: more rejected lines follow; see the summary");
                    }
                    if let Some(w) = reject_writer.as_mut() {
                        w.line(&line)?;
                    }
                }
                Marked::Checkpoint { snapshot, .. } => {
                    // first what came before it, on disk; then the state that says so
                    writer.durable()?;
                    if let Some(w) = reject_writer.as_mut() {
                        w.durable()?;
                    }
                    let doc = patch_host(
                        &snapshot,
                        "out_bytes",
                        OUT_BYTES_PENDING,
                        out_name.as_ref().map(|_| writer.len),
                    )?;
                    let doc = patch_host(
                        &doc,
                        "rejects_bytes",
                        REJECTS_BYTES_PENDING,
                        reject_writer.as_ref().map(|w| w.len),
                    )?;
                    // the host section changed: the checksum follows
                    let doc = yingji::unstable::engine::state::reseal(&doc).map_err(io::Error::other)?;
                    if let Some(p) = &state_path {
                        save_state(p, &doc)?;
                    }
                }
            }
            // a live feed's outputs go out as they come, not when a buffer fills
            if live && rx.is_empty() {
                writer.w.flush()?;
                if let Some(w) = reject_writer.as_mut() {
                    w.w.flush()?;
                }
            }
        }
        writer.durable()?;
        if let Some(w) = reject_writer.as_mut() {
            w.durable()?;
        }
        let (engine, finished) = task.await.map_err(io::Error::other)?;
        // what scripts printed (`print`/`debug`) goes to the engine's log, never to stdout
        let (log, dropped) = engine.script_log();
        for line in &log {
            eprintln!("yingji: script: {line}");
        }
        if dropped > 0 {
            eprintln!("yingji: script: {dropped} more log line(s) dropped");
        }
        if let Err(e) = finished {
            eprintln!(
                "yingji: --until: {e}; refusing to end the run there (the state was not saved at the end)"
            );
            return Ok(ExitCode::from(2));
        }
        // everything read before a read error was processed, written and saved
        if let Some((after, e)) = read_error.take() {
            return Err(io::Error::new(
                e.kind(),
                format!("{name}: read error after line {after}: {e} (the outputs of the lines before it were written)"),
            ));
        }
        let st = engine.stats();
        let accepted = st.accepted;
        let read = accepted + rejected;
        eprintln!(
            "yingji: events read: {read}, accepted: {accepted}, rejected: {rejected}, ignored (no definition uses their kind): {}, late: {late}, duplicates: {}, outputs: {outputs}",
            st.ignored, st.duplicates
        );
        if stdin && state_path.is_some() {
            let p = progress.get();
            eprintln!(
                "yingji: standard input read to line {}, byte {}: resume stdin from line {}, byte {}",
                p.lines,
                p.bytes,
                p.lines + 1,
                p.bytes
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
