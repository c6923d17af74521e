//! The one `Config`: the JSON API (`api::Defs::engine_with`) rejects each
//! bad value with `ErrorCode::Config` naming the setting; settings change
//! what the engine does (the far-ahead guard after an outage); a restore
//! under settings the state depends on (lateness, duplicates by kind, key
//! and time) is refused, from the API, the Rust API and the CLI alike.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use yingji::api::{Defs, ErrorCode};
use yingji::{Config, Definitions, EngineError, StateError};

const RAIN: &str = "event rain { station: string, mm: number }\n\
    signal s { from rain key station let r = sum(mm, 1h) level red when r >= 10 }\n\
    signal 失联 { from rain key station missing 2h }";

fn rain(ts: &str, station: &str, mm: f64) -> String {
    format!(r#"{{"ts":"{ts}","kind":"rain","station":"{station}","mm":{mm}}}"#)
}

#[test]
fn each_bad_value_is_a_config_error_naming_its_setting() {
    let defs = Defs::from_text("a.yj", RAIN);
    for (json, field) in [
        (r#"{"lateness":"5"}"#, "lateness"),
        (r#"{"lateness":"-5m"}"#, "lateness"),
        (r#"{"lateness":"367d"}"#, "lateness"),
        (r#"{"late":"drop"}"#, "late"),
        (r#"{"dedupe_kind_key_ts":1}"#, "dedupe_kind_key_ts"),
        (r#"{"max_ahead":"0m"}"#, "max_ahead"),
        (r#"{"max_ahead":"1 day"}"#, "max_ahead"),
        (r#"{"idle_ttl":"0s"}"#, "idle_ttl"),
        // fine alone, but shorter than the signal's `missing 2h`
        (r#"{"idle_ttl":"1h"}"#, "idle_ttl"),
        (r#"{"max_line":0}"#, "max_line"),
        (r#"{"max_line":"big"}"#, "max_line"),
        (r#"{"lateness_ms":300000}"#, "lateness_ms"),
    ] {
        let err = defs.engine_with(json).unwrap_err();
        assert_eq!(err.code, ErrorCode::Config, "{json}: {}", err.message);
        assert!(
            err.message.contains(&format!("`{field}`")),
            "{json}: {}",
            err.message
        );
        assert!(
            err.to_json().contains(r#""code":"config","#),
            "{}",
            err.to_json()
        );
    }
    for not_an_object in ["", "[]", "\"5m\"", "{"] {
        let err = defs.engine_with(not_an_object).unwrap_err();
        assert_eq!(err.code, ErrorCode::Config, "{not_an_object}");
        assert!(
            err.message
                .starts_with("the configuration is not a JSON object"),
            "{}",
            err.message
        );
    }
    // definitions that did not compile are still that, whatever the config
    let bad = Defs::from_text("bad.yj", "event rain { mm: numbr }");
    assert_eq!(
        bad.engine_with("{}").unwrap_err().code,
        ErrorCode::Definitions
    );
}

#[test]
fn the_rust_api_refuses_the_same_values() {
    let defs = Definitions::from_str("a.yj", RAIN).unwrap();
    let c = Config {
        max_line: 0,
        ..Config::default()
    };
    let Err(EngineError::Config(e)) = defs.engine_with(c) else {
        panic!("accepted max_line 0")
    };
    assert_eq!(e.field(), Some("max_line"));
    let c = Config {
        idle_ttl_ms: Some(3_600_000),
        ..Config::default()
    };
    let Err(EngineError::Config(e)) = defs.engine_with(c) else {
        panic!("accepted an idle_ttl shorter than `missing`")
    };
    assert_eq!(e.field(), Some("idle_ttl"));
    assert!(e.to_string().contains("signal `失联`"), "{e}");
}

/// Two stations report, then the link is down for three days: with the
/// default one-day far-ahead guard every later event is refused
/// (`clock_suspect`); restored with `max_ahead: "7d"` they are accepted.
#[test]
fn a_larger_far_ahead_guard_lets_a_state_resume_after_an_outage() {
    let defs = Defs::from_text("a.yj", RAIN);
    let mut before = defs.engine().unwrap();
    before
        .push(&rain("2024-07-29T01:00:00+08:00", "A", 1.0))
        .unwrap();
    before
        .push(&rain("2024-07-29T01:00:00+08:00", "B", 1.0))
        .unwrap();
    let state = before.snapshot().unwrap();
    let later: Vec<String> = (0..48)
        .map(|i| {
            let station = if i % 2 == 0 { "A" } else { "B" };
            rain(
                &format!("2024-08-01T{:02}:00:00+08:00", i / 2),
                station,
                0.0,
            )
        })
        .collect();

    let mut strict = defs.engine().unwrap();
    strict.restore(&state).unwrap();
    let refused = later.iter().filter(|l| strict.push(l).is_err()).count();
    assert_eq!(
        refused, 48,
        "the default guard refuses every event after the gap"
    );

    let mut relaxed = defs.engine_with(r#"{"max_ahead":"7d"}"#).unwrap();
    relaxed.restore(&state).unwrap();
    for l in &later {
        relaxed
            .push(l)
            .unwrap_or_else(|e| panic!("{l}: {}", e.message));
    }
    assert!(relaxed.config_json().contains(r#""max_ahead":"7d""#));
}

#[test]
fn a_state_is_not_restored_under_another_lateness_or_dedupe() {
    let defs = Defs::from_text("a.yj", RAIN);
    let mut first = defs.engine().unwrap();
    first
        .push(&rain("2024-07-29T01:00:00+08:00", "A", 6.0))
        .unwrap();
    let state = first.snapshot().unwrap();

    let mut other = defs.engine_with(r#"{"lateness":"10m"}"#).unwrap();
    let err = other.restore(&state).unwrap_err();
    assert_eq!(err.code, ErrorCode::State);
    assert!(
        err.message.starts_with(
            "the state was taken with lateness = 5m, this engine runs with lateness = 10m"
        ),
        "{}",
        err.message
    );
    assert_eq!(other.events(), 0, "a refused restore changes nothing");

    let mut other = defs.engine_with(r#"{"dedupe_kind_key_ts":true}"#).unwrap();
    let err = other.restore(&state).unwrap_err();
    assert_eq!(err.code, ErrorCode::State);
    assert!(
        err.message.contains("dedupe_kind_key_ts = false"),
        "{}",
        err.message
    );

    // the late policy, the guard and max_line may change
    let mut other = defs
        .engine_with(r#"{"late":"apply","max_ahead":"off","max_line":4096}"#)
        .unwrap();
    assert_eq!(
        other.restore(&state).unwrap(),
        r#"{"kept":["s","失联"],"reset":[]}"#
    );

    // the Rust API says the same with a typed error
    let d = Definitions::from_str("a.yj", RAIN).unwrap();
    let snap = d.engine().unwrap().snapshot();
    let mut e = d
        .engine_with(Config {
            lateness_ms: 0,
            ..Config::default()
        })
        .unwrap();
    match e.restore(&snap) {
        Err(StateError::Settings {
            field,
            snapshot,
            now,
        }) => assert_eq!(
            (field, snapshot.as_str(), now.as_str()),
            ("lateness", "5m", "0ms")
        ),
        other => panic!("{other:?}"),
    }
}

/// `yingji run --state`: a rerun with another `--lateness` is refused with
/// the message, exit 1, and nothing written.
#[test]
fn the_cli_refuses_a_state_under_another_lateness() {
    let dir = std::env::temp_dir().join(format!("yingji-api-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("a.yj");
    std::fs::write(&policy, RAIN).unwrap();
    let events = dir.join("e.jsonl");
    std::fs::write(&events, rain("2024-07-29T01:00:00+08:00", "A", 6.0) + "\n").unwrap();
    let state = dir.join("s.json");
    let run = |lateness: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_yingji"))
            .args(["run"])
            .arg(&policy)
            .arg("--events")
            .arg(&events)
            .arg("--state")
            .arg(&state)
            .args(["--lateness", lateness])
            .output()
            .unwrap()
    };
    let first = run("5m");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = run("10m");
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(
            "the state was taken with lateness = 5m, this engine runs with lateness = 10m"
        ),
        "{err}"
    );
    assert!(second.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
