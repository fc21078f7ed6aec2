//! The access check in front of every route, and the routes of the credentials themselves:
//! `POST /v1/login`, `POST /v1/logout`, `GET /v1/me` and `GET /v1/audit`.
//!
//! A request names its principal with `Authorization: Bearer TOKEN`, the session cookie,
//! or (media forks only, whose clients cannot set headers) HTTP Basic with the token as
//! password or a `token` query parameter. No credential: 401. A role the route table does
//! not allow: 403.

use super::json_error;
use crate::auth::{
    policy, Access, AuditEntry, AuditFilter, Auth, CredentialKind, LoginRefusal, Principal,
    SESSION_COOKIE,
};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, MatchedPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde::Deserialize;
use std::net::SocketAddr;

/// Paths served here.
pub const PATHS: [&str; 4] = ["/v1/login", "/v1/logout", "/v1/me", "/v1/audit"];

/// Largest login body (a name and a password).
const MAX_LOGIN_BODY: usize = 4 * 1024;

/// The routes of [`PATHS`].
pub fn router(auth: Auth) -> Router {
    let [login_path, logout_path, me_path, audit_path] = PATHS;
    Router::new()
        .route(login_path, post(login))
        .route(logout_path, post(logout))
        .route(me_path, get(me))
        .route(audit_path, get(audit))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_LOGIN_BODY))
        .with_state(auth)
}

/// The peer address of a request, when the listener recorded it (in-process routers in
/// tests have none).
pub type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

/// The peer's IP as text, for the audit trail and the per-address throttle; `-` unknown.
pub fn addr(peer: &Peer) -> String {
    peer.as_ref()
        .map(|Extension(ConnectInfo(a))| a.ip().to_string())
        .unwrap_or_else(|| "-".into())
}

/// Checks every request against the route table; puts the [`Principal`] in the request's
/// extensions for the handlers (queue limits, audit).
pub async fn authorize(State(auth): State<Auth>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        // Not a route: the router answers 404 (or 405) itself.
        return next.run(req).await;
    };
    let access = policy::access(req.method(), &path);
    let presented = credential(&req, &path);
    let in_band = presented.is_none() && policy::authenticates_in_band(&path);
    let principal = presented.and_then(|(secret, kind)| auth.resolve(&secret, kind));
    match (access, principal) {
        (Access::Public, p) => {
            if let Some(p) = p {
                req.extensions_mut().insert(p);
            }
            next.run(req).await
        }
        // Twilio cannot set headers: the fork authenticates with its start message.
        (Access::Roles(_), None) if in_band => next.run(req).await,
        (Access::Roles(_), None) => unauthorized(),
        (Access::Roles(roles), Some(p)) if roles.contains(&p.role) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        (Access::Roles(_), Some(p)) => json_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("role `{}` may not use {} {path}", p.role, req.method()),
        ),
    }
}

fn unauthorized() -> Response {
    let mut r = json_error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send `Authorization: Bearer <token>` (make one with `callwatch token create`) or log in with POST /v1/login",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"callwatch\""),
    );
    r
}

/// The secret a request presents, and what kind it is.
fn credential(req: &Request, path: &str) -> Option<(String, CredentialKind)> {
    let headers = req.headers();
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = v.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((rest.trim().to_string(), CredentialKind::Token));
        }
        if scheme.eq_ignore_ascii_case("basic") && policy::takes_url_token(path) {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(raw).ok()?;
            let (_, password) = text.split_once(':')?;
            return Some((password.to_string(), CredentialKind::Token));
        }
        return None;
    }
    if let Some(id) = session_cookie(headers) {
        return Some((id, CredentialKind::Session));
    }
    if policy::takes_url_token(path) {
        return req
            .uri()
            .query()
            .and_then(|q| url_param(q, "token").map(|t| (t, CredentialKind::Token)));
    }
    None
}

/// The value of `name` in a query string (tokens are URL-safe, so no decoding is needed
/// beyond `%` escapes, which a token never has).
fn url_param(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

async fn login(
    State(auth): State<Auth>,
    peer: Peer,
    body: Result<Json<Login>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad_login",
                &format!(
                    "{}; send JSON {{\"username\": ..., \"password\": ...}}",
                    e.body_text()
                ),
            )
        }
    };
    let ip = addr(&peer);
    let now_ms = crate::auth::store::ms(auth.clock.now());
    let user_key = format!("user:{}", body.username);
    let addr_key = format!("addr:{ip}");
    let wait = [&user_key, &addr_key]
        .iter()
        .filter_map(|k| auth.throttle.retry_after(k, now_ms))
        .max();
    let failed = |outcome: &str| {
        AuditEntry {
            who: "-".into(),
            action: "login.failed".into(),
            ..Default::default()
        }
        .outcome(outcome)
        .detail(format!("user {}", body.username))
        .from_addr(&ip)
    };
    if let Some(ms) = wait {
        auth.audit(failed("throttled")).await;
        let secs = (ms + 999) / 1000;
        let mut r = json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            &format!("too many failed logins; try again in {secs} s"),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1) as u64));
        return r;
    }
    let store = auth.store.clone();
    let (name, password) = (body.username.clone(), body.password);
    let checked = tokio::task::spawn_blocking(move || store.check_login(&name, &password))
        .await
        .unwrap_or(Err(LoginRefusal::Invalid));
    match checked {
        Ok(p) => {
            auth.throttle.succeeded(&user_key);
            let made = {
                let (store, user, ttl, now) = (
                    auth.store.clone(),
                    p.name.clone(),
                    auth.settings.session_ttl,
                    auth.clock.now(),
                );
                tokio::task::spawn_blocking(move || store.create_session(&user, now, ttl)).await
            };
            let id =
                match made {
                    Ok(Ok(id)) => id,
                    _ => return json_error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "session_unavailable",
                        "the session could not be stored; check the archive's health on /readyz",
                    ),
                };
            auth.audit(AuditEntry::by(&p, "login").from_addr(&ip)).await;
            let cookie = format!(
                "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
                auth.settings.session_ttl.as_secs(),
                if auth.settings.secure_cookies {
                    "; Secure"
                } else {
                    ""
                }
            );
            let mut r = Json(me_body(&p)).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(why) => {
            auth.throttle.failed(&user_key, now_ms);
            auth.throttle.failed(&addr_key, now_ms);
            auth.audit(failed(why.as_str())).await;
            json_error(
                StatusCode::UNAUTHORIZED,
                "login_failed",
                "wrong user name or password, or the user is disabled or locked (an admin can unlock it)",
            )
        }
    }
}

async fn logout(
    State(auth): State<Auth>,
    Extension(p): Extension<Principal>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = session_cookie(&headers) {
        auth.forget(&id, CredentialKind::Session);
        let store = auth.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.end_session(&id)).await;
    }
    auth.audit(AuditEntry::by(&p, "logout").from_addr(addr(&peer)))
        .await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn me_body(p: &Principal) -> serde_json::Value {
    serde_json::json!({ "name": p.name, "role": p.role, "queues": p.queues, "credential": p.kind })
}

async fn me(Extension(p): Extension<Principal>) -> Json<serde_json::Value> {
    Json(me_body(&p))
}

async fn audit(
    State(auth): State<Auth>,
    q: Result<Query<AuditFilter>, QueryRejection>,
) -> Response {
    let Query(f) = match q {
        Ok(q) => q,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, "bad_query", &e.body_text()),
    };
    let store = auth.store.clone();
    match tokio::task::spawn_blocking(move || store.audit_page(&f)).await {
        Ok(Ok(page)) => Json(page).into_response(),
        Ok(Err(msg)) => json_error(StatusCode::BAD_REQUEST, "bad_query", &msg),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &e.to_string(),
        ),
    }
}
