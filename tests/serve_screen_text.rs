//! The duty-officer screen's timeline speaks the words of `yingji run
//! --format text`: the bundled storm run by `yingji run` and replayed by
//! `yingji serve` (`POST /api/replay`) give the same lines, in the same order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_yingji");
const TOKEN: &str = "screen-text-token";

fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Yingji-Token: {TOKEN}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let text = String::from_utf8_lossy(&resp).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.split(' ').nth(1)?.parse().ok()?, body.to_string()))
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_storm_on_the_screen_reads_as_yingji_run_format_text() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let storm = root.join("samples/storm.jsonl");
    let run = Command::new(BIN)
        .current_dir(root)
        .args([
            "run",
            "policies",
            "plans",
            "--lateness",
            "0s",
            "--format",
            "text",
            "--events",
        ])
        .arg(&storm)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let expected: Vec<String> = String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(expected.len() > 50, "{expected:#?}");

    let dir = std::env::temp_dir().join(format!("yj-screen-text-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nclock: events\nlateness: 0s\nhttp:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n",
            dir.join("st").display()
        ),
    )
    .unwrap();
    let _svc = Killed(
        Command::new(BIN)
            .current_dir(root)
            .args(["serve", "policies", "plans", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while http(port, "GET", "/health", "").is_none_or(|(c, _)| c != 200) {
        assert!(start.elapsed() < Duration::from_secs(30), "no /health");
        std::thread::sleep(Duration::from_millis(50));
    }
    let body = std::fs::read_to_string(&storm).unwrap();
    let (code, r) = http(port, "POST", "/api/replay?speed=1000000", &body).unwrap();
    assert_eq!(code, 201, "{r}");
    let id = serde_json::from_str::<Value>(&r).unwrap()["replay"]
        .as_str()
        .unwrap()
        .to_string();
    let start = Instant::now();
    loop {
        let (_, info) = http(port, "GET", &format!("/api/replay/{id}"), "").unwrap();
        if serde_json::from_str::<Value>(&info).unwrap()["finished"] == true {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{info}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // the replay's clock runs on after the last line (timers); `yingji run`
    // stops at it: compare what both have up to the storm's end
    let last = body.lines().last().unwrap();
    let end = serde_json::from_str::<Value>(last).unwrap()["ts"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, view) = http(port, "GET", &format!("/api/replay/{id}/view"), "").unwrap();
    let view: Value = serde_json::from_str(&view).unwrap();
    let shown: Vec<String> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ts"].as_str().unwrap() <= end.as_str())
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = expected
        .into_iter()
        .filter(|l| l.get(..11).is_some_and(|t| t <= "07-28 17:30"))
        .collect();
    assert_eq!(shown, expected);
}
