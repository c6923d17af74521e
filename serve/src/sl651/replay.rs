//! Event lines back into SL 651 frames, through the station table: a way to
//! replay a JSONL sample (such as `samples/rain.jsonl`) as gauges would
//! send it (`yingji sl651 encode`).
//!
//! Each event of a kind the table maps becomes one `32` timed report of its
//! station, sent 5 s after its time, the station's serial numbers counting
//! from 1: the field's element (the first number element mapped to
//! `kind.field`: `20` PJ, `26` PT, `38` VT or `39` Z) with its usual data
//! definition (`20`/`26`: 3 bytes, 1 decimal; `38`: 2 bytes, 2 decimals;
//! `39`: 4 bytes, 3 decimals). A value those decimals cannot hold exactly
//! is refused, never rounded.

use super::body::{Decimal, Element, ElementId, Observation, Report, Value, encode_body};
use super::frame::{Encoding, Frame, Function, StationAddr};
use super::table::StationTable;
use super::time::Clock;
use std::collections::HashMap;

/// The data definition (bytes, decimals) of the number elements replayed.
pub fn definition(id: ElementId) -> Option<(u8, u8)> {
    Some(match id {
        ElementId::PJ | ElementId::PT => (3, 1),
        ElementId::VT => (2, 2),
        ElementId::Z => (4, 3),
        _ => return None,
    })
}

/// Makes frames from event lines.
#[derive(Debug)]
pub struct Replayer<'a> {
    table: &'a StationTable,
    by_key: HashMap<&'a str, StationAddr>,
    serials: HashMap<StationAddr, u16>,
    /// The encoding of the frames.
    pub encoding: Encoding,
    /// The centre address written.
    pub centre: u8,
    /// The password written.
    pub password: u16,
}

impl<'a> Replayer<'a> {
    /// A replayer over a table.
    pub fn new(table: &'a StationTable, encoding: Encoding) -> Replayer<'a> {
        Replayer {
            table,
            by_key: table.stations().map(|(a, s)| (s.key.as_str(), a)).collect(),
            serials: HashMap::new(),
            encoding,
            centre: 1,
            password: 0,
        }
    }

    /// The frame of one event line: `Ok(None)` for an event the table does
    /// not map (another kind, a key with no station); `Err` for a line that
    /// is not an event or a value the element cannot carry.
    pub fn frame(&mut self, line: &str) -> Result<Option<Frame>, String> {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let (Some(ts), Some(kind)) = (v["ts"].as_str(), v["kind"].as_str()) else {
            return Err("an event needs `ts` and `kind`".into());
        };
        let Some(key) = v[self.table.key_field.as_str()].as_str() else {
            return Ok(None);
        };
        let Some(&addr) = self.by_key.get(key) else {
            return Ok(None);
        };
        let Some(station) = self.table.get(&addr) else {
            return Ok(None);
        };
        let ts = yingji_engine::time::Timestamp::parse(ts).map_err(|e| format!("ts: {e}"))?;
        if ts.ms % 60_000 != 0 {
            return Err(format!("{ts}: an observation time has whole minutes"));
        }
        let mut elements = Vec::new();
        for (id, t) in &station.elements {
            if t.kind != kind || elements.iter().any(|e: &Element| e.id == *id) {
                continue;
            }
            let Some((len, decimals)) = definition(*id) else {
                continue;
            };
            if elements.iter().any(|e: &Element| {
                station
                    .elements
                    .iter()
                    .any(|(i, t2)| *i == e.id && t2.field == t.field)
            }) {
                continue;
            }
            let Some(x) = v[t.field.as_str()].as_f64() else {
                continue;
            };
            let scaled = x * 10f64.powi(i32::from(decimals));
            let m = scaled.round();
            // a negative value spends its first byte on the sign
            let room = 10f64.powi(i32::from(if m < 0.0 { len - 1 } else { len }) * 2);
            if (scaled - m).abs() > 1e-6 || m.abs() >= room {
                return Err(format!(
                    "{key} {}: {x} does not fit element {id} ({len} bytes, {decimals} decimals)",
                    t.field
                ));
            }
            elements.push(Element {
                id: *id,
                value: Value::Number {
                    len,
                    decimals,
                    value: Some(Decimal {
                        mantissa: m as i64,
                        decimals,
                    }),
                },
            });
        }
        if elements.is_empty() {
            return Ok(None);
        }
        let serial = self.serials.entry(addr).or_insert(0);
        *serial = if *serial == u16::MAX { 1 } else { *serial + 1 };
        let obs = Clock::from_timestamp(ts);
        let report = Report {
            serial: *serial,
            sent: Clock::from_timestamp(ts.plus_ms(5_000)),
            station: Some((addr, if kind == "rain" { 0x50 } else { 0x48 })),
            observations: vec![Observation {
                time: obs,
                step: None,
                elements,
            }],
        };
        Ok(Some(Frame::uplink(
            self.encoding,
            self.centre,
            addr,
            self.password,
            Function::Timed,
            encode_body(&report),
        )))
    }
}
