//! Every output type has a JSON Schema (`docs/schemas/<type>.schema.json`,
//! written by `docs/schemas/generate.py`), and every output the bundled
//! samples and a few crafted streams produce validates against its type's
//! schema (JSON Schema 2020-12, checked by the `jsonschema` crate with
//! formats asserted: `date-time` is RFC 3339).

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

/// Problems of `v` against `schema`, each with the place in `v`.
fn validate(v: &Value, schema: &Value, at: &str, errs: &mut Vec<String>) {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("{at}: the schema does not compile: {e}"));
    errs.extend(
        validator
            .iter_errors(v)
            .map(|e| format!("{at}{}: {e}", e.instance_path())),
    );
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

/// The check can fail: a missing field, a wrong type, an unknown field, a
/// time that is not RFC 3339 and a level outside the ladder are each caught.
#[test]
fn a_wrong_output_does_not_validate() {
    let schemas = schemas();
    let good = run(&["run", "policies", "--events", "samples/rain.jsonl"])
        .into_iter()
        .find(|o| o["type"] == "level_changed")
        .unwrap();
    let schema = &schemas["level_changed"];
    let mut errs = Vec::new();
    validate(&good, schema, "good", &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    type Mutation = (&'static str, fn(&mut Value));
    let mutations: [Mutation; 5] = [
        ("missing", |o| {
            o.as_object_mut().unwrap().remove("signal");
        }),
        ("type", |o| o["id"] = Value::from("seven")),
        ("extra", |o| o["surprise"] = Value::from(1)),
        ("time", |o| o["ts"] = Value::from("yesterday")),
        ("level", |o| o["to"] = Value::from("purple")),
    ];
    for (what, m) in mutations {
        let mut bad = good.clone();
        m(&mut bad);
        let mut errs = Vec::new();
        validate(&bad, schema, what, &mut errs);
        assert!(!errs.is_empty(), "{what}: {bad} validated");
    }
}
