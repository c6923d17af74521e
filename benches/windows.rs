//! Rainstorm-style sliding sums: compiled engine against the hand-written baseline.
#![allow(missing_docs, reason = "criterion macros")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use yingji::unstable::engine::compiled::CompiledEngine;
use yingji_bench::native::NativeWindows;
use yingji_bench::{Checksum, windows};

fn bench(c: &mut Criterion) {
    let Ok(w) = windows(1_000, 200_000, 42) else {
        return;
    };
    let mut g = c.benchmark_group("windows_1000st_200k");
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
    g.bench_function("native", |b| {
        b.iter(|| {
            let mut n = NativeWindows::new();
            let mut sum = Checksum::default();
            for (i, ev) in w.events.iter().enumerate() {
                if let (Some(k), Some(v)) = (w.keys.get(i), w.values.get(i)) {
                    n.push(ev.seq, ev.ts.ms, black_box(k), black_box(*v), &mut sum);
                }
            }
            sum
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
