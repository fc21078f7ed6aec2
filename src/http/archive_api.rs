//! HTTP API over the archive: call listing, call detail, transcript search and the
//! OpenAPI document of the whole service.
//!
//! Every error is JSON `{"error": "<code>", "detail": "<what to change>"}`.

use crate::sinks::archive::{ArchiveError, ArchiveReader, CallFilter, SearchQuery};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;

/// The hand-written OpenAPI 3.1 document of every callwatch endpoint.
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// The archive routes, mounted on `archive`.
pub fn router(archive: ArchiveReader) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |r, (path, method)| r.route(path, method))
        .with_state(archive)
}

/// Every path this module serves with its handlers; the OpenAPI test walks this list.
pub fn routes() -> Vec<(&'static str, MethodRouter<ArchiveReader>)> {
    vec![
        ("/v1/calls", get(list_calls)),
        ("/v1/calls/{id}", get(get_call)),
        ("/v1/search", get(search)),
        ("/v1/openapi.json", get(openapi)),
    ]
}

async fn list_calls(
    State(archive): State<ArchiveReader>,
    query: Result<Query<CallFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(filter) = query?;
    let page = blocking(move || archive.list_calls(&filter)).await?;
    Ok(Json(page).into_response())
}

async fn get_call(
    State(archive): State<ArchiveReader>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let lookup = id.clone();
    match blocking(move || archive.get_call(&lookup)).await? {
        Some(call) => Ok(Json(call).into_response()),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            detail: format!("no call with id {id:?} is archived; list calls with GET /v1/calls"),
        }),
    }
}

async fn search(
    State(archive): State<ArchiveReader>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query?;
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
