//! Operator endpoints: `POST /v1/admin/reload` re-reads lexicons and rules without a restart
//! (and hands them to every node of a cluster); `GET /v1/admin/inspection` says which set runs.

use super::{json_error, AppState};
use crate::cluster::reload::ReloadError;
use crate::transforms::rules::InspectionError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Reloads lexicons and rules. 200 with the new counts and digest (and, in a cluster, the
/// set's stream sequence); 400 with the file:line error when a file is invalid, in which case
/// the previous set stays in force everywhere; 503 when this node reloaded but NATS did not
/// take the set, so the other nodes still run theirs. Audited either way.
pub async fn reload(
    State(app): State<AppState>,
    axum::Extension(who): axum::Extension<crate::auth::Principal>,
    peer: super::access::Peer,
) -> Response {
    let audit = crate::auth::AuditEntry::by(&who, "reload").from_addr(super::access::addr(&peer));
    let done = app.reloader.reload().await;
    let outcome = done.as_ref().map_or("failed".into(), |r| r.outcome());
    let detail = done
        .as_ref()
        .ok()
        .map(|r| format!("set {}", r.summary.digest));
    app.auth
        .audit(crate::auth::AuditEntry {
            detail,
            ..audit.outcome(&outcome)
        })
        .await;
    match done {
        Ok(r) => match r.cluster.as_ref().and_then(|c| c.error.clone()) {
            None => Json(r).into_response(),
            Some(e) => json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "reload_not_published",
                &format!(
                    "this node now runs set {} but NATS did not take it ({e}); the other nodes \
                     keep their set: reload again once /readyz shows the bus connected",
                    r.summary.digest
                ),
            ),
        },
        Err(ReloadError::Files(e)) => {
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
        Err(e @ ReloadError::Interrupted(_)) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}

/// The lexicons and rules in force on this node: counts and the digest of their files, equal
/// on every node running the same set.
pub async fn inspection(State(app): State<AppState>) -> Response {
    Json(app.reloader.summary()).into_response()
}
