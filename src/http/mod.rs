//! The HTTP edge: media forks, live events and the archive API on one axum router.

pub mod archive_api;
pub mod events_ws;
pub mod fork;

use crate::pipeline::Shared;
use crate::shutdown::ShutdownHandle;
use crate::sinks::archive::ArchiveReader;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// State shared by the live handlers.
#[derive(Clone)]
pub struct AppState {
    pub shared: Arc<Shared>,
    pub shutdown: ShutdownHandle,
}

/// The whole HTTP surface.
pub fn router(app: AppState, archive: ArchiveReader) -> Router {
    let live = Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/stats", get(stats))
        .route("/v1/events", get(events_ws::events))
        .route("/v1/fork/twilio", get(fork::twilio))
        .route("/v1/fork/audio", get(fork::audio_fork))
        .with_state(app);
    live.merge(archive_api::router(archive))
        .layer(tower_http::cors::CorsLayer::permissive())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn stats(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "live_calls": app.shared.registry.live_calls(),
        "event_subscribers": app.shared.events.subscriber_count(),
        "asr": app.shared.asr.stats(),
    }))
}

/// A JSON error body: `{"error": ..., "detail": ...}`.
pub fn json_error(status: StatusCode, error: &str, detail: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": error, "detail": detail })),
    )
        .into_response()
}
