//! Properties of the SL 651 codec over random input: nothing a station
//! sends makes it panic, a stream cut anywhere reads the same, and random
//! reports round-trip through frames (HEX and ASCII, whole and in packets).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    reason = "test code"
)]

mod sl651_common;

use proptest::prelude::*;
use sl651_common::*;
use yingji_serve::sl651::{
    Decimal, Dedupe, Element, ElementId, Encoding, FrameReader, Function, Observation, Report,
    Session, Value, decode, decode_body,
};

fn read_all(chunks: &[&[u8]]) -> Vec<Result<Vec<u8>, &'static str>> {
    let mut rd = FrameReader::new();
    let mut out = Vec::new();
    for c in chunks {
        rd.push(c);
        while let Some(f) = rd.next_frame() {
            out.push(f.map(|(_, raw)| raw).map_err(|(e, _)| e.reason()));
        }
    }
    loop {
        while let Some(f) = rd.next_frame() {
            out.push(f.map(|(_, raw)| raw).map_err(|(e, _)| e.reason()));
        }
        match rd.finish() {
            Some((e, _)) => out.push(Err(e.reason())),
            None => return out,
        }
    }
}

fn good_frames() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = every_function(Encoding::Hex)
        .into_iter()
        .map(|(_, f)| f.encode())
        .collect();
    v.extend(
        every_function(Encoding::Ascii)
            .into_iter()
            .map(|(_, f)| f.encode()),
    );
    v
}

fn number() -> impl Strategy<Value = Element> {
    (
        prop_oneof![
            Just(0x20u16),
            Just(0x26),
            Just(0x38),
            Just(0x39),
            Just(0xFF03)
        ],
        1u8..=6,
        0u8..=3,
        any::<u32>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(id, len, decimals, m, neg, none)| {
            // a negative needs its sign byte and at least one byte of digits
            let neg = neg && len > 1;
            let digits = 2 * (u32::from(len) - u32::from(neg));
            let m = i64::from(m) % 10i64.pow(digits.min(9));
            Element {
                id: ElementId(id),
                value: Value::Number {
                    len,
                    decimals,
                    value: (!none).then_some(Decimal {
                        mantissa: if neg { -m.max(1) } else { m },
                        decimals,
                    }),
                },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
        let _ = decode_body(Function::Hourly, &bytes, addr(1));
        let _ = read_all(&[&bytes]);
    }

    /// Good frames with random damage: never a panic, and every good frame
    /// not touched by the damage is still read.
    #[test]
    fn damaged_streams_keep_the_good_frames(
        picks in proptest::collection::vec(0usize..16, 1..8),
        damage in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
    ) {
        let frames = good_frames();
        let chosen: Vec<&Vec<u8>> = picks.iter().map(|i| &frames[i % frames.len()]).collect();
        let mut stream: Vec<u8> = chosen.iter().flat_map(|f| f.iter().copied()).collect();
        let mut hit = vec![false; chosen.len()];
        for (at, b) in &damage {
            let at = at % stream.len();
            stream[at] = *b;
            let mut start = 0;
            for (i, f) in chosen.iter().enumerate() {
                if at >= start && at < start + f.len() {
                    hit[i] = true;
                }
                start += f.len();
            }
        }
        let whole = read_all(&[&stream]);
        let ok: Vec<Vec<u8>> = whole.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        // a frame followed by an untouched one is always read when untouched
        for (i, f) in chosen.iter().enumerate() {
            let prev_ok = i == 0 || !hit[i - 1];
            if !hit[i] && prev_ok {
                prop_assert!(ok.contains(f), "frame {i} lost");
            }
        }
        // the same frames however the stream is cut into two reads
        let c = cut % (stream.len() + 1);
        let split = read_all(&[&stream[..c], &stream[c..]]);
        let ok2: Vec<Vec<u8>> = split.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        prop_assert_eq!(ok, ok2);
    }

    #[test]
    fn random_reports_round_trip(
        serial in any::<u16>(),
        (mo, d, h, mi, s) in (1u8..=12, 1u8..=28, 0u8..24, 0u8..60, 0u8..60),
        elements in proptest::collection::vec(number(), 0..6),
        drp in proptest::option::of(proptest::collection::vec(proptest::option::of(0u8..0xFF), 12)),
        ascii in any::<bool>(),
        chunk in 1usize..40,
    ) {
        let mut els = elements;
        if let Some(v) = drp {
            let mut a = [None; 12];
            a.copy_from_slice(&v);
            els.push(Element { id: ElementId::DRP, value: Value::Drp(a) });
        }
        let r = Report {
            serial,
            sent: clock(24, mo, d, h, mi, s),
            station: Some((addr(2), 0x50)),
            observations: vec![Observation { time: clock(24, mo, d, h, mi, 0), step: None, elements: els }],
        };
        let enc = if ascii { Encoding::Ascii } else { Encoding::Hex };
        let f = frame(enc, Function::Timed, addr(2), &r);
        let back = decode(&f.encode()).unwrap();
        prop_assert_eq!(decode_body(back.function, &back.body, back.station).unwrap(), r.clone());
        let mut s = Session::new(false);
        let mut dd = Dedupe::new(4);
        let mut got = None;
        for p in f.packets(chunk) {
            let h = s.handle(&decode(&p.encode()).unwrap(), &mut dd, clock(24, 1, 1, 0, 0, 0)).unwrap();
            if h.report.is_some() { got = h.report; }
        }
        prop_assert_eq!(got, Some(r));
    }
}
