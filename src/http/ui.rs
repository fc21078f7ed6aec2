//! The browser workspace (QA reviewers, supervisors, agents): static assets embedded in the
//! binary, so it works on an offline bank network with nothing but callwatch. The pages hold
//! no data; everything they show comes from the API with the logged-in user's session, so
//! serving them needs no credential.
//!
//! `CALLWATCH_UI_DIR` serves the assets from a folder instead (for working on them).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Paths this module serves.
pub const PATHS: [&str; 2] = ["/", "/ui/{*file}"];

/// The workspace's Content-Security-Policy: its own scripts, styles, images, media and API
/// only; no inline script, no framing.
pub const UI_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The embedded assets: path under `/ui/`, bytes.
const ASSETS: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("ui/index.html")),
    ("app.css", include_bytes!("ui/app.css")),
    ("app.js", include_bytes!("ui/app.js")),
    ("api.js", include_bytes!("ui/api.js")),
    ("i18n.js", include_bytes!("ui/i18n.js")),
    ("calls.js", include_bytes!("ui/calls.js")),
    ("detail.js", include_bytes!("ui/detail.js")),
    ("live.js", include_bytes!("ui/live.js")),
    ("surges.js", include_bytes!("ui/surges.js")),
    (
        "vendor/uPlot.iife.min.js",
        include_bytes!("ui/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        include_bytes!("ui/vendor/uPlot.min.css"),
    ),
    (
        "vendor/uPlot.LICENSE",
        include_bytes!("ui/vendor/uPlot.LICENSE"),
    ),
];

/// The routes of [`PATHS`].
pub fn router() -> Router {
    Router::new()
        .route(PATHS[0], get(|| async { asset("index.html") }))
        .route(
            PATHS[1],
            get(|Path(file): Path<String>| async move { asset(&file) }),
        )
}

fn asset(name: &str) -> Response {
    // Only the listed assets, from the binary or (when working on them) the folder.
    let embedded = ASSETS.iter().find(|(n, _)| *n == name);
    let body: Option<Vec<u8>> = match (embedded, std::env::var_os("CALLWATCH_UI_DIR")) {
        (Some(_), Some(dir)) if safe_name(name) => {
            std::fs::read(std::path::Path::new(&dir).join(name)).ok()
        }
        (Some((_, b)), None) => Some(b.to_vec()),
        _ => None,
    };
    let Some(body) = body else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    // Small files, changed with each release: revalidate rather than cache stale code.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if name.ends_with(".html") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(UI_CSP),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    r
}

/// A relative asset path without `..`, absolute parts or odd characters.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        })
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_never_leave_the_folder() {
        for bad in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "",
            "a//b",
            "a\\b",
            "%2e%2e/x",
        ] {
            assert!(!safe_name(bad), "{bad}");
        }
        for good in ["app.js", "vendor/uPlot.min.css"] {
            assert!(safe_name(good), "{good}");
        }
    }

    #[test]
    fn every_embedded_asset_is_served_with_its_type() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        for (name, body) in ASSETS {
            assert!(!body.is_empty(), "{name} is empty");
        }
        // The first load stays within 300 KB even uncompressed (every asset together; the
        // budget is 300 KB compressed).
        let total: usize = ASSETS.iter().map(|(_, b)| b.len()).sum();
        assert!(total < 300 * 1000, "{total} bytes");
    }
}
