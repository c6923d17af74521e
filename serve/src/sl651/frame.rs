//! The frame layer: start, addresses, password, function code, direction and
//! length, body, end character, CRC; HEX/BCD and ASCII encodings; a reader
//! that cuts a byte stream into frames and resynchronises after a bad one.
//!
//! HEX/BCD layout (uplink; a downlink frame swaps the two addresses):
//!
//! ```text
//! 7E 7E | centre 1 | station 5 (BCD) | password 2 | function 1 | dir+len 2 | STX 02 / SYN 16
//!       | [packets 3: total 12 bits, number 12 bits] | body | end 1 | CRC 2 (high byte first)
//! ```
//!
//! The 12-bit length counts the bytes after STX/SYN up to the end character
//! (the packet field included); the CRC (CRC-16/MODBUS) covers every byte
//! from the first `7E` through the end character.
//!
//! ASCII layout: `01`, then every header field, the packet field and the
//! body written as upper-case hex digits (two per byte), with STX/SYN and the
//! end character as raw control bytes and the CRC as four hex digits; the
//! length counts the hex characters after STX/SYN; the CRC covers the
//! characters from `01` through the end character. (So an ASCII body is the
//! HEX/BCD body in hex digits; a body written with the elements' ASCII
//! mnemonics, `PJ 12.5`, is not read.)

use super::crc::crc16;
use super::error::FrameError;
use super::hex::{hex_digit, to_hex};
use super::time::bcd_byte;
use std::fmt;

/// HEX/BCD start of a frame.
pub const SOH_HEX: [u8; 2] = [0x7E, 0x7E];
/// ASCII start of a frame.
pub const SOH_ASCII: u8 = 0x01;
/// Start of a single-packet body.
pub const STX: u8 = 0x02;
/// Start of one packet of a multi-packet body.
pub const SYN: u8 = 0x16;

const HEX_HEAD: usize = 14;
/// Bytes without a start of a frame held before they are reported.
const MAX_GARBAGE: usize = 4096;
const ASCII_HEAD: usize = 24;

/// How a frame is written on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Binary fields, BCD digits (starts `7E7E`).
    Hex,
    /// Every field as hex digits (starts `01`).
    Ascii,
}

/// Which way a frame travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Station to centre (direction nibble 0).
    Up,
    /// Centre to station (direction nibble 8).
    Down,
}

/// The function codes read here (SL 651-2014 Table 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    /// `2F` 链路维持报: keep-alive, no data, no reply.
    LinkKeepAlive,
    /// `30` 测试报.
    Test,
    /// `31` 均匀时段水文信息报: values at a fixed time step.
    UniformInterval,
    /// `32` 遥测站定时报.
    Timed,
    /// `33` 遥测站加报报 (extra report on a threshold).
    Extra,
    /// `34` 遥测站小时报 (with the 5-minute series F4/F5).
    Hourly,
    /// `35` 遥测站人工置数报 (manual entry).
    Manual,
    /// `37` 中心站查询遥测站实时数据: the station's answer carries a report body.
    RealTime,
}

impl Function {
    /// Every function code read here.
    pub const ALL: [Function; 8] = [
        Function::LinkKeepAlive,
        Function::Test,
        Function::UniformInterval,
        Function::Timed,
        Function::Extra,
        Function::Hourly,
        Function::Manual,
        Function::RealTime,
    ];

    /// The code byte.
    pub fn code(self) -> u8 {
        match self {
            Function::LinkKeepAlive => 0x2F,
            Function::Test => 0x30,
            Function::UniformInterval => 0x31,
            Function::Timed => 0x32,
            Function::Extra => 0x33,
            Function::Hourly => 0x34,
            Function::Manual => 0x35,
            Function::RealTime => 0x37,
        }
    }

    /// The function of a code byte: codes of the standard not read here
    /// (`36` image, `38`-`51` centre commands, `E0`/`E1`) are
    /// [`FrameError::UnsupportedFunction`], others [`FrameError::UnknownFunction`].
    pub fn from_code(code: u8) -> Result<Function, FrameError> {
        Function::ALL
            .into_iter()
            .find(|f| f.code() == code)
            .ok_or(match code {
                0x36 | 0x38..=0x51 | 0xE0 | 0xE1 => FrameError::UnsupportedFunction(code),
                _ => FrameError::UnknownFunction(code),
            })
    }

    /// The standard's name (`小时报`).
    pub fn name(self) -> &'static str {
        match self {
            Function::LinkKeepAlive => "链路维持报",
            Function::Test => "测试报",
            Function::UniformInterval => "均匀时段报",
            Function::Timed => "定时报",
            Function::Extra => "加报",
            Function::Hourly => "小时报",
            Function::Manual => "人工置数报",
            Function::RealTime => "实时数据",
        }
    }
}

/// The character that ends a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// `03` ETX: the message ends, nothing follows.
    Etx,
    /// `17` ETB: a packet ends, more packets follow.
    Etb,
    /// `05` ENQ: an enquiry, the sender waits for an answer.
    Enq,
    /// `04` EOT: transmission over, the link may close.
    Eot,
    /// `06` ACK: positive acknowledgement, go on.
    Ack,
    /// `15` NAK: negative acknowledgement, send again.
    Nak,
    /// `1B` ESC: transmission over, the station stays online.
    Esc,
}

impl End {
    /// The byte.
    pub fn byte(self) -> u8 {
        match self {
            End::Etx => 0x03,
            End::Etb => 0x17,
            End::Enq => 0x05,
            End::Eot => 0x04,
            End::Ack => 0x06,
            End::Nak => 0x15,
            End::Esc => 0x1B,
        }
    }

    /// The end character of a byte, if it is one.
    pub fn from_byte(b: u8) -> Option<End> {
        Some(match b {
            0x03 => End::Etx,
            0x17 => End::Etb,
            0x05 => End::Enq,
            0x04 => End::Eot,
            0x06 => End::Ack,
            0x15 => End::Nak,
            0x1B => End::Esc,
            _ => return None,
        })
    }
}

/// A station address: 5 BCD bytes, written as 10 digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StationAddr(pub [u8; 5]);

impl StationAddr {
    /// Reads 5 BCD bytes, refusing a nibble above 9.
    pub fn from_bcd(bytes: &[u8]) -> Result<StationAddr, FrameError> {
        let mut a = [0u8; 5];
        for (i, slot) in a.iter_mut().enumerate() {
            let b = bytes.get(i).copied().unwrap_or(0xFF);
            if bcd_byte(b).is_none() {
                return Err(FrameError::BadBcd {
                    field: "station address".into(),
                    byte: b,
                });
            }
            *slot = b;
        }
        Ok(StationAddr(a))
    }

    /// Reads 10 decimal digits (`0012345678`).
    pub fn parse(text: &str) -> Option<StationAddr> {
        let d = text.as_bytes();
        if d.len() != 10 || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut a = [0u8; 5];
        for (i, slot) in a.iter_mut().enumerate() {
            *slot = (d[2 * i] - b'0') << 4 | (d[2 * i + 1] - b'0');
        }
        Some(StationAddr(a))
    }
}

impl fmt::Display for StationAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

/// The packet field of a multi-packet body (after SYN).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Packet {
    /// How many packets the message has (1-4095).
    pub total: u16,
    /// This packet's number (1-based, at most `total`).
    pub seq: u16,
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// HEX/BCD or ASCII.
    pub encoding: Encoding,
    /// Uplink or downlink.
    pub direction: Direction,
    /// The centre's address (1-255).
    pub centre: u8,
    /// The station's address.
    pub station: StationAddr,
    /// The password.
    pub password: u16,
    /// The function code.
    pub function: Function,
    /// The packet field (`Some` exactly when the body starts with SYN).
    pub packet: Option<Packet>,
    /// The body as bytes (hex digits already read for ASCII frames).
    pub body: Vec<u8>,
    /// The end character.
    pub end: End,
}

/// How much of a buffer the frame at its start takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extent {
    /// The buffer does not start a frame.
    NotAStart,
    /// A frame starts; at least this many bytes are needed to know more.
    NeedMore(usize),
    /// The frame is this many bytes long (as its length field says).
    Len(usize),
}

fn ascii_field(frame: &[u8], at: usize, digits: usize) -> Result<u32, FrameError> {
    let mut v: u32 = 0;
    for i in at..at + digits {
        let b = frame.get(i).copied().unwrap_or(0);
        let d = hex_digit(b).ok_or(FrameError::NotHex { at: i, byte: b })?;
        v = v << 4 | u32::from(d);
    }
    Ok(v)
}

/// Whether `buf` starts a frame and how long it is.
pub fn extent(buf: &[u8]) -> Extent {
    match buf {
        [0x7E] => Extent::NeedMore(HEX_HEAD),
        [0x7E, 0x7E, ..] => {
            if buf.len() < HEX_HEAD {
                return Extent::NeedMore(HEX_HEAD);
            }
            let len = usize::from(buf[11] & 0x0F) << 8 | usize::from(buf[12]);
            Extent::Len(HEX_HEAD + len + 3)
        }
        [SOH_ASCII, rest @ ..] => {
            // an ASCII header is 22 hex digits and STX/SYN
            let have = rest.len().min(22);
            if !rest[..have].iter().all(|&b| hex_digit(b).is_some()) {
                return Extent::NotAStart;
            }
            if buf.len() < ASCII_HEAD {
                return Extent::NeedMore(ASCII_HEAD);
            }
            match ascii_field(buf, 19, 4) {
                Ok(v) => Extent::Len(ASCII_HEAD + (v & 0x0FFF) as usize + 5),
                Err(_) => Extent::NotAStart,
            }
        }
        _ => Extent::NotAStart,
    }
}

/// Reads one whole frame: `bytes` must be exactly one frame.
pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
    decode_inner(bytes, true)
}

/// The frame `bytes` would be if its CRC were right: for answering a packet
/// that arrived damaged with NAK (its header read, its CRC not checked).
/// Never use its body.
pub fn decode_ignoring_crc(bytes: &[u8]) -> Result<Frame, FrameError> {
    decode_inner(bytes, false)
}

fn decode_inner(bytes: &[u8], check_crc: bool) -> Result<Frame, FrameError> {
    let total = match extent(bytes) {
        Extent::Len(n) => n,
        Extent::NeedMore(n) => {
            return Err(FrameError::Truncated {
                have: bytes.len(),
                need: n,
            });
        }
        Extent::NotAStart => return Err(FrameError::Garbage(bytes.len())),
    };
    let ascii = bytes.first() == Some(&SOH_ASCII);
    let (head, tail) = if ascii {
        (ASCII_HEAD, 5)
    } else {
        (HEX_HEAD, 3)
    };
    let said = total - head - tail;
    if bytes.len() < total {
        // the end position is not there: a lying length if what follows
        // could not be this frame's, else a cut frame
        return Err(FrameError::Truncated {
            have: bytes.len(),
            need: total,
        });
    }
    if bytes.len() > total {
        return Err(FrameError::Length {
            said,
            detail: format!("{} bytes follow the CRC", bytes.len() - total),
        });
    }
    let end_at = total - tail;
    let end_byte = bytes[end_at];
    let Some(end) = End::from_byte(end_byte) else {
        return Err(FrameError::Length {
            said,
            detail: format!(
                "byte {end_byte:02X} stands where the end character must be (offset {end_at})"
            ),
        });
    };
    let carried = if ascii {
        u16::try_from(ascii_field(bytes, end_at + 1, 4)?).unwrap_or(0)
    } else {
        u16::from(bytes[end_at + 1]) << 8 | u16::from(bytes[end_at + 2])
    };
    let computed = crc16(&bytes[..=end_at]);
    if check_crc && carried != computed {
        return Err(FrameError::BadCrc { carried, computed });
    }
    // the header as bytes
    let mut h = [0u8; 12];
    if ascii {
        for (i, slot) in h.iter_mut().take(11).enumerate() {
            *slot = u8::try_from(ascii_field(bytes, 1 + 2 * i, 2)?).unwrap_or(0);
        }
        h[11] = bytes[23];
    } else {
        h.copy_from_slice(&bytes[2..14]);
    }
    let dir_nibble = h[9] >> 4;
    let direction = match dir_nibble {
        0 => Direction::Up,
        8 => Direction::Down,
        n => return Err(FrameError::Direction(n)),
    };
    let (centre, station) = match direction {
        Direction::Up => (h[0], StationAddr::from_bcd(&h[1..6])?),
        Direction::Down => (h[5], StationAddr::from_bcd(&h[0..5])?),
    };
    let password = u16::from(h[6]) << 8 | u16::from(h[7]);
    let function = Function::from_code(h[8])?;
    let start = h[11];
    // the body as bytes
    let raw = &bytes[head..end_at];
    let body: Vec<u8> = if ascii {
        if raw.len() % 2 != 0 {
            return Err(FrameError::Length {
                said,
                detail: "an odd number of hex digits".into(),
            });
        }
        let mut v = Vec::with_capacity(raw.len() / 2);
        for i in 0..raw.len() / 2 {
            v.push(u8::try_from(ascii_field(bytes, head + 2 * i, 2)?).unwrap_or(0));
        }
        v
    } else {
        raw.to_vec()
    };
    let (packet, body) = match start {
        STX => (None, body),
        SYN => {
            if body.len() < 3 {
                return Err(FrameError::Length {
                    said,
                    detail: "a multi-packet body needs its 3-byte packet field".into(),
                });
            }
            let total = u16::from(body[0]) << 4 | u16::from(body[1] >> 4);
            let seq = u16::from(body[1] & 0x0F) << 8 | u16::from(body[2]);
            if total == 0 || seq == 0 || seq > total {
                return Err(FrameError::Packet {
                    seq,
                    total,
                    detail: "packet numbers run from 1 to the packet count",
                });
            }
            (Some(Packet { total, seq }), body[3..].to_vec())
        }
        b => return Err(FrameError::BadStart(b)),
    };
    Ok(Frame {
        encoding: if ascii {
            Encoding::Ascii
        } else {
            Encoding::Hex
        },
        direction,
        centre,
        station,
        password,
        function,
        packet,
        body,
        end,
    })
}

fn push_ascii(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(to_hex(bytes).as_bytes());
}

impl Frame {
    /// The frame's bytes (a body longer than 4095 bytes, which no length
    /// field can hold, is cut there: split it into packets first).
    pub fn encode(&self) -> Vec<u8> {
        let addr: Vec<u8> = match self.direction {
            Direction::Up => std::iter::once(self.centre).chain(self.station.0).collect(),
            Direction::Down => self
                .station
                .0
                .into_iter()
                .chain(std::iter::once(self.centre))
                .collect(),
        };
        let mut content = Vec::with_capacity(self.body.len() + 3);
        if let Some(p) = self.packet {
            content.push((p.total >> 4) as u8);
            content.push(((p.total & 0x0F) << 4) as u8 | (p.seq >> 8 & 0x0F) as u8);
            content.push((p.seq & 0xFF) as u8);
        }
        content.extend_from_slice(&self.body);
        let dir: u16 = match self.direction {
            Direction::Up => 0,
            Direction::Down => 0x8000,
        };
        let start = if self.packet.is_some() { SYN } else { STX };
        let mut out = Vec::new();
        match self.encoding {
            Encoding::Hex => {
                content.truncate(0x0FFF);
                let lenf = dir | content.len() as u16;
                out.extend_from_slice(&SOH_HEX);
                out.extend_from_slice(&addr);
                out.extend_from_slice(&self.password.to_be_bytes());
                out.push(self.function.code());
                out.extend_from_slice(&lenf.to_be_bytes());
                out.push(start);
                out.extend_from_slice(&content);
                out.push(self.end.byte());
                let crc = crc16(&out);
                out.extend_from_slice(&crc.to_be_bytes());
            }
            Encoding::Ascii => {
                content.truncate(0x0FFF / 2);
                let lenf = dir | (content.len() * 2) as u16;
                out.push(SOH_ASCII);
                push_ascii(&mut out, &addr);
                push_ascii(&mut out, &self.password.to_be_bytes());
                push_ascii(&mut out, &[self.function.code()]);
                push_ascii(&mut out, &lenf.to_be_bytes());
                out.push(start);
                push_ascii(&mut out, &content);
                out.push(self.end.byte());
                let crc = crc16(&out);
                push_ascii(&mut out, &crc.to_be_bytes());
            }
        }
        out
    }
}

/// Cuts a byte stream into frames. A bad frame is reported and skipped:
/// reading resumes at the next start (`7E7E` or `01`), so one bad frame
/// never costs the good ones after it.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
}

/// What the reader found: a frame or an error, with the bytes concerned.
pub type Found = Result<(Frame, Vec<u8>), (FrameError, Vec<u8>)>;

/// Whether `bytes` end like a whole frame: an end character and a CRC that
/// checks (whatever the length field says).
fn ends_whole(bytes: &[u8]) -> bool {
    let ascii = bytes.first() == Some(&SOH_ASCII);
    let tail = if ascii { 5 } else { 3 };
    if bytes.len() < tail + 1 {
        return false;
    }
    let end_at = bytes.len() - tail;
    if End::from_byte(bytes[end_at]).is_none() {
        return false;
    }
    let carried = if ascii {
        ascii_field(bytes, end_at + 1, 4)
            .ok()
            .and_then(|v| u16::try_from(v).ok())
    } else {
        Some(u16::from(bytes[end_at + 1]) << 8 | u16::from(bytes[end_at + 2]))
    };
    carried == Some(crc16(&bytes[..=end_at]))
}

/// Whether a whole, readable frame starts `buf`.
fn starts_whole(buf: &[u8]) -> bool {
    match extent(buf) {
        Extent::Len(n) => buf.get(..n).is_some_and(|f| decode(f).is_ok()),
        _ => false,
    }
}

fn next_start(buf: &[u8], from: usize) -> usize {
    (from..buf.len())
        .find(|&i| extent(&buf[i..]) != Extent::NotAStart)
        .unwrap_or(buf.len())
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held (a frame not complete yet).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next frame or error, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Found> {
        if self.buf.is_empty() {
            return None;
        }
        let skip = next_start(&self.buf, 0);
        if skip == self.buf.len() && skip < MAX_GARBAGE {
            // no start yet: hold the bytes, so noise is reported in one piece
            return None;
        }
        if skip > 0 {
            let junk: Vec<u8> = self.buf.drain(..skip).collect();
            return Some(Err((FrameError::Garbage(junk.len()), junk)));
        }
        match extent(&self.buf) {
            Extent::NotAStart => None,
            Extent::NeedMore(_) => None,
            Extent::Len(n) if self.buf.len() < n => None,
            Extent::Len(n) => match decode(&self.buf[..n]) {
                Ok(frame) => {
                    let raw: Vec<u8> = self.buf.drain(..n).collect();
                    Some(Ok((frame, raw)))
                }
                Err(e @ FrameError::Length { .. }) => {
                    // the next frame may start inside: resync there
                    let cut = next_start(&self.buf, 1);
                    let e = if cut < n
                        && !ends_whole(&self.buf[..cut])
                        && starts_whole(&self.buf[cut..])
                    {
                        // a frame cut off by the next one, not a lying length
                        FrameError::Truncated { have: cut, need: n }
                    } else {
                        e
                    };
                    let raw: Vec<u8> = self.buf.drain(..cut).collect();
                    Some(Err((e, raw)))
                }
                Err(e) => {
                    let raw: Vec<u8> = self.buf.drain(..n).collect();
                    Some(Err((e, raw)))
                }
            },
        }
    }

    /// The input ended (or went quiet): the frame held is truncated (or
    /// garbage). Gives it up to the next start, so frames behind it can
    /// still be read: call [`FrameReader::next_frame`] again until `None`,
    /// then this again, until it gives `None`.
    pub fn finish(&mut self) -> Option<(FrameError, Vec<u8>)> {
        if self.buf.is_empty() {
            return None;
        }
        let cut = next_start(&self.buf, 1);
        let raw: Vec<u8> = self.buf.drain(..cut).collect();
        let need = match extent(&raw) {
            Extent::Len(n) | Extent::NeedMore(n) => n,
            Extent::NotAStart => return Some((FrameError::Garbage(raw.len()), raw)),
        };
        Some((
            FrameError::Truncated {
                have: raw.len(),
                need,
            },
            raw,
        ))
    }
}

impl Frame {
    /// An uplink frame carrying `body` whole (STX … ETX).
    pub fn uplink(
        encoding: Encoding,
        centre: u8,
        station: StationAddr,
        password: u16,
        function: Function,
        body: Vec<u8>,
    ) -> Frame {
        Frame {
            encoding,
            direction: Direction::Up,
            centre,
            station,
            password,
            function,
            packet: None,
            body,
            end: End::Etx,
        }
    }

    /// This frame's body split into packets of at most `chunk` bytes (SYN,
    /// packet field, ETB on all but the last, which ends ETX). The first
    /// packet holds the start of the body (serial number, send time, …),
    /// the others continue it.
    pub fn packets(&self, chunk: usize) -> Vec<Frame> {
        let parts: Vec<&[u8]> = self.body.chunks(chunk.max(1)).collect();
        let total = u16::try_from(parts.len()).unwrap_or(u16::MAX).min(4095);
        parts
            .iter()
            .take(usize::from(total))
            .enumerate()
            .map(|(i, p)| {
                let seq = u16::try_from(i + 1).unwrap_or(total);
                Frame {
                    packet: Some(Packet { total, seq }),
                    body: p.to_vec(),
                    end: if seq == total { End::Etx } else { End::Etb },
                    ..self.clone()
                }
            })
            .collect()
    }
}
