//! The worker's log lines on standard error: one JSON object per line,
//! `{"ts":RFC3339,"worker":ID,"event":E,...}` (the chaos harness reads them).

use serde_json::{Map, Value};

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Writes one log line: `fields` (an object) after `ts`, `worker` and `event`.
pub fn line(worker: &str, event: &str, fields: Value) {
    let mut m = Map::new();
    m.insert(
        "ts".into(),
        Value::String(
            yingji_engine::Timestamp {
                ms: now_ms(),
                offset_min: 0,
            }
            .to_string(),
        ),
    );
    m.insert("worker".into(), Value::String(worker.to_string()));
    m.insert("event".into(), Value::String(event.to_string()));
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    eprintln!("{}", Value::Object(m));
}
