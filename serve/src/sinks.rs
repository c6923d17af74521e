//! Sinks: one delivery task per sink reads its [durable queue](crate::queue)
//! in batches, delivers them, and commits.
//!
//! A failed batch is retried with exponential backoff (200 ms doubling to
//! 30 s) until it goes through; records stay queued meanwhile. Per target:
//!
//! - **file**: appended lines; at start the file's tail is read for the
//!   highest id written, so a batch written just before a crash (and not
//!   committed) is not written twice;
//! - **NATS JetStream**: each record published with `Nats-Msg-Id` = its id,
//!   acks awaited per batch: a batch published again after a failure is
//!   deduplicated by the server within the stream's duplicate window;
//! - **MQTT**: QoS 1, at least once (consumers dedupe by `id`);
//! - **webhook**: `POST` with `Idempotency-Key: <id>`; 2xx is delivered;
//!   408, 429 and 5xx are retried; another 4xx is a refusal for good (the
//!   record is logged, counted in `yingji_sink_refused_total`, and skipped).

use crate::config::{SinkConfig, SinkTarget};
use crate::metrics::Metrics;
use crate::queue::{Queue, QueuedRecord, split_mid};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Records per delivery batch.
const BATCH: usize = 256;

enum Target {
    File {
        path: std::path::PathBuf,
        file: Option<tokio::fs::File>,
        high: BTreeMap<String, u64>,
    },
    Nats {
        url: String,
        subject: String,
        stream: Option<String>,
        js: Option<async_nats::jetstream::Context>,
    },
    Mqtt {
        client: rumqttc::AsyncClient,
        acks: watch::Receiver<u64>,
        topic: String,
    },
    Webhook {
        url: hyper::Uri,
        client: hyper_util::client::legacy::Client<
            hyper_util::client::legacy::connect::HttpConnector,
            http_body_util::Full<bytes::Bytes>,
        >,
    },
}

/// The highest id per namespace in the last 4 MiB of a JSONL file.
fn ids_in_tail(path: &std::path::Path) -> BTreeMap<String, u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut high = BTreeMap::new();
    let Ok(mut f) = std::fs::File::open(path) else {
        return high;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(4 << 20);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return high;
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return high;
    }
    for line in buf.split(|&b| b == b'\n') {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let mid = match v.get("id") {
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => continue,
        };
        if let Some((ns, n)) = split_mid(&mid) {
            let h = high.entry(ns.to_string()).or_insert(0);
            *h = (*h).max(n);
        }
    }
    high
}

impl Target {
    fn new(cfg: &SinkConfig) -> Target {
        match &cfg.target {
            SinkTarget::File { path } => Target::File {
                path: path.clone(),
                file: None,
                high: ids_in_tail(path),
            },
            SinkTarget::Nats {
                url,
                subject,
                stream,
            } => Target::Nats {
                url: url.clone(),
                subject: subject.clone(),
                stream: stream.clone(),
                js: None,
            },
            SinkTarget::Mqtt { host, port, topic } => {
                let mut opts = rumqttc::MqttOptions::new(
                    format!("yingji-serve-sink-{}", cfg.name),
                    host.clone(),
                    *port,
                );
                opts.set_keep_alive(Duration::from_secs(15));
                let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 1024);
                let (tx, rx) = watch::channel(0u64);
                let name = cfg.name.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    loop {
                        match eventloop.poll().await {
                            Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => {
                                n += 1;
                                let _ = tx.send(n);
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(sink = %name, error = %e, "MQTT sink connection lost");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                });
                Target::Mqtt {
                    client,
                    acks: rx,
                    topic: topic.clone(),
                }
            }
            SinkTarget::Webhook { url } => Target::Webhook {
                url: url.parse().unwrap_or_default(),
                client: hyper_util::client::legacy::Client::builder(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .build_http(),
            },
        }
    }

    /// Delivers a batch; `Ok(n)`: the first `n` records are done (the rest
    /// to retry), `Err`: nothing more can be done now.
    async fn deliver(
        &mut self,
        sink: &str,
        batch: &[(QueuedRecord, u64)],
        metrics: &Metrics,
    ) -> Result<usize, String> {
        match self {
            Target::File { path, file, high } => {
                use tokio::io::AsyncWriteExt;
                if file.is_none() {
                    let f = tokio::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&*path)
                        .await
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    *file = Some(f);
                }
                let mut text = String::new();
                for (r, _) in batch {
                    if let Some((ns, n)) = split_mid(&r.mid) {
                        if high.get(ns).is_some_and(|&h| n <= h) {
                            continue;
                        }
                        high.insert(ns.to_string(), n);
                    }
                    text.push_str(&r.body);
                    text.push('\n');
                }
                let Some(f) = file.as_mut() else {
                    return Err("file not open".into());
                };
                if let Err(e) = f.write_all(text.as_bytes()).await {
                    *file = None;
                    *high = ids_in_tail(path);
                    return Err(format!("{}: {e}", path.display()));
                }
                f.flush().await.map_err(|e| e.to_string())?;
                Ok(batch.len())
            }
            Target::Nats {
                url,
                subject,
                stream,
                js,
            } => {
                if js.is_none() {
                    let client = async_nats::connect(url.as_str())
                        .await
                        .map_err(|e| format!("NATS {url}: {e}"))?;
                    let ctx = async_nats::jetstream::new(client);
                    if let Some(name) = stream {
                        ctx.get_or_create_stream(async_nats::jetstream::stream::Config {
                            name: name.clone(),
                            subjects: vec![subject.clone()],
                            ..Default::default()
                        })
                        .await
                        .map_err(|e| format!("stream {name}: {e}"))?;
                    }
                    *js = Some(ctx);
                }
                let Some(ctx) = js.as_ref() else {
                    return Err("no JetStream context".into());
                };
                let mut acks = Vec::with_capacity(batch.len());
                for (r, _) in batch {
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert("Nats-Msg-Id", r.mid.as_str());
                    let ack = ctx
                        .publish_with_headers(subject.clone(), headers, r.body.clone().into())
                        .await
                        .map_err(|e| format!("publish: {e}"));
                    match ack {
                        Ok(a) => acks.push(a),
                        Err(e) => {
                            *js = None;
                            return Err(e);
                        }
                    }
                }
                let mut done = 0;
                for a in acks {
                    match a.await {
                        Ok(_) => done += 1,
                        Err(e) => {
                            if done == 0 {
                                return Err(format!("publish ack: {e}"));
                            }
                            return Ok(done);
                        }
                    }
                }
                Ok(done)
            }
            Target::Mqtt {
                client,
                acks,
                topic,
            } => {
                let start = *acks.borrow();
                for (r, _) in batch {
                    client
                        .publish(
                            topic.clone(),
                            rumqttc::QoS::AtLeastOnce,
                            false,
                            r.body.clone().into_bytes(),
                        )
                        .await
                        .map_err(|e| format!("MQTT publish: {e}"))?;
                }
                let want = start + batch.len() as u64;
                let waited = tokio::time::timeout(Duration::from_secs(10), async {
                    while *acks.borrow() < want {
                        if acks.changed().await.is_err() {
                            return false;
                        }
                    }
                    true
                })
                .await;
                match waited {
                    Ok(true) => Ok(batch.len()),
                    _ => Err("MQTT: no PUBACK within 10 s".into()),
                }
            }
            Target::Webhook { url, client } => {
                let mut done = 0;
                for (r, _) in batch {
                    let req = hyper::Request::post(url.clone())
                        .header("content-type", content_type(&r.body))
                        .header("idempotency-key", r.mid.as_str())
                        .body(http_body_util::Full::new(bytes::Bytes::from(
                            r.body.clone(),
                        )))
                        .map_err(|e| e.to_string())?;
                    let resp = match client.request(req).await {
                        Ok(resp) => resp,
                        Err(e) => {
                            if done > 0 {
                                return Ok(done);
                            }
                            return Err(format!("POST {url}: {e}"));
                        }
                    };
                    let code = resp.status().as_u16();
                    if (200..300).contains(&code) {
                        done += 1;
                    } else if (400..500).contains(&code) && code != 408 && code != 429 {
                        tracing::error!(sink, mid = %r.mid, status = code, "webhook refused the record for good: skipped");
                        metrics.dropped(sink);
                        done += 1;
                    } else {
                        if done > 0 {
                            return Ok(done);
                        }
                        return Err(format!("POST {url}: HTTP {code}"));
                    }
                }
                Ok(done)
            }
        }
    }
}

fn content_type(body: &str) -> &'static str {
    if body.starts_with('<') {
        "application/cap+xml"
    } else {
        "application/json"
    }
}

/// Delivers `queue` to the sink's target until `stop` turns true and the
/// queue is empty (or `stop` turns true a second time: give up draining).
pub async fn run_sink(
    cfg: SinkConfig,
    queue: Arc<Queue>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut target = Target::new(&cfg);
    let mut backoff = Duration::from_millis(200);
    loop {
        let pushed = queue.pushed.notified();
        let batch = match queue.peek(BATCH) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(sink = %cfg.name, error = %e, "cannot read the queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if batch.is_empty() {
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                _ = pushed => {}
                _ = stop.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            continue;
        }
        match target.deliver(&cfg.name, &batch, &metrics).await {
            Ok(n) if n > 0 => {
                backoff = Duration::from_millis(200);
                metrics.delivered(&cfg.name, n as u64);
                let off = batch[n - 1].1;
                if let Err(e) = queue.commit(off) {
                    tracing::error!(sink = %cfg.name, error = %e, "cannot commit the queue");
                }
            }
            Ok(_) => {}
            Err(e) => {
                metrics.failed(&cfg.name);
                tracing::warn!(sink = %cfg.name, error = %e, retry_in = ?backoff, queued = queue.depth_bytes(), "delivery failed: records stay queued");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {
                        if *stop.borrow() {
                            // stopping while the sink is down: what is queued stays on disk
                            return;
                        }
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
