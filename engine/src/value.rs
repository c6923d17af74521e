//! Runtime values, their types, warning levels and exact sensor decimals.

use std::fmt;
use std::sync::Arc;

/// A value an expression produces or an event carries.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// Absent (an optional field the event did not send, an empty window).
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Every number is an `f64` at evaluation time; windows keep exact decimals.
    Num(f64),
    /// UTF-8 text.
    Str(Arc<str>),
}

impl Value {
    /// The number inside, if this is a number.
    #[inline]
    pub fn as_num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }
    /// The text inside, if this is a string.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// `true` only for `Bool(true)`: a missing value never makes a rule fire.
    #[inline]
    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Num(n)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Arc::from(s))
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Num(n) => serialize_num(*n, s),
            Value::Str(t) => s.serialize_str(t),
        }
    }
}

/// Writes a number as an integer when it is one (`50` rather than `50.0`),
/// rounded to 9 significant decimals to hide binary noise, `null` when not finite.
pub fn serialize_num<S: serde::Serializer>(n: f64, s: S) -> Result<S::Ok, S::Error> {
    if !n.is_finite() {
        return s.serialize_none();
    }
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        return s.serialize_i64(n as i64);
    }
    let r = (n * 1e9).round() / 1e9;
    s.serialize_f64(if r.is_finite() { r } else { n })
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = serde_json::Value::deserialize(d)?;
        Ok(match j {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Num(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::Str(Arc::from(s)),
            other => Value::Str(Arc::from(other.to_string())),
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The static type of a field, a `let` or an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    /// A number (`mm`, `level_m`).
    Number,
    /// UTF-8 text.
    String,
    /// `true` / `false`.
    Bool,
    /// A duration literal (`3h`): only as a window argument.
    Duration,
}

impl Type {
    /// The name a policy author writes.
    pub fn name(self) -> &'static str {
        match self {
            Type::Number => "number",
            Type::String => "string",
            Type::Bool => "bool",
            Type::Duration => "duration",
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A warning level. `None` is "no warning"; `Red` (Ⅰ) is the highest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// No warning.
    #[default]
    None = 0,
    /// Ⅳ, 蓝色, 一般.
    Blue = 1,
    /// Ⅲ, 黄色, 较大.
    Yellow = 2,
    /// Ⅱ, 橙色, 重大.
    Orange = 3,
    /// Ⅰ, 红色, 特别重大.
    Red = 4,
}

impl Level {
    /// All warning levels from the highest down.
    pub const DESCENDING: [Level; 4] = [Level::Red, Level::Orange, Level::Yellow, Level::Blue];

    /// Reads any accepted spelling: `red`, `红色`, `红`, `Ⅰ`, `I`, `1级`, `一级`.
    ///
    /// ```
    /// use yingji_engine::value::Level;
    /// assert_eq!(Level::parse("橙色"), Some(Level::Orange));
    /// assert_eq!(Level::parse("Ⅳ"), Some(Level::Blue));
    /// assert_eq!(Level::parse("III"), Some(Level::Yellow));
    /// assert_eq!(Level::parse("purple"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim() {
            "none" | "无" => Level::None,
            "blue" | "Blue" | "BLUE" | "蓝色" | "蓝" | "Ⅳ" | "IV" | "四级" | "4" => {
                Level::Blue
            }
            "yellow" | "Yellow" | "YELLOW" | "黄色" | "黄" | "Ⅲ" | "III" | "三级" | "3" => {
                Level::Yellow
            }
            "orange" | "Orange" | "ORANGE" | "橙色" | "橙" | "Ⅱ" | "II" | "二级" | "2" => {
                Level::Orange
            }
            "red" | "Red" | "RED" | "红色" | "红" | "Ⅰ" | "I" | "一级" | "1" => Level::Red,
            _ => return None,
        })
    }

    /// The canonical English name used in outputs.
    pub fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Blue => "blue",
            Level::Yellow => "yellow",
            Level::Orange => "orange",
            Level::Red => "red",
        }
    }

    /// The Roman numeral (Ⅳ…Ⅰ), empty for `None`.
    pub fn roman(self) -> &'static str {
        match self {
            Level::None => "",
            Level::Blue => "Ⅳ",
            Level::Yellow => "Ⅲ",
            Level::Orange => "Ⅱ",
            Level::Red => "Ⅰ",
        }
    }

    /// The next level down (`Red` → `Orange` … `Blue` → `None`).
    pub fn step_down(self) -> Level {
        match self {
            Level::Red => Level::Orange,
            Level::Orange => Level::Yellow,
            Level::Yellow => Level::Blue,
            Level::Blue | Level::None => Level::None,
        }
    }

    /// From the numeric rank (0 = none … 4 = red).
    pub fn from_rank(r: u8) -> Level {
        match r {
            1 => Level::Blue,
            2 => Level::Yellow,
            3 => Level::Orange,
            4 => Level::Red,
            _ => Level::None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Level {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Level {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Level::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown level `{s}`")))
    }
}

/// An exact sensor decimal: a count of millionths.
///
/// Rain gauges report in 0.1 mm, river gauges in 0.01 m; six decimal places
/// hold every such reading exactly, so window sums add and subtract integers
/// and never drift: readings of 0.1 that add up to 50.0 compare `>= 50`, and
/// an emptied window sums to exactly zero after any number of updates.
///
/// ```
/// use yingji_engine::value::Fixed;
/// let tenth = Fixed::from_f64(0.1).unwrap();
/// let sum: i128 = (0..500).map(|_| i128::from(tenth.0)).sum();
/// assert_eq!(Fixed::sum_to_f64(sum), 50.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fixed(pub i64);

impl Fixed {
    /// Units per 1.0.
    pub const SCALE: i64 = 1_000_000;

    /// Rounds to the nearest millionth; `None` for NaN, infinities and
    /// magnitudes beyond ±9.2 × 10¹² (which no sensor reports).
    #[inline]
    pub fn from_f64(x: f64) -> Option<Fixed> {
        let scaled = (x * Self::SCALE as f64).round();
        if scaled.is_finite() && scaled.abs() < 9.2e18 {
            Some(Fixed(scaled as i64))
        } else {
            None
        }
    }

    /// The largest magnitude an input number may have: 9 × 10¹² (the most
    /// a `Fixed` holds is about 9.22 × 10¹²). See [`Fixed::admit`].
    pub const MAX_ABS: f64 = 9e12;

    /// The value the engine uses for an input number, or why it refuses it.
    ///
    /// Every number an event carries is rounded to the nearest millionth
    /// (six decimals) on arrival, so the rules (`ppm > 0`) and the windows
    /// (`sum(ppm, 1h)`) see the same value: `0.1` stays `0.1`, a reading of
    /// `3e-7` is `0` for both. A number beyond ±[`Fixed::MAX_ABS`] (which no
    /// window could hold) or not finite is refused, with the reason, instead
    /// of being counted as accepted and left out of the windows.
    ///
    /// ```
    /// use yingji_engine::value::Fixed;
    /// assert_eq!(Fixed::admit(4.2), Ok(4.2));
    /// assert_eq!(Fixed::admit(0.30000000000000004), Ok(0.3));
    /// assert_eq!(Fixed::admit(3e-7), Ok(0.0));
    /// assert!(Fixed::admit(9.2e12).is_err());
    /// ```
    pub fn admit(x: f64) -> Result<f64, ValueError> {
        if !x.is_finite() {
            return Err(ValueError::NotFinite);
        }
        if x.abs() > Self::MAX_ABS {
            return Err(ValueError::OutOfRange(x));
        }
        match Self::from_f64(x) {
            // `+ 0.0` turns a rounded `-0.0` into `0.0`
            Some(f) => Ok(f.to_f64() + 0.0),
            None => Err(ValueError::OutOfRange(x)),
        }
    }

    /// Back to a float (exact for every value with ≤ 6 decimals that f64 can hold).
    #[inline]
    pub fn to_f64(self) -> f64 {
        self.0 as f64 / Self::SCALE as f64
    }

    /// A sum of `Fixed` units (kept in `i128` so it cannot overflow) as a float.
    #[inline]
    pub fn sum_to_f64(sum: i128) -> f64 {
        let whole = sum / i128::from(Self::SCALE);
        let frac = sum % i128::from(Self::SCALE);
        whole as f64 + frac as f64 / Self::SCALE as f64
    }
}

/// Why an input number is refused ([`Fixed::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ValueError {
    /// Beyond ±[`Fixed::MAX_ABS`].
    #[error(
        "{0:e} is out of range: numbers must be within ±9e12 (windows keep six decimals exactly)"
    )]
    OutOfRange(f64),
    /// NaN or infinite.
    #[error("not a finite number")]
    NotFinite,
}

/// Applies [`Fixed::admit`] to every number among an event's field values
/// (in place); the first refused one's slot and reason.
pub fn admit_numbers(fields: &mut [Value]) -> Result<(), (usize, ValueError)> {
    for (i, v) in fields.iter_mut().enumerate() {
        if let Value::Num(n) = v {
            *n = Fixed::admit(*n).map_err(|e| (i, e))?;
        }
    }
    Ok(())
}
