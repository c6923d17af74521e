//! Every example of `docs/reference.md` is checked: `yj` blocks load alone,
//! `yaml` blocks load with the bundled policies (and roster), and `events`
//! blocks run through their section's definitions and produce the outputs
//! their `outputs` block lists (see the reference's introduction).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use serde_json::Value;
use yingji::Definitions;
use yingji::unstable::dsl::load::MemLoader;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Block {
    lang: String,
    text: String,
    line: usize,
}

/// The fenced blocks of each `##` section.
fn sections(md: &str) -> Vec<(String, Vec<Block>)> {
    let mut out: Vec<(String, Vec<Block>)> = vec![("(top)".into(), Vec::new())];
    let mut open: Option<Block> = None;
    for (i, line) in md.lines().enumerate() {
        if let Some(b) = open.as_mut() {
            if line.starts_with("```") {
                let b = open.take().unwrap();
                out.last_mut().unwrap().1.push(b);
            } else {
                b.text.push_str(line);
                b.text.push('\n');
            }
            continue;
        }
        if let Some(h) = line.strip_prefix("## ") {
            out.push((h.to_string(), Vec::new()));
        } else if let Some(lang) = line.strip_prefix("```") {
            open = Some(Block {
                lang: lang.trim().to_string(),
                text: String::new(),
                line: i + 1,
            });
        }
    }
    out
}

fn bundled_policies() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(format!("{ROOT}/policies")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yj" || x == "rhai") {
            let name = format!("policies/{}", p.file_name().unwrap().to_string_lossy());
            v.push((name, std::fs::read_to_string(&p).unwrap()));
        }
    }
    v.sort();
    v
}

fn roster() -> (String, String) {
    (
        "plans/roster.yaml".into(),
        std::fs::read_to_string(format!("{ROOT}/plans/roster.yaml")).unwrap(),
    )
}

fn load(files: Vec<(String, String)>, what: &str) -> Definitions {
    match Definitions::load(&MemLoader(files)) {
        Ok(d) => d,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// `want` is contained in `got`: every member of an object, every element of
/// an array (same length), numbers compared as numbers.
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| contains(gv, wv))),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => got == want,
    }
}

#[test]
fn every_example_of_the_reference_is_checked() {
    let md = std::fs::read_to_string(format!("{ROOT}/docs/reference.md")).unwrap();
    let (mut defs_checked, mut runs) = (0, 0);
    for (title, blocks) in sections(&md) {
        let mut files: Vec<(String, String)> = Vec::new();
        let mut has_yaml = false;
        let mut has_roster = false;
        let mut produced: Option<Vec<Value>> = None;
        for b in &blocks {
            let name = format!("docs/reference.md:{}", b.line);
            match b.lang.as_str() {
                "yj" => {
                    load(vec![(format!("{name}.yj"), b.text.clone())], &name);
                    files.push((format!("{name}.yj"), b.text.clone()));
                    defs_checked += 1;
                }
                "yaml" => {
                    let is_roster = b.text.starts_with("roster:");
                    let mut all = bundled_policies();
                    if !is_roster {
                        all.push(roster());
                    }
                    all.push((format!("{name}.yaml"), b.text.clone()));
                    load(all, &name);
                    files.push((format!("{name}.yaml"), b.text.clone()));
                    has_yaml = true;
                    has_roster |= is_roster;
                    defs_checked += 1;
                }
                "events" => {
                    let mut all = files.clone();
                    if has_yaml {
                        all.extend(bundled_policies());
                        if !has_roster {
                            all.push(roster());
                        }
                    }
                    let defs = load(all, &format!("{title}: definitions"));
                    let mut engine = defs.engine().unwrap();
                    let mut out = Vec::new();
                    for (i, line) in b.text.lines().enumerate() {
                        engine
                            .push_line(line, i as u64 + 1, &mut out)
                            .unwrap_or_else(|e| panic!("{name}: line {}: {e}", i + 1));
                    }
                    engine.flush(&mut out);
                    produced = Some(
                        out.iter()
                            .map(|o| serde_json::from_str(&o.to_json()).unwrap())
                            .collect(),
                    );
                    runs += 1;
                }
                "outputs" => {
                    let got = produced
                        .take()
                        .unwrap_or_else(|| panic!("{name}: outputs without events"));
                    let mut from = 0;
                    for want in b.text.lines() {
                        let want: Value = serde_json::from_str(want).unwrap();
                        match got.iter().skip(from).position(|g| contains(g, &want)) {
                            Some(p) => from += p + 1,
                            None => panic!(
                                "{name} ({title}): no output {want} after output {from}; got:\n{}",
                                got.iter()
                                    .map(Value::to_string)
                                    .collect::<Vec<_>>()
                                    .join("\n")
                            ),
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert!(defs_checked >= 9 && runs >= 5, "{defs_checked} {runs}");
}
