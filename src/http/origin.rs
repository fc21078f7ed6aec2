//! Browser safety at the edge: WebSocket upgrades from other sites are refused (a page on
//! another origin must not ride a supervisor's cookie into the live event stream), and every
//! response carries `nosniff`, HTML a strict Content-Security-Policy.

use super::json_error;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// The CSP of HTML pages that do not set their own: nothing loads, nothing frames them.
pub const DEFAULT_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Refuses a WebSocket upgrade whose `Origin` is neither this server nor a configured
/// origin. Clients that send no `Origin` are not browsers and pass (their credential is
/// checked like any other).
pub async fn check_websocket_origin(
    State(origins): State<Vec<String>>,
    req: Request,
    next: Next,
) -> Response {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if upgrade {
        if let Some(origin) = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok());
            if !origin_allowed(origin, host, &origins) {
                tracing::warn!(origin, "WebSocket upgrade from a foreign origin refused");
                return json_error(
                    StatusCode::FORBIDDEN,
                    "origin_refused",
                    &format!("origin {origin:?} may not open WebSockets here; add it to [http] cors_origins"),
                );
            }
        }
    }
    next.run(req).await
}

/// Whether a browser on `origin` may open a WebSocket on a server reached as `host`.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    // Same origin: the page was served by this host (and port).
    let bare = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((bare, host), (Some(b), Some(h)) if b.eq_ignore_ascii_case(h))
}

/// Adds `X-Content-Type-Options: nosniff` to every response and the default CSP to HTML
/// that has none.
/// With `tls` (the server speaks TLS) also `Strict-Transport-Security`, so a browser that
/// reached it once never falls back to clear text (a year, this host only).
pub async fn security_headers(
    axum::extract::State(tls): axum::extract::State<bool>,
    req: Request,
    next: Next,
) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html && !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    if html {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_origins_are_this_host_or_a_configured_one() {
        let allowed = vec!["https://ui.bank.example".to_string()];
        let table = [
            ("https://ui.bank.example", Some("cw:8080"), true),
            ("http://cw:8080", Some("cw:8080"), true),
            ("https://CW:8080", Some("cw:8080"), true),
            ("https://evil.example", Some("cw:8080"), false),
            ("http://cw:8081", Some("cw:8080"), false),
            ("null", Some("cw:8080"), false),
            ("http://cw:8080", None, false),
        ];
        for (origin, host, want) in table {
            assert_eq!(
                origin_allowed(origin, host, &allowed),
                want,
                "{origin} {host:?}"
            );
        }
    }
}
