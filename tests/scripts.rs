//! Script functions (rhai): check-time diagnostics, the sandbox's limits,
//! containment of every bad input, rate-limited reports, imports.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use serde_json::{Value as J, json};
use yingji_dsl::load::{MemLoader, load};

/// Loads `(name, text)` files; panics with the rendered diagnostics on error.
fn engine_of(files: &[(&str, &str)]) -> yingji::Engine {
    let loaded = load(&MemLoader(
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
    ));
    assert!(!loaded.has_errors(), "{}", loaded.render());
    yingji::Engine::new(loaded.program).unwrap()
}

/// The diagnostics of a load as `(location, message)`.
fn diagnostics(files: &[(&str, &str)]) -> Vec<(String, String)> {
    let loaded = load(&MemLoader(
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
    ));
    loaded
        .diagnostics
        .iter()
        .map(|d| (loaded.sources.location(d.span), d.message.clone()))
        .collect()
}

/// Runs JSONL lines through `engine` and returns every output as JSON.
fn run(engine: &mut yingji::Engine, lines: &[String]) -> Vec<J> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        engine.push_line(l, i as u64 + 1, &mut out).unwrap();
    }
    engine.flush(&mut out);
    out.iter()
        .map(|o| serde_json::from_str(&o.to_json()).unwrap())
        .collect()
}

fn reading(minute: u32, site: &str, x: f64) -> String {
    format!(
        r#"{{"ts":"2024-07-20T{:02}:{:02}:00+08:00","kind":"r","site":"{site}","x":{x:?}}}"#,
        minute / 60,
        minute % 60
    )
}

/// A policy whose `red` rule uses script `f` and whose `blue` rule does not.
fn policy(header: &str, body: &str, arg: &str) -> String {
    format!(
        "event r {{ site: string, x: number }}\n\
         fn f(x: number) -> number {header} {{\n{body}\n}}\n\
         signal s {{\n  from r\n  key site\n  let y = f({arg})\n  level red when y >= 1\n  level blue when x >= 0\n}}\n"
    )
}

/// The bad-input scenario: event 1 (site A) makes `f` fail; its blue rule
/// still fires; event 2 (site B, negative x) is still evaluated.
fn contained(header: &str, body: &str, arg: &str, limit: Option<&str>, message_has: &str) {
    let p = policy(header, body, arg);
    let mut e = engine_of(&[("p.yj", &p)]);
    let out = run(&mut e, &[reading(0, "A", 1.0), reading(10, "B", -1.0)]);
    let types: Vec<&str> = out.iter().map(|o| o["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["script_error", "level_changed", "script_error"],
        "{out:#?}"
    );
    let err = &out[0];
    assert_eq!(err["function"], "f");
    assert_eq!(err["signal"], "s");
    assert_eq!(err["key"], "A");
    assert_eq!(err["event"], 1);
    assert_eq!(err["ts"], "2024-07-20T00:00:00+08:00");
    assert_eq!(err.get("limit").and_then(J::as_str), limit, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains(message_has),
        "{err}"
    );
    // the rule not using the script still fires, with the script's value null
    assert_eq!(out[1]["to"], "blue");
    assert_eq!(out[1]["values"], json!({"y": null}));
    // and the engine goes on with the next event
    assert_eq!(out[2]["key"], "B");
    assert_eq!(out[2]["event"], 2);
    assert_eq!(e.level("s", "A"), yingji::Level::Blue);
}

#[test]
fn infinite_loop_hits_the_operations_limit() {
    contained(
        "in rhai limits { operations: 5000 }",
        "loop { x += 1.0; }",
        "x",
        Some("operations"),
        "operations",
    );
}

#[test]
fn default_limits_stop_an_infinite_loop() {
    contained(
        "in rhai",
        "while true { x += 1.0; }",
        "x",
        Some("operations"),
        "operations",
    );
}

#[test]
fn deep_recursion_hits_the_call_depth_limit() {
    contained(
        "in rhai limits { call_depth: 8 }",
        "f(x + 1.0)",
        "x",
        Some("call_depth"),
        "",
    );
}

#[test]
fn huge_string_hits_the_string_size_limit() {
    contained(
        "in rhai",
        "let s = \"x\"; loop { s += s; }",
        "x",
        Some("string_size"),
        "string",
    );
}

#[test]
fn huge_array_hits_the_array_size_limit() {
    contained(
        "in rhai limits { array_size: 100 }",
        "let a = []; loop { a.push(x); }",
        "x",
        Some("array_size"),
        "array",
    );
}

#[test]
fn wrong_return_type_is_an_error() {
    contained(
        "in rhai",
        "\"high\"",
        "x",
        None,
        "returned a string where a number was declared",
    );
}

#[test]
fn thrown_error_is_reported() {
    contained("in rhai", "throw \"bad slope\";", "x", None, "bad slope");
}

/// NaN never reaches a script: `x * 1e400` is infinite, so `inf - inf` is NaN.
#[test]
fn nan_argument_is_not_passed() {
    contained(
        "in rhai",
        "print(\"called\"); x",
        "x * 1e400 - x * 1e400",
        Some("non_finite_argument"),
        "is NaN",
    );
}

#[test]
fn nan_result_is_a_wrong_type() {
    contained("in rhai", "let z = x - x; z / z", "x", None, "NaN");
}

/// `eval` and `import` are rejected by `yingji check`, at their own place.
#[test]
fn eval_and_import_are_check_errors() {
    let p = policy("in rhai", "  eval(\"x\")", "x");
    let d = diagnostics(&[("p.yj", &p)]);
    assert_eq!(d.len(), 2, "{d:?}"); // the script, then the call of the function that failed
    assert_eq!(d[0].0, "p.yj:3:3");
    assert!(d[0].1.starts_with("rhai: "), "{d:?}");
    let p = policy("in rhai", "  import \"os\" as os;\n  x", "x");
    let d = diagnostics(&[("p.yj", &p)]);
    assert_eq!(d[0].0, "p.yj:3:3", "{d:?}");
}

/// Calling `eval` through a function pointer fails at run time, contained.
#[test]
fn eval_through_a_function_pointer_is_contained() {
    contained(
        "in rhai",
        "let e = Fn(\"ev\" + \"al\"); e.call(\"1\")",
        "x",
        None,
        "",
    );
}

#[test]
fn rhai_syntax_error_at_its_own_line_and_column() {
    let p = "event r { site: string, x: number }\n\
             fn f(x: number) -> number in rhai {\n  let t = x * 2;\n  let u = t +* 2;\n  u\n}\n";
    let d = diagnostics(&[("p.yj", p)]);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, "p.yj:4:14");
}

#[test]
fn wrong_arity_and_argument_type_at_the_call_site() {
    let p = "event r { site: string, x: number }\n\
             fn f(x: number, k: string) -> number in rhai { x }\n\
             signal s {\n  from r\n  key site\n  let a = f(x)\n  let b = f(site, site)\n  level red when a >= 1\n}\n";
    let d = diagnostics(&[("p.yj", p)]);
    assert_eq!(
        d,
        [
            (
                "p.yj:6:11".to_string(),
                "`f` takes 2 argument(s), got 1".to_string()
            ),
            (
                "p.yj:7:13".to_string(),
                "argument `x` of `f` is a number, but this is a string".to_string()
            ),
        ]
    );
}

#[test]
fn signature_problems_are_diagnostics() {
    let p = "fn f(x, y: float) in rhai { x }\nfn sum(x: number) -> number in rhai { x }\n\
             fn g(x: number) -> number in rhai limits { operations: 0, speed: 1 } { x }\n";
    let d = diagnostics(&[("p.yj", p)]);
    let got: Vec<&str> = d.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        got,
        [
            "p.yj:1:6",
            "p.yj:1:12",
            "p.yj:1:4",
            "p.yj:2:4",
            "p.yj:3:56",
            "p.yj:3:59"
        ],
        "{d:?}"
    );
    assert!(d[0].1.contains("no declared type"));
    assert!(d[1].1.contains("`float` is not a type"));
    assert!(d[2].1.contains("no declared return type"));
    assert!(d[3].1.contains("built-in"));
    assert!(d[4].1.contains("must be between 1 and 10000000"));
    assert!(d[5].1.starts_with("unknown limit `speed`"));
}

/// A script is pure: a fresh scope per call, nothing survives.
#[test]
fn no_state_between_calls() {
    let p = "event r { site: string, x: number }\n\
             fn f(x: number) -> number in rhai { let n = 0; n += 1; n }\n\
             signal s {\n  from r\n  key site\n  let y = f(x)\n  level red when y >= 2\n  level blue when y >= 1\n}\n";
    let mut e = engine_of(&[("p.yj", p)]);
    let lines: Vec<String> = (0..5).map(|i| reading(i * 10, "A", 1.0)).collect();
    let out = run(&mut e, &lines);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0]["to"], "blue");
}

/// First five failures per hour, then one summary with the count.
#[test]
fn repeated_failures_are_rate_limited() {
    let p = policy("in rhai", "throw \"always\";", "x");
    let mut e = engine_of(&[("p.yj", &p)]);
    // 8 failures in the first hour, 2 more after it
    let mut lines: Vec<String> = (0..8).map(|i| reading(i * 5, "A", -1.0)).collect();
    lines.push(reading(70, "A", -1.0));
    lines.push(reading(75, "A", -1.0));
    let out = run(&mut e, &lines);
    let brief: Vec<(String, J)> = out
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().to_string(),
                o.get("event").or(o.get("suppressed")).cloned().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, J)> = [
        ("script_error", 1),
        ("script_error", 2),
        ("script_error", 3),
        ("script_error", 4),
        ("script_error", 5),
        ("script_suppressed", 3),
        ("script_error", 9),
        ("script_error", 10),
    ]
    .iter()
    .map(|(t, n)| (t.to_string(), json!(n)))
    .collect();
    assert_eq!(brief, want);
    assert_eq!(out[5]["since"], "2024-07-20T00:00:00+08:00");
    assert_eq!(out[5]["ts"], "2024-07-20T01:10:00+08:00");
}

#[test]
fn suppressed_failures_are_summarised_at_end_of_stream() {
    let p = policy("in rhai", "throw \"always\";", "x");
    let mut e = engine_of(&[("p.yj", &p)]);
    let lines: Vec<String> = (0..7).map(|i| reading(i, "A", -1.0)).collect();
    let out = run(&mut e, &lines);
    assert_eq!(out.len(), 6);
    assert_eq!(out[5]["type"], "script_suppressed");
    assert_eq!(out[5]["suppressed"], 2);
    assert_eq!(out[5]["function"], "f");
}

/// `print` goes to the engine's script log, not to stdout.
#[test]
fn print_goes_to_the_script_log() {
    let p = policy("in rhai", "print(`x is ${x}`); debug(x); x", "x");
    let mut e = engine_of(&[("p.yj", &p)]);
    let out = run(&mut e, &[reading(0, "A", 2.0)]);
    assert_eq!(out[0]["to"], "red");
    let (lines, dropped) = e.script_log();
    assert_eq!(dropped, 0);
    assert_eq!(lines, ["p.yj:2:1: x is 2.0", "p.yj:2:1: [debug] 2.0"]);
}

const LIB: &str = "// slope helpers\nfn tangent_angle(v, v0) {\n  atan(v / v0) * 180.0 / PI()\n}\n\nfn stage(a) { if a >= 80.0 { \"critical\" } else { \"creep\" } }\n";

#[test]
fn imported_rhai_file() {
    let p = "event r { site: string, x: number }\n\
             import \"lib.rhai\" limits { operations: 10000 } {\n  fn tangent_angle(v: number, v0: number) -> number\n  fn stage(a: number) -> string\n}\n\
             signal s {\n  from r\n  key site\n  let a = tangent_angle(x, 1)\n  level red when stage(a) == \"critical\"\n  level blue when a >= 40\n}\n";
    let mut e = engine_of(&[("dir/p.yj", p), ("dir/lib.rhai", LIB)]);
    let out = run(&mut e, &[reading(0, "A", 1.0), reading(10, "A", 10.0)]);
    assert_eq!(out.len(), 2, "{out:#?}");
    assert_eq!(out[0]["to"], "blue");
    assert_eq!(out[0]["values"]["a"], 45.0);
    assert_eq!(out[1]["to"], "red");
}

#[test]
fn import_problems_are_diagnostics() {
    let p = "import \"lib.rhai\" {\n  fn tangent_angle(v: number) -> number\n}\nimport \"../x.rhai\" { }\nimport \"missing.rhai\" { }\n";
    let d = diagnostics(&[("p.yj", p), ("lib.rhai", LIB)]);
    let got: Vec<&str> = d.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(got, ["p.yj:4:8", "p.yj:5:8", "p.yj:2:6"], "{d:?}");
    assert!(
        d[2].1
            .contains("defines no function `tangent_angle` with 1 parameter(s)")
    );
    // a syntax error inside the imported file is reported there
    let d = diagnostics(&[
        (
            "p.yj",
            "import \"lib.rhai\" { fn f(x: number) -> number }\n",
        ),
        ("lib.rhai", "fn f(x) {\n  x +* 1\n}\n"),
    ]);
    assert_eq!(d[0].0, "lib.rhai:2:6", "{d:?}");
}

/// The compiled path refuses script calls; the reference engine runs them.
#[test]
fn compiled_path_refuses_script_calls() {
    let p = policy("in rhai", "x", "x");
    let loaded = load(&MemLoader(vec![("p.yj".into(), p)]));
    let err = yingji_engine::compiled::unsupported(&loaded.program).unwrap();
    assert!(err.to_string().contains("a script function call"), "{err}");
}
