//! The body of a report: serial number, send time, station (F1F1),
//! observation times (F0F0) and elements (identifier, data-definition byte,
//! value).
//!
//! ```text
//! serial 2 | send time 6 (YYMMDDhhmmss BCD) | F1 F1 station 5 type 1 |
//! F0 F0 observation time 5 (YYMMDDhhmm BCD) | [04 18 step 3 (DDhhmm)] |
//! element: id 1 (or FF id 2) | definition 1 (high 5 bits: bytes, low 3: decimals) | value
//! ```
//!
//! A value is BCD digits; a first byte `FF` marks it negative; all bytes
//! `FF` mean "no data". `F4` (DRP) is twelve 5-minute rainfalls, one byte
//! each in 0.1 mm (binary, `FF` no data); `F5` (DRZ1) twelve 5-minute water
//! levels, two bytes each in 0.01 m (binary, `FFFF` no data). The twelve
//! values are the 5-minute periods of the hour that ends at the observation
//! time. After a time step (`04 18`, uniform-interval reports), the next
//! element's values repeat at that step to the end of the body. A new `F0F0`
//! starts a new observation. A link keep-alive (`2F`) has only the serial
//! number and send time.

use super::error::{BodyError, FrameError};
use super::frame::StationAddr;
use super::time::{Clock, bcd_byte, to_bcd_byte};
use std::fmt;

/// An element identifier: one byte, or `FF` and a second byte (written
/// `0xFFxx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ElementId(pub u16);

impl ElementId {
    /// `20` 当前降水量 PJ (mm).
    pub const PJ: ElementId = ElementId(0x20);
    /// `26` 降水量累计值 PT (mm).
    pub const PT: ElementId = ElementId(0x26);
    /// `38` 电源电压 VT (V).
    pub const VT: ElementId = ElementId(0x38);
    /// `39` 瞬时河道水位 Z (m).
    pub const Z: ElementId = ElementId(0x39);
    /// `F4` 1 小时内 5 分钟时段雨量 DRP.
    pub const DRP: ElementId = ElementId(0xF4);
    /// `F5` 1 小时内 5 分钟间隔相对水位 DRZ1.
    pub const DRZ1: ElementId = ElementId(0xF5);

    /// The standard's mnemonic, where known here.
    pub fn mnemonic(self) -> Option<&'static str> {
        Some(match self {
            ElementId::PJ => "PJ",
            ElementId::PT => "PT",
            ElementId::VT => "VT",
            ElementId::Z => "Z",
            ElementId::DRP => "DRP",
            ElementId::DRZ1 => "DRZ1",
            _ => return None,
        })
    }

    /// Reads `20`, `F4`, `FF03` (hex, case-insensitive).
    pub fn parse(text: &str) -> Option<ElementId> {
        if text.is_empty() || text.len() > 4 || text.len() % 2 != 0 {
            return None;
        }
        u16::from_str_radix(text, 16)
            .ok()
            .filter(|&v| text.len() == 2 || v >> 8 == 0xFF)
            .map(ElementId)
    }
}

impl fmt::Display for ElementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 0xFF {
            write!(f, "{:04X}", self.0)
        } else {
            write!(f, "{:02X}", self.0)
        }
    }
}

/// An exact decimal: `mantissa × 10^-decimals`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The digits as an integer (negative for a negative value).
    pub mantissa: i64,
    /// Digits after the point.
    pub decimals: u8,
}

impl Decimal {
    /// As a float (for JSON).
    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(i32::from(self.decimals))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = u32::from(self.decimals);
        let p = 10i64.pow(d);
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let m = self.mantissa.unsigned_abs();
        if d == 0 {
            write!(f, "{sign}{m}")
        } else {
            let p = p.unsigned_abs();
            write!(f, "{sign}{}.{:0w$}", m / p, m % p, w = d as usize)
        }
    }
}

/// An element's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A BCD number of `len` bytes with `decimals` decimals; `None` when
    /// the station sent "no data" (all bytes `FF`).
    Number {
        /// Bytes on the wire (the data-definition byte's high 5 bits).
        len: u8,
        /// Decimals (its low 3 bits).
        decimals: u8,
        /// The value.
        value: Option<Decimal>,
    },
    /// `F4` DRP: twelve 5-minute rainfalls in 0.1 mm (`None`: no data).
    Drp([Option<u8>; 12]),
    /// `F5` DRZ1: twelve 5-minute water levels in 0.01 m (`None`: no data).
    Drz([Option<u16>; 12]),
    /// After a time step: values at that step, each `len` bytes.
    Series {
        /// Bytes per value.
        len: u8,
        /// Decimals.
        decimals: u8,
        /// The values in time order.
        values: Vec<Option<Decimal>>,
    },
}

/// One element of an observation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// Its identifier.
    pub id: ElementId,
    /// Its value.
    pub value: Value,
}

/// A time step (`04 18` DDhhmm), for uniform-interval reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Days.
    pub days: u8,
    /// Hours.
    pub hours: u8,
    /// Minutes.
    pub minutes: u8,
}

impl Step {
    /// The step in milliseconds.
    pub fn ms(self) -> i64 {
        ((i64::from(self.days) * 24 + i64::from(self.hours)) * 60 + i64::from(self.minutes))
            * 60_000
    }
}

/// Elements observed at one time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The observation time (Beijing time, no seconds).
    pub time: Clock,
    /// The time step, if the observation is a series.
    pub step: Option<Step>,
    /// The elements in the order sent.
    pub elements: Vec<Element>,
}

/// A decoded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The station's serial number (流水号).
    pub serial: u16,
    /// When the station sent it (发报时间).
    pub sent: Clock,
    /// The station address and station type (分类码, e.g. `50` 降水, `48`
    /// 河道) from `F1F1`; `None` in a keep-alive.
    pub station: Option<(StationAddr, u8)>,
    /// The observations.
    pub observations: Vec<Observation>,
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], FrameError> {
        if self.at + n > self.b.len() {
            return Err(BodyError::Short {
                field: field.to_string(),
                at: self.at,
                need: self.at + n - self.b.len(),
            }
            .into());
        }
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }
    fn peek2(&self) -> Option<(u8, u8)> {
        Some((*self.b.get(self.at)?, *self.b.get(self.at + 1)?))
    }
    fn left(&self) -> usize {
        self.b.len() - self.at
    }
}

fn number(bytes: &[u8], decimals: u8, field: &str) -> Result<Option<Decimal>, FrameError> {
    if bytes.iter().all(|&b| b == 0xFF) {
        return Ok(None);
    }
    let (neg, digits) = match bytes.split_first() {
        Some((0xFF, rest)) => (true, rest),
        _ => (false, bytes),
    };
    let mut m: i64 = 0;
    for &b in digits {
        let v = bcd_byte(b).ok_or_else(|| FrameError::BadBcd {
            field: field.to_string(),
            byte: b,
        })?;
        m = m * 100 + i64::from(v);
    }
    Ok(Some(Decimal {
        mantissa: if neg { -m } else { m },
        decimals,
    }))
}

/// Reads a body. `header` is the header's station address (the body's
/// `F1F1` must agree with it).
pub fn decode_body(
    function: super::frame::Function,
    body: &[u8],
    header: StationAddr,
) -> Result<Report, FrameError> {
    let mut c = Cursor { b: body, at: 0 };
    let s = c.take(2, "serial number")?;
    let serial = u16::from(s[0]) << 8 | u16::from(s[1]);
    let sent = Clock::from_bcd(c.take(6, "send time")?, "send time")?;
    let mut report = Report {
        serial,
        sent,
        station: None,
        observations: Vec::new(),
    };
    if function == super::frame::Function::LinkKeepAlive {
        return Ok(report);
    }
    while c.left() > 0 {
        match c.peek2() {
            Some((0xF1, 0xF1)) => {
                c.take(2, "F1F1")?;
                let a = StationAddr::from_bcd(c.take(5, "station address (F1F1)")?)?;
                let t = c.take(1, "station type")?[0];
                if a != header {
                    return Err(BodyError::StationMismatch {
                        header: header.to_string(),
                        body: a.to_string(),
                    }
                    .into());
                }
                report.station = Some((a, t));
            }
            Some((0xF0, 0xF0)) => {
                c.take(2, "F0F0")?;
                let t = Clock::from_bcd(c.take(5, "observation time (F0F0)")?, "observation time")?;
                report.observations.push(Observation {
                    time: t,
                    step: None,
                    elements: Vec::new(),
                });
            }
            Some((0x04, 0x18)) => {
                c.take(2, "time step (0418)")?;
                let v = c.take(3, "time step")?;
                let mut d = [0u8; 3];
                for (slot, &b) in d.iter_mut().zip(v) {
                    *slot = bcd_byte(b).ok_or_else(|| FrameError::BadBcd {
                        field: "time step".into(),
                        byte: b,
                    })?;
                }
                let obs = report
                    .observations
                    .last_mut()
                    .ok_or_else(|| BodyError::NoObservationTime("0418".into()))?;
                obs.step = Some(Step {
                    days: d[0],
                    hours: d[1],
                    minutes: d[2],
                });
            }
            _ => {
                let first = c.take(1, "element identifier")?[0];
                let id = if first == 0xFF {
                    ElementId(0xFF00 | u16::from(c.take(1, "extended identifier")?[0]))
                } else {
                    ElementId(u16::from(first))
                };
                let name = format!("element {id}");
                let def = c.take(1, &format!("{name} data definition"))?[0];
                let (len, decimals) = (def >> 3, def & 0x07);
                let obs = report
                    .observations
                    .last_mut()
                    .ok_or_else(|| BodyError::NoObservationTime(id.to_string()))?;
                let bad = |detail| BodyError::Definition {
                    element: id.to_string(),
                    definition: def,
                    detail,
                };
                let value = if id == ElementId::DRP {
                    if def != 0x60 {
                        return Err(bad("is not 60 (12 bytes, 0 decimals) for DRP").into());
                    }
                    let v = c.take(12, &name)?;
                    let mut a = [None; 12];
                    for (slot, &b) in a.iter_mut().zip(v) {
                        *slot = (b != 0xFF).then_some(b);
                    }
                    Value::Drp(a)
                } else if id == ElementId::DRZ1 {
                    if def != 0xC0 {
                        return Err(bad("is not C0 (24 bytes, 0 decimals) for DRZ1").into());
                    }
                    let v = c.take(24, &name)?;
                    let mut a = [None; 12];
                    for (i, slot) in a.iter_mut().enumerate() {
                        let w = u16::from(v[2 * i]) << 8 | u16::from(v[2 * i + 1]);
                        *slot = (w != 0xFFFF).then_some(w);
                    }
                    Value::Drz(a)
                } else {
                    if len == 0 {
                        return Err(bad("gives a length of 0 bytes").into());
                    }
                    if len > 9 {
                        return Err(bad("gives more than 9 bytes, too long for a number").into());
                    }
                    if obs.step.is_some() {
                        let n = c.left();
                        if n == 0 || n % usize::from(len) != 0 {
                            return Err(BodyError::Short {
                                field: format!("{name} series ({n} bytes left, values of {len})"),
                                at: c.at,
                                need: usize::from(len) - n % usize::from(len),
                            }
                            .into());
                        }
                        let mut values = Vec::with_capacity(n / usize::from(len));
                        while c.left() > 0 {
                            values.push(number(c.take(usize::from(len), &name)?, decimals, &name)?);
                        }
                        Value::Series {
                            len,
                            decimals,
                            values,
                        }
                    } else {
                        let v = c.take(usize::from(len), &name)?;
                        Value::Number {
                            len,
                            decimals,
                            value: number(v, decimals, &name)?,
                        }
                    }
                };
                obs.elements.push(Element { id, value });
            }
        }
    }
    Ok(report)
}

fn put_number(out: &mut Vec<u8>, len: u8, value: Option<Decimal>) {
    let len = usize::from(len);
    match value {
        None => out.extend(std::iter::repeat_n(0xFF, len)),
        Some(d) => {
            let (neg, n) = (d.mantissa < 0, usize::from(d.mantissa < 0));
            let mut m = d.mantissa.unsigned_abs();
            let mut bytes = vec![0u8; len - n.min(len)];
            for slot in bytes.iter_mut().rev() {
                *slot = to_bcd_byte((m % 100) as u8);
                m /= 100;
            }
            if neg {
                out.push(0xFF);
            }
            out.extend_from_slice(&bytes);
        }
    }
}

fn put_id(out: &mut Vec<u8>, id: ElementId) {
    if id.0 > 0xFF {
        out.extend_from_slice(&id.0.to_be_bytes());
    } else {
        out.push(id.0 as u8);
    }
}

/// Writes a body (the inverse of [`decode_body`]). A number must fit its
/// length (`2·len` digits, `2·(len−1)` when negative): more digits are cut
/// to the last ones that fit.
pub fn encode_body(report: &Report) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&report.serial.to_be_bytes());
    out.extend_from_slice(&report.sent.to_bcd6());
    if let Some((a, t)) = report.station {
        out.extend_from_slice(&[0xF1, 0xF1]);
        out.extend_from_slice(&a.0);
        out.push(t);
    }
    for o in &report.observations {
        out.extend_from_slice(&[0xF0, 0xF0]);
        out.extend_from_slice(&o.time.to_bcd5());
        if let Some(s) = o.step {
            out.extend_from_slice(&[0x04, 0x18]);
            out.extend_from_slice(&[
                to_bcd_byte(s.days),
                to_bcd_byte(s.hours),
                to_bcd_byte(s.minutes),
            ]);
        }
        for e in &o.elements {
            put_id(&mut out, e.id);
            match &e.value {
                Value::Number {
                    len,
                    decimals,
                    value,
                } => {
                    out.push(len << 3 | decimals);
                    put_number(&mut out, *len, *value);
                }
                Value::Drp(a) => {
                    out.push(0x60);
                    out.extend(a.iter().map(|v| v.unwrap_or(0xFF)));
                }
                Value::Drz(a) => {
                    out.push(0xC0);
                    for v in a {
                        out.extend_from_slice(&v.unwrap_or(0xFFFF).to_be_bytes());
                    }
                }
                Value::Series {
                    len,
                    decimals,
                    values,
                } => {
                    out.push(len << 3 | decimals);
                    for v in values {
                        put_number(&mut out, *len, *v);
                    }
                }
            }
        }
    }
    out
}

/// One reading: an element's value at a time (series spread out).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// The element.
    pub id: ElementId,
    /// When it was observed (Beijing time).
    pub ts: yingji_engine::time::Timestamp,
    /// The value (in the element's unit: mm, m, V).
    pub value: f64,
}

impl Report {
    /// Every value with its time: a number at its observation time; F4/F5
    /// value `i` (0-11) at the observation time − 55 min + 5·i min; a
    /// series value `i` at the observation time + i·step. "No data" values
    /// are left out.
    pub fn readings(&self) -> Vec<Reading> {
        let mut out = Vec::new();
        for o in &self.observations {
            let t0 = o.time.timestamp();
            for e in &o.elements {
                match &e.value {
                    Value::Number { value, .. } => {
                        if let Some(v) = value {
                            out.push(Reading {
                                id: e.id,
                                ts: t0,
                                value: v.to_f64(),
                            });
                        }
                    }
                    Value::Drp(a) => {
                        for (i, v) in a.iter().enumerate() {
                            if let Some(v) = v {
                                out.push(Reading {
                                    id: e.id,
                                    ts: t0.plus_ms((i as i64 - 11) * 300_000),
                                    value: Decimal {
                                        mantissa: i64::from(*v),
                                        decimals: 1,
                                    }
                                    .to_f64(),
                                });
                            }
                        }
                    }
                    Value::Drz(a) => {
                        for (i, v) in a.iter().enumerate() {
                            if let Some(v) = v {
                                out.push(Reading {
                                    id: e.id,
                                    ts: t0.plus_ms((i as i64 - 11) * 300_000),
                                    value: Decimal {
                                        mantissa: i64::from(*v),
                                        decimals: 2,
                                    }
                                    .to_f64(),
                                });
                            }
                        }
                    }
                    Value::Series { values, .. } => {
                        let step = o.step.map_or(0, Step::ms);
                        for (i, v) in values.iter().enumerate() {
                            if let Some(v) = v {
                                out.push(Reading {
                                    id: e.id,
                                    ts: t0.plus_ms(i as i64 * step),
                                    value: v.to_f64(),
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }
}
