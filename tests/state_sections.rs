//! The snapshot is the shell's section plus one section per operator, so no
//! part of the runtime can keep state outside it: every operator the engine
//! runs is enumerated, its section is present and filled by a stream that
//! exercises it, and a restore at every cut writes the same snapshot back
//! byte for byte and continues exactly as one run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use yingji::{Definitions, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A rhai function that fails on negative input, beside the bundled
/// policies and plans (warnings, absences, 叫应 plans, reporting deadlines).
const PROBE: &str = "event probe { site: string, x: number }\n\
    fn f(x: number) -> number in rhai {\n  if x < 0.0 { throw \"negative\" }\n  x\n}\n\
    signal 探针 {\n  from probe\n  key site\n  let y = f(x)\n  level red when y >= 100\n}\n";

fn defs() -> Definitions {
    // written once per process: the tests run in parallel and read it
    static PROBE_FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let probe = PROBE_FILE
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("yingji-sections-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let probe = dir.join("probe.yj");
            std::fs::write(&probe, PROBE).unwrap();
            probe
        })
        .clone();
    Definitions::from_paths(&[
        std::path::PathBuf::from(format!("{ROOT}/policies")),
        std::path::PathBuf::from(format!("{ROOT}/plans")),
        probe,
    ])
    .unwrap_or_else(|e| panic!("{}", e.rendered))
}

fn stream() -> Vec<String> {
    let mut lines: Vec<String> =
        std::fs::read_to_string(format!("{ROOT}/plans/samples/flood_acks.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
    lines.push(r#"{"kind":"accident","id":"A1","unit":"江口镇","ts":"2024-07-29T04:00:00+08:00","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}"#.into());
    for (i, x) in [-1.0, 5.0, -2.0, -3.0, 150.0, -4.0].iter().enumerate() {
        lines.push(format!(
            r#"{{"ts":"2024-07-29T04:{:02}:00+08:00","kind":"probe","site":"P","x":{x:?}}}"#,
            10 + i
        ));
    }
    // keep event time moving past the deadlines and the plan timers
    for m in (30..=300).step_by(15) {
        lines.push(format!(
            r#"{{"ts":"2024-07-29T{:02}:{:02}:00+08:00","kind":"rain","station":"YY-001","town":"南溪镇","mm":0}}"#,
            4 + m / 60,
            m % 60
        ));
    }
    lines.sort_by(|a, b| ts_of(a).cmp(ts_of(b)));
    lines
}

fn ts_of(line: &str) -> &str {
    let at = line.find(r#""ts":""#).unwrap() + 6;
    &line[at..at + 25]
}

fn run(cut: Option<usize>) -> (Vec<String>, Vec<u8>) {
    let d = defs();
    let lines = stream();
    let mut e = d.engine().unwrap();
    let mut out: Vec<Output> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if Some(i) == cut {
            let snap = e.snapshot();
            let mut fresh = d.engine().unwrap();
            fresh.restore(&snap).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&fresh.snapshot()),
                String::from_utf8_lossy(&snap),
                "cut {i}: a restored engine writes back the same snapshot"
            );
            e = fresh;
        }
        e.push_line(l, i as u64 + 1, &mut out)
            .unwrap_or_else(|err| panic!("line {}: {err}", i + 1));
    }
    let snap = e.snapshot();
    e.flush(&mut out);
    (out.iter().map(Output::to_json).collect(), snap)
}

#[test]
fn every_operator_has_its_section_and_the_sections_are_the_whole_state() {
    let d = defs();
    let e = d.engine().unwrap();
    let ops = e.operators();
    let names: Vec<&str> = ops.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["signals", "scripts", "plans", "deadlines"]);
    let (outputs, snap) = run(None);
    let doc: serde_json::Value = serde_json::from_slice(&snap).unwrap();
    // the document is the shell's section and the operators' sections, nothing else
    let mut top: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    top.sort_unstable();
    let mut want: Vec<&str> = vec!["format", "version", "checksum", "shell"];
    want.extend(
        ops.iter()
            .filter(|(_, s)| !s.contains('.'))
            .map(|(_, s)| *s),
    );
    want.sort_unstable();
    assert_eq!(top, want);
    // each operator's section holds what the stream gave it
    let section = |path: &str| -> &serde_json::Value { path.split('.').fold(&doc, |v, k| &v[k]) };
    for (name, path) in &ops {
        let v = section(path);
        let filled = match *name {
            "signals" => v["signals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| !s["keys"].as_array().unwrap().is_empty()),
            "scripts" => !v["functions"].as_array().unwrap().is_empty(),
            "plans" => v["next_no"].as_u64().unwrap() > 0,
            "deadlines" => v["now"].as_i64().unwrap() > 0,
            other => panic!("operator {other} is not checked here: add it"),
        };
        assert!(filled, "operator {name}: section {path} is empty: {v}");
    }
    for t in [
        "level_changed",
        "absence",
        "notify",
        "acked",
        "script_error",
        "report_due",
    ] {
        assert!(
            outputs
                .iter()
                .any(|o| o.contains(&format!(r#""type":"{t}""#))),
            "the stream exercises {t}"
        );
    }
}

#[test]
fn a_restore_at_every_cut_continues_exactly_as_one_run() {
    let (whole, _) = run(None);
    for cut in 0..stream().len() {
        assert_eq!(run(Some(cut)).0, whole, "cut before line {}", cut + 1);
    }
}

mod random_streams {
    //! Random streams over every operator at once: gauge readings (warnings,
    //! absences, the flood plan and its 叫应 chain), acks from the roster's
    //! people, accident and report records (reporting deadlines), probe
    //! readings whose script fails on negative input (the script reporter).
    //! Cutting such a stream at any point with snapshot/restore gives
    //! byte-identical outputs to one run, ids included.
    use super::*;
    use proptest::prelude::*;

    fn at(minute: u32) -> String {
        format!("2024-07-29T{:02}:{:02}:00+08:00", minute / 60, minute % 60)
    }

    fn line() -> impl Strategy<Value = (u32, String)> {
        let stations = prop::sample::select(vec!["YY-001", "YY-002", "YY-004"]);
        let towns = prop::sample::select(vec!["南溪镇", "江口镇"]);
        let people = prop::sample::select(vec!["C001", "C002", "NX01", "NX11", "JK01", "NX12"]);
        let stages = prop::sample::select(vec!["单位报县", "县报市", "续报", "结案"]);
        let minute = 0u32..360;
        prop_oneof![
            5 => (minute.clone(), stations, towns, 0u32..60).prop_map(|(m, s, t, mm)| (m, format!(
                r#"{{"ts":"{}","kind":"rain","station":"{s}","town":"{t}","mm":{mm}}}"#, at(m)))),
            2 => (minute.clone(), people).prop_map(|(m, p)| (m, format!(
                r#"{{"ts":"{}","kind":"ack","person":"{p}"}}"#, at(m)))),
            1 => (minute.clone(), 0u32..3).prop_map(|(m, a)| (m, format!(
                r#"{{"kind":"accident","id":"A{a}","unit":"江口镇","ts":"{}","category":"建筑施工","deaths":1,"serious_injuries":0,"loss_wan":50}}"#, at(m)))),
            1 => (minute.clone(), 0u32..3, stages, 0u32..1000).prop_map(|(m, a, st, n)| (m, format!(
                r#"{{"kind":"report","id":"R{n}","unit":"江口镇","ts":"{}","about":"A{a}","stage":"{st}"}}"#, at(m)))),
            2 => (minute, -3i32..3).prop_map(|(m, x)| (m, format!(
                r#"{{"ts":"{}","kind":"probe","site":"P","x":{x}}}"#, at(m)))),
        ]
    }

    fn run_lines(d: &Definitions, lines: &[String], cut: Option<usize>) -> Vec<String> {
        let mut e = d.engine().unwrap();
        let mut out: Vec<Output> = Vec::new();
        let mut said = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if Some(i) == cut {
                let snap = e.snapshot();
                e = d.engine().unwrap();
                e.restore(&snap).unwrap();
            }
            if let Err(err) = e.push_line(l, i as u64 + 1, &mut out) {
                said.push(format!("line {}: {err}", i + 1));
            }
            said.extend(out.drain(..).map(|o| o.to_json()));
        }
        e.flush(&mut out);
        said.extend(out.drain(..).map(|o| o.to_json()));
        said
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn a_cut_anywhere_gives_byte_identical_outputs(
            mut lines in prop::collection::vec(line(), 1..60),
            cut in any::<prop::sample::Index>(),
        ) {
            // roughly in time order, with some lines out of order within the lateness
            lines.sort_by_key(|(m, _)| *m);
            let lines: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
            let d = defs();
            let whole = run_lines(&d, &lines, None);
            let cut = cut.index(lines.len() + 1);
            prop_assert_eq!(run_lines(&d, &lines, Some(cut)), whole, "cut before line {}", cut + 1);
        }
    }
}
