//! The HTTP edge: media forks, live events and the archive API on one axum router.

pub mod access;
pub mod ack_ledger;
pub mod admin;
pub mod archive_api;
pub mod audio_api;
pub mod calls_csv;
pub mod events_ws;
pub mod fork;
pub mod health;
pub mod listener;
pub mod origin;
pub mod review_api;
pub mod rtp_sessions;
pub mod surge_api;
mod surge_series;
pub mod ui;
pub mod watch_api;
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
    /// Where the WebSocket forks and plain RTP sessions open their legs.
    pub ingest: crate::pipeline::Ingest,
    pub shutdown: ShutdownHandle,
    /// Plain RTP sessions (and the RTP port pool behind them).
    pub rtp: crate::sources::rtp::sessions::RtpSessions,
    /// WHIP publishing; `None` when `[whip]` is off.
    pub whip: Option<whip::WhipApi>,
    /// Origins allowed to publish over WHIP from a browser.
    pub whip_cors_origins: Vec<String>,
    /// How long a fork or an events subscriber may stay silent before its WebSocket closes.
    pub idle_timeout: std::time::Duration,
    /// Credentials, the route table and the audit trail.
    pub auth: crate::auth::Auth,
    /// Browser origins allowed cross-origin requests and WebSocket upgrades.
    pub cors_origins: Vec<String>,
    /// Lexicon and rule reloads (published to the cluster when there is one).
    pub reloader: crate::cluster::reload::Reloader,
}

/// Paths served by the live side (the archive side lists its own in `archive_api::routes`).
pub const LIVE_PATHS: [&str; 12] = [
    "/metrics",
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
    "/v1/admin/inspection",
];

/// The whole HTTP surface, every route behind the access check of [`access::authorize`].
pub fn router(app: AppState, archive: ArchiveReader) -> Router {
    let [metrics_path, health, livez, readyz, stats_path, events, twilio, audio, rtp_sessions, rtp_session, reload, inspection] =
        LIVE_PATHS;
    let surge_state = app.shared.clone();
    // Secure cookies are set exactly when browsers reach the server over TLS (its own, or a
    // TLS-terminating proxy's): HSTS goes with them.
    let app_tls = app.auth.settings.secure_cookies;
    let auth = app.auth.clone();
    let origins = app.cors_origins.clone();
    let whip_routes = whip::router(app.whip.clone(), &app.whip_cors_origins);
    let live = Router::new()
        .route(health, get(health::livez))
        .route(livez, get(health::livez))
        .route(readyz, get(health::readyz))
        .route(stats_path, get(stats))
        .route(metrics_path, get(metrics_text))
        .route(events, get(events_ws::events))
        .route(twilio, get(fork::twilio))
        .route(audio, get(fork::audio_fork))
        .route(rtp_sessions, axum::routing::post(rtp_sessions::create))
        .route(
            rtp_session,
            get(rtp_sessions::get).delete(rtp_sessions::delete),
        )
        .route(reload, axum::routing::post(admin::reload))
        .route(inspection, get(admin::inspection))
        .with_state(app);
    let surges = surge_api::router(surge_api::SurgeApi {
        hub: surge_state.surge.clone(),
        archive: archive.clone(),
        clock: surge_state.clock.clone(),
        sink: surge_state.archive.clone(),
        auth: auth.clone(),
        recent_acks: Default::default(),
    });
    let review_routes = review_api::router(review_api::ReviewApi {
        archive: archive.clone(),
        sink: surge_state.archive.clone(),
        auth: auth.clone(),
        clock: surge_state.clock.clone(),
    });
    let watch_routes = watch_api::router(watch_api::WatchApi {
        board: crate::pipeline::board::LiveBoard::spawn(&surge_state.events),
        archive: archive.clone(),
        sink: surge_state.archive.clone(),
        auth: auth.clone(),
        clock: surge_state.clock.clone(),
        recent_acks: Default::default(),
    });
    let audio_routes = audio_api::router(audio_api::AudioApi {
        archive: archive.clone(),
        auth: auth.clone(),
        audio: surge_state.audio.clone(),
    });
    let archive_routes = archive_api::router(archive_api::ArchiveApi {
        archive,
        auth: auth.clone(),
    });
    let mut routes = live
        .merge(archive_routes)
        .merge(audio_routes)
        .merge(review_routes)
        .merge(watch_routes)
        .merge(surges)
        .merge(access::router(auth.clone()))
        .merge(ui::router());
    if !origins.is_empty() {
        routes = routes.layer(cors(&origins));
    }
    // Merged after the CORS layer: WHIP has its own CORS policy ([whip] cors_origins).
    routes
        .merge(whip_routes)
        .layer(axum::middleware::from_fn_with_state(
            origins,
            origin::check_websocket_origin,
        ))
        .layer(axum::middleware::from_fn_with_state(
            auth,
            access::authorize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app_tls,
            origin::security_headers,
        ))
}

/// CORS for the configured origins only, credentials allowed (the session cookie).
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{header, HeaderValue, Method};
    tower_http::cors::CorsLayer::new()
        .allow_origin(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PATCH])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .allow_credentials(true)
}

/// `GET /metrics`: the Prometheus text exposition (format 0.0.4).
async fn metrics_text(axum::extract::State(app): axum::extract::State<AppState>) -> Response {
    let shared = &app.shared;
    let writer = shared.archive.health();
    let sources = crate::metrics::ScrapeSources {
        asr: Some(shared.asr.stats()),
        asr_health: Some(shared.asr.health()),
        asr_inbox: shared.asr.inbox_depths(),
        dropped: shared.drops.snapshot(),
        archive_queued: writer.as_ref().map_or(0, |w| w.queued),
        archive_journaled: writer.as_ref().map_or(0, |w| w.journaled),
        archive_degraded: writer.as_ref().is_some_and(|w| w.degraded.is_some()),
        live_calls: shared.registry.live_calls(),
        event_subscribers: shared.events.subscriber_count(),
        rtp_sessions: app.rtp.count(),
        rtp_port_pairs_in_use: app.rtp.pool().in_use(),
        rtp_port_pairs: app.rtp.pool().capacity(),
        whip_sessions: app.whip.as_ref().map_or(0, |w| w.sessions.count()),
    };
    match crate::metrics::render(&sources) {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &format!("metrics could not be encoded: {e}"),
        ),
    }
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
            .chain(audio_api::PATHS.iter().map(|p| p.to_string()))
            .chain(ui::PATHS.iter().map(|p| p.to_string()))
            .chain(review_api::PATHS.iter().map(|p| p.to_string()))
            .chain(watch_api::PATHS.iter().map(|p| p.to_string()))
            .chain(whip::PATHS.iter().map(|p| p.to_string()))
            .chain(access::PATHS.iter().map(|p| p.to_string()))
            .chain(
                archive_api::routes()
                    .into_iter()
                    .map(|(p, _)| p.to_string()),
            )
            .collect();
        assert_eq!(documented, served);
    }

    /// Every documented operation is in the route table with the roles the document gives,
    /// and the table lists nothing the document lacks.
    #[test]
    fn the_route_table_and_the_openapi_roles_agree() {
        use crate::auth::policy::{Access, ROUTES};
        let doc: serde_json::Value = serde_json::from_str(archive_api::OPENAPI_JSON).unwrap();
        let mut documented = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let roles: BTreeSet<String> = op["x-roles"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} has no x-roles"))
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect();
                documented.insert((method.to_uppercase(), path.clone(), roles));
            }
        }
        let table: BTreeSet<(String, String, BTreeSet<String>)> = ROUTES
            .iter()
            .map(|(m, p, a)| {
                let roles = match a {
                    Access::Public => BTreeSet::new(),
                    Access::Roles(r) => r.iter().map(|r| r.as_str().to_string()).collect(),
                };
                (m.as_str().to_string(), p.to_string(), roles)
            })
            .collect();
        assert_eq!(documented, table);
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
        let known: BTreeSet<&str> = crate::sinks::events::filter::KNOWN_TYPES
            .iter()
            .copied()
            .collect();
        assert_eq!(documented, known);
    }
}
