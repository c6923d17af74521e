//! Plan YAML next to the bundled policies (so guards can name real signals):
//! loading never panics, and a clean load validates and makes an engine
//! that takes a few events without panicking.
#![no_main]
use libfuzzer_sys::fuzz_target;

const EVENTS: &[&str] = &[
    r#"{"ts":"2024-07-29T03:00:00+08:00","kind":"rain","station":"YY-004","town":"南溪镇","mm":60}"#,
    r#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","station":"YY-004","town":"南溪镇","mm":60}"#,
    r#"{"ts":"2024-07-29T04:30:00+08:00","kind":"rain","station":"YY-001","town":"青龙镇","mm":0}"#,
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources: Vec<(String, String)> = yingji_fuzz::bundled()
        .into_iter()
        .filter(|(n, _)| n.ends_with(".yj"))
        .collect();
    sources.push(("plans/fuzz.yaml".into(), text));
    if let Some(defs) = yingji_fuzz::load_checked(sources) {
        let _ = yingji_fuzz::run(&defs, EVENTS, false, None);
    }
});
