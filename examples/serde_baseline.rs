//! The baseline of the `yingji run` target in BENCHMARKS.md: read a JSONL
//! file of rain readings and serde-parse every line into a struct with
//! borrowed strings (no evaluation), as fast as a plain program can.
//!
//! `cargo run --release --example serde_baseline -- FILE`

use std::io::BufRead;

#[derive(serde::Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    ts: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    station: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    town: std::borrow::Cow<'a, str>,
    mm: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: serde_baseline FILE")?;
    let t = std::time::Instant::now();
    let mut r = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let (mut lines, mut bytes, mut mm) = (0u64, 0usize, 0f64);
    let mut buf = String::new();
    loop {
        buf.clear();
        if r.read_line(&mut buf)? == 0 {
            break;
        }
        let l: Line = serde_json::from_str(buf.trim_end())?;
        // every member is used, so none is optimised away
        bytes += l.ts.len() + l.kind.len() + l.station.len() + l.town.len();
        mm += l.mm;
        lines += 1;
    }
    println!(
        "{lines} lines ({bytes} bytes of text, {mm:.1} mm) in {:.3} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
