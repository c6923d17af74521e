//! A strict JSON scanner for one object per line, borrowing from the line.
//!
//! An event line is a flat object of a few short members; a general JSON
//! parser builds more than events need (serde's visitor allocated a `String`
//! per member name, and a tree parser a map per line). This scanner walks the
//! bytes once: member names and strings without escapes are borrowed from
//! the line, escaped ones are decoded into a caller's buffer, numbers are
//! read by Clinger's fast path when exact (at most 15 significant digits and
//! a power of ten up to 22) and by the standard library's correctly rounded
//! parser otherwise, and nested arrays and objects are checked and skipped
//! without recursion. It accepts exactly RFC 8259 JSON (after an optional
//! UTF-8 byte order mark): anything else is an error naming the column.
//!
//! ```
//! use yingji_engine::jsonl::{Scanner, Scalar};
//! let mut s = Scanner::new(r#"{"station":"A","mm":12.5,"ok":true}"#);
//! s.open().unwrap();
//! let mut buf = String::new();
//! let mut got = Vec::new();
//! while let Some(key) = s.key(&mut buf).unwrap() {
//!     let key = key.to_string();
//!     let mut vbuf = String::new();
//!     got.push((key, format!("{:?}", s.value(&mut vbuf).unwrap())));
//! }
//! s.end().unwrap();
//! assert_eq!(got[1], ("mm".to_string(), "Num(12.5)".to_string()));
//! ```

use std::fmt;

/// A scanning error: what was wrong and at which (1-based, in characters) column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// What was expected or found.
    pub what: &'static str,
    /// 1-based byte column.
    pub column: usize,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.what, self.column)
    }
}

impl std::error::Error for ScanError {}

/// A member's value as far as events need it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (finite, or infinite when it overflows: the caller decides).
    Num(f64),
    /// A string (borrowed from the line or from the caller's buffer).
    Str(&'a str),
    /// An array or object (checked and skipped): `"array"` or `"object"`.
    Nested(&'static str),
}

/// The index of the first byte of `b` that ends a plain run inside a
/// string — a quote, a backslash or a control character — or `b.len()`.
/// Eight bytes at a time: per byte, "equals `"`", "equals `\\`" and "below
/// 0x20" as the high bit of a lane; the lowest lane flagged is exact (a
/// false flag can only follow a true one, by borrow).
#[inline]
fn special(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    let mut chunks = b.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let mut lanes = [0u8; 8];
        lanes.copy_from_slice(chunk);
        let x = u64::from_le_bytes(lanes);
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let quote = zero(x ^ (ONES * u64::from(b'"')));
        let slash = zero(x ^ (ONES * u64::from(b'\\')));
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let hit = quote | slash | control;
        if hit != 0 {
            return at + (hit.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    for &c in chunks.remainder() {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return at;
        }
        at += 1;
    }
    at
}

/// A member name as [`Scanner::key_or`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'b> {
    /// The object ended.
    End,
    /// The expected name.
    Expected,
    /// Another name.
    Name(&'b str),
}

/// Nesting a skipped value may have (a line holds one event, not a document).
pub const MAX_NESTING: usize = 128;

/// The scanner over one line.
pub struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    /// Whether the next member is the first of the object.
    first: bool,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `line` (a UTF-8 byte order mark is skipped).
    pub fn new(line: &'a str) -> Scanner<'a> {
        let i = if line.starts_with('\u{feff}') { 3 } else { 0 };
        Scanner {
            text: line,
            b: line.as_bytes(),
            i,
            first: true,
        }
    }

    #[inline]
    fn err<T>(&self, what: &'static str) -> Result<T, ScanError> {
        Err(ScanError {
            what,
            column: self.i + 1,
        })
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// The opening `{`.
    pub fn open(&mut self) -> Result<(), ScanError> {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                self.first = true;
                Ok(())
            }
            None => self.err("expected a JSON object, found the end of the line"),
            _ => self.err("expected a JSON object (`{`)"),
        }
    }

    /// The next member's name (`None`: the object ended), positioned at its
    /// value. Escaped names are decoded into `buf`.
    #[inline]
    pub fn key<'b>(&mut self, buf: &'b mut String) -> Result<Option<&'b str>, ScanError>
    where
        'a: 'b,
    {
        self.ws();
        match self.peek() {
            Some(b'}') => {
                self.i += 1;
                return Ok(None);
            }
            Some(b',') if !self.first => {
                self.i += 1;
                self.ws();
            }
            Some(_) if self.first => {}
            None => return self.err("the line ends inside the object"),
            Some(_) => return self.err("expected `,` or `}` after a member"),
        }
        if self.peek() != Some(b'"') {
            return self.err("expected a member name (a string)");
        }
        self.first = false;
        let name = self.string(buf)?;
        self.ws();
        if self.peek() != Some(b':') {
            return self.err("expected `:` after a member name");
        }
        self.i += 1;
        self.ws();
        Ok(Some(name))
    }

    /// [`Scanner::key`], trying `expect` first: the name in quotes, as the
    /// previous line of the same shape had it at this position (e.g.
    /// `"mm"`). When the line's bytes are exactly that name the string is
    /// not scanned ([`Key::Expected`]); `expect` must hold no quote,
    /// backslash or control character inside its quotes.
    #[inline]
    pub fn key_or<'b>(
        &mut self,
        expect: Option<&[u8]>,
        buf: &'b mut String,
    ) -> Result<Key<'b>, ScanError>
    where
        'a: 'b,
    {
        if let Some(q) = expect {
            // fast path: `,"name":` or `{"name":` without whitespace
            let at = if self.first { self.i } else { self.i + 1 };
            let sep_ok = self.first || self.peek() == Some(b',');
            if sep_ok
                && self.b.get(at..at + q.len()) == Some(q)
                && self.b.get(at + q.len()) == Some(&b':')
            {
                self.first = false;
                self.i = at + q.len() + 1;
                self.ws();
                return Ok(Key::Expected);
            }
        }
        Ok(match self.key(buf)? {
            None => Key::End,
            Some(name) => Key::Name(name),
        })
    }

    /// The member value at the cursor. Escaped strings are decoded into `buf`.
    #[inline]
    pub fn value<'b>(&mut self, buf: &'b mut String) -> Result<Scalar<'b>, ScanError>
    where
        'a: 'b,
    {
        match self.peek() {
            Some(b'"') => self.string(buf).map(Scalar::Str),
            Some(b'-' | b'0'..=b'9') => self.number().map(Scalar::Num),
            Some(b't') => self.literal(b"true", Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false", Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null", Scalar::Null),
            Some(b'[') => self.skip_nested().map(|()| Scalar::Nested("array")),
            Some(b'{') => self.skip_nested().map(|()| Scalar::Nested("object")),
            None => self.err("expected a value, found the end of the line"),
            _ => self.err("expected a value"),
        }
    }

    /// Skips the member value at the cursor (checked like any other; a
    /// number too large for a double is refused, as a read one would be).
    pub fn skip_value(&mut self, buf: &mut String) -> Result<(), ScanError> {
        match self.value(buf)? {
            Scalar::Num(n) if !n.is_finite() => self.err("a number out of range"),
            _ => Ok(()),
        }
    }

    /// Nothing but whitespace after the object.
    pub fn end(&mut self) -> Result<(), ScanError> {
        self.ws();
        match self.peek() {
            None => Ok(()),
            Some(_) => self.err("trailing characters after the object"),
        }
    }

    fn literal<T>(&mut self, word: &'static [u8], v: T) -> Result<T, ScanError> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("expected a value")
        }
    }

    /// A string at the cursor (on its opening quote).
    #[inline]
    fn string<'b>(&mut self, buf: &'b mut String) -> Result<&'b str, ScanError>
    where
        'a: 'b,
    {
        self.i += 1;
        let start = self.i;
        self.i = start + special(self.b.get(start..).unwrap_or_default());
        match self.b.get(self.i) {
            Some(b'"') => {
                let text: &'a str = self.text;
                let s = text.get(start..self.i);
                self.i += 1;
                return match s {
                    Some(s) => Ok(s),
                    None => self.err("invalid text"),
                };
            }
            Some(b'\\') => {}
            Some(_) => return self.err("a control character inside a string (escape it)"),
            None => return self.err("the line ends inside a string"),
        }
        // escapes: decode into the buffer
        buf.clear();
        buf.push_str(self.text.get(start..self.i).unwrap_or_default());
        loop {
            match self.b.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(buf.as_str());
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = match self.b.get(self.i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.i += 1;
                            let c = self.unicode_escape()?;
                            buf.push(c);
                            continue;
                        }
                        _ => return self.err("an invalid escape in a string"),
                    };
                    self.i += 1;
                    buf.push(c);
                }
                Some(&c) if c < 0x20 => {
                    return self.err("a control character inside a string (escape it)");
                }
                Some(_) => {
                    // the run of plain characters up to the next quote or escape
                    let from = self.i;
                    self.i = from + special(self.b.get(from..).unwrap_or_default());
                    buf.push_str(self.text.get(from..self.i).unwrap_or_default());
                }
                None => return self.err("the line ends inside a string"),
            }
        }
    }

    /// Four hex digits after `\u` (and a low surrogate after a high one).
    fn unicode_escape(&mut self) -> Result<char, ScanError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) {
            if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                return self.err("a lone leading surrogate in a \\u escape");
            }
            self.i += 2;
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return self.err("a lone leading surrogate in a \\u escape");
            }
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            return char::from_u32(c).map_or_else(|| self.err("an invalid \\u escape"), Ok);
        }
        if (0xDC00..0xE000).contains(&hi) {
            return self.err("a lone trailing surrogate in a \\u escape");
        }
        char::from_u32(hi).map_or_else(|| self.err("an invalid \\u escape"), Ok)
    }

    fn hex4(&mut self) -> Result<u32, ScanError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.b.get(self.i) {
                Some(c @ b'0'..=b'9') => u32::from(c - b'0'),
                Some(c @ b'a'..=b'f') => u32::from(c - b'a' + 10),
                Some(c @ b'A'..=b'F') => u32::from(c - b'A' + 10),
                _ => return self.err("expected four hex digits in a \\u escape"),
            };
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// A number at the cursor, by the JSON grammar.
    #[inline]
    fn number(&mut self) -> Result<f64, ScanError> {
        let start = self.i;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        // integer part: 0 or [1-9][0-9]*
        let mut mantissa: u64 = 0;
        let mut digits = 0u32;
        let mut exp10: i32 = 0;
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return self.err("a number with a leading zero");
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(c @ b'0'..=b'9') = self.peek() {
                    if digits < 19 {
                        mantissa = mantissa * 10 + u64::from(c - b'0');
                        if mantissa != 0 {
                            digits += 1;
                        }
                    } else {
                        exp10 += 1;
                    }
                    self.i += 1;
                }
            }
            _ => return self.err("expected a digit"),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.err("expected a digit after the decimal point");
            }
            while let Some(c @ b'0'..=b'9') = self.peek() {
                if digits < 19 {
                    mantissa = mantissa * 10 + u64::from(c - b'0');
                    if mantissa != 0 {
                        digits += 1;
                    }
                    exp10 -= 1;
                }
                self.i += 1;
            }
        }
        let mut exact = true;
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let eneg = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.err("expected a digit in the exponent");
            }
            let mut e: i32 = 0;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                e = e.saturating_mul(10).saturating_add(i32::from(c - b'0'));
                self.i += 1;
            }
            exp10 = exp10.saturating_add(if eneg { -e } else { e });
            exact = e < 1000;
        }
        // Clinger's fast path: the mantissa and the power of ten are exact
        // doubles, so one multiplication or division rounds correctly
        const POW10: [f64; 23] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
            1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];
        if exact && digits <= 15 && (-22..=22).contains(&exp10) {
            let m = mantissa as f64;
            let p = POW10
                .get(exp10.unsigned_abs() as usize)
                .copied()
                .unwrap_or(1.0);
            let v = if exp10 < 0 { m / p } else { m * p };
            return Ok(if neg { -v } else { v });
        }
        match self.text.get(start..self.i).map(str::parse::<f64>) {
            Some(Ok(v)) => Ok(v),
            _ => self.err("a number that cannot be read"),
        }
    }

    /// Skips an array or object at the cursor, checking it, without recursion.
    fn skip_nested(&mut self) -> Result<(), ScanError> {
        // one bit per level: 1 = object, 0 = array
        let mut stack: Vec<bool> = Vec::new();
        let mut scratch = String::new();
        // after an opening bracket or a comma: a value (or a closing bracket) is due
        loop {
            // open a container or read a value
            match self.peek() {
                Some(b'{') | Some(b'[') => {
                    let object = self.peek() == Some(b'{');
                    if stack.len() >= MAX_NESTING {
                        return self.err("nesting deeper than 128 levels");
                    }
                    stack.push(object);
                    self.i += 1;
                    self.ws();
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.i += 1;
                        stack.pop();
                    } else if object {
                        self.member_name(&mut scratch)?;
                        continue;
                    } else {
                        continue;
                    }
                }
                _ => {
                    self.skip_value(&mut scratch)?;
                }
            }
            // after a value: a comma or closing brackets
            loop {
                let Some(&object) = stack.last() else {
                    return Ok(());
                };
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws();
                        if object {
                            self.member_name(&mut scratch)?;
                        }
                        break;
                    }
                    Some(b'}') if object => {
                        self.i += 1;
                        stack.pop();
                    }
                    Some(b']') if !object => {
                        self.i += 1;
                        stack.pop();
                    }
                    None => return self.err("the line ends inside a nested value"),
                    _ => return self.err("expected `,` or a closing bracket"),
                }
            }
        }
    }

    /// `"name":` inside a skipped object, leaving the cursor at the value.
    fn member_name(&mut self, scratch: &mut String) -> Result<(), ScanError> {
        if self.peek() != Some(b'"') {
            return self.err("expected a member name (a string)");
        }
        self.string(scratch)?;
        self.ws();
        if self.peek() != Some(b':') {
            return self.err("expected `:` after a member name");
        }
        self.i += 1;
        self.ws();
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::panic, reason = "tests")]
mod tests {
    use super::*;

    fn members(line: &str) -> Result<Vec<(String, String)>, ScanError> {
        let mut s = Scanner::new(line);
        s.open()?;
        let (mut kb, mut vb) = (String::new(), String::new());
        let mut out = Vec::new();
        while let Some(k) = s.key(&mut kb)? {
            let k = k.to_string();
            let v = format!("{:?}", s.value(&mut vb)?);
            out.push((k, v));
        }
        s.end()?;
        Ok(out)
    }

    #[test]
    fn agrees_with_serde_json_on_numbers() {
        for text in [
            "0",
            "-0",
            "12.5",
            "0.1",
            "1e3",
            "1E-3",
            "123456789012345678901234",
            "1.7976931348623157e308",
            "5e-324",
            "2.2250738585072014e-308",
            "0.30000000000000004",
            "-99.9",
            "1e22",
            "1e23",
            "9007199254740993",
            "123.456e-7",
            "1e400",
            "-1e400",
            "0.000001",
        ] {
            let line = format!(r#"{{"x":{text}}}"#);
            let mut s = Scanner::new(&line);
            s.open().unwrap_or_else(|e| panic!("{e}"));
            let mut b = String::new();
            assert_eq!(s.key(&mut b).ok().flatten(), Some("x"));
            let got = match s.value(&mut b) {
                Ok(Scalar::Num(n)) => n,
                other => panic!("{text}: {other:?}"),
            };
            let want: f64 = text.parse().unwrap_or(f64::NAN);
            assert_eq!(got.to_bits(), want.to_bits(), "{text}");
        }
    }

    #[test]
    fn special_finds_the_first_quote_backslash_or_control_byte() {
        let naive = |b: &[u8]| {
            b.iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(b.len())
        };
        for len in 0..20 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut b = vec![b'a'; len];
                    if let Some(x) = b.get_mut(at) {
                        *x = byte;
                    }
                    // a multi-byte character's bytes (>= 0x80) never end a run
                    assert_eq!(special(&b), naive(&b), "{b:?}");
                    let mut c = vec![0xe4u8; len];
                    if let Some(x) = c.get_mut(at) {
                        *x = byte;
                    }
                    assert_eq!(special(&c), naive(&c), "{c:?}");
                }
            }
        }
    }

    #[test]
    fn strings_and_escapes() {
        let m = members(r#"{"a\u00e9":"x\ny\"z\\\/\ud83d\ude00","b":"云阳"}"#).unwrap_or_default();
        assert_eq!(m[0].0, "aé");
        assert_eq!(m[0].1, format!("{:?}", Scalar::Str("x\ny\"z\\/😀")));
        assert_eq!(m[1].1, format!("{:?}", Scalar::Str("云阳")));
    }

    #[test]
    fn nested_values_are_checked_and_named() {
        let m = members(r#"{"a":[1,{"b":[true,null,"x"]},[]],"c":{}}"#).unwrap_or_default();
        assert_eq!(m[0].1, "Nested(\"array\")");
        assert_eq!(m[1].1, "Nested(\"object\")");
        for bad in [
            r#"{"a":[1,}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":{1:2}}"#,
            r#"{"a":[}"#,
        ] {
            assert!(members(bad).is_err(), "{bad}");
        }
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert_eq!(
            members(&deep).map_err(|e| e.what),
            Err("nesting deeper than 128 levels")
        );
    }

    #[test]
    fn what_is_not_json_is_refused() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":.5}",
            "{\"a\":+1}",
            "{\"a\":1e}",
            "{\"a\":tru}",
            "{\"a\":\"x}",
            "{\"a\":1} x",
            "{\"a\":\"\t\"}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":NaN}",
            "{'a':1}",
            "{\"a\":1 \"b\":2}",
        ] {
            assert!(members(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(members("\u{feff}{\"a\":1}").map(|m| m.len()), Ok(1));
        assert_eq!(members(" { } ").map(|m| m.len()), Ok(0));
    }
}
