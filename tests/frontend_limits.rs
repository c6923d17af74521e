//! A front end that cannot be crashed: hostile expressions (deep nesting, long
//! chains) in `.yj` policies, YAML `let`s and plan guards give an `E0005`
//! diagnostic at the place the limit is exceeded, never a stack overflow, on
//! a 512 KiB thread (what embedders often give their worker threads). The
//! largest inputs the limits allow load, compile and run on that thread too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use proptest::prelude::*;
use std::process::Command;
use yingji::Definitions;
use yingji::unstable::dsl::limits::{MAX_DEPTH, MAX_TERMS};

const SMALL_STACK: usize = 512 * 1024;

/// Runs `f` on a thread with a 512 KiB stack.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the loading thread panicked")
}

/// What loading gave: `None` if it loaded, else (rendered, codes with
/// `file:line:col`).
fn load_small(name: &'static str, text: String) -> Option<(String, Vec<String>)> {
    on_small_stack(move || match Definitions::from_str(name, &text) {
        Ok(_) => None,
        Err(e) => Some((
            e.rendered.clone(),
            e.diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, e.sources.location(d.span)))
                .collect(),
        )),
    })
}

/// The hostile expressions of the problem report, with the column offset
/// (in the expression, 1-based) and the message of the diagnostic expected.
struct Hostile {
    what: &'static str,
    expr: String,
    /// Byte offset in `expr` where the diagnostic points.
    at: usize,
    message: String,
}

fn deep(open: &str, close: &str, n: usize) -> String {
    format!("{}mm{}", open.repeat(n), close.repeat(n))
}

/// `depth_before`: levels already open around the expression (the signal's
/// `{` in `.yj`, none in YAML).
fn hostile(depth_before: usize) -> Vec<Hostile> {
    let nested = format!("expression nested more than {MAX_DEPTH} levels deep");
    let long = format!("expression has more than {MAX_TERMS} operators");
    let level = MAX_DEPTH - depth_before; // 0-based index of the refused opener
    let sum = |n: usize| vec!["mm"; n].join(" + ");
    vec![
        Hostile {
            what: "9,000 nested parentheses",
            expr: deep("(", ")", 9_000),
            at: level,
            message: nested.clone(),
        },
        Hostile {
            what: "50,000 nested parentheses",
            expr: deep("(", ")", 50_000),
            at: level,
            message: nested.clone(),
        },
        Hostile {
            what: "a 10,000-term sum",
            expr: sum(10_000),
            at: "mm + ".len() * MAX_TERMS + 3,
            message: long.clone(),
        },
        Hostile {
            what: "a 500-term sum",
            expr: sum(500),
            at: "mm + ".len() * MAX_TERMS + 3,
            message: long.clone(),
        },
        Hostile {
            what: "10,000 `not`",
            expr: format!("{}mm > 1", "not ".repeat(10_000)),
            at: 4 * level,
            message: nested.clone(),
        },
        Hostile {
            what: "10,000 unary `-`",
            expr: format!("{}mm", "-".repeat(10_000)),
            at: level,
            message: nested.clone(),
        },
        Hostile {
            what: "10,000 `-(`",
            expr: deep("-(", ")", 10_000),
            at: level,
            message: nested,
        },
        Hostile {
            what: "a 10,000-term `and` chain",
            expr: vec!["mm > 1"; 5_000].join(" and "),
            // operators alternate `>` and `and`: operator 257 is a `>`
            at: "mm > 1 and ".len() * (MAX_TERMS / 2) + 3,
            message: long,
        },
    ]
}

const EVENT_YJ: &str = "event rain { station: string, mm: number }\n";

fn yj_policy(expr: &str) -> String {
    format!(
        "{EVENT_YJ}signal s {{ from rain key station let x = {expr}\n  level red when mm > 1 }}\n"
    )
}

/// 1-based column of byte `at` of the expression in [`yj_policy`]'s line 2.
fn yj_col(at: usize) -> usize {
    "signal s { from rain key station let x = ".len() + at + 1
}

fn yaml_policy(expr: &str) -> String {
    format!(
        "events:\n  rain:\n    station: string\n    mm: number\nsignals:\n  s:\n    from: rain\n    key: station\n    let:\n      x: \"{expr}\"\n    levels:\n      red: mm > 1\n"
    )
}

fn yaml_col(at: usize) -> usize {
    "      x: \"".len() + at + 1
}

#[test]
fn hostile_yj_expressions_are_refused_on_a_small_stack() {
    for h in hostile(1) {
        let got = load_small("hostile.yj", yj_policy(&h.expr));
        let (rendered, codes) = got.unwrap_or_else(|| panic!("{} loaded", h.what));
        assert_eq!(
            codes,
            [format!("E0005 hostile.yj:2:{}", yj_col(h.at))],
            "{}",
            h.what
        );
        assert!(
            rendered.starts_with(&format!("error[E0005]: {}\n --> hostile.yj:2:", h.message)),
            "{}: {rendered}",
            h.what
        );
    }
}

#[test]
fn hostile_yaml_lets_are_refused_on_a_small_stack() {
    for h in hostile(0) {
        let got = load_small("hostile.yaml", yaml_policy(&h.expr));
        let (rendered, codes) = got.unwrap_or_else(|| panic!("{} loaded", h.what));
        assert_eq!(
            codes,
            [format!("E0005 hostile.yaml:10:{}", yaml_col(h.at))],
            "{}",
            h.what
        );
        assert!(
            rendered.starts_with(&format!("error[E0005]: {}\n", h.message)),
            "{}: {rendered}",
            h.what
        );
    }
}

fn plan(guard: &str) -> String {
    format!(
        "plan: 测试预案\ntriggers: [{{ manual: true }}]\nsteps:\n  - id: 研判\n    branch:\n      - {{ when: \"{guard}\", goto: 结束 }}\n      - {{ else: 结束 }}\n  - id: 结束\n    close: {{}}\n"
    )
}

fn plan_col(at: usize) -> usize {
    "      - { when: \"".len() + at + 1
}

#[test]
fn hostile_plan_guards_are_refused_on_a_small_stack() {
    let nested = format!("expression nested more than {MAX_DEPTH} levels deep");
    let long = format!("expression has more than {MAX_TERMS} operators");
    let atom = "level == red";
    let deep = |n: usize| format!("{}{atom}{}", "(".repeat(n), ")".repeat(n));
    let chain = |n: usize, op: &str| vec![atom; n].join(op);
    let cases = [
        ("9,000 parentheses", deep(9_000), MAX_DEPTH, &nested),
        ("50,000 parentheses", deep(50_000), MAX_DEPTH, &nested),
        (
            "10,000 `not`",
            format!("{}{atom}", "not ".repeat(10_000)),
            4 * MAX_DEPTH,
            &nested,
        ),
        // a guard counts its operators like any expression: the comparisons
        // and the `and`s between them; operator 129 is the `==` of atom 65
        (
            "a 10,000-term `and`",
            chain(10_000, " and "),
            (atom.len() + 5) * (MAX_TERMS / 2) + "level ".len(),
            &long,
        ),
        (
            "a 500-term `or`",
            chain(500, " or "),
            (atom.len() + 4) * (MAX_TERMS / 2) + "level ".len(),
            &long,
        ),
    ];
    for (what, guard, at, message) in cases {
        let got = load_small("plan.yaml", plan(&guard));
        let (rendered, codes) = got.unwrap_or_else(|| panic!("{what} loaded"));
        assert_eq!(
            codes,
            [format!("E0005 plan.yaml:6:{}", plan_col(at))],
            "{what}"
        );
        assert!(
            rendered.starts_with(&format!("error[E0005]: {message}\n")),
            "{what}: {rendered}"
        );
    }
    // guards are expressions of the one grammar: 10,000 `-` nest like
    // prefix operators anywhere (the 65th opens level 65)
    let got = load_small(
        "plan.yaml",
        plan(&format!("level == {}1", "-".repeat(10_000))),
    );
    let (_, codes) = got.expect("refused");
    assert_eq!(
        codes,
        [format!("E0005 plan.yaml:6:{}", plan_col(9 + MAX_DEPTH))]
    );
    // at the limits, guards load (64 comparisons and 63 `or`s: 127 operators)
    let ok = format!(
        "{}{}{}",
        "(".repeat(MAX_DEPTH),
        chain(MAX_TERMS / 2, " or "),
        ")".repeat(MAX_DEPTH)
    );
    assert_eq!(load_small("plan.yaml", plan(&ok)), None);
}

/// The largest expressions the limits allow, with `inner` levels of nesting
/// available and `leaf` for an operand.
fn limit_cases(leaf: &str, inner: usize) -> Vec<String> {
    let terms = vec![leaf; MAX_TERMS + 1].join(" + ");
    let wrap = |open: &str, close: &str, n: usize, e: &str| {
        format!("{}{e}{}", open.repeat(n), close.repeat(n))
    };
    vec![
        wrap("(", ")", inner, leaf),
        wrap("abs(", ")", inner, leaf),
        wrap("-", "", inner, leaf),
        wrap("-(", ")", inner / 2, leaf),
        wrap("not ", "", inner, &format!("{leaf} > 1")),
        terms.clone(),
        // the longest chain with the deepest nesting at its far end
        format!(
            "{} + {}",
            vec![leaf; MAX_TERMS].join(" + "),
            wrap("(", ")", inner, leaf)
        ),
        wrap("(", ")", inner, &terms),
        wrap("abs(", ")", inner, &terms),
        wrap("-(", ")", inner / 2, &terms),
    ]
}

/// Assessment criteria lower expressions on their own path
/// (`assess/lower.rs`): the limits' largest expressions there too.
#[test]
fn assessment_expressions_at_the_limits_load_on_a_small_stack() {
    // the assessment's `{` and the leaf's `count(` are two levels
    for expr in limit_cases("count(post)", MAX_DEPTH - 2) {
        let text = format!(
            "roster town {{ 甲镇 }}\nevent post {{ filled: bool }}\nassessment 考核 for town per year {{\n  total 100\n  score 岗位 weight 100 = {expr} else 0\n  grade 优秀 >= 90, else 不合格\n}}\n"
        );
        let short = format!(
            "{} ({} bytes)",
            expr.chars().take(40).collect::<String>(),
            expr.len()
        );
        let codes = on_small_stack(move || {
            Definitions::from_str("assess.yj", &text)
                .err()
                .map(|e| e.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>())
        });
        // `not` over a number is a type error; everything else loads
        assert!(
            codes.as_ref().is_none_or(|c| c == &["E0201"]),
            "{short}: {codes:?}"
        );
    }
}

/// The largest expressions the limits allow: they load, compile to an
/// engine and evaluate, all on the small stack.
#[test]
fn expressions_at_the_limits_load_compile_and_run_on_a_small_stack() {
    let inner = MAX_DEPTH - 1; // the signal's `{` is one level
    for expr in limit_cases("mm", inner) {
        let text = format!(
            "{EVENT_YJ}signal s {{ from rain key station let x = {expr}\n  level red when x == x and mm > 1 }}\n"
        );
        let yaml = yaml_policy(&expr);
        // the same expression as an accident grading rule (assessments lower
        // expressions on their own path); a number where a condition is
        // wanted is a type error, anything else must load
        let grading = format!(
            "event accident {{ deaths: number }}\ngrading 事故等级 of accident as grade {{\n  grade 重大 when {}\n  else 一般\n}}\n",
            expr.replace("mm", "deaths")
        );
        let short = format!(
            "{} ({} bytes)",
            expr.chars().take(40).collect::<String>(),
            expr.len()
        );
        let outputs = on_small_stack(move || {
            let defs = Definitions::from_str("limit.yj", &text)
                .unwrap_or_else(|e| panic!("{short}…: {e}"));
            let out = common::run(&defs, &[common::rain("S1", "08:00", 5.0)]);
            // serde of the IR walks it recursively too; reading it back
            // either works or stops at serde_json's recursion limit
            let json = serde_json::to_string(defs.unstable_program()).expect("serialize");
            let back = serde_json::from_str::<yingji::unstable::engine::Program>(&json);
            assert!(back.is_ok() || json.len() > 1000, "{back:?}");
            let twin = Definitions::from_str("limit.yaml", &yaml).map(|_| ());
            let graded = Definitions::from_str("grading.yj", &grading)
                .err()
                .map(|e| e.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>());
            (out, twin.err().map(|e| e.rendered), graded)
        });
        assert_eq!(outputs.1, None);
        assert!(
            outputs.2.as_ref().is_none_or(|codes| codes == &["E0201"]),
            "{:?}",
            outputs.2
        );
        assert!(!outputs.0.is_empty());
    }
}

#[test]
fn limits_are_per_definition_and_later_definitions_still_load() {
    // two broken definitions are both reported; the good one between them
    // is parsed (its unknown name is found by the checker)
    let text = format!(
        "{EVENT_YJ}signal a {{ from rain key station level red when {} }}\nsignal b {{ from rain key station level red when mmm > 1 }}\nsignal c {{ from rain key station level red when {}mm > 1 }}\n",
        deep("(", ")", 9_000),
        "not ".repeat(100),
    );
    let (_, codes) = load_small("many.yj", text).expect("refused");
    let col = "signal a { from rain key station level red when ".len() + MAX_DEPTH;
    assert_eq!(
        codes,
        [
            format!("E0005 many.yj:2:{col}"),
            format!(
                "E0005 many.yj:4:{}",
                col + 4 * (MAX_DEPTH - 1) - (MAX_DEPTH - 1)
            ),
            "E0101 many.yj:3:49".to_string(),
        ]
    );
}

#[test]
fn yingji_check_exits_1_with_the_diagnostic() {
    let dir = std::env::temp_dir().join(format!("yingji-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hostile.yj");
    std::fs::write(&file, yj_policy(&deep("(", ")", 9_000))).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args(["check", file.to_str().unwrap()])
        .output()
        .expect("run yingji");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error[E0005]: expression nested more than 64 levels deep")
            && err.contains(&format!("hostile.yj:2:{}", yj_col(MAX_DEPTH - 1)))
            && err.contains("level 65 opens here"),
        "{err}"
    );
    // and the same check run in-process on a small stack
    let path = file.clone();
    let codes = on_small_stack(move || {
        Definitions::from_paths(&[path])
            .err()
            .map(|e| e.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>())
    });
    assert_eq!(codes, Some(vec!["E0005"]));
    std::fs::remove_dir_all(&dir).ok();
}

/// One way to grow an expression: wrap it, or put it in a chain.
#[derive(Clone, Debug)]
enum Layer {
    Wrap(&'static str, &'static str, usize),
    Chain(&'static str, usize, usize),
    InList,
}

fn layer() -> impl Strategy<Value = Layer> {
    prop_oneof![
        (0usize..200).prop_map(|n| Layer::Wrap("(", ")", n)),
        (0usize..120).prop_map(|n| Layer::Wrap("not ", "", n)),
        (0usize..120).prop_map(|n| Layer::Wrap("-", "", n)),
        (0usize..100).prop_map(|n| Layer::Wrap("abs(", ")", n)),
        (0usize..80).prop_map(|n| Layer::Wrap("[", "]", n)),
        (
            prop::sample::select(vec![" + ", " and ", " * ", " - ", " or ", " < ", " % "]),
            1usize..600,
            any::<usize>()
        )
            .prop_map(|(op, n, at)| Layer::Chain(op, n, at)),
        Just(Layer::InList),
    ]
}

/// Random expressions built from deep nesting and long chains (their size
/// grows linearly with the layers, not exponentially).
fn random_expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec!["mm", "1", "abs(mm)", "station", "\"YY-1\"", "3h"]);
    (leaf, prop::collection::vec(layer(), 0..6)).prop_map(|(leaf, layers)| {
        let mut e = leaf.to_string();
        for l in layers {
            e = match l {
                Layer::Wrap(open, close, n) => format!("{}{e}{}", open.repeat(n), close.repeat(n)),
                Layer::Chain(op, n, at) => {
                    let mut v = vec!["mm".to_string(); n];
                    if let Some(slot) = v.get_mut(at % n) {
                        *slot = e;
                    }
                    v.join(op)
                }
                Layer::InList => format!("{e} in [1, {e}]"),
            };
        }
        e
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Never a panic or an overflow: each expression loads or is refused
    /// with diagnostics, in `.yj`, in a YAML `let` and on a small stack.
    #[test]
    fn random_deep_and_long_expressions_never_crash(expr in random_expr()) {
        let yj = yj_policy(&expr);
        let yaml = yaml_policy(&expr.replace('"', "\\\""));
        let (a, b) = on_small_stack(move || {
            let a = Definitions::from_str("p.yj", &yj).err().map(|e| e.diagnostics.len());
            let b = Definitions::from_str("p.yaml", &yaml).err().map(|e| e.diagnostics.len());
            (a, b)
        });
        prop_assert!(a.is_none_or(|n| n > 0));
        prop_assert!(b.is_none_or(|n| n > 0));
    }
}
