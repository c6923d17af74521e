//! Every output type has a JSON Schema (`docs/schemas/<type>.schema.json`,
//! written by `docs/schemas/generate.py`), and every output the bundled
//! samples and a few crafted streams produce validates against its type's
//! schema. The validator below implements the part of JSON Schema 2020-12
//! the files use: `type` (one or several), `const`, `enum`, `required`,
//! `properties`, `additionalProperties: false`, `items`, `minimum`,
//! `minProperties`/`maxProperties` and `format: date-time`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn type_ok(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    }
}

/// Problems of `v` against `schema`, with JSON-pointer-like paths.
fn validate(v: &Value, schema: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(s) => type_ok(v, s),
            Value::Array(ts) => ts.iter().any(|t| t.as_str().is_some_and(|s| type_ok(v, s))),
            _ => true,
        };
        if !ok {
            errs.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(c) = schema.get("const") {
        if v != c {
            errs.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(Value::Array(e)) = schema.get("enum") {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} is not one of {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (schema.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if n < min {
            errs.push(format!("{at}: {n} < {min}"));
        }
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time") {
        if let Some(s) = v.as_str() {
            if yingji::Timestamp::parse(s).is_err() {
                errs.push(format!("{at}: {s} is not an RFC 3339 time"));
            }
        }
    }
    if let Value::Object(m) = v {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(k) = r.as_str() {
                if !m.contains_key(k) {
                    errs.push(format!("{at}: missing `{k}`"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, x) in m {
            match props.and_then(|p| p.get(k)) {
                Some(s) => validate(x, s, &format!("{at}/{k}"), errs),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errs.push(format!("{at}: unexpected `{k}`"));
                }
                None => {}
            }
        }
        let n = m.len() as u64;
        if schema
            .get("minProperties")
            .and_then(Value::as_u64)
            .is_some_and(|x| n < x)
            || schema
                .get("maxProperties")
                .and_then(Value::as_u64)
                .is_some_and(|x| n > x)
        {
            errs.push(format!("{at}: {n} members"));
        }
    }
    if let (Value::Array(a), Some(items)) = (v, schema.get("items")) {
        for (i, x) in a.iter().enumerate() {
            validate(x, items, &format!("{at}/{i}"), errs);
        }
    }
}

fn schemas() -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(format!("{ROOT}/docs/schemas")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if let Some(t) = name.strip_suffix(".schema.json") {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            m.insert(t.to_string(), v);
        }
    }
    m
}

fn run(args: &[&str]) -> Vec<Value> {
    let o = Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_schema_files_are_the_ones_the_generator_writes() {
    let names: Vec<String> = schemas().into_keys().collect();
    assert_eq!(names.len(), 30, "{names:?}");
    // the generator lists exactly the engine's output types
    for t in [
        "notify_failed",
        "plan_start_rejected",
        "event_refused",
        "step_entered",
        "table_miss",
        "joined",
        "check_overdue",
        "check_done",
        "declined",
        "supply",
    ] {
        assert!(names.iter().any(|n| n == t), "{t}");
    }
}

#[test]
fn every_output_of_the_samples_validates_against_its_schema() {
    let schemas = schemas();
    // a stream for the outputs the samples do not produce (shared with tests/output_roundtrip.rs)
    let crafted = "tests/expected/rare_outputs.jsonl";
    let mut outputs = Vec::new();
    for args in [
        vec![
            "run",
            "policies",
            "plans",
            "--events",
            "samples/rain.jsonl",
            "--trace",
        ],
        vec![
            "run",
            "policies",
            "plans",
            "--events",
            "plans/samples/flood_acks.jsonl",
        ],
        vec!["run", "policies", "--events", "samples/records.jsonl"],
        vec!["run", "policies", "--events", "samples/landslide.jsonl"],
        vec!["run", "policies", "plans", "--events", crafted],
    ] {
        outputs.extend(run(&args));
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut errs = Vec::new();
    for o in &outputs {
        let t = o["type"].as_str().unwrap().to_string();
        let Some(schema) = schemas.get(&t) else {
            panic!("no schema for output type `{t}`");
        };
        validate(o, schema, &t, &mut errs);
        *seen.entry(t).or_default() += 1;
    }
    assert!(errs.is_empty(), "{:#?}", &errs[..errs.len().min(20)]);
    // every schema but the script reporter's was checked against real outputs
    let unseen: Vec<&String> = schemas.keys().filter(|k| !seen.contains_key(*k)).collect();
    assert_eq!(
        unseen,
        ["script_error", "script_suppressed"],
        "seen: {seen:?}"
    );
}
