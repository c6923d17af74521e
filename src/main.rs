//! The `yingji` command-line harness: check definitions, run event streams.

mod cli_assess;
mod cli_graph;

use clap::{Parser, Subcommand, ValueEnum};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use yingji::Definitions;

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
    /// still holds back are kept in the state for the next run (use `--final` to release them).
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
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LateArg {
    Emit,
    Apply,
}

fn parse_duration(s: &str) -> Result<i64, String> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 5m, 2h, 1d"))?;
    let unit = &s[digits.len()..];
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s, m, h, d)")),
    };
    Ok(n.saturating_mul(scale))
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
        #[command(flatten)]
        stream: StreamArgs,
    },
    /// Benchmark generated workloads against a hand-written baseline and rhai.
    Bench(yingji::bench::cli::BenchArgs),
    /// Draw a plan as the 应急处置流程图 (Graphviz DOT or Mermaid).
    Graph {
        /// A plan file, or a folder of plans.
        plan_path: PathBuf,
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
        Command::Check { paths, format } => check(&paths, format),
        Command::Bench(args) => yingji::bench::cli::main(&args),
        Command::Graph {
            plan_path,
            format,
            plan,
        } => cli_graph::run(&plan_path, &format, plan.as_deref()),
        Command::Run {
            paths,
            events,
            out,
            rejects,
            stream,
        } => match run(&paths, &events, out.as_ref(), rejects.as_ref(), &stream) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("yingji: {e}");
                ExitCode::from(1)
            }
        },
    }
}

fn load(paths: &[PathBuf], format: Format) -> Result<Definitions, ExitCode> {
    match Definitions::from_paths(paths) {
        Ok(defs) => {
            if format == Format::Text {
                for w in &defs.warnings {
                    eprint!("{}", w.render(&defs.sources));
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

fn check(paths: &[PathBuf], format: Format) -> ExitCode {
    match load(paths, format) {
        Ok(defs) => {
            match format {
                Format::Text => eprintln!(
                    "yingji: {} file(s) OK: {} event kind(s), {} signal(s), {} plan(s), {} chain(s), {} warning(s)",
                    defs.files,
                    defs.program.kinds.len(),
                    defs.program.signals.len(),
                    defs.plans.plans.len(),
                    defs.plans.chains.len(),
                    defs.warnings.len()
                ),
                Format::Json => println!(
                    "{}",
                    serde_json::Value::Array(
                        defs.warnings
                            .iter()
                            .map(|d| d.to_json(&defs.sources))
                            .collect()
                    )
                ),
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn open_out(path: Option<&PathBuf>) -> io::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).map_err(|e| {
                io::Error::new(e.kind(), format!("{}: {e}", p.display()))
            })?))
        }
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

fn save_state(path: &PathBuf, engine: &yingji::Engine) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, engine.snapshot())?;
    std::fs::rename(&tmp, path)
}

fn run(
    paths: &[PathBuf],
    events: &PathBuf,
    out: Option<&PathBuf>,
    rejects: Option<&PathBuf>,
    args: &StreamArgs,
) -> io::Result<ExitCode> {
    let defs = match load(paths, Format::Text) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let config = yingji::engine::Config {
        lateness_ms: args.lateness,
        late: match args.late {
            LateArg::Emit => yingji::engine::LatePolicy::Emit,
            LateArg::Apply => yingji::engine::LatePolicy::Apply,
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
    };
    let mut engine = defs
        .engine_with(config)
        .map_err(|e| io::Error::other(format!("internal error: {e}")))?;
    if let Some(state) = &args.state {
        match std::fs::read(state) {
            Ok(bytes) => match engine.restore(&bytes) {
                Ok(report) => {
                    eprintln!("yingji: restored state from {}", state.display());
                    if !report.reset.is_empty() {
                        eprintln!(
                            "yingji: definitions changed, state reset for: {}",
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = events.display().to_string();
    let state_path = args.state.clone();
    let flush_at_end = args.state.is_none() || args.final_;
    let save_every = args.save_every;
    rt.block_on(async move {
        let (source, read_error) = if events.as_os_str() == "-" {
            yingji::stream::lines_checked(tokio::io::BufReader::new(tokio::io::stdin()))
        } else {
            let f = tokio::fs::File::open(events)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", events.display())))?;
            yingji::stream::lines_checked(tokio::io::BufReader::with_capacity(1 << 16, f))
        };
        let checkpoint: Option<(u64, yingji::stream::Checkpoint)> = state_path.clone().map(|p| {
            let save: yingji::stream::Checkpoint = Box::new(move |e: &yingji::Engine| {
                if let Err(err) = save_state(&p, e) {
                    eprintln!("yingji: could not save state: {err}");
                }
            });
            (save_every, save)
        });
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let task = tokio::spawn(yingji::stream::run(
            engine,
            vec![source],
            tx,
            yingji::stream::Options {
                flush_at_end,
                checkpoint,
            },
        ));
        let mut writer = open_out(out)?;
        let mut reject_writer = match rejects {
            Some(p) => Some(open_out(Some(p))?),
            None => None,
        };
        let (mut rejected, mut outputs, mut late) = (0u64, 0u64, 0u64);
        while let Some(item) = rx.recv().await {
            match item {
                yingji::stream::Item::Output(o) => {
                    outputs += 1;
                    if matches!(o, yingji::Output::Late(_)) {
                        late += 1;
                    }
                    serde_json::to_writer(&mut writer, &o)?;
                    writer.write_all(b"\n")?;
                }
                yingji::stream::Item::Rejected { seq, line, reason } => {
                    rejected += 1;
                    if rejected <= 20 {
                        eprintln!("{name}:{seq}: rejected: {reason}");
                    } else if rejected == 21 {
                        eprintln!("{name}: more rejected lines follow; see the summary");
                    }
                    if let Some(w) = reject_writer.as_mut() {
                        w.write_all(&line)?;
                        w.write_all(b"\n")?;
                    }
                }
            }
        }
        writer.flush()?;
        if let Some(w) = reject_writer.as_mut() {
            w.flush()?;
        }
        let engine = task.await.map_err(io::Error::other)?;
        // what scripts printed (`print`/`debug`) goes to the engine's log, never to stdout
        let (log, dropped) = engine.script_log();
        for line in &log {
            eprintln!("yingji: script: {line}");
        }
        if dropped > 0 {
            eprintln!("yingji: script: {dropped} more log line(s) dropped");
        }
        if let Some(p) = &state_path {
            save_state(p, &engine)?;
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
        Ok(ExitCode::SUCCESS)
    })
}
