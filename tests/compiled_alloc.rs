//! The compiled hot path allocates nothing per event once every key has been
//! seen and window buffers have grown: counted with an instrumented global
//! allocator (no timing is asserted).

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use yingji::unstable::engine::compiled::CompiledEngine;
use yingji_bench::{thresholds, windows};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocations_after_warmup(
    w: &yingji_bench::Workload,
    warm: usize,
) -> Result<(u64, usize), Box<dyn std::error::Error>> {
    let mut eng = CompiledEngine::new(&w.program)?;
    let (warmup, measured) = w.events.split_at(warm.min(w.events.len()));
    for ev in warmup {
        eng.push_with(ev, |_, _| {})?;
    }
    let mut changes = 0u64;
    let region = Region::new(GLOBAL);
    for ev in measured {
        eng.push_with(ev, |_, _| changes += 1)?;
    }
    let stats = region.change();
    Ok((changes, stats.allocations + stats.reallocations))
}

/// One test: the allocator's counters are process-wide, so a second test
/// running in parallel would be counted too.
#[test]
fn hot_path_allocates_nothing() -> Result<(), Box<dyn std::error::Error>> {
    thresholds_hot_path()?;
    windows_hot_path()
}

fn thresholds_hot_path() -> Result<(), Box<dyn std::error::Error>> {
    let w = thresholds(1_000, 100, 60_000, 7)?;
    let (changes, allocs) = allocations_after_warmup(&w, 10_000)?;
    assert!(
        changes > 1_000,
        "the stream changes levels often ({changes})"
    );
    assert_eq!(allocs, 0, "allocations on the hot path");
    Ok(())
}

fn windows_hot_path() -> Result<(), Box<dyn std::error::Error>> {
    // 50 stations every 5 minutes: 12 h of warm-up fills the longest window
    let w = windows(50, 50 * 12 * 24 * 3, 7)?;
    let (changes, allocs) = allocations_after_warmup(&w, 50 * 12 * 24)?;
    assert!(changes > 20, "storms raise and clear warnings ({changes})");
    assert_eq!(allocs, 0, "allocations on the hot path");
    Ok(())
}
