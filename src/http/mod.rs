//! The HTTP edge: media forks, live events and the archive API on one axum router.

pub mod admin;
pub mod archive_api;
pub mod events_ws;
pub mod fork;
pub mod health;
pub mod listener;
pub mod rtp_sessions;
pub mod surge_api;
pub mod whip;

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
    /// Plain RTP sessions (and the RTP port pool behind them).
    pub rtp: crate::sources::rtp::sessions::RtpSessions,
    /// WHIP publishing; `None` when `[whip]` is off.
    pub whip: Option<whip::WhipApi>,
    /// Origins allowed to publish over WHIP from a browser.
    pub whip_cors_origins: Vec<String>,
    /// How long a fork or an events subscriber may stay silent before its WebSocket closes.
    pub idle_timeout: std::time::Duration,
}

/// Paths served by the live side (the archive side lists its own in `archive_api::routes`).
pub const LIVE_PATHS: [&str; 10] = [
    "/healthz",
    "/livez",
    "/readyz",
    "/v1/stats",
    "/v1/events",
    "/v1/fork/twilio",
    "/v1/fork/audio",
    "/v1/rtp-sessions",
    "/v1/rtp-sessions/{id}",
    "/v1/admin/reload",
];

/// The whole HTTP surface.
pub fn router(app: AppState, archive: ArchiveReader) -> Router {
    let [health, livez, readyz, stats_path, events, twilio, audio, rtp_sessions, rtp_session, reload] =
        LIVE_PATHS;
    let surge_state = app.shared.clone();
    let whip_routes = whip::router(app.whip.clone(), &app.whip_cors_origins);
    let live = Router::new()
        .route(health, get(health::livez))
        .route(livez, get(health::livez))
        .route(readyz, get(health::readyz))
        .route(stats_path, get(stats))
        .route(events, get(events_ws::events))
        .route(twilio, get(fork::twilio))
        .route(audio, get(fork::audio_fork))
        .route(rtp_sessions, axum::routing::post(rtp_sessions::create))
        .route(
            rtp_session,
            get(rtp_sessions::get).delete(rtp_sessions::delete),
        )
        .route(reload, axum::routing::post(admin::reload))
        .with_state(app);
    let surges = surge_api::router(surge_api::SurgeApi {
        hub: surge_state.surge.clone(),
        archive: archive.clone(),
        clock: surge_state.clock.clone(),
    });
    live.merge(archive_api::router(archive))
        .merge(surges)
        .layer(tower_http::cors::CorsLayer::permissive())
        // Merged after the permissive layer: WHIP has its own CORS policy ([whip] cors_origins).
        .merge(whip_routes)
}

async fn stats(
    axum::extract::State(app): axum::extract::State<AppState>,
) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "live_calls": app.shared.registry.live_calls(),
        "event_subscribers": app.shared.events.subscriber_count(),
        "asr": app.shared.asr.stats(),
        "asr_workers": app.shared.asr.health(),
        "archive_writer": app.shared.archive.health(),
        "utterances_dropped": app.shared.drops.snapshot(),
        "rtp": {
            "sessions": app.rtp.count(),
            "port_pairs_in_use": app.rtp.pool().in_use(),
            "port_pairs": app.rtp.pool().capacity(),
        },
        "whip": app.whip.as_ref().map(|w| w.sessions.views()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn openapi_documents_exactly_the_served_paths() {
        let doc: serde_json::Value = serde_json::from_str(archive_api::OPENAPI_JSON).unwrap();
        let documented: BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        let served: BTreeSet<String> = LIVE_PATHS
            .iter()
            .map(|p| p.to_string())
            .chain(surge_api::PATHS.iter().map(|p| p.to_string()))
            .chain(whip::PATHS.iter().map(|p| p.to_string()))
            .chain(
                archive_api::routes()
                    .into_iter()
                    .map(|(p, _)| p.to_string()),
            )
            .collect();
        assert_eq!(documented, served);
    }

    /// Regression: `/v1/events?type=rule.fired` was refused as an unknown type.
    #[test]
    fn every_documented_event_type_can_be_subscribed_to() {
        let doc: serde_json::Value = serde_json::from_str(archive_api::OPENAPI_JSON).unwrap();
        let documented: BTreeSet<&str> = doc
            .pointer("/components/schemas/Event/allOf/0/properties/type/enum")
            .and_then(|v| v.as_array())
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .filter(|t| *t != "events.lagged")
            .collect();
        let known: BTreeSet<&str> = crate::sinks::events::bus::KNOWN_TYPES
            .iter()
            .copied()
            .collect();
        assert_eq!(documented, known);
    }
}
