//! `GET /v1/events`: live events over WebSocket, one JSON object per text message.

use super::{json_error, AppState};
use crate::auth::{Principal, Role};
use crate::pipeline::registry::CallScope;
use crate::sinks::events::{Delivery, EventFilter, Payload, Published, Subscription};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// Upgrades to a WebSocket that streams the events matching the query's filter.
pub async fn events(
    State(app): State<AppState>,
    axum::Extension(who): axum::Extension<Principal>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let filter = match EventFilter::from_query(&q) {
        Ok(f) => f,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad event filter", &e),
    };
    let after = match q.get("after").map(|a| a.trim()).filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match a.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "bad event filter",
                    &format!("after=`{a}` must be the id of an event (a whole number)"),
                )
            }
        },
    };
    // Subscribed before the upgrade, so nothing published once the handshake is done is
    // missed.
    let sub = match after {
        Some(id) => app.shared.events.subscribe_after(id),
        None => app.shared.events.subscribe(),
    };
    // Subscribers only listen; a few KiB covers any control message they might send.
    ws.max_message_size(EVENTS_MAX_MESSAGE)
        .max_frame_size(EVENTS_MAX_MESSAGE)
        .on_upgrade(move |socket| stream_events(socket, app, sub, filter, who))
        .into_response()
}

/// Largest message a `/v1/events` subscriber may send.
pub const EVENTS_MAX_MESSAGE: usize = 4 * 1024;

/// Most calls whose scope one subscriber remembers; then it asks the registry again.
const SCOPES_MAX: usize = 10_000;

/// Decides which events reach one subscriber: an agent only its own calls', a
/// queue-limited supervisor only its queues'.
struct Visibility {
    who: Principal,
    scopes: HashMap<String, Option<CallScope>>,
}

impl Visibility {
    fn allows(&mut self, app: &AppState, p: &Published) -> bool {
        let e = &p.event;
        if self.who.role == Role::Admin && self.who.queues.is_none() {
            return true;
        }
        if e.call_id.is_empty() {
            // Not about one call (surge alerts): supervisors and admins.
            return matches!(self.who.role, Role::Admin | Role::Supervisor);
        }
        if let Payload::CallStarted {
            agent_id, queue, ..
        } = &e.payload
        {
            self.remember(&e.call_id, Some((agent_id.clone(), queue.clone())));
        }
        // The publishing node's word for the call's scope (a call live on another node of
        // the cluster is unknown to this node's registry).
        if let Some(scope) = &p.scope {
            return self
                .who
                .sees_live_call(scope.0.as_deref(), scope.1.as_deref());
        }
        if !self.scopes.contains_key(&e.call_id) {
            let scope = app.shared.registry.call_scope(&e.call_id);
            self.remember(&e.call_id, scope);
        }
        match &self.scopes[&e.call_id] {
            Some((agent, queue)) => self.who.sees_live_call(agent.as_deref(), queue.as_deref()),
            // A call the registry no longer knows and this subscriber never saw start.
            None => false,
        }
    }

    fn remember(&mut self, call_id: &str, scope: Option<CallScope>) {
        if self.scopes.len() >= SCOPES_MAX {
            self.scopes.clear();
        }
        self.scopes.insert(call_id.to_string(), scope);
    }
}

async fn stream_events(
    mut socket: WebSocket,
    app: AppState,
    mut sub: Subscription,
    filter: EventFilter,
    who: Principal,
) {
    let mut visible = Visibility {
        who,
        scopes: HashMap::new(),
    };
    let Some(mut guard) = app.shutdown.subscribe() else {
        return;
    };
    // Subscribers send nothing of their own, so they are pinged; a peer that answers nothing
    // (no pong, no frame) for the idle timeout is gone and its socket is closed.
    let idle = app.idle_timeout;
    let mut heard = tokio::time::Instant::now();
    let mut ping = tokio::time::interval(idle / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if heard.elapsed() >= idle {
                    tracing::info!(idle_s = idle.as_secs(), "events subscriber silent; closing it");
                    let reason = format!("no answer to pings for {} s", idle.as_secs());
                    let _ = socket.send(Message::Close(Some(CloseFrame { code: 1000, reason: reason.into() }))).await;
                    return;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
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
                // Subscribers have nothing to say; their pongs (and pings) show they are there.
                Some(Ok(_)) => heard = tokio::time::Instant::now(),
            },
            d = sub.next() => {
                let text = match d {
                    Delivery::Event(p) if filter.accepts(&p.event) && visible.allows(&app, &p) => p.json.clone(),
                    Delivery::Event(_) => continue,
                    Delivery::Lagged(missed) => {
                        tracing::warn!(missed, "events subscriber lagged");
                        crate::metrics::metrics()
                            .events_dropped
                            .with_label_values(&[visible.who.name.as_str()])
                            .inc_by(missed);
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
