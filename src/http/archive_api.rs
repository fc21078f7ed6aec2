//! HTTP API over the archive: call listing, call detail, transcript search and the
//! OpenAPI document of the whole service.
//!
//! Every error is JSON `{"error": "<code>", "detail": "<what to change>"}`.

use super::access::{addr, Peer};
use crate::auth::{AuditEntry, Auth, Principal};
use crate::sinks::archive::{ArchiveError, ArchiveReader, CallFilter, SearchQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Extension;
use axum::{Json, Router};
use serde::Serialize;

/// The hand-written OpenAPI 3.1 document of every callwatch endpoint.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// What the archive handlers read, and where they record who read what.
#[derive(Clone)]
pub struct ArchiveApi {
    pub archive: ArchiveReader,
    pub auth: Auth,
}

/// The archive routes.
pub fn router(api: ArchiveApi) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |r, (path, method)| r.route(path, method))
        .with_state(api)
}

/// Every path this module serves with its handlers; the OpenAPI test walks this list.
pub fn routes() -> Vec<(&'static str, MethodRouter<ArchiveApi>)> {
    vec![
        ("/v1/calls", get(list_calls)),
        ("/v1/calls/{id}", get(get_call)),
        ("/v1/search", get(search)),
        ("/v1/openapi.json", get(openapi)),
    ]
}

async fn list_calls(
    State(api): State<ArchiveApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    query: Result<Query<CallFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(mut filter) = query?;
    filter.visible_queues = who.queues.clone();
    match filter.format.as_deref() {
        None | Some("json") => {}
        Some("csv") => {
            let detail = super::calls_csv::describe(&filter);
            let archive = api.archive.clone();
            let calls = blocking(move || archive.export_calls(&filter)).await;
            let outcome = if calls.is_ok() { "ok" } else { "refused" };
            api.auth
                .audit(
                    AuditEntry::by(&who, "calls.export")
                        .detail(detail)
                        .from_addr(addr(&peer))
                        .outcome(outcome),
                )
                .await;
            return Ok(super::calls_csv::response(&calls?));
        }
        Some(other) => {
            return Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                error: "bad_query",
                detail: format!("format {other:?}: use json or csv"),
            })
        }
    }
    let archive = api.archive;
    let page = blocking(move || archive.list_calls(&filter)).await?;
    Ok(Json(page).into_response())
}

async fn get_call(
    State(api): State<ArchiveApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = id.clone();
    let archive = api.archive.clone();
    let found = blocking(move || archive.get_call(&lookup))
        .await?
        // A call of another queue is answered as if it did not exist: not even its id leaks.
        .filter(|c| who.sees_queue(c.call.queue.as_deref()));
    let read = AuditEntry::by(&who, "call.read")
        .call(&id)
        .from_addr(addr(&peer));
    match found {
        Some(call) => {
            api.auth.audit(read).await;
            Ok(Json(call).into_response())
        }
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            detail: format!("no call with id {id:?} is archived; list calls with GET /v1/calls"),
        }),
    }
}

async fn search(
    State(api): State<ArchiveApi>,
    Extension(who): Extension<Principal>,
    peer: Peer,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(mut q) = query?;
    q.visible_queues = who.queues.clone();
    api.auth
        .audit(
            AuditEntry::by(&who, "search")
                .detail(q.q.clone())
                .from_addr(addr(&peer)),
        )
        .await;
    let archive = api.archive;
    let page = blocking(move || archive.search(&q)).await?;
    Ok(Json(page).into_response())
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}

/// Runs a blocking archive query off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ArchiveError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "internal",
            detail: format!("archive query did not finish: {e}"),
        })?
        .map_err(ApiError::from)
}

/// An error response: status plus the JSON body every endpoint uses.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    error: &'static str,
    detail: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    detail: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.error,
            detail: &self.detail,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_query",
            detail: r.body_text(),
        }
    }
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> Self {
        let (status, error) = match &e {
            ArchiveError::BadQuery(_) => (StatusCode::BAD_REQUEST, "bad_query"),
            ArchiveError::QueryTimeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "query_timeout"),
            ArchiveError::Open { .. }
            | ArchiveError::SchemaMissing { .. }
            | ArchiveError::SchemaTooNew { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "archive_unavailable")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "archive query failed");
        }
        let detail = match e {
            ArchiveError::BadQuery(msg) => msg,
            other => other.to_string(),
        };
        ApiError {
            status,
            error,
            detail,
        }
    }
}
