//! Assessment records (JSONL bytes): reading never panics (bad lines are
//! refused one by one, with their number), and assessing what was read never
//! panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use yingji::unstable::dsl::load::MemLoader;
use yingji::unstable::engine::assess::AssessProgram;

fn program() -> &'static AssessProgram {
    static P: OnceLock<AssessProgram> = OnceLock::new();
    P.get_or_init(|| {
        let sources = yingji_fuzz::bundled()
            .into_iter()
            .filter(|(n, _)| n.starts_with("policies/"))
            .collect();
        yingji::unstable::dsl::assess::load(&MemLoader(sources)).program
    })
}

fuzz_target!(|data: &[u8]| {
    let p = program();
    let set = yingji::unstable::engine::assess::records::read_records_bytes(p, data);
    let lines = data.split(|&b| b == b'\n').count() as u64;
    for r in &set.rejected {
        assert!(r.line >= 1 && r.line <= lines, "line {} of {lines}", r.line);
    }
    let _ = yingji::unstable::engine::assess::eval::run(p, &set.records, None, None);
});
