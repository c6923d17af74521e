//! 叫应 chains with timers: the streaming engine (signal + plan runtime)
//! against the hand-written state machine with a timer heap, on the workload
//! `yingji bench --workload chains` generates.
#![allow(missing_docs, reason = "criterion macros")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use yingji_bench::chains::{NativeChains, Tally, chains, run_engine};

fn bench(c: &mut Criterion) {
    let Ok(w) = chains(1_000, 30_000, 42) else {
        return;
    };
    let Ok(defs) = yingji::Definitions::load(&yingji::MemLoader(w.files())) else {
        return;
    };
    let mut g = c.benchmark_group("chains_1000c_30k");
    g.throughput(Throughput::Elements(w.events.len() as u64));
    g.sample_size(10);
    g.bench_function("engine", |b| {
        b.iter(|| {
            let mut tally = Tally::default();
            if let Ok(mut eng) = defs.engine() {
                let _ = run_engine(&mut eng, &w.events, &mut tally);
            }
            tally
        })
    });
    g.bench_function("native", |b| {
        b.iter(|| {
            let mut n = NativeChains::new(&w);
            let mut tally = Tally::default();
            for (ev, input) in w.events.iter().zip(&w.inputs) {
                n.push(ev.ts.ms, black_box(input), &mut tally);
            }
            n.finish(&mut tally);
            tally
        })
    });
    g.finish();
    let mut g = c.benchmark_group("chains_compile_1000c");
    g.sample_size(10);
    g.bench_function("load_signal_plan_roster", |b| {
        b.iter(|| {
            yingji::Definitions::load(&yingji::MemLoader(w.files()))
                .map(|d| d.unstable_plans().chains.len())
                .unwrap_or(0)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
