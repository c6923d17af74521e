//! "Parsing never panics" (ARCHITECTURE, README): random text for every
//! front end and every input the engine reads — `.yj`, policy and plan YAML,
//! event lines, state files, assessment records — gives diagnostics or
//! errors, never a panic. Token soups of each language reach past the first
//! syntax error; the fuzz targets (`fuzz/`, docs/testing.md) go further.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use proptest::prelude::*;
use yingji::Definitions;
use yingji::unstable::dsl::load::{MemLoader, load};

const YJ_TOKENS: &[&str] = &[
    "event",
    "signal",
    "table",
    "fn",
    "import",
    "\"x.rhai\"",
    "in",
    "rhai",
    "limits",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "=",
    "->",
    "rain",
    "mm",
    "station",
    "number",
    "string",
    "bool",
    "?",
    "from",
    "key",
    "let",
    "level",
    "red",
    "orange",
    "红色",
    "Ⅰ",
    "when",
    "for",
    "readings",
    "clear",
    "below",
    "above",
    "after",
    "hold",
    "step",
    "down",
    "missing",
    "roster",
    "where",
    "lateness",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "abs",
    "3h",
    "1d",
    "99999999999999999999d",
    "0s",
    "1e400",
    "-",
    "+",
    "*",
    "/",
    ">=",
    "<",
    "==",
    "!=",
    "and",
    "or",
    "not",
    "true",
    "1",
    "0.1",
    "\"A\"",
    "#",
    "\n",
    " ",
    "\t",
    "\"",
    "\\",
    "应急",
    "\u{0}",
    "\u{feff}",
];

const YAML_TOKENS: &[&str] = &[
    "events:",
    "signals:",
    "tables:",
    "plan:",
    "chains:",
    "roster:",
    "people:",
    "areas:",
    "name:",
    "from:",
    "key:",
    "let:",
    "levels:",
    "when:",
    "steps:",
    "notify:",
    "- ",
    "  ",
    "\n",
    "rain",
    "mm: number",
    "station: string",
    "red",
    "r3 >= 100",
    "sum(mm, 3h)",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "&a",
    "*a",
    "!!str",
    "---",
    "...",
    "'",
    "\"",
    "|",
    ">",
    "#",
    "1e400",
    "~",
    "null",
    "暴雨预警",
    "\t",
];

const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"ts\"",
    "\"kind\"",
    "\"rain\"",
    "\"station\"",
    "\"mm\"",
    "\"id\"",
    "\"2024-07-29T03:10:00+08:00\"",
    "\"2024-07-29T03:10:00\"",
    "\"9999-12-31T23:59:59Z\"",
    "\"YY-004\"",
    "4.2",
    "-0",
    "1e400",
    "9.2e12",
    "3e-7",
    "null",
    "true",
    "\"\\u0000\"",
    "\"\\ud800\"",
    " ",
    "\"town\"",
    "\"accident\"",
    "\"unit\"",
    "\"deaths\"",
    "1",
];

fn soup(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(tokens), 0..max).prop_map(|t| t.join(" "))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![soup(YJ_TOKENS, 80), ".{0,200}"]
}

fn defs() -> &'static Definitions {
    static D: std::sync::OnceLock<Definitions> = std::sync::OnceLock::new();
    D.get_or_init(|| {
        Definitions::from_paths(&[
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/plans"),
        ])
        .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn yj_text_never_panics(t in text()) {
        let l = load(&MemLoader(vec![("p.yj".into(), t)]));
        let _ = l.render();
        if !l.has_errors() {
            prop_assert!(l.program.validate().is_ok());
        }
    }

    #[test]
    fn yaml_text_never_panics(t in prop_oneof![soup(YAML_TOKENS, 80), ".{0,200}"]) {
        for name in ["p.yaml", "plans/p.yaml"] {
            let mut sources = vec![(name.to_string(), t.clone())];
            sources.push((
                "rain.yj".into(),
                "event rain { station: string, mm: number }\n\
                 signal 暴雨预警 { from rain key station let r3 = sum(mm, 3h) level red when r3 >= 100 }".into(),
            ));
            let l = load(&MemLoader(sources));
            let _ = l.render();
        }
    }

    /// Also: a refused line changes nothing (the snapshot before and after
    /// it is the same) and emits nothing.
    #[test]
    fn event_lines_never_panic_and_a_refused_one_changes_nothing(
        lines in proptest::collection::vec(prop_oneof![soup(JSON_TOKENS, 30), ".{0,80}"], 1..20),
    ) {
        let mut e = defs().engine().unwrap();
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let before = e.snapshot();
            let n = out.len();
            if e.push_line(l, i as u64 + 1, &mut out).is_err() {
                prop_assert_eq!(out.len(), n, "a refused line emitted outputs");
                let after = e.snapshot();
                prop_assert_eq!(
                    String::from_utf8_lossy(&after),
                    String::from_utf8_lossy(&before),
                    "a refused line changed the state: {}", l
                );
            }
        }
        e.flush(&mut out);
    }

    #[test]
    fn state_files_never_panic(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        soup(JSON_TOKENS, 40).prop_map(String::into_bytes),
        soup(JSON_TOKENS, 40).prop_map(|t| format!("{{\"format\":\"yingji-state\",\"version\":4,{t}}}").into_bytes()),
    ]) {
        let mut e = defs().engine().unwrap();
        let fresh = e.snapshot();
        if e.restore(&bytes).is_err() {
            prop_assert_eq!(e.snapshot(), fresh);
        }
    }

    #[test]
    fn assessment_records_never_panic(bytes in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::collection::vec(soup(JSON_TOKENS, 20), 0..10).prop_map(|l| l.join("\n").into_bytes()),
    ]) {
        let p = defs().unstable_assess().clone();
        let p = &p;
        let set = yingji::unstable::engine::assess::records::read_records_bytes(p, &bytes);
        let _ = yingji::unstable::engine::assess::eval::run(p, &set.records, None, None);
    }
}
