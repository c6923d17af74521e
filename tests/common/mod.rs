//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a subset")]

use yingji::{Definitions, Output};

/// Loads definitions or fails the test with the rendered diagnostics.
pub fn defs(name: &str, text: &str) -> Definitions {
    match Definitions::from_str(name, text) {
        Ok(d) => d,
        Err(e) => panic!("definitions did not load:\n{e}"),
    }
}

/// Runs JSONL lines through an engine; every line must be accepted.
pub fn run(defs: &Definitions, lines: &[String]) -> Vec<String> {
    let mut engine = defs.engine().expect("valid program");
    let mut out: Vec<Output> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Err(e) = engine.push_line(l, i as u64 + 1, &mut out) {
            panic!("line {} rejected: {e}\n{l}", i + 1);
        }
    }
    engine.flush(&mut out);
    out.iter().map(Output::to_json).collect()
}

/// A rain reading at `hh:mm` on 2024-07-29 (+08:00).
pub fn rain(station: &str, hhmm: &str, mm: f64) -> String {
    format!(
        r#"{{"ts":"2024-07-29T{hhmm}:00+08:00","kind":"rain","station":"{station}","town":"江口镇","mm":{mm}}}"#
    )
}

/// The bundled rainstorm policy.
pub fn rainstorm() -> Definitions {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/rainstorm.yj"
    ))
    .expect("policy file");
    defs("policies/rainstorm.yj", &text)
}
