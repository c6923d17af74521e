//! `yingji assess`: score units on their records, with 一票否决 and evidence.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use unicode_width::UnicodeWidthStr;
use yingji_dsl::load::FsLoader;
use yingji_engine::Timestamp;
use yingji_engine::assess::deadline::{Check, Status, human_duration};
use yingji_engine::assess::eval::{AssessmentResult, Report, run as run_assessments};
use yingji_engine::assess::records::{RecordSet, read_records_bytes};
use yingji_engine::assess::{AssessProgram, CriterionKind};

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AssessFormat {
    /// A table aligned for a terminal, then vetoes and late/missing reports.
    Table,
    /// One JSON document.
    Json,
}

/// The arguments of `yingji assess`.
#[derive(Debug, clap::Args)]
pub struct AssessArgs {
    /// `.yj` / `.yaml` files or folders with the assessments, gradings and deadlines.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Records (JSONL: accidents, reports, inspections, …, each with `unit`).
    #[arg(long)]
    pub records: PathBuf,
    /// Table or JSON on standard output.
    #[arg(long, value_enum, default_value = "table")]
    pub format: AssessFormat,
    /// Also write a units × criteria summary as CSV to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// The period to assess (`2024`, `2024-Q3`, `2024-07`); default: the period of the latest record.
    #[arg(long)]
    pub period: Option<String>,
    /// Decide reporting deadlines as of this time (RFC 3339); default: the latest record's time.
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Runs `yingji assess`. Exit 0 on success; 1 when the definitions do not
/// load, the records cannot be read, or some record lines were refused (the
/// results are still printed, computed without them).
pub fn run(args: &AssessArgs) -> ExitCode {
    let loaded = yingji_dsl::assess::load(&FsLoader(args.paths.clone()));
    for d in loaded.loaded.diagnostics.iter().filter(|d| !d.is_error()) {
        eprint!("{}", d.render(&loaded.loaded.sources));
    }
    if loaded.loaded.has_errors() {
        for d in loaded.loaded.diagnostics.iter().filter(|d| d.is_error()) {
            eprint!("{}", d.render(&loaded.loaded.sources));
        }
        let n = loaded
            .loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        eprintln!("yingji: {n} error(s); definitions not accepted");
        return ExitCode::from(1);
    }
    let program = loaded.program;
    if program.assessments.is_empty() {
        eprintln!("yingji: no `assessment` is defined in the given paths");
        return ExitCode::from(1);
    }
    // bytes, not text: a line that is not UTF-8 is refused on its own below
    let text = match std::fs::read(&args.records) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("yingji: {}: {e}", args.records.display());
            return ExitCode::from(1);
        }
    };
    let as_of = match args.as_of.as_deref().map(Timestamp::parse).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("yingji: --as-of: {e}");
            return ExitCode::from(1);
        }
    };
    let set = read_records_bytes(&program, &text);
    let name = args.records.display().to_string();
    for r in &set.rejected {
        eprintln!("{name}:{}: rejected: {}", r.line, r.error);
    }
    let report = match run_assessments(&program, &set.records, args.period.as_deref(), as_of) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("yingji: {e}");
            return ExitCode::from(1);
        }
    };
    for a in &report.assessments {
        for u in &a.unknown_units {
            eprintln!(
                "{name}:{}: unit `{}` is not in the roster of `{}` ({} record(s), not assessed)",
                u.first_line, u.unit, a.unit_type, u.records
            );
        }
    }
    let out = match args.format {
        AssessFormat::Table => table(&program, &report, &set),
        AssessFormat::Json => json(&report, &set),
    };
    print!("{out}");
    if let Some(path) = &args.csv {
        if let Err(e) = std::fs::write(path, csv(&report)) {
            eprintln!("yingji: {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    eprintln!(
        "yingji: records read: {}, rejected: {}; {} assessment(s), {} unit(s), {} vetoed",
        set.records.len() + set.rejected.len(),
        set.rejected.len(),
        report.assessments.len(),
        report
            .assessments
            .iter()
            .map(|a| a.units.len())
            .sum::<usize>(),
        report
            .assessments
            .iter()
            .flat_map(|a| &a.units)
            .filter(|u| u.vetoed)
            .count(),
    );
    if set.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Points as people write them: `20`, `18.5`, `13.33`.
pub fn points(x: f64) -> String {
    let s = format!("{:.2}", x);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.to_string() }
}

fn pad(s: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(s.width()));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Rows of cells aligned by display width (Chinese characters count two
/// columns); `right[i]` aligns column `i` to the right.
pub fn align(rows: &[Vec<String>], right: &[bool]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..ncols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, s)| {
                pad(
                    s,
                    widths.get(i).copied().unwrap_or(0),
                    right.get(i).copied().unwrap_or(false),
                )
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn table(program: &AssessProgram, report: &Report, set: &RecordSet) -> String {
    let mut out = String::new();
    for a in &report.assessments {
        let def = program
            .assessments
            .iter()
            .find(|d| d.name == a.assessment.as_ref());
        let _ = writeln!(
            out,
            "{} — {} {}, 满分 {}",
            a.assessment,
            a.unit_type,
            a.period,
            points(a.total)
        );
        let _ = writeln!(out);
        let mut header = vec!["单位".to_string()];
        let mut right = vec![false];
        for (i, c) in a.criteria.iter().enumerate() {
            let kind = def.and_then(|d| d.criteria.get(i)).map(|c| c.kind);
            header.push(match kind {
                Some(CriterionKind::Deduct) => format!("{c}(扣)"),
                Some(CriterionKind::Bonus) => format!("{c}(加)"),
                _ => c.to_string(),
            });
            right.push(true);
        }
        header.extend(["总分".to_string(), "否决".to_string(), "等级".to_string()]);
        right.extend([true, false, false]);
        let mut rows = vec![header];
        for u in &a.units {
            let mut row = vec![u.unit.to_string()];
            row.extend(u.criteria.iter().map(|c| {
                if c.kind == CriterionKind::Deduct && c.points > 0.0 {
                    format!("-{}", points(c.points))
                } else {
                    points(c.points)
                }
            }));
            row.push(points(u.score));
            row.push(if u.vetoed {
                u.vetoes
                    .iter()
                    .map(|v| v.name.as_ref())
                    .collect::<Vec<_>>()
                    .join("、")
            } else {
                "—".to_string()
            });
            row.push(u.grade.to_string());
            rows.push(row);
        }
        out.push_str(&align(&rows, &right));
        let vetoed: Vec<_> = a.units.iter().filter(|u| u.vetoed).collect();
        if !vetoed.is_empty() {
            let _ = writeln!(out, "\n一票否决 (vetoes):");
            for u in vetoed {
                for v in &u.vetoes {
                    let _ = writeln!(
                        out,
                        "  {}  {}: {}  [{}]\n      evidence: {}  (score {} would be {})",
                        u.unit,
                        v.name,
                        v.rule,
                        v.rule_at,
                        if v.evidence.is_empty() {
                            "—".to_string()
                        } else {
                            v.evidence.join(", ")
                        },
                        points(u.score),
                        u.score_grade
                    );
                }
            }
        }
        if !a.unknown_units.is_empty() {
            let _ = writeln!(out, "\nunits not in the roster (not assessed):");
            for u in &a.unknown_units {
                let _ = writeln!(
                    out,
                    "  {}  {} record(s), first on line {}",
                    u.unit, u.records, u.first_line
                );
            }
        }
        out.push('\n');
    }
    out.push_str(&grades_table(report));
    let problems: Vec<&Check> = report
        .deadlines
        .iter()
        .filter(|c| matches!(c.status, Status::Late { .. } | Status::Missing))
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(out, "报送时限 (late or missing reports):");
        let mut rows = Vec::new();
        for c in problems {
            let stage = match c.occurrence {
                Some(k) => format!("{}#{k}", c.stage),
                None => c.stage.to_string(),
            };
            let what = match &c.status {
                Status::Late {
                    report, late_by_ms, ..
                } => format!("late by {} ({report})", human_duration(*late_by_ms)),
                _ => "missing".to_string(),
            };
            rows.push(vec![
                format!("  {}", c.unit),
                c.subject.to_string(),
                stage,
                format!("due {}", c.due),
                what,
            ]);
        }
        out.push_str(&align(&rows, &[false; 5]));
        out.push('\n');
    }
    if !set.rejected.is_empty() {
        let _ = writeln!(
            out,
            "{} record line(s) refused; see standard error",
            set.rejected.len()
        );
    }
    out
}

/// Each graded record's grade, one block per grading: unit, record, time,
/// grade and the rule that gave it (`else` for the default grade).
fn grades_table(report: &Report) -> String {
    let mut out = String::new();
    let mut gradings: Vec<&str> = Vec::new();
    for g in &report.grades {
        if !gradings.contains(&g.grading.as_ref()) {
            gradings.push(&g.grading);
        }
    }
    for name in gradings {
        let _ = writeln!(out, "{name} (per record):");
        let mut rows = vec![vec![
            "  单位".to_string(),
            "记录".to_string(),
            "时间".to_string(),
            "行".to_string(),
            "等级".to_string(),
            "依据".to_string(),
        ]];
        for g in report.grades.iter().filter(|g| g.grading.as_ref() == name) {
            rows.push(vec![
                format!("  {}", g.unit),
                g.id.to_string(),
                g.ts.to_string(),
                g.line.to_string(),
                g.grade.clone(),
                g.rule.clone().unwrap_or_else(|| "else".to_string()),
            ]);
        }
        out.push_str(&align(&rows, &[false, false, false, true, false, false]));
        out.push('\n');
    }
    out
}

fn json(report: &Report, set: &RecordSet) -> String {
    let v = yingji_engine::assess::report_json(report, set);
    let mut s =
        serde_json::to_string_pretty(&v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A units × criteria table: one row per unit and assessment.
pub fn csv(report: &Report) -> String {
    let mut out = String::new();
    for (i, a) in report.assessments.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        write_csv(&mut out, a);
    }
    out
}

fn write_csv(out: &mut String, a: &AssessmentResult) {
    let mut header = vec![
        "assessment".to_string(),
        "period".to_string(),
        "unit".to_string(),
    ];
    header.extend(a.criteria.iter().map(|c| c.to_string()));
    header.extend(["score", "vetoed", "vetoes", "evidence", "grade"].map(String::from));
    out.push_str(
        &header
            .iter()
            .map(|h| csv_field(h))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push('\n');
    for u in &a.units {
        let mut row = vec![
            a.assessment.to_string(),
            a.period.to_string(),
            u.unit.to_string(),
        ];
        row.extend(u.criteria.iter().map(|c| points(c.points)));
        row.push(points(u.score));
        row.push(u.vetoed.to_string());
        row.push(
            u.vetoes
                .iter()
                .map(|v| v.name.as_ref())
                .collect::<Vec<_>>()
                .join("; "),
        );
        row.push(
            u.vetoes
                .iter()
                .flat_map(|v| v.evidence.iter().map(|e| e.as_ref()))
                .collect::<Vec<_>>()
                .join("; "),
        );
        row.push(u.grade.to_string());
        out.push_str(
            &row.iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
}
