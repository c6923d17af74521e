//! Peak memory with many keys (BENCHMARKS.md, issue "one semantics"): the
//! windows workload's signal (four sliding sums) over `KEYS` stations with
//! four readings each, fed as JSONL lines generated on the fly, through
//! `Engine::push_line` (`engine`) or through the hand-written loop
//! `yingji_bench::native::NativeWindows` fed by a serde parse (`native`).
//! Run each in its own process and compare the peak RSS:
//!
//! `/usr/bin/time -f %M target/release/examples/mem_keys engine 1000000`
//! `/usr/bin/time -f %M target/release/examples/mem_keys native 1000000`

use std::fmt::Write as _;

#[derive(serde::Deserialize)]
struct Row<'a> {
    #[serde(borrow)]
    ts: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    station: std::borrow::Cow<'a, str>,
    mm: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("usage: mem_keys engine|native KEYS")?;
    let keys: usize = args
        .next()
        .ok_or("usage: mem_keys engine|native KEYS")?
        .parse()?;
    let defs = yingji::Definitions::from_str("windows.yj", yingji_bench::WINDOWS_SOURCE)
        .map_err(|e| e.rendered)?;
    let config = yingji::unstable::engine::Config {
        lateness_ms: 0,
        max_ahead_ms: None,
        ..Default::default()
    };
    let mut engine = defs.engine_with(config)?;
    let mut native = yingji_bench::native::NativeWindows::new();
    let mut sum = yingji_bench::Checksum::default();
    let mut out = Vec::new();
    let mut line = String::new();
    let t0 = 1_722_096_000_000i64; // 2024-07-28T00:00:00+08:00
    let mut seq = 0u64;
    for tick in 0..4i64 {
        let ts = yingji::Timestamp {
            ms: t0 + tick * 300_000,
            offset_min: 480,
        };
        for k in 0..keys {
            line.clear();
            let mm = ((k * 7 + tick as usize * 3) % 40) as f64 * 0.5;
            write!(
                line,
                r#"{{"ts":"{ts}","kind":"rain","station":"YY-{k:07}","mm":{mm}}}"#
            )?;
            seq += 1;
            if mode == "engine" {
                engine.push_line(&line, seq, &mut out)?;
                out.clear();
            } else {
                let r: Row = serde_json::from_str(&line)?;
                let ts = yingji::Timestamp::parse(&r.ts)?;
                native.push(seq, ts.ms, &r.station, r.mm, &mut sum);
            }
        }
    }
    if mode == "engine" {
        engine.flush(&mut out);
        println!("{seq} lines, {} keys held", engine.key_count());
    } else {
        println!("{seq} lines, {} changes", sum.changes);
    }
    Ok(())
}
