//! What supervisors watch: `GET /v1/live/calls` (the live board's calls in progress),
//! `GET /v1/alerts` (call alerts with their acknowledgements) and
//! `POST /v1/alerts/{id}/ack` (first acknowledgement stands; every attempt audited).

use super::access::{addr, Peer};
use super::json_error;
use crate::auth::{AuditEntry, Auth, Principal};
use crate::clock::{rfc3339, SharedClock};
use crate::pipeline::board::LiveBoard;
use crate::pipeline::ArchiveSink;
use crate::sinks::archive::alerts::{AlertAck, AlertFilter};
use crate::sinks::archive::{ArchiveError, ArchiveOp, ArchiveReader};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

/// Paths this module serves.
pub const PATHS: [&str; 3] = ["/v1/live/calls", "/v1/alerts", "/v1/alerts/{id}/ack"];

/// What the handlers read and write.
#[derive(Clone)]
pub struct WatchApi {
    pub board: LiveBoard,
    pub archive: ArchiveReader,
    pub sink: ArchiveSink,
    pub auth: Auth,
    pub clock: SharedClock,
    /// Acknowledgements given since start, so two supervisors acknowledging at once cannot
    /// both be first while the writer catches up.
    pub recent_acks: super::ack_ledger::AckLedger<AlertAck>,
}

/// The routes of [`PATHS`].
pub fn router(state: WatchApi) -> Router {
    let [live, alerts, ack] = PATHS;
    Router::new()
        .route(live, get(live_calls))
        .route(alerts, get(list_alerts))
        .route(ack, post(ack_alert))
        .with_state(state)
}

async fn live_calls(
    State(api): State<WatchApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
) -> Response {
    let items = api
        .board
        .calls(|c| who.sees_live_call(c.agent_id.as_deref(), c.queue.as_deref()));
    api.auth
        .audit(
            AuditEntry::by(&who, "live.list")
                .detail(format!("{} calls", items.len()))
                .from_addr(addr(&peer)),
        )
        .await;
    Json(serde_json::json!({ "items": items })).into_response()
}

async fn list_alerts(
    State(api): State<WatchApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    q: Result<Query<AlertFilter>, QueryRejection>,
) -> Response {
    let mut f = match q {
        Ok(Query(f)) => f,
        Err(r) => return json_error(StatusCode::BAD_REQUEST, "bad_query", &r.body_text()),
    };
    api.auth
        .audit(
            AuditEntry::by(&who, "alerts.list")
                .detail(format!(
                    "state={} queue={}",
                    f.state.as_deref().unwrap_or("open"),
                    f.queue.as_deref().unwrap_or("*")
                ))
                .from_addr(addr(&peer)),
        )
        .await;
    f.visible_queues = who.queues.clone();
    // Acknowledged here but perhaps not archived yet: still acknowledged for the state filter.
    f.acked_pending = api.recent_acks.ids();
    let archive = api.archive.clone();
    match tokio::task::spawn_blocking(move || archive.list_alerts(&f)).await {
        Ok(Ok(mut items)) => {
            for item in items.iter_mut().filter(|i| i.ack.is_none()) {
                item.ack = api.recent_acks.get(&item.alert_id);
            }
            Json(serde_json::json!({ "items": items })).into_response()
        }
        Ok(Err(ArchiveError::BadQuery(m))) => json_error(StatusCode::BAD_REQUEST, "bad_query", &m),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "alert request failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        &e.to_string(),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    note: Option<String>,
}

async fn ack_alert(
    State(api): State<WatchApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    Path(id): Path<String>,
    body: Option<Json<AckBody>>,
) -> Response {
    let note = match super::ack_ledger::note(body.and_then(|Json(b)| b.note)) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let audit = AuditEntry::by(&who, "alert.ack")
        .detail(format!("alert {id}"))
        .from_addr(addr(&peer));
    let (archive, lookup) = (api.archive.clone(), id.clone());
    let found = match tokio::task::spawn_blocking(move || archive.alert(&lookup)).await {
        Ok(Ok(a)) => a.filter(|a| who.sees_queue(a.queue.as_deref())),
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    let Some(alert) = found else {
        api.auth.audit(audit.outcome("not_found")).await;
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no alert {id:?}; list them with GET /v1/alerts"),
        );
    };
    let audit = audit.call(&alert.call_id);
    let record = AlertAck {
        alert_id: id.clone(),
        call_id: alert.call_id.clone(),
        acked_by: who.name.clone(),
        role: Some(who.role.as_str().to_string()),
        acked_at: rfc3339(api.clock.now()),
        note,
    };
    // The archived acknowledgement, else one given since start, else ours.
    let prior = alert.ack.or_else(|| api.recent_acks.claim(&id, &record));
    if let Some(prior) = prior {
        api.auth.audit(audit.outcome("already_acked")).await;
        let mut v = serde_json::to_value(prior).unwrap_or_default();
        v["already"] = true.into();
        return Json(v).into_response();
    }
    api.sink.send(ArchiveOp::AlertAck(record.clone()));
    api.auth.audit(audit).await;
    let mut v = serde_json::to_value(record).unwrap_or_default();
    v["already"] = false.into();
    Json(v).into_response()
}
