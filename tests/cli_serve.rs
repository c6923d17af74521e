//! `yingji serve <PATH>... --config serve.yaml`: the subcommand of the main
//! binary (the service itself is tested in `serve/tests/`).
#![allow(clippy::unwrap_used, reason = "test")]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_yingji");

#[test]
fn serve_needs_a_config_and_names_a_bad_field() {
    let out = Command::new(BIN)
        .args(["serve", "policies"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));

    let dir = std::env::temp_dir().join(format!("yingji-cli-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        "state_dir: st\nsinks:\n  - { name: 'a b', kind: file, path: o.jsonl }\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "policies", "plans", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sinks[0].name"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_sample_configuration_parses() {
    let text = std::fs::read_to_string("samples/serve.yaml").unwrap();
    let cfg =
        yingji_serve::config::ServeConfig::parse(std::path::Path::new("samples/serve.yaml"), &text)
            .unwrap();
    assert_eq!(cfg.sources.len(), 2);
    assert!(cfg.http.is_some());
    assert!(cfg.route.is_some());
}
