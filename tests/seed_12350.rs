//! Seed mechanism: 12350 举报 handling (`policies/report_12350.yj`) — events in,
//! exact outputs out: 受理 within 1 day, 核查 within 3 days for a major hidden
//! danger (15 otherwise), 答复举报人 within 2 days after 核查; deadlines inclusive.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::process::Command;

#[test]
fn reports_are_registered_verified_and_answered_or_flagged() {
    let o = Command::new(env!("CARGO_BIN_EXE_yingji"))
        .args([
            "run",
            "policies/report_12350.yj",
            "--events",
            "samples/report_12350.jsonl",
            "--until",
            "2024-09-01T00:00:00+08:00",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {} {} {} due {}{}",
                v["type"].as_str().unwrap(),
                &v["ts"].as_str().unwrap()[5..16],
                v["subject"].as_str().unwrap(),
                v["stage"].as_str().unwrap(),
                &v["due"].as_str().unwrap()[5..16],
                v["late_by"]
                    .as_str()
                    .map(|l| format!(" late by {l}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "report_due 08-01T09:00 JB-001 受理 due 08-02T09:00",
            "report_due 08-01T15:00 JB-001 核查 due 08-04T15:00",
            "report_due 08-02T09:00 JB-002 受理 due 08-03T09:00",
            // JB-002 was registered exactly at its deadline: on time
            "report_due 08-03T09:00 JB-002 核查 due 08-18T09:00",
            "report_missing 08-04T15:00 JB-001 核查 due 08-04T15:00",
            "report_due 08-04T15:00 JB-001 答复举报人 due 08-06T15:00",
            "report_late 08-05T10:00 JB-001 核查 due 08-04T15:00 late by 19h",
            "report_missing 08-06T15:00 JB-001 答复举报人 due 08-06T15:00",
            "report_missing 08-18T09:00 JB-002 核查 due 08-18T09:00",
            "report_due 08-18T09:00 JB-002 答复举报人 due 08-20T09:00",
            "report_missing 08-20T09:00 JB-002 答复举报人 due 08-20T09:00",
        ]
    );
}
