//! Replays for drills (桌面推演): a history file played on an engine of its
//! own, built from the same definitions as the live one (which is
//! untouched: nothing of a replay is journaled, checkpointed, routed or
//! sent to a sink), with its own views and stream.
//!
//! Time: the replay's clock starts at the first line's `ts` and runs
//! `speed` event-seconds per wall second; a line is applied when the clock
//! reaches its time, and the engine's clock is advanced every 250 ms, so a
//! 叫应 tier's timeout escalates during a quiet spell as it would live. The
//! engine runs with no allowed lateness (a file is in order; a line behind
//! the clock gives a `late` record, as `yingji run` would). After the last
//! line the clock keeps running (timers, drill acks) until the replay is
//! deleted or has lived `web.replay.ttl`.

use super::{Board, Meta, apply_outputs, reading_of};
use crate::views::Views;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{mpsc, watch};
use yingji_engine::{Engine, Timestamp};

/// The slowest and fastest speeds taken (event-seconds per wall second).
pub const SPEEDS: (f64, f64) = (0.01, 1_000_000.0);

/// What a replay reports about itself.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReplayInfo {
    /// Its id.
    pub replay: String,
    /// Event-seconds per wall second.
    pub speed: f64,
    /// Lines in the file.
    pub lines: usize,
    /// Lines applied so far.
    pub applied: usize,
    /// Lines the engine refused.
    pub refused: usize,
    /// The first line's time.
    pub first: String,
    /// The last line's time.
    pub last: String,
    /// All lines applied.
    pub finished: bool,
}

/// A drill ack for a replay.
#[derive(Debug)]
pub struct DrillAck {
    /// The person.
    pub person: String,
    /// The call reference.
    pub call_ref: Option<String>,
}

/// A running replay.
pub struct Replay {
    /// Its screen's views.
    pub views: RwLock<Views>,
    /// Its screen's board.
    pub board: Board,
    /// The definitions' names, places and flowcharts.
    pub meta: Arc<Meta>,
    /// Progress.
    pub info: RwLock<ReplayInfo>,
    stop: watch::Sender<bool>,
    acks: mpsc::Sender<DrillAck>,
}

impl Replay {
    /// Hands a drill ack to the replay's engine (false when it stopped or is busy).
    pub fn ack(&self, a: DrillAck) -> bool {
        self.acks.try_send(a).is_ok()
    }

    /// Its progress.
    pub fn info(&self) -> ReplayInfo {
        self.info
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The running replays.
#[derive(Default)]
pub struct Replays {
    map: Mutex<BTreeMap<String, Arc<Replay>>>,
    next: AtomicU64,
}

impl Replays {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Replay>>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The replay `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Replay>> {
        self.lock().get(id).cloned()
    }

    /// All replays' progress.
    pub fn list(&self) -> Vec<ReplayInfo> {
        self.lock().values().map(|r| r.info()).collect()
    }

    /// How many run.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Stops and forgets `id`; false when there is none.
    pub fn remove(&self, id: &str) -> bool {
        match self.lock().remove(id) {
            Some(r) => {
                let _ = r.stop.send(true);
                true
            }
            None => false,
        }
    }
}

/// A JSONL body's lines with their times (ms), or the first problem with
/// its line number.
pub fn parse_body(body: &str) -> Result<Vec<(String, i64)>, String> {
    let mut out = Vec::new();
    for (n, raw) in body.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("line {}: not a JSON object: {e}", n + 1))?;
        let Some(ts) = v.get("ts").and_then(Value::as_str) else {
            return Err(format!(
                "line {}: no `ts` (every event needs its time to be paced)",
                n + 1
            ));
        };
        let t = Timestamp::parse(ts).map_err(|e| format!("line {}: `ts`: {e}", n + 1))?;
        out.push((line.to_string(), t.ms));
    }
    if out.is_empty() {
        return Err("the body holds no event lines (JSONL: one event object per line)".into());
    }
    Ok(out)
}

/// Settings of one replay.
pub struct Start {
    /// Event-seconds per wall second.
    pub speed: f64,
    /// The UTC offset of the times it writes (acks).
    pub offset_min: i16,
    /// Timeline entries kept.
    pub keep: usize,
    /// Most replays at once.
    pub max: usize,
    /// How long it lives.
    pub ttl: std::time::Duration,
}

/// Starts a replay of `lines` on `engine`; `Err` with the number running
/// when `max` run already.
pub fn start(
    replays: &Arc<Replays>,
    engine: Engine,
    meta: Arc<Meta>,
    lines: Vec<(String, i64)>,
    s: Start,
) -> Result<String, usize> {
    let mut map = replays.lock();
    if map.len() >= s.max {
        return Err(map.len());
    }
    let n = replays.next.fetch_add(1, Ordering::Relaxed) + 1;
    let id = format!("r{n}");
    let (stop, stop_rx) = watch::channel(false);
    let (acks, acks_rx) = mpsc::channel(64);
    let stamp = |ms: i64| {
        Timestamp {
            ms,
            offset_min: s.offset_min,
        }
        .to_string()
    };
    let info = ReplayInfo {
        replay: id.clone(),
        speed: s.speed,
        lines: lines.len(),
        first: lines.first().map(|l| stamp(l.1)).unwrap_or_default(),
        last: lines.last().map(|l| stamp(l.1)).unwrap_or_default(),
        ..ReplayInfo::default()
    };
    let r = Arc::new(Replay {
        views: RwLock::default(),
        board: Board::new(&id),
        meta,
        info: RwLock::new(info),
        stop,
        acks,
    });
    map.insert(id.clone(), r.clone());
    drop(map);
    tokio::spawn(run(
        replays.clone(),
        id.clone(),
        r,
        engine,
        lines,
        s,
        stop_rx,
        acks_rx,
    ));
    Ok(id)
}

#[allow(
    clippy::too_many_arguments,
    reason = "the task's whole state, handed over once"
)]
async fn run(
    replays: Arc<Replays>,
    id: String,
    r: Arc<Replay>,
    mut engine: Engine,
    lines: Vec<(String, i64)>,
    s: Start,
    mut stop: watch::Receiver<bool>,
    mut acks: mpsc::Receiver<DrillAck>,
) {
    let t0 = lines.first().map_or(0, |l| l.1);
    let began = std::time::Instant::now();
    let vnow = |b: std::time::Instant| t0 + (b.elapsed().as_secs_f64() * s.speed * 1000.0) as i64;
    let mut i = 0usize;
    let mut event = 0u64;
    let mut refused = 0usize;
    loop {
        let now = vnow(began);
        let mut outs = Vec::new();
        let mut readings = Vec::new();
        while let Some((line, ms)) = lines.get(i) {
            if *ms > now {
                break;
            }
            event += 1;
            match engine.push_line(line, event, &mut outs) {
                Ok(()) => readings.extend(reading_of(line)),
                Err(e) => {
                    refused += 1;
                    tracing::debug!(replay = %id, line = i + 1, error = %e, "replay line refused");
                }
            }
            i += 1;
        }
        if i > 0 {
            engine.advance_to(
                Timestamp {
                    ms: now,
                    offset_min: s.offset_min,
                },
                &mut outs,
            );
        }
        publish(&r, &engine, outs, &readings, s.keep);
        {
            let mut inf = r
                .info
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            inf.applied = i;
            inf.refused = refused;
            inf.finished = i >= lines.len();
        }
        if began.elapsed() >= s.ttl {
            tracing::info!(replay = %id, "replay reached its ttl: stopped");
            break;
        }
        let wait_ms = match lines.get(i) {
            Some((_, ms)) => (((*ms - now) as f64 / s.speed) as u64).clamp(1, 250),
            None => 250,
        };
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait_ms)) => {}
            a = acks.recv() => {
                let Some(a) = a else { break };
                let ts = Timestamp { ms: vnow(began).max(engine.clock().map_or(t0, |c| c.ms)), offset_min: s.offset_min };
                let mut line = serde_json::json!({"ts": ts.to_string(), "kind": "ack", "person": a.person});
                if let (Some(c), Some(m)) = (a.call_ref, line.as_object_mut()) {
                    m.insert("ref".into(), Value::from(c));
                }
                event += 1;
                let mut outs = Vec::new();
                if let Err(e) = engine.push_line(&line.to_string(), event, &mut outs) {
                    tracing::debug!(replay = %id, error = %e, "drill ack refused");
                }
                publish(&r, &engine, outs, &[], s.keep);
            }
            _ = stop.changed() => break,
        }
    }
    replays.remove(&id);
}

fn publish(
    r: &Replay,
    engine: &Engine,
    outs: Vec<yingji_engine::Output>,
    readings: &[(String, String)],
    keep: usize,
) {
    r.board.set_clock(engine.clock().map(|c| c.to_string()));
    if !readings.is_empty() {
        let mut v = r
            .views
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (k, ts) in readings {
            v.reading(k, ts);
        }
    }
    let pairs: Vec<(yingji_engine::Output, Value)> = outs
        .into_iter()
        .map(|o| {
            let v = serde_json::from_str(&o.to_json()).unwrap_or(Value::Null);
            (o, v)
        })
        .collect();
    apply_outputs(&r.views, &r.board, &r.meta, &pairs, keep);
}
