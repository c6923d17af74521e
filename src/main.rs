//! The `yingji` command-line harness: check definitions, run event streams.

use clap::{Parser, Subcommand, ValueEnum};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use yingji::Definitions;

#[derive(Parser)]
#[command(name = "yingji", version, about = "应急 — warnings, plans and assessments as executable definitions")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { paths, format } => check(&paths, format),
        Command::Run {
            paths,
            events,
            out,
            rejects,
        } => match run(&paths, &events, out.as_ref(), rejects.as_ref()) {
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
                    "yingji: {} file(s) OK: {} event kind(s), {} signal(s), {} warning(s)",
                    defs.files,
                    defs.program.kinds.len(),
                    defs.program.signals.len(),
                    defs.warnings.len()
                ),
                Format::Json => println!(
                    "{}",
                    serde_json::Value::Array(defs.warnings.iter().map(|d| d.to_json(&defs.sources)).collect())
                ),
            }
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn open_out(path: Option<&PathBuf>) -> io::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(File::create(p).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?)),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

fn run(paths: &[PathBuf], events: &PathBuf, out: Option<&PathBuf>, rejects: Option<&PathBuf>) -> io::Result<ExitCode> {
    let defs = match load(paths, Format::Text) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let mut engine = defs
        .engine()
        .map_err(|e| io::Error::other(format!("internal error: {e}")))?;
    let input: Box<dyn BufRead> = if events.as_os_str() == "-" {
        Box::new(BufReader::new(io::stdin().lock()))
    } else {
        Box::new(BufReader::new(
            File::open(events).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", events.display())))?,
        ))
    };
    let mut writer = open_out(out)?;
    let mut reject_writer = match rejects {
        Some(p) => Some(open_out(Some(p))?),
        None => None,
    };
    let (mut read, mut accepted, mut rejected, mut outputs) = (0u64, 0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    let mut out_buf = Vec::new();
    let name = events.display().to_string();
    let mut reader = input;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        read += 1;
        let raw = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            read -= 1;
            continue;
        }
        let result = match std::str::from_utf8(raw) {
            Ok(line) => engine.push_line(line, read, &mut out_buf).map_err(|e| e.to_string()),
            Err(e) => Err(format!("not UTF-8: {e}")),
        };
        match result {
            Ok(()) => accepted += 1,
            Err(why) => {
                rejected += 1;
                if rejected <= 20 {
                    eprintln!("{name}:{read}: rejected: {why}");
                } else if rejected == 21 {
                    eprintln!("{name}: more rejected lines follow; see the summary");
                }
                if let Some(w) = reject_writer.as_mut() {
                    w.write_all(raw)?;
                    w.write_all(b"\n")?;
                }
            }
        }
        for o in out_buf.drain(..) {
            outputs += 1;
            serde_json::to_writer(&mut writer, &o)?;
            writer.write_all(b"\n")?;
        }
    }
    writer.flush()?;
    if let Some(w) = reject_writer.as_mut() {
        w.flush()?;
    }
    let ignored = engine.ignored();
    eprintln!(
        "yingji: events read: {read}, accepted: {accepted}, rejected: {rejected}, ignored (no definition uses their kind): {ignored}, outputs: {outputs}"
    );
    Ok(ExitCode::SUCCESS)
}
