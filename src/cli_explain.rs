//! `yingji explain <PATH>... --events FILE... (--id ID | --line JSON)`:
//! why an output happened.
//!
//! The inputs are run again (as `yingji replay` runs them, with the same
//! `--trace` and `--until` as the run that wrote the output) and the output
//! is found by its `id`. The explanation is rebuilt from the definitions and
//! the events themselves, without hooks in the engine:
//!
//! - a warning (`level_changed`): the rule and where it is written (the line
//!   itself from the source), the event that caused it, the values, the
//!   contents of every window of the signal for that key at that instant
//!   (the readings the engine accepted — not rejected, late or duplicate —
//!   of the signal's kinds, passing its `where`, with the time in the
//!   window's span: `(t − d, t]` for sliding windows, the local-time bucket
//!   for tumbling ones), and the level dynamics that applied (`for`,
//!   `clear`, `clear after`, `step down`);
//! - a plan output: the instance's chain of steps, calls, escalations and
//!   acks up to it (from a traced run: `step_entered` included), each with
//!   its cause (the warning that started it, a timer, an input line).

use crate::cli_replay::{Replayed, Settings, Source, aligned, numbered, replay};
use crate::cli_text::{Timeline, level_zh, time};
use serde_json::Value as J;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use yingji::unstable::engine::eval::{Scope, eval};
use yingji::unstable::engine::ir::{Expr, SignalDef};
use yingji::unstable::engine::output::ChangeReason;
use yingji::unstable::engine::time::format_duration;
use yingji::{Definitions, Output, Timestamp, Value};

/// Arguments of `yingji explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// `.yj` / `.yaml` files or folders, as given to the run.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The event files of the run (JSONL), in order.
    #[arg(long, required = true, num_args = 1..)]
    pub events: Vec<PathBuf>,
    /// The output's `id`.
    #[arg(long, conflicts_with = "line", required_unless_present = "line")]
    pub id: Option<u64>,
    /// A whole line of the output file (JSON).
    #[arg(long)]
    pub line: Option<String>,
    /// The run was made with `--trace` (ids count `step_entered` too).
    #[arg(long)]
    pub trace: bool,
    /// The run was made with `--until` this time.
    #[arg(long, value_parser = parse_ts)]
    pub until: Option<Timestamp>,
}

fn parse_ts(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| e.to_string())
}

/// Numbers compare by value, other JSON as it is.
fn same(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

fn without_id(o: &Output) -> J {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
    }
    v
}

/// `yingji explain`. Exit codes: 0 explained, 1 the output is not in this
/// run (or the inputs cannot be read or loaded), 2 usage.
pub fn run(a: &ExplainArgs) -> ExitCode {
    let (want_id, want_line): (Option<u64>, Option<J>) = match (&a.id, &a.line) {
        (Some(id), _) => (Some(*id), None),
        (None, Some(l)) => match serde_json::from_str::<J>(l) {
            Ok(v @ J::Object(_)) => (v.get("id").and_then(J::as_u64), Some(v)),
            Ok(_) | Err(_) => {
                eprintln!("yingji: --line: not an output line (a JSON object)");
                return ExitCode::from(2);
            }
        },
        (None, None) => {
            eprintln!("yingji: explain needs --id ID or --line JSON");
            return ExitCode::from(2);
        }
    };
    let mut defs = match Definitions::from_paths(&a.paths) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("yingji: definitions not accepted");
            return ExitCode::from(1);
        }
    };
    let mut sources = Vec::new();
    for f in &a.events {
        match Source::file(f) {
            Ok(s) => sources.push(s),
            Err(e) => {
                eprintln!("yingji: {e}");
                return ExitCode::from(1);
            }
        }
    }
    let settings = Settings {
        advance_to: None,
        until: a.until,
    };
    let r = match replay(&mut defs, a.trace, &sources, settings) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("yingji: {e}");
            return ExitCode::from(1);
        }
    };
    let found = match (want_id, &want_line) {
        (Some(id), _) => r.outputs.iter().position(|o| o.id() == id),
        (None, Some(line)) => {
            let mut l = line.clone();
            if let Some(m) = l.as_object_mut() {
                m.remove("id");
            }
            r.outputs.iter().position(|o| same(&without_id(o), &l))
        }
        (None, None) => None,
    };
    let what = want_id.map_or("the given line".to_string(), |id| format!("id {id}"));
    let Some(at) = found else {
        eprintln!(
            "yingji: no output with {what} in this run ({} output(s){}); were the definitions, the events, --trace and --until those of the run that wrote it?",
            r.outputs.len(),
            if r.outputs.is_empty() {
                String::new()
            } else {
                format!(", ids 1–{}", r.outputs.len())
            }
        );
        return ExitCode::from(1);
    };
    let Some(target) = r.outputs.get(at) else {
        return ExitCode::from(1);
    };
    if let Some(line) = &want_line {
        let mut given = line.clone();
        let mut ours = serde_json::to_value(target).unwrap_or_default();
        for v in [&mut given, &mut ours] {
            if let Some(m) = v.as_object_mut() {
                m.remove("id");
            }
        }
        if !same(&given, &ours) {
            eprintln!(
                "yingji: the output with {what} in this run is not the given line: it is\n{}\n(were the definitions, the events, --trace and --until those of the run that wrote it?)",
                target.to_json()
            );
            return ExitCode::from(1);
        }
    }
    let text = explain(&mut defs, &sources, &r, at, a);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    ExitCode::SUCCESS
}

fn explain(
    defs: &mut Definitions,
    sources: &[Source],
    r: &Replayed,
    at: usize,
    a: &ExplainArgs,
) -> String {
    let mut s = String::new();
    let Some(o) = r.outputs.get(at) else {
        return s;
    };
    let lines = numbered(sources);
    let input = |seq: u64| -> String {
        lines.iter().find(|(n, _, _)| *n == seq).map_or_else(
            || format!("第 {seq} 行"),
            |(_, place, l)| format!("{place}  {l}"),
        )
    };
    let _ = writeln!(s, "输出 {} · {} · {}", o.id(), o.type_name(), o.ts());
    let _ = writeln!(s, "  {}", o.to_json());
    match o {
        Output::LevelChanged(c) => {
            let Some(sig) = defs
                .unstable_program()
                .signals
                .iter()
                .find(|x| *x.name == *c.signal)
            else {
                return s;
            };
            let _ = writeln!(
                s,
                "\n{} {}：{} → {}（{}）",
                c.signal,
                c.key,
                level_zh(c.from),
                level_zh(c.to),
                match c.reason {
                    ChangeReason::Raise => "升级",
                    ChangeReason::Clear => "解除",
                    ChangeReason::StepDown => "逐级下降",
                }
            );
            rule_lines(&mut s, defs, c.rule.as_deref(), c.rule_at.as_deref());
            let _ = writeln!(s, "起因  {}", input(c.event));
            let vals: Vec<String> = c
                .values
                .0
                .iter()
                .map(|(k, v)| format!("{k} = {}", json(v)))
                .collect();
            if !vals.is_empty() {
                let _ = writeln!(s, "取值  {}", vals.join("，"));
            }
            windows(&mut s, defs, sig, sources, r, &c.key, c.ts, &c.values);
            dynamics(&mut s, defs, sig, c);
        }
        Output::Absence(x) => {
            let _ = writeln!(
                s,
                "\n{} {}：自 {} 起 {} 无读数（missing {}）",
                x.signal,
                x.key,
                x.last_seen.map_or("开始".into(), |t| t.to_string()),
                x.missing,
                x.missing
            );
            signal_at(&mut s, defs, &x.signal);
        }
        Output::Recovered(x) => {
            let _ = writeln!(s, "\n{} {}：恢复上报", x.signal, x.key);
            let _ = writeln!(s, "起因  {}", input(x.event));
            signal_at(&mut s, defs, &x.signal);
        }
        _ => {}
    }
    let v = serde_json::to_value(o).unwrap_or_default();
    if !matches!(o, Output::LevelChanged(_)) {
        // a reporting deadline's rule (`due 受理 within 1d`) and where it is written
        if let (Some(rule), Some(at)) = (
            v.get("rule").and_then(J::as_str),
            v.get("rule_at").and_then(J::as_str),
        ) {
            let _ = writeln!(s);
            rule_lines(&mut s, defs, Some(rule), Some(at));
        }
    }
    if let Some(instance) = v.get("instance").and_then(J::as_str) {
        chain(&mut s, defs, sources, r, o, instance, a, &input);
    } else if let Some(seq) = v.get("event").and_then(J::as_u64) {
        if !matches!(o, Output::LevelChanged(_) | Output::Recovered(_)) {
            let _ = writeln!(s, "起因  {}", input(seq));
        }
    }
    s
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The source line at `file:line:col`.
fn source_line(defs: &Definitions, at: &str) -> Option<(usize, String)> {
    let mut parts = at.rsplitn(3, ':');
    let _col = parts.next()?;
    let line: usize = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    let f = (0..)
        .map_while(|i| defs.sources().file(i))
        .find(|f| &*f.name == file)?;
    let text = f.text.lines().nth(line.checked_sub(1)?)?;
    Some((line, text.trim_end().to_string()))
}

fn rule_lines(s: &mut String, defs: &Definitions, rule: Option<&str>, at: Option<&str>) {
    match (rule, at) {
        (Some(rule), Some(at)) => {
            let _ = writeln!(s, "规则  {rule}");
            let _ = writeln!(s, "位置  {at}");
            if let Some((n, line)) = source_line(defs, at) {
                let _ = writeln!(s, "      {n} | {line}");
            }
        }
        _ => {
            let _ = writeln!(s, "规则  无（没有等级规则成立）");
        }
    }
}

fn signal_at(s: &mut String, defs: &Definitions, name: &str) {
    if let Some(sig) = defs
        .unstable_program()
        .signals
        .iter()
        .find(|x| x.name == name)
    {
        let _ = writeln!(s, "定义  {}", sig.at);
        if let Some((n, line)) = source_line(defs, &sig.at) {
            let _ = writeln!(s, "      {n} | {line}");
        }
    }
}

/// A window's name: the `let` that is exactly it, else `窗口 N`.
fn window_name(sig: &SignalDef, i: usize) -> String {
    sig.lets
        .iter()
        .find(|l| matches!(l.expr, Expr::Window(w) if usize::from(w) == i))
        .map_or_else(|| format!("窗口 {}", i + 1), |l| l.name.clone())
}

/// The input of a window, for its header: a field's name, else the fields it reads.
fn input_text(defs: &Definitions, e: &Expr) -> String {
    let name = |f: u16| {
        defs.unstable_program()
            .fields
            .get(usize::from(f))
            .cloned()
            .unwrap_or_default()
    };
    if let Expr::Field(f) = e {
        return name(*f);
    }
    let mut fields = Vec::new();
    e.walk(&mut |x| {
        if let Expr::Field(f) = x {
            let n = name(*f);
            if !fields.contains(&n) {
                fields.push(n);
            }
        }
    });
    format!("表达式（读 {}）", fields.join("、"))
}

fn key_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

#[allow(
    clippy::too_many_arguments,
    reason = "one explanation's parts, used once"
)]
fn windows(
    s: &mut String,
    defs: &Definitions,
    sig: &SignalDef,
    sources: &[Source],
    r: &Replayed,
    key: &str,
    t: Timestamp,
    values: &yingji::unstable::engine::output::Values,
) {
    if sig.windows.is_empty() {
        return;
    }
    let Ok(engine) = defs.engine() else {
        return;
    };
    // what the engine left out: refused lines, late events
    let rejected: HashSet<u64> = r.rejected.iter().map(|x| x.seq).collect();
    let late: HashSet<u64> = r
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::Late(l) if !l.applied && l.signals.iter().any(|x| **x == *sig.name) => {
                Some(l.event)
            }
            _ => None,
        })
        .collect();
    let row: Vec<Value> = sig
        .table
        .and_then(|t| defs.unstable_program().tables.get(usize::from(t)))
        .and_then(|t| t.rows.iter().find(|(k, _)| k == key))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    // the span of each window at `t`
    let spans: Vec<(i64, i64)> = sig
        .windows
        .iter()
        .map(|w| {
            if w.tumbling && w.duration_ms > 0 {
                let off = i64::from(t.offset_min) * 60_000;
                let start = (t.ms + off).div_euclid(w.duration_ms) * w.duration_ms - off;
                (start - 1, t.ms)
            } else {
                (t.ms - w.duration_ms, t.ms)
            }
        })
        .collect();
    let earliest = spans.iter().map(|x| x.0).min().unwrap_or(t.ms);
    let mut seen_ids: HashSet<String> = HashSet::new();
    // (ts, seq, place, value per window)
    let mut rows: Vec<(Timestamp, u64, Vec<Option<String>>)> = Vec::new();
    for (seq, _, line) in numbered(sources) {
        if line.trim().is_empty() || rejected.contains(&seq) || late.contains(&seq) {
            continue;
        }
        let Ok(ev) = engine.parse_event(line, seq) else {
            continue;
        };
        if let Some(id) = &ev.id {
            // a repeated id is a duplicate the engine left out
            if !seen_ids.insert(id.to_string()) {
                continue;
            }
        }
        if !ev.kind.is_some_and(|k| sig.kinds.contains(&k)) {
            continue;
        }
        if ev.ts.ms <= earliest || ev.ts.ms > t.ms {
            continue;
        }
        let k = ev.fields.get(usize::from(sig.key)).map(key_text);
        if k.as_deref() != Some(key) {
            continue;
        }
        // `days_since` marks and member aggregates are not rebuilt here: an
        // expression reading them sees null (docs/reference.md, explain)
        let scope = Scope {
            fields: &ev.fields,
            lets: &[],
            windows: None,
            row: &row,
            at: yingji::unstable::engine::eval::At {
                kind: ev.kind,
                ms: ev.ts.ms,
                marks: &[],
                groups: &[],
            },
        };
        if let Some(f) = &sig.filter {
            if !eval(f, &scope).is_true() {
                continue;
            }
        }
        let cells: Vec<Option<String>> = sig
            .windows
            .iter()
            .zip(&spans)
            .map(|(w, (from, to))| {
                (ev.ts.ms > *from && ev.ts.ms <= *to).then(|| {
                    let v = eval(&w.input, &scope);
                    json(&v)
                })
            })
            .collect();
        if cells.iter().any(Option::is_some) {
            rows.push((ev.ts, seq, cells));
        }
    }
    rows.sort_by_key(|(ts, seq, _)| (ts.ms, *seq));
    let _ = writeln!(s, "\n窗口（{} 时 {key} 的读数）", t);
    let mut heads: Vec<Vec<String>> = Vec::new();
    for (i, (w, (from, to))) in sig.windows.iter().zip(&spans).enumerate() {
        let n = rows
            .iter()
            .filter(|r| r.2.get(i).is_some_and(Option::is_some))
            .count();
        let at = |ms: i64| {
            time(&Timestamp {
                ms,
                offset_min: t.offset_min,
            })
        };
        let span = if w.tumbling {
            format!("[{}, {}]（tumbling）", at(from + 1), at(*to))
        } else {
            format!("({}, {}]", at(*from), at(*to))
        };
        heads.push(vec![
            format!(
                "{} = {}({}, {})",
                window_name(sig, i),
                w.agg.name(),
                input_text(defs, &w.input),
                format_duration(w.duration_ms)
            ),
            span,
            format!("{n} 条读数"),
        ]);
    }
    for l in aligned(&heads).lines() {
        let _ = writeln!(s, "  {l}");
    }
    let mut table = vec![{
        let mut h = vec!["时间".to_string(), "行".to_string()];
        h.extend((0..sig.windows.len()).map(|i| window_name(sig, i)));
        h
    }];
    for (ts, seq, cells) in &rows {
        let mut r = vec![ts.to_string(), seq.to_string()];
        r.extend(
            cells
                .iter()
                .map(|c| c.clone().unwrap_or_else(|| "·".into())),
        );
        table.push(r);
    }
    // what the engine computed from them (the output's values)
    let mut last = vec!["= 输出中的值".to_string(), String::new()];
    last.extend((0..sig.windows.len()).map(|i| {
        values
            .get(&window_name(sig, i))
            .map_or_else(|| "-".into(), json)
    }));
    table.push(last);
    for l in aligned(&table).lines() {
        let _ = writeln!(s, "    {l}");
    }
}

fn dynamics(
    s: &mut String,
    defs: &Definitions,
    sig: &SignalDef,
    c: &yingji::unstable::engine::output::LevelChange,
) {
    let _ = writeln!(s, "\n等级动态");
    let rule_of = |l: yingji::Level| sig.levels.iter().find(|r| r.level == l);
    let holds = |r: &yingji::unstable::engine::ir::LevelRule| {
        let mut v = Vec::new();
        if r.for_ms > 0 {
            v.push(format!(
                "须持续 {}（for {}）",
                format_duration(r.for_ms),
                format_duration(r.for_ms)
            ));
        }
        if r.for_readings > 0 {
            v.push(format!(
                "须连续 {} 条读数成立（for {} readings）",
                r.for_readings, r.for_readings
            ));
        }
        v
    };
    match c.reason {
        ChangeReason::Raise => {
            if let Some(r) = rule_of(c.to) {
                let mut line = format!("  升级：`{}` 自 {} 起成立", r.text, c.since);
                for h in holds(r) {
                    line.push('，');
                    line.push_str(&h);
                }
                let _ = writeln!(s, "{line}");
            }
        }
        ChangeReason::Clear | ChangeReason::StepDown => {
            if let Some(r) = rule_of(c.from) {
                let cond = if r.clear.is_some() {
                    "其解除条件（clear）".to_string()
                } else {
                    format!("`{}` 不再成立", r.text)
                };
                let _ = writeln!(s, "  {}级结束：{cond}，自 {} 起", level_zh(c.from), c.since);
                if r.hold_ms > 0 {
                    // the rule's own `hold D`, else the signal's `clear after D`
                    let own = source_line(defs, &r.at).is_some_and(|(_, l)| l.contains(" hold "));
                    let d = format_duration(r.hold_ms);
                    let _ = writeln!(
                        s,
                        "  保持：条件不成立满 {d} 后才降（{} {d}）",
                        if own { "hold" } else { "clear after" }
                    );
                }
            }
            if c.reason == ChangeReason::StepDown || sig.step_down {
                let _ = writeln!(
                    s,
                    "  逐级下降（step down）：每次降一级，{} → {}",
                    level_zh(c.from),
                    level_zh(c.to)
                );
            }
            if c.reason == ChangeReason::Clear {
                match rule_of(c.to) {
                    Some(r) => {
                        let _ = writeln!(s, "  现为{}：`{}` 仍成立", level_zh(c.to), r.text);
                    }
                    None => {
                        let _ = writeln!(s, "  现为{}：没有等级规则成立", level_zh(c.to));
                    }
                }
            }
        }
    }
    let _ = writeln!(s, "  {} 的等级规则：", sig.name);
    for r in &sig.levels {
        let text =
            source_line(defs, &r.at).map_or_else(|| r.text.clone(), |(_, l)| l.trim().to_string());
        let _ = writeln!(s, "    {}  {text}", r.at);
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one explanation's parts, used once"
)]
fn chain(
    s: &mut String,
    defs: &mut Definitions,
    sources: &[Source],
    r: &Replayed,
    o: &Output,
    instance: &str,
    a: &ExplainArgs,
    input: &dyn Fn(u64) -> String,
) {
    // the same run traced: every step the instance entered
    let traced = if a.trace {
        None
    } else {
        replay(
            defs,
            true,
            sources,
            Settings {
                advance_to: None,
                until: a.until,
            },
        )
        .ok()
    };
    let outs = traced.as_ref().map_or(&r.outputs, |t| &t.outputs);
    let me = without_id(o);
    let upto = outs
        .iter()
        .position(|x| same(&without_id(x), &me))
        .unwrap_or(outs.len());
    let of_instance = |x: &Output| {
        serde_json::to_value(x)
            .ok()
            .and_then(|v| v.get("instance").and_then(J::as_str).map(|i| i == instance))
            .unwrap_or(false)
    };
    let timeline = Timeline::new(defs.unstable_plans());
    let _ = writeln!(s, "\n{instance} 的经过（步骤、呼叫、应答，至此输出为止）");
    let mut causes: Vec<String> = Vec::new();
    for x in outs.iter().take(upto + 1).filter(|x| of_instance(x)) {
        let mark = if same(&without_id(x), &me) { ">" } else { " " };
        let _ = writeln!(s, "{mark} {}", timeline.line(x));
        let v = serde_json::to_value(x).unwrap_or_default();
        let cause = v.get("cause").map(|c| cause_text(c, r, input));
        if let Some(c) = cause {
            if causes.last() != Some(&c) {
                let _ = writeln!(s, "      ← {c}");
                causes.push(c);
            }
        }
    }
}

/// A cause in words: the warning (with its output id), a timer, an input line.
fn cause_text(c: &J, r: &Replayed, input: &dyn Fn(u64) -> String) -> String {
    if let Some(seq) = c.get("event").and_then(J::as_u64) {
        return format!("事件 {}", input(seq));
    }
    if let Some(t) = c.get("timer") {
        return format!(
            "计时 {} 到期 {}",
            t.get("what").and_then(J::as_str).unwrap_or(""),
            t.get("due").and_then(J::as_str).unwrap_or("")
        );
    }
    if let Some(l) = c.get("level") {
        let signal = l.get("signal").and_then(J::as_str).unwrap_or("");
        let key = l.get("key").and_then(J::as_str).unwrap_or("");
        let seq = l.get("event").and_then(J::as_u64).unwrap_or(0);
        let change = r.outputs.iter().find_map(|o| match o {
            Output::LevelChanged(x) if *x.signal == *signal && *x.key == *key && x.event == seq => {
                Some(x)
            }
            _ => None,
        });
        return match change {
            Some(x) => format!(
                "预警 {signal} {key} {}→{}（输出 {}，第 {seq} 行；用 --id {} 看其窗口）",
                level_zh(x.from),
                level_zh(x.to),
                x.id,
                x.id
            ),
            None => format!("预警 {signal} {key}（第 {seq} 行）"),
        };
    }
    if let Some(p) = c.get("plan") {
        return format!(
            "预案 {} 的响应",
            p.get("instance").and_then(J::as_str).unwrap_or("")
        );
    }
    c.to_string()
}
