//! Script functions are pure: no wall clock, no sleeping (refused by
//! `yingji check` at the call, absent from the engine), the same inputs give
//! the same outputs; and the one rule for script calls in `where` (refused),
//! shared by the checker and `Program::validate`: every program `check`
//! accepts validates and runs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use serde_json::Value as J;
use std::path::PathBuf;
use std::process::Command;
use yingji::Definitions;
use yingji_dsl::load::{MemLoader, load};

fn files(files: &[(&str, &str)]) -> MemLoader {
    MemLoader(
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
    )
}

/// The diagnostics of a load as `(location, message)`.
fn diagnostics(fs: &[(&str, &str)]) -> Vec<(String, String)> {
    let loaded = load(&files(fs));
    loaded
        .diagnostics
        .iter()
        .map(|d| (loaded.sources.location(d.span), d.message.clone()))
        .collect()
}

/// Runs `lines` through a fresh engine of `defs`: outputs as JSON (lines
/// the engine rejects are skipped) and the script log.
fn run(defs: &Definitions, lines: &[String]) -> (Vec<J>, Vec<String>) {
    let mut e = defs
        .engine()
        .unwrap_or_else(|err| panic!("check accepted it, so it must validate: {err}"));
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let _ = e.push_line(l, i as u64 + 1, &mut out);
    }
    e.flush(&mut out);
    let json = out
        .iter()
        .map(|o| serde_json::from_str(&o.to_json()).unwrap())
        .collect();
    (json, e.script_log().0)
}

fn reading(minute: u32, site: &str, x: f64) -> String {
    format!(
        r#"{{"ts":"2024-07-20T{:02}:{:02}:00+08:00","kind":"r","site":"{site}","x":{x:?}}}"#,
        minute / 60,
        minute % 60
    )
}

fn policy_calling(body: &str) -> String {
    format!(
        "event r {{ site: string, x: number }}\n\
         fn f(x: number) -> number in rhai {{\n{body}\n}}\n\
         signal s {{\n  from r\n  key site\n  let y = f(x)\n  level red when y >= 1\n}}\n"
    )
}

#[test]
fn sleep_is_refused_at_check_with_its_line_and_column() {
    let d = diagnostics(&[("p.yj", &policy_calling("  sleep(1000);\n  x"))]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, "p.yj:3:3");
    assert_eq!(
        d[0].1,
        "script function `f` calls `sleep`, which is not available to scripts: scripts must be pure (the same inputs give the same result) and must not block the engine"
    );
}

#[test]
fn timestamp_and_elapsed_are_refused() {
    let d = diagnostics(&[(
        "p.yj",
        &policy_calling("  let t = timestamp();\n  let e = t.elapsed();\n  x"),
    )]);
    let at: Vec<&str> = d.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(at, ["p.yj:3:11", "p.yj:4:13"], "{d:?}");
    assert_eq!(
        d[0].1,
        "script function `f` calls `timestamp`, which is not available to scripts: scripts must be pure (the same inputs give the same result) and it reads the wall clock"
    );
    assert!(d[1].1.contains("calls `elapsed`"), "{d:?}");
    // in an interpolation, through a function pointer, on one line with the header
    let d = diagnostics(&[(
        "p.yj",
        "event r { site: string, x: number }\n\
         fn f(x: number) -> number in rhai { let s = `${timestamp()}`; Fn(\"sleep\").call(1); x }\n\
         signal s {\n  from r\n  key site\n  let y = f(x)\n  level red when y >= 1\n}\n",
    )]);
    let at: Vec<&str> = d.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(at, ["p.yj:2:48", "p.yj:2:66"], "{d:?}");
    // comments, strings and a variable of that name are not calls
    let d = diagnostics(&[(
        "p.yj",
        &policy_calling("  // sleep(1)\n  let timestamp = \"timestamp()\";\n  x"),
    )]);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn a_refused_call_in_an_imported_file_is_reported_there() {
    let p = "event r { site: string, x: number }\n\
             import \"lib.rhai\" { fn f(x: number) -> number }\n\
             signal s {\n  from r\n  key site\n  let y = f(x)\n  level red when y >= 1\n}\n";
    let lib =
        "// helpers\nfn helper(a) {\n  a\n}\n\nfn f(x) {\n  let t = timestamp();\n  helper(x)\n}\n";
    let d = diagnostics(&[("dir/p.yj", p), ("dir/lib.rhai", lib)]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, "dir/lib.rhai:7:11");
    assert!(
        d[0].1
            .starts_with("script function `f` calls `timestamp`, which is not available to scripts: scripts must be pure"),
        "{d:?}"
    );
}

/// A policy using only what scripts get: maths, strings, arrays, maps,
/// loops, `print`/`debug`.
const ALLOWED: &str = "event r { site: string, x: number }\n\
    fn score(x: number) -> number in rhai {\n\
      let v = [x, x * 2.0, 3.0];\n\
      v.sort();\n\
      let m = #{ a: v[0], b: v.len() };\n\
      let s = 0.0;\n\
      for i in 0..10 { s += sin(x + i.to_float()) * 0.1; }\n\
      print(`x=${x} s=${s}`);\n\
      debug(m);\n\
      (m.a + s.abs() + sqrt(x.abs())).round()\n\
    }\n\
    fn label(x: number) -> string in rhai { if x > 3.0 { \"hi-\" + x.to_string() } else { \"lo\" } }\n\
    signal s {\n  from r\n  key site\n  let y = score(x)\n  let l = label(x)\n  level red when y >= 6\n  level yellow when l != \"lo\"\n  level blue when y >= 1 clear when y < 0.5\n}\n";

#[test]
fn six_identical_runs_give_identical_outputs() {
    let defs = Definitions::load(&files(&[("p.yj", ALLOWED)])).unwrap();
    let lines: Vec<String> = (0..40)
        .map(|i| reading(i * 3, ["A", "B"][i as usize % 2], f64::from(i % 9) - 1.5))
        .collect();
    let first = run(&defs, &lines);
    assert!(!first.0.is_empty() && !first.1.is_empty(), "{first:?}");
    assert!(
        first.0.iter().all(|o| o["type"] != "script_error"),
        "{:#?}",
        first.0
    );
    for _ in 1..6 {
        assert_eq!(run(&defs, &lines), first);
    }
}

#[test]
fn a_script_call_in_where_is_refused_at_the_call() {
    let p = "event r { site: string, x: number }\n\
             fn double(x: number) -> number in rhai { x * 2.0 }\n\
             signal s {\n  from r\n  key site\n  where x > 0 and double(x) > 1\n  level red when x >= 1\n}\n";
    let d = diagnostics(&[("p.yj", p)]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, "p.yj:6:19");
    assert_eq!(
        d[0].1,
        "script functions cannot be used in `where`: `double` is a script function, and a `where` filter reads only the event's fields"
    );
    // the same call in a `let` and a level rule works
    let p = "event r { site: string, x: number }\n\
             fn double(x: number) -> number in rhai { x * 2.0 }\n\
             signal s {\n  from r\n  key site\n  where x > 0\n  let d = double(x)\n  level red when d > 1\n}\n";
    let defs = Definitions::load(&files(&[("p.yj", p)])).unwrap();
    let (out, _) = run(&defs, &[reading(0, "A", -1.0), reading(1, "A", 1.0)]);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0]["to"], "red");
    assert_eq!(out[0]["event"], 2);
}

/// `Program::validate` gives the same answer as the checker: a hand-built
/// program with a script call in `where` is invalid, with the same rule text.
#[test]
fn validate_refuses_what_check_refuses() {
    let p = "event r { site: string, x: number }\n\
             fn double(x: number) -> number in rhai { x * 2.0 }\n\
             signal s {\n  from r\n  key site\n  where x > 0\n  let d = double(x)\n  level red when d > 1\n}\n";
    let defs = Definitions::load(&files(&[("p.yj", p)])).unwrap();
    assert!(defs.unstable_program().validate().is_ok());
    let mut program = defs.unstable_program().clone();
    let call = program.signals[0].lets[0].expr.clone();
    program.signals[0].filter = Some(call);
    let err = program.validate().unwrap_err().to_string();
    assert!(
        err.contains("script functions cannot be used in `where`"),
        "{err}"
    );
    assert!(yingji::Engine::with_config(program, yingji::Config::default()).is_err());
}

/// Every file set shipped with the project: check accepts it, so it
/// validates and runs its samples.
#[test]
fn every_bundled_program_validates_and_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    // (file set, whether it must check: a single file may need another)
    let mut sets: Vec<(Vec<String>, bool)> = vec![
        (vec![format!("{root}/policies")], true),
        (
            vec![format!("{root}/policies"), format!("{root}/plans")],
            true,
        ),
        (vec![format!("{root}/tests/twins/rainstorm.yaml")], true),
        (vec![format!("{root}/tests/one_clock")], true),
    ];
    for dir in ["policies", "plans", "tests/twins", "tests/one_clock"] {
        for f in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = f.unwrap().path();
            if path.is_file() {
                sets.push((vec![path.display().to_string()], false));
            }
        }
    }
    let mut samples: Vec<String> = Vec::new();
    for f in [
        "samples/rain.jsonl",
        "samples/landslide.jsonl",
        "samples/records.jsonl",
    ] {
        let text = std::fs::read_to_string(format!("{root}/{f}")).unwrap();
        samples.extend(text.lines().take(400).map(str::to_string));
    }
    samples.sort_by_key(|a| ts_of(a));
    let mut ran = 0;
    for (set, must) in &sets {
        let defs = match Definitions::from_paths(set) {
            Ok(d) => d,
            Err(e) if *must => panic!("{set:?} does not check: {}", e.rendered),
            Err(_) => continue,
        };
        ran += 1;
        defs.unstable_program()
            .validate()
            .unwrap_or_else(|e| panic!("{set:?}: {e}"));
        let (out, _) = run(&defs, &samples);
        assert!(
            out.iter().all(|o| o["type"] != "script_error"),
            "{set:?}: {out:#?}"
        );
    }
    assert!(ran > sets.len() / 2, "{ran} of {} sets checked", sets.len());
}

fn ts_of(line: &str) -> String {
    serde_json::from_str::<J>(line)
        .ok()
        .and_then(|j| j["ts"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Generated policies with script calls in every place the checker allows
/// (`let`, `level … when`, `clear when`, window inputs, table lookups as
/// arguments): each checks, validates and runs with the script's results.
#[test]
fn script_calls_everywhere_check_accepts_validate_and_run() {
    let head = "event r { site: string, x: number }\n\
                table t {\n  \"A\": { k: 2.0, name: \"alpha\" }\n  \"B\": { k: 3.0, name: \"beta\" }\n}\n\
                fn dbl(x: number) -> number in rhai { x * 2.0 }\n\
                fn tag(s: string, x: number) -> string in rhai { s + \":\" + x.to_string() }\n\
                fn hot(x: number, k: number) -> bool in rhai { x * k >= 6.0 }\n";
    let bodies = [
        // let
        "let y = dbl(x)\n  level red when y >= 4",
        // level when
        "level red when dbl(x) >= 4",
        // clear when
        "level red when x >= 2 clear when dbl(x) < 1",
        // window input
        "let s = sum(dbl(x), 1h)\n  level red when s >= 4",
        // table lookups as arguments, string and bool results
        "let n = tag(t.name, dbl(t.k))\n  level red when hot(x, t.k) and n != \"\"",
        // nested calls, in every place at once
        "let y = dbl(dbl(x))\n  let w = max(dbl(x), sum(dbl(x), 30m))\n  level red when hot(dbl(x), t.k) clear when dbl(y) < 0\n  level blue when w >= dbl(1)",
    ];
    for body in bodies {
        let p =
            format!("{head}signal s {{\n  from r\n  key site\n  where x > -100\n  {body}\n}}\n");
        let defs = Definitions::load(&files(&[("p.yj", &p)]))
            .unwrap_or_else(|e| panic!("{body}: {}", e.rendered));
        defs.unstable_program().validate().unwrap();
        let (out, _) = run(
            &defs,
            &[
                reading(0, "A", 0.5),
                reading(1, "A", 2.5),
                reading(2, "B", 3.0),
                reading(3, "A", -5.0),
            ],
        );
        assert!(
            out.iter().any(|o| o["type"] == "level_changed"),
            "{body}: {out:#?}"
        );
        assert!(
            out.iter().all(|o| o["type"] != "script_error"),
            "{body}: {out:#?}"
        );
    }
}

fn yingji(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run yingji")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yingji-pure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn cli_check_exits_1_with_the_diagnostic() {
    let bad = tmp("sleepy.yj");
    std::fs::write(&bad, policy_calling("  sleep(1000);\n  x")).unwrap();
    let o = yingji(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("sleepy.yj:3:3")
            && err.contains("script function `f` calls `sleep`, which is not available to scripts"),
        "{err}"
    );
    let bad = tmp("filter.yj");
    std::fs::write(
        &bad,
        "event r { site: string, x: number }\n\
         fn double(x: number) -> number in rhai { x * 2.0 }\n\
         signal s {\n  from r\n  key site\n  where double(x) > 1\n  level red when x >= 1\n}\n",
    )
    .unwrap();
    let o = yingji(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("filter.yj:6:9") && err.contains("script functions cannot be used in `where`"),
        "{err}"
    );
    let good = tmp("allowed.yj");
    std::fs::write(&good, ALLOWED).unwrap();
    let o = yingji(&["check", good.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
