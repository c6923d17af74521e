//! The BCD clock fields of SL 651 (Beijing time, UTC+8).

use super::error::FrameError;
use yingji_engine::time::{Timestamp, days_from_civil};

/// Beijing time's offset east of UTC, minutes.
pub const BEIJING_OFFSET_MIN: i16 = 8 * 60;

/// A clock reading `YYMMDDhhmmss` (the year within 2000–2099), Beijing time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Clock {
    /// Year within the century (`24` is 2024).
    pub year: u8,
    /// Month, 1–12.
    pub month: u8,
    /// Day, 1–31 (checked against the month).
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59 (`0` for observation times, which have no seconds).
    pub second: u8,
}

fn days_in_month(year: u8, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        // 2000-2099: every fourth year is a leap year (2000 included)
        _ if year % 4 == 0 => 29,
        _ => 28,
    }
}

/// One BCD byte as its value (`0x59` is 59); `None` for a nibble above 9.
pub fn bcd_byte(b: u8) -> Option<u8> {
    let (h, l) = (b >> 4, b & 0x0F);
    (h <= 9 && l <= 9).then_some(h * 10 + l)
}

/// A value 0–99 as one BCD byte.
pub fn to_bcd_byte(v: u8) -> u8 {
    ((v / 10 % 10) << 4) | (v % 10)
}

impl Clock {
    /// Reads 6 (`with_seconds`) or 5 BCD bytes, naming `field` in errors.
    pub fn from_bcd(bytes: &[u8], field: &'static str) -> Result<Clock, FrameError> {
        let mut v = [0u8; 6];
        for (i, &b) in bytes.iter().take(6).enumerate() {
            v[i] = bcd_byte(b).ok_or_else(|| FrameError::BadBcd {
                field: field.to_string(),
                byte: b,
            })?;
        }
        let c = Clock {
            year: v[0],
            month: v[1],
            day: v[2],
            hour: v[3],
            minute: v[4],
            second: v[5],
        };
        c.check(field)?;
        Ok(c)
    }

    /// Refuses a month, day, hour, minute or second that cannot be.
    pub fn check(&self, field: &'static str) -> Result<(), FrameError> {
        let ok = (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.year < 100;
        if ok {
            Ok(())
        } else {
            Err(FrameError::BadTime {
                field,
                text: self.to_string(),
            })
        }
    }

    /// The 6 BCD bytes `YYMMDDhhmmss`.
    pub fn to_bcd6(&self) -> [u8; 6] {
        [
            to_bcd_byte(self.year),
            to_bcd_byte(self.month),
            to_bcd_byte(self.day),
            to_bcd_byte(self.hour),
            to_bcd_byte(self.minute),
            to_bcd_byte(self.second),
        ]
    }

    /// The 5 BCD bytes `YYMMDDhhmm` (an observation time).
    pub fn to_bcd5(&self) -> [u8; 5] {
        let b = self.to_bcd6();
        [b[0], b[1], b[2], b[3], b[4]]
    }

    /// The instant, written with `+08:00`.
    pub fn timestamp(&self) -> Timestamp {
        let days = days_from_civil(
            2000 + i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let local_s = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        Timestamp {
            ms: (local_s - i64::from(BEIJING_OFFSET_MIN) * 60) * 1000,
            offset_min: BEIJING_OFFSET_MIN,
        }
    }

    /// The Beijing-time clock reading of an instant (years 2000–2099; other
    /// years are clamped into that range).
    pub fn from_timestamp(t: Timestamp) -> Clock {
        let local = t.ms.div_euclid(1000) + i64::from(BEIJING_OFFSET_MIN) * 60;
        let days = local.div_euclid(86_400);
        let rem = local.rem_euclid(86_400);
        let (y, m, d) = yingji_engine::time::civil_from_days(days);
        let small = |v: i64| u8::try_from(v).unwrap_or(0);
        Clock {
            year: small((y - 2000).clamp(0, 99)),
            month: small(m),
            day: small(d),
            hour: small(rem / 3600),
            minute: small(rem % 3600 / 60),
            second: small(rem % 60),
        }
    }

    /// Now, by the system clock, in Beijing time.
    pub fn now() -> Clock {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        Clock::from_timestamp(Timestamp {
            ms,
            offset_min: BEIJING_OFFSET_MIN,
        })
    }
}

impl std::fmt::Display for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}
