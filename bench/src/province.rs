//! A seeded province: rain gauges and river stations in Chongqing's 38
//! counties (GB/T 2260 codes), for the worker group's chaos test
//! (`tests/chaos_nats.rs`) and its capacity figures.
//!
//! The events read `samples/province/province.yj`: `rain` (`mm` since the
//! previous reading) and `river_level` (`stage_m`, metres relative to the
//! station's 警戒水位), each with the partition field `county` and a
//! sender's frame `id` (`<station>-<serial>`). Every county has
//! [`RAIN_GAUGES`] gauges and [`RIVER_STATIONS`] river stations reporting
//! every 5 minutes from [`START`], and its own storms. What the generator
//! puts in, from one [`Rng`] seeded by [`Params::seed`]:
//!
//! - **storms**: one to three per county, each a triangular burst of one to
//!   four hours peaking at 3–14 mm per 5 minutes, scaled per gauge; river
//!   stages rise with the county's rain and recede afterwards;
//! - **outages**: some gauges fall silent for 40 minutes to 2 hours (the
//!   absence signal's 30 minutes), then report again;
//! - **readings out of order within the lateness**: ~6 % are delivered
//!   1–9 minutes after their time, behind later readings (the engine's
//!   lateness is 5 minutes behind a clock that is itself the second latest
//!   station's time, so these are reordered, not late);
//! - **late readings**: ~0.3 % are delivered 12–30 minutes behind (`late`
//!   records);
//! - **resent frames**: ~1 % of the frames are sent again, byte for byte
//!   (same `id`), 0–10 minutes after the first copy;
//! - **a closing tail**: after [`Province::storm_end`] every station reports
//!   calm readings for [`TAIL_STEPS`] steps, on time, never resent, so a
//!   consumer that never sees the end of its input (a worker) still
//!   releases every reading up to the storm's end (what the lateness holds
//!   back at the very end is only tail readings).
//!
//! Messages are in delivery order (time sent, then generation order), the
//! order a test publishes them. The same [`Params`] give the same lines on
//! every machine (integer arithmetic only).

use crate::{ParamError, Rng};
use std::collections::BTreeMap;
use yingji_engine::Timestamp;

/// Chongqing's 38 districts and counties: GB/T 2260 code and name.
pub const COUNTIES: [(&str, &str); 38] = [
    ("500101", "万州区"),
    ("500102", "涪陵区"),
    ("500103", "渝中区"),
    ("500104", "大渡口区"),
    ("500105", "江北区"),
    ("500106", "沙坪坝区"),
    ("500107", "九龙坡区"),
    ("500108", "南岸区"),
    ("500109", "北碚区"),
    ("500110", "綦江区"),
    ("500111", "大足区"),
    ("500112", "渝北区"),
    ("500113", "巴南区"),
    ("500114", "黔江区"),
    ("500115", "长寿区"),
    ("500116", "江津区"),
    ("500117", "合川区"),
    ("500118", "永川区"),
    ("500119", "南川区"),
    ("500120", "璧山区"),
    ("500151", "铜梁区"),
    ("500152", "潼南区"),
    ("500153", "荣昌区"),
    ("500154", "开州区"),
    ("500155", "梁平区"),
    ("500156", "武隆区"),
    ("500229", "城口县"),
    ("500230", "丰都县"),
    ("500231", "垫江县"),
    ("500233", "忠县"),
    ("500235", "云阳县"),
    ("500236", "奉节县"),
    ("500237", "巫山县"),
    ("500238", "巫溪县"),
    ("500240", "石柱土家族自治县"),
    ("500241", "秀山土家族苗族自治县"),
    ("500242", "酉阳土家族苗族自治县"),
    ("500243", "彭水苗族土家族自治县"),
];

/// Rain gauges per county (`<county>-R01` …).
pub const RAIN_GAUGES: usize = 8;
/// River stations per county (`<county>-H1` …).
pub const RIVER_STATIONS: usize = 2;
/// Readings per county per 5-minute step.
pub const STATIONS: usize = RAIN_GAUGES + RIVER_STATIONS;
/// Calm steps after the storm period.
pub const TAIL_STEPS: usize = 6;
/// The first readings' time.
pub const START: &str = "2024-07-01T00:00:00+08:00";
/// Reporting interval.
pub const STEP_MS: i64 = 5 * 60_000;

const MINUTE: i64 = 60_000;

/// What to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The seed: same seed, same lines.
    pub seed: u64,
    /// About how many messages in all (resent frames included).
    pub events: usize,
    /// How many counties, the first of [`COUNTIES`] (1..=38).
    pub counties: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            seed: 1,
            events: 200_000,
            counties: COUNTIES.len(),
        }
    }
}

/// One message to publish: the county (the partition field's value, the
/// subject's last token) and the event line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The county's GB/T 2260 code.
    pub county: &'static str,
    /// One JSON event line (no newline).
    pub line: String,
}

/// Counts of what the generator put in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Readings (first copies).
    pub readings: usize,
    /// Resent frames (exact duplicates).
    pub resent: usize,
    /// Readings delivered behind later ones, within the lateness.
    pub reordered: usize,
    /// Readings delivered beyond the lateness.
    pub late: usize,
    /// Gauge outages (silences longer than the absence signal's 30 minutes).
    pub outages: usize,
    /// Storms over all counties.
    pub storms: usize,
}

/// A generated province.
#[derive(Clone, Debug)]
pub struct Province {
    /// Every message in delivery (publish) order.
    pub messages: Vec<Message>,
    /// The last storm-period step's time: readings up to here are released by
    /// the tail.
    pub storm_end: Timestamp,
    /// The last tail step's time.
    pub end: Timestamp,
    /// What was put in.
    pub counts: Counts,
}

impl Province {
    /// Each county's lines in publish order (every county generated is a key,
    /// in code order).
    pub fn by_county(&self) -> BTreeMap<&'static str, Vec<&str>> {
        let mut map: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
        for m in &self.messages {
            map.entry(m.county).or_default().push(&m.line);
        }
        map
    }
}

struct Storm {
    centre: i64,
    half: i64,
    peak_tenths: i64,
}

/// [`START`] as a timestamp.
pub fn start() -> Timestamp {
    let days = yingji_engine::time::days_from_civil(2024, 7, 1);
    Timestamp {
        ms: days * 86_400_000 - 8 * 3_600_000,
        offset_min: 8 * 60,
    }
}

/// One reading before delivery: when it is sent, a tie-break, the message.
struct Pending {
    deliver_ms: i64,
    order: u64,
    msg: Message,
}

/// Generates the province. Refuses zero events or counties outside 1..=38.
pub fn generate(p: &Params) -> Result<Province, ParamError> {
    if p.events == 0 {
        return Err(ParamError::Zero("events"));
    }
    if p.counties == 0 {
        return Err(ParamError::Zero("counties"));
    }
    if p.counties > COUNTIES.len() {
        return Err(ParamError::TooManyKeys {
            keys: p.counties,
            max: COUNTIES.len(),
        });
    }
    let start = start();
    // ~1 % of the messages are resent copies
    let per_county = p.events * 100 / 101 / p.counties;
    let steps = (per_county / STATIONS).saturating_sub(TAIL_STEPS).max(12) as i64;
    let total_steps = steps + TAIL_STEPS as i64;
    let storm_end_ms = start.ms + (steps - 1) * STEP_MS;
    let mut rng = Rng::new(p.seed);
    let mut counts = Counts::default();
    let mut pending: Vec<Pending> = Vec::with_capacity(p.events + p.events / 50);
    let mut order = 0u64;

    for &(county, _) in COUNTIES.iter().take(p.counties) {
        let storms: Vec<Storm> = (0..1 + rng.below(3))
            .map(|_| Storm {
                centre: rng.below(steps as u64) as i64,
                half: 12 + rng.below(37) as i64,
                peak_tenths: 30 + rng.below(111) as i64,
            })
            .collect();
        counts.storms += storms.len();
        // per gauge: a scale (percent) and maybe one outage (first step, steps)
        let gauges: Vec<(i64, Option<(i64, i64)>)> = (0..RAIN_GAUGES)
            .map(|_| {
                let scale = 40 + rng.below(91) as i64;
                let outage = if rng.below(100) < 40 {
                    Some((rng.below(steps as u64) as i64, 8 + rng.below(17) as i64))
                } else {
                    None
                };
                (scale, outage)
            })
            .collect();
        // river stages in centimetres relative to 警戒水位
        let mut stages: Vec<i64> = (0..RIVER_STATIONS)
            .map(|_| -300 + rng.below(80) as i64)
            .collect();
        let gains: Vec<i64> = (0..RIVER_STATIONS)
            .map(|_| 6 + rng.below(7) as i64)
            .collect();
        let mut serial = [0u32; STATIONS];

        for s in 0..total_steps {
            let ts = start.plus_ms(s * STEP_MS);
            let tail = s >= steps;
            let ts_text = ts.to_string();
            let mut county_rain = 0i64;
            let mut lines: Vec<(usize, String)> = Vec::with_capacity(STATIONS);
            for (g, &(scale, outage)) in gauges.iter().enumerate() {
                let mut tenths: i64 = if tail {
                    0
                } else {
                    storms
                        .iter()
                        .map(|st| {
                            let d = (s - st.centre).abs();
                            if d >= st.half {
                                0
                            } else {
                                st.peak_tenths * (st.half - d) / st.half
                            }
                        })
                        .sum::<i64>()
                        * scale
                        / 100
                };
                if !tail && rng.below(10) == 0 {
                    tenths += 1 + rng.below(5) as i64;
                }
                county_rain += tenths;
                let silent = !tail && outage.is_some_and(|(from, len)| s >= from && s < from + len);
                if silent {
                    continue;
                }
                let station = format!("{county}-R{:02}", g + 1);
                serial[g] += 1;
                lines.push((
                    g,
                    format!(
                        r#"{{"ts":"{ts_text}","kind":"rain","county":"{county}","station":"{station}","id":"{station}-{:06}","mm":{}.{}}}"#,
                        serial[g],
                        tenths / 10,
                        tenths % 10
                    ),
                ));
            }
            for (h, stage) in stages.iter_mut().enumerate() {
                let inflow = county_rain * gains[h] / (RAIN_GAUGES as i64 * 4);
                let recession = (*stage + 300) / 25;
                *stage += inflow - recession;
                let station = format!("{county}-H{}", h + 1);
                let slot = RAIN_GAUGES + h;
                serial[slot] += 1;
                let sign = if *stage < 0 { "-" } else { "" };
                let abs = stage.abs();
                lines.push((
                    slot,
                    format!(
                        r#"{{"ts":"{ts_text}","kind":"river_level","county":"{county}","station":"{station}","id":"{station}-{:06}","stage_m":{sign}{}.{:02}}}"#,
                        serial[slot],
                        abs / 100,
                        abs % 100
                    ),
                ));
            }
            for (_, line) in lines {
                counts.readings += 1;
                let roll = rng.below(1000);
                let delay = if tail {
                    0
                } else if roll < 3 {
                    counts.late += 1;
                    (12 + rng.below(19) as i64) * MINUTE
                } else if roll < 63 {
                    counts.reordered += 1;
                    (1 + rng.below(9) as i64) * MINUTE
                } else {
                    0
                };
                let deliver_ms = ts.ms + delay;
                if !tail && rng.below(100) == 0 {
                    counts.resent += 1;
                    pending.push(Pending {
                        deliver_ms: deliver_ms + rng.below(11) as i64 * MINUTE,
                        order: order + 1,
                        msg: Message {
                            county,
                            line: line.clone(),
                        },
                    });
                }
                pending.push(Pending {
                    deliver_ms,
                    order,
                    msg: Message { county, line },
                });
                order += 2;
            }
        }
        counts.outages += gauges.iter().filter(|g| g.1.is_some()).count();
    }
    // delivery order; a copy never overtakes its original (order + 1)
    pending.sort_by_key(|x| (x.deliver_ms, x.order));
    Ok(Province {
        messages: pending.into_iter().map(|x| x.msg).collect(),
        storm_end: Timestamp {
            ms: storm_end_ms,
            offset_min: start.offset_min,
        },
        end: start.plus_ms((total_steps - 1) * STEP_MS),
        counts,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    #[test]
    fn same_seed_same_lines_other_seed_other_lines() {
        let p = Params {
            seed: 7,
            events: 20_000,
            counties: 5,
        };
        let a = generate(&p).unwrap();
        let b = generate(&p).unwrap();
        assert_eq!(a.messages, b.messages);
        let c = generate(&Params { seed: 8, ..p }).unwrap();
        assert_ne!(a.messages, c.messages);
    }

    #[test]
    fn every_disorder_is_in_and_the_tail_is_clean() {
        let p = Params {
            seed: 3,
            events: 40_000,
            counties: 38,
        };
        let prov = generate(&p).unwrap();
        let n = prov.messages.len();
        assert!((36_000..=44_000).contains(&n), "{n} messages");
        let c = &prov.counts;
        assert_eq!(c.readings + c.resent, n);
        assert!(c.resent > 0 && c.reordered > 0 && c.late > 0 && c.outages > 0);
        assert_eq!(prov.by_county().len(), 38);
        // resent copies are byte-identical lines
        let mut seen = std::collections::HashSet::new();
        let dups = prov
            .messages
            .iter()
            .filter(|m| !seen.insert(m.line.as_str()))
            .count();
        assert_eq!(dups, c.resent);
        // the last messages are tail readings, on time and in order
        let last = &prov.messages[n - 1].line;
        assert!(last.contains(&prov.end.to_string()), "{last}");
        // every line is an event the province definitions read
        for m in prov.messages.iter().take(500) {
            let v: serde_json::Value = serde_json::from_str(&m.line).unwrap();
            assert_eq!(v["county"], m.county);
        }
    }

    #[test]
    fn start_is_the_documented_time() {
        assert_eq!(start().to_string(), START);
    }

    #[test]
    fn bad_params_are_refused() {
        let zero = Params {
            events: 0,
            ..Params::default()
        };
        assert!(matches!(generate(&zero), Err(ParamError::Zero("events"))));
        let many = Params {
            counties: 39,
            ..Params::default()
        };
        assert!(matches!(
            generate(&many),
            Err(ParamError::TooManyKeys { keys: 39, .. })
        ));
    }
}
