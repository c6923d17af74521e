//! End to end with real components: SL 651 frames from several stations
//! over TCP → a red warning → outputs on a NATS JetStream subject (message
//! id = output id) → 叫应 notify → `POST /ack` → plan closed; and a storm
//! killed with SIGKILL mid-way and restarted: the messages on the subject
//! are exactly those of a single run, none twice. Each test starts its own
//! nats-server (JetStream) on 127.0.0.1 and stops it by pid; a missing
//! nats-server fails the test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

#[path = "cap_common/mod.rs"]
mod cap_common;
mod common;
#[path = "sl651_common/mod.rs"]
mod sl651_common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use yingji_serve::sl651::{Clock, Encoding, Function};

fn stations_yaml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/sl651/stations.yaml")
}

/// Definitions over the sample stations' keys and townships.
fn sl651_defs(d: &Path) -> PathBuf {
    let defs = d.join("defs");
    std::fs::create_dir_all(&defs).unwrap();
    std::fs::write(
        defs.join("rain.yj"),
        "event rain { station: string, town: string, mm: number }\n\
         signal 暴雨预警 { from rain key station level red when mm >= 10 level yellow when mm >= 5 }\n",
    )
    .unwrap();
    std::fs::write(
        defs.join("plan.yaml"),
        "plan: 测试预案\n\
         triggers:\n  - { signal: 暴雨预警, level: red, area: town }\n\
         steps:\n  - id: 叫应\n    notify: chain/测试叫应\n\
         \x20 - id: 等应\n    await_ack: { of: 叫应, timeout: 1h, on_timeout: 结束 }\n\
         \x20 - id: 结束\n    close: { verify: [预警, 反馈] }\n\
         chains:\n  测试叫应:\n    - { tier: 县防汛负责人, timeout: 10m }\n    - { tier: 乡镇主要负责人, timeout: 10m, fallback: [县应急值班室] }\n",
    )
    .unwrap();
    std::fs::write(
        defs.join("roster.yaml"),
        "roster: 名册\nareas:\n  本县: [双江街道, 南溪镇, 江口镇]\n\
         people:\n\
         \x20 - { id: C001, name: 甲, role: 县防汛负责人, area: 本县, channels: [电话] }\n\
         \x20 - { id: C002, name: 丙, role: 县应急值班室, area: 本县, channels: [电话] }\n\
         \x20 - { id: SJ01, name: 乙, role: 乡镇主要负责人, area: 双江街道, channels: [电话] }\n",
    )
    .unwrap();
    defs
}

/// Beijing time of `ms` as an SL 651 clock.
fn clock_of(ms: i64) -> Clock {
    let t = yingji_engine::Timestamp {
        ms,
        offset_min: 480,
    }
    .to_string();
    // 2026-12-01T14:05:07+08:00
    let n = |a: usize, b: usize| t[a..b].parse::<u8>().unwrap();
    Clock {
        year: n(2, 4),
        month: n(5, 7),
        day: n(8, 10),
        hour: n(11, 13),
        minute: n(14, 16),
        second: n(17, 19),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn messages_json(port: u16, stream: &str) -> Vec<(String, Value)> {
    stream_messages(port, stream)
        .into_iter()
        .map(|(id, body)| (id, serde_json::from_str(&body).unwrap()))
        .collect()
}

#[test]
fn sl651_to_warning_to_nats_to_ack_to_closed() {
    let dir = tmp("e2e");
    let nats = nats(&dir);
    let defs = sl651_defs(&dir);
    let (http_port, sl_port) = (free_port(), free_port());
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nlateness: 25s\ntick: 200ms\ncheckpoint_every: 1s\n\
             http:\n  listen: 127.0.0.1:{http_port}\n  token: {TOKEN}\n  ack_wait: 1s\n\
             sources:\n  - kind: sl651\n    name: gauges\n    listen: 127.0.0.1:{sl_port}\n    stations: {}\n\
             cap_mapping: {}\n\
             sinks:\n  - name: js\n    kind: nats\n    url: nats://127.0.0.1:{}\n    subject: yj.out\n    stream: YJ\n\
             \x20 - name: cap\n    kind: nats\n    format: cap\n    url: nats://127.0.0.1:{}\n    subject: yj.cap\n    stream: YJCAP\n",
            dir.join("state").display(),
            stations_yaml().display(),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/cap.yaml").display(),
            nats.port,
            nats.port
        ),
    )
    .unwrap();
    let svc = Service::start(&dir, &defs, &cfg, http_port);

    // observation times have no seconds: send in the first 20 s of a minute
    // so that the frames are within the 25 s lateness
    while (now_ms() / 1000) % 60 >= 20 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let now = now_ms();
    let obs = clock_of(now - now % 60_000);
    let sent = clock_of(now);
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", sl_port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // three stations: 双江街道 red (15 mm), 南溪镇 yellow (6 mm), 江口镇 dry
    for (n, tenths, serial) in [(1u8, 150i64, 11u16), (3, 60, 12), (4, 0, 13)] {
        let st = sl651_common::addr(n);
        let r = sl651_common::report(st, 0x50, serial, sent, obs, vec![sl651_common::pj(tenths)]);
        let f = sl651_common::frame(Encoding::Hex, Function::Extra, st, &r);
        tcp.write_all(&f.encode()).unwrap();
    }
    // a frame with a bad CRC: counted, the connection stays up
    let st = sl651_common::addr(5);
    let r = sl651_common::report(st, 0x50, 14, sent, obs, vec![sl651_common::pj(1)]);
    let mut bad = sl651_common::frame(Encoding::Hex, Function::Extra, st, &r).encode();
    let last = bad.len() - 1;
    bad[last] ^= 0xFF;
    tcp.write_all(&bad).unwrap();
    let mut buf = [0u8; 256];
    let n = tcp.read(&mut buf).unwrap();
    assert!(n > 0, "the station got no reply");

    // the warning and the 叫应 call on NATS
    let mut msgs = Vec::new();
    wait_until(Duration::from_secs(60), "the notify on NATS", || {
        msgs = messages_json(nats.port, "YJ");
        msgs.iter().any(|(_, v)| v["type"] == "notify")
    });
    let red = msgs
        .iter()
        .find(|(_, v)| v["type"] == "level_changed" && v["to"] == "red")
        .expect("a red warning");
    assert_eq!(red.1["key"], "YY-001", "{}", red.1);
    assert_eq!(red.0, red.1["id"].to_string(), "message id = output id");
    assert!(
        msgs.iter().any(|(_, v)| v["type"] == "level_changed"
            && v["key"] == "YY-003"
            && v["to"] == "yellow")
    );
    let notify = &msgs.iter().find(|(_, v)| v["type"] == "notify").unwrap().1;

    // the CAP alerts on their subject: one per level change, valid against
    // the OASIS schema and the rules it does not check, the message id the
    // output's id
    let mut caps = Vec::new();
    wait_until(Duration::from_secs(10), "the CAP alerts", || {
        caps = stream_messages(nats.port, "YJCAP");
        caps.len() >= 2
    });
    let changes: Vec<&(String, Value)> = msgs
        .iter()
        .filter(|(_, v)| v["type"] == "level_changed")
        .collect();
    assert_eq!(caps.len(), changes.len());
    for ((cid, xml), (oid, _)) in caps.iter().zip(&changes) {
        assert_eq!(cid, oid, "CAP message id = the level change's id");
        assert!(xml.contains("<msgType>Alert</msgType>"), "{xml}");
        let broken = yingji_serve::cap::rules::check(xml);
        assert!(broken.is_empty(), "{broken:?}\n{xml}");
    }
    assert!(
        caps.iter().any(|(_, x)| x.contains("南溪镇")),
        "the township's areaDesc"
    );
    let docs: Vec<String> = caps.iter().map(|(_, x)| x.clone()).collect();
    cap_common::xmllint(&docs).unwrap();
    assert_eq!(notify["person"], "C001");
    let (code, metrics) = svc.http("GET", "/metrics", None, "");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("yingji_sl651_frames_refused_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("yingji_events_in_total{source=\"gauges\"} 3"),
        "{metrics}"
    );

    // the ack: applied now, its verdict after the lateness
    let (code, v) = svc.json(
        "POST",
        "/ack",
        &format!(
            r#"{{"person":"C001","ref":"{}"}}"#,
            notify["ref"].as_str().unwrap()
        ),
    );
    assert!(code == 202 || code == 200, "{code} {v}");
    wait_until(Duration::from_secs(60), "plan_closed on NATS", || {
        msgs = messages_json(nats.port, "YJ");
        msgs.iter().any(|(_, v)| v["type"] == "plan_closed")
    });
    assert!(
        msgs.iter()
            .any(|(_, v)| v["type"] == "acked" && v["person"] == "C001")
    );
    let (_, plans) = svc.json("GET", "/plans", "");
    assert_eq!(plans, Value::Array(vec![]));
    let ids: BTreeSet<&String> = msgs.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), msgs.len(), "a message id twice on the subject");
    svc.stop();
    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A storm: 4 stations, readings every minute for 10 hours, crossing the
/// thresholds often (history: event time alone, `clock: events`).
fn storm(path: &Path) -> usize {
    let mut f = std::fs::File::create(path).unwrap();
    let start = yingji_engine::Timestamp::parse("2024-07-28T00:00:00+08:00")
        .unwrap()
        .ms;
    let mut n = 0;
    for minute in 0..600i64 {
        for (i, (st, town)) in [
            ("YY-001", "双江街道"),
            ("YY-003", "南溪镇"),
            ("YY-004", "江口镇"),
            ("YY-005", "龙角镇"),
        ]
        .iter()
        .enumerate()
        {
            let mm = ((minute * 7 + i as i64 * 13) % 23) as f64 / 2.0;
            let ts = yingji_engine::Timestamp {
                ms: start + minute * 60_000,
                offset_min: 480,
            };
            writeln!(f, "{}", rain(&ts.to_string(), st, town, mm)).unwrap();
            n += 1;
        }
    }
    n
}

fn storm_config(dir: &Path, tag: &str, http_port: u16, events: &Path, nats_port: u16) -> PathBuf {
    let cfg = dir.join(format!("serve-{tag}.yaml"));
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nclock: events\nlateness: 1s\ncheckpoint_every: 200ms\ninput_channel: 64\n\
             http:\n  listen: 127.0.0.1:{http_port}\n  token: {TOKEN}\n\
             sources:\n  - kind: file\n    name: storm\n    path: {}\n    poll: 50ms\n\
             sinks:\n  - name: js\n    kind: nats\n    url: nats://127.0.0.1:{nats_port}\n    subject: {tag}.out\n    stream: {}\n",
            dir.join(format!("state-{tag}")).display(),
            events.display(),
            tag.to_uppercase()
        ),
    )
    .unwrap();
    cfg
}

fn health(svc: &Service) -> Value {
    svc.json("GET", "/health", "").1
}

/// Waits until the service applied `n` events and its sink queue is empty.
fn wait_done(svc: &Service, n: usize) {
    wait_until(
        Duration::from_secs(120),
        "the storm to be applied and delivered",
        || {
            let h = health(svc);
            h["events"] == n && h["sinks"][0]["queued_bytes"] == 0
        },
    );
}

#[test]
fn killed_mid_storm_and_restarted_gives_the_single_run_set() {
    let dir = tmp("storm");
    let nats = nats(&dir);
    let defs = sl651_defs(&dir);
    let events = dir.join("storm.jsonl");
    let n = storm(&events);

    // the single run
    let port = free_port();
    let cfg = storm_config(&dir, "one", port, &events, nats.port);
    let svc = Service::start(&dir, &defs, &cfg, port);
    wait_done(&svc, n);
    svc.stop();
    let single = stream_messages(nats.port, "ONE");
    assert!(
        single.len() > 100,
        "the storm made {} outputs",
        single.len()
    );

    // the same, killed twice mid-storm
    let port = free_port();
    let cfg = storm_config(&dir, "two", port, &events, nats.port);
    let mut kills = 0;
    let started = Instant::now();
    loop {
        let svc = Service::start(&dir, &defs, &cfg, port);
        if kills == 2 {
            wait_done(&svc, n);
            svc.stop();
            break;
        }
        let target = n * (kills + 1) / 3;
        wait_until(Duration::from_secs(60), "progress", || {
            health(&svc)["events"].as_u64().unwrap_or(0) as usize >= target
        });
        svc.kill();
        kills += 1;
        assert!(started.elapsed() < Duration::from_secs(240));
    }
    let twice = stream_messages(nats.port, "TWO");
    let ids = |m: &[(String, String)]| m.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>();
    let set = |m: &[(String, String)]| m.iter().cloned().collect::<BTreeSet<_>>();
    let twice_ids: BTreeSet<String> = ids(&twice).into_iter().collect();
    assert_eq!(
        twice_ids.len(),
        twice.len(),
        "a message twice on the subject"
    );
    assert_eq!(
        set(&twice),
        set(&single),
        "killed runs differ from the single run"
    );
    drop(nats);
    let _ = std::fs::remove_dir_all(&dir);
}
