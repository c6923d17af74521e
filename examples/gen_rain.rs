//! Deterministic generator of the sample stream `samples/rain.jsonl`.
//!
//! `cargo run --example gen_rain > samples/rain.jsonl`
//!
//! Six Yunyang rain gauges report every 10 minutes from 2024-07-28 00:00 to
//! 2024-07-30 24:00 (+08:00). Each station gets its own storm (centre,
//! width, peak intensity), plus drizzle, from a fixed-seed xorshift, so the
//! file is identical on every machine. Three hydrological stations report
//! river levels that rise after the rain upstream (one passes its 警戒水位,
//! one its 保证水位), and the 故陵镇 gauge drops out for two hours on the
//! 29th (a device-offline case).
//!
//! The duty room's side of the storm is in the stream too ([`DUTY`]): the
//! answers (`ack`) of the people the 叫应 chains call in 南溪镇 and 江口镇
//! (one on time, one duplicate, one after the chain ran out) and the
//! answers to the county's 1+7+N 会商研判, and the
//! verification reports (`灾情核实`) that close the plans, so
//! `yingji run policies plans --events samples/rain.jsonl` shows the whole
//! closed loop 预警→响应→反馈→核实.

use std::io::{self, Write};

/// Duty-room events, each written after the readings of the 10-minute step
/// it follows: (step time, line).
const DUTY: &[(&str, &str)] = &[
    // 南溪镇: the township head answers both 叫应 chains on the second tier
    (
        "2024-07-28T20:10",
        r#"{"ts":"2024-07-28T20:17:00+08:00","kind":"ack","person":"NX01","ref":"县防汛应急预案@南溪镇#1/叫应"}"#,
    ),
    (
        "2024-07-28T20:10",
        r#"{"ts":"2024-07-28T20:18:00+08:00","kind":"ack","person":"NX01","ref":"县地质灾害应急预案@南溪镇#1/临灾叫应"}"#,
    ),
    (
        "2024-07-28T20:10",
        r#"{"ts":"2024-07-28T20:19:00+08:00","kind":"ack","person":"NX01","ref":"县防汛应急预案@南溪镇#1/叫应"}"#,
    ),
    // 1+7+N 会商研判: the bureau, 气象 and the township head join in time, the others do not
    (
        "2024-07-28T20:10",
        r#"{"ts":"2024-07-28T20:16:00+08:00","kind":"ack","person":"D001","ref":"会商研判@云阳县#1/会商"}"#,
    ),
    (
        "2024-07-28T20:10",
        r#"{"ts":"2024-07-28T20:16:30+08:00","kind":"ack","person":"D002","ref":"会商研判@云阳县#1/会商"}"#,
    ),
    (
        "2024-07-28T20:10",
        r#"{"ts":"2024-07-28T20:19:30+08:00","kind":"ack","person":"NX01","ref":"会商研判@云阳县#1/会商"}"#,
    ),
    // 南溪镇: the geological-hazard check after the evacuation
    (
        "2024-07-28T21:30",
        r#"{"ts":"2024-07-28T21:40:00+08:00","kind":"灾情核实","area":"南溪镇","result":"隐患点无新增变形"}"#,
    ),
    // 江口镇: nobody answers in time; the duty office answers the fallback, the township head late
    (
        "2024-07-29T04:20",
        r#"{"ts":"2024-07-29T04:24:00+08:00","kind":"ack","person":"C002","ref":"县防汛应急预案@江口镇#1/叫应"}"#,
    ),
    (
        "2024-07-29T04:20",
        r#"{"ts":"2024-07-29T04:26:00+08:00","kind":"ack","person":"JK01","ref":"县防汛应急预案@江口镇#1/叫应"}"#,
    ),
    // 南溪镇: the flood plan's closing verification
    (
        "2024-07-29T04:20",
        r#"{"ts":"2024-07-29T04:28:00+08:00","kind":"灾情核实","area":"南溪镇","result":"无人员伤亡"}"#,
    ),
];

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() -> io::Result<()> {
    // (station, town, storm centre in hours from the start, width h, peak mm per 10 min)
    let stations = [
        ("YY-001", "双江街道", 30.0, 2.0, 3.2),
        ("YY-002", "青龙街道", 32.0, 3.0, 2.0),
        ("YY-003", "南溪镇", 20.0, 1.5, 5.6),
        ("YY-004", "江口镇", 28.0, 1.2, 9.5),
        ("YY-005", "龙角镇", 44.0, 4.0, 1.3),
        ("YY-006", "故陵镇", 50.0, 2.5, 0.3),
    ];
    let mut rng = XorShift(0x5EED_2024_0729);
    let out = io::stdout();
    let mut out = out.lock();
    let start_day = 28;
    for step in 0..(3 * 24 * 6) {
        let hours = f64::from(step) / 6.0;
        let (day, minute_of_day) = (start_day + step / 144, (step % 144) * 10);
        let ts = format!(
            "2024-07-{day:02}T{:02}:{:02}:00+08:00",
            minute_of_day / 60,
            minute_of_day % 60
        );
        for &(station, town, centre, width, peak) in &stations {
            // 故陵镇's gauge is offline 2024-07-29 10:00–12:00
            if station == "YY-006" && (34.0..36.0).contains(&hours) {
                continue;
            }
            let z = (hours - centre) / width;
            let storm = peak * (-z * z).exp();
            let drizzle = if rng.next() < 0.15 {
                rng.next() * 0.4
            } else {
                0.0
            };
            let noise = 1.0 + (rng.next() - 0.5) * 0.3;
            let mm = ((storm * noise + drizzle) * 10.0).round() / 10.0;
            writeln!(
                out,
                r#"{{"ts":"{ts}","kind":"rain","station":"{station}","town":"{town}","mm":{mm:.1}}}"#
            )?;
        }
        // (station, town, base level m, rise m, crest hours from start, spread h)
        let rivers = [
            ("YY-H01", "双江街道", 172.8, 3.4, 36.0, 6.0),
            ("YY-H02", "江口镇", 179.6, 5.3, 33.0, 5.0),
            ("YY-H03", "南溪镇", 194.9, 1.1, 26.0, 4.0),
        ];
        for &(station, town, base, rise, crest, spread) in &rivers {
            let z = (hours - crest) / spread;
            let level = base + rise * (-z * z).exp() + (rng.next() - 0.5) * 0.04;
            writeln!(
                out,
                r#"{{"ts":"{ts}","kind":"river_level","station":"{station}","town":"{town}","level_m":{level:.2}}}"#
            )?;
        }
        for (after, line) in DUTY {
            if ts.starts_with(after) {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(())
}
