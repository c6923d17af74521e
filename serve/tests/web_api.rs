//! The duty-officer screen's API (`docs/web.md`): the view after a scripted
//! stream (exact JSON for chosen fields, the timeline's words), SSE resume
//! with `Last-Event-ID`, `resync` after a restart and after a gap, a record
//! type the formatter does not know shown generically, a GeoJSON lacking
//! townships, bad GeoJSON refused at load naming the file and feature, the
//! replay endpoints (token, limits, isolation from the live engine), the
//! bundled storm, and the page's files with their content types.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

mod common;
use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NANXI: &str = "500235128";
const JIANGKOU: &str = "500235131";

fn config(dir: &Path, port: u16, inbox: &Path, extra: &str) -> PathBuf {
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nclock: events\nlateness: 0s\ncheckpoint_every: 1s\n\
             http:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n\
             sources:\n  - kind: file\n    name: inbox\n    path: {}\n    poll: 50ms\n{extra}",
            dir.join("state").display(),
            inbox.display(),
        ),
    )
    .unwrap();
    cfg
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn ts(hms: &str) -> String {
    format!("2024-07-28T{hms}+08:00")
}

fn view(svc: &Service) -> Value {
    let (code, v) = svc.json("GET", "/api/view", "");
    assert_eq!(code, 200, "{v}");
    v
}

fn wait_view(svc: &Service, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let v = view(svc);
        if f(&v) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not reached; view: {v:#}\n{}",
            svc.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn township<'a>(v: &'a Value, code: &str) -> &'a Value {
    v["townships"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["code"] == code)
        .unwrap_or_else(|| panic!("no township {code}"))
}

fn texts(v: &Value) -> Vec<String> {
    v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

/// A request with extra headers; status, head (lower-cased) and body.
/// HTTP/1.0, so a streamed body comes unchunked and ends with the
/// connection; `wait` stops reading a stream after that long.
fn raw(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    wait: Duration,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 8192];
    while start.elapsed() < wait {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let text = String::from_utf8_lossy(&resp).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_ascii_lowercase(), body.to_string())
}

/// Server-sent events: (event, id, data).
fn sse(port: u16, path: &str, last: Option<&str>, wait: Duration) -> Vec<(String, String, String)> {
    let mut h = vec![("Accept", "text/event-stream")];
    if let Some(l) = last {
        h.push(("Last-Event-ID", l));
    }
    let (code, head, body) = raw(port, "GET", path, &h, "", wait);
    assert_eq!(code, 200, "{head}\n{body}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let (mut ev, mut id, mut data) = (String::new(), String::new(), String::new());
        for line in block.lines() {
            if let Some(x) = line
                .strip_prefix("event: ")
                .or_else(|| line.strip_prefix("event:"))
            {
                ev = x.to_string();
            } else if let Some(x) = line
                .strip_prefix("id: ")
                .or_else(|| line.strip_prefix("id:"))
            {
                id = x.to_string();
            } else if let Some(x) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                data.push_str(x);
            }
        }
        if !ev.is_empty() {
            out.push((ev, id, data));
        }
    }
    out
}

/// The scripted stream: A (南溪镇) none → yellow → red, the plan calls
/// tier 1; B and C report after it (the clock passes A's last reading).
fn storm_lines() -> Vec<String> {
    vec![
        rain(&ts("20:00:00"), "A", "南溪镇", 3.0),
        rain(&ts("20:00:20"), "A", "南溪镇", 6.0),
        rain(&ts("20:00:40"), "A", "南溪镇", 12.0),
        rain(&ts("20:00:41"), "C", "江口镇", 1.0),
        rain(&ts("20:00:41"), "B", "南溪镇", 1.0),
    ]
}

/// B and C at `hms`: the clock moves on.
fn tick(hms: &str) -> Vec<String> {
    vec![
        rain(&ts(hms), "C", "江口镇", 1.0),
        rain(&ts(hms), "B", "南溪镇", 1.0),
    ]
}

#[test]
fn view_after_a_scripted_stream_and_its_timeline_words() {
    let dir = tmp("web-view");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let port = free_port();
    let cfg = config(&dir, port, &inbox, "");
    let svc = Service::start(&dir, &defs, &cfg, port);
    append(&inbox, &storm_lines());
    let v = wait_view(&svc, "the call", |v| {
        v["calls"].as_array().is_some_and(|c| !c.is_empty())
    });
    assert_eq!(v["townships"].as_array().unwrap().len(), 42);
    assert_eq!(
        township(&v, NANXI),
        &json!({"code": NANXI, "name": "南溪镇", "level": "red",
                "signals": [{"signal": "暴雨预警", "key": "A", "level": "red", "since": ts("20:00:40")}],
                "absent": [], "tile": {"row": 2, "col": 4}})
    );
    assert_eq!(township(&v, JIANGKOU)["level"], "none");
    let call = &v["calls"][0];
    assert_eq!(
        call["people"],
        json!([{"id": "C001", "name": "甲", "role": "县防汛负责人", "tier": 1, "channels": ["电话"],
                "called": ts("20:00:40"), "deadline": ts("20:00:42"), "answered": null, "response_s": null, "in_time": null,
                "overdue": false}])
    );
    assert_eq!(call["tier"], 1);
    assert_eq!(call["chain"], "测试叫应");
    assert_eq!(call["township"], NANXI);
    assert_eq!(call["pending"], json!(["C001"]));
    assert_eq!(call["deadline"], ts("20:00:42"));
    assert_eq!(call["overdue"], false);
    let plan = &v["plans"][0];
    assert_eq!(plan["plan"], "测试预案");
    assert_eq!(plan["area"], "南溪镇");
    assert_eq!(plan["response"], Value::Null);
    let nodes: Vec<&str> = plan["graph"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["@start", "叫应", "等应", "结束"]);
    assert!(nodes.contains(&plan["step"].as_str().unwrap()), "{plan}");
    let stations: Vec<Value> = v["stations"].as_array().unwrap().clone();
    assert_eq!(
        stations,
        vec![
            json!({"id": "A", "township": NANXI, "absent": false, "absent_since": null, "last": ts("20:00:40")}),
            json!({"id": "B", "township": NANXI, "absent": false, "absent_since": null, "last": ts("20:00:41")}),
            json!({"id": "C", "township": JIANGKOU, "absent": false, "absent_since": null, "last": ts("20:00:41")}),
        ]
    );
    // the same words as `yingji run --format text` (the one formatter)
    let t = texts(&v);
    assert_eq!(t.len(), 4, "{t:#?}");
    assert_eq!(
        t,
        [
            "07-28 20:00  南溪镇    预警  暴雨预警 A 无预警→黄色（yellow when mm >= 5）",
            "07-28 20:00  南溪镇    预警  暴雨预警 A 黄色→红色（red when mm >= 10）",
            "07-28 20:00  南溪镇    【测试】启动  测试预案（暴雨预警 red (A)）",
            "07-28 20:00  南溪镇    【测试】叫应  第1级 县防汛负责人 甲[C001] 电话，限 20:00 前应答",
        ]
    );
    let e = &v["timeline"][0];
    assert_eq!(
        (
            e["seq"].as_u64(),
            e["type"].as_str(),
            e["township"].as_str(),
            e["signal"].as_str()
        ),
        (
            Some(1),
            Some("level_changed"),
            Some(NANXI),
            Some("暴雨预警")
        )
    );
    check_schema(&v);

    // the clock passes the deadline: overdue
    append(&inbox, &tick("20:00:43"));
    let v = wait_view(&svc, "escalated", |v| v["calls"][0]["tier"] == 2);
    let call = &v["calls"][0];
    // tier 1 is past its deadline and did not answer; tier 2 is still in time
    assert_eq!(call["people"][0]["overdue"], true, "{call:#}");
    assert_eq!(call["people"][1]["id"], "NX01");
    assert_eq!(call["people"][1]["tier"], 2);
    assert_eq!(call["people"][1]["overdue"], false);
    assert_eq!(call["deadline"], ts("20:00:44"));
    assert_eq!(call["overdue"], false);
    assert_eq!(call["pending"], json!(["C001", "NX01"]));
    assert_eq!(
        call["escalations"],
        json!([{"from_tier": 1, "to_tier": 2, "ts": ts("20:00:42"), "reason": "timeout"}])
    );
    // 乙 answers: response time, and the plan closes
    let (code, r) = svc.json("POST", "/ack", r#"{"person":"NX01"}"#);
    // held, like any event at the clock's time, until the clock moves on
    assert!(code == 200 || code == 202, "{code} {r}");
    append(&inbox, &tick("20:00:43.500"));
    let v = wait_view(&svc, "closed", |v| {
        v["plans"].as_array().is_some_and(|p| p.is_empty())
    });
    let acked = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "acked")
        .unwrap();
    assert_eq!(acked["output"]["person"], "NX01");
    assert_eq!(
        acked["text"],
        "07-28 20:00  南溪镇    【测试】应答  乙[NX01] 第2级，用时 1s，按时（叫应完成）"
    );
    assert_eq!(acked["township"], NANXI);
    // A silent 30 s: absent
    append(&inbox, &tick("20:01:12"));
    let v = wait_view(&svc, "absent", |v| v["stations"][0]["absent"] == true);
    assert_eq!(v["stations"][0]["absent_since"], ts("20:01:10"));
    assert_eq!(township(&v, NANXI)["absent"][0], "A");
    check_schema(&v);
    svc.stop();
}

/// `/api/view` and each timeline entry against their schemas.
fn check_schema(v: &Value) {
    let errs = schema_errors(v, &serve_schema("web_view"), "view");
    assert!(errs.is_empty(), "{errs:#?}");
    for e in v["timeline"].as_array().unwrap() {
        let errs = schema_errors(e, &serve_schema("web_entry"), "entry");
        assert!(errs.is_empty(), "{errs:#?}");
    }
}

#[test]
fn stream_resumes_from_the_ring_and_resyncs_after_a_restart_or_a_gap() {
    let dir = tmp("web-sse");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let port = free_port();
    let cfg = config(&dir, port, &inbox, "web:\n  timeline: 3\n");
    let svc = Service::start(&dir, &defs, &cfg, port);
    append(&inbox, &storm_lines()[..3]);
    let v = wait_view(&svc, "one entry", |v| v["seq"] == 1);
    let boot = v["boot"].as_str().unwrap().to_string();
    // fresh: hello with the current position
    let evs = sse(port, "/api/stream", None, Duration::from_millis(400));
    assert_eq!(evs[0].0, "hello");
    assert_eq!(evs[0].1, format!("{boot}/1"));
    // live: a subscriber sees the next outputs and the batch's view event
    let reader =
        std::thread::spawn(move || sse(port, "/api/stream", None, Duration::from_millis(2500)));
    std::thread::sleep(Duration::from_millis(500));
    append(&inbox, &storm_lines()[3..]);
    let live = reader.join().unwrap();
    let kinds: Vec<&str> = live.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["hello", "output", "output", "output", "view"],
        "{live:#?}"
    );
    assert_eq!(live[1].1, format!("{boot}/2"));
    let entry: Value = serde_json::from_str(&live[1].2).unwrap();
    assert_eq!(entry["type"], "level_changed");
    assert_eq!(serde_json::from_str::<Value>(&live[4].2).unwrap()["seq"], 4);
    // resume after 2: 3 and 4 from the ring, then a view event
    let evs = sse(
        port,
        "/api/stream",
        Some(&format!("{boot}/2")),
        Duration::from_millis(400),
    );
    let got: Vec<(&str, &str)> = evs.iter().map(|e| (e.0.as_str(), e.1.as_str())).collect();
    assert_eq!(
        got,
        [
            ("output", format!("{boot}/3").as_str()),
            ("output", format!("{boot}/4").as_str()),
            ("view", "")
        ]
    );
    // the same by query (after fetching /api/view)
    let evs = sse(
        port,
        &format!("/api/stream?since={boot}%2F3"),
        None,
        Duration::from_millis(400),
    );
    assert_eq!(
        evs.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        [format!("{boot}/4").as_str(), ""]
    );
    // 1 is older than the ring (3 kept: 2, 3, 4): a gap
    let evs = sse(
        port,
        "/api/stream",
        Some(&format!("{boot}/0")),
        Duration::from_millis(400),
    );
    assert_eq!(evs[0].0, "resync", "{evs:#?}");
    assert_eq!(
        serde_json::from_str::<Value>(&evs[0].2).unwrap(),
        json!({"boot": boot, "seq": 4, "reason": "gap"})
    );
    let evs = sse(
        port,
        "/api/stream",
        Some(&format!("{boot}/99")),
        Duration::from_millis(400),
    );
    assert_eq!(
        serde_json::from_str::<Value>(&evs[0].2).unwrap()["reason"],
        "ahead"
    );
    svc.stop();
    // a restart: another boot; the old id resyncs; the timeline came back from the checkpoint
    let svc = Service::start(&dir, &defs, &cfg, port);
    let v = view(&svc);
    assert_ne!(v["boot"], boot);
    assert_eq!(v["seq"], 4);
    assert_eq!(v["timeline"].as_array().unwrap().len(), 3);
    assert_eq!(township(&v, NANXI)["level"], "red", "{v:#}");
    let evs = sse(
        port,
        "/api/stream",
        Some(&format!("{boot}/4")),
        Duration::from_millis(400),
    );
    assert_eq!(evs[0].0, "resync");
    let data: Value = serde_json::from_str(&evs[0].2).unwrap();
    assert_eq!(
        (data["reason"].as_str(), &data["boot"]),
        (Some("boot"), &v["boot"])
    );
    assert_eq!(evs[0].1, format!("{}/4", v["boot"].as_str().unwrap()));
    svc.stop();
}

#[test]
fn a_record_the_formatter_does_not_know_is_shown_generically() {
    let dir = tmp("web-generic");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let port = free_port();
    let cfg = config(&dir, port, &inbox, "");
    let svc = Service::start(&dir, &defs, &cfg, port);
    let (code, r) = svc.json("POST", "/reload", "");
    assert_eq!(code, 200, "{r}");
    let v = wait_view(&svc, "the reload record", |v| v["seq"] == 1);
    let e = &v["timeline"][0];
    assert_eq!(e["type"], "definitions_reloaded");
    let text = e["text"].as_str().unwrap();
    assert!(text.contains("  definitions_reloaded  "), "{text}");
    assert!(text.contains("files=3"), "{text}");
    assert!(text.contains(r#"reset=[]"#), "{text}");
    assert_eq!(e["township"], Value::Null);
    check_schema(&v);
    svc.stop();
}

#[test]
fn a_geojson_lacking_townships_is_served_and_the_missing_ones_reported() {
    let dir = tmp("web-geo");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let geo = dir.join("county.geojson");
    let square = |x: f64| json!({"type": "Polygon", "coordinates": [[[x, 31.0], [x + 0.1, 31.0], [x + 0.1, 31.1], [x, 31.0]]]});
    let doc = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": NANXI, "name": "南溪镇"}, "geometry": square(108.7)},
        {"type": "Feature", "properties": {"code": JIANGKOU, "name": "江口镇"}, "geometry": square(108.5)},
    ]});
    std::fs::write(&geo, doc.to_string()).unwrap();
    let port = free_port();
    let cfg = config(
        &dir,
        port,
        &inbox,
        &format!("web:\n  geojson: {}\n", geo.display()),
    );
    let svc = Service::start(&dir, &defs, &cfg, port);
    let (code, head, body) = raw(port, "GET", "/api/geo", &[], "", Duration::from_secs(2));
    assert_eq!(code, 200);
    assert!(
        head.contains("content-type: application/geo+json"),
        "{head}"
    );
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), doc);
    let v = view(&svc);
    assert_eq!(v["geo"]["configured"], true);
    let missing = v["geo"]["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 40);
    assert!(!missing.contains(&json!(NANXI)));
    assert_eq!(township(&v, NANXI)["geo_missing"], false);
    assert_eq!(township(&v, "500235001")["geo_missing"], true);
    check_schema(&v);
    svc.stop();
    // without one: 404, and the view says so
    let dir = tmp("web-nogeo");
    let cfg = config(&dir, port, &inbox, "");
    let svc = Service::start(&dir, &defs, &cfg, port);
    let (code, body) = svc.json("GET", "/api/geo", "");
    assert_eq!(code, 404);
    assert_eq!(body["error"], "no_geojson");
    assert_eq!(
        view(&svc)["geo"],
        json!({"configured": false, "missing": []})
    );
    svc.stop();
}

#[test]
fn bad_geojson_is_a_config_error_naming_the_file_and_the_feature() {
    let dir = tmp("web-badgeo");
    let cases: [(&str, &str); 4] = [
        (
            "{\"type\": \"FeatureCollection\", \"features\": [",
            "not JSON",
        ),
        (r#"{"type": "Feature"}"#, "must be \"FeatureCollection\""),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"500235128"},"geometry":{"type":"Point","coordinates":[1,2]}},{"type":"Feature","properties":{"name":"江口镇"},"geometry":{"type":"Point","coordinates":[1,2]}}]}"#,
            "features[1] (江口镇).properties.code: missing",
        ),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"500235128"}}]}"#,
            "features[0].geometry: missing",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let geo = dir.join(format!("bad{i}.geojson"));
        std::fs::write(&geo, text).unwrap();
        let cfg = dir.join(format!("serve{i}.yaml"));
        std::fs::write(
            &cfg,
            format!("state_dir: st\nweb:\n  geojson: bad{i}.geojson\n"),
        )
        .unwrap();
        let e = yingji_serve::config::ServeConfig::load(&cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("bad{i}.geojson")), "{e}");
        assert!(e.contains(want), "case {i}: {e}");
    }
    // the binary refuses to start with exit code 2 and says why
    let out = std::process::Command::new(BIN)
        .arg(dir.join("nodefs"))
        .arg("--config")
        .arg(dir.join("serve2.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("features[1] (江口镇).properties.code"),
        "{err}"
    );
}

#[test]
fn replays_need_the_token_are_bounded_and_leave_the_live_engine_alone() {
    let dir = tmp("web-replay");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let port = free_port();
    let cfg = config(
        &dir,
        port,
        &inbox,
        "web:\n  replay: { max: 1, max_bytes: 4000 }\n",
    );
    let svc = Service::start(&dir, &defs, &cfg, port);
    let body = storm_lines().join("\n");
    let post = |path: &str, token: Option<&str>, body: &str| {
        let (c, t) = svc.http("POST", path, token, body);
        (
            c,
            serde_json::from_str::<Value>(&t).unwrap_or(Value::String(t)),
        )
    };
    assert_eq!(post("/api/replay?speed=60", None, &body).0, 401);
    assert_eq!(post("/api/replay?speed=60", Some("wrong"), &body).0, 401);
    let (c, r) = post("/api/replay?speed=fast", Some(TOKEN), &body);
    assert_eq!((c, r["error"].as_str()), (400, Some("bad_request")));
    assert!(
        r["message"].as_str().unwrap().contains("speed `fast`"),
        "{r}"
    );
    assert_eq!(post("/api/replay?speed=0", Some(TOKEN), &body).0, 400);
    let (c, r) = post("/api/replay", Some(TOKEN), "");
    assert_eq!(c, 400, "{r}");
    let (c, r) = post(
        "/api/replay",
        Some(TOKEN),
        &format!("{}\n{{\"kind\":\"rain\"}}", storm_lines()[0]),
    );
    assert_eq!(c, 400);
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .starts_with("line 2: no `ts`"),
        "{r}"
    );
    let (c, r) = post("/api/replay", Some(TOKEN), &"x".repeat(5000));
    assert_eq!((c, r["error"].as_str()), (413, Some("too_large")), "{r}");
    // one replay: 41 s of events at 10× (about 4 s)
    let (c, r) = post("/api/replay?speed=10", Some(TOKEN), &body);
    assert_eq!(c, 201, "{r}");
    let errs = schema_errors(&r, &serve_schema("web_replay"), "replay");
    assert!(errs.is_empty(), "{errs:#?}");
    let id = r["replay"].as_str().unwrap().to_string();
    assert_eq!(r["lines"], 5);
    let (c, r) = post("/api/replay?speed=60", Some(TOKEN), &body);
    assert_eq!((c, r["error"].as_str()), (429, Some("too_many_replays")));
    let start = Instant::now();
    let rv = loop {
        let (c, v) = svc.json("GET", &format!("/api/replay/{id}/view"), "");
        assert_eq!(c, 200, "{v}");
        if v["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "notify")
        {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{v:#}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(township(&rv, NANXI)["level"], "red");
    assert!(rv["boot"].as_str().unwrap().starts_with(&format!("{id}-")));
    check_schema(&rv);
    // the live screen saw none of it
    let live = view(&svc);
    assert_eq!(live["seq"], 0);
    assert_eq!(township(&live, NANXI)["level"], "none");
    assert_eq!(svc.json("GET", "/levels", "").1, json!({}));
    // its stream
    let evs = sse(
        port,
        &format!("/api/replay/{id}/stream"),
        Some(&format!("{}/1", rv["boot"].as_str().unwrap())),
        Duration::from_millis(400),
    );
    assert_eq!(evs[0].0, "output");
    // a drill ack into the replay (its verdict there, nothing live)
    let (c, r) = post(
        &format!("/api/replay/{id}/ack"),
        Some(TOKEN),
        r#"{"person":"C001"}"#,
    );
    assert_eq!(c, 202, "{r}");
    let start = Instant::now();
    loop {
        let (_, v) = svc.json("GET", &format!("/api/replay/{id}/view"), "");
        let verdict = v["timeline"].as_array().unwrap().iter().any(|e| {
            (e["type"] == "acked" || e["type"] == "ack_rejected") && e["output"]["person"] == "C001"
        });
        if verdict {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{v:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(view(&svc)["seq"], 0);
    wait_until(Duration::from_secs(20), "the replay's last line", || {
        let (c, list) = svc.json("GET", "/api/replay", "");
        c == 200
            && list[0]["replay"] == id
            && list[0]["finished"] == true
            && list[0]["applied"] == 5
    });
    // stop: token needed; then gone
    let (c, _) = svc.http("DELETE", &format!("/api/replay/{id}"), None, "");
    assert_eq!(c, 401);
    let (c, r) = svc.json("DELETE", &format!("/api/replay/{id}"), "");
    assert_eq!((c, &r["stopped"]), (200, &json!(true)));
    let (c, r) = svc.json("GET", &format!("/api/replay/{id}/view"), "");
    assert_eq!((c, r["error"].as_str()), (404, Some("no_replay")));
    assert_eq!(svc.json("DELETE", &format!("/api/replay/{id}"), "").0, 404);
    // room again
    assert_eq!(post("/api/replay?speed=60", Some(TOKEN), &body).0, 201);
    svc.stop();
}

#[test]
fn the_bundled_storm_turns_nanxi_red_answers_a_tier_and_declares_level_two() {
    let dir = tmp("web-storm");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let port = free_port();
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!("state_dir: {}\nclock: events\nlateness: 0s\nhttp:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n", dir.join("st").display()),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let child = std::process::Command::new(BIN)
        .arg(root.join("policies"))
        .arg(root.join("plans"))
        .arg("--config")
        .arg(&cfg)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut svc = Service { child, port, log };
    svc.wait_health();
    let storm = std::fs::read_to_string(root.join("samples/storm.jsonl")).unwrap();
    let (c, r) = svc.json("POST", "/api/replay?speed=1000000", &storm);
    assert_eq!(c, 201, "{r}");
    let id = r["replay"].as_str().unwrap().to_string();
    let start = Instant::now();
    let v = loop {
        let (_, v) = svc.json("GET", &format!("/api/replay/{id}/view"), "");
        let (_, info) = svc.json("GET", &format!("/api/replay/{id}"), "");
        if info["finished"] == true {
            break v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{info}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (_, info) = svc.json("GET", &format!("/api/replay/{id}"), "");
    assert_eq!(info["refused"], 0, "{info}");
    assert_eq!(township(&v, NANXI)["level"], "red");
    let levels: Vec<&str> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["type"] == "level_changed" && e["township"] == NANXI && e["signal"] == "暴雨预警"
        })
        .map(|e| e["output"]["to"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["blue", "yellow", "orange", "red"]);
    let flood = v["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plan"] == "县防汛应急预案" && p["area"] == "南溪镇")
        .unwrap();
    assert_eq!(flood["response"], "Ⅱ级");
    assert!(
        flood["measures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["measure"] == "撤离")
    );
    let answered: Vec<&Value> = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["people"].as_array().unwrap())
        .filter(|p| p["id"] == "NX01" && !p["answered"].is_null())
        .collect();
    assert_eq!(answered.len(), 1, "{:#}", v["calls"]);
    assert_eq!(answered[0]["response_s"], 180);
    let esc = v["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["chain"] == "防汛叫应" && c["plan"] == "县防汛应急预案")
        .unwrap();
    assert_eq!(esc["escalations"][0]["to_tier"], 2, "{esc:#}");
    assert_eq!(esc["people"][0]["overdue"], true, "{esc:#}");
    let yy6 = v["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "YY-006")
        .unwrap();
    assert_eq!(
        (yy6["absent"].as_bool(), yy6["township"].as_str()),
        (Some(true), Some("500235107"))
    );
    assert_eq!(township(&v, "500235107")["absent"], json!(["YY-006"]));
    check_schema(&v);
    svc.stop();
}

#[test]
fn the_page_is_served_with_its_content_types() {
    let dir = tmp("web-static");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let port = free_port();
    let cfg = config(&dir, port, &inbox, "");
    let svc = Service::start(&dir, &defs, &cfg, port);
    let files = yingji_serve::web::assets::files();
    let (code, head, body) = raw(port, "GET", "/", &[], "", Duration::from_secs(2));
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("cache-control: no-cache"), "{head}");
    match files.iter().find(|(p, _)| *p == "index.html") {
        Some((_, bytes)) => {
            assert_eq!(code, 200);
            assert_eq!(body.as_bytes(), *bytes);
        }
        None => {
            // built without serve/web/dist: a page saying how to build it
            assert_eq!(code, 503);
            assert!(body.contains("npm ci &amp;&amp; npm run build"), "{body}");
        }
    }
    for (path, bytes) in files.iter().filter(|(p, _)| p.starts_with("assets/")) {
        let (code, head, body) = raw(
            port,
            "GET",
            &format!("/{path}"),
            &[],
            "",
            Duration::from_secs(2),
        );
        assert_eq!(code, 200, "{path}");
        let want = yingji_serve::web::assets::content_type(path);
        assert!(
            head.contains(&format!("content-type: {want}")),
            "{path}: {head}"
        );
        assert!(
            head.contains("cache-control: public, max-age=31536000, immutable"),
            "{head}"
        );
        assert_eq!(body.len(), bytes.len(), "{path}");
    }
    let (code, head, _) = raw(
        port,
        "GET",
        "/assets/no-such-file.js",
        &[],
        "",
        Duration::from_secs(2),
    );
    assert_eq!(code, 404);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(
        yingji_serve::web::assets::content_type("assets/index-abc.js"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        yingji_serve::web::assets::content_type("assets/index-abc.css"),
        "text/css; charset=utf-8"
    );
    assert_eq!(
        yingji_serve::web::assets::content_type("logo.svg"),
        "image/svg+xml"
    );
    // the API beside it still answers
    assert_eq!(svc.json("GET", "/health", "").0, 200);
    svc.stop();
}

#[test]
fn the_sample_storm_config_paces_the_file_on_the_live_screen() {
    // samples/serve-storm.yaml as shipped, with its port, state folder and
    // speed changed: 9½ hours of events at 20000× take about 1.7 s
    let dir = tmp("web-paced");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let port = free_port();
    let text = std::fs::read_to_string(root.join("samples/serve-storm.yaml")).unwrap();
    assert!(
        text.contains("speed: 600") && text.contains("listen: 127.0.0.1:8652"),
        "{text}"
    );
    let text = text
        .replace(
            "listen: 127.0.0.1:8652",
            &format!("listen: 127.0.0.1:{port}"),
        )
        .replace(
            "state_dir: ../serve-state/storm",
            &format!("state_dir: {}", dir.join("st").display()),
        )
        .replace(
            "path: storm.jsonl",
            &format!("path: {}", root.join("samples/storm.jsonl").display()),
        )
        .replace("speed: 600", "speed: 20000");
    let cfg = dir.join("serve-storm.yaml");
    std::fs::write(&cfg, text).unwrap();
    let log = dir.join("serve.log");
    let began = Instant::now();
    let child = std::process::Command::new(BIN)
        .arg(root.join("policies"))
        .arg(root.join("plans"))
        .arg("--config")
        .arg(&cfg)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut svc = Service { child, port, log };
    svc.wait_health();
    let v = wait_view(&svc, "Ⅱ级 in 南溪镇", |v| {
        v["plans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["area"] == "南溪镇" && p["response"] == "Ⅱ级")
    });
    // paced: 16:10 → 17:00 of event time is 3000 s, 0.15 s at 20000×, and
    // the 8 hours before it 1.4 s more
    assert!(
        began.elapsed() >= Duration::from_millis(1300),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(township(&v, NANXI)["level"], "red");
    let clock = v["clock"].as_str().unwrap();
    assert!(
        clock >= ts("17:00:00").as_str() && clock <= ts("17:30:00").as_str(),
        "{clock}"
    );
    svc.stop();
}
