//! Deterministic generator of the sample displacement stream `samples/landslide.jsonl`.
//!
//! `cargo run --example gen_landslide > samples/landslide.jsonl`
//!
//! Three monitored slopes in Yunyang report cumulative surface displacement
//! (mm) every 6 hours for 11 days from 2024-07-20 00:00 (+08:00):
//! - `YY-HP01` 宝塔滑坡 creeps at about its constant-velocity rate (0.9·v0),
//!   then enters accelerating deformation from day 6 (the rate doubles every
//!   1.2 days);
//! - `YY-HP02` 凉水井滑坡 creeps well below its constant-velocity rate throughout;
//! - `YY-HP03` 大地湾滑坡 creeps at 0.7·v0 and speeds up to about 4× that
//!   after heavy rain around day 5, then slows back.
//!
//! A fixed-seed xorshift adds ±0.02 mm of gauge noise, so the file is
//! identical on every machine.

use std::io::{self, Write};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Displacement rate (mm/day) of a slope at `day` days from the start.
fn rate(site: usize, day: f64) -> f64 {
    match site {
        0 => {
            let v = 0.9 * 1.2;
            if day < 6.0 {
                v
            } else {
                v * 2f64.powf((day - 6.0) / 1.2)
            }
        }
        1 => 0.5,
        _ => {
            let v = 0.7 * 1.5;
            let bump = (-(day - 5.0).powi(2) / 0.8).exp();
            v * (1.0 + 3.0 * bump)
        }
    }
}

fn main() -> io::Result<()> {
    let sites = ["YY-HP01", "YY-HP02", "YY-HP03"];
    let mut rng = XorShift(0x51DE_2024_0720);
    let mut total = [0.0f64; 3];
    let out = io::stdout();
    let mut out = out.lock();
    let steps_per_day = 4;
    for step in 0..=(11 * steps_per_day) {
        let day = f64::from(step) / f64::from(steps_per_day);
        let (d, h) = (20 + step / steps_per_day, (step % steps_per_day) * 6);
        for (i, site) in sites.iter().enumerate() {
            if let Some(t) = total.get_mut(i) {
                if step > 0 {
                    *t += rate(i, day) / f64::from(steps_per_day);
                }
                let noise = (rng.next() - 0.5) * 0.04;
                let mm = ((*t + noise) * 100.0).round() / 100.0;
                writeln!(
                    out,
                    r#"{{"ts":"2024-07-{d:02}T{h:02}:00:00+08:00","kind":"displacement","site":"{site}","mm":{mm:?}}}"#
                )?;
            }
        }
    }
    Ok(())
}
