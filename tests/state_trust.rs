//! State files are checked, not trusted (issue #15): a checksum over the
//! document, a consistency check of what it restores, stable fingerprints,
//! and every reset signal named.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use serde_json::Value as Json;
use yingji::unstable::engine::state::{StateError, VERSION, checksum, legacy_fingerprint};
use yingji::{Definitions, Output};

const RAIN: &str = "event rain { station: string, mm: number }\n\
    signal 暴雨预警 {\n  from rain\n  key station\n  let r3 = sum(mm, 3h)\n  let r6 = sum(mm, 6h)\n\
    \x20 level red when r3 >= 100\n  level orange when r3 >= 50\n  level yellow when r6 >= 50\n}\n\
    signal 小雨 { from rain key station level blue when mm >= 1 }\n";

fn defs() -> Definitions {
    Definitions::from_str("rain.yj", RAIN).unwrap_or_else(|e| panic!("{}", e.rendered))
}

/// An engine that has seen 10 readings of 4.76 mm at station A (r3 = r6 = 47.6).
fn snapshot() -> Vec<u8> {
    let mut e = defs().engine().unwrap();
    let mut out: Vec<Output> = Vec::new();
    for i in 0..10 {
        let line = format!(
            r#"{{"ts":"2024-07-29T03:{:02}:00+08:00","kind":"rain","station":"A","mm":4.76}}"#,
            i * 5
        );
        e.push_line(&line, i + 1, &mut out).unwrap();
    }
    e.flush(&mut out);
    e.snapshot()
}

fn doc(bytes: &[u8]) -> Json {
    serde_json::from_slice(bytes).unwrap()
}

/// Sets every running sum of the first window group of station A's
/// 暴雨预警 state (the 3h total first) to `units` millionths.
fn edit_r3(d: &mut Json, units: i64) {
    let sigs = d["signals"]["signals"].as_array_mut().unwrap();
    let s = sigs.iter_mut().find(|s| s["name"] == "暴雨预警").unwrap();
    let key = &mut s["keys"][0][1];
    let total = &mut key["windows"]["groups"][0]["aggs"][0]["Total"];
    assert!(total.is_object(), "layout changed: {key}");
    total["sum"] = units.into();
    key["level"] = "red".into();
}

fn reseal(d: &mut Json) -> Vec<u8> {
    let sum = checksum(d);
    d["checksum"] = sum.into();
    serde_json::to_vec(d).unwrap()
}

#[test]
fn the_snapshot_carries_a_checksum_of_its_contents() {
    let snap = snapshot();
    let d = doc(&snap);
    assert_eq!(d["version"], VERSION);
    let stored = d["checksum"].as_str().unwrap();
    assert_eq!(stored.len(), 16);
    assert_eq!(stored, checksum(&d));
    let mut e = defs().engine().unwrap();
    let report = e.restore(&snap).unwrap();
    assert_eq!(report.kept, ["小雨", "暴雨预警"]);
    assert!(report.reset.is_empty());
}

#[test]
fn an_edited_running_sum_is_refused_by_the_checksum() {
    // the issue: r3 = 107.3 restored while r6 = 47.6, an impossible red
    let mut d = doc(&snapshot());
    edit_r3(&mut d, 107_300_000);
    let edited = serde_json::to_vec(&d).unwrap();
    let mut e = defs().engine().unwrap();
    let err = e.restore(&edited).unwrap_err();
    assert!(matches!(err, StateError::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("state file checksum mismatch: it says "),
        "{msg}"
    );
    assert!(msg.contains("edited or damaged"), "{msg}");
    // nothing changed: the engine is still fresh
    assert_eq!(
        e.level("暴雨预警", "A"),
        yingji::unstable::engine::value::Level::None
    );
}

#[test]
fn an_edited_running_sum_with_a_recomputed_checksum_is_inconsistent() {
    let mut d = doc(&snapshot());
    edit_r3(&mut d, 107_300_000);
    let edited = reseal(&mut d);
    let err = defs().engine().unwrap().restore(&edited).unwrap_err();
    assert!(matches!(err, StateError::Inconsistent(_)), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("signal `暴雨预警`, key `A`")
            && msg.contains(
                "running sum 107.3 over 10 reading(s) does not match its buffer (47.6 over 10)"
            ),
        "{msg}"
    );
}

#[test]
fn a_level_the_signal_cannot_raise_is_inconsistent() {
    let mut d = doc(&snapshot());
    let sigs = d["signals"]["signals"].as_array_mut().unwrap();
    let s = sigs.iter_mut().find(|s| s["name"] == "小雨").unwrap();
    s["keys"][0][1]["level"] = "red".into();
    let edited = reseal(&mut d);
    let err = defs().engine().unwrap().restore(&edited).unwrap_err();
    assert!(
        err.to_string()
            .contains("signal `小雨`, key `A`: level red is not one the signal can raise"),
        "{err}"
    );
}

#[test]
fn a_missing_checksum_in_a_current_snapshot_is_refused() {
    let mut d = doc(&snapshot());
    d.as_object_mut().unwrap().remove("checksum");
    let err = defs()
        .engine()
        .unwrap()
        .restore(&serde_json::to_vec(&d).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("it says none"), "{err}");
}

#[test]
fn a_truncated_or_flipped_file_is_refused() {
    let snap = snapshot();
    let mut e = defs().engine().unwrap();
    assert!(e.restore(&snap[..snap.len() / 2]).is_err());
    // flip one digit inside the document (a reading's time)
    let text = String::from_utf8(snap).unwrap();
    let at = text.find("1722193").unwrap();
    let flipped = format!("{}1722194{}", &text[..at], &text[at + 7..]);
    let err = e.restore(flipped.as_bytes()).unwrap_err();
    assert!(matches!(err, StateError::Checksum { .. }), "{err}");
}

#[test]
fn an_empty_signals_section_names_every_reset_signal() {
    // the issue: `signals: []` restored as "restored", naming no reset signal
    let mut d = doc(&snapshot());
    d["signals"]["signals"] = Json::Array(Vec::new());
    let edited = reseal(&mut d);
    let report = defs().engine().unwrap().restore(&edited).unwrap();
    assert!(report.kept.is_empty(), "{report:?}");
    assert_eq!(report.reset, ["暴雨预警", "小雨"]);
}

#[test]
fn a_version_4_snapshot_without_a_checksum_still_loads_and_migrates_fx_fingerprints() {
    let d0 = defs();
    let program = d0.unstable_program();
    let mut d = doc(&snapshot());
    d.as_object_mut().unwrap().remove("checksum");
    d["version"] = 4.into();
    for s in d["signals"]["signals"].as_array_mut().unwrap() {
        let def = program
            .signals
            .iter()
            .find(|x| x.name == s["name"].as_str().unwrap())
            .unwrap();
        s["fingerprint"] = legacy_fingerprint(def, program).into();
    }
    let v4 = serde_json::to_vec(&d).unwrap();
    let mut e = d0.engine().unwrap();
    let report = e.restore(&v4).unwrap();
    assert_eq!(report.kept, ["小雨", "暴雨预警"]);
    // and it writes the current format back, with XXH3 fingerprints and a checksum
    let again = doc(&e.snapshot());
    assert_eq!(again["version"], VERSION);
    assert_eq!(again["checksum"].as_str().unwrap(), checksum(&again));
    let fresh = doc(&snapshot());
    assert_eq!(again["signals"], fresh["signals"]);
    // a version-4 fingerprint this build cannot reproduce resets the signal, named
    let mut d = doc(&v4);
    d["signals"]["signals"][0]["fingerprint"] = "0123456789abcdef".into();
    let report = d0
        .engine()
        .unwrap()
        .restore(&serde_json::to_vec(&d).unwrap())
        .unwrap();
    assert_eq!(report.kept, ["暴雨预警"]);
    assert_eq!(report.reset, ["小雨"]);
}

#[test]
fn fingerprints_are_pinned() {
    // XXH3-64 over the canonical IR text: the same on every build. A change
    // here means every state file's signals would reset: bump the format
    // and migrate instead.
    let d = doc(&snapshot());
    let fp: Vec<(String, String)> = d["signals"]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["fingerprint"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        fp,
        [
            ("小雨".to_string(), "8dc93ebaa9370b11".to_string()),
            ("暴雨预警".to_string(), "1eac3579ab75b86b".to_string()),
        ]
    );
}

#[test]
fn the_checksum_function_is_pinned() {
    let d: Json = serde_json::from_str(r#"{"b":1,"a":[true,null,"应急"],"checksum":"x"}"#).unwrap();
    assert_eq!(checksum(&d), "1c41e11821eaa51a");
}

#[test]
fn reseal_recomputes_the_checksum_of_a_purposely_edited_snapshot() {
    // the CLI fills in its host section after the snapshot is taken
    let mut e = defs().engine().unwrap();
    e.set_host_state(Some(serde_json::json!({"out_bytes": 12345678901u64})));
    let snap = e.snapshot();
    let text = String::from_utf8(snap).unwrap();
    let edited = text.replace("12345678901", "42");
    assert!(defs().engine().unwrap().restore(edited.as_bytes()).is_err());
    let sealed = yingji::unstable::engine::state::reseal(edited.as_bytes()).unwrap();
    assert_eq!(sealed.len(), edited.len(), "only the checksum changes");
    defs().engine().unwrap().restore(&sealed).unwrap();
    assert!(yingji::unstable::engine::state::reseal(b"{}").is_err());
}

#[test]
fn a_sum_beyond_i64_units_writes_and_restores_exactly() {
    // readings up to ±9e12 are admitted; two of them overflow i64 millionths;
    // on the reference evaluator and on the compiled path (whose flat windows
    // go through the reference store's form, sums beyond i64 as text)
    for compiled in [false, true] {
        let make = || {
            let e = defs().engine().unwrap();
            if compiled { e } else { e.reference_evaluator() }
        };
        let mut e = make();
        let mut out: Vec<Output> = Vec::new();
        for (i, mm) in ["9e12", "8e12", "7e12"].iter().enumerate() {
            let line = format!(
                r#"{{"ts":"2024-07-29T03:{:02}:00+08:00","kind":"rain","station":"B","mm":{mm}}}"#,
                i
            );
            e.push_line(&line, i as u64 + 1, &mut out).unwrap();
        }
        e.flush(&mut out);
        let snap = e.snapshot();
        let d = doc(&snap);
        assert_eq!(d["checksum"].as_str().unwrap(), checksum(&d));
        let text = String::from_utf8_lossy(&snap);
        assert!(text.contains("\"sum\":\"24000000000000000000\""), "{text}");
        let mut back = make();
        back.restore(&snap).unwrap();
        assert_eq!(back.snapshot(), snap);
    }
}

/// `step down` passes through levels without a rule of their own (red →
/// orange → yellow …): a state file restored at such a level is consistent
/// (the restore check once refused it).
#[test]
fn a_step_down_state_between_rules_restores() {
    let src = "event rain { station: string, mm: number }\n\
               signal s { from rain key station\n level red when mm >= 50\n level blue when mm >= 1\n step down }\n";
    let defs =
        yingji::Definitions::from_str("step.yj", src).unwrap_or_else(|e| panic!("{}", e.rendered));
    for reference in [false, true] {
        let make = || {
            let e = defs.engine().unwrap();
            if reference {
                e.reference_evaluator()
            } else {
                e
            }
        };
        let mut e = make();
        let mut out: Vec<Output> = Vec::new();
        for (i, mm) in [60, 0, 0].iter().enumerate() {
            let line = format!(
                r#"{{"ts":"2024-07-29T03:{:02}:00+08:00","kind":"rain","station":"A","mm":{mm}}}"#,
                i * 10
            );
            e.push_line(&line, i as u64 + 1, &mut out).unwrap();
        }
        e.flush(&mut out);
        // red, then one step down to orange, then yellow: levels with no rule
        assert_eq!(e.level("s", "A"), yingji::Level::Yellow, "{out:?}");
        let snap = e.snapshot();
        let mut back = make();
        back.restore(&snap).unwrap();
        assert_eq!(back.snapshot(), snap);
    }
}
