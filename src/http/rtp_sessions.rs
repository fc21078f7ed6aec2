//! `/v1/rtp-sessions`: plain RTP in without SIP (Asterisk ARI externalMedia, Janus rtp_forward).

use super::{json_error, AppState};
use crate::sources::rtp::sessions::{SessionError, SessionRequest};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

fn error_response(e: SessionError) -> Response {
    let (status, code) = match &e {
        SessionError::Invalid(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        SessionError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        SessionError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        SessionError::Ports(crate::sources::rtp::PortError::Exhausted { .. }) => {
            (StatusCode::SERVICE_UNAVAILABLE, "no_ports")
        }
        SessionError::Ports(_) => (StatusCode::SERVICE_UNAVAILABLE, "socket_error"),
        SessionError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
    };
    json_error(status, code, &e.to_string())
}

/// `POST /v1/rtp-sessions`: allocates a port pair per leg and starts receiving.
pub async fn create(
    State(app): State<AppState>,
    axum::Extension(who): axum::Extension<crate::auth::Principal>,
    body: Result<Json<SessionRequest>, JsonRejection>,
) -> Response {
    let mut req = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!(
                    "{}; send JSON {{call_id, legs: [{{leg, speaker, codec}}]}}",
                    e.body_text()
                ),
            )
        }
    };
    req.opened_by = Some(who.name);
    match app.rtp.create(&app.ingest, req) {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e) => error_response(e),
    }
}

/// `GET /v1/rtp-sessions/{id}`: ports and live per-leg statistics.
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match app.rtp.get(&id) {
        Ok(view) => Json(view).into_response(),
        Err(e) => error_response(e),
    }
}

/// `DELETE /v1/rtp-sessions/{id}`: ends the session; its legs finish and the call is archived.
pub async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match app.rtp.end(&id).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => error_response(e),
    }
}
