//! JSONL ingestion: generic JSON tree, borrowed serde struct, the engine's
//! schema-driven parser, and parse + compiled evaluation.
#![allow(missing_docs, reason = "criterion macros")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use yingji::unstable::engine::compiled::CompiledEngine;
use yingji::unstable::engine::event::Schema;
use yingji::{Event, Timestamp, Value};
use yingji_bench::windows;

#[derive(serde::Deserialize)]
#[allow(dead_code, reason = "parsed to be measured")]
struct Borrowed<'a> {
    ts: &'a str,
    kind: &'a str,
    station: &'a str,
    mm: f64,
}

fn bench(c: &mut Criterion) {
    let Ok(w) = windows(1_000, 100_000, 42) else {
        return;
    };
    let lines = w.jsonl();
    let mut g = c.benchmark_group("jsonl_100k");
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.sample_size(10);
    g.bench_function("serde_json_value", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
                .count()
        })
    });
    g.bench_function("serde_borrowed_struct", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| serde_json::from_str::<Borrowed<'_>>(l).is_ok())
                .count()
        })
    });
    let schema = Schema::new(&w.program);
    let fresh = || Event {
        ts: Timestamp::default(),
        kind: None,
        kind_name: Arc::from(""),
        id: None,
        fields: vec![Value::Null; w.program.fields.len()],
        seq: 0,
    };
    g.bench_function("schema_parse", |b| {
        let mut ev = fresh();
        b.iter(|| {
            lines
                .iter()
                .filter(|l| {
                    schema
                        .parse_into(black_box(l), &w.program, 0, &mut ev)
                        .is_ok()
                })
                .count()
        })
    });
    g.bench_function("parse_and_compiled_eval", |b| {
        let mut ev = fresh();
        b.iter(|| {
            let Ok(mut eng) = CompiledEngine::new(&w.program) else {
                return 0;
            };
            let mut n = 0u64;
            for (i, l) in lines.iter().enumerate() {
                if schema
                    .parse_into(l, &w.program, i as u64 + 1, &mut ev)
                    .is_ok()
                {
                    let _ = eng.push_with(&ev, |_, _| n += 1);
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
