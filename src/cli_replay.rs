//! `yingji replay`: run definitions over recorded history.
//!
//! - `yingji replay <PATH>... --events FILE...` runs the definitions over
//!   the events like `yingji run` (single-threaded, whole files, outputs as
//!   JSON lines, the default, or the `--format text` timeline).
//! - `yingji replay [<PATH>...] --diff OLD NEW --events FILE...` runs two
//!   definition sets over the same history (the `<PATH>`s are loaded on both
//!   sides: plans, a roster, shared event declarations) and reports what
//!   changed: outputs added, removed, and moved in time.
//!
//! **Matching.** An output's identity is its group (the `signal`, else the
//! `plan`, `deadlines`, `function` or `kind`), its key (the `key`, else the
//! `area`, else the `subject`), its `type`, and what it says (for
//! `level_changed` the transition `from→to`, for `response_declared`
//! `from→level`, for `escalated` the step and `from_tier→to_tier`, for
//! other records their step, stage, tier, person, measure, table, chain).
//! Within one identity the OLD and NEW outputs are paired by nearest time:
//! repeatedly the pair with the smallest time difference (ties: the OLD
//! output first in its run, then the NEW one) is taken, as long as the difference
//! is at most `--max-move` (default `1d`). A pair at the same time is
//! unchanged; a pair at different times is *moved* (by NEW − OLD: negative
//! is earlier); an OLD output left
//! unpaired is *removed*, a NEW one *added*.

use crate::cli_text::{Timeline, level_zh, time};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use unicode_width::UnicodeWidthStr;
use yingji::{Definitions, Output, Timestamp};
use yingji_engine::time::format_duration;

/// Arguments of `yingji replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// `.yj` / `.yaml` files or folders (with `--diff`: loaded on both sides).
    pub paths: Vec<PathBuf>,
    /// Event files (JSONL, or gzip-compressed JSONL named `*.gz`), read one
    /// after the other; input positions (`event`) count lines on through them.
    #[arg(long, required = true, num_args = 1..)]
    pub events: Vec<PathBuf>,
    /// Compare two definition sets (each a file or folder) over the events.
    #[arg(long, num_args = 2, value_names = ["OLD", "NEW"])]
    pub diff: Vec<PathBuf>,
    /// `json` (JSON lines; `jsonl` is the same) or `text`. Without `--diff`
    /// the default is `json`, the output lines of `yingji run` (`text`: its
    /// duty officer's timeline); with `--diff` the default is `text`, the
    /// aligned table (`json`: one line per change and a summary line).
    #[arg(long)]
    pub format: Option<String>,
    /// At the end of input run the clock to this RFC 3339 time (like
    /// `yingji run --until`).
    #[arg(long, value_parser = parse_ts)]
    pub until: Option<Timestamp>,
    /// With `--diff`: outputs further apart than this are never paired
    /// (they are one removed and one added).
    #[arg(long, default_value = "1d", value_parser = parse_duration)]
    pub max_move: i64,
    /// Also report every plan step an instance enters (`step_entered`).
    #[arg(long)]
    pub trace: bool,
    /// Threads: the engine's and `N - 1` that read and parse the events
    /// (default: the machine's cores; 1: all on one); with `partition by`,
    /// `N` engine threads sharing the partitions. The outputs are the same
    /// whatever `N`.
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// Bytes of events per chunk a reading thread parses at once (for tests).
    #[arg(long, hide = true, default_value_t = crate::cli_replay_par::CHUNK_BYTES)]
    pub chunk_bytes: usize,
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (1: everything on one thread)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a number of threads: {e}")),
    }
}

fn parse_ts(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| e.to_string())
}

fn parse_duration(s: &str) -> Result<i64, String> {
    yingji_engine::time::parse_duration(s).map_err(|e| e.to_string())
}

/// Lines of events, with where they come from.
pub(crate) struct Source {
    /// The file (or `scenario.test.yaml:12` for inline events).
    pub name: String,
    /// Its text.
    pub text: String,
    /// The line in `name` of the text's first line (1 for a file).
    pub first_line: usize,
}

impl Source {
    /// Reads an events file (JSONL; gzip-compressed when its name ends in
    /// `.gz`, e.g. `season.jsonl.gz`).
    pub fn file(path: &std::path::Path) -> Result<Source, String> {
        let name = path.display().to_string();
        let read = |e: std::io::Error| format!("{name}: cannot read the events: {e}");
        let bytes = if name.ends_with(".gz") {
            let f = std::fs::File::open(path).map_err(read)?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(f), &mut bytes)
                .map_err(read)?;
            bytes
        } else {
            std::fs::read(path).map_err(read)?
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let upto = e.utf8_error().valid_up_to();
            let line = e
                .as_bytes()
                .get(..upto)
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
                + 1;
            format!("{name}:{line}: not UTF-8 (the events must be UTF-8 text)")
        })?;
        Ok(Source {
            name,
            text,
            first_line: 1,
        })
    }
}

/// A line the engine refused.
pub(crate) struct Rejected {
    /// `file:line`.
    pub at: String,
    /// The input position (`seq`).
    pub seq: u64,
    /// Why.
    pub reason: String,
}

/// What a replay produced.
pub(crate) struct Replayed {
    /// The outputs, numbered as `yingji run` numbers them.
    pub outputs: Vec<Output>,
    /// Refused lines.
    pub rejected: Vec<Rejected>,
    /// Accepted events no definition reads, by kind.
    pub ignored: BTreeMap<String, u64>,
    /// Lines accepted.
    pub accepted: u64,
}

/// When to stop.
#[derive(Clone, Copy, Default)]
pub(crate) struct Settings {
    /// After the last line, move the clock here (`Engine::advance_to`).
    pub advance_to: Option<Timestamp>,
    /// The end of input, then run the clock to this time (`--until`).
    pub until: Option<Timestamp>,
}

/// Runs `defs` over the sources' lines, as `yingji run` does (default
/// settings; input positions count every line, blank ones included, on
/// through the sources).
pub(crate) fn replay(
    defs: &mut Definitions,
    trace: bool,
    sources: &[Source],
    settings: Settings,
) -> Result<Replayed, String> {
    replay_threads(defs, trace, sources, settings, (1, 0))
}

/// [`replay`] on `threads` threads (`par`: threads, bytes per chunk): with
/// more than one, the lines are parsed on `threads - 1` reading threads
/// while this one applies them (`crate::cli_replay_par`); the result is the
/// same in every respect.
pub(crate) fn replay_threads(
    defs: &mut Definitions,
    trace: bool,
    sources: &[Source],
    settings: Settings,
    (threads, chunk_bytes): (usize, usize),
) -> Result<Replayed, String> {
    let was = defs.unstable_plans().trace;
    defs.set_trace(trace);
    let kit = defs.partitioned_kit(yingji::unstable::engine::Config::default());
    let engine = defs.engine_with(yingji::unstable::engine::Config::default());
    defs.set_trace(was);
    // `partition by`: one engine per value (`crate::cli_partitioned`)
    if let Some(mut kit) = kit.map_err(|e| e.to_string())? {
        if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            kit.set_wall_time(i64::try_from(now.as_millis()).unwrap_or(i64::MAX));
        }
        return crate::cli_partitioned::replay(
            kit,
            sources,
            settings,
            (threads, chunk_bytes),
            kind_of,
        );
    }
    let mut engine = engine.map_err(|e| e.to_string())?;
    // like `yingji run`: no sensor reports from the future
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        engine.set_wall_time(i64::try_from(now.as_millis()).unwrap_or(i64::MAX));
    }
    let mut r = Replayed {
        outputs: Vec::new(),
        rejected: Vec::new(),
        ignored: BTreeMap::new(),
        accepted: 0,
    };
    if threads > 1 {
        let par = (threads, chunk_bytes);
        crate::cli_replay_par::push_all(&mut engine, sources, par, &mut r, kind_of)?;
    } else {
        push_lines(&mut engine, sources, &mut r);
    }
    if let Some(t) = settings.advance_to {
        engine.advance_to(t, &mut r.outputs);
    }
    engine
        .finish(settings.until, &mut r.outputs)
        .map_err(|e| e.to_string())?;
    Ok(r)
}

/// The single-threaded replay's loop: every line in turn through
/// `push_line`.
fn push_lines(engine: &mut yingji::Engine, sources: &[Source], r: &mut Replayed) {
    // as `numbered`, with the place written only for a rejected line
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
        let ignored = engine.stats().ignored;
        match engine.push_line(line, seq, &mut r.outputs) {
            Ok(()) => {
                r.accepted += 1;
                if engine.stats().ignored > ignored {
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
}

/// Every line of the sources with its input position (`seq`: every line,
/// blank ones included, counted on through the sources, as `yingji run`
/// counts one file's lines) and its place (`file:line`). `lines` ends a
/// line at `\n` or `\r\n`; a final newline opens none.
pub(crate) fn numbered(sources: &[Source]) -> Vec<(u64, String, &str)> {
    let mut seq = 0u64;
    let mut v = Vec::new();
    for src in sources {
        for (i, line) in src.text.lines().enumerate() {
            seq += 1;
            v.push((seq, format!("{}:{}", src.name, src.first_line + i), line));
        }
    }
    v
}

/// The `kind` of an accepted line.
fn kind_of(line: &str) -> String {
    #[derive(serde::Deserialize)]
    struct K {
        kind: String,
    }
    serde_json::from_str::<K>(line).map_or_else(|_| "?".into(), |k| k.kind)
}

fn load(paths: &[PathBuf]) -> Result<Definitions, ExitCode> {
    match Definitions::from_paths(paths) {
        Ok(d) => {
            for w in d.warnings() {
                eprint!("{}", w.render(d.sources()));
            }
            Ok(d)
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!(
                "yingji: definitions not accepted: {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            Err(ExitCode::from(1))
        }
    }
}

fn read_sources(files: &[PathBuf], threads: usize) -> Result<Vec<Source>, ExitCode> {
    let read = if threads > 1 {
        crate::cli_replay_par::read_sources(files)
    } else {
        files
            .iter()
            .map(|f| Source::file(f))
            .collect::<Result<Vec<_>, _>>()
    };
    read.map_err(|e| {
        eprintln!("yingji: {e}");
        ExitCode::from(1)
    })
}

fn report_rejected(r: &Replayed, side: &str) {
    for x in r.rejected.iter().take(20) {
        eprintln!("{side}{}: rejected: {}", x.at, x.reason);
    }
    if r.rejected.len() > 20 {
        eprintln!("{side}{} more rejected line(s)", r.rejected.len() - 20);
    }
}

/// `yingji replay`. Exit codes: 0 done, 1 definitions or events that cannot
/// be read, 2 usage.
pub fn run(a: &ReplayArgs) -> ExitCode {
    let json = match a.format.as_deref() {
        Some("json" | "jsonl") => true,
        Some("text") => false,
        None => a.diff.is_empty(),
        Some(other) => {
            eprintln!("yingji: --format {other}: use text or jsonl");
            return ExitCode::from(2);
        }
    };
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let par = (threads, a.chunk_bytes.max(1));
    let sources = match read_sources(&a.events, threads) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let settings = Settings {
        advance_to: None,
        until: a.until,
    };
    if a.diff.is_empty() {
        if a.paths.is_empty() {
            eprintln!("yingji: replay needs definitions: `replay <PATH>... --events FILE...`");
            return ExitCode::from(2);
        }
        let mut defs = match load(&a.paths) {
            Ok(d) => d,
            Err(c) => return c,
        };
        let r = match replay_threads(&mut defs, a.trace, &sources, settings, par) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("yingji: {e}");
                return ExitCode::from(2);
            }
        };
        report_rejected(&r, "");
        let timeline = (!json).then(|| Timeline::new(defs.unstable_plans()));
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        for o in &r.outputs {
            let line = match &timeline {
                Some(t) => t.line(o),
                None => o.to_json(),
            };
            if writeln!(w, "{line}").is_err() {
                // the reader went away (`| head`): nothing more to say
                return ExitCode::SUCCESS;
            }
        }
        if w.flush().is_err() {
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "yingji: events accepted: {}, rejected: {}, ignored (no definition uses their kind): {}, outputs: {}",
            r.accepted,
            r.rejected.len(),
            r.ignored.values().sum::<u64>(),
            r.outputs.len()
        );
        return ExitCode::SUCCESS;
    }
    let side = |p: &PathBuf| -> Vec<PathBuf> {
        let mut v = a.paths.clone();
        v.push(p.clone());
        v
    };
    let (Some(old_p), Some(new_p)) = (a.diff.first(), a.diff.get(1)) else {
        eprintln!("yingji: --diff takes two paths: OLD NEW");
        return ExitCode::from(2);
    };
    let (mut old, mut new) = match (load(&side(old_p)), load(&side(new_p))) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let run_side = |d: &mut Definitions| replay_threads(d, a.trace, &sources, settings, par);
    let (ro, rn) = match (run_side(&mut old), run_side(&mut new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("yingji: {e}");
            return ExitCode::from(2);
        }
    };
    report_rejected(&ro, "OLD ");
    report_rejected(&rn, "NEW ");
    let d = diff(&ro.outputs, &rn.outputs, a.max_move);
    let ignores = Ignores::of(&ro, &rn);
    let mut text = String::new();
    if json {
        for row in &d.rows {
            text.push_str(&row.to_json());
            text.push('\n');
        }
        text.push_str(&summary_json(&d, &ignores));
        text.push('\n');
    } else {
        text = table(
            &d,
            &ignores,
            &old_p.display().to_string(),
            &new_p.display().to_string(),
        );
    }
    // a reader that went away (`| head`) ends the output, not the program
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// Which kinds of the history each side leaves unread.
pub(crate) struct Ignores {
    /// Read by NEW only: OLD ignores them (kind, lines).
    pub old_only: Vec<(String, u64)>,
    /// Read by OLD only: NEW ignores them.
    pub new_only: Vec<(String, u64)>,
    /// Read by neither.
    pub both: Vec<(String, u64)>,
}

impl Ignores {
    fn of(old: &Replayed, new: &Replayed) -> Ignores {
        let mut i = Ignores {
            old_only: Vec::new(),
            new_only: Vec::new(),
            both: Vec::new(),
        };
        for (k, n) in &old.ignored {
            if new.ignored.contains_key(k) {
                i.both.push((k.clone(), *n));
            } else {
                i.old_only.push((k.clone(), *n));
            }
        }
        for (k, n) in &new.ignored {
            if !old.ignored.contains_key(k) {
                i.new_only.push((k.clone(), *n));
            }
        }
        i
    }
}

/// What changed for one output.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Change {
    /// Only NEW has it.
    Added,
    /// Only OLD has it.
    Removed,
    /// Both, at different times.
    Moved,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Moved => "moved",
        }
    }
    fn zh(self) -> &'static str {
        match self {
            Change::Added => "新增",
            Change::Removed => "删除",
            Change::Moved => "移动",
        }
    }
}

/// An output's identity (see the module documentation).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Identity {
    /// Signal, plan, function or kind.
    pub group: String,
    /// Key, area or subject.
    pub key: String,
    /// The output type.
    pub ty: String,
    /// What it says (`orange→red`, a step and a person, …).
    pub what: String,
    /// The level it is about, for the per-level summary.
    pub level: Option<String>,
}

fn text(v: &serde_json::Value, k: &str) -> Option<String> {
    match v.get(k)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The identity of an output, read from its JSON (so every type has one).
pub(crate) fn identity(o: &Output) -> Identity {
    let v = serde_json::to_value(o).unwrap_or_default();
    let first = |ks: &[&str]| ks.iter().find_map(|k| text(&v, k)).unwrap_or_default();
    let ty = o.type_name().to_string();
    let (what, level) = match ty.as_str() {
        "level_changed" => {
            let (from, to) = (first(&["from"]), first(&["to"]));
            // a change counts under the higher of its two levels
            let rank = |s: &str| yingji::Level::parse(s).map_or(0, |l| l as u8);
            let higher = if rank(&from) >= rank(&to) { &from } else { &to };
            (format!("{from}→{to}"), Some(higher.clone()))
        }
        "response_declared" => (
            format!("{}→{}", first(&["from"]), first(&["level"])),
            text(&v, "warning"),
        ),
        "escalated" => (
            format!(
                "{} {}→{}",
                first(&["step"]),
                first(&["from_tier"]),
                first(&["to_tier"])
            ),
            text(&v, "level"),
        ),
        _ => {
            let parts: Vec<String> = [
                "step", "stage", "tier", "person", "measure", "table", "chain",
            ]
            .iter()
            .filter_map(|k| text(&v, k))
            .collect();
            (parts.join(" "), text(&v, "level"))
        }
    };
    Identity {
        group: first(&["signal", "plan", "deadlines", "function", "kind"]),
        key: first(&["key", "area", "subject"]),
        ty,
        what,
        level,
    }
}

/// One line of the diff.
pub(crate) struct Row {
    /// Added, removed or moved.
    pub change: Change,
    /// What it is.
    pub id: Identity,
    /// The OLD output's time and id.
    pub old: Option<(Timestamp, u64)>,
    /// The NEW output's time and id.
    pub new: Option<(Timestamp, u64)>,
}

impl Row {
    /// NEW − OLD in milliseconds (moved rows).
    pub fn shift_ms(&self) -> Option<i64> {
        Some(self.new?.0.ms - self.old?.0.ms)
    }

    fn to_json(&self) -> String {
        serde_json::json!({
            "change": self.change.name(),
            "group": self.id.group,
            "key": self.id.key,
            "type": self.id.ty,
            "what": self.id.what,
            "old_ts": self.old.map(|o| o.0.to_string()),
            "old_id": self.old.map(|o| o.1),
            "new_ts": self.new.map(|o| o.0.to_string()),
            "new_id": self.new.map(|o| o.1),
            "shift_ms": self.shift_ms(),
            "shift": self.shift_ms().map(signed_duration),
        })
        .to_string()
    }
}

/// `+10m`, `-1h`.
fn signed_duration(ms: i64) -> String {
    if ms < 0 {
        format!("-{}", format_duration(-ms))
    } else {
        format!("+{}", format_duration(ms))
    }
}

/// The whole comparison.
pub(crate) struct Diff {
    /// Added, removed and moved outputs, by identity then time.
    pub rows: Vec<Row>,
    /// Outputs in both at the same time.
    pub unchanged: usize,
    /// Counts per level: (added, removed, moved, unchanged).
    pub per_level: BTreeMap<String, [usize; 4]>,
}

/// Compares OLD's outputs with NEW's (see the module documentation).
pub(crate) fn diff(old: &[Output], new: &[Output], max_move: i64) -> Diff {
    type Side = Vec<(Timestamp, u64)>;
    let mut groups: BTreeMap<Identity, (Side, Side)> = BTreeMap::new();
    for o in old {
        groups
            .entry(identity(o))
            .or_default()
            .0
            .push((o.ts(), o.id()));
    }
    for o in new {
        groups
            .entry(identity(o))
            .or_default()
            .1
            .push((o.ts(), o.id()));
    }
    let mut d = Diff {
        rows: Vec::new(),
        unchanged: 0,
        per_level: BTreeMap::new(),
    };
    for (id, (a, b)) in groups {
        let mut pairs: Vec<(i64, usize, usize)> = Vec::new();
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                let gap = (y.0.ms - x.0.ms).abs();
                if gap <= max_move {
                    pairs.push((gap, i, j));
                }
            }
        }
        pairs.sort_unstable();
        let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
        let mut rows: Vec<Row> = Vec::new();
        let level = id.level.clone().unwrap_or_else(|| "-".into());
        let count = |d: &mut Diff, k: usize| {
            if let Some(c) = d.per_level.entry(level.clone()).or_default().get_mut(k) {
                *c += 1;
            }
        };
        for (gap, i, j) in pairs {
            if used_a.get(i) == Some(&false) && used_b.get(j) == Some(&false) {
                if let Some(u) = used_a.get_mut(i) {
                    *u = true;
                }
                if let Some(u) = used_b.get_mut(j) {
                    *u = true;
                }
                if gap == 0 {
                    d.unchanged += 1;
                    count(&mut d, 3);
                } else {
                    count(&mut d, 2);
                    rows.push(Row {
                        change: Change::Moved,
                        id: id.clone(),
                        old: a.get(i).copied(),
                        new: b.get(j).copied(),
                    });
                }
            }
        }
        for (x, used) in a.iter().zip(&used_a) {
            if !used {
                count(&mut d, 1);
                rows.push(Row {
                    change: Change::Removed,
                    id: id.clone(),
                    old: Some(*x),
                    new: None,
                });
            }
        }
        for (y, used) in b.iter().zip(&used_b) {
            if !used {
                count(&mut d, 0);
                rows.push(Row {
                    change: Change::Added,
                    id: id.clone(),
                    old: None,
                    new: Some(*y),
                });
            }
        }
        d.rows.extend(rows);
    }
    // by signal and key, then in time
    d.rows.sort_by(|a, b| {
        (&a.id.group, &a.id.key, a.old.or(a.new).map(|t| t.0.ms)).cmp(&(
            &b.id.group,
            &b.id.key,
            b.old.or(b.new).map(|t| t.0.ms),
        ))
    });
    d
}

fn summary_json(d: &Diff, i: &Ignores) -> String {
    let total = |k: usize| {
        d.per_level
            .values()
            .map(|c| c.get(k).copied().unwrap_or(0))
            .sum::<usize>()
    };
    let kinds = |v: &[(String, u64)]| -> serde_json::Value {
        v.iter()
            .map(|(k, n)| (k.clone(), serde_json::json!(n)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    serde_json::json!({
        "summary": {
            "added": total(0),
            "removed": total(1),
            "moved": total(2),
            "unchanged": total(3),
            "per_level": d.per_level.iter().map(|(l, c)| (l.clone(), serde_json::json!({
                "added": c[0], "removed": c[1], "moved": c[2], "unchanged": c[3],
            }))).collect::<serde_json::Map<_, _>>(),
            "ignored_by_old_only": kinds(&i.old_only),
            "ignored_by_new_only": kinds(&i.new_only),
            "ignored_by_both": kinds(&i.both),
        }
    })
    .to_string()
}

/// A level's Chinese name (`red` → 红色), or the text itself.
fn level_label(s: &str) -> String {
    yingji::Level::parse(s).map_or_else(|| s.to_string(), |l| level_zh(l).to_string())
}

/// `orange→red` → `橙色→红色`.
fn what_label(id: &Identity) -> String {
    match id.what.split_once('→') {
        Some((a, b)) if id.ty == "level_changed" => {
            format!("{}→{}", level_label(a), level_label(b))
        }
        _ => id.what.clone(),
    }
}

/// Left-aligns `cells` in columns by display width (CJK counts 2).
pub(crate) fn aligned(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
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
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                let w = widths.get(c).copied().unwrap_or(0);
                line.push_str(&" ".repeat(w.saturating_sub(cell.width()) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn kinds_zh(v: &[(String, u64)]) -> String {
    if v.is_empty() {
        return "无".into();
    }
    v.iter()
        .map(|(k, n)| format!("{k}（{n} 条）"))
        .collect::<Vec<_>>()
        .join("、")
}

fn table(d: &Diff, i: &Ignores, old: &str, new: &str) -> String {
    let mut out = format!("对比：旧 {old} → 新 {new}\n");
    out.push_str(&format!(
        "旧定义忽略的事件种类（新定义读取）：{}\n新定义忽略的事件种类（旧定义读取）：{}\n",
        kinds_zh(&i.old_only),
        kinds_zh(&i.new_only)
    ));
    if !i.both.is_empty() {
        out.push_str(&format!("两者都忽略：{}\n", kinds_zh(&i.both)));
    }
    out.push('\n');
    if d.rows.is_empty() {
        out.push_str("无变化\n");
    } else {
        let mut rows = vec![
            [
                "变化",
                "信号/预案",
                "对象",
                "类型",
                "内容",
                "旧时间",
                "新时间",
                "位移",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for r in &d.rows {
            rows.push(vec![
                r.change.zh().to_string(),
                r.id.group.clone(),
                r.id.key.clone(),
                r.id.ty.clone(),
                what_label(&r.id),
                r.old.map_or("-".into(), |t| time(&t.0)),
                r.new.map_or("-".into(), |t| time(&t.0)),
                r.shift_ms().map_or("-".into(), signed_duration),
            ]);
        }
        out.push_str(&aligned(&rows));
    }
    out.push('\n');
    let mut rows = vec![
        ["级别", "新增", "删除", "移动", "不变"]
            .map(String::from)
            .to_vec(),
    ];
    let mut total = [0usize; 4];
    // red first, down to blue, then the rest
    let mut levels: Vec<(&String, &[usize; 4])> = d.per_level.iter().collect();
    levels.sort_by_key(|(l, _)| std::cmp::Reverse(yingji::Level::parse(l).map_or(0, |x| x as u8)));
    for (l, c) in levels {
        let label = if l == "-" {
            "（无级别）".to_string()
        } else {
            level_label(l)
        };
        let mut row = vec![label];
        for (k, n) in c.iter().enumerate() {
            row.push(n.to_string());
            if let Some(t) = total.get_mut(k) {
                *t += n;
            }
        }
        rows.push(row);
    }
    let mut last = vec!["合计".to_string()];
    last.extend(total.iter().map(usize::to_string));
    rows.push(last);
    out.push_str(&aligned(&rows));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn columns_align_by_display_width() {
        let t = aligned(&[
            vec!["变化".into(), "x".into()],
            vec!["a".into(), "y".into()],
        ]);
        assert_eq!(t, "变化  x\na     y\n");
    }
}
