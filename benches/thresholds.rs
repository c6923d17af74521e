//! Threshold evaluation: compiled engine, reference engine, hand-written baseline.
#![allow(missing_docs, reason = "criterion macros")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use yingji::unstable::engine::compiled::CompiledEngine;
use yingji_bench::native::NativeThresholds;
use yingji_bench::{Checksum, thresholds};

fn bench(c: &mut Criterion) {
    let Ok(w) = thresholds(1_000, 100, 100_000, 42) else {
        return;
    };
    let mut g = c.benchmark_group("thresholds_1000r_100k");
    g.throughput(Throughput::Elements(w.events.len() as u64));
    g.sample_size(10);
    g.bench_function("compiled", |b| {
        b.iter(|| {
            let Ok(mut eng) = CompiledEngine::new(&w.program) else {
                return 0;
            };
            let mut n = 0u64;
            for ev in &w.events {
                let _ = eng.push_with(ev, |_, _| n += 1);
            }
            n
        })
    });
    g.bench_function("reference", |b| {
        b.iter(|| {
            let Ok(eng) = yingji::Engine::new(w.program.clone()) else {
                return 0;
            };
            let mut eng = eng.reference_evaluator();
            let mut out = Vec::new();
            for ev in &w.events {
                let _ = eng.push(ev, &mut out);
            }
            eng.flush(&mut out);
            out.len()
        })
    });
    g.bench_function("native", |b| {
        b.iter(|| {
            let mut n = NativeThresholds::new(&w);
            let mut sum = Checksum::default();
            for (i, ev) in w.events.iter().enumerate() {
                if let (Some(k), Some(v)) = (w.keys.get(i), w.values.get(i)) {
                    n.push(ev.seq, black_box(k), black_box(*v), &mut sum);
                }
            }
            sum
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
