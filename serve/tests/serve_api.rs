//! The service over its HTTP API, with a followed JSONL file in and a
//! JSONL file out: a red warning starts a plan whose 叫应 escalates on the
//! wall clock, acks are refused for the plans' reasons and accepted once,
//! the plan closes; bad input (no token, an unknown call, twice, a silence
//! ending before it starts, broken definitions on reload) is refused with
//! its reason while the service runs on; a restart resumes without losing
//! or doubling an output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

mod common;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;

fn config(
    dir: &std::path::Path,
    port: u16,
    inbox: &std::path::Path,
    out: &std::path::Path,
) -> std::path::PathBuf {
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nlateness: 1s\ntick: 200ms\ncheckpoint_every: 1s\n\
             http:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n  ack_wait: 5s\n\
             sources:\n  - kind: file\n    name: inbox\n    path: {}\n    poll: 50ms\n\
             sinks:\n  - name: out\n    kind: file\n    path: {}\n",
            dir.join("state").display(),
            inbox.display(),
            out.display()
        ),
    )
    .unwrap();
    cfg
}

fn append(path: &std::path::Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn of_type<'a>(outs: &'a [Value], t: &str) -> Vec<&'a Value> {
    outs.iter().filter(|o| o["type"] == t).collect()
}

#[test]
fn warning_plan_escalation_acks_and_restart() {
    let dir = tmp("api");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let out = dir.join("out.jsonl");
    std::fs::write(&inbox, "").unwrap();
    let port = free_port();
    let cfg = config(&dir, port, &inbox, &out);
    let svc = Service::start(&dir, &defs, &cfg, port);

    // a red reading stamped now, and a line that is not JSON
    append(
        &inbox,
        &[
            rain(&now_ts(0), "A", "南溪镇", 20.0),
            "not json at all".into(),
        ],
    );
    wait_until(Duration::from_secs(10), "the notify", || {
        !of_type(&read_jsonl(&out), "notify").is_empty()
    });
    let outs = read_jsonl(&out);
    let notify = of_type(&outs, "notify")[0].clone();
    assert_eq!(notify["person"], "C001", "{notify}");
    let call_ref = notify["ref"].as_str().unwrap().to_string();

    // /levels and /plans
    let (code, levels) = svc.json("GET", "/levels", "");
    assert_eq!(code, 200);
    assert_eq!(levels["暴雨预警"]["A"]["level"], "red", "{levels}");
    let (_, plans) = svc.json("GET", "/plans", "");
    assert_eq!(plans[0]["pending"][0]["person"], "C001", "{plans}");

    // nobody answers: the 2 s tier escalates on the wall clock, no event needed
    wait_until(Duration::from_secs(10), "the escalation", || {
        !of_type(&read_jsonl(&out), "escalated").is_empty()
    });
    let outs = read_jsonl(&out);
    let esc = of_type(&outs, "escalated")[0];
    assert_eq!(esc["to_tier"], 2, "{esc}");
    let nx = of_type(&outs, "notify")
        .into_iter()
        .find(|n| n["person"] == "NX01")
        .expect("tier 2 called")
        .clone();

    // acks: without the token, an unknown call, an unknown person, then good, then twice
    let body = format!(
        r#"{{"person":"NX01","ref":"{}"}}"#,
        nx["ref"].as_str().unwrap()
    );
    let (code, _) = svc.http("POST", "/ack", None, &body);
    assert_eq!(code, 401);
    let (code, _) = svc.http("POST", "/ack", Some("wrong-token"), &body);
    assert_eq!(code, 401);
    let (code, v) = svc.json("POST", "/ack", r#"{"person":"NX01","ref":"no-such-call"}"#);
    assert_eq!(
        (code, v["reason"].as_str()),
        (409, Some("unknown_call")),
        "{v}"
    );
    let (code, v) = svc.json(
        "POST",
        "/ack",
        &format!(r#"{{"person":"JK01","ref":"{call_ref}"}}"#),
    );
    assert_eq!(
        (code, v["reason"].as_str()),
        (409, Some("unknown_person")),
        "{v}"
    );
    let (code, v) = svc.json("POST", "/ack", "{\"person\": 7}");
    assert_eq!(code, 400, "{v}");
    let (code, v) = svc.json("POST", "/ack", &body);
    assert_eq!((code, v["status"].as_str()), (200, Some("acked")), "{v}");
    let (code, v) = svc.json("POST", "/ack", &body);
    assert_eq!(
        (code, v["status"].as_str(), v["reason"].as_str()),
        (200, Some("refused"), Some("duplicate")),
        "{v}"
    );
    wait_until(Duration::from_secs(10), "the plan to close", || {
        !of_type(&read_jsonl(&out), "plan_closed").is_empty()
    });
    let (_, plans) = svc.json("GET", "/plans", "");
    assert_eq!(plans, Value::Array(vec![]), "{plans}");
    // an ack for the closed plan
    let (code, v) = svc.json(
        "POST",
        "/ack",
        &format!(r#"{{"person":"C001","ref":"{call_ref}"}}"#),
    );
    assert_eq!((code, v["reason"].as_str()), (409, Some("closed")), "{v}");

    // silences: end before start refused, a good one listed
    let (code, v) = svc.json(
        "POST",
        "/silences",
        r#"{"matchers":{"station":"A"},"starts":"2026-07-01T10:00:00+08:00","ends":"2026-07-01T09:00:00+08:00"}"#,
    );
    assert_eq!(code, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("not after starts"),
        "{v}"
    );
    let (code, _) = svc.http(
        "POST",
        "/silences",
        None,
        r#"{"matchers":{"station":"A"},"ends":"2099-01-01T00:00:00+08:00"}"#,
    );
    assert_eq!(code, 401);
    let (code, v) = svc.json(
        "POST",
        "/silences",
        r#"{"matchers":{"station":"A"},"ends":"2099-01-01T00:00:00+08:00","comment":"检修"}"#,
    );
    assert_eq!(code, 201, "{v}");
    let (_, list) = svc.json("GET", "/silences", "");
    assert_eq!(list[0]["comment"], "检修", "{list}");

    // POST /events; metrics count the line that was not JSON
    let (code, v) = svc.json("POST", "/events", &rain(&now_ts(0), "C", "江口镇", 6.0));
    assert_eq!(code, 202, "{v}");
    wait_until(Duration::from_secs(10), "C yellow", || {
        read_jsonl(&out)
            .iter()
            .any(|o| o["type"] == "level_changed" && o["key"] == "C")
    });
    let (code, metrics) = svc.http("GET", "/metrics", None, "");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("yingji_events_rejected_total{source=\"inbox\",reason=\"not_json\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("yingji_events_in_total{source=\"inbox\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("yingji_outputs_total{type=\"plan_closed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("yingji_sink_queue_bytes{sink=\"out\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("yingji_open_plans 0"), "{metrics}");

    // reload with broken definitions: refused with diagnostics, the old ones run on
    let good = std::fs::read_to_string(defs.join("rain.yj")).unwrap();
    std::fs::write(defs.join("rain.yj"), "event rain { mm: numbr }\n").unwrap();
    let (code, v) = svc.json("POST", "/reload", "");
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["reloaded"], false);
    assert!(!v["diagnostics"].as_array().unwrap().is_empty(), "{v}");
    let (code, _) = svc.http("POST", "/reload", None, "");
    assert_eq!(code, 401);
    append(&inbox, &[rain(&now_ts(0), "B", "南溪镇", 6.0)]);
    wait_until(
        Duration::from_secs(10),
        "B yellow under the old definitions",
        || {
            read_jsonl(&out)
                .iter()
                .any(|o| o["type"] == "level_changed" && o["key"] == "B")
        },
    );
    // a good change: the changed signal is named, the unchanged one kept
    std::fs::write(
        defs.join("rain.yj"),
        good.replace("missing 30s", "missing 40s"),
    )
    .unwrap();
    let (code, v) = svc.json("POST", "/reload", "");
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["reset"], serde_json::json!(["失联"]), "{v}");
    assert!(
        v["kept"]
            .as_array()
            .unwrap()
            .contains(&Value::from("暴雨预警")),
        "{v}"
    );
    wait_until(Duration::from_secs(5), "the reload record", || {
        !of_type(&read_jsonl(&out), "definitions_reloaded").is_empty()
    });
    let outs = read_jsonl(&out);
    let rec = of_type(&outs, "definitions_reloaded")[0];
    let errs = schema_errors(
        rec,
        &serve_schema("definitions_reloaded"),
        "definitions_reloaded",
    );
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(rec["reset"], serde_json::json!(["失联"]));

    // restart: state kept, nothing doubled
    svc.stop();
    let before = read_jsonl(&out);
    let svc = Service::start(&dir, &defs, &cfg, port);
    let (_, levels) = svc.json("GET", "/levels", "");
    assert_eq!(levels["暴雨预警"]["A"]["level"], "red", "{levels}");
    append(&inbox, &[rain(&now_ts(0), "C", "江口镇", 0.0)]);
    wait_until(Duration::from_secs(10), "C back to none", || {
        read_jsonl(&out)
            .iter()
            .any(|o| o["type"] == "level_changed" && o["key"] == "C" && o["to"] == "none")
    });
    svc.stop();
    let after = read_jsonl(&out);
    assert_eq!(&after[..before.len()], &before[..]);
    let engine_outputs: Vec<Value> = after.iter().filter(|o| o["id"].is_u64()).cloned().collect();
    assert_ids_contiguous(&engine_outputs);
    let mut ids: Vec<String> = after.iter().map(|o| o["id"].to_string()).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "an output id written twice");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_config_is_refused_naming_the_field() {
    let dir = tmp("badcfg");
    let defs = defs(&dir);
    let cfg = dir.join("serve.yaml");
    std::fs::write(&cfg, "state_dir: st\ntick: soon\n").unwrap();
    let out = std::process::Command::new(BIN)
        .arg(&defs)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`soon` is not a duration"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn routing_groups_by_township_honours_silences_and_keeps_them_over_a_restart() {
    let dir = tmp("route");
    let defs = defs(&dir);
    let out = dir.join("out.jsonl");
    let port = free_port();
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nlateness: 1s\ntick: 200ms\n\
             http:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n\
             sinks:\n  - name: sms\n    kind: file\n    path: {}\n    types: [route_message]\n\
             silences:\n  - {{ matchers: {{ station: Z }}, ends: '2099-01-01T00:00:00+08:00', comment: 配置 }}\n\
             route:\n  group_wait: 1s\n  group_interval: 2s\n\
             \x20 inhibit:\n    - {{ source: {{ level: red }}, target: {{ level: yellow }}, equal: [township] }}\n\
             \x20 templates:\n    sms: {{ text: '【应急】{{township}}{{signal}}{{level}}预警{{status}}' }}\n\
             \x20 receivers:\n    - {{ name: 值班, channel: sms, to: '13800000000' }}\n",
            dir.join("state").display(),
            out.display()
        ),
    )
    .unwrap();
    let svc = Service::start(&dir, &defs, &cfg, port);
    let (code, v) = svc.json(
        "POST",
        "/silences",
        r#"{"matchers":{"township":"江口镇"},"ends":"2099-01-01T00:00:00+08:00","comment":"检修"}"#,
    );
    assert_eq!(code, 201, "{v}");
    let lines = [
        rain(&now_ts(0), "A", "南溪镇", 20.0),
        rain(&now_ts(0), "B", "南溪镇", 6.0),
        rain(&now_ts(0), "C", "江口镇", 20.0),
    ]
    .join("\n");
    let (code, v) = svc.json("POST", "/events", &lines);
    assert_eq!(code, 202, "{v}");
    wait_until(Duration::from_secs(10), "the route message", || {
        !read_jsonl(&out).is_empty()
    });
    std::thread::sleep(Duration::from_secs(2));
    let msgs = read_jsonl(&out);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    assert_eq!(m["text"], "【应急】南溪镇暴雨预警红色预警发布", "{m}");
    assert_eq!(m["group"]["township"], "南溪镇");
    // the yellow of B is inhibited by the red of A; 江口镇 is silenced
    assert_eq!(m["alerts"].as_array().unwrap().len(), 1, "{m}");
    assert_eq!(m["status"], "send");
    assert!(m["id"].as_str().unwrap().starts_with("route-"));
    let errs = schema_errors(m, &serve_schema("route_message"), "route_message");
    assert!(errs.is_empty(), "{errs:?}");
    // the checker catches what the schema forbids
    let mut bad = m.clone();
    bad["status"] = "sent".into();
    bad["extra"] = 1.into();
    assert_eq!(
        schema_errors(&bad, &serve_schema("route_message"), "m").len(),
        2
    );
    svc.stop();
    let svc = Service::start(&dir, &defs, &cfg, port);
    let (_, list) = svc.json("GET", "/silences", "");
    // the configuration's silence is not added a second time
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(list[0]["comment"], "配置");
    assert_eq!(list[1]["matchers"]["township"], "江口镇");
    svc.stop();
    assert_eq!(
        read_jsonl(&out).len(),
        1,
        "nothing routed twice after the restart"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Output ids of a JSONL sink that holds every engine output: 1, 2, … with
/// no gap (nothing lost) and no repeat (nothing doubled).
fn assert_ids_contiguous(outs: &[Value]) {
    let ids: Vec<u64> = outs.iter().filter_map(|o| o["id"].as_u64()).collect();
    let want: Vec<u64> = (1..=ids.len() as u64).collect();
    assert_eq!(ids, want, "ids lost or doubled");
}

#[test]
fn killed_between_a_call_and_its_escalation_the_wall_clock_timer_fires_once() {
    let dir = tmp("kill-wall");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let out = dir.join("out.jsonl");
    std::fs::write(&inbox, "").unwrap();
    let port = free_port();
    let cfg = config(&dir, port, &inbox, &out);
    let svc = Service::start(&dir, &defs, &cfg, port);
    append(&inbox, &[rain(&now_ts(0), "A", "南溪镇", 20.0)]);
    wait_until(Duration::from_secs(10), "the notify", || {
        !of_type(&read_jsonl(&out), "notify").is_empty()
    });
    svc.kill();
    let svc = Service::start(&dir, &defs, &cfg, port);
    wait_until(
        Duration::from_secs(15),
        "the escalation after the restart",
        || !of_type(&read_jsonl(&out), "escalated").is_empty(),
    );
    std::thread::sleep(Duration::from_secs(3));
    svc.stop();
    let outs = read_jsonl(&out);
    assert_eq!(of_type(&outs, "escalated").len(), 1, "{outs:?}");
    assert_eq!(of_type(&outs, "plan_started").len(), 1);
    assert_ids_contiguous(&outs);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_service_on_the_same_state_folder_is_refused() {
    let dir = tmp("twice");
    let defs = defs(&dir);
    let inbox = dir.join("inbox.jsonl");
    let out = dir.join("out.jsonl");
    let port = free_port();
    let cfg = config(&dir, port, &inbox, &out);
    let svc = Service::start(&dir, &defs, &cfg, port);
    let second = std::process::Command::new(BIN)
        .arg(&defs)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("another yingji serve"), "{err}");
    // the first runs on
    let (code, _) = svc.http("GET", "/health", None, "");
    assert_eq!(code, 200);
    svc.stop();
    assert!(
        !dir.join("state/serve.pid").exists(),
        "the lock is removed at a graceful stop"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
