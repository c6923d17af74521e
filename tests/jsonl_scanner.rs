//! The event line scanner (`yingji_engine::jsonl`) against serde_json, the
//! reference JSON parser: on random lines — valid objects, and the same
//! with one byte changed, dropped or doubled — both accept the same lines
//! (a top-level object), and for accepted lines the scanner reads the same
//! members with the same values. serde_json's default float reading may be
//! one unit in the last place off, so against it numbers agree within one
//! ulp; a second property checks every number bit for bit against Rust's
//! correctly rounded parser.
//! Also: the engine refuses a member it reads twice, accepts a byte order
//! mark, and names the column of a syntax error.

#![allow(clippy::panic, reason = "tests")]

use proptest::prelude::*;
use yingji::unstable::engine::jsonl::{Scalar, Scanner};

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("false".to_string()),
        (-1e6f64..1e6).prop_map(|n| format!("{n}")),
        any::<i32>().prop_map(|n| n.to_string()),
        (0u32..1000, -30i32..30).prop_map(|(m, e)| format!("{m}e{e}")),
        (0u64..u64::MAX).prop_map(|m| format!("0.{m}")),
        "[a-z云阳\\\\\"/ é\\t]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        Just(r#""\u00e9\ud83d\ude00""#.to_string()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(("[a-c]{1,2}", inner), 0..3).prop_map(|v| {
                let m: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect();
                format!("{{{}}}", m.join(","))
            }),
        ]
    })
}

fn line() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(("[a-d]{1,2}", value()), 0..5),
        prop_oneof![Just(""), Just(" "), Just("\t")],
    )
        .prop_map(|(members, ws)| {
            let m: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{ws}\"{k}\"{ws}:{ws}{v}"))
                .collect();
            format!("{ws}{{{}}}{ws}", m.join(","))
        })
}

/// One byte replaced, dropped or doubled.
fn mutated() -> impl Strategy<Value = String> {
    (
        line(),
        any::<usize>(),
        0u8..3,
        prop_oneof![
            Just(b'"'),
            Just(b','),
            Just(b'}'),
            Just(b'0'),
            Just(b'.'),
            Just(b'e'),
            Just(b'\\'),
            Just(b':'),
            Just(b'-'),
            Just(b'[')
        ],
    )
        .prop_map(|(l, at, how, byte)| {
            let mut b = l.into_bytes();
            if b.is_empty() {
                return String::new();
            }
            let i = at % b.len();
            match how {
                0 => b[i] = byte,
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, byte),
            }
            String::from_utf8(b).unwrap_or_default()
        })
}

/// The scanner's members, or its error.
fn scan(line: &str) -> Result<Vec<(String, String)>, String> {
    let mut s = Scanner::new(line);
    s.open().map_err(|e| e.to_string())?;
    let (mut kb, mut vb) = (String::new(), String::new());
    let mut out = Vec::new();
    while let Some(k) = s.key(&mut kb).map_err(|e| e.to_string())? {
        let k = k.to_string();
        let v = match s.value(&mut vb).map_err(|e| e.to_string())? {
            Scalar::Null => "null".to_string(),
            Scalar::Bool(b) => b.to_string(),
            // too large for a double: the engine refuses it, naming the field
            Scalar::Num(n) if !n.is_finite() => return Err("number out of range".into()),
            Scalar::Num(n) => format!("n{:x}", n.to_bits()),
            Scalar::Str(t) => format!("s{t}"),
            Scalar::Nested(w) => w.to_string(),
        };
        out.push((k, v));
    }
    s.end().map_err(|e| e.to_string())?;
    Ok(out)
}

/// serde_json's reading of the same line (numbers re-read from their text).
fn reference(line: &str) -> Option<Vec<(String, String)>> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let obj = v.as_object()?;
    // serde_json keeps the last of a repeated name: compare only distinct names
    Some(
        obj.iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::Null => "null".to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Number(n) => {
                        let f: f64 = n.to_string().parse().unwrap_or(f64::NAN);
                        format!("n{:x}", f.to_bits())
                    }
                    serde_json::Value::String(t) => format!("s{t}"),
                    serde_json::Value::Array(_) => "array".to_string(),
                    serde_json::Value::Object(_) => "object".to_string(),
                };
                (k.clone(), s)
            })
            .collect(),
    )
}

fn agree(line: &str) -> Result<(), TestCaseError> {
    let ours = scan(line);
    let theirs = reference(line);
    // a top-level value that is not an object: both refuse
    prop_assert_eq!(
        ours.is_ok(),
        theirs.is_some(),
        "{:?}: ours {:?}",
        line,
        ours
    );
    if let (Ok(ours), Some(theirs)) = (ours, theirs) {
        let mut distinct: Vec<&String> = ours.iter().map(|(k, _)| k).collect();
        distinct.sort();
        distinct.dedup();
        if distinct.len() == ours.len() {
            let mut ours = ours;
            ours.sort();
            let mut theirs = theirs;
            theirs.sort();
            prop_assert_eq!(ours.len(), theirs.len(), "{:?}", line);
            for ((ka, va), (kb, vb)) in ours.iter().zip(&theirs) {
                prop_assert_eq!(ka, kb, "{:?}", line);
                let bits = |v: &str| {
                    v.strip_prefix('n')
                        .and_then(|h| u64::from_str_radix(h, 16).ok())
                };
                match (bits(va), bits(vb)) {
                    // within one unit in the last place (same sign)
                    (Some(a), Some(b)) => {
                        prop_assert!(a.abs_diff(b) <= 1, "{:?}: {} vs {}", line, va, vb)
                    }
                    _ => prop_assert_eq!(va, vb, "{:?}", line),
                }
            }
        }
    }
    Ok(())
}

/// A JSON number's text: sign, integer part, fraction, exponent.
fn number_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop_oneof![Just("0".to_string()), "[1-9][0-9]{0,24}"],
        proptest::option::of("[0-9]{1,25}"),
        proptest::option::of((
            prop_oneof![Just("e"), Just("E")],
            prop_oneof![Just(""), Just("+"), Just("-")],
            0u32..400,
        )),
    )
        .prop_map(|(neg, int, frac, exp)| {
            let mut t = String::new();
            if neg {
                t.push('-');
            }
            t.push_str(&int);
            if let Some(f) = frac {
                t.push('.');
                t.push_str(&f);
            }
            if let Some((e, sign, n)) = exp {
                t.push_str(&format!("{e}{sign}{n}"));
            }
            t
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn numbers_are_correctly_rounded(t in number_text()) {
        let line = format!("{{\"x\":{t}}}");
        let want: f64 = t.parse().map_err(|e| TestCaseError::fail(format!("{t}: {e}")))?;
        match scan(&line) {
            Ok(got) => prop_assert_eq!(&got[0].1, &format!("n{:x}", want.to_bits()), "{}", t),
            Err(e) => prop_assert!(!want.is_finite() && e == "number out of range", "{}: {}", t, e),
        }
    }

    #[test]
    fn scanner_agrees_with_serde_json_on_valid_lines(l in line()) {
        agree(&l)?;
    }

    #[test]
    fn scanner_agrees_with_serde_json_on_broken_lines(l in mutated()) {
        agree(&l)?;
    }
}

fn engine() -> yingji::Engine {
    let defs = yingji::Definitions::from_str(
        "t.yj",
        "event rain { station: string\n mm: number }\nsignal 暴雨 { from rain\n key station\n level red when mm >= 50 }\n",
    )
    .unwrap_or_else(|e| panic!("{}", e.rendered));
    defs.engine().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_member_the_engine_reads_twice_is_refused() {
    let mut e = engine();
    let mut out = Vec::new();
    for (line, what) in [
        (
            r#"{"ts":"2024-07-29T00:00:00+08:00","kind":"rain","station":"A","mm":1,"mm":500}"#,
            "member `mm` appears twice",
        ),
        (
            r#"{"ts":"2024-07-29T00:00:00+08:00","ts":"2024-07-30T00:00:00+08:00","kind":"rain","station":"A","mm":1}"#,
            "member `ts` appears twice",
        ),
        (
            r#"{"ts":"2024-07-29T00:00:00+08:00","kind":"rain","kind":"rain","station":"A","mm":1}"#,
            "member `kind` appears twice",
        ),
        (
            r#"{"id":"a","id":"b","ts":"2024-07-29T00:00:00+08:00","kind":"rain","station":"A","mm":1}"#,
            "member `id` appears twice",
        ),
    ] {
        let err = e
            .push_line(line, 1, &mut out)
            .err()
            .map(|x| x.to_string())
            .unwrap_or_default();
        assert!(err.contains(what), "{line}: {err}");
    }
    assert!(out.is_empty(), "{out:?}");
    // members no definition reads may repeat: they are skipped
    let ok = r#"{"ts":"2024-07-29T00:00:00+08:00","kind":"rain","station":"A","mm":60,"note":1,"note":2}"#;
    assert!(e.push_line(ok, 2, &mut out).is_ok());
}

#[test]
fn a_byte_order_mark_is_accepted_and_errors_name_the_column() {
    let mut e = engine();
    let mut out = Vec::new();
    let bom = "\u{feff}{\"ts\":\"2024-07-29T00:00:00+08:00\",\"kind\":\"rain\",\"station\":\"A\",\"mm\":60}";
    assert!(e.push_line(bom, 1, &mut out).is_ok());
    e.flush(&mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    let err = e
        .push_line(
            r#"{"ts":"2024-07-29T00:00:00+08:00","kind":"rain" "station":"A"}"#,
            2,
            &mut out,
        )
        .err()
        .map(|x| x.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("not a JSON object: expected `,` or `}` after a member at column 49"),
        "{err}"
    );
}
