//! Hex text: frames in logs and in the corpus files.

use std::fmt::Write as _;

/// `bytes` as upper-case hex pairs without separators (`7E7E01…`).
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// The value of one ASCII hex digit.
pub(crate) fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Why a hex text is not bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// A character that is neither a hex digit nor white space.
    #[error("column {column}: `{found}` is not a hex digit")]
    NotHex {
        /// 1-based column in the line.
        column: usize,
        /// The character.
        found: char,
    },
    /// An odd number of digits.
    #[error("an odd number of hex digits ({0})")]
    Odd(usize),
}

/// Reads hex text (white space between digit pairs allowed) into bytes.
pub fn from_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let mut digits = 0;
    for (i, c) in text.chars().enumerate() {
        if c.is_whitespace() {
            continue;
        }
        let v = u8::try_from(c)
            .ok()
            .and_then(hex_digit)
            .ok_or(HexError::NotHex {
                column: i + 1,
                found: c,
            })?;
        digits += 1;
        match high.take() {
            None => high = Some(v),
            Some(h) => out.push(h << 4 | v),
        }
    }
    if high.is_some() {
        return Err(HexError::Odd(digits));
    }
    Ok(out)
}

/// A frame of a corpus file: its line number and bytes.
pub type CorpusFrame = (usize, Vec<u8>);

/// A corpus file: one frame per line in hex; `#` starts a comment (to the
/// end of the line); blank lines are skipped. Returns each frame with its
/// 1-based line number.
pub fn read_corpus(text: &str) -> Result<Vec<CorpusFrame>, (usize, HexError)> {
    let mut frames = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let data = line.split('#').next().unwrap_or("");
        if data.trim().is_empty() {
            continue;
        }
        let bytes = from_hex(data).map_err(|e| (n + 1, e))?;
        frames.push((n + 1, bytes));
    }
    Ok(frames)
}
