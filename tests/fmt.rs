//! `yingji fmt` (issue 19): the formatter is idempotent and never changes
//! what a file says — `fmt(fmt(x)) == fmt(x)` and `parse(fmt(x))` equals
//! `parse(x)` without spans — on every bundled file and on generated
//! programs; it keeps comments, aligns ladders, and leaves a file it cannot
//! parse unchanged with the diagnostics `check` prints.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use yingji_dsl::fmt::{format_file, format_yj};
use yingji_dsl::syntax::yj::parse_file;

/// The AST of a `.yj` text with every span blanked, and its diagnostics' codes.
fn ast(text: &str) -> String {
    let (defs, diags) = parse_file(0, text);
    let mut s = format!("{defs:?}");
    // `Span { file: 0, start: 12, end: 15 }` → `S`
    while let Some(at) = s.find("Span { file: ") {
        let end = s[at..].find('}').map_or(s.len(), |e| at + e + 1);
        s.replace_range(at..end, "S");
    }
    let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    format!("{s} {codes:?}")
}

fn rhai_bodies(text: &str) -> Vec<String> {
    let (defs, _) = parse_file(0, text);
    defs.iter()
        .filter_map(|d| match d {
            yingji_dsl::ast::Def::Script(s) => match &s.source {
                yingji_dsl::ast::ScriptSource::Inline(sp) => {
                    Some(text[sp.start as usize..sp.end as usize].to_string())
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Both properties for one `.yj` text that parses.
fn holds(name: &str, text: &str) -> Result<String, String> {
    let once = format_yj(0, text).map_err(|d| format!("{name}: does not format: {d:?}"))?;
    let twice = format_yj(0, &once).map_err(|d| format!("{name}: output does not parse: {d:?}"))?;
    if twice != once {
        return Err(format!(
            "{name}: not idempotent\n--- once\n{once}\n--- twice\n{twice}"
        ));
    }
    if ast(&once) != ast(text) {
        return Err(format!(
            "{name}: the AST changed\n--- input\n{text}\n--- output\n{once}"
        ));
    }
    if rhai_bodies(&once) != rhai_bodies(text) {
        return Err(format!("{name}: a rhai body changed\n{once}"));
    }
    Ok(once)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if matches!(
            p.extension().and_then(|x| x.to_str()),
            Some("yj" | "yaml" | "yml")
        ) {
            out.push(p);
        }
    }
}

#[test]
fn bundled_files_are_fixed_points_and_keep_their_meaning() {
    let mut all = Vec::new();
    files(&root().join("policies"), &mut all);
    files(&root().join("plans"), &mut all);
    let yj = all
        .iter()
        .filter(|p| p.extension().unwrap() == "yj")
        .count();
    assert!(yj >= 7 && all.len() >= 12, "{all:?}");
    for p in &all {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(p).unwrap();
        if name.ends_with(".yj") {
            let once = holds(&name, &text).unwrap_or_else(|e| panic!("{e}"));
            // comments survive: every comment line's text is still there
            for c in text
                .lines()
                .filter_map(|l| l.find('#').map(|i| l[i..].trim_end()))
            {
                assert!(once.contains(c), "{name}: lost comment `{c}`");
            }
        } else {
            let once = format_file(0, &name, &text).unwrap_or_else(|d| panic!("{name}: {d:?}"));
            assert_eq!(format_file(0, &name, &once).unwrap(), once, "{name}");
            let v = |t: &str| serde_saphyr::from_str::<serde_json::Value>(t).unwrap();
            assert_eq!(v(&once), v(&text), "{name}: the YAML changed");
        }
    }
}

#[test]
fn ladders_align_and_comments_stay() {
    let text = "# head\nevent rain { station: string,mm:number }\n\n\n\nsignal 暴雨 {   # trailing\nfrom rain\n  key station\n   let r3 = sum(mm,3h)\nlet r12=sum(mm, 12h)\n\n\n  level red when r3>=100 for 2 readings # top\nlevel 橙色 when r3 >= 50 clear below 40\n  # own line\n  level blue when r12 >= -5 hold 1h\n}\n";
    let out = format_yj(0, text).unwrap();
    assert_eq!(
        out,
        "# head\nevent rain { station: string, mm: number }\n\nsignal 暴雨 {  # trailing\n  from rain\n  key station\n  let r3  = sum(mm, 3h)\n  let r12 = sum(mm, 12h)\n\n  level red  when r3 >= 100 for 2 readings  # top\n  level 橙色 when r3 >= 50  clear below 40\n  # own line\n  level blue when r12 >= -5 hold 1h\n}\n"
    );
    holds("ladder", text).unwrap();
}

#[test]
fn edge_cases_hold() {
    let cases = [
        ("", ""),
        ("\n\n", ""),
        (
            "# only a comment   \n\n\n# and another",
            "# only a comment\n\n# and another\n",
        ),
        ("event a{}", "event a {}\n"),
        ("event a {\n}\n", "event a {\n}\n"),
        (
            "\tevent a { x: number }\r\n\r\n\r\n\r\nevent b { y: bool? }",
            "event a { x: number }\n\nevent b { y: bool? }\n",
        ),
        (
            "event a { x: number # c\n}",
            "event a {\n  x: number  # c\n}\n",
        ),
        (
            "signal s { from a level # why\n red when x >= 1 }",
            "signal s {\n  from a\n  level  # why\n    red when x >= 1\n}\n",
        ),
        (
            "signal s { from a key k level red when - x >= - 1 and not(y) }",
            "signal s { from a key k level red when -x >= -1 and not (y) }\n",
        ),
        (
            "table t { \"a\" : { x : -1.5 , y : \"q\\\"\" } , b: { x: 2 } , }",
            "table t { \"a\": { x: -1.5, y: \"q\\\"\" }, b: { x: 2 }, }\n",
        ),
    ];
    for (text, want) in cases {
        let out = holds(text, text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, want, "input {text:?}");
    }
}

#[test]
fn long_expressions_keep_their_line_breaks() {
    let text = "event e { a: number, b: number }\nsignal s {\n  from e\n  level red when a >= 1 and\n        b >= 2 or\n  a > 100\n}\n";
    let out = holds("breaks", text).unwrap();
    assert_eq!(
        out,
        "event e { a: number, b: number }\nsignal s {\n  from e\n  level red when a >= 1 and\n    b >= 2 or\n    a > 100\n}\n"
    );
}

#[test]
fn a_file_that_does_not_parse_gives_its_diagnostics() {
    let bad = "event rain { station: string }\nsignal s { from rain level red when mm >= 3x }\n";
    let d = format_yj(0, bad).unwrap_err();
    assert_eq!(d[0].code, "E0002", "{d:?}");
    let d = format_yj(0, "signal s {\n  from rain\n").unwrap_err();
    assert_eq!(d[0].code, "E0001", "{d:?}");
    let d = format_file(0, "p.yaml", "plan: [unclosed\n").unwrap_err();
    assert_eq!(d[0].code, "E0003", "{d:?}");
}

#[test]
fn generated_workloads_hold() {
    for (rules, keys) in [(1, 1), (7, 3), (40, 16)] {
        let w = yingji_bench::thresholds(rules, keys, 10, 7).unwrap();
        holds("thresholds", &w.source).unwrap();
    }
    for keys in [1, 5] {
        let w = yingji_bench::windows(keys, 10, 11).unwrap();
        holds("windows", &w.source).unwrap();
    }
}

// ---- generated programs, with random layout -------------------------------

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("mm".to_string()),
        (0u32..500).prop_map(|n| n.to_string()),
        Just("站表.阈值".to_string()),
        Just("sum(mm, 3h)".to_string()),
        Just("max(mm, every 1h)".to_string()),
        Just("-mm".to_string()),
        Just("half(mm)".to_string()),
        Just("count(rain where mm > 1)".to_string()),
    ]
}

fn num() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop_oneof![Just("+"), Just("-"), Just("*"), Just("/")],
                inner.clone()
            )
                .prop_map(|(a, o, b)| format!("{a} {o} {b}")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("( {a} - {b} )")),
        ]
    })
}

fn cond() -> impl Strategy<Value = String> {
    let cmp = prop_oneof![Just(">="), Just("<"), Just("=="), Just("!=")];
    let atom = prop_oneof![
        4 => (num(), cmp, num()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        1 => Just("station in [ \"YY-001\" , \"YY-002\" ]".to_string()),
        1 => Just("flag".to_string()),
    ];
    atom.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.prop_map(|a| format!("not ( {a} )")),
        ]
    })
}

fn level_rule() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("red"), Just("橙色"), Just("Ⅲ"), Just("blue")],
        cond(),
        prop_oneof![
            Just(""),
            Just(" for 3 readings"),
            Just(" for 30m"),
            Just(" hold 1h"),
            Just(" clear below 5")
        ],
    )
        .prop_map(|(l, c, o)| format!("level {l} when {c}{o}"))
}

fn program() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(level_rule(), 1..5),
        num(),
        proptest::bool::ANY,
    )
        .prop_map(|(levels, a, one_line)| {
            let body = format!(
                "from rain key station where not flag or station in [\"YY-001\", \"a\\\"b\"] let a = {a} {} \
                 level yellow when mm > 1 clear when mm < 0.5 step down missing 30m lateness 5m \
                 roster [\"YY-001\", \"YY-002\"]",
                levels.join(" ")
            );
            let sig = if one_line {
                format!("signal s {{ {body} }}")
            } else {
                format!("signal s {{\n{body}\n}}")
            };
            format!(
                "event rain {{ station : string , mm : number , flag : bool ? }}\n\
                 table 站表 {{ \"YY-001\" : {{ 阈值 : 10 , 名称 : \"双江\" }} , YY002 : {{ 阈值 : -2.5 }} }}\n\
                 fn half ( x : number ) -> number in rhai limits {{ operations : 100 }} {{ x /  2.0 }}\n\
                 deadlines \"报送\" for rain {{ reported by rain.station due 初报 within 1h repeat 续报 every 24h at \"09:00\" until 结案 when mm > 1 }}\n\
                 roster township {{ 双江街道 , \"青龙 街道\" , }}\n\
                 import \"lib.rhai\" limits {{ operations: 50 }} {{ fn twice ( x : number ) -> number ; fn 三倍(x: number) -> number }}\n\
                 {sig}\n# the end"
            )
        })
}

/// Re-lays a program: each space becomes one of several separators
/// (spaces, tabs, the ideographic space, line breaks, blank lines,
/// comments), never inside a string.
fn relayout(text: &str, seps: &[u8]) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut n = 0;
    for c in text.chars() {
        if c == '"' {
            in_str = !in_str;
        }
        if c == ' ' && !in_str {
            let pick = seps.get(n % seps.len().max(1)).copied().unwrap_or(0);
            n += 1;
            out.push_str(match pick % 10 {
                0..=3 => " ",
                4 => "   ",
                5 => "\t",
                6 => "\n",
                7 => "\n\n\n  ",
                8 => " # 注释 c\n",
                _ => "\u{3000}",
            });
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn generated_programs_hold() {
    let accepted = std::cell::Cell::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let parts = (program(), proptest::collection::vec(any::<u8>(), 1..64));
    let result = runner.run(&parts, |(p, seps)| {
        let text = relayout(&p, &seps);
        let (_, diags) = parse_file(0, &text);
        if diags.iter().all(|d| !d.is_error()) {
            accepted.set(accepted.get() + 1);
            holds("generated", &text).map_err(TestCaseError::fail)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // the generator must reach programs that parse, not only errors
    assert!(
        accepted.get() >= 150,
        "only {} of 200 parse",
        accepted.get()
    );
}

/// A text without its `#` comments (outside strings), so that any space of
/// it may become a line break.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut in_str = false;
            for (i, c) in l.char_indices() {
                match c {
                    '"' => in_str = !in_str,
                    '#' if !in_str => return &l[..i],
                    _ => {}
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn bundled_policies_in_random_layouts_hold() {
    let mut texts = Vec::new();
    for e in std::fs::read_dir(root().join("policies"))
        .unwrap()
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yj") {
            let t = std::fs::read_to_string(&p).unwrap();
            // the rhai body is kept verbatim: leave it out of the re-layout
            if !t.contains("in rhai") {
                texts.push(without_comments(&t));
            }
        }
    }
    assert!(texts.len() >= 5);
    let accepted = std::cell::Cell::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 120,
        ..ProptestConfig::default()
    });
    let parts = (
        proptest::sample::select(texts),
        proptest::collection::vec(any::<u8>(), 1..200),
        proptest::bool::ANY,
    );
    let result = runner.run(&parts, |(t, seps, crlf)| {
        let mut text = relayout(&t, &seps);
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        let (_, diags) = parse_file(0, &text);
        if diags.iter().all(|d| !d.is_error()) {
            accepted.set(accepted.get() + 1);
            holds("bundled, re-laid", &text).map_err(TestCaseError::fail)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        accepted.get() >= 100,
        "only {} of 120 parse",
        accepted.get()
    );
}

#[test]
fn yaml_indentation_becomes_two_spaces_per_level() {
    for f in [
        "flood.yaml",
        "roster.yaml",
        "geohazard.yaml",
        "consultation.yaml",
        "responsibility.yaml",
    ] {
        let text = std::fs::read_to_string(root().join("plans").join(f)).unwrap();
        let canonical = format_file(0, f, &text).unwrap();
        for k in 1..4 {
            // every indented line k columns further right: the same document
            let shifted: String = text
                .lines()
                .map(|l| {
                    if l.starts_with(' ') {
                        format!("{}{l}   \n", " ".repeat(k))
                    } else {
                        format!("{l}  \n")
                    }
                })
                .collect();
            let v = |t: &str| serde_saphyr::from_str::<serde_json::Value>(t).unwrap();
            assert_eq!(
                v(&shifted),
                v(&text),
                "{f}: the test's shift changed the document"
            );
            let out = format_file(0, f, &shifted).unwrap();
            assert_eq!(out, canonical, "{f} shifted by {k}");
        }
    }
    // a block scalar moves with its key; a sequence item's `-   ` becomes `- `
    let text = "plan: x\nsteps:\n    -   id: a\n        note: |\n          line one\n            indented\n    - id: b\n";
    let out = format_file(0, "p.yaml", text).unwrap();
    assert_eq!(
        out,
        "plan: x\nsteps:\n  - id: a\n    note: |\n      line one\n        indented\n  - id: b\n"
    );
}

// ---- the command ----------------------------------------------------------

fn yingji(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run yingji")
}

#[test]
fn the_command_checks_rewrites_and_refuses() {
    let dir = std::env::temp_dir().join(format!("yingji-fmt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let ugly = dir.join("sub/ugly.yj");
    let fine = dir.join("fine.yj");
    let broken = dir.join("broken.yj");
    std::fs::write(&ugly, "event rain {station:string}\n").unwrap();
    std::fs::write(&fine, "event rain { station: string }\n").unwrap();
    let broken_text =
        "event rain { station: string }\nsignal s {\n  from rain\n  level red when mm >= \n}\n";
    std::fs::write(&broken, broken_text).unwrap();
    let d = dir.to_str().unwrap();

    let o = yingji(&["fmt", "--check", d]);
    assert_eq!(o.status.code(), Some(1));
    let listed = String::from_utf8_lossy(&o.stdout);
    assert_eq!(listed.trim(), ugly.display().to_string());
    let err = String::from_utf8_lossy(&o.stderr);
    // the same rendered diagnostic `check` prints for the broken file
    let c = yingji(&["check", broken.to_str().unwrap()]);
    let check_err = String::from_utf8_lossy(&c.stderr);
    let first = check_err.split("\n\n").next().unwrap();
    assert!(first.contains("error[E0001]"), "{check_err}");
    assert!(
        err.contains(first.trim()),
        "fmt:\n{err}\ncheck:\n{check_err}"
    );
    assert_eq!(
        std::fs::read_to_string(&ugly).unwrap(),
        "event rain {station:string}\n",
        "--check writes nothing"
    );

    let o = yingji(&["fmt", d]);
    assert_eq!(o.status.code(), Some(1), "the broken file fails the run");
    assert_eq!(
        std::fs::read_to_string(&ugly).unwrap(),
        "event rain { station: string }\n"
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), broken_text);

    std::fs::remove_file(&broken).unwrap();
    let o = yingji(&["fmt", "--check", d]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = yingji(&["fmt", "--check", dir.join("nosuch.yj").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}
