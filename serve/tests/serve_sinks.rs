//! The webhook sink against a small HTTP server of the test's own (a 503
//! is retried with backoff and nothing is lost, a 400 is a refusal for
//! good and skipped, every request carries its `Idempotency-Key`), standard
//! input as a source, and a reload by SIGHUP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the webhook got: (Idempotency-Key, body, status answered).
type Got = Arc<Mutex<Vec<(String, String, u16)>>>;

/// Answers 503 to the first request, 400 to bodies with `"key":"B"`, 200 otherwise.
fn webhook() -> (u16, Got) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Got = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut key = String::new();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 {
                    break;
                }
                let h = h.trim_end().to_string();
                if h.is_empty() {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("idempotency-key:") {
                    key = v.trim().to_string();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            if r.read_exact(&mut body).is_err() {
                continue;
            }
            let body = String::from_utf8_lossy(&body).to_string();
            let mut g = g.lock().unwrap();
            let status = if g.is_empty() {
                503
            } else if body.contains("\"key\":\"B\"") {
                400
            } else {
                200
            };
            g.push((key, body, status));
            drop(g);
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (port, got)
}

#[test]
fn webhook_retries_a_503_skips_a_400_and_sends_idempotency_keys() {
    let dir = tmp("webhook");
    let defs = defs(&dir);
    let (hook, got) = webhook();
    let port = free_port();
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nlateness: 1s\ntick: 200ms\n\
             http:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n\
             sinks:\n  - name: hook\n    kind: webhook\n    url: http://127.0.0.1:{hook}/alerts\n    types: [level_changed]\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    let svc = Service::start(&dir, &defs, &cfg, port);
    let lines = [
        rain(&now_ts(0), "A", "南溪镇", 20.0),
        rain(&now_ts(0), "B", "南溪镇", 20.0),
        rain(&now_ts(0), "C", "江口镇", 20.0),
    ]
    .join("\n");
    let (code, _) = svc.json("POST", "/events", &lines);
    assert_eq!(code, 202);
    wait_until(
        Duration::from_secs(20),
        "three level changes delivered",
        || {
            let g = got.lock().unwrap();
            g.iter().filter(|r| r.2 != 503).count() == 3
        },
    );
    let g = got.lock().unwrap().clone();
    // the first answer was 503: that record came again
    assert_eq!(g[0].2, 503);
    assert_eq!(g[0].0, g[1].0, "retried with the same Idempotency-Key");
    let ok: Vec<&(String, String, u16)> = g.iter().filter(|r| r.2 == 200).collect();
    assert_eq!(ok.len(), 2, "{g:?}");
    for (key, body, _) in &ok {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["id"].to_string(), *key);
    }
    let (_, metrics) = svc.http("GET", "/metrics", None, "");
    assert!(
        metrics.contains("yingji_sink_refused_total{sink=\"hook\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("yingji_sink_failures_total{sink=\"hook\"} 1"),
        "{metrics}"
    );
    assert!(svc.logs().contains("refused the record for good"));
    svc.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn standard_input_and_a_reload_by_sighup() {
    let dir = tmp("stdin");
    let defs = defs(&dir);
    let out = dir.join("out.jsonl");
    let port = free_port();
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nlateness: 1s\ntick: 200ms\n\
             http:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n\
             sources:\n  - kind: stdin\n\
             sinks:\n  - name: out\n    kind: file\n    path: {}\n",
            dir.join("state").display(),
            out.display()
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let mut child = std::process::Command::new(BIN)
        .arg(&defs)
        .arg("--config")
        .arg(&cfg)
        .stdin(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", rain(&now_ts(0), "A", "南溪镇", 6.0)).unwrap();
    writeln!(stdin, "[not an event]").unwrap();
    stdin.flush().unwrap();
    wait_until(
        Duration::from_secs(10),
        "the yellow from standard input",
        || {
            read_jsonl(&out)
                .iter()
                .any(|o| o["type"] == "level_changed")
        },
    );
    let (_, metrics) = try_http(port, "GET", "/metrics", None, "").unwrap();
    assert!(
        metrics.contains("yingji_events_rejected_total{source=\"stdin\",reason=\"not_json\"} 1"),
        "{metrics}"
    );

    // SIGHUP: the changed signal is named in the log and in a record
    let text = std::fs::read_to_string(defs.join("rain.yj")).unwrap();
    std::fs::write(
        defs.join("rain.yj"),
        text.replace("missing 30s", "missing 45s"),
    )
    .unwrap();
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    wait_until(Duration::from_secs(10), "the reload record", || {
        read_jsonl(&out)
            .iter()
            .any(|o| o["type"] == "definitions_reloaded")
    });
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("definitions reloaded") && logs.contains("失联"),
        "{logs}"
    );
    // standard input ending does not stop the service
    drop(stdin);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the service stopped when stdin ended"
    );
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}
