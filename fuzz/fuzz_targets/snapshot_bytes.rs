//! Raw bytes as a state file: restoring never panics; a refused one changes
//! nothing (the engine then writes the fresh snapshot); an accepted one
//! gives an engine that takes events and whose own snapshot restores.
#![no_main]
use libfuzzer_sys::fuzz_target;

const EVENT: &str = r#"{"ts":"2024-07-29T03:00:00+08:00","kind":"rain","station":"YY-004","town":"南溪镇","mm":60}"#;

fuzz_target!(|data: &[u8]| {
    let defs = yingji_fuzz::all_definitions();
    let mut e = defs.engine().unwrap();
    let fresh = e.snapshot();
    match e.restore(data) {
        Err(_) => assert_eq!(e.snapshot(), fresh, "a refused snapshot changed the engine"),
        Ok(_) => {
            let mut out = Vec::new();
            let _ = e.push_line(EVENT, 1, &mut out);
            e.flush(&mut out);
            let again = e.snapshot();
            let mut next = defs.engine().unwrap();
            next.restore(&again)
                .unwrap_or_else(|err| panic!("the engine's own snapshot does not restore: {err}"));
        }
    }
});
