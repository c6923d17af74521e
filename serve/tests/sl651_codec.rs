//! SL 651-2014 codec: an encoder-driven round trip for every function code
//! (HEX/BCD and ASCII), a frame written out by hand with an independently
//! computed CRC, every kind of bad input, the stream reader's resync,
//! multi-packet reassembly, duplicates, replies and the event lines.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code"
)]

mod sl651_common;

use sl651_common::*;
use yingji_serve::sl651::{
    BodyError, Dedupe, Direction, Encoding, End, Frame, FrameError, FrameReader, Function, Session,
    StationAddr, StationTable, decode, decode_body, encode_body, hex::from_hex,
};

#[test]
fn crc16_modbus_matches_the_catalogue() {
    assert_eq!(yingji_serve::sl651::crc16(b"123456789"), 0x4B37);
    assert_eq!(yingji_serve::sl651::crc16(b""), 0xFFFF);
}

/// A keep-alive written field by field from the standard's layout, CRC
/// computed by a separate implementation (Python, CRC-16/MODBUS).
#[test]
fn a_frame_written_by_hand_is_what_the_encoder_writes() {
    let hand = from_hex("7E7E 01 0050023501 1234 2F 0008 02 0001 240728080005 03 8799").unwrap();
    let f = keep_alive(addr(1), 1, clock(24, 7, 28, 8, 0, 5));
    assert_eq!(f.encode(), hand);
    let d = decode(&hand).unwrap();
    assert_eq!(d, f);
    assert_eq!(d.function, Function::LinkKeepAlive);
    assert_eq!(d.station.to_string(), "0050023501");
    let r = decode_body(d.function, &d.body, d.station).unwrap();
    assert_eq!(r.serial, 1);
    assert_eq!(r.sent, clock(24, 7, 28, 8, 0, 5));

    let mut ascii = b"\x0101005002350112342F0010\x020001240728080005\x03".to_vec();
    ascii.extend_from_slice(b"9826");
    let mut fa = f.clone();
    fa.encoding = Encoding::Ascii;
    assert_eq!(fa.encode(), ascii);
    assert_eq!(decode(&ascii).unwrap(), fa);
}

#[test]
fn every_function_code_round_trips_in_both_encodings() {
    for enc in [Encoding::Hex, Encoding::Ascii] {
        let frames = every_function(enc);
        let codes: Vec<u8> = frames.iter().map(|(f, _)| f.code()).collect();
        assert_eq!(codes, [0x2F, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x37]);
        for (f, fr) in frames {
            let bytes = fr.encode();
            let back = decode(&bytes).unwrap_or_else(|e| panic!("{f:?} {enc:?}: {e}"));
            assert_eq!(back, fr, "{f:?} {enc:?}");
            let r = decode_body(back.function, &back.body, back.station).unwrap();
            assert_eq!(encode_body(&r), fr.body, "{f:?} {enc:?}: body round trip");
            // and split into packets, reassembled
            let mut s = Session::new(false);
            let mut d = Dedupe::new(8);
            let mut whole = None;
            for p in fr.packets(7) {
                let back = decode(&p.encode()).unwrap();
                assert_eq!(back, p);
                let h = s.handle(&back, &mut d, clock(24, 7, 28, 12, 0, 0)).unwrap();
                if h.report.is_some() {
                    whole = h.report;
                }
            }
            assert_eq!(whole.as_ref(), Some(&r), "{f:?} {enc:?}: reassembled");
        }
    }
}

#[test]
fn values_and_times_are_read_exactly() {
    let frames = every_function(Encoding::Hex);
    let body = |i: usize| {
        let f = &frames[i].1;
        decode_body(f.function, &f.body, f.station).unwrap()
    };
    // 32 timed: PJ 1.5, PT 123.5, VT 12.6 at 09:00 Beijing time
    let r = body(3).readings();
    let got: Vec<(String, String, f64)> = r
        .iter()
        .map(|x| (x.id.to_string(), x.ts.to_string(), x.value))
        .collect();
    assert_eq!(
        got,
        [
            ("20".into(), "2024-07-28T09:00:00+08:00".into(), 1.5),
            ("26".into(), "2024-07-28T09:00:00+08:00".into(), 123.5),
            ("38".into(), "2024-07-28T09:00:00+08:00".into(), 12.6),
        ]
    );
    // 34 hourly: F4, twelve 5-minute values of the hour ending 10:00
    let r = body(5).readings();
    assert_eq!(r.len(), 13);
    assert_eq!(r[0].ts.to_string(), "2024-07-28T09:05:00+08:00");
    assert_eq!(r[0].value, 0.2);
    assert_eq!(r[11].ts.to_string(), "2024-07-28T10:00:00+08:00");
    assert_eq!(r[11].value, 0.1);
    assert_eq!(r[5].value, 4.2);
    // 31 uniform interval: 6 values 5 minutes apart from 08:30
    let r = body(2).readings();
    let got: Vec<(String, f64)> = r
        .iter()
        .map(|x| (x.ts.to_string()[11..16].to_string(), x.value))
        .collect();
    assert_eq!(
        got,
        [
            ("08:30".into(), 0.5),
            ("08:35".into(), 1.2),
            ("08:40".into(), 0.0),
            ("08:45".into(), 3.1),
            ("08:50".into(), 0.8),
            ("08:55".into(), 0.2),
        ]
    );
    // F5 with a "no data" value: left out
    let f = hourly_river(9);
    let r = decode_body(f.function, &f.body, f.station)
        .unwrap()
        .readings();
    assert_eq!(r.len(), 12);
    assert_eq!(r[0].value, 172.8);
    assert!(
        r.iter()
            .all(|x| x.ts.to_string() != "2024-07-28T10:25:00+08:00")
    );
    assert_eq!(r[11].value, 173.3);
    assert_eq!(r[11].ts.to_string(), "2024-07-28T11:00:00+08:00");
    assert_eq!(r[9].value, 173.21);
}

#[test]
fn negative_and_missing_numbers() {
    let mut rep = report(
        addr(11),
        0x48,
        1,
        clock(24, 7, 28, 9, 0, 0),
        clock(24, 7, 28, 9, 0, 0),
        vec![num(yingji_serve::sl651::ElementId::Z, 4, 3, -1_250)],
    );
    rep.observations[0]
        .elements
        .push(yingji_serve::sl651::Element {
            id: yingji_serve::sl651::ElementId::VT,
            value: yingji_serve::sl651::Value::Number {
                len: 2,
                decimals: 2,
                value: None,
            },
        });
    let body = encode_body(&rep);
    // Z: FF sign byte then 3 BCD bytes; VT: FFFF
    assert!(yingji_serve::sl651::hex::to_hex(&body).ends_with("3923FF0012503812FFFF"));
    let back = decode_body(Function::Timed, &body, addr(11)).unwrap();
    assert_eq!(back, rep);
    let r = back.readings();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].value, -1.25);
}

fn reasons(bytes: &[u8]) -> Vec<&'static str> {
    let mut rd = FrameReader::new();
    rd.push(bytes);
    let mut out = Vec::new();
    loop {
        while let Some(f) = rd.next_frame() {
            out.push(match f {
                Ok((frame, _)) => match Session::new(false).handle(
                    &frame,
                    &mut Dedupe::new(4),
                    clock(24, 7, 28, 12, 0, 0),
                ) {
                    Ok(_) => "ok",
                    Err(e) => e.reason(),
                },
                Err((e, _)) => e.reason(),
            });
        }
        match rd.finish() {
            Some((e, _)) => out.push(e.reason()),
            None => return out,
        }
    }
}

#[test]
fn bad_crc_is_refused_with_both_values() {
    let mut b = every_function(Encoding::Hex)[3].1.encode();
    let n = b.len();
    b[n - 1] ^= 0xFF;
    match decode(&b) {
        Err(FrameError::BadCrc { carried, computed }) => {
            assert_ne!(carried, computed);
            assert_eq!(carried ^ computed, 0x00FF);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_and_unsupported_function_codes() {
    let good = every_function(Encoding::Hex)[3].1.encode();
    let e = decode(&patch_hex(good.clone(), 10, &[0x99])).unwrap_err();
    assert_eq!(e, FrameError::UnknownFunction(0x99));
    assert_eq!(e.to_string(), "unknown function code 99");
    let e = decode(&patch_hex(good, 10, &[0x36])).unwrap_err();
    assert_eq!(e, FrameError::UnsupportedFunction(0x36));
}

#[test]
fn impossible_bcd_and_times() {
    let good = every_function(Encoding::Hex)[3].1.encode();
    let e = decode(&patch_hex(good.clone(), 5, &[0x5A])).unwrap_err();
    assert_eq!(e.to_string(), "impossible BCD byte 5A in station address");
    let f = decode(&patch_hex(good.clone(), 39, &[0xA1])).unwrap();
    let e = decode_body(f.function, &f.body, f.station).unwrap_err();
    assert_eq!(e.to_string(), "impossible BCD byte A1 in element 20");
    let f = decode(&patch_hex(good.clone(), 17, &[0x13])).unwrap();
    let e = decode_body(f.function, &f.body, f.station).unwrap_err();
    assert_eq!(
        e.to_string(),
        "impossible send time 241328090007 (YYMMDDhhmmss)"
    );
    // 31 April
    let f = decode(&patch_hex(good.clone(), 17, &[0x04, 0x31])).unwrap();
    assert!(matches!(
        decode_body(f.function, &f.body, f.station),
        Err(FrameError::BadTime { .. })
    ));
    // observation time 24:00
    let f = decode(&patch_hex(good, 35, &[0x24])).unwrap();
    let e = decode_body(f.function, &f.body, f.station).unwrap_err();
    assert_eq!(
        e.to_string(),
        "impossible observation time 240728240000 (YYMMDDhhmmss)"
    );
}

#[test]
fn lengths_that_lie() {
    let good = every_function(Encoding::Hex)[3].1.encode();
    let body_len = good.len() - 17;
    // shorter: the end character is not where the length puts it
    let e = decode(&lying_length(&good, body_len - 4)).unwrap_err();
    assert!(
        matches!(e, FrameError::Length { said, .. } if said == body_len - 4),
        "{e}"
    );
    // longer, with another frame behind it: refused, the next frame read
    let mut b = lying_length(&good, body_len + 4);
    b.extend_from_slice(&good);
    assert_eq!(reasons(&b), ["length", "ok"]);
    // longer, alone: the input ends first
    assert_eq!(reasons(&lying_length(&good, body_len + 4)), ["truncated"]);
    // an element whose data definition promises more bytes than the body has
    let f = every_function(Encoding::Hex)[3].1.clone();
    let mut body = f.body.clone();
    body.truncate(body.len() - 1);
    let e = decode_body(f.function, &body, f.station).unwrap_err();
    assert!(
        matches!(e, FrameError::Body(BodyError::Short { need: 1, .. })),
        "{e}"
    );
    // DRP with a definition that is not 12 bytes
    let f = every_function(Encoding::Hex)[5].1.clone();
    let mut body = f.body.clone();
    let at = body.iter().position(|&b| b == 0xF4).unwrap();
    body[at + 1] = 0x58;
    let e = decode_body(f.function, &body, f.station).unwrap_err();
    assert!(e.to_string().contains("DRP"), "{e}");
}

#[test]
fn other_bad_frames() {
    let good = every_function(Encoding::Hex)[3].1.encode();
    assert_eq!(
        decode(&patch_hex(good.clone(), 13, &[0x07])).unwrap_err(),
        FrameError::BadStart(0x07)
    );
    assert_eq!(
        decode(&patch_hex(good.clone(), 11, &[0x40])).unwrap_err(),
        FrameError::Direction(4)
    );
    // downlink frames decode, but the centre refuses them
    let down = decode(&patch_hex(good.clone(), 11, &[0x80])).unwrap();
    assert_eq!(down.direction, Direction::Down);
    assert!(
        Session::new(false)
            .handle(&down, &mut Dedupe::new(4), clock(24, 1, 1, 0, 0, 0))
            .is_err()
    );
    // a packet number above the count
    let p = &every_function(Encoding::Hex)[3].1.packets(10)[0];
    let mut b = p.encode();
    b[14] = 0x00;
    b[15] = 0x11; // total 1, seq 0x100
    let b = patch_hex(b, 0, &[0x7E]);
    assert!(matches!(decode(&b).unwrap_err(), FrameError::Packet { .. }));
    // truncated
    assert_eq!(reasons(&good[..good.len() - 1]), ["truncated"]);
    assert_eq!(reasons(&good[..5]), ["truncated"]);
    assert_eq!(reasons(b"\x00\x00garbage"), ["garbage"]);
}

#[test]
fn the_reader_resyncs_and_reads_the_same_byte_by_byte() {
    let good = every_function(Encoding::Hex)[3].1.encode();
    let ascii = every_function(Encoding::Ascii)[4].1.encode();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 2] ^= 1;
    let mut stream = Vec::new();
    stream.extend_from_slice(&good);
    stream.extend_from_slice(b"\r\n");
    stream.extend_from_slice(&bad);
    stream.extend_from_slice(&ascii);
    stream.extend_from_slice(&lying_length(&good, good.len() - 17 - 4));
    stream.extend_from_slice(&good);
    let whole = reasons(&stream);
    assert_eq!(whole, ["ok", "garbage", "bad_crc", "ok", "length", "ok"]);
    // fed one byte at a time
    let mut rd = FrameReader::new();
    let mut got = Vec::new();
    for b in &stream {
        rd.push(std::slice::from_ref(b));
        while let Some(f) = rd.next_frame() {
            got.push(f.map(|_| "ok").unwrap_or_else(|(e, _)| e.reason()));
        }
    }
    assert!(rd.finish().is_none());
    // byte by byte, the rest of the frame whose length lied is noise of its own
    assert_eq!(
        got,
        ["ok", "garbage", "bad_crc", "ok", "length", "garbage", "ok"]
    );
}

#[test]
fn replies_follow_the_standard() {
    let now = clock(24, 7, 28, 12, 0, 1);
    let mut d = Dedupe::new(16);
    let mut s = Session::new(false);
    // keep-alive: no reply
    let ka = &every_function(Encoding::Hex)[0].1;
    assert!(s.handle(ka, &mut d, now).unwrap().reply.is_none());
    // a report: EOT, serial number and the centre's time, downlink
    let timed = &every_function(Encoding::Hex)[3].1;
    let h = s.handle(timed, &mut d, now).unwrap();
    let r = h.reply.unwrap();
    let back = decode(&r.encode()).unwrap();
    assert_eq!(back, r);
    assert_eq!(
        (r.direction, r.end, r.function, r.station, r.centre),
        (Direction::Down, End::Eot, Function::Timed, addr(1), CENTRE)
    );
    assert_eq!(r.body, from_hex("0004 240728120001").unwrap());
    // the downlink header puts the station address first
    assert_eq!(&r.encode()[2..8], &from_hex("0050023501 01").unwrap()[..]);
    // keep the station online: ESC
    let mut s2 = Session::new(true);
    let h = s2
        .handle(&every_function(Encoding::Hex)[4].1, &mut d, now)
        .unwrap();
    assert_eq!(h.reply.unwrap().end, End::Esc);
    // ASCII in, ASCII out
    let h = s
        .handle(
            &every_function(Encoding::Ascii)[3].1,
            &mut Dedupe::new(4),
            now,
        )
        .unwrap();
    assert_eq!(h.reply.unwrap().encoding, Encoding::Ascii);
    // multi-packet: ACK per packet with its number, EOT after the last
    let parts = hourly_river(30).packets(20);
    let mut ends = Vec::new();
    for p in &parts {
        let h = s.handle(p, &mut d, now).unwrap();
        let r = h.reply.unwrap();
        ends.push((r.end, r.packet.map(|p| p.seq), r.body[..2].to_vec()));
    }
    assert_eq!(
        ends,
        [
            (End::Ack, Some(1), vec![0, 30]),
            (End::Ack, Some(2), vec![0, 30]),
            (End::Eot, None, vec![0, 30]),
        ]
    );
}

#[test]
fn duplicates_are_replied_to_and_dropped() {
    let now = clock(24, 7, 28, 12, 0, 1);
    let mut d = Dedupe::new(16);
    let f = &every_function(Encoding::Hex)[4].1;
    let first = Session::new(false).handle(f, &mut d, now).unwrap();
    assert!(first.report.is_some() && !first.duplicate);
    // the same report again, on another connection
    let again = Session::new(false).handle(f, &mut d, now).unwrap();
    assert!(again.report.is_none() && again.duplicate);
    assert!(again.reply.is_some());
    // the same station and serial number at another send time is new
    let mut r = decode_body(f.function, &f.body, f.station).unwrap();
    r.sent.second += 1;
    let mut other = f.clone();
    other.body = encode_body(&r);
    assert!(
        Session::new(false)
            .handle(&other, &mut d, now)
            .unwrap()
            .report
            .is_some()
    );
    // a multi-packet duplicate is recognised once reassembled
    let mut got = Vec::new();
    for _ in 0..2 {
        let mut s = Session::new(false);
        for p in hourly_river(40).packets(25) {
            let h = s.handle(&p, &mut d, now);
            got.push(h.map(|h| (h.report.is_some(), h.duplicate)).unwrap());
        }
    }
    assert_eq!(got.iter().filter(|x| x.0).count(), 1);
    assert_eq!(got.iter().filter(|x| x.1).count(), 1);
}

#[test]
fn reports_become_the_event_lines_the_policies_read() {
    let table = StationTable::from_yaml(STATIONS_YAML, "stations.yaml").unwrap();
    assert_eq!(table.len(), 9);
    let lines = |f: &Frame| {
        let r = decode_body(f.function, &f.body, f.station).unwrap();
        table
            .events(f.station, table.get(&f.station).unwrap(), &r)
            .lines
    };
    let timed = &every_function(Encoding::Hex)[3].1;
    assert_eq!(
        lines(timed),
        [
            r#"{"ts":"2024-07-28T09:00:00+08:00","kind":"rain","station":"YY-001","town":"双江街道","mm":1.5,"id":"sl651:0050023501:4:240728090007:rain:2024-07-28T09:00:00+08:00"}"#
        ]
    );
    let extra = &every_function(Encoding::Hex)[4].1;
    assert_eq!(
        lines(extra),
        [
            r#"{"ts":"2024-07-28T09:10:00+08:00","kind":"river_level","station":"YY-H01","town":"双江街道","level_m":175.23,"id":"sl651:0050023511:5:240728091200:river_level:2024-07-28T09:10:00+08:00"}"#
        ]
    );
    let hourly = &every_function(Encoding::Hex)[5].1;
    let l = lines(hourly);
    assert_eq!(l.len(), 12);
    assert!(l[0].starts_with(r#"{"ts":"2024-07-28T09:05:00+08:00","kind":"rain","station":"YY-002","town":"青龙街道","mm":0.2,"#), "{}", l[0]);
    // a report mapping two elements to one field at one time: the first kept
    let both = report(
        addr(2),
        0x50,
        50,
        clock(24, 7, 28, 10, 0, 9),
        clock(24, 7, 28, 10, 0, 0),
        vec![
            pj(7),
            yingji_serve::sl651::Element {
                id: yingji_serve::sl651::ElementId::DRP,
                value: yingji_serve::sl651::Value::Drp([Some(1); 12]),
            },
        ],
    );
    let ev = table.events(addr(2), table.get(&addr(2)).unwrap(), &both);
    assert_eq!(ev.lines.len(), 12);
    assert_eq!(
        ev.conflicts,
        ["element F4 at 2024-07-28T10:00:00+08:00: rain.mm already set by element 20"]
    );
    assert!(ev.lines[11].contains(r#""mm":0.7"#));
    // every line is an event the bundled policies accept
    let defs = std::fs::read_to_string("../policies/rainstorm.yj").unwrap();
    assert!(defs.contains("mm: number"));
}

#[test]
fn station_table_errors_name_the_place() {
    let e = StationTable::from_yaml("stations:\n  \"12345\": { key: A }\n", "t.yaml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.yaml:2:3: `12345` is not a station address (10 digits, quoted: \"0050023501\")"
    );
    let e = StationTable::from_yaml("elements:\n  \"20\": rainmm\nstations: {}\n", "t.yaml")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.yaml:2:9: `rainmm` is not `kind.field` (e.g. `rain.mm`)"
    );
    let e = StationTable::from_yaml("elements:\n  \"2G\": rain.mm\nstations: {}\n", "t.yaml")
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("t.yaml:2:3: `2G` is not an element identifier"),
        "{e}"
    );
    let e = StationTable::from_yaml(
        "stations:\n  \"0050023501\": { key: A, twon: B }\n",
        "t.yaml",
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("t.yaml:2:"), "{e}");
    assert!(e.to_string().contains("twon"), "{e}");
    let e = StationTable::from_yaml(
        "stations:\n  \"0050023501\": { key: A }\n  \"0050023501\": { key: B }\n",
        "t.yaml",
    );
    assert!(e.is_err());
    let _ = StationAddr::parse("0050023501").unwrap();
}
