//! Sources: tasks that hand event lines to the engine task.
//!
//! Every source sends [`Input`]s on the one bounded input channel; when it
//! is full they wait (back-pressure). A line that is not JSON is not the
//! source's problem: the engine task refuses it, counts it under the
//! source's name (`yingji_events_rejected_total{reason="not_json"}`) and
//! logs it, and the source reads on.

use crate::service::Input;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, BufReader};
use tokio::sync::mpsc::Sender;

/// Follows a JSONL file from byte `from`: complete lines are sent with the
/// offset after them; at the end of the file it looks again every `poll`.
/// A file that shrank (rotated or truncated) is read again from its start.
/// A missing file is waited for.
pub async fn follow_file(
    name: Arc<str>,
    path: PathBuf,
    from: u64,
    poll: Duration,
    speed: Option<f64>,
    tx: Sender<Input>,
) {
    let mut pos = from;
    // with `speed`: the event time of the last line sent
    let mut paced: Option<i64> = None;
    let mut warned = false;
    loop {
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) => {
                if !warned {
                    tracing::warn!(source = %name, path = %path.display(), error = %e, "cannot open the file: waiting for it");
                    warned = true;
                }
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        warned = false;
        let len = match file.metadata().await {
            Ok(m) => m.len(),
            Err(_) => 0,
        };
        if len < pos {
            tracing::warn!(source = %name, path = %path.display(), was = pos, now = len, "the file shrank: reading it again from the start");
            pos = 0;
        }
        let mut file = file;
        if file.seek(SeekFrom::Start(pos)).await.is_err() {
            tokio::time::sleep(poll).await;
            continue;
        }
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = match (&mut reader)
                .take(crate::MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
                .await
            {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(source = %name, error = %e, "read failed: reopening");
                    break;
                }
            };
            if n == 0 || buf.last() != Some(&b'\n') {
                if n > crate::MAX_LINE {
                    // a line too long to hold: skip to its end
                    tracing::warn!(source = %name, at = pos, "line longer than 1 MiB: skipped");
                    pos += n as u64;
                    let mut rest = Vec::new();
                    match reader.read_until(b'\n', &mut rest).await {
                        Ok(m) => pos += m as u64,
                        Err(_) => break,
                    }
                    continue;
                }
                // end of the file, or a line still being written: look again later
                break;
            }
            pos += n as u64;
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                continue;
            }
            if let Some(speed) = speed {
                if let Some(t) = line_time(line) {
                    if let Some(p) = paced {
                        if t > p {
                            let wall = ((t - p) as f64 / speed).min(86_400_000.0);
                            tokio::time::sleep(Duration::from_millis(wall as u64)).await;
                        }
                    }
                    paced = Some(paced.map_or(t, |p| p.max(t)));
                }
            }
            let inp = Input {
                src: name.clone(),
                line: line.to_string(),
                at: Some(pos),
                journaled: None,
            };
            if tx.send(inp).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// The event time (ms) of a line's `ts`, if it has one.
fn line_time(line: &str) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Ts<'a> {
        #[serde(borrow)]
        ts: &'a str,
    }
    let t: Ts = serde_json::from_str(line).ok()?;
    yingji_engine::Timestamp::parse(t.ts).ok().map(|t| t.ms)
}

/// Standard input, one event per line, until its end.
pub async fn stdin(name: Arc<str>, tx: Sender<Input>) {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => {
                if line.trim().is_empty() {
                    continue;
                }
                if tx
                    .send(Input {
                        src: name.clone(),
                        line,
                        at: None,
                        journaled: None,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(None) => {
                tracing::info!(source = %name, "standard input ended");
                return;
            }
            Err(e) => {
                tracing::warn!(source = %name, error = %e, "standard input: read failed");
                return;
            }
        }
    }
}

/// A payload as a line: UTF-8 text (invalid bytes replaced, so the engine
/// refuses it as not JSON and it is counted).
fn payload_line(p: &[u8]) -> String {
    String::from_utf8_lossy(p).trim().to_string()
}

/// MQTT subscriptions (QoS 1, a persistent session), reconnecting with
/// backoff; each payload is one event, acknowledged (PUBACK) once it is in
/// the journal, so the broker redelivers what a crash left unjournaled.
pub async fn mqtt(
    name: Arc<str>,
    host: String,
    port: u16,
    topics: Vec<String>,
    client_id: String,
    tx: Sender<Input>,
) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut opts = MqttOptions::new(client_id, host.clone(), port);
    opts.set_keep_alive(Duration::from_secs(15));
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    let (client, mut eventloop) = AsyncClient::new(opts, 256);
    let mut backoff = Duration::from_millis(200);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(200);
                tracing::info!(source = %name, "MQTT connected; subscribing");
                for t in &topics {
                    if let Err(e) = client.subscribe(t.clone(), QoS::AtLeastOnce).await {
                        tracing::warn!(source = %name, topic = %t, error = %e, "subscribe failed");
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                tracing::info!(source = %name, "MQTT subscribed");
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                // acknowledged to the broker once journaled, not on receipt:
                // a crash before that gets the message again
                let (done, journaled) = tokio::sync::oneshot::channel();
                let inp = Input {
                    src: name.clone(),
                    line: payload_line(&p.payload),
                    at: None,
                    journaled: Some(done),
                };
                if tx.send(inp).await.is_err() {
                    return;
                }
                let client = client.clone();
                tokio::spawn(async move {
                    if journaled.await.is_ok() {
                        let _ = client.ack(&p).await;
                    }
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(source = %name, error = %e, retry_in = ?backoff, "MQTT connection lost");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// NATS subscriptions (core NATS: at most once; messages published while
/// the service is down, or in its input channel when it is killed, are not
/// redelivered); each message is one event. The client reconnects by itself.
pub async fn nats(name: Arc<str>, url: String, subjects: Vec<String>, tx: Sender<Input>) {
    use futures::StreamExt;
    let mut backoff = Duration::from_millis(200);
    let client = loop {
        match async_nats::connect(&url).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(source = %name, url = %url, error = %e, retry_in = ?backoff, "NATS connect failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    };
    let mut subs = Vec::new();
    for s in &subjects {
        match client.subscribe(s.clone()).await {
            Ok(sub) => subs.push(sub),
            Err(e) => tracing::warn!(source = %name, subject = %s, error = %e, "subscribe failed"),
        }
    }
    // the server has the subscriptions once a flush comes back
    if let Err(e) = client.flush().await {
        tracing::warn!(source = %name, error = %e, "NATS flush after subscribing failed");
    }
    tracing::info!(source = %name, subjects = ?subjects, "NATS subscribed");
    let mut all = futures::stream::select_all(subs);
    while let Some(msg) = all.next().await {
        let inp = Input {
            src: name.clone(),
            line: payload_line(&msg.payload),
            at: None,
            journaled: None,
        };
        if tx.send(inp).await.is_err() {
            return;
        }
    }
}
