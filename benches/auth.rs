//! The cost of authentication per request: the same trivial route served with and without
//! the access check, with a warm credential cache; a token looked up in SQLite (cache miss);
//! and one argon2id password check (a login).

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use callwatch::auth::{Auth, AuthSettings, AuthStore, CredentialKind, Role};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;
use tower::ServiceExt;

fn routers() -> (tempfile::TempDir, Auth, String, Router, Router) {
    let dir = tempfile::tempdir().unwrap();
    let store = AuthStore::open(&dir.path().join("bench.db")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let token = store
        .create_token("bench", Role::Reviewer, None, None, now)
        .unwrap();
    let auth = Auth::new(
        store,
        AuthSettings::default(),
        Arc::new(callwatch::clock::SystemClock),
    );
    let plain = Router::new().route("/v1/calls", get(|| async { "ok" }));
    let guarded = plain.clone().layer(axum::middleware::from_fn_with_state(
        auth.clone(),
        callwatch::http::access::authorize,
    ));
    (dir, auth, token, plain, guarded)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (_dir, auth, token, plain, guarded) = routers();
    let request = |t: &str| {
        Request::get("/v1/calls")
            .header("authorization", format!("Bearer {t}"))
            .body(Body::empty())
            .unwrap()
    };
    // Warm the cache once, and check the guarded route really answers 200.
    let r = rt
        .block_on(guarded.clone().oneshot(request(&token)))
        .unwrap();
    assert_eq!(r.status(), 200);

    let mut g = c.benchmark_group("auth");
    g.bench_function("request_without_auth", |b| {
        b.iter(|| rt.block_on(plain.clone().oneshot(request(&token))).unwrap())
    });
    g.bench_function("request_with_token_warm_cache", |b| {
        b.iter(|| {
            rt.block_on(guarded.clone().oneshot(request(&token)))
                .unwrap()
        })
    });
    g.bench_function("token_lookup_in_sqlite", |b| {
        let now = time::OffsetDateTime::now_utc();
        b.iter(|| auth.store.token(&token, now).unwrap().unwrap())
    });
    g.bench_function("resolve_warm_cache", |b| {
        b.iter(|| auth.resolve(&token, CredentialKind::Token).unwrap())
    });
    g.sample_size(10);
    let hash = callwatch::auth::secret::hash_password("a long enough passphrase");
    g.bench_function("argon2id_password_check", |b| {
        b.iter(|| callwatch::auth::secret::verify_password("a long enough passphrase", &hash))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
