//! What the centre does with a frame: multi-packet reassembly and the reply.
//!
//! Replies (the centre's downlink frame: the same function code, centre,
//! station and password, direction 8, the body the station's serial number
//! and the centre's send time):
//!
//! | received | reply |
//! |---|---|
//! | `2F` link keep-alive | none (a keep-alive asks for nothing) |
//! | a packet ending `ETB` (more follow) | `ACK` with the same packet field: go on |
//! | a report ending `ETX` or `ENQ` (last packet included) | `EOT`: received, the link may end; `ESC` instead when the centre keeps the station online ([`Session::keep_online`]) |
//! | a packet of a multi-packet message with a bad CRC (its header reads) | `NAK` with its packet field: send it again |
//! | a duplicate | the same reply again (the station did not get the first), no events |
//! | a frame that does not read | none: the station repeats it after its timeout |

use super::body::{Report, decode_body};
use super::error::FrameError;
use super::frame::{Direction, End, Frame, Function, Packet, StationAddr};
use super::time::Clock;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Messages being reassembled per connection, at most.
pub const MAX_PENDING_MESSAGES: usize = 16;
/// Bytes of one message being reassembled, at most.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

#[derive(Debug)]
struct Pending {
    total: u16,
    parts: BTreeMap<u16, Vec<u8>>,
    bytes: usize,
    serial: u16,
}

/// Reassembles multi-packet messages (SYN … ETB, last packet ETX) of one
/// connection, keyed by station and function code.
#[derive(Debug, Default)]
pub struct Assembler {
    pending: HashMap<(StationAddr, Function), Pending>,
    order: VecDeque<(StationAddr, Function)>,
}

/// What a frame adds up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// A whole body (a single frame, or the last missing packet).
    Whole(Vec<u8>),
    /// A packet of a message still incomplete.
    Partial(Packet),
}

impl Assembler {
    /// Adds a frame. A packet count that changes mid-message starts the
    /// message again; a repeated packet replaces the earlier copy.
    pub fn add(&mut self, frame: &Frame) -> Result<Assembled, FrameError> {
        let Some(p) = frame.packet else {
            return Ok(Assembled::Whole(frame.body.clone()));
        };
        let key = (frame.station, frame.function);
        let restart = self.pending.get(&key).is_some_and(|m| m.total != p.total);
        if restart {
            self.pending.remove(&key);
        }
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= MAX_PENDING_MESSAGES {
                if let Some(old) = self.order.pop_front() {
                    self.pending.remove(&old);
                }
            }
            self.order.retain(|k| *k != key);
            self.order.push_back(key);
        }
        let m = self.pending.entry(key).or_insert(Pending {
            total: p.total,
            parts: BTreeMap::new(),
            bytes: 0,
            serial: 0,
        });
        if p.seq == 1 && frame.body.len() >= 2 {
            m.serial = u16::from(frame.body[0]) << 8 | u16::from(frame.body[1]);
        }
        let before = m.parts.get(&p.seq).map_or(0, Vec::len);
        m.bytes = m.bytes - before + frame.body.len();
        m.parts.insert(p.seq, frame.body.clone());
        if m.bytes > MAX_MESSAGE_BYTES {
            self.pending.remove(&key);
            self.order.retain(|k| *k != key);
            return Err(FrameError::Packet {
                seq: p.seq,
                total: p.total,
                detail: "the message grows past 1 MiB: dropped",
            });
        }
        if m.parts.len() == usize::from(m.total) {
            let whole: Vec<u8> = m.parts.values().flatten().copied().collect();
            self.pending.remove(&key);
            self.order.retain(|k| *k != key);
            return Ok(Assembled::Whole(whole));
        }
        Ok(Assembled::Partial(p))
    }

    /// The serial number of a message being reassembled (from its first
    /// packet), `0` if that has not come yet.
    pub fn serial(&self, station: StationAddr, function: Function) -> u16 {
        self.pending
            .get(&(station, function))
            .map_or(0, |m| m.serial)
    }
}

/// The reply the centre sends for `frame` (see the module table), with
/// `serial` (the message's serial number) and the centre's clock `now`.
pub fn reply(frame: &Frame, serial: u16, now: Clock, keep_online: bool) -> Option<Frame> {
    if frame.function == Function::LinkKeepAlive || frame.direction != Direction::Up {
        return None;
    }
    let (end, packet) = match frame.end {
        End::Etb => (End::Ack, frame.packet),
        _ if keep_online => (End::Esc, None),
        _ => (End::Eot, None),
    };
    let mut body = serial.to_be_bytes().to_vec();
    body.extend_from_slice(&now.to_bcd6());
    Some(Frame {
        encoding: frame.encoding,
        direction: Direction::Down,
        centre: frame.centre,
        station: frame.station,
        password: frame.password,
        function: frame.function,
        packet,
        body,
        end,
    })
}

/// The NAK for a packet of a multi-packet message that arrived damaged
/// (read with [`super::frame::decode_ignoring_crc`]): the same packet field,
/// so the station sends that packet again. `None` for a frame that is not
/// an uplink packet.
pub fn nak(damaged: &Frame, serial: u16, now: Clock) -> Option<Frame> {
    if damaged.packet.is_none() || damaged.direction != Direction::Up {
        return None;
    }
    let mut body = serial.to_be_bytes().to_vec();
    body.extend_from_slice(&now.to_bcd6());
    Some(Frame {
        encoding: damaged.encoding,
        direction: Direction::Down,
        centre: damaged.centre,
        station: damaged.station,
        password: damaged.password,
        function: damaged.function,
        packet: damaged.packet,
        body,
        end: End::Nak,
    })
}

/// Remembers recent reports by station, serial number and send time, so a
/// report sent again (the station missed the reply, or reconnected) is
/// recognised. Holds the last `capacity` keys.
#[derive(Debug)]
pub struct Dedupe {
    seen: HashSet<(StationAddr, u16, Clock)>,
    order: VecDeque<(StationAddr, u16, Clock)>,
    capacity: usize,
}

impl Dedupe {
    /// Remembers up to `capacity` reports (at least 1).
    pub fn new(capacity: usize) -> Dedupe {
        Dedupe {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// `true` the first time a key is seen, `false` for a duplicate.
    pub fn first(&mut self, station: StationAddr, serial: u16, sent: Clock) -> bool {
        let key = (station, serial, sent);
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

/// What one frame gives.
#[derive(Debug)]
pub struct Handled {
    /// A whole report (not a duplicate), if one completed.
    pub report: Option<Report>,
    /// The report was a duplicate (dropped).
    pub duplicate: bool,
    /// The reply to send back.
    pub reply: Option<Frame>,
}

/// One connection's protocol state.
#[derive(Debug, Default)]
pub struct Session {
    assembler: Assembler,
    /// Answer ESC (stay online) instead of EOT.
    pub keep_online: bool,
}

impl Session {
    /// A new connection's state; `keep_online`: answer ESC instead of EOT.
    pub fn new(keep_online: bool) -> Session {
        Session {
            assembler: Assembler::default(),
            keep_online,
        }
    }

    /// The NAK for a damaged packet (see [`nak`]), with the serial number of
    /// its message if its first packet came.
    pub fn nak(&self, damaged: &Frame, now: Clock) -> Option<Frame> {
        nak(
            damaged,
            self.assembler.serial(damaged.station, damaged.function),
            now,
        )
    }

    /// Handles one frame read from the station: reassembles, decodes the
    /// body, drops duplicates (through `dedupe`), and builds the reply.
    pub fn handle(
        &mut self,
        frame: &Frame,
        dedupe: &mut Dedupe,
        now: Clock,
    ) -> Result<Handled, FrameError> {
        if frame.direction != Direction::Up {
            return Err(FrameError::Direction(8));
        }
        match self.assembler.add(frame)? {
            Assembled::Partial(p) => {
                let serial = if p.seq == 1 && frame.body.len() >= 2 {
                    u16::from(frame.body[0]) << 8 | u16::from(frame.body[1])
                } else {
                    self.assembler.serial(frame.station, frame.function)
                };
                Ok(Handled {
                    report: None,
                    duplicate: false,
                    reply: reply(frame, serial, now, self.keep_online),
                })
            }
            Assembled::Whole(body) => {
                let report = decode_body(frame.function, &body, frame.station)?;
                let fresh = dedupe.first(frame.station, report.serial, report.sent);
                let r = reply(frame, report.serial, now, self.keep_online);
                Ok(Handled {
                    report: fresh.then_some(report),
                    duplicate: !fresh,
                    reply: r,
                })
            }
        }
    }
}
