//! The screen's routes (merged into [`crate::http::router`]):
//!
//! | route | what |
//! |---|---|
//! | `GET /`, `GET /assets/*`, other files of `dist/` | the page |
//! | `GET /api/view` | the whole screen (live) |
//! | `GET /api/stream` | its server-sent events (`Last-Event-ID` or `?since=` resumes) |
//! | `GET /api/geo` | the county's GeoJSON (`web.geojson`), else 404 |
//! | `POST /api/replay?speed=60` | a drill replay of the JSONL body (token); `201 {"replay":"r1",…}` |
//! | `GET /api/replay` | the replays running |
//! | `GET /api/replay/{id}`, `…/view`, `…/stream` | one replay's progress, screen and events |
//! | `POST /api/replay/{id}/ack` | a drill ack `{"person","ref"}` into the replay (token) |
//! | `DELETE /api/replay/{id}` | stops it (token) |

use super::replay::{self, DrillAck, SPEEDS};
use super::stream::stream;
use super::view::view;
use crate::http::{authorized, bad_request, reply, unauthorized, unavailable};
use crate::service::{Command, Shared};
use axum::Router;
use axum::extract::rejection::StringRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::oneshot;

type St = State<Arc<Shared>>;

/// The routes (the replay route's body limit from `web.replay.max_bytes`).
pub fn routes(shared: &Shared) -> Router<Arc<Shared>> {
    let limit = shared.cfg.web.replay.max_bytes;
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
        .route("/api/view", get(live_view))
        .route("/api/stream", get(live_stream))
        .route("/api/geo", get(geo))
        .route(
            "/api/replay",
            post(start_replay)
                .get(list_replays)
                .layer(DefaultBodyLimit::max(limit)),
        )
        .route("/api/replay/{id}", get(replay_info).delete(stop_replay))
        .route("/api/replay/{id}/view", get(replay_view))
        .route("/api/replay/{id}/stream", get(replay_stream))
        .route("/api/replay/{id}/ack", post(replay_ack))
        .fallback(get(other_file))
}

async fn index() -> Response {
    super::assets::serve("")
}

async fn asset(Path(path): Path<String>) -> Response {
    super::assets::serve(&format!("assets/{path}"))
}

async fn other_file(uri: Uri) -> Response {
    super::assets::serve(uri.path().trim_start_matches('/'))
}

fn json_ok(v: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(v),
    )
        .into_response()
}

async fn live_view(State(s): St) -> Response {
    let meta = s.meta();
    let v = s
        .views
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let clock = s.board.clock();
    json_ok(view(
        &v,
        &meta,
        &s.board.boot,
        clock.as_deref(),
        s.cfg.web.geo.as_deref(),
    ))
}

/// The resume point: `Last-Event-ID`, else `?since=`.
fn last_id(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(h) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        return Some(h.to_string());
    }
    query(uri, "since")
}

/// A query parameter's value (percent-decoding `%2F` and `%3A`, which is all
/// a boot id and a number need).
fn query(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| {
            v.replace("%2F", "/")
                .replace("%2f", "/")
                .replace("%3A", ":")
                .replace("%3a", ":")
        })
    })
}

async fn live_stream(State(s): St, headers: HeaderMap, uri: Uri) -> Response {
    stream(&s.views, &s.board, last_id(&headers, &uri).as_deref())
}

async fn geo(State(s): St) -> Response {
    match &s.cfg.web.geo {
        Some(g) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/geo+json"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            g.text.clone(),
        )
            .into_response(),
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"error": "no_geojson", "message": "serve.yaml names no county GeoJSON (web: { geojson: PATH }): draw the tile map from the townships' `tile`"}),
        ),
    }
}

fn no_replay(id: &str) -> Response {
    reply(
        StatusCode::NOT_FOUND,
        json!({"error": "no_replay", "message": format!("no replay `{id}` (it ended, was deleted, or never was): see GET /api/replay")}),
    )
}

async fn start_replay(
    State(s): St,
    headers: HeaderMap,
    uri: Uri,
    body: Result<String, StringRejection>,
) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let rc = &s.cfg.web.replay;
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": "too_large", "message": format!("the body is larger than web.replay.max_bytes ({} bytes)", rc.max_bytes)}),
            );
        }
        Err(e) => return bad_request(format!("the body: {e}")),
    };
    let speed = match query(&uri, "speed") {
        None => 60.0,
        Some(t) => match t.parse::<f64>() {
            Ok(v) if v.is_finite() && (SPEEDS.0..=SPEEDS.1).contains(&v) => v,
            _ => {
                return bad_request(format!(
                    "speed `{t}`: give event-seconds per wall second, a number from {} to {}",
                    SPEEDS.0, SPEEDS.1
                ));
            }
        },
    };
    let lines = match replay::parse_body(&body) {
        Ok(l) => l,
        Err(e) => return bad_request(e),
    };
    if s.replays.count() >= rc.max {
        return too_many(rc.max);
    }
    let (tx, rx) = oneshot::channel();
    if s.cmd_tx.send(Command::Fork { reply: tx }).await.is_err() {
        return unavailable();
    }
    let (engine, meta) = match rx.await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "engine", "message": e}),
            );
        }
        Err(_) => return unavailable(),
    };
    let n = lines.len();
    let started = replay::start(
        &s.replays,
        engine,
        meta,
        lines,
        replay::Start {
            speed,
            offset_min: s.cfg.utc_offset_min,
            keep: s.cfg.web.timeline,
            max: rc.max,
            ttl: rc.ttl.std(),
        },
    );
    match started {
        Ok(id) => reply(
            StatusCode::CREATED,
            json!({"replay": id, "speed": speed, "lines": n,
                   "view": format!("/api/replay/{id}/view"), "stream": format!("/api/replay/{id}/stream")}),
        ),
        Err(_) => too_many(rc.max),
    }
}

fn too_many(max: usize) -> Response {
    reply(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": "too_many_replays", "message": format!("{max} replays run already (web.replay.max): DELETE /api/replay/<id> one first")}),
    )
}

async fn list_replays(State(s): St) -> Response {
    json_ok(serde_json::to_value(s.replays.list()).unwrap_or(Value::Null))
}

async fn replay_info(State(s): St, Path(id): Path<String>) -> Response {
    match s.replays.get(&id) {
        Some(r) => json_ok(serde_json::to_value(r.info()).unwrap_or(Value::Null)),
        None => no_replay(&id),
    }
}

async fn replay_view(State(s): St, Path(id): Path<String>) -> Response {
    let Some(r) = s.replays.get(&id) else {
        return no_replay(&id);
    };
    let v = r
        .views
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let clock = r.board.clock();
    json_ok(view(
        &v,
        &r.meta,
        &r.board.boot,
        clock.as_deref(),
        s.cfg.web.geo.as_deref(),
    ))
}

async fn replay_stream(
    State(s): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(r) = s.replays.get(&id) else {
        return no_replay(&id);
    };
    stream(&r.views, &r.board, last_id(&headers, &uri).as_deref())
}

async fn replay_ack(
    State(s): St,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let Some(r) = s.replays.get(&id) else {
        return no_replay(&id);
    };
    let v: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("the body is not JSON: {e}")),
    };
    let Some(person) = v.get("person").and_then(Value::as_str) else {
        return bad_request("`person` (a string: the person's id) is missing".into());
    };
    let call_ref = v.get("ref").and_then(Value::as_str).map(str::to_string);
    if r.ack(DrillAck {
        person: person.to_string(),
        call_ref,
    }) {
        reply(
            StatusCode::ACCEPTED,
            json!({"status": "applied", "message": "the verdict comes out on the replay's stream as an acked or ack_rejected output"}),
        )
    } else {
        unavailable()
    }
}

async fn stop_replay(State(s): St, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    if s.replays.remove(&id) {
        reply(StatusCode::OK, json!({"replay": id, "stopped": true}))
    } else {
        no_replay(&id)
    }
}
