//! `yingji test <PATH>...`: run authors' scenario files.
//!
//! A scenario file is YAML named `*.test.yaml` (or `*.test.yml`) next to the
//! definitions it tests (folder walks of `check` and `run` skip it):
//!
//! ```yaml
//! definitions: rainstorm.yj          # default for every scenario: the file's folder
//! scenarios:
//!   - name: 3 小时 100 mm 为红色
//!     events: |                       # inline JSONL, or `events_file: a.jsonl` (or a list)
//!       {"ts":"2024-07-29T01:00:00+08:00","kind":"rain","station":"A","town":"x","mm":60}
//!     finish: 2024-07-29T06:00:00+08:00   # optional: end of input, clock run to then
//!     expect:                         # in order; every output (`match: exact`, the default)
//!       - {type: level_changed, key: A, to: orange}       # partial: these fields only
//!       - '{"type":"level_changed", ...}'                 # exact: the whole line
//!     absent: [script_error]          # no output of these types
//!     rejected: [{line: 2, reason: must be a number}]   # lines the engine must refuse
//! ```
//!
//! Paths are relative to the scenario file; `rule_at` in outputs is compared
//! relative to it too. Exit codes: `0` every scenario passed, `1` some
//! scenario's outputs differ from its expectations, `2` the tests cannot run
//! (no scenario file found, a file that is not a valid scenario file,
//! definitions or events that cannot be read or loaded, an event line the
//! engine refuses that `rejected` does not list) or usage.

use crate::cli_replay::{Replayed, Settings, Source, replay};
use serde::Deserialize;
use serde_json::Value as J;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use yingji::{Definitions, Timestamp};

include!(concat!(env!("OUT_DIR"), "/output_schemas.rs"));

/// Arguments of `yingji test`.
#[derive(clap::Args)]
pub struct TestArgs {
    /// Scenario files (`*.test.yaml`) or folders to search for them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Also write the results as JUnit XML to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Paths {
    One(String),
    Many(Vec<String>),
}

impl Paths {
    fn list(&self) -> Vec<String> {
        match self {
            Paths::One(p) => vec![p.clone()],
            Paths::Many(v) => v.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileYaml {
    definitions: Option<Paths>,
    scenarios: Vec<Spanned<ScenarioYaml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioYaml {
    name: String,
    definitions: Option<Paths>,
    events: Option<Spanned<String>>,
    events_file: Option<Paths>,
    #[serde(default)]
    trace: bool,
    advance_to: Option<Spanned<String>>,
    finish: Option<Spanned<String>>,
    #[serde(rename = "match")]
    mode: Option<Spanned<String>>,
    #[serde(default)]
    expect: Vec<Spanned<J>>,
    #[serde(default)]
    absent: Vec<Spanned<String>>,
    #[serde(default)]
    rejected: Vec<RejectYaml>,
}

/// A line the scenario expects the engine to refuse.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RejectYaml {
    /// Its input position (the n-th line of the events).
    line: u64,
    /// A part of the reason.
    reason: Option<String>,
}

/// One expected output.
#[derive(Debug)]
enum Expect {
    /// The whole output (an output line).
    Exact(J),
    /// These fields of an output.
    Partial(serde_json::Map<String, J>),
}

impl Expect {
    fn json(&self) -> String {
        match self {
            Expect::Exact(v) => v.to_string(),
            Expect::Partial(m) => J::Object(m.clone()).to_string(),
        }
    }

    /// Where `actual` differs from this expectation (empty: it matches).
    fn differences(&self, actual: &J) -> Vec<String> {
        match self {
            Expect::Exact(v) => {
                let mut d = Vec::new();
                diff_fields(v, actual, "", true, &mut d);
                d
            }
            Expect::Partial(m) => {
                let mut d = Vec::new();
                diff_fields(&J::Object(m.clone()), actual, "", false, &mut d);
                d
            }
        }
    }
}

/// Numbers compare by value (`3` = `3.0`), objects by member (order free;
/// `whole`: the same members, else the expected ones), arrays element by
/// element.
fn diff_fields(want: &J, got: &J, at: &str, whole: bool, out: &mut Vec<String>) {
    let name = |k: &str| {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    };
    match (want, got) {
        (J::Object(w), J::Object(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff_fields(wv, gv, &name(k), whole, out),
                    None => out.push(format!("`{}`: expected {wv}, missing", name(k))),
                }
            }
            if whole {
                for (k, gv) in g {
                    // an exact line without `id` matches any id
                    let top_id = at.is_empty() && k == "id";
                    if !w.contains_key(k) && !top_id {
                        out.push(format!("`{}`: not expected, got {gv}", name(k)));
                    }
                }
            }
        }
        (J::Array(w), J::Array(g)) => {
            if w.len() != g.len() {
                out.push(format!(
                    "`{at}`: expected {} element(s), got {}: {got}",
                    w.len(),
                    g.len()
                ));
            } else {
                for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                    diff_fields(wv, gv, &format!("{at}[{i}]"), whole, out);
                }
            }
        }
        (J::Number(a), J::Number(b)) => {
            let same = match (a.as_i64(), b.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            };
            if !same {
                out.push(format!("`{at}`: expected {want}, got {got}"));
            }
        }
        (w, g) if w == g => {}
        (w, g) => out.push(format!("`{at}`: expected {w}, got {g}")),
    }
}

/// How expectations meet outputs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Every output, in order, one expectation each.
    Exact,
    /// The expectations in order among the outputs; others may come between.
    InOrder,
}

/// A scenario ready to run.
struct Scenario {
    name: String,
    /// `file:line` of the scenario.
    at: String,
    definitions: Vec<PathBuf>,
    events: Vec<Source>,
    trace: bool,
    settings: Settings,
    mode: Mode,
    expect: Vec<Expect>,
    absent: Vec<String>,
    rejected: Vec<RejectYaml>,
}

/// What happened to one scenario.
enum Outcome {
    Passed,
    /// The outputs differ: the report.
    Failed(String),
    /// It could not run: why.
    Broken(String),
}

struct CaseResult {
    name: String,
    at: String,
    outcome: Outcome,
    secs: f64,
}

struct FileResult {
    file: String,
    /// The file itself is invalid.
    broken: Option<String>,
    cases: Vec<CaseResult>,
    secs: f64,
}

fn find(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                find(&e, out)?;
            } else if yingji_dsl::load::is_scenario_file(&e) {
                out.push(e);
            }
        }
        Ok(())
    } else if p.exists() {
        if !yingji_dsl::load::is_scenario_file(p) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a scenario file (scenario files are named `*.test.yaml`)",
            ));
        }
        out.push(p.to_path_buf());
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file or folder",
        ))
    }
}

/// The schema's properties of output type `ty`, and whether they are all
/// its fields (`additionalProperties: false`; the report types also carry
/// their check's own fields). `None`: no such type.
fn fields_of(ty: &str) -> Option<(Vec<String>, bool)> {
    let text = OUTPUT_SCHEMAS.iter().find(|(t, _)| *t == ty)?.1;
    let v: J = serde_json::from_str(text).ok()?;
    let closed = v.get("additionalProperties") == Some(&J::Bool(false));
    Some((
        v.get("properties")?.as_object()?.keys().cloned().collect(),
        closed,
    ))
}

fn known_types() -> String {
    OUTPUT_SCHEMAS
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(", ")
}

fn loc<T>(file: &str, s: &Spanned<T>) -> String {
    format!("{file}:{}:{}", s.referenced.line(), s.referenced.column())
}

/// Checks one expectation: a line of JSON, or a mapping of known fields.
fn expectation(file: &str, e: &Spanned<J>) -> Result<Expect, String> {
    let at = loc(file, e);
    match &e.value {
        J::String(line) => match serde_json::from_str::<J>(line) {
            Ok(v @ J::Object(_)) => Ok(Expect::Exact(v)),
            Ok(_) => Err(format!(
                "{at}: an exact expectation must be a JSON object (an output line)"
            )),
            Err(err) => Err(format!("{at}: an exact expectation is not JSON: {err}")),
        },
        J::Object(m) => {
            let ty = match m.get("type") {
                Some(J::String(t)) => Some(t.clone()),
                Some(other) => {
                    return Err(format!(
                        "{at}: `type` must be an output type name, got {other}"
                    ));
                }
                None => None,
            };
            let (allowed, closed): (Vec<String>, bool) = match &ty {
                Some(t) => fields_of(t).ok_or_else(|| {
                    format!("{at}: unknown output type `{t}` (known: {})", known_types())
                })?,
                None => {
                    let mut closed = true;
                    let mut all: Vec<String> = Vec::new();
                    for (t, _) in OUTPUT_SCHEMAS {
                        if let Some((f, c)) = fields_of(t) {
                            all.extend(f);
                            closed &= c;
                        }
                    }
                    all.sort();
                    all.dedup();
                    (all, closed)
                }
            };
            for k in m.keys() {
                if closed && !allowed.contains(k) {
                    let of = ty
                        .as_deref()
                        .map_or("any output".into(), |t| format!("a `{t}` output"));
                    return Err(format!(
                        "{at}: unknown field `{k}` in the expectation: not a field of {of} (fields: {})",
                        allowed.join(", ")
                    ));
                }
            }
            Ok(Expect::Partial(m.clone()))
        }
        other => Err(format!(
            "{at}: an expectation is a mapping of output fields or an output line in quotes, got {other}"
        )),
    }
}

fn timestamp(file: &str, s: &Spanned<String>, what: &str) -> Result<Timestamp, String> {
    Timestamp::parse(&s.value).map_err(|e| format!("{}: `{what}`: {e}", loc(file, s)))
}

/// A scenario that cannot run: its name, place and why.
type BadScenario = (String, String, String);

/// Reads and checks a scenario file.
fn parse_file(path: &Path) -> Result<Vec<Result<Scenario, BadScenario>>, String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: {e}"))?;
    let doc: FileYaml = serde_saphyr::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
    let dir = path.parent().unwrap_or(Path::new(""));
    let default_defs = doc.definitions.as_ref().map_or_else(
        || vec![dir.to_path_buf()],
        |p| p.list().iter().map(|x| dir.join(x)).collect(),
    );
    if doc.scenarios.is_empty() {
        return Err(format!("{file}: no scenarios (`scenarios:` is empty)"));
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for s in &doc.scenarios {
        let at = loc(&file, s);
        let sc = &s.value;
        let one = (|| -> Result<Scenario, String> {
            let mut events = Vec::new();
            if let Some(ev) = &sc.events {
                // a block scalar (`|`) starts on the next line
                let l = usize::try_from(ev.referenced.line()).unwrap_or(1);
                let head = lines.get(l.saturating_sub(1)).copied().unwrap_or("");
                let col = usize::try_from(ev.referenced.column()).unwrap_or(1);
                let rest = head.chars().skip(col.saturating_sub(1)).collect::<String>();
                let block =
                    rest.trim_start().starts_with('|') || rest.trim_start().starts_with('>');
                events.push(Source {
                    name: file.clone(),
                    text: ev.value.clone(),
                    first_line: if block { l + 1 } else { l },
                });
            }
            if let Some(f) = &sc.events_file {
                for p in f.list() {
                    events.push(Source::file(&dir.join(p))?);
                }
            }
            let mode = match sc.mode.as_ref().map(|m| m.value.as_str()) {
                None | Some("exact") => Mode::Exact,
                Some("in_order") => Mode::InOrder,
                Some(other) => {
                    return Err(format!(
                        "{}: `match: {other}`: use `exact` (every output, the default) or `in_order` (the expected ones in order among the rest)",
                        sc.mode.as_ref().map_or(at.clone(), |m| loc(&file, m))
                    ));
                }
            };
            let expect = sc
                .expect
                .iter()
                .map(|e| expectation(&file, e))
                .collect::<Result<Vec<_>, _>>()?;
            let mut absent = Vec::new();
            for a in &sc.absent {
                if fields_of(&a.value).is_none() {
                    return Err(format!(
                        "{}: `absent`: unknown output type `{}` (known: {})",
                        loc(&file, a),
                        a.value,
                        known_types()
                    ));
                }
                absent.push(a.value.clone());
            }
            let definitions = sc.definitions.as_ref().map_or_else(
                || default_defs.clone(),
                |p| p.list().iter().map(|x| dir.join(x)).collect(),
            );
            for d in &definitions {
                if !d.exists() {
                    return Err(format!(
                        "{at}: definitions `{}`: no such file or folder",
                        d.display()
                    ));
                }
            }
            Ok(Scenario {
                name: sc.name.clone(),
                at: at.clone(),
                definitions,
                events,
                trace: sc.trace,
                settings: Settings {
                    advance_to: sc
                        .advance_to
                        .as_ref()
                        .map(|t| timestamp(&file, t, "advance_to"))
                        .transpose()?,
                    until: sc
                        .finish
                        .as_ref()
                        .map(|t| timestamp(&file, t, "finish"))
                        .transpose()?,
                },
                mode,
                expect,
                absent,
                rejected: sc.rejected.clone(),
            })
        })();
        out.push(one.map_err(|e| (sc.name.clone(), at.clone(), e)));
    }
    Ok(out)
}

/// The outputs as JSON and as their lines, `rule_at` relative to the
/// scenario's folder.
fn outputs_json(r: &Replayed, dir: &Path) -> Vec<(J, String)> {
    let prefix = if dir.as_os_str().is_empty() {
        None
    } else {
        Some(format!("{}/", dir.display()))
    };
    // the prefix as it appears inside a JSON string, after `"rule_at":"`
    let quoted = prefix.as_ref().map(|p| {
        let q = serde_json::to_string(p).unwrap_or_default();
        format!("\"rule_at\":{}", q.strip_suffix('"').unwrap_or(&q))
    });
    r.outputs
        .iter()
        .map(|o| {
            let mut v = serde_json::to_value(o).unwrap_or_default();
            let mut line = o.to_json();
            if let (Some(p), Some(J::String(at))) = (&prefix, v.get_mut("rule_at")) {
                if let Some(rest) = at.strip_prefix(p.as_str()) {
                    *at = rest.to_string();
                    if let Some(q) = &quoted {
                        line = line.replacen(q.as_str(), "\"rule_at\":\"", 1);
                    }
                }
            }
            (v, line)
        })
        .collect()
}

fn listing(actual: &[(J, String)], mark: usize, out: &mut String) {
    let from = mark.saturating_sub(3);
    let to = (mark + 4).min(actual.len());
    if from > 0 {
        let _ = writeln!(out, "       … {from} output(s) before");
    }
    for (i, (_, v)) in actual.iter().enumerate().take(to).skip(from) {
        let m = if i == mark { ">" } else { " " };
        let _ = writeln!(out, "    {m} {:>3} {v}", i + 1);
    }
    if to < actual.len() {
        let _ = writeln!(out, "       … {} more output(s)", actual.len() - to);
    }
}

/// Compares the outputs with the scenario's expectations.
fn judge(sc: &Scenario, actual: &[(J, String)]) -> Result<(), String> {
    let mut report = String::new();
    match sc.mode {
        Mode::Exact => {
            let n = sc.expect.len().max(actual.len());
            for i in 0..n {
                match (sc.expect.get(i), actual.get(i)) {
                    (Some(e), Some((a, line))) => {
                        let d = e.differences(a);
                        if !d.is_empty() {
                            let _ = writeln!(
                                report,
                                "  first difference at output {} (expected {} output(s), got {}):",
                                i + 1,
                                sc.expect.len(),
                                actual.len()
                            );
                            let _ = writeln!(report, "    expected: {}", e.json());
                            let _ = writeln!(report, "    actual:   {line}");
                            for x in d {
                                let _ = writeln!(report, "      {x}");
                            }
                            listing(actual, i, &mut report);
                            return Err(report);
                        }
                    }
                    (Some(_), None) => {
                        let _ = writeln!(
                            report,
                            "  first difference at output {}: expected {} output(s), got {}; missing:",
                            i + 1,
                            sc.expect.len(),
                            actual.len()
                        );
                        for e in sc.expect.iter().skip(i) {
                            let _ = writeln!(report, "    expected: {}", e.json());
                        }
                        return Err(report);
                    }
                    (None, Some(_)) => {
                        let _ = writeln!(
                            report,
                            "  first difference at output {}: expected {} output(s), got {}; not expected:",
                            i + 1,
                            sc.expect.len(),
                            actual.len()
                        );
                        listing(actual, i, &mut report);
                        return Err(report);
                    }
                    (None, None) => {}
                }
            }
        }
        Mode::InOrder => {
            let mut cursor = 0usize;
            for (k, e) in sc.expect.iter().enumerate() {
                match actual
                    .iter()
                    .enumerate()
                    .skip(cursor)
                    .find(|(_, (a, _))| e.differences(a).is_empty())
                {
                    Some((i, _)) => cursor = i + 1,
                    None => {
                        let _ = writeln!(
                            report,
                            "  expectation {} not found after output {cursor} (of {}):",
                            k + 1,
                            actual.len()
                        );
                        let _ = writeln!(report, "    expected: {}", e.json());
                        // the nearest candidate: the first later output of the same type
                        let ty = match e {
                            Expect::Exact(v) => v.get("type"),
                            Expect::Partial(m) => m.get("type"),
                        };
                        if let Some((i, (a, line))) = actual
                            .iter()
                            .enumerate()
                            .skip(cursor)
                            .find(|(_, (a, _))| ty.is_none() || a.get("type") == ty)
                        {
                            let _ = writeln!(report, "    nearest:  {line}");
                            for x in e.differences(a) {
                                let _ = writeln!(report, "      {x}");
                            }
                            listing(actual, i, &mut report);
                        }
                        return Err(report);
                    }
                }
            }
        }
    }
    for (i, (a, _)) in actual.iter().enumerate() {
        if let Some(J::String(t)) = a.get("type") {
            if sc.absent.contains(t) {
                let _ = writeln!(
                    report,
                    "  output {} is a `{t}`, which is to be absent:",
                    i + 1
                );
                listing(actual, i, &mut report);
                return Err(report);
            }
        }
    }
    Ok(())
}

fn run_scenario(
    sc: &Scenario,
    file: &Path,
    cache: &mut BTreeMap<Vec<PathBuf>, Definitions>,
) -> Outcome {
    if !cache.contains_key(&sc.definitions) {
        match Definitions::from_paths(&sc.definitions) {
            Ok(d) => {
                cache.insert(sc.definitions.clone(), d);
            }
            Err(e) => {
                return Outcome::Broken(format!("{}: the definitions do not load:\n{e}", sc.at));
            }
        }
    }
    let Some(defs) = cache.get_mut(&sc.definitions) else {
        return Outcome::Broken("definitions lost".into());
    };
    let r = match replay(defs, sc.trace, &sc.events, sc.settings) {
        Ok(r) => r,
        Err(e) => return Outcome::Broken(format!("{}: {e}", sc.at)),
    };
    if sc.rejected.is_empty() {
        if let Some(x) = r.rejected.first() {
            return Outcome::Broken(format!(
                "{}: event line refused (input line {}): {}",
                x.at, x.seq, x.reason
            ));
        }
    } else {
        let want: Vec<u64> = sc.rejected.iter().map(|x| x.line).collect();
        let got: Vec<u64> = r.rejected.iter().map(|x| x.seq).collect();
        let reasons_ok = sc.rejected.iter().zip(&r.rejected).all(|(w, g)| {
            w.reason
                .as_deref()
                .is_none_or(|part| g.reason.contains(part))
        });
        if want != got || !reasons_ok {
            let mut report = String::from("  the refused lines differ from `rejected`:\n");
            for w in &sc.rejected {
                let _ = writeln!(
                    report,
                    "    expected: line {}{}",
                    w.line,
                    w.reason
                        .as_deref()
                        .map(|p| format!(", reason containing {p:?}"))
                        .unwrap_or_default()
                );
            }
            if r.rejected.is_empty() {
                report.push_str("    refused:  none\n");
            }
            for g in &r.rejected {
                let _ = writeln!(
                    report,
                    "    refused:  line {} ({}): {}",
                    g.seq, g.at, g.reason
                );
            }
            return Outcome::Failed(report);
        }
    }
    let dir = file.parent().unwrap_or(Path::new(""));
    match judge(sc, &outputs_json(&r, dir)) {
        Ok(()) => Outcome::Passed,
        Err(report) => Outcome::Failed(report),
    }
}

fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

fn junit(files: &[FileResult]) -> String {
    let count =
        |f: &FileResult, p: fn(&Outcome) -> bool| f.cases.iter().filter(|c| p(&c.outcome)).count();
    let failed = |o: &Outcome| matches!(o, Outcome::Failed(_));
    let broken = |o: &Outcome| matches!(o, Outcome::Broken(_));
    let tests: usize = files
        .iter()
        .map(|f| f.cases.len().max(usize::from(f.broken.is_some())))
        .sum();
    let failures: usize = files.iter().map(|f| count(f, failed)).sum();
    let errors: usize = files
        .iter()
        .map(|f| count(f, broken) + usize::from(f.broken.is_some()))
        .sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"yingji test\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">"
    );
    for f in files {
        let name = xml(&f.file);
        let _ = writeln!(
            s,
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3}\">",
            f.cases.len().max(usize::from(f.broken.is_some())),
            count(f, failed),
            count(f, broken) + usize::from(f.broken.is_some()),
            f.secs
        );
        if let Some(why) = &f.broken {
            let _ = writeln!(
                s,
                "    <testcase name=\"{name}\" classname=\"{name}\" time=\"0\">\n      <error message=\"invalid scenario file\">{}</error>\n    </testcase>",
                xml(why)
            );
        }
        for c in &f.cases {
            // `at` is `file:line:col`
            let line = c.at.rsplit(':').nth(1).unwrap_or("0");
            let _ = write!(
                s,
                "    <testcase name=\"{}\" classname=\"{name}\" file=\"{name}\" line=\"{}\" time=\"{:.3}\"",
                xml(&c.name),
                xml(line),
                c.secs
            );
            match &c.outcome {
                Outcome::Passed => s.push_str("/>\n"),
                Outcome::Failed(r) => {
                    let _ = writeln!(
                        s,
                        ">\n      <failure message=\"outputs differ from the expectations\">{}</failure>\n    </testcase>",
                        xml(r)
                    );
                }
                Outcome::Broken(r) => {
                    let _ = writeln!(
                        s,
                        ">\n      <error message=\"the scenario cannot run\">{}</error>\n    </testcase>",
                        xml(r)
                    );
                }
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

/// `yingji test`.
pub fn run(a: &TestArgs) -> ExitCode {
    let mut files = Vec::new();
    for p in &a.paths {
        if let Err(e) = find(p, &mut files) {
            eprintln!("yingji: {}: {e}", p.display());
            return ExitCode::from(2);
        }
    }
    if files.is_empty() {
        eprintln!(
            "yingji: no scenario files (`*.test.yaml`) under {}",
            a.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        return ExitCode::from(2);
    }
    let mut cache = BTreeMap::new();
    let mut results = Vec::new();
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    for f in &files {
        let started = Instant::now();
        let name = f.display().to_string();
        let mut fr = FileResult {
            file: name.clone(),
            broken: None,
            cases: Vec::new(),
            secs: 0.0,
        };
        match parse_file(f) {
            Err(e) => {
                println!("ERROR {name}: not a valid scenario file");
                println!("  {e}");
                broken += 1;
                fr.broken = Some(e);
            }
            Ok(scenarios) => {
                for s in scenarios {
                    let t = Instant::now();
                    let (case_name, at, outcome) = match s {
                        Ok(sc) => {
                            let o = run_scenario(&sc, f, &mut cache);
                            (sc.name, sc.at, o)
                        }
                        Err((n, at, e)) => (n, at, Outcome::Broken(e)),
                    };
                    match &outcome {
                        Outcome::Passed => {
                            passed += 1;
                            println!("ok    {at}  {case_name}");
                        }
                        Outcome::Failed(r) => {
                            failed += 1;
                            println!("FAIL  {at}  {case_name}");
                            print!("{r}");
                        }
                        Outcome::Broken(r) => {
                            broken += 1;
                            println!("ERROR {at}  {case_name}");
                            for l in r.lines() {
                                println!("  {l}");
                            }
                        }
                    }
                    fr.cases.push(CaseResult {
                        name: case_name,
                        at,
                        outcome,
                        secs: t.elapsed().as_secs_f64(),
                    });
                }
            }
        }
        fr.secs = started.elapsed().as_secs_f64();
        results.push(fr);
    }
    println!(
        "yingji test: {} file(s); {passed} passed, {failed} failed, {broken} could not run",
        files.len()
    );
    if let Some(j) = &a.junit {
        if let Err(e) = std::fs::write(j, junit(&results)) {
            eprintln!("yingji: {}: {e}", j.display());
            return ExitCode::from(2);
        }
    }
    if broken > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn every_schema_file_is_known() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schemas");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            if let Some(t) = name.strip_suffix(".schema.json") {
                assert!(
                    fields_of(t).is_some_and(|(f, _)| f.contains(&"ts".to_string())),
                    "{t}"
                );
                n += 1;
            }
        }
        assert_eq!(n, OUTPUT_SCHEMAS.len());
    }

    #[test]
    fn numbers_compare_by_value_and_partial_ignores_other_fields() {
        let e = Expect::Partial(serde_json::from_str(r#"{"a":3,"b":{"c":1.5}}"#).unwrap());
        assert!(
            e.differences(&serde_json::from_str(r#"{"a":3.0,"b":{"c":1.5,"d":2},"x":1}"#).unwrap())
                .is_empty()
        );
        let d = e.differences(&serde_json::from_str(r#"{"a":4,"b":{}}"#).unwrap());
        assert_eq!(
            d,
            ["`a`: expected 3, got 4", "`b.c`: expected 1.5, missing"]
        );
    }
}
