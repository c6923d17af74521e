//! Shared pieces of the fuzz targets: the bundled definitions (compiled in,
//! so a target needs no files at run time), and the properties several
//! targets check. Every property failure is a panic (what libFuzzer reports).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "fuzz harness: a failed property is a panic"
)]

use std::sync::OnceLock;
use yingji::unstable::dsl::load::MemLoader;
use yingji::{Definitions, Engine, Output};

/// The bundled policies and plans, as `(name, text)`.
pub fn bundled() -> Vec<(String, String)> {
    [
        (
            "policies/rainstorm.yj",
            include_str!("../../policies/rainstorm.yj"),
        ),
        ("policies/river.yj", include_str!("../../policies/river.yj")),
        (
            "policies/landslide.yj",
            include_str!("../../policies/landslide.yj"),
        ),
        (
            "policies/accident_grade.yj",
            include_str!("../../policies/accident_grade.yj"),
        ),
        (
            "policies/report_deadlines.yj",
            include_str!("../../policies/report_deadlines.yj"),
        ),
        (
            "policies/township_assessment.yj",
            include_str!("../../policies/township_assessment.yj"),
        ),
        ("plans/flood.yaml", include_str!("../../plans/flood.yaml")),
        (
            "plans/geohazard.yaml",
            include_str!("../../plans/geohazard.yaml"),
        ),
        (
            "plans/responsibility.yaml",
            include_str!("../../plans/responsibility.yaml"),
        ),
        ("plans/roster.yaml", include_str!("../../plans/roster.yaml")),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t.to_string()))
    .collect()
}

/// Everything bundled, loaded once.
pub fn all_definitions() -> &'static Definitions {
    static DEFS: OnceLock<Definitions> = OnceLock::new();
    DEFS.get_or_init(|| {
        Definitions::load(&MemLoader(bundled())).unwrap_or_else(|e| panic!("{}", e.rendered))
    })
}

/// Loads `(name, text)` sources; a clean load must give a program that
/// validates and makes engines (lowered programs always validate).
pub fn load_checked(sources: Vec<(String, String)>) -> Option<Definitions> {
    let loaded = yingji::unstable::dsl::load::load(&MemLoader(sources.clone()));
    // rendering every diagnostic must not panic either (spans inside their files)
    let _ = loaded.render();
    if loaded.has_errors() {
        return None;
    }
    let defs = Definitions::load(&MemLoader(sources)).ok()?;
    if let Err(e) = defs.unstable_program().validate() {
        panic!("a clean load gave an invalid program: {e}");
    }
    defs.engine()
        .unwrap_or_else(|e| panic!("a clean load gave no engine: {e}"));
    Some(defs)
}

/// What a run produced: every output as JSON, and every refused line's
/// number and reason.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    /// Outputs, as JSON lines.
    pub outputs: Vec<String>,
    /// `(line number, reason)` of each refused line.
    pub refused: Vec<(u64, String)>,
}

fn push_all(e: &mut Engine, lines: &[&str], first: u64, run: &mut Run) {
    let mut out: Vec<Output> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let n = first + i as u64;
        if let Err(err) = e.push_line(l, n, &mut out) {
            run.refused.push((n, err.to_string()));
        }
        run.outputs.extend(out.drain(..).map(|o| o.to_json()));
    }
}

/// Runs `lines` through a fresh engine (`reference`: forced onto the
/// reference evaluator); with `cut`, snapshots after that many lines and
/// goes on in a new engine restored from the snapshot.
pub fn run(defs: &Definitions, lines: &[&str], reference: bool, cut: Option<usize>) -> Run {
    let fresh = || {
        let e = defs.engine().unwrap();
        if reference {
            e.reference_evaluator()
        } else {
            e
        }
    };
    let mut e = fresh();
    let mut r = Run {
        outputs: Vec::new(),
        refused: Vec::new(),
    };
    let cut = cut.unwrap_or(lines.len()).min(lines.len());
    let (head, tail) = lines.split_at(cut);
    push_all(&mut e, head, 1, &mut r);
    if !tail.is_empty() || cut < lines.len() {
        let snap = e.snapshot();
        let mut next = fresh();
        next.restore(&snap)
            .unwrap_or_else(|err| panic!("a snapshot of a live engine does not restore: {err}"));
        assert_eq!(
            String::from_utf8_lossy(&next.snapshot()),
            String::from_utf8_lossy(&snap),
            "a restored engine writes back another snapshot"
        );
        e = next;
    }
    push_all(&mut e, tail, cut as u64 + 1, &mut r);
    let mut out = Vec::new();
    e.flush(&mut out);
    r.outputs.extend(out.iter().map(|o| o.to_json()));
    r
}

/// The event-stream properties: the compiled and the reference evaluator
/// agree, and a run split at `cut` by snapshot/restore equals the whole run.
pub fn check_stream(defs: &Definitions, lines: &[&str], cut: usize) {
    let whole = run(defs, lines, false, None);
    let reference = run(defs, lines, true, None);
    assert_eq!(whole, reference, "compiled and reference evaluators differ");
    let split = run(defs, lines, false, Some(cut));
    assert_eq!(
        whole, split,
        "a run split at line {cut} differs from the whole run"
    );
}

/// Lines of `data` (at most `max`), as text; lines that are not UTF-8 are
/// replaced lossily (the CLI rejects them before the engine sees them).
pub fn lines(data: &[u8], max: usize) -> Vec<String> {
    data.split(|&b| b == b'\n')
        .take(max)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}
