//! Event lines over every bundled policy and plan: pushing never panics,
//! the compiled and the reference evaluator give the same outputs and
//! refusals, and a run cut anywhere by snapshot/restore equals the whole run.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let lines = yingji_fuzz::lines(rest, 64);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let cut = usize::from(cut) % (lines.len() + 1);
    yingji_fuzz::check_stream(yingji_fuzz::all_definitions(), &lines, cut);
});
