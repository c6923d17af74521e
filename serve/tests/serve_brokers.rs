//! MQTT (mosquitto) and NATS sources and sinks against real brokers started
//! by the test on 127.0.0.1 and stopped by pid: payloads that are not JSON
//! are counted per source and the source stays up; outputs reach an MQTT
//! topic; a sink whose broker is down keeps its outputs queued and delivers
//! them when it is back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test"
)]

mod common;
use common::*;
use std::time::Duration;

#[test]
fn mqtt_payloads_that_are_not_json_are_counted_and_the_source_stays_up() {
    let dir = tmp("mqtt");
    let broker = mosquitto(&dir);
    let defs = defs(&dir);
    let port = free_port();
    let out = dir.join("out.jsonl");
    let cfg = dir.join("serve.yaml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir: {}\nlateness: 1s\ntick: 200ms\n\
             http:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n\
             sources:\n  - kind: mqtt\n    name: iot\n    host: 127.0.0.1\n    port: {}\n    topics: [gauges/#]\n\
             sinks:\n  - name: out\n    kind: file\n    path: {}\n\
             \x20 - name: alerts\n    kind: mqtt\n    host: 127.0.0.1\n    port: {}\n    topic: yingji/out\n    types: [level_changed]\n",
            dir.join("state").display(),
            broker.port,
            out.display(),
            broker.port
        ),
    )
    .unwrap();
    let svc = Service::start(&dir, &defs, &cfg, port);
    // the subscription is made once connected
    wait_until(Duration::from_secs(10), "the MQTT subscription", || {
        svc.logs().contains("MQTT subscribed")
    });

    // a subscriber for the MQTT sink
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (sub, mut sub_ev) = rt.block_on(async {
        let mut o = rumqttc::MqttOptions::new("yj-test-sub", "127.0.0.1", broker.port);
        o.set_keep_alive(Duration::from_secs(5));
        let (c, mut ev) = rumqttc::AsyncClient::new(o, 64);
        c.subscribe("yingji/out", rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        // until the SUBACK
        loop {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) = ev.poll().await {
                break;
            }
        }
        (c, ev)
    });

    mqtt_publish(
        broker.port,
        "gauges/A",
        &[
            b"not json".to_vec(),
            b"{\"ts\":".to_vec(),
            vec![0xff, 0xfe, 0x00],
            rain(&now_ts(0), "A", "\u{5357}\u{6eaa}\u{9547}", 20.0).into_bytes(),
        ],
    );
    wait_until(Duration::from_secs(10), "the red warning", || {
        read_jsonl(&out)
            .iter()
            .any(|o| o["type"] == "level_changed" && o["to"] == "red")
    });
    let (_, metrics) = svc.http("GET", "/metrics", None, "");
    assert!(
        metrics.contains("yingji_events_rejected_total{source=\"iot\",reason=\"not_json\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("yingji_events_in_total{source=\"iot\"} 4"),
        "{metrics}"
    );
    assert!(svc.logs().contains("line refused"), "{}", svc.logs());

    // the warning on the MQTT sink's topic
    let got = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) =
                tokio::time::timeout(Duration::from_secs(1), sub_ev.poll()).await
            {
                return Some(String::from_utf8_lossy(&p.payload).to_string());
            }
        }
        None
    });
    let got = got.expect("the warning on yingji/out");
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["to"].as_str()),
        (Some("level_changed"), Some("red"))
    );
    drop(sub);
    svc.stop();
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn nats_source_and_a_sink_down_keeps_its_outputs_queued() {
    let dir = tmp("natsq");
    let broker = nats(&dir);
    let defs = defs(&dir);
    let port = free_port();
    let out = dir.join("out.jsonl");
    // the JetStream sink points at a port where nothing listens (yet)
    let down = free_port();
    let cfg = dir.join("serve.yaml");
    let write_cfg = |js_port: u16| {
        std::fs::write(
            &cfg,
            format!(
                "state_dir: {}\nlateness: 1s\ntick: 200ms\n\
                 http:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n\
                 sources:\n  - kind: nats\n    name: bus\n    url: nats://127.0.0.1:{}\n    subjects: [gauges.>]\n\
                 sinks:\n  - name: out\n    kind: file\n    path: {}\n\
                 \x20 - name: js\n    kind: nats\n    url: nats://127.0.0.1:{js_port}\n    subject: yj.q\n    stream: YJQ\n",
                dir.join("state").display(),
                broker.port,
                out.display(),
            ),
        )
        .unwrap();
    };
    write_cfg(down);
    let svc = Service::start(&dir, &defs, &cfg, port);
    wait_until(Duration::from_secs(10), "the NATS subscription", || {
        svc.logs().contains("NATS subscribed")
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = async_nats::connect(format!("nats://127.0.0.1:{}", broker.port))
            .await
            .unwrap();
        c.publish("gauges.A", "{oops".into()).await.unwrap();
        c.publish("gauges.A", rain(&now_ts(0), "A", "南溪镇", 20.0).into())
            .await
            .unwrap();
        c.flush().await.unwrap();
    });
    wait_until(
        Duration::from_secs(10),
        "the warning in the file sink",
        || {
            read_jsonl(&out)
                .iter()
                .any(|o| o["type"] == "level_changed")
        },
    );
    let (_, metrics) = svc.http("GET", "/metrics", None, "");
    assert!(
        metrics.contains("yingji_events_rejected_total{source=\"bus\",reason=\"not_json\"} 1"),
        "{metrics}"
    );
    // the JetStream sink is down: its outputs wait in its queue
    let (_, h) = svc.json("GET", "/health", "");
    let js = h["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "js")
        .unwrap()
        .clone();
    assert!(js["queued_bytes"].as_u64().unwrap() > 0, "{h}");
    assert!(
        metrics.contains("yingji_sink_failures_total{sink=\"js\"}"),
        "{metrics}"
    );
    let in_file: Vec<String> = read_jsonl(&out)
        .iter()
        .map(|o| o["id"].to_string())
        .collect();
    svc.stop();

    // back with the sink pointing at the broker: the queued outputs go out
    write_cfg(broker.port);
    let svc = Service::start(&dir, &defs, &cfg, port);
    let mut got = Vec::new();
    wait_until(
        Duration::from_secs(20),
        "the queued outputs on JetStream",
        || {
            got = stream_messages(broker.port, "YJQ");
            got.len() >= in_file.len()
        },
    );
    let ids: Vec<String> = got.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        ids, in_file,
        "the queue delivered what the file got, in order"
    );
    svc.stop();
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
