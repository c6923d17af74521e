//! Event time: RFC 3339 timestamps with their UTC offset, and durations.
//!
//! Timestamps are kept as milliseconds since the Unix epoch plus the offset the
//! sender wrote, so that outputs can be printed in the sender's local time
//! (`+08:00` for Chongqing) while all arithmetic happens on one axis.

use std::fmt;

/// Milliseconds in one second, minute, hour and day.
pub const MS_PER_SECOND: i64 = 1_000;
/// Milliseconds in one minute.
pub const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
/// Milliseconds in one hour.
pub const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
/// Milliseconds in one day.
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// An instant with the UTC offset it was written in.
///
/// Ordering and equality look at the instant only (`ms`), not at the offset.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub ms: i64,
    /// Offset east of UTC in minutes, as written by the sender.
    pub offset_min: i16,
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.ms == other.ms
    }
}
impl Eq for Timestamp {}
impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ms.cmp(&other.ms)
    }
}

/// Why a timestamp could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is not `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)`.
    #[error("`{0}` is not an RFC 3339 timestamp (expected e.g. 2024-07-29T03:10:00+08:00)")]
    Syntax(String),
    /// The text has no UTC offset.
    #[error("`{0}` has no UTC offset (write e.g. `+08:00` or `Z` at the end)")]
    NoOffset(String),
    /// A field is out of range (month 13, 25 o'clock, 31 February, ...).
    #[error("`{0}` is not a valid date and time: {1}")]
    Range(String, &'static str),
}

fn digits(b: &[u8], from: usize, n: usize) -> Option<i64> {
    let s = b.get(from..from + n)?;
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// The time of day of an RFC 3339 text (ms, seconds clamped at 59 as
/// [`Timestamp::parse`] does) read from byte 11 up to `end` (where the
/// offset starts): `hh:mm:ss` and an optional fraction; `None` when that
/// part is not valid.
fn time_of_day(b: &[u8], end: usize) -> Option<i64> {
    if b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (hour, min, sec) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut frac_ms = 0;
    if end > 19 {
        if b.get(19) != Some(&b'.') || end == 20 {
            return None;
        }
        let mut scale = 100;
        for &c in b.get(20..end)? {
            if !c.is_ascii_digit() {
                return None;
            }
            frac_ms += i64::from(c - b'0') * scale;
            scale /= 10;
        }
    }
    Some(hour * MS_PER_HOUR + min * MS_PER_MINUTE + sec.min(59) * MS_PER_SECOND + frac_ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian civil date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

impl Timestamp {
    /// Reads an RFC 3339 timestamp; an offset (`Z` or `±hh:mm`) is required.
    ///
    /// ```
    /// use yingji_engine::time::Timestamp;
    /// let t = Timestamp::parse("2024-07-29T03:10:00+08:00").unwrap();
    /// assert_eq!(t.to_string(), "2024-07-29T03:10:00+08:00");
    /// assert_eq!(t, Timestamp::parse("2024-07-28T19:10:00Z").unwrap());
    /// assert!(Timestamp::parse("2024-07-29T03:10:00").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Timestamp, TimeError> {
        let b = s.as_bytes();
        let syntax = || TimeError::Syntax(s.to_string());
        if b.len() < 19 {
            return Err(syntax());
        }
        let year = digits(b, 0, 4).ok_or_else(syntax)?;
        let month = digits(b, 5, 2).ok_or_else(syntax)?;
        let day = digits(b, 8, 2).ok_or_else(syntax)?;
        let hour = digits(b, 11, 2).ok_or_else(syntax)?;
        let min = digits(b, 14, 2).ok_or_else(syntax)?;
        let sec = digits(b, 17, 2).ok_or_else(syntax)?;
        if b.get(4) != Some(&b'-')
            || b.get(7) != Some(&b'-')
            || !matches!(b.get(10), Some(b'T' | b't' | b' '))
            || b.get(13) != Some(&b':')
            || b.get(16) != Some(&b':')
        {
            return Err(syntax());
        }
        let mut i = 19;
        let mut frac_ms = 0i64;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            let mut scale = 100;
            while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                frac_ms += i64::from(c - b'0') * scale;
                scale /= 10;
                i += 1;
            }
            if i == start {
                return Err(syntax());
            }
        }
        let offset_min: i64 = match b.get(i) {
            None => return Err(TimeError::NoOffset(s.to_string())),
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b.get(i + 3) == Some(&b':') => {
                let oh = digits(b, i + 1, 2).ok_or_else(syntax)?;
                let om = digits(b, i + 4, 2).ok_or_else(syntax)?;
                if oh > 23 || om > 59 {
                    return Err(TimeError::Range(s.to_string(), "offset out of range"));
                }
                let v = oh * 60 + om;
                if sign == b'-' { -v } else { v }
            }
            _ => return Err(syntax()),
        };
        if !(1..=12).contains(&month) {
            return Err(TimeError::Range(s.to_string(), "month must be 01 to 12"));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(TimeError::Range(s.to_string(), "no such day in that month"));
        }
        if hour > 23 || min > 59 || sec > 60 {
            return Err(TimeError::Range(s.to_string(), "time of day out of range"));
        }
        let days = days_from_civil(year, month, day);
        let local_ms = days * MS_PER_DAY
            + hour * MS_PER_HOUR
            + min * MS_PER_MINUTE
            + sec.min(59) * MS_PER_SECOND
            + frac_ms;
        Ok(Timestamp {
            ms: local_ms - offset_min * MS_PER_MINUTE,
            offset_min: offset_min as i16,
        })
    }

    /// [`Timestamp::parse`] of `text`, knowing that `prev_text` read as
    /// `prev`: when both have the same length, date and offset — the common
    /// case in a stream — only the time of day is read and the result is
    /// `prev` moved by the difference. Anything else is read in full, so the
    /// result and the errors are always those of [`Timestamp::parse`].
    ///
    /// ```
    /// # use yingji_engine::time::Timestamp;
    /// let a = "2024-07-29T03:10:00+08:00";
    /// let pa = Timestamp::parse(a).unwrap();
    /// for b in ["2024-07-29T23:59:59+08:00", "2024-07-30T00:00:00+08:00", "2024-07-29T03:1x:00+08:00"] {
    ///     assert_eq!(Timestamp::parse_after(b, a, pa), Timestamp::parse(b));
    /// }
    /// ```
    pub fn parse_after(
        text: &str,
        prev_text: &str,
        prev: Timestamp,
    ) -> Result<Timestamp, TimeError> {
        let (b, p) = (text.as_bytes(), prev_text.as_bytes());
        let n = b.len();
        // the offset: `Z` or `+hh:mm` at the end, the same bytes in both
        let offset_len = if b.last() == Some(&b'Z') { 1 } else { 6 };
        if n == p.len()
            && n >= 19 + offset_len
            && b.get(..11) == p.get(..11)
            && b.get(n - offset_len..) == p.get(n - offset_len..)
            && let (Some(t), Some(tp)) = (
                time_of_day(b, n - offset_len),
                time_of_day(p, n - offset_len),
            )
        {
            return Ok(prev.plus_ms(t - tp));
        }
        Timestamp::parse(text)
    }

    /// The same instant shifted by `delta_ms`, keeping the offset.
    pub fn plus_ms(self, delta_ms: i64) -> Timestamp {
        Timestamp {
            ms: self.ms.saturating_add(delta_ms),
            offset_min: self.offset_min,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let off = i64::from(self.offset_min);
        let local = self.ms + off * MS_PER_MINUTE;
        let days = local.div_euclid(MS_PER_DAY);
        let rem = local.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss, ms) = (
            rem / MS_PER_HOUR,
            rem % MS_PER_HOUR / MS_PER_MINUTE,
            rem % MS_PER_MINUTE / MS_PER_SECOND,
            rem % MS_PER_SECOND,
        );
        write!(f, "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}")?;
        if ms != 0 {
            write!(f, ".{ms:03}")?;
        }
        if off == 0 {
            f.write_str("Z")
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            write!(f, "{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60)
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The duration units every front end accepts, with their length in ms.
pub const DURATION_UNITS: [(&str, i64); 6] = [
    ("ms", 1),
    ("s", MS_PER_SECOND),
    ("m", MS_PER_MINUTE),
    ("min", MS_PER_MINUTE),
    ("h", MS_PER_HOUR),
    ("d", MS_PER_DAY),
];

/// Why a text is not a duration literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// It does not start with a number.
    #[error("`{0}` is not a duration like 30s, 5m, 2h, 1d")]
    NoNumber(String),
    /// A number without a unit.
    #[error("`{0}` has no unit (use ms, s, m, h, d)")]
    NoUnit(String),
    /// A number with a unit that is not one of [`DURATION_UNITS`].
    #[error("`{text}`: unknown unit `{unit}` (use ms, s, m, h, d)")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit as written.
        unit: String,
    },
    /// `1.5h`: durations are whole numbers of their unit.
    #[error("`{0}`: a duration must be a whole number")]
    Fractional(String),
    /// More milliseconds than an `i64` holds.
    #[error("`{0}` is too long a duration")]
    Overflow(String),
}

/// Where the number of a duration literal ends and its unit begins: digits,
/// an optional `.digits` and an optional exponent (`e3`, `E-2`), the shape
/// of the `.yj` grammar's `quantity`.
fn number_end(b: &[u8]) -> usize {
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = digits(0);
    if i == 0 {
        return 0;
    }
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        if b.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            i = digits(i + 1 + sign);
        }
    }
    i
}

/// Reads a duration literal, the one reader of durations for the `.yj`
/// grammar, policy and plan YAML and the command line: a whole number and a
/// unit of [`DURATION_UNITS`] (`30s`, `5m`, `90min`, `2h`, `1d`), surrounding
/// white space ignored. Zero is a duration (callers that need a positive one
/// say so in their own words).
///
/// ```
/// use yingji_engine::time::{DurationError, parse_duration};
/// assert_eq!(parse_duration("90m"), Ok(5_400_000));
/// assert_eq!(parse_duration(" 1d "), Ok(86_400_000));
/// assert!(matches!(parse_duration("3x"), Err(DurationError::UnknownUnit { .. })));
/// assert!(matches!(parse_duration("1.5h"), Err(DurationError::Fractional(_))));
/// assert!(matches!(parse_duration("30"), Err(DurationError::NoUnit(_))));
/// ```
pub fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let s = text.trim();
    let end = number_end(s.as_bytes());
    let (number, unit) = s.split_at(end);
    if number.is_empty() {
        return Err(DurationError::NoNumber(s.to_string()));
    }
    if unit.is_empty() {
        return Err(DurationError::NoUnit(s.to_string()));
    }
    let Some(&(_, scale)) = DURATION_UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(DurationError::UnknownUnit {
            text: s.to_string(),
            unit: unit.to_string(),
        });
    };
    if number.contains(['.', 'e', 'E']) {
        return Err(DurationError::Fractional(s.to_string()));
    }
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| DurationError::Overflow(s.to_string()))
}

/// Formats a duration in milliseconds the way policies write it (`3h`, `90m`, `45s`).
pub fn format_duration(ms: i64) -> String {
    for &(unit, n) in FORMAT_UNITS.iter().take(4) {
        if ms != 0 && ms % n == 0 {
            return format!("{}{unit}", ms / n);
        }
    }
    format!("{ms}ms")
}

/// The units durations are printed in, largest first.
const FORMAT_UNITS: [(&str, i64); 5] = [
    ("d", MS_PER_DAY),
    ("h", MS_PER_HOUR),
    ("m", MS_PER_MINUTE),
    ("s", MS_PER_SECOND),
    ("ms", 1),
];

/// A duration for people reading a report: every unit that has a part
/// (`4d21h50m`, `1s500ms`), where [`format_duration`] gives the one exact
/// unit a definition would use (`7070m`).
///
/// ```
/// use yingji_engine::time::format_duration_parts;
/// assert_eq!(format_duration_parts(7070 * 60_000), "4d21h50m");
/// assert_eq!(format_duration_parts(1_500), "1s500ms");
/// assert_eq!(format_duration_parts(-60_000), "-1m");
/// assert_eq!(format_duration_parts(0), "0s");
/// ```
pub fn format_duration_parts(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms.unsigned_abs();
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    for (unit, n) in FORMAT_UNITS {
        let n = n.unsigned_abs();
        if rest >= n {
            out.push_str(&format!("{}{unit}", rest / n));
            rest %= n;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Texts near RFC 3339: mostly valid, some with a wrong byte.
    fn stamp() -> impl Strategy<Value = String> {
        (
            prop_oneof![3 => Just("2024-07-29"), 1 => Just("2024-07-30"), 1 => Just("2024-02-29"), 1 => Just("2023-02-29")],
            prop_oneof![Just('T'), Just('t'), Just(' ')],
            (0u32..26, 0u32..61, prop_oneof![Just(0u32), Just(30), Just(59), Just(60), Just(61)]),
            prop_oneof![Just(""), Just(".5"), Just(".123"), Just(".98765"), Just("."), Just(".x")],
            prop_oneof![Just("+08:00"), Just("Z"), Just("z"), Just("-05:30"), Just("+0800"), Just("")],
            proptest::option::of((0usize..30, prop_oneof![Just(b'x'), Just(b'9'), Just(b':'), Just(b'.')])),
        )
            .prop_map(|(date, t, (h, m, sec), frac, off, broken)| {
                let mut s = format!("{date}{t}{h:02}:{m:02}:{sec:02}{frac}{off}").into_bytes();
                if let Some((at, c)) = broken
                    && let Some(b) = s.get_mut(at)
                {
                    *b = c;
                }
                String::from_utf8(s).unwrap_or_default()
            })
    }

    #[test]
    fn parse_after_at_the_seconds_edges() {
        let texts = [
            "2024-07-29T03:10:59+08:00",
            "2024-07-29T03:10:60+08:00",
            "2024-07-29T03:10:00+08:00",
            "2024-07-29T23:59:59.999+08:00",
            "2024-07-29T00:00:00.000+08:00",
        ];
        for a in texts {
            for b in texts {
                let pa = Timestamp::parse(a).unwrap_or_default();
                assert_eq!(
                    Timestamp::parse_after(b, a, pa),
                    Timestamp::parse(b),
                    "{b} after {a}"
                );
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]
        #[test]
        fn parse_after_is_parse(a in stamp(), b in stamp()) {
            if let Ok(pa) = Timestamp::parse(&a) {
                prop_assert_eq!(Timestamp::parse_after(&b, &a, pa), Timestamp::parse(&b), "{} after {}", b, a);
            }
        }
    }

    #[test]
    fn round_trips_and_offsets() -> Result<(), TimeError> {
        for s in [
            "2024-07-29T03:10:00+08:00",
            "1999-12-31T23:59:59.250Z",
            "2024-02-29T00:00:00-05:30",
        ] {
            assert_eq!(Timestamp::parse(s)?.to_string(), s);
        }
        assert_eq!(Timestamp::parse("1970-01-01T08:00:00+08:00")?.ms, 0);
        Ok(())
    }

    #[test]
    fn rejects_bad_text() {
        for s in [
            "2024-07-29 03:10",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-07-29T24:00:00Z",
            "yesterday",
            "2024-07-29T03:10:00+0800",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s}");
        }
        assert!(matches!(
            Timestamp::parse("2024-07-29T03:10:00"),
            Err(TimeError::NoOffset(_))
        ));
    }

    #[test]
    fn durations_read_back_what_they_print() {
        for ms in [
            1,
            1500,
            MS_PER_SECOND,
            90 * MS_PER_MINUTE,
            3 * MS_PER_HOUR,
            7 * MS_PER_DAY,
        ] {
            assert_eq!(parse_duration(&format_duration(ms)), Ok(ms));
        }
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("5min"), Ok(5 * MS_PER_MINUTE));
        for bad in [
            "",
            "m",
            "-5m",
            "5 m",
            "1e3s",
            "2.0h",
            "99999999999999999d",
            "5mm",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_print_like_policies() {
        assert_eq!(format_duration(3 * MS_PER_HOUR), "3h");
        assert_eq!(format_duration(90 * MS_PER_MINUTE), "90m");
        assert_eq!(format_duration(1500), "1500ms");
    }
}
