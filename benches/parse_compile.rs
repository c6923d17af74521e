//! Parse + lower + compile time of generated threshold rule sets.
#![allow(missing_docs, reason = "criterion macros")]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use yingji::unstable::engine::compiled::CompiledEngine;
use yingji_bench::thresholds;

fn parse_compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_compile");
    g.sample_size(10);
    for rules in [1_000usize, 10_000] {
        let Ok(w) = thresholds(rules, 1_000, 1, 42) else {
            continue;
        };
        g.bench_with_input(
            BenchmarkId::new("dsl_to_compiled", rules),
            &w.source,
            |b, src| {
                b.iter(|| {
                    let defs = yingji::Definitions::from_str("bench.yj", black_box(src)).ok();
                    defs.and_then(|d| CompiledEngine::new(d.unstable_program()).ok())
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("ir_to_compiled", rules),
            &w.program,
            |b, p| b.iter(|| CompiledEngine::new(black_box(p)).ok()),
        );
    }
    g.finish();
}

criterion_group!(benches, parse_compile);
criterion_main!(benches);
