//! `GET /api/stream`: server-sent events.
//!
//! First `event: hello` (`{"boot","seq"}`, id `<boot>/<seq>`) on a fresh
//! connection; each output `event: output` with id `<boot>/<seq>` and the
//! timeline entry as data; after each batch `event: view`
//! (`{"boot","seq","clock","updated"}`). A connection carrying
//! `Last-Event-ID: <boot>/<seq>` (or `?since=<boot>/<seq>`) gets what it
//! missed from the timeline (the ring) and then the live events; when that
//! cannot be done (another boot: the service restarted; a sequence older
//! than the ring or ahead of it; a connection too slow for the channel) it
//! gets `event: resync` (`{"boot","seq","reason"}`) and refetches
//! `/api/view`; the live events keep coming after it (ignore those at or
//! below the view's `seq`). A keep-alive comment every 15 s.

use super::{Board, Msg};
use crate::views::Views;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::sync::RwLock;
use tokio::sync::broadcast::error::RecvError;

/// The keep-alive interval.
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// `<boot>/<seq>` → its parts.
pub fn parse_id(id: &str) -> Option<(&str, u64)> {
    let (boot, seq) = id.trim().rsplit_once('/')?;
    Some((boot, seq.parse().ok()?))
}

fn resync(boot: &str, seq: u64, reason: &str) -> Event {
    Event::default()
        .event("resync")
        .id(format!("{boot}/{seq}"))
        .data(serde_json::json!({"boot": boot, "seq": seq, "reason": reason}).to_string())
}

/// The stream of a screen (`views`, `board`), resuming after `last` when given.
pub fn stream(views: &RwLock<Views>, board: &Board, last: Option<&str>) -> Response {
    // subscribe first: nothing sent between reading the ring and listening is lost
    let rx = board.subscribe();
    let boot = board.boot.clone();
    let mut first: Vec<Event> = Vec::new();
    let sent = {
        let v = views
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cur = v.seq;
        match last {
            None => {
                first.push(
                    Event::default()
                        .event("hello")
                        .id(format!("{boot}/{cur}"))
                        .data(serde_json::json!({"boot": boot, "seq": cur}).to_string()),
                );
            }
            Some(id) => match parse_id(id) {
                Some((b, s)) if b == boot && s <= cur => {
                    let oldest = v.timeline.front().map_or(cur + 1, |e| e.seq);
                    if s + 1 >= oldest || s == cur {
                        for e in v.timeline.iter().filter(|e| e.seq > s) {
                            first.push(
                                Event::default()
                                    .event("output")
                                    .id(format!("{boot}/{}", e.seq))
                                    .data(serde_json::to_string(e).unwrap_or_default()),
                            );
                        }
                        first.push(Event::default().event("view").data(
                            serde_json::json!({"boot": boot, "seq": cur, "clock": board.clock(), "updated": v.updated}).to_string(),
                        ));
                    } else {
                        first.push(resync(&boot, cur, "gap"));
                    }
                }
                Some((b, _)) if b == boot => first.push(resync(&boot, cur, "ahead")),
                Some(_) => first.push(resync(&boot, cur, "boot")),
                None => first.push(resync(&boot, cur, "bad_id")),
            },
        }
        cur
    };
    let live = futures::stream::unfold((rx, sent, boot), |(mut rx, mut sent, boot)| async move {
        loop {
            match rx.recv().await {
                Ok(Msg::Output { seq, data }) => {
                    if seq <= sent {
                        continue;
                    }
                    sent = seq;
                    let ev = Event::default()
                        .event("output")
                        .id(format!("{boot}/{seq}"))
                        .data(&*data);
                    return Some((Ok::<Event, std::convert::Infallible>(ev), (rx, sent, boot)));
                }
                Ok(Msg::View(d)) => {
                    let ev = Event::default().event("view").data(&*d);
                    return Some((Ok::<Event, std::convert::Infallible>(ev), (rx, sent, boot)));
                }
                Err(RecvError::Lagged(_)) => {
                    // too slow: the page refetches the view
                    let ev = Event::default().event("resync").data(
                        serde_json::json!({"boot": boot, "seq": sent, "reason": "lagged"})
                            .to_string(),
                    );
                    return Some((Ok::<Event, std::convert::Infallible>(ev), (rx, sent, boot)));
                }
                Ok(Msg::Close) | Err(RecvError::Closed) => return None,
            }
        }
    });
    let all = futures::stream::iter(first.into_iter().map(Ok))
        .chain(live)
        .boxed();
    Sse::new(all)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}
