//! Why a frame was refused: one variant per kind of bad input, each with
//! the detail a telemetry engineer needs, and a stable reason name for the
//! metrics.

/// A frame that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The CRC the frame carries is not the CRC of its bytes.
    #[error("bad CRC: the frame carries {carried:04X}, its bytes give {computed:04X}")]
    BadCrc {
        /// The CRC written in the frame.
        carried: u16,
        /// The CRC of the frame's bytes.
        computed: u16,
    },
    /// The input ended (or went quiet) inside a frame.
    #[error("truncated: {have} bytes of a frame that needs {need}")]
    Truncated {
        /// Bytes received.
        have: usize,
        /// Bytes the header announces (at least the header's own length).
        need: usize,
    },
    /// The length field does not fit the frame (a length that lies): the
    /// byte where it puts the end character is not one.
    #[error("length field says {said} body bytes, but {detail}")]
    Length {
        /// Body length in the header.
        said: usize,
        /// What was found instead.
        detail: String,
    },
    /// A function code SL 651-2014 does not define.
    #[error("unknown function code {0:02X}")]
    UnknownFunction(u8),
    /// A function code of the standard this decoder does not read (image,
    /// centre commands).
    #[error("function code {0:02X} is not decoded (only 2F, 30-35, 37 are)")]
    UnsupportedFunction(u8),
    /// A nibble above 9 in a BCD field.
    #[error("impossible BCD byte {byte:02X} in {field}")]
    BadBcd {
        /// The field (`station address`, `send time`, element `39`, ...).
        field: String,
        /// The byte.
        byte: u8,
    },
    /// A BCD time that is not a time (month 13, 31 April, 25 o'clock).
    #[error("impossible {field} {text} (YYMMDDhhmmss)")]
    BadTime {
        /// Which time.
        field: &'static str,
        /// Its digits.
        text: String,
    },
    /// The byte after the header is neither STX (02) nor SYN (16).
    #[error("byte {0:02X} where STX (02) or SYN (16) must start the body")]
    BadStart(u8),
    /// A character that is not a hex digit inside an ASCII frame.
    #[error("ASCII frame: byte {byte:02X} at offset {at} is not a hex digit")]
    NotHex {
        /// Offset in the frame.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// A frame going the wrong way (a centre's downlink frame sent to the centre).
    #[error("a downlink frame (direction nibble {0:X}) where an uplink frame (0) must be")]
    Direction(u8),
    /// A multi-packet number that cannot be (0, above the total, a total
    /// that changes within one message).
    #[error("packet {seq} of {total}: {detail}")]
    Packet {
        /// The packet's number.
        seq: u16,
        /// The packet count.
        total: u16,
        /// What is wrong.
        detail: &'static str,
    },
    /// The body does not read as the function code's body.
    #[error("body: {0}")]
    Body(#[from] BodyError),
    /// Bytes before any start of a frame (7E7E or 01), skipped.
    #[error("{0} bytes outside any frame")]
    Garbage(usize),
}

/// A body that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body ends inside a field.
    #[error("ends inside {field} at byte {at} ({need} more bytes needed)")]
    Short {
        /// The field being read.
        field: String,
        /// Offset in the body.
        at: usize,
        /// Bytes missing.
        need: usize,
    },
    /// An element came before the F0F0 observation time.
    #[error("element {0} before any observation time (F0F0)")]
    NoObservationTime(String),
    /// The station address in the body (F1F1) is not the header's.
    #[error("station address {body} in the body (F1F1) is not the header's {header}")]
    StationMismatch {
        /// The header's address.
        header: String,
        /// The body's address.
        body: String,
    },
    /// A data-definition byte that does not fit its element.
    #[error("element {element}: data definition {definition:02X} {detail}")]
    Definition {
        /// The element identifier (hex).
        element: String,
        /// The data-definition byte.
        definition: u8,
        /// Why it does not fit.
        detail: &'static str,
    },
}

impl FrameError {
    /// Every reason name, in the order of [`FrameError::reason_index`].
    pub const REASONS: [&'static str; 13] = [
        "bad_crc",
        "truncated",
        "length",
        "unknown_function",
        "unsupported_function",
        "bad_bcd",
        "bad_time",
        "bad_start",
        "not_hex",
        "direction",
        "packet",
        "body",
        "garbage",
    ];

    /// A stable name for the metrics (`bad_crc`, `truncated`, ...).
    pub fn reason(&self) -> &'static str {
        Self::REASONS[self.reason_index()]
    }

    /// The index of [`FrameError::reason`] in [`FrameError::REASONS`].
    pub fn reason_index(&self) -> usize {
        match self {
            FrameError::BadCrc { .. } => 0,
            FrameError::Truncated { .. } => 1,
            FrameError::Length { .. } => 2,
            FrameError::UnknownFunction(_) => 3,
            FrameError::UnsupportedFunction(_) => 4,
            FrameError::BadBcd { .. } => 5,
            FrameError::BadTime { .. } => 6,
            FrameError::BadStart(_) => 7,
            FrameError::NotHex { .. } => 8,
            FrameError::Direction(_) => 9,
            FrameError::Packet { .. } => 10,
            FrameError::Body(_) => 11,
            FrameError::Garbage(_) => 12,
        }
    }
}
