//! The HTTP API (axum).
//!
//! | route | what |
//! |---|---|
//! | `POST /ack` | 叫应 callback: `{"person":"P1","ref":"…"}` (token) |
//! | `POST /events` | event lines: JSONL, a JSON array or one object (token) |
//! | `POST /silences`, `GET /silences` | add / list silences (token to add) |
//! | `POST /reload` | reload the definitions (token) |
//! | `GET /levels`, `GET /plans`, `GET /health`, `GET /metrics` | reading |
//! | `/`, `/assets/*`, `/api/*` | the duty-officer screen ([`crate::web::routes`]) |
//!
//! The token is sent as `X-Yingji-Token: <token>` or `Authorization: Bearer
//! <token>`; a request without it, or with another, is `401`.
//!
//! `POST /ack` answers: `200 {"status":"acked",…}`; `409
//! {"status":"refused","reason":…}` with the plans' reasons (`unknown_call`,
//! `unknown_person`, `closed`, `not_called_yet`, `ambiguous`); `200
//! {"status":"refused","reason":"duplicate"}` for an answer given already
//! (a gateway retrying gets a success and changes nothing: idempotent);
//! `202 {"status":"pending"}` when the engine's verdict (held back by the
//! allowed lateness) is not out within `ack_wait`; `400` for a body that is
//! not an ack.

use crate::route::SilenceSpec;
use crate::service::{AckOutcome, Command, Input, Shared};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::oneshot;

type St = State<Arc<Shared>>;

pub(crate) fn reply(code: StatusCode, v: Value) -> Response {
    (code, axum::Json(v)).into_response()
}

pub(crate) fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let Some(h) = &shared.cfg.http else {
        return false;
    };
    let given = headers
        .get("x-yingji-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        });
    // compare without an early exit on the first differing byte
    given.is_some_and(|g| {
        g.len() == h.token.len()
            && g.bytes()
                .zip(h.token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

pub(crate) fn unauthorized() -> Response {
    reply(
        StatusCode::UNAUTHORIZED,
        json!({"error": "unauthorized", "message": "send the token from serve.yaml (http.token) in the X-Yingji-Token header"}),
    )
}

pub(crate) fn bad_request(message: String) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({"error": "bad_request", "message": message}),
    )
}

pub(crate) fn unavailable() -> Response {
    reply(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": "unavailable", "message": "the service is stopping"}),
    )
}

/// The API's routes.
pub fn router(shared: Arc<Shared>) -> Router {
    let web = crate::web::routes::routes(&shared);
    Router::new()
        .route("/ack", post(ack))
        .route("/events", post(events))
        .route("/silences", post(add_silence).get(list_silences))
        .route("/reload", post(reload))
        .route("/levels", get(levels))
        .route("/plans", get(plans))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(web)
        .with_state(shared)
}

async fn ack(State(s): St, headers: HeaderMap, body: String) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let v: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("the body is not JSON: {e}")),
    };
    let Some(person) = v.get("person").and_then(Value::as_str) else {
        return bad_request("`person` (a string: the person's id) is missing".into());
    };
    let call_ref = match v.get("ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return bad_request("`ref` must be a string (the call reference)".into()),
    };
    let (tx, rx) = oneshot::channel();
    let cmd = Command::Ack {
        person: person.to_string(),
        call_ref,
        reply: tx,
    };
    if s.cmd_tx.send(cmd).await.is_err() {
        return unavailable();
    }
    let wait = s
        .cfg
        .http
        .as_ref()
        .map_or(std::time::Duration::from_secs(5), |h| h.ack_wait.std());
    let outcome = match tokio::time::timeout(wait, rx).await {
        Ok(Ok(o)) => o,
        Ok(Err(_)) => return unavailable(),
        Err(_) => {
            return reply(
                StatusCode::ACCEPTED,
                json!({"status": "pending", "message": "applied; the verdict comes out as an acked or ack_rejected output"}),
            );
        }
    };
    let code = match &outcome {
        AckOutcome::Acked { .. } => StatusCode::OK,
        AckOutcome::Refused { reason, .. } if reason == "duplicate" => StatusCode::OK,
        AckOutcome::Refused { .. } => StatusCode::CONFLICT,
        AckOutcome::Invalid { .. } => StatusCode::BAD_REQUEST,
    };
    reply(code, serde_json::to_value(&outcome).unwrap_or(Value::Null))
}

async fn events(State(s): St, headers: HeaderMap, body: String) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let lines: Vec<String> = if body.trim_start().starts_with('[') {
        match serde_json::from_str::<Vec<Value>>(&body) {
            Ok(items) => items.iter().map(Value::to_string).collect(),
            Err(e) => return bad_request(format!("the body is not a JSON array: {e}")),
        }
    } else {
        body.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    };
    let src: Arc<str> = Arc::from("http:events");
    let mut queued = 0usize;
    let mut last = None;
    for line in lines.iter() {
        let (done, journaled) = oneshot::channel();
        let inp = Input {
            src: src.clone(),
            line: line.clone(),
            at: None,
            journaled: Some(done),
        };
        match s.in_tx.try_send(inp) {
            Ok(()) => {
                queued += 1;
                last = Some(journaled);
            }
            Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                return reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": "busy", "queued": queued, "message": "the input channel is full (a sink is down or the engine is behind): send the rest again later"}),
                );
            }
            Err(_) => return unavailable(),
        }
    }
    // answered once the last line is in the journal: a crash after this
    // loses none of them
    if let Some(j) = last {
        if j.await.is_err() {
            return unavailable();
        }
    }
    reply(
        StatusCode::ACCEPTED,
        json!({"queued": queued, "message": "journaled; events are applied in order and refusals counted in /metrics"}),
    )
}

async fn add_silence(State(s): St, headers: HeaderMap, body: String) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let spec: SilenceSpec = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("not a silence: {e}")),
    };
    let (tx, rx) = oneshot::channel();
    if s.cmd_tx
        .send(Command::Silence { spec, reply: tx })
        .await
        .is_err()
    {
        return unavailable();
    }
    match rx.await {
        Ok(Ok(sil)) => reply(
            StatusCode::CREATED,
            serde_json::to_value(&sil).unwrap_or(Value::Null),
        ),
        Ok(Err(e)) => bad_request(e),
        Err(_) => unavailable(),
    }
}

async fn list_silences(State(s): St) -> Response {
    let g = s
        .silences
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reply(
        StatusCode::OK,
        serde_json::to_value(&*g).unwrap_or(Value::Null),
    )
}

async fn reload(State(s): St, headers: HeaderMap) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let (tx, rx) = oneshot::channel();
    if s.cmd_tx.send(Command::Reload { reply: tx }).await.is_err() {
        return unavailable();
    }
    match rx.await {
        Ok(Ok(r)) => reply(
            StatusCode::OK,
            json!({"reloaded": true, "kept": r.kept, "reset": r.reset, "files": r.files}),
        ),
        Ok(Err(e)) => reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"reloaded": false, "message": "the definitions did not load; the running ones stay", "diagnostics": e.diagnostics, "rendered": e.rendered}),
        ),
        Err(_) => unavailable(),
    }
}

async fn levels(State(s): St) -> Response {
    let v = s
        .views
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reply(
        StatusCode::OK,
        serde_json::to_value(&v.levels).unwrap_or(Value::Null),
    )
}

async fn plans(State(s): St) -> Response {
    let v = s
        .views
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let list: Vec<Value> = v
        .plans
        .iter()
        .map(|(id, p)| {
            let pending: Vec<Value> = v
                .pending(id)
                .into_iter()
                .map(|(person, r, tier)| json!({"person": person, "ref": r, "tier": tier}))
                .collect();
            json!({
                "instance": id, "plan": p.plan, "area": p.area, "started": p.started,
                "step": p.step, "tier": p.tier, "response": p.response, "pending": pending,
            })
        })
        .collect();
    reply(StatusCode::OK, Value::Array(list))
}

async fn health(State(s): St) -> Response {
    let st = s
        .status
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let sinks: Vec<Value> = s
        .queues
        .iter()
        .map(|q| json!({"name": q.name(), "queued_bytes": q.depth_bytes(), "full": q.is_full()}))
        .collect();
    let degraded = s.queues.iter().any(|q| q.is_full());
    reply(
        StatusCode::OK,
        json!({
            "status": if degraded { "degraded" } else { "ok" },
            "clock": st.clock, "events": st.events, "last_checkpoint": st.last_checkpoint,
            "files": st.files, "sinks": sinks,
        }),
    )
}

async fn metrics(State(s): St) -> Response {
    (
        StatusCode::OK,
        [("content-type", "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}
