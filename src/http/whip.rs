//! `/v1/whip`: WebRTC-HTTP ingestion (RFC 9725). `POST` an SDP offer to publish one
//! participant's audio, `DELETE` the returned `Location` to stop; trickle ICE (`PATCH`) is not
//! needed with an ICE-lite server and is answered 405 as §4.3.1 allows. `GET
//! /whip/publish.html` is a minimal browser publisher.

use super::json_error;
use crate::shutdown::ShutdownHandle;
use crate::sources::whip::{LegFactory, PublishParams, WhipError, WhipSessions};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Paths this module serves.
pub const PATHS: [&str; 3] = ["/v1/whip", "/v1/whip/{id}", "/whip/publish.html"];

/// The publisher page.
const PUBLISH_HTML: &str = include_str!("whip_publish.html");

/// What the WHIP handlers share.
#[derive(Clone)]
pub struct WhipApi {
    pub sessions: WhipSessions,
    /// Opens the pipeline leg of each publisher.
    pub legs: LegFactory,
    /// Required bearer token; `None`: no auth.
    pub token: Option<String>,
    pub shutdown: ShutdownHandle,
}

/// The WHIP routes with their own CORS policy (`origins`: `*` or a list). `api` is `None`
/// when WHIP is off: the endpoint then says how to turn it on.
pub fn router(api: Option<WhipApi>, origins: &[String]) -> Router {
    let [endpoint, resource, page] = PATHS;
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    let cors = CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::POST, Method::DELETE, Method::PATCH, Method::OPTIONS])
        .allow_headers(
            [
                "authorization",
                "content-type",
                "if-match",
                "x-call-id",
                "x-participant-id",
                "x-speaker-role",
                "x-queue",
                "x-agent-id",
                "x-language",
            ]
            .map(HeaderName::from_static),
        )
        .expose_headers(["location", "link", "etag", "accept-post"].map(HeaderName::from_static));
    Router::new()
        .route(endpoint, post(publish).options(endpoint_options))
        .route(resource, axum::routing::delete(stop).patch(patch))
        .route(page, get(publish_page))
        .layer(cors)
        .with_state(api)
}

fn error_response(e: &WhipError) -> Response {
    let (status, code) = match e {
        WhipError::MalformedSdp(_) | WhipError::Rtc(_) => (StatusCode::BAD_REQUEST, "bad_sdp"),
        WhipError::BadParams(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        WhipError::NoAudio | WhipError::NoOpus { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "no_usable_audio")
        }
        WhipError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        WhipError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        WhipError::Socket { .. } | WhipError::PortsExhausted { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "no_ports")
        }
        WhipError::TooMany(_) => (StatusCode::SERVICE_UNAVAILABLE, "too_many_sessions"),
        WhipError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
    };
    json_error(status, code, &e.to_string())
}

fn off() -> Response {
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "whip_off",
        "WHIP ingestion is off; set [whip] enabled = true or run `callwatch serve --whip`",
    )
}

/// `Some(response)` when the request lacks the configured bearer token.
fn unauthorized(api: &WhipApi, headers: &HeaderMap) -> Option<Response> {
    let want = api.token.as_deref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    // Compared without an early exit so the time taken does not reveal a matching prefix.
    let ok = given.is_some_and(|g| {
        g.len() == want.len()
            && g.bytes()
                .zip(want.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        return None;
    }
    let mut r = json_error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send `Authorization: Bearer <token>` with the token configured in [whip] bearer_token",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"callwatch-whip\""),
    );
    Some(r)
}

/// `POST /v1/whip`: an `application/sdp` offer in, `201 Created` with `Location` and the answer out.
pub async fn publish(
    State(api): State<Option<WhipApi>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let Some(api) = api else { return off() };
    if let Some(r) = unauthorized(&api, &headers) {
        return r;
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ctype
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
    {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &format!("Content-Type `{ctype}` is not application/sdp; POST the SDP offer itself"),
        );
    }
    let params = match PublishParams::from_parts(&query, |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let Some(guard) = api.shutdown.subscribe() else {
        return error_response(&WhipError::ShuttingDown);
    };
    match api.sessions.create(&params, &body, &api.legs, Some(guard)) {
        Ok((id, answer)) => {
            let location = format!("/v1/whip/{id}");
            (
                StatusCode::CREATED,
                [
                    (header::CONTENT_TYPE, "application/sdp".to_string()),
                    (header::LOCATION, location),
                    (header::ETAG, format!("\"{id}\"")),
                ],
                answer,
            )
                .into_response()
        }
        Err(e) => {
            tracing::info!(call_id = %params.call_id, error = %e, "WHIP publish refused");
            error_response(&e)
        }
    }
}

/// `OPTIONS /v1/whip` (not a CORS preflight, which the CORS layer answers): what may be posted.
pub async fn endpoint_options() -> Response {
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::HeaderName::from_static("accept-post"),
                "application/sdp",
            ),
            (header::ALLOW, "POST, OPTIONS"),
        ],
    )
        .into_response()
}

/// `DELETE /v1/whip/{id}`: ends the participant's leg.
pub async fn stop(
    State(api): State<Option<WhipApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(api) = api else { return off() };
    if let Some(r) = unauthorized(&api, &headers) {
        return r;
    }
    match api.sessions.delete(&id).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => error_response(&e),
    }
}

/// `PATCH /v1/whip/{id}`: trickle ICE and ICE restarts are not supported (callwatch is ICE-lite
/// and gathers all its candidates before answering).
pub async fn patch() -> Response {
    let mut r = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "trickle ICE is not supported: the answer carries every candidate; send the complete offer in the POST",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("DELETE"));
    r
}

/// `GET /whip/publish.html`: a browser page that publishes its microphone to this server.
pub async fn publish_page() -> Html<&'static str> {
    Html(PUBLISH_HTML)
}
