//! Which roles may use which route: the one table every request is checked against.
//!
//! A route the table does not list is refused to everyone but admins (deny by default);
//! `http::tests` fails when a served route is missing here, and the route-by-role
//! end-to-end test walks this table against a running server.

use super::role::Role;
use axum::http::Method;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential needed.
    Public,
    /// These roles.
    Roles(&'static [Role]),
}

use Role::{Admin, Agent, Ingest, Metrics, Reviewer, Supervisor};

const ANY: &[Role] = &[Admin, Supervisor, Reviewer, Agent, Ingest, Metrics];
const SCRAPE: &[Role] = &[Admin, Metrics];
const ADMIN: &[Role] = &[Admin];
const INGEST: &[Role] = &[Admin, Ingest];
const LIVE: &[Role] = &[Admin, Supervisor, Agent];
const ARCHIVE: &[Role] = &[Admin, Supervisor, Reviewer];
const WATCH: &[Role] = &[Admin, Supervisor];

/// Every served route: method, path template (as routed), access.
pub const ROUTES: &[(Method, &str, Access)] = &[
    (Method::GET, "/healthz", Access::Public),
    (Method::GET, "/livez", Access::Public),
    (Method::GET, "/v1/openapi.json", Access::Public),
    (Method::POST, "/v1/login", Access::Public),
    // The WHIP publisher page is static HTML with no data; publishing from it needs a token.
    (Method::GET, "/whip/publish.html", Access::Public),
    // The workspace's pages and scripts hold no data; what they show comes from the API.
    (Method::GET, "/", Access::Public),
    (Method::GET, "/ui/{*file}", Access::Public),
    // The CORS preflight of browser publishers (RFC 9725 §4.2) carries no credential.
    (Method::OPTIONS, "/v1/whip", Access::Public),
    (Method::POST, "/v1/logout", Access::Roles(ANY)),
    (Method::GET, "/v1/me", Access::Roles(ANY)),
    (
        Method::GET,
        "/readyz",
        Access::Roles(&[Admin, Ingest, Supervisor]),
    ),
    (Method::GET, "/v1/stats", Access::Roles(WATCH)),
    (Method::GET, "/v1/events", Access::Roles(LIVE)),
    (Method::GET, "/v1/fork/twilio", Access::Roles(INGEST)),
    (Method::GET, "/v1/fork/audio", Access::Roles(INGEST)),
    (Method::POST, "/v1/rtp-sessions", Access::Roles(INGEST)),
    (Method::GET, "/v1/rtp-sessions/{id}", Access::Roles(INGEST)),
    (
        Method::DELETE,
        "/v1/rtp-sessions/{id}",
        Access::Roles(INGEST),
    ),
    (Method::POST, "/v1/whip", Access::Roles(INGEST)),
    (Method::DELETE, "/v1/whip/{id}", Access::Roles(INGEST)),
    (Method::PATCH, "/v1/whip/{id}", Access::Roles(INGEST)),
    (Method::POST, "/v1/admin/reload", Access::Roles(ADMIN)),
    (Method::GET, "/v1/admin/inspection", Access::Roles(ADMIN)),
    (Method::GET, "/v1/audit", Access::Roles(ADMIN)),
    (Method::GET, "/v1/calls", Access::Roles(ARCHIVE)),
    (Method::GET, "/v1/calls/{id}", Access::Roles(ARCHIVE)),
    (Method::GET, "/v1/calls/{id}/audio", Access::Roles(ARCHIVE)),
    (
        Method::POST,
        "/v1/calls/{id}/hits/{hit_id}/review",
        Access::Roles(ARCHIVE),
    ),
    (
        Method::POST,
        "/v1/calls/{id}/qa/{item_id}/override",
        Access::Roles(ARCHIVE),
    ),
    (
        Method::POST,
        "/v1/calls/{id}/reviewed",
        Access::Roles(ARCHIVE),
    ),
    (
        Method::GET,
        "/v1/calls/{id}/transcript",
        Access::Roles(ARCHIVE),
    ),
    (Method::GET, "/v1/reports/terms", Access::Roles(ARCHIVE)),
    (Method::GET, "/v1/live/calls", Access::Roles(WATCH)),
    (Method::GET, "/v1/alerts", Access::Roles(WATCH)),
    (Method::POST, "/v1/alerts/{id}/ack", Access::Roles(WATCH)),
    (Method::GET, "/v1/search", Access::Roles(ARCHIVE)),
    (Method::GET, "/metrics", Access::Roles(SCRAPE)),
    (Method::GET, "/v1/surges", Access::Roles(WATCH)),
    (Method::GET, "/v1/surges/series", Access::Roles(WATCH)),
    (Method::POST, "/v1/surges/{id}/ack", Access::Roles(WATCH)),
    (Method::GET, "/v1/topics", Access::Roles(WATCH)),
];

/// The access rule of `method` on the routed `path`; unlisted routes are admin-only.
pub fn access(method: &Method, path: &str) -> Access {
    // HEAD is answered like GET; CORS preflights (OPTIONS) carry no credential by design
    // and are answered by the CORS layer without reaching a handler.
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    if method == Method::OPTIONS {
        return Access::Public;
    }
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, a)| *a)
        .unwrap_or(Access::Roles(ADMIN))
}

/// Routes where a token may come as a `token` query parameter or HTTP Basic password:
/// media fork clients that cannot set an `Authorization: Bearer` header.
pub fn takes_url_token(path: &str) -> bool {
    matches!(path, "/v1/fork/twilio" | "/v1/fork/audio")
}

/// Routes whose clients may instead present their token inside the protocol, after the
/// upgrade: Twilio Media Streams (`start.customParameters.token`). The handler checks it.
pub fn authenticates_in_band(path: &str) -> bool {
    path == "/v1/fork/twilio"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (m, p, _) in ROUTES {
            assert!(seen.insert((m.clone(), *p)), "{m} {p} listed twice");
        }
    }

    #[test]
    fn unlisted_routes_are_admin_only_and_head_follows_get() {
        assert_eq!(access(&Method::GET, "/v1/secret"), Access::Roles(ADMIN));
        assert_eq!(access(&Method::HEAD, "/healthz"), Access::Public);
        assert_eq!(access(&Method::POST, "/v1/calls"), Access::Roles(ADMIN));
    }
}
