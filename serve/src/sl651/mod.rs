//! SL 651-2014 《水文监测数据通信规约》: the protocol rain and water-level
//! gauges speak to a telemetry centre.
//!
//! - [`frame`]: frames (HEX/BCD `7E7E` and ASCII `01`), CRC-16/MODBUS,
//!   and [`FrameReader`], which cuts a TCP stream into frames and resyncs
//!   on the next start after a bad one;
//! - [`body`]: the report body (serial number, send time, F1F1 station,
//!   F0F0 observation time, elements such as 20 PJ, 26 PT, 38 VT, 39 Z,
//!   F4 DRP, F5 DRZ1);
//! - [`session`]: multi-packet reassembly, duplicate detection (station +
//!   serial number + send time) and the centre's replies (ACK/EOT/ESC);
//! - [`table`]: the station table (address → the policies' key, township,
//!   element → `kind.field`) and the JSONL event lines;
//! - [`server`]: the TCP server ([`serve_tcp`]) and its counters
//!   ([`Sl651Stats`]).
//!
//! Every refusal is a [`FrameError`] with its reason.

pub mod body;
mod crc;
pub mod error;
pub mod frame;
pub mod hex;
pub mod replay;
pub mod server;
pub mod session;
pub mod table;
pub mod time;
pub mod yaml;

pub use body::{
    Decimal, Element, ElementId, Observation, Report, Step, Value, decode_body, encode_body,
};
pub use crc::crc16;
pub use error::{BodyError, FrameError};
pub use frame::{
    Direction, Encoding, End, Frame, FrameReader, Function, Packet, StationAddr, decode,
};
pub use server::{Handed, ServerOptions, Sl651Stats, serve_tcp, serve_tcp_reports, serve_tcp_with};
pub use session::{Dedupe, Session, nak, reply};
pub use table::{Station, StationTable};
pub use time::Clock;
