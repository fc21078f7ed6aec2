//! HTTP API of the archive, driven through the router without a socket.

mod archive_support;

use archive_support::fixture;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use callwatch::auth::{Auth, AuthSettings, AuthStore, Role};
use callwatch::http::archive_api::{router, routes, ArchiveApi, OPENAPI_JSON};
use serde_json::Value;
use tower::ServiceExt;

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let res = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let ctype = res.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        ctype.starts_with("application/json"),
        "{uri}: content-type {ctype}"
    );
    let body = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn app() -> (tempfile::TempDir, axum::Router) {
    app_as(Role::Reviewer, None)
}

/// The archive routes behind the real access check, every request sent with a token of
/// `role` limited to `queues`.
fn app_as(role: Role, queues: Option<&[&str]>) -> (tempfile::TempDir, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let reader = fixture(&db);
    let store = AuthStore::open(&db).unwrap();
    let queues: Option<Vec<String>> = queues.map(|q| q.iter().map(|s| s.to_string()).collect());
    let token = store
        .create_token(
            "t",
            role,
            queues.as_deref(),
            None,
            time::OffsetDateTime::now_utc(),
        )
        .unwrap();
    let auth = Auth::new(
        store,
        AuthSettings::default(),
        std::sync::Arc::new(callwatch::clock::SystemClock),
    );
    let bearer = axum::http::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let app = router(ArchiveApi {
        archive: reader,
        auth: auth.clone(),
    })
    .layer(axum::middleware::from_fn_with_state(
        auth,
        callwatch::http::access::authorize,
    ))
    .layer(axum::middleware::map_request(
        move |mut req: Request<Body>| {
            let bearer = bearer.clone();
            async move {
                req.headers_mut().insert(header::AUTHORIZATION, bearer);
                req
            }
        },
    ));
    (dir, app)
}

#[tokio::test]
async fn a_queue_limited_reviewer_sees_only_its_queues_even_in_counts() {
    let (_dir, app) = app_as(Role::Reviewer, Some(&["cards"]));
    let (_, page) = get(&app, "/v1/calls").await;
    // `legonly` has no queue: hidden from a queue-limited reviewer.
    assert_eq!(ids(&page, "id"), ["en1", "zh2", "zh1"]);
    let (status, call) = get(&app, "/v1/calls/legonly").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{call}");

    let (_dir, app) = app_as(Role::Reviewer, Some(&["wealth"]));
    let (_, page) = get(&app, "/v1/calls").await;
    assert_eq!(ids(&page, "id"), Vec::<String>::new());
    let (status, _) = get(&app, "/v1/calls/zh1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = get(&app, "/v1/search?q=complaint").await;
    assert_eq!(ids(&page, "utterance_id"), Vec::<String>::new());
    let (_, page) = get(&app, "/v1/calls?category=guarantee").await;
    assert_eq!(ids(&page, "id"), Vec::<String>::new());

    let (_dir, app) = app_as(Role::Reviewer, None);
    let (_, page) = get(&app, "/v1/search?q=complaint").await;
    assert_eq!(ids(&page, "utterance_id"), ["en1-u1"]);
}

#[tokio::test]
async fn roles_without_archive_access_get_403_and_reads_are_audited() {
    for role in [Role::Agent, Role::Ingest] {
        let (_dir, app) = app_as(role, None);
        let (status, body) = get(&app, "/v1/calls").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {body}");
    }
    let (dir, app) = app_as(Role::Supervisor, None);
    let (status, _) = get(&app, "/v1/calls/zh1").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&app, "/v1/search?q=refund").await;
    assert_eq!(status, StatusCode::OK);
    let store = AuthStore::open(&dir.path().join("a.db")).unwrap();
    let page = store
        .audit_page(&callwatch::auth::AuditFilter::default())
        .unwrap();
    let rows: Vec<(String, Option<String>, Option<String>)> = page
        .items
        .iter()
        .map(|r| (r.action.clone(), r.call_id.clone(), r.detail.clone()))
        .collect();
    assert_eq!(
        rows,
        [
            ("search".to_string(), None, Some("refund".to_string())),
            ("call.read".to_string(), Some("zh1".to_string()), None),
        ]
    );
    assert!(page
        .items
        .iter()
        .all(|r| r.who == "t" && r.role.as_deref() == Some("supervisor")));
}

fn ids(page: &Value, key: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[key].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn list_get_and_search() {
    let (_dir, app) = app();
    let (status, page) = get(&app, "/v1/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&page, "id"), ["legonly", "en1", "zh2", "zh1"]);

    let (_, page) = get(
        &app,
        "/v1/calls?category=guarantee&speaker=agent&from=2024-05-01T00:00:00Z",
    )
    .await;
    assert_eq!(ids(&page, "id"), ["zh1"]);
    assert_eq!(page["items"][0]["hits_by_category"]["guarantee"], 2);

    let (_, page) = get(&app, "/v1/calls?limit=2").await;
    assert_eq!(ids(&page, "id"), ["legonly", "en1"]);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page) = get(&app, &format!("/v1/calls?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&page, "id"), ["zh2", "zh1"]);
    assert!(page.get("next_cursor").is_none());

    let (status, call) = get(&app, "/v1/calls/zh1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(call["id"], "zh1");
    assert_eq!(call["utterances"].as_array().unwrap().len(), 3);
    assert_eq!(call["hits"][0]["matched"], "保本保息");
    assert_eq!(call["legs"][0]["speaker"], "agent");

    // 投诉, percent-encoded as a browser sends it.
    let (status, page) = get(&app, "/v1/search?q=%E6%8A%95%E8%AF%89").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&page, "utterance_id"), ["zh1-u2"]);
    assert_eq!(page["items"][0]["snippet"], "我要<mark>投诉</mark>你们");
    let (_, page) = get(&app, "/v1/search?q=Refund&speaker=customer").await;
    assert_eq!(ids(&page, "utterance_id"), ["en1-u1"]);
}

#[tokio::test]
async fn errors_are_json_with_status() {
    let (_dir, app) = app();
    let cases: &[(&str, StatusCode, &str)] = &[
        ("/v1/calls/nope", StatusCode::NOT_FOUND, "not_found"),
        (
            "/v1/calls?from=yesterday",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "/v1/calls?to=2024-13-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        ("/v1/calls?limit=0", StatusCode::BAD_REQUEST, "bad_query"),
        ("/v1/calls?limit=501", StatusCode::BAD_REQUEST, "bad_query"),
        ("/v1/calls?limit=ten", StatusCode::BAD_REQUEST, "bad_query"),
        (
            "/v1/calls?speaker=robot",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "/v1/calls?has_hits=maybe",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "/v1/calls?catgory=guarantee",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        ("/v1/calls?cursor=xyz", StatusCode::BAD_REQUEST, "bad_query"),
        ("/v1/search", StatusCode::BAD_REQUEST, "bad_query"),
        ("/v1/search?q=", StatusCode::BAD_REQUEST, "bad_query"),
        ("/v1/search?q=%20%20", StatusCode::BAD_REQUEST, "bad_query"),
        (
            "/v1/search?q=refund&limit=1000",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "/v1/search?q=refund&from=now",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
    ];
    for (uri, want_status, want_error) in cases {
        let (status, body) = get(&app, uri).await;
        assert_eq!(status, *want_status, "{uri}: {body}");
        assert_eq!(body["error"], *want_error, "{uri}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(!detail.is_empty(), "{uri}: {body}");
    }
    let (_, body) = get(&app, "/v1/calls?limit=0").await;
    assert_eq!(body["detail"], "limit 0 is out of range; use 1 to 500");
}

/// Every `$ref` in `v`, depth first.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_is_served_and_lists_every_route() {
    let (_dir, app) = app();
    let (status, served) = get(&app, "/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(OPENAPI_JSON).unwrap();
    assert_eq!(served, doc);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, _) in routes() {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is served but missing from openapi.json"))["get"];
        assert!(
            op["responses"]["200"].is_object(),
            "{path} documents no 200 response"
        );
    }
    for path in [
        "/v1/events",
        "/v1/fork/twilio",
        "/v1/fork/audio",
        "/healthz",
    ] {
        assert!(paths[path]["get"].is_object(), "{path} is not documented");
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}
