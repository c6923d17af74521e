//! Every output type reads back from its JSON and writes the same bytes
//! again: the outputs of the bundled samples (every plan record with
//! `--trace`, deadlines, table misses), a crafted stream for the rarer plan
//! records, and a failing script for the script reporter. Also: the variant's
//! `type_name()` is the JSON `type`, and a word outside a closed set is
//! refused when reading.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::BTreeSet;
use yingji::{Config, Definitions, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The outputs of `lines` over the definitions in `paths`, as `yingji run` makes them.
fn run(paths: &[&str], trace: bool, lines: &[String]) -> Vec<Output> {
    let paths: Vec<String> = paths.iter().map(|p| format!("{ROOT}/{p}")).collect();
    let mut defs = Definitions::from_paths(&paths).unwrap_or_else(|e| panic!("{e}"));
    defs.set_trace(trace);
    let mut engine = defs.engine_with(Config::default()).unwrap();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !line.trim().is_empty() {
            let _ = engine.push_line(line, i as u64 + 1, &mut out);
        }
    }
    engine.finish(None, &mut out).unwrap();
    out
}

fn lines(path: &str) -> Vec<String> {
    read(path).lines().map(str::to_string).collect()
}

/// Checks one output: JSON → `Output` → the same JSON; returns its type.
fn round_trip(o: &Output) -> String {
    let json = serde_json::to_string(o).unwrap();
    let back: Output =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("does not read back: {e}\n{json}"));
    let again = serde_json::to_string(&back).unwrap();
    assert_eq!(again, json, "re-serialized differently");
    assert_eq!(back.to_json(), o.to_json());
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["type"], o.type_name(), "{json}");
    assert_eq!(back.type_name(), o.type_name());
    assert_eq!(back.id(), o.id());
    assert_eq!(back.ts(), o.ts());
    o.type_name().to_string()
}

#[test]
fn every_output_type_reads_back_byte_for_byte() {
    // the stream tests/output_schemas.rs uses for the rarer records
    let crafted = lines("tests/expected/rare_outputs.jsonl");
    let mut outputs = Vec::new();
    outputs.extend(run(
        &["policies", "plans"],
        true,
        &lines("samples/rain.jsonl"),
    ));
    outputs.extend(run(
        &["policies", "plans"],
        false,
        &lines("plans/samples/flood_acks.jsonl"),
    ));
    outputs.extend(run(&["policies"], false, &lines("samples/records.jsonl")));
    outputs.extend(run(&["policies"], false, &lines("samples/landslide.jsonl")));
    outputs.extend(run(&["policies", "plans"], false, &crafted));

    // the script reporter: a function that throws on negative readings
    let scripts = Definitions::from_str(
        "scripts.yj",
        "event r { site: string, x: number }\n\
         fn f(x: number) -> number in rhai {\n  if x < 0.0 { throw \"negative\"; }\n  x\n}\n\
         signal s {\n  from r\n  key site\n  let y = f(x)\n  level red when y >= 10\n}\n",
    )
    .unwrap();
    let mut engine = scripts.engine().unwrap();
    let mut out = Vec::new();
    for i in 0..12u64 {
        let line = format!(
            r#"{{"ts":"2024-07-29T01:{:02}:00+08:00","kind":"r","site":"A","x":-1}}"#,
            i * 4
        );
        engine.push_line(&line, i + 1, &mut out).unwrap();
    }
    engine
        .finish(
            Some(yingji::Timestamp::parse("2024-07-29T04:00:00+08:00").unwrap()),
            &mut out,
        )
        .unwrap();
    outputs.extend(out);

    let seen: BTreeSet<String> = outputs.iter().map(round_trip).collect();
    // every output type with a schema was seen (the schemas list them all)
    let mut all = BTreeSet::new();
    for f in std::fs::read_dir(format!("{ROOT}/docs/schemas")).unwrap() {
        let name = f.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(t) = name.strip_suffix(".schema.json") {
            all.insert(t.to_string());
        }
    }
    let missing: Vec<&String> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "not produced: {missing:?}; seen {seen:?}"
    );
}

#[test]
fn words_outside_a_closed_set_are_refused() {
    let good = r#"{"type":"level_changed","id":1,"ts":"2024-07-29T03:00:00+08:00","signal":"s","key":"A","from":"none","to":"red","rule":null,"rule_at":null,"values":{},"event":4,"reason":"raise","since":"2024-07-29T03:00:00+08:00"}"#;
    assert!(serde_json::from_str::<Output>(good).is_ok());
    let bad = good.replace(r#""reason":"raise""#, r#""reason":"because""#);
    let e = serde_json::from_str::<Output>(&bad)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown variant `because`, expected one of `raise`, `clear`, `step_down`"),
        "{e}"
    );
    let bad = good.replace(r#""to":"red""#, r#""to":"purple""#);
    assert!(serde_json::from_str::<Output>(&bad).is_err());
    let unknown = r#"{"type":"no_such_output","ts":"2024-07-29T03:00:00+08:00"}"#;
    assert!(serde_json::from_str::<Output>(unknown).is_err());
}

#[test]
fn values_keep_their_order() {
    let line = r#"{"type":"level_changed","id":3,"ts":"2024-07-29T03:00:00+08:00","signal":"s","key":"A","from":"blue","to":"red","rule":"red when z >= 1","rule_at":"a.yj:9:5","values":{"z":2,"a":"x","m":null,"b":true,"f":1.5},"event":4,"reason":"raise","since":"2024-07-29T02:00:00+08:00"}"#;
    let o: Output = serde_json::from_str(line).unwrap();
    assert_eq!(o.to_json(), line);
}

/// The size of an `Output` (every output is moved through the engine's
/// buffers and the stream's channel) is its largest payload's, `Notify`
/// (272 bytes; `LevelChange`, the common one, is 160): a new variant larger
/// than that should be boxed.
#[test]
fn output_does_not_grow() {
    let size = std::mem::size_of::<Output>();
    assert!(
        size <= 272,
        "Output is {size} bytes: box the new large variant"
    );
}
