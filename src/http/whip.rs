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
        .route(endpoint, post(publish))
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

/// `POST /v1/whip`: an `application/sdp` offer in, `201 Created` with `Location` and the answer out.
pub async fn publish(
    State(api): State<Option<WhipApi>>,
    Query(query): Query<HashMap<String, String>>,
    who: Option<axum::Extension<crate::auth::Principal>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let Some(api) = api else { return off() };
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
    let mut params = match PublishParams::from_parts(&query, |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }) {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    params.opened_by = who.map(|axum::Extension(p)| p.name);
    let Some(guard) = api.shutdown.subscribe() else {
        return error_response(&WhipError::ShuttingDown);
    };
    match api.sessions.create(&params, &body, &api.legs, Some(guard)) {
        Ok((id, answer)) => {
            crate::metrics::metrics()
                .whip_sessions
                .with_label_values(&["started"])
                .inc();
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
            crate::metrics::metrics()
                .whip_sessions
                .with_label_values(&["refused"])
                .inc();
            tracing::info!(call_id = %params.call_id, error = %e, "WHIP publish refused");
            error_response(&e)
        }
    }
}

/// `DELETE /v1/whip/{id}`: ends the participant's leg.
pub async fn stop(State(api): State<Option<WhipApi>>, Path(id): Path<String>) -> Response {
    let Some(api) = api else { return off() };
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
pub async fn publish_page() -> Response {
    let csp = PAGE_CSP.get_or_init(|| {
        format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            inline_hash(PUBLISH_HTML, "<script>", "</script>"),
            inline_hash(PUBLISH_HTML, "<style>", "</style>"),
        )
    });
    let mut r = Html(PUBLISH_HTML).into_response();
    if let Ok(v) = HeaderValue::from_str(csp) {
        r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

static PAGE_CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The CSP source (`sha256-...`) of the first inline element between `open` and `close`.
fn inline_hash(html: &str, open: &str, close: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let body = html
        .split_once(open)
        .and_then(|(_, rest)| rest.split_once(close))
        .map(|(b, _)| b)
        .unwrap_or_default();
    let digest = sha2::Sha256::digest(body.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shutdown::ShutdownController;
    use crate::sources::whip::WhipSettings;
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::Arc;
    use std::time::Duration;
    use tower::ServiceExt;

    const OFFER: &str = include_str!("../../fixtures/whip/aiortc_audio_video_offer.sdp");

    fn api() -> (WhipApi, ShutdownController) {
        let controller = ShutdownController::new();
        let api = WhipApi {
            sessions: WhipSessions::new(WhipSettings {
                hosts: vec!["127.0.0.1".parse().unwrap()],
                port_min: 0,
                port_max: 0,
                media_timeout: Duration::from_secs(5),
                max_sessions: 4,
            }),
            // Requests in these tests are refused before a leg would be opened.
            legs: Arc::new(|_, _, _, _| Err("no pipeline in HTTP unit tests".into())),
            shutdown: controller.handle(),
        };
        (api, controller)
    }

    async fn send(router: Router, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let r = router.oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn post(uri: &str, ctype: &str, body: &str) -> Request<Body> {
        Request::post(uri)
            .header("content-type", ctype)
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    #[tokio::test]
    async fn refusals_have_their_status_and_say_what_to_do() {
        let (a, _c) = api();
        let r = || router(Some(a.clone()), &["*".to_string()]);
        let q = "/v1/whip?call_id=V1&participant=p1&role=customer";
        let video_only = {
            let (s, v) = (
                OFFER.find("m=audio").unwrap(),
                OFFER.find("m=video").unwrap(),
            );
            format!("{}{}", &OFFER[..s], &OFFER[v..])
        };
        let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
            (
                post(q, "application/sdp", "not an offer"),
                StatusCode::BAD_REQUEST,
                "v=0",
            ),
            (
                post(q, "application/sdp", &video_only),
                StatusCode::UNPROCESSABLE_ENTITY,
                "audio",
            ),
            (
                post(q, "application/json", OFFER),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "application/sdp",
            ),
            (
                post("/v1/whip?participant=p", "application/sdp", OFFER),
                StatusCode::BAD_REQUEST,
                "call id",
            ),
            (
                Request::delete("/v1/whip/nope")
                    .body(Body::empty())
                    .unwrap(),
                StatusCode::NOT_FOUND,
                "no WHIP session `nope`",
            ),
            (
                Request::patch("/v1/whip/nope").body(Body::empty()).unwrap(),
                StatusCode::METHOD_NOT_ALLOWED,
                "trickle ICE",
            ),
            // The opener refusing (a participant already publishing) is a conflict.
            (
                post(q, "application/sdp", OFFER),
                StatusCode::CONFLICT,
                "no pipeline",
            ),
        ];
        for (req, status, words) in cases {
            let what = format!("{} {}", req.method(), req.uri());
            let (s, _, body) = send(r(), req).await;
            assert_eq!(s, status, "{what}: {body}");
            assert!(body.contains(words), "{what}: {body}");
        }
        assert_eq!(a.sessions.count(), 0, "a refused publish left a session");
    }

    #[tokio::test]
    async fn patch_names_the_allowed_method_and_options_is_answered() {
        let (a, _c) = api();
        let (_, h, _) = send(
            router(Some(a.clone()), &[]),
            Request::patch("/v1/whip/x").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(h["allow"], "DELETE");
        let (s, h, _) = send(
            router(Some(a), &[]),
            Request::options("/v1/whip").body(Body::empty()).unwrap(),
        )
        .await;
        // The CORS layer answers every OPTIONS (RFC 9725 §4.2 only asks that it succeed).
        assert!(s.is_success());
        assert!(h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST"));
    }

    #[tokio::test]
    async fn cors_preflight_follows_the_configured_origins() {
        let (a, _c) = api();
        let preflight = |origin: &str| {
            Request::options("/v1/whip")
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type",
                )
                .body(Body::empty())
                .unwrap()
        };
        let allowed = vec!["https://video.bank.example".to_string()];
        let (s, h, _) = send(
            router(Some(a.clone()), &allowed),
            preflight("https://video.bank.example"),
        )
        .await;
        assert!(s.is_success());
        assert_eq!(
            h["access-control-allow-origin"],
            "https://video.bank.example"
        );
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(
            methods.contains("POST") && methods.contains("DELETE"),
            "{methods}"
        );
        let headers = h["access-control-allow-headers"].to_str().unwrap();
        assert!(headers.contains("authorization"), "{headers}");
        let (_, h, _) = send(
            router(Some(a.clone()), &allowed),
            preflight("https://evil.example"),
        )
        .await;
        assert!(h.get("access-control-allow-origin").is_none());
        let (_, h, _) = send(
            router(Some(a), &["*".into()]),
            preflight("https://any.example"),
        )
        .await;
        assert_eq!(h["access-control-allow-origin"], "*");
        // Location must be readable by a page on another origin.
        let get = Request::get("/whip/publish.html")
            .header("origin", "https://any.example")
            .body(Body::empty())
            .unwrap();
        let (s, h, body) = send(router(None, &["*".into()]), get).await;
        assert_eq!(s, StatusCode::OK);
        assert!(h["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("location"));
        assert!(body.contains("RTCPeerConnection"));
    }

    #[tokio::test]
    async fn whip_off_says_how_to_turn_it_on() {
        let (s, _, body) = send(
            router(None, &[]),
            post("/v1/whip?call_id=a&participant=b", "application/sdp", OFFER),
        )
        .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("--whip"), "{body}");
    }

    #[tokio::test]
    async fn the_publishing_credential_reaches_the_leg_so_another_cannot_join_its_call() {
        let (mut a, _c) = api();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        a.legs = Arc::new(move |_, _, _, by| {
            log.lock().unwrap().push(by.map(str::to_string));
            Err("call V9 was opened by another credential".into())
        });
        let mut req = post(
            "/v1/whip?call_id=V9&participant=p1&role=customer",
            "application/sdp",
            OFFER,
        );
        // What the access layer attaches to an authenticated request.
        req.extensions_mut().insert(crate::auth::Principal {
            name: "video-gw-2".into(),
            role: crate::auth::Role::Ingest,
            queues: None,
            kind: crate::auth::CredentialKind::Token,
        });
        let (s, _, body) = send(router(Some(a), &["*".to_string()]), req).await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("another credential"), "{body}");
        assert_eq!(*seen.lock().unwrap(), vec![Some("video-gw-2".to_string())]);
    }
}
