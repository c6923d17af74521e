//! `yingji graph <PATH>... --format dot|mermaid [--plan NAME]`: draws a plan
//! as the 应急处置流程图.
//!
//! The paths are plan files or folders (searched recursively), like
//! `check`'s. A single file loads the other YAML files of its folder too
//! (chains and the roster are usually there) and draws only the plans of that
//! file; several paths load exactly the YAML files they name or contain, and
//! the plans of the files named (or of all files, when only folders are
//! given) are drawn; `--plan` picks one by name.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use yingji_dsl::SourceMap;
use yingji_dsl::plan::load_plan_texts;
use yingji_engine::workflow::export::{Format, export};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

/// Runs the subcommand; `format` is `dot` or `mermaid`.
pub fn run(paths: &[PathBuf], format: &str, plan: Option<&str>) -> ExitCode {
    let format = match format {
        "dot" => Format::Dot,
        "mermaid" | "mmd" => Format::Mermaid,
        other => {
            eprintln!("yingji graph: unknown format `{other}` (use dot or mermaid)");
            return ExitCode::from(2);
        }
    };
    let mut files = Vec::new();
    let mut only: Vec<PathBuf> = Vec::new();
    for path in paths {
        if path.is_dir() {
            yaml_files(path, &mut files);
        } else if path.is_file() {
            if paths.len() == 1 {
                yaml_files(path.parent().unwrap_or(Path::new(".")), &mut files);
            }
            if !files.iter().any(|f| f == path) {
                files.push(path.clone());
            }
            only.push(path.clone());
        } else {
            eprintln!("yingji graph: no such file or folder: {}", path.display());
            return ExitCode::from(2);
        }
    }
    files.sort();
    files.dedup();
    let mut texts = Vec::new();
    for f in &files {
        match std::fs::read_to_string(f) {
            Ok(t) => texts.push((f.display().to_string(), t)),
            Err(e) => {
                eprintln!("yingji graph: cannot read {}: {e}", f.display());
                return ExitCode::from(2);
            }
        }
    }
    let mut sources = SourceMap::default();
    let loaded = load_plan_texts(&mut sources, &texts, None);
    for d in &loaded.diagnostics {
        eprint!("{}", d.render(&sources));
    }
    if loaded.has_errors() {
        return ExitCode::from(1);
    }
    let only_names: Vec<String> = only.iter().map(|p| p.display().to_string()).collect();
    let candidates: Vec<_> = loaded
        .set
        .plans
        .iter()
        .filter(|p| {
            only_names.is_empty()
                || only_names
                    .iter()
                    .any(|n| p.at.starts_with(&format!("{n}:")))
        })
        .filter(|p| plan.is_none_or(|want| p.name == want))
        .collect();
    match candidates.as_slice() {
        [one] => {
            print!("{}", export(&loaded.set, one, format));
            ExitCode::SUCCESS
        }
        [] => {
            let names: Vec<&str> = loaded.set.plans.iter().map(|p| p.name.as_str()).collect();
            eprintln!("yingji graph: no such plan; plans: {}", names.join(", "));
            ExitCode::from(1)
        }
        many => {
            let names: Vec<&str> = many.iter().map(|p| p.name.as_str()).collect();
            eprintln!(
                "yingji graph: several plans ({}); pick one with --plan",
                names.join(", ")
            );
            ExitCode::from(1)
        }
    }
}
