//! Shared by the SL 651 tests: stations, reports for every function code,
//! and the corpus in `tests/corpus/` (built here, checked in, and checked
//! against this builder by `sl651_corpus.rs`).
#![allow(dead_code, reason = "each test file uses part of it")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code"
)]

use yingji_serve::sl651::{
    Clock, Decimal, Element, ElementId, Encoding, Frame, Function, Observation, Report,
    StationAddr, Step, Value, crc16, encode_body, hex::to_hex,
};

/// The station table of the samples (`samples/sl651/stations.yaml`).
pub const STATIONS_YAML: &str = include_str!("../../../samples/sl651/stations.yaml");

pub const CENTRE: u8 = 0x01;
pub const PASSWORD: u16 = 0x1234;

/// The address of sample station `n` (`0050023501` …).
pub fn addr(n: u8) -> StationAddr {
    StationAddr::parse(&format!("00500235{n:02}")).unwrap()
}

pub fn clock(y: u8, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> Clock {
    Clock {
        year: y,
        month: mo,
        day: d,
        hour: h,
        minute: mi,
        second: s,
    }
}

pub fn num(id: ElementId, len: u8, decimals: u8, mantissa: i64) -> Element {
    Element {
        id,
        value: Value::Number {
            len,
            decimals,
            value: Some(Decimal { mantissa, decimals }),
        },
    }
}

/// PJ 当前降水量, 3 bytes, 1 decimal (mm).
pub fn pj(tenths: i64) -> Element {
    num(ElementId::PJ, 3, 1, tenths)
}
/// PT 降水量累计值, 3 bytes, 1 decimal.
pub fn pt(tenths: i64) -> Element {
    num(ElementId::PT, 3, 1, tenths)
}
/// Z 瞬时河道水位, 4 bytes, 3 decimals (m).
pub fn z(mm: i64) -> Element {
    num(ElementId::Z, 4, 3, mm)
}
/// VT 电源电压, 2 bytes, 2 decimals (V).
pub fn vt(centivolts: i64) -> Element {
    num(ElementId::VT, 2, 2, centivolts)
}

pub fn report(
    station: StationAddr,
    kind: u8,
    serial: u16,
    sent: Clock,
    obs: Clock,
    elements: Vec<Element>,
) -> Report {
    Report {
        serial,
        sent,
        station: Some((station, kind)),
        observations: vec![Observation {
            time: obs,
            step: None,
            elements,
        }],
    }
}

/// A frame carrying a report.
pub fn frame(encoding: Encoding, function: Function, station: StationAddr, r: &Report) -> Frame {
    Frame::uplink(
        encoding,
        CENTRE,
        station,
        PASSWORD,
        function,
        encode_body(r),
    )
}

/// A keep-alive (2F): serial number and send time only.
pub fn keep_alive(station: StationAddr, serial: u16, sent: Clock) -> Frame {
    let r = Report {
        serial,
        sent,
        station: None,
        observations: Vec::new(),
    };
    frame(Encoding::Hex, Function::LinkKeepAlive, station, &r)
}

/// One report for every function code read (HEX unless noted), with the
/// elements a county's gauges send.
pub fn every_function(encoding: Encoding) -> Vec<(Function, Frame)> {
    let t = |h, m| clock(24, 7, 28, h, m, 0);
    let s = |h, m, sec| clock(24, 7, 28, h, m, sec);
    let rain = 0x50; // 降水
    let river = 0x48; // 河道
    let mut out = Vec::new();
    out.push((Function::LinkKeepAlive, {
        let mut f = keep_alive(addr(1), 1, s(8, 0, 5));
        f.encoding = encoding;
        f
    }));
    let r = report(
        addr(1),
        rain,
        2,
        s(8, 0, 10),
        t(8, 0),
        vec![pj(0), vt(1250)],
    );
    out.push((Function::Test, frame(encoding, Function::Test, addr(1), &r)));
    let mut r = report(addr(3), rain, 3, s(9, 0, 3), t(8, 30), vec![]);
    r.observations[0].step = Some(Step {
        days: 0,
        hours: 0,
        minutes: 5,
    });
    r.observations[0].elements.push(Element {
        id: ElementId::PJ,
        value: Value::Series {
            len: 2,
            decimals: 1,
            values: [5, 12, 0, 31, 8, 2]
                .into_iter()
                .map(|m| {
                    Some(Decimal {
                        mantissa: m,
                        decimals: 1,
                    })
                })
                .collect(),
        },
    });
    out.push((
        Function::UniformInterval,
        frame(encoding, Function::UniformInterval, addr(3), &r),
    ));
    let r = report(
        addr(1),
        rain,
        4,
        s(9, 0, 7),
        t(9, 0),
        vec![pj(15), pt(1235), vt(1260)],
    );
    out.push((
        Function::Timed,
        frame(encoding, Function::Timed, addr(1), &r),
    ));
    let r = report(
        addr(11),
        river,
        5,
        s(9, 12, 0),
        t(9, 10),
        vec![z(175_230), vt(1248)],
    );
    out.push((
        Function::Extra,
        frame(encoding, Function::Extra, addr(11), &r),
    ));
    let drp = [2, 5, 0, 11, 30, 42, 18, 7, 0, 0, 3, 1].map(Some);
    let r = report(
        addr(2),
        rain,
        6,
        s(10, 0, 9),
        t(10, 0),
        vec![
            Element {
                id: ElementId::DRP,
                value: Value::Drp(drp),
            },
            pt(1354),
        ],
    );
    out.push((
        Function::Hourly,
        frame(encoding, Function::Hourly, addr(2), &r),
    ));
    let r = report(addr(4), rain, 7, s(10, 20, 0), t(10, 15), vec![pj(20)]);
    out.push((
        Function::Manual,
        frame(encoding, Function::Manual, addr(4), &r),
    ));
    let r = report(
        addr(5),
        rain,
        8,
        s(10, 30, 1),
        t(10, 30),
        vec![pj(5), vt(1190)],
    );
    out.push((
        Function::RealTime,
        frame(encoding, Function::RealTime, addr(5), &r),
    ));
    out
}

/// An hourly river report with the 5-minute level series (F5) and Z.
pub fn hourly_river(serial: u16) -> Frame {
    let levels: [Option<u16>; 12] = [
        Some(17_280),
        Some(17_281),
        Some(17_283),
        Some(17_286),
        None,
        Some(17_290),
        Some(17_295),
        Some(17_301),
        Some(17_308),
        Some(17_315),
        Some(17_321),
        Some(17_330),
    ];
    let r = report(
        addr(11),
        0x48,
        serial,
        clock(24, 7, 28, 11, 0, 4),
        clock(24, 7, 28, 11, 0, 0),
        vec![
            Element {
                id: ElementId::DRZ1,
                value: Value::Drz(levels),
            },
            z(173_300),
        ],
    );
    frame(Encoding::Hex, Function::Hourly, addr(11), &r)
}

/// Replaces bytes of an encoded HEX frame and recomputes its CRC.
pub fn patch_hex(mut bytes: Vec<u8>, at: usize, new: &[u8]) -> Vec<u8> {
    bytes[at..at + new.len()].copy_from_slice(new);
    let n = bytes.len();
    let crc = crc16(&bytes[..n - 2]);
    bytes[n - 2..].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// A HEX frame with its length field set to `len` and the CRC recomputed
/// (the only wrong thing is the length).
pub fn lying_length(good: &[u8], len: usize) -> Vec<u8> {
    let mut b = good.to_vec();
    b[11] = (len >> 8) as u8 & 0x0F;
    b[12] = (len & 0xFF) as u8;
    let n = b.len();
    let crc = crc16(&b[..n - 2]);
    b[n - 2..].copy_from_slice(&crc.to_be_bytes());
    b
}

fn line(bytes: &[u8], comment: &str) -> String {
    format!("{}  # {comment}\n", to_hex(bytes))
}

/// The corpus files: (name, text).
pub fn corpus() -> Vec<(&'static str, String)> {
    let head = "# SL 651-2014 frames in hex, one per line; `# expect:` lists what reading the line gives\n# (ok, or the refusal reasons in order). Written by serve/tests/sl651_common (UPDATE_CORPUS=1\n# cargo test -p yingji-serve --test sl651_corpus rewrites them); checked by sl651_corpus.rs.\n";
    let mut files = Vec::new();

    let mut good = String::from(head);
    for enc in [Encoding::Hex, Encoding::Ascii] {
        for (f, fr) in every_function(enc) {
            good.push_str(&line(
                &fr.encode(),
                &format!(
                    "expect: ok — {:02X} {} ({enc:?}), station {}",
                    f.code(),
                    f.name(),
                    fr.station
                ),
            ));
        }
    }
    good.push_str(&line(
        &hourly_river(9).encode(),
        "expect: ok — 34 小时报 with F5 DRZ1 (one value 'no data') and Z, station 0050023511",
    ));
    files.push(("good.hex", good));

    let mut bad = String::from(head);
    let timed = &every_function(Encoding::Hex)[3].1;
    let mut b = timed.encode();
    let n = b.len();
    b[n - 1] ^= 0x01;
    bad.push_str(&line(&b, "expect: bad_crc — the CRC's low byte flipped"));
    let mut b = timed.encode();
    b[20] ^= 0x10;
    bad.push_str(&line(&b, "expect: bad_crc — a body byte flipped"));
    let mut a = every_function(Encoding::Ascii)[3].1.encode();
    let n = a.len();
    a[n - 1] = if a[n - 1] == b'0' { b'1' } else { b'0' };
    bad.push_str(&line(
        &a,
        "expect: bad_crc — ASCII frame, last CRC digit changed",
    ));
    files.push(("bad_crc.hex", bad));

    let mut tr = String::from(head);
    let good = timed.encode();
    tr.push_str(&line(
        &good[..good.len() - 6],
        "expect: truncated — cut inside the body",
    ));
    tr.push_str(&line(
        &good[..9],
        "expect: truncated — cut inside the header",
    ));
    let mut two = good[..30].to_vec();
    two.extend_from_slice(&every_function(Encoding::Hex)[1].1.encode());
    tr.push_str(&line(
        &two,
        "expect: truncated, ok — a cut frame, then a whole one (read after the resync)",
    ));
    files.push(("truncated.hex", tr));

    let mut mp = String::from(head);
    for p in hourly_river(21).packets(20) {
        let (seq, total) = p.packet.map_or((0, 0), |x| (x.seq, x.total));
        mp.push_str(&line(
            &p.encode(),
            &format!(
                "expect: ok — packet {seq} of {total} of a 34 小时报 (F5 + Z), 20 body bytes each"
            ),
        ));
    }
    let mut asc = every_function(Encoding::Ascii)[5].1.clone();
    asc.body = {
        let mut r = yingji_serve::sl651::decode_body(asc.function, &asc.body, asc.station).unwrap();
        r.serial = 22;
        encode_body(&r)
    };
    for p in asc.packets(16) {
        let (seq, total) = p.packet.map_or((0, 0), |x| (x.seq, x.total));
        mp.push_str(&line(
            &p.encode(),
            &format!("expect: ok — ASCII packet {seq} of {total} of a 34 小时报 (F4 + PT)"),
        ));
    }
    files.push(("multi_packet.hex", mp));

    let mut dup = String::from(head);
    let f = &every_function(Encoding::Hex)[4].1;
    dup.push_str(&line(&f.encode(), "expect: ok — 33 加报, serial 5"));
    dup.push_str(&line(
        &f.encode(),
        "expect: ok — the same report again (duplicate: replied to, no events)",
    ));
    let mut again = f.clone();
    let mut r =
        yingji_serve::sl651::decode_body(again.function, &again.body, again.station).unwrap();
    r.serial = 6;
    again.body = encode_body(&r);
    dup.push_str(&line(
        &again.encode(),
        "expect: ok — the same readings with serial 6: a new report",
    ));
    files.push(("duplicated.hex", dup));

    let mut bi = String::from(head);
    let good = timed.encode();
    bi.push_str(&line(
        &patch_hex(good.clone(), 10, &[0x99]),
        "expect: unknown_function — function code 99",
    ));
    bi.push_str(&line(
        &patch_hex(good.clone(), 10, &[0x36]),
        "expect: unsupported_function — 36 (image) is not decoded",
    ));
    bi.push_str(&line(
        &patch_hex(good.clone(), 5, &[0x5A]),
        "expect: bad_bcd — station address byte 5A",
    ));
    // send time month 13: body starts at 14, serial 2 bytes, then YY MM
    bi.push_str(&line(
        &patch_hex(good.clone(), 17, &[0x13]),
        "expect: bad_time — send time month 13",
    ));
    // PJ value: F0F0 group at 14+8+8=30..37, then 20 19 v v v at 37..
    bi.push_str(&line(
        &patch_hex(good.clone(), 39, &[0xA1]),
        "expect: bad_bcd — element 20 value byte A1",
    ));
    let short = good.len() - 14 - 3 - 4;
    let b = lying_length(&good, short);
    assert!(yingji_serve::sl651::End::from_byte(b[14 + short]).is_none());
    bi.push_str(&line(
        &b,
        "expect: length — the length field says 4 bytes fewer than the body has",
    ));
    let mut b = lying_length(&good, good.len() - 14 - 3 + 4);
    b.extend_from_slice(&every_function(Encoding::Hex)[1].1.encode());
    bi.push_str(&line(&b, "expect: length, ok — the length says 4 bytes more; the frame behind it is read after the resync"));
    bi.push_str(&line(
        &patch_hex(good.clone(), 13, &[0x07]),
        "expect: bad_start — 07 where STX must be",
    ));
    bi.push_str(&line(
        &patch_hex(good.clone(), 11, &[0x80]),
        "expect: direction — a downlink frame sent to the centre",
    ));
    let mut g = b"hello".to_vec();
    g.extend_from_slice(&every_function(Encoding::Hex)[1].1.encode());
    bi.push_str(&line(
        &g,
        "expect: garbage, ok — bytes before a frame are skipped",
    ));
    let stranger = report(
        StationAddr::parse("9900000001").unwrap(),
        0x50,
        1,
        clock(24, 7, 28, 9, 0, 0),
        clock(24, 7, 28, 9, 0, 0),
        vec![pj(10)],
    );
    let fr = frame(
        Encoding::Hex,
        Function::Timed,
        StationAddr::parse("9900000001").unwrap(),
        &stranger,
    );
    bi.push_str(&line(
        &fr.encode(),
        "expect: ok — a station not in the table (counted as unknown_station, no events)",
    ));
    let mut mism = stranger.clone();
    mism.station = Some((addr(1), 0x50));
    let fr = frame(
        Encoding::Hex,
        Function::Timed,
        StationAddr::parse("9900000001").unwrap(),
        &mism,
    );
    bi.push_str(&line(
        &fr.encode(),
        "expect: body — F1F1 station address differs from the header's",
    ));
    let mut nohex = every_function(Encoding::Ascii)[3].1.encode();
    nohex[30] = b'G';
    let n = nohex.len();
    let crc = crc16(&nohex[..n - 4]);
    nohex[n - 4..].copy_from_slice(to_hex(&crc.to_be_bytes()).as_bytes());
    bi.push_str(&line(&nohex, "expect: not_hex — ASCII body with a G"));
    files.push(("bad_input.hex", bi));
    files
}
