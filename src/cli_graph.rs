//! `yingji graph <PLAN_PATH> --format dot|mermaid [--plan NAME]`: draws a plan
//! as the 应急处置流程图.
//!
//! `PLAN_PATH` is a plan file or a folder. For a file, the other YAML files of
//! its folder are loaded too (chains and the roster are usually there), and
//! only the plans of that file are drawn; `--plan` picks one by name.

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
pub fn run(path: &Path, format: &str, plan: Option<&str>) -> ExitCode {
    let format = match format {
        "dot" => Format::Dot,
        "mermaid" | "mmd" => Format::Mermaid,
        other => {
            eprintln!("yingji graph: unknown format `{other}` (use dot or mermaid)");
            return ExitCode::from(2);
        }
    };
    let mut files = Vec::new();
    let only: Option<PathBuf> = if path.is_dir() {
        yaml_files(path, &mut files);
        None
    } else if path.is_file() {
        yaml_files(path.parent().unwrap_or(Path::new(".")), &mut files);
        if !files.iter().any(|f| f == path) {
            files.push(path.to_path_buf());
        }
        Some(path.to_path_buf())
    } else {
        eprintln!("yingji graph: no such file or folder: {}", path.display());
        return ExitCode::from(2);
    };
    files.sort();
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
    let only_name = only.map(|p| p.display().to_string());
    let candidates: Vec<_> = loaded
        .set
        .plans
        .iter()
        .filter(|p| {
            only_name
                .as_ref()
                .is_none_or(|n| p.at.starts_with(&format!("{n}:")))
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
