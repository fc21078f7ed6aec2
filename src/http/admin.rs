//! Operator endpoints: `POST /v1/admin/reload` re-reads lexicons and rules without a restart.

use super::{json_error, AppState};
use crate::transforms::rules::InspectionError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Reloads lexicons and rules. 200 with the new counts; 400 with the file:line error when a
/// file is invalid, in which case the previous set stays in force. Audited either way.
pub async fn reload(
    State(app): State<AppState>,
    axum::Extension(who): axum::Extension<crate::auth::Principal>,
    peer: super::access::Peer,
) -> Response {
    let shared = app.shared.clone();
    let audit = crate::auth::AuditEntry::by(&who, "reload").from_addr(super::access::addr(&peer));
    let done = tokio::task::spawn_blocking(move || shared.reload()).await;
    let outcome = match &done {
        Ok(Ok(_)) => "ok",
        _ => "failed",
    };
    app.auth.audit(audit.outcome(outcome)).await;
    match done {
        Ok(Ok(summary)) => Json(summary).into_response(),
        Ok(Err(e)) => {
            let status = match e {
                InspectionError::Lexicon(crate::transforms::matcher::LexiconError::Io {
                    ..
                })
                | InspectionError::Rules(crate::transforms::rules::RuleError::Io { .. }) => {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
                _ => StatusCode::BAD_REQUEST,
            };
            json_error(
                status,
                "reload_failed",
                &format!("{e}; the previous lexicons and rules stay in force"),
            )
        }
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("reload did not finish: {e}"),
        ),
    }
}
