//! `yingji fmt [--check] <PATH>...`: the canonical layout of definition
//! files (`yingji_dsl::fmt`).
//!
//! Paths are files or folders (searched recursively for `.yj`, `.yaml` and
//! `.yml`). Without `--check` changed files are rewritten in place and named
//! on standard error; with `--check` nothing is written and the files that
//! would change are listed on standard output. A file that does not parse is
//! left as it is and its diagnostics are printed (rendered as by `check`).
//! Exit 0 when everything is formatted (or was just formatted), 1 when
//! `--check` found files to change or some file could not be read or parsed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use yingji_dsl::SourceMap;

/// Arguments of `yingji fmt`.
#[derive(clap::Args)]
pub struct FmtArgs {
    /// `.yj` / `.yaml` files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write nothing; list the files that would change and exit 1 if any.
    #[arg(long)]
    check: bool,
}

fn is_definition(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|x| x.to_str()),
        Some("yj" | "yaml" | "yml")
    )
}

fn collect(p: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(p) {
            Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
            Err(e) => {
                errors.push(format!("{}: {e}", p.display()));
                return;
            }
        };
        entries.sort();
        for e in entries {
            if e.is_dir() || is_definition(&e) {
                collect(&e, out, errors);
            }
        }
    } else if p.exists() {
        out.push(p.to_path_buf());
    } else {
        errors.push(format!("{}: no such file or folder", p.display()));
    }
}

/// Runs the subcommand.
pub fn run(args: &FmtArgs) -> ExitCode {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in &args.paths {
        collect(p, &mut files, &mut errors);
    }
    let mut failed = !errors.is_empty();
    for e in &errors {
        eprintln!("yingji fmt: {e}");
    }
    let mut changed = 0usize;
    for path in &files {
        let name = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("yingji fmt: {name}: {e}");
                failed = true;
                continue;
            }
        };
        let mut sources = SourceMap::default();
        let file = sources.add(&name, &text);
        match yingji_dsl::fmt::format_file(file, &name, &text) {
            Ok(out) if out == text => {}
            Ok(out) => {
                changed += 1;
                if args.check {
                    println!("{name}");
                } else if let Err(e) = std::fs::write(path, out) {
                    eprintln!("yingji fmt: {name}: {e}");
                    failed = true;
                } else {
                    eprintln!("formatted {name}");
                }
            }
            Err(diags) => {
                failed = true;
                for d in &diags {
                    eprint!("{}", d.render(&sources));
                }
                eprintln!("yingji fmt: {name} not formatted: it does not parse");
            }
        }
    }
    if args.check && changed > 0 {
        eprintln!("yingji fmt: {changed} file(s) would be reformatted (run `yingji fmt` on them)");
        failed = true;
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
