//! `GET /v1/events`: live events over WebSocket, one JSON object per text message.

use super::{json_error, AppState};
use crate::sinks::events::{Delivery, EventFilter, Payload};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Upgrades to a WebSocket that streams the events matching the query's filter.
pub async fn events(
    State(app): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let filter = match EventFilter::from_query(&q) {
        Ok(f) => f,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad event filter", &e),
    };
    // Subscribers only listen; a few KiB covers any control message they might send.
    ws.max_message_size(EVENTS_MAX_MESSAGE)
        .max_frame_size(EVENTS_MAX_MESSAGE)
        .on_upgrade(move |socket| stream_events(socket, app, filter))
        .into_response()
}

/// Largest message a `/v1/events` subscriber may send.
pub const EVENTS_MAX_MESSAGE: usize = 4 * 1024;

async fn stream_events(mut socket: WebSocket, app: AppState, filter: EventFilter) {
    let Some(mut guard) = app.shutdown.subscribe() else {
        return;
    };
    let mut sub = app.shared.events.subscribe();
    loop {
        tokio::select! {
            _ = guard.recv() => {
                let _ = socket.send(Message::Close(Some(CloseFrame { code: 1001, reason: "server shutting down".into() }))).await;
                return;
            }
            incoming = socket.recv() => match incoming {
                Some(Err(e)) if super::fork::too_big(&e) => {
                    let reason = format!("message over {} KiB; subscribers only listen", EVENTS_MAX_MESSAGE / 1024);
                    let _ = socket.send(Message::Close(Some(CloseFrame { code: 1009, reason: reason.into() }))).await;
                    return;
                }
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => continue, // subscribers have nothing to say; pings are answered by axum
            },
            d = sub.next() => {
                let text = match d {
                    Delivery::Event(p) if filter.accepts(&p.event) => p.json.clone(),
                    Delivery::Event(_) => continue,
                    Delivery::Lagged(missed) => {
                        tracing::warn!(missed, "events subscriber lagged");
                        serde_json::json!({
                            "type": Payload::Lagged { missed }.type_name(),
                            "missed": missed,
                            "at": crate::clock::rfc3339(app.shared.clock.now()),
                        }).to_string()
                    }
                    Delivery::Closed => return,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}
