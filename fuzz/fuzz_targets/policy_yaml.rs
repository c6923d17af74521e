//! Policy YAML: loading never panics, and a clean load validates and makes
//! an engine.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let _ = yingji_fuzz::load_checked(vec![("fuzz.yaml".into(), text)]);
});
