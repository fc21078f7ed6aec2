//! Access control against the running server: every served route with every role (and no
//! credential), the first admin, browser login with its cookie, brute-force throttling,
//! token revocation while running, live events limited to an agent's own calls, and the
//! audit rows of all of it.

mod common;

use common::{callwatch, make_token, root, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Who may use what, written out independently of the service's own table: a route the
/// service serves that is missing here, or a role that differs, fails the test.
const TABLE: &[(&str, &str, &str)] = &[
    ("GET", "/healthz", "public"),
    ("GET", "/livez", "public"),
    ("GET", "/v1/openapi.json", "public"),
    ("POST", "/v1/login", "public"),
    ("GET", "/whip/publish.html", "public"),
    ("GET", "/", "public"),
    ("GET", "/ui/{*file}", "public"),
    ("OPTIONS", "/v1/whip", "public"),
    (
        "POST",
        "/v1/logout",
        "admin supervisor reviewer agent ingest metrics",
    ),
    (
        "GET",
        "/v1/me",
        "admin supervisor reviewer agent ingest metrics",
    ),
    ("GET", "/metrics", "admin metrics"),
    ("GET", "/readyz", "admin supervisor ingest"),
    ("GET", "/v1/stats", "admin supervisor"),
    ("GET", "/v1/events", "admin supervisor agent"),
    // Twilio cannot set headers: without one, the token comes in its start message (checked
    // in the test below), so the upgrade itself is not refused.
    ("GET", "/v1/fork/twilio", "admin ingest in-band"),
    ("GET", "/v1/fork/audio", "admin ingest"),
    ("POST", "/v1/rtp-sessions", "admin ingest"),
    ("GET", "/v1/rtp-sessions/{id}", "admin ingest"),
    ("DELETE", "/v1/rtp-sessions/{id}", "admin ingest"),
    ("POST", "/v1/whip", "admin ingest"),
    ("DELETE", "/v1/whip/{id}", "admin ingest"),
    ("PATCH", "/v1/whip/{id}", "admin ingest"),
    ("POST", "/v1/admin/reload", "admin"),
    ("GET", "/v1/admin/inspection", "admin"),
    ("GET", "/v1/audit", "admin"),
    ("GET", "/v1/calls", "admin supervisor reviewer"),
    ("GET", "/v1/calls/{id}", "admin supervisor reviewer"),
    ("GET", "/v1/calls/{id}/audio", "admin supervisor reviewer"),
    (
        "POST",
        "/v1/calls/{id}/hits/{hit_id}/review",
        "admin supervisor reviewer",
    ),
    (
        "POST",
        "/v1/calls/{id}/qa/{item_id}/override",
        "admin supervisor reviewer",
    ),
    (
        "POST",
        "/v1/calls/{id}/reviewed",
        "admin supervisor reviewer",
    ),
    (
        "GET",
        "/v1/calls/{id}/transcript",
        "admin supervisor reviewer",
    ),
    ("GET", "/v1/reports/terms", "admin supervisor reviewer"),
    ("GET", "/v1/live/calls", "admin supervisor"),
    ("GET", "/v1/alerts", "admin supervisor"),
    ("POST", "/v1/alerts/{id}/ack", "admin supervisor"),
    ("GET", "/v1/search", "admin supervisor reviewer"),
    ("GET", "/v1/surges", "admin supervisor"),
    ("GET", "/v1/surges/series", "admin supervisor"),
    ("POST", "/v1/surges/{id}/ack", "admin supervisor"),
    ("GET", "/v1/topics", "admin supervisor"),
];

const ROLES: [&str; 6] = [
    "admin",
    "supervisor",
    "reviewer",
    "agent",
    "ingest",
    "metrics",
];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `method path` with `headers`; returns the status, headers and body.
fn send(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    rt().block_on(async {
        let c = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut r = c.request(method.parse().unwrap(), format!("{base}{path}"));
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let (s, h) = (r.status(), r.headers().clone());
        (s, h, r.text().await.unwrap_or_default())
    })
}

fn bearer(t: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {t}"))]
}

#[test]
fn every_route_answers_each_role_as_the_table_says() {
    // The table covers exactly the routes the service serves.
    let served: BTreeSet<(String, String)> = callwatch::auth::policy::ROUTES
        .iter()
        .map(|(m, p, _)| (m.as_str().to_string(), p.to_string()))
        .collect();
    let listed: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        served, listed,
        "a served route is missing from the table, or gone"
    );

    let mut server = Server::start("ggml-tiny.en.bin", &[]);
    let base = server.http();
    // Tokens made with the CLI while the service runs.
    let tokens: Vec<(&str, String)> = ROLES
        .iter()
        .map(|r| {
            (
                *r,
                make_token(server.data_dir.path(), &[], &format!("t-{r}"), r),
            )
        })
        .collect();
    let mut checked = 0;
    for (method, path, who) in TABLE {
        let path = path
            .replace("{id}", "nope")
            .replace("{hit_id}", "nope")
            .replace("{item_id}", "nope")
            .replace("{*file}", "app.js");
        let in_band = who.ends_with(" in-band");
        let allowed: Vec<&str> = who.trim_end_matches(" in-band").split(' ').collect();
        let (status, h, body) = send(&base, method, &path, &[], None);
        if in_band {
            assert!(!status.is_success(), "{method} {path}: {status} {body}");
            let (status, _, _) = send(&base, method, &path, &bearer("cw_forged"), None);
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} forged");
        } else if allowed == ["public"] {
            assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{method} {path} without a credential: {status} {body}"
            );
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert!(h["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"));
            // A token that is not one is no better than none.
            let (status, _, _) = send(&base, method, &path, &bearer("cw_forged"), None);
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} forged");
        }
        for (role, token) in &tokens {
            let (status, _, body) = send(&base, method, &path, &bearer(token), None);
            let may = allowed == ["public"] || allowed.contains(role);
            if may {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {status} {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {body}"
                );
            }
            checked += 1;
        }
    }
    eprintln!("{checked} route x role checks");
    // The logout above ended nothing a token needs: tokens are not sessions.
    let (status, _, _) = send(&base, "GET", "/v1/me", &bearer(&tokens[0].1), None);
    assert_eq!(status, StatusCode::OK);
    assert!(server.stop().success(), "{}", server.log_text());
}

#[test]
fn first_start_admin_login_cookie_throttling_revocation_and_audit() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let base = server.http();
    let dir = server.data_dir.path();

    // The first start made `admin` with a random password in a file only its owner reads;
    // the log names the file, never the password.
    let file = dir.join("initial-admin-password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let log = server.log_text();
    assert!(log.contains("initial-admin-password"), "{log}");
    assert!(!log.contains(&password), "the log shows the password");

    // Browser login: a session cookie, HttpOnly and SameSite=Strict.
    let login = |user: &str, pw: &str| {
        send(
            &base,
            "POST",
            "/v1/login",
            &[],
            Some(json!({"username": user, "password": pw})),
        )
    };
    let (status, h, body) = login("admin", &password);
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = h["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let with_cookie = vec![("cookie", session.clone())];
    let (status, _, me) = send(&base, "GET", "/v1/me", &with_cookie, None);
    assert_eq!(status, StatusCode::OK);
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["credential"], "session");
    let (status, _, _) = send(&base, "POST", "/v1/logout", &with_cookie, None);
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = send(&base, "GET", "/v1/me", &with_cookie, None);
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the session outlived its logout"
    );

    // A reviewer added with the CLI (password from the environment) while the service runs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .current_dir(root())
        .args([
            "user", "add", "qa-li", "--role", "reviewer", "--queues", "card",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("CALLWATCH_PASSWORD", "a long enough passphrase")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, listed, _) = callwatch(dir, &["user", "list"]);
    assert!(
        ok && listed.contains("\"qa-li\"") && !listed.contains("argon2"),
        "{listed}"
    );

    // Brute force: wrong passwords end in 429 with Retry-After; then even the right one waits.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (status, h, _) = login("qa-li", &format!("guess number {i}"));
        statuses.push(status.as_u16());
        if status == StatusCode::TOO_MANY_REQUESTS {
            let secs: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=300).contains(&secs), "{secs}");
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    let (status, _, _) = login("qa-li", "a long enough passphrase");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // A token revoked with the CLI stops working within seconds, without a restart.
    let token = make_token(dir, &[], "integration", "reviewer");
    let (status, _, _) = send(&base, "GET", "/v1/calls", &bearer(&token), None);
    assert_eq!(status, StatusCode::OK);
    let (ok, _, err) = callwatch(dir, &["token", "revoke", "integration"]);
    assert!(ok, "{err}");
    let t0 = Instant::now();
    loop {
        let (status, _, _) = send(&base, "GET", "/v1/calls", &bearer(&token), None);
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "revoked token still works"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, tokens, _) = callwatch(dir, &["token", "list"]);
    assert!(
        !tokens.contains("cw_"),
        "token list shows a token: {tokens}"
    );

    // The audit trail has each of these, over HTTP (admin) and from the CLI.
    let (status, _, page) = send(
        &base,
        "GET",
        "/v1/audit?limit=500",
        &bearer(&server.token),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{page}");
    let page: Value = serde_json::from_str(&page).unwrap();
    let actions: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().into(),
                r["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    for want in [
        ("login", "ok"),
        ("logout", "ok"),
        ("login.failed", "invalid_credentials"),
        ("login.failed", "throttled"),
        ("user.add", "ok"),
        ("token.create", "ok"),
        ("token.revoke", "ok"),
    ] {
        assert!(
            actions.contains(&(want.0.to_string(), want.1.to_string())),
            "no {want:?} in {actions:?}"
        );
    }
    let login_row = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "login")
        .unwrap();
    assert_eq!(login_row["who"], "admin");
    assert_eq!(login_row["address"], "127.0.0.1");
    let (ok, cli, _) = callwatch(dir, &["audit", "--action", "token.revoke"]);
    assert!(ok && cli.contains("integration"), "{cli}");
    let (status, _, _) = send(
        &base,
        "GET",
        "/v1/audit?limit=0",
        &bearer(&server.token),
        None,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn an_agent_sees_only_its_own_calls_and_foreign_pages_cannot_open_the_stream() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let dir = server.data_dir.path();
    let agent = make_token(dir, &[], "agent-7", "agent");
    let url = format!("{}/v1/events", server.ws());

    // A page on another origin cannot open the live stream, even with a credential.
    let mut req = common::ws_request(&url);
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let err = rt()
        .block_on(tokio_tungstenite::connect_async(req))
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");

    // The agent subscribes with its own token; two calls stream, one of them its own.
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let sub_url = url.clone();
    std::thread::spawn(move || {
        use futures_util::StreamExt;
        rt().block_on(async move {
            let mut req =
                tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                    sub_url.as_str(),
                )
                .unwrap();
            req.headers_mut()
                .insert("authorization", format!("Bearer {agent}").parse().unwrap());
            let (mut ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .expect("agent subscribes");
            ready_tx.send(()).unwrap();
            while let Some(Ok(m)) = ws.next().await {
                if let Ok(t) = m.into_text() {
                    if let Ok(v) = serde_json::from_str::<Value>(&t) {
                        let _ = tx.send(v);
                    }
                }
            }
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let wav = root().join("fixtures/calls/call_en_8k.wav");
    std::thread::scope(|s| {
        let server = &server;
        let wav = &wav;
        let own = s.spawn(move || {
            common::run_fork_client(
                server,
                "twilio",
                wav,
                "CA-own",
                4.0,
                &[("agent_id", "agent-7")],
            )
        });
        let other = s.spawn(move || {
            common::run_fork_client(
                server,
                "twilio",
                wav,
                "CA-other",
                4.0,
                &[("agent_id", "agent-8")],
            )
        });
        own.join().unwrap();
        other.join().unwrap();
    });
    std::thread::sleep(Duration::from_millis(500));
    let seen: Vec<Value> = rx.try_iter().collect();
    let calls: BTreeSet<&str> = seen.iter().filter_map(|e| e["call_id"].as_str()).collect();
    assert_eq!(calls, BTreeSet::from(["CA-own"]), "{seen:?}");
    assert!(
        seen.iter().any(|e| e["type"] == "transcript.final"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|e| e["type"] == "call.ended"), "{seen:?}");
}

/// A Twilio fork without headers: `start.customParameters.token`, then a second of silence
/// and `stop`. Returns the close frame the server sent, if any.
fn twilio_in_band(ws: &str, call_id: &str, token: Option<&str>) -> Option<(u16, String)> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let mut params = json!({"queue": "card"});
    if let Some(t) = token {
        params["token"] = json!(t);
    }
    rt().block_on(async {
        let (mut s, _) = tokio_tungstenite::connect_async(format!("{ws}/v1/fork/twilio"))
            .await
            .expect("the upgrade needs no header");
        let sid = "MZaccess";
        let start = json!({"event": "start", "streamSid": sid, "start": {
            "streamSid": sid, "callSid": call_id, "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
        let silence = base64_mulaw_silence();
        let mut msgs = vec![start.to_string()];
        for i in 0..50 {
            msgs.push(json!({"event": "media", "streamSid": sid, "media": {"track": "inbound",
                "chunk": (i + 1).to_string(), "timestamp": (i * 20).to_string(), "payload": silence}})
            .to_string());
        }
        msgs.push(json!({"event": "stop", "streamSid": sid}).to_string());
        for m in msgs {
            if s.send(Message::Text(m.into())).await.is_err() {
                break;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, s.next()).await {
            if let Message::Close(Some(f)) = m {
                return Some((u16::from(f.code), f.reason.to_string()));
            }
        }
        None
    })
}

fn base64_mulaw_silence() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([0xffu8; 160])
}

#[test]
fn twilio_tokens_in_band_and_call_ids_that_are_archived_or_someone_elses() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let (base, ws, dir) = (server.http(), server.ws(), server.data_dir.path());
    let ingest = make_token(dir, &[], "twilio", "ingest");
    let reviewer = make_token(dir, &[], "qa", "reviewer");

    // No token, or one whose role may not stream: closed with 1008 and why.
    let (code, reason) = twilio_in_band(&ws, "CA-none", None).expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("unauthorized"), "{reason}");
    let (code, reason) = twilio_in_band(&ws, "CA-qa", Some(&reviewer)).expect("a close frame");
    assert_eq!(
        (code, reason.contains("forbidden")),
        (1008, true),
        "{reason}"
    );

    // The ingest token in customParameters opens the call; the token is never archived.
    let closed = twilio_in_band(&ws, "CA-in-band", Some(&ingest));
    assert!(
        closed.as_ref().is_none_or(|(c, _)| *c == 1000),
        "{closed:?}"
    );
    let detail = common::archived_call_within(&base, "CA-in-band", Duration::from_secs(20));
    assert_eq!(detail["queue"], "card");
    assert!(!detail.to_string().contains(&ingest[3..]), "{detail}");
    assert!(
        detail["metadata"]["customParameters"]
            .get("token")
            .is_none(),
        "{detail}"
    );

    // Call volume per queue: a supervisor limited to queues sees only its own queues' series,
    // not the all-queues total, and no topic or phrase counts (they mix every queue).
    let scoped = |name: &str, queues: &str| {
        let args = [
            "token",
            "create",
            "--name",
            name,
            "--role",
            "supervisor",
            "--queues",
            queues,
        ];
        let (ok, out, err) = callwatch(dir, &args);
        assert!(ok, "{err}");
        out.trim().to_string()
    };
    let keys = |token: &str| -> Vec<String> {
        let (status, _, body) = send(
            &base,
            "GET",
            "/v1/surges/series?minutes=30",
            &bearer(token),
            None,
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect()
    };
    let supervisor = make_token(dir, &[], "sup-all", "supervisor");
    assert_eq!(keys(&supervisor), ["all", "card"]);
    let card = scoped("sup-card", "card");
    assert_eq!(keys(&card), ["card"]);
    let wealth = scoped("sup-wealth", "wealth");
    assert!(keys(&wealth).is_empty());
    for path in [
        "/v1/surges/series?metric=topic",
        "/v1/topics",
        "/v1/topics?metric=emerging",
    ] {
        let (status, _, body) = send(&base, "GET", path, &bearer(&wealth), None);
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (status, _, body) = send(
        &base,
        "GET",
        "/v1/topics?metric=calls",
        &bearer(&wealth),
        None,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["items"],
        json!([])
    );

    // A new stream naming the archived call: 1008 on the fork, 409 on the RTP API, and the
    // archived call is unchanged, byte for byte.
    let before = common::get_json(&format!("{base}/v1/calls/CA-in-band"))
        .1
        .to_string();
    let (code, reason) = twilio_in_band(&ws, "CA-in-band", Some(&ingest)).expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("archived"), "{reason}");
    let body = json!({"call_id": "CA-in-band", "queue": "wealth",
        "legs": [{"leg": "caller", "speaker": "customer", "codec": "pcmu"}]});
    let (status, _, text) = send(
        &base,
        "POST",
        "/v1/rtp-sessions",
        &bearer(&ingest),
        Some(body),
    );
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    std::thread::sleep(Duration::from_millis(500));
    let after = common::get_json(&format!("{base}/v1/calls/CA-in-band"))
        .1
        .to_string();
    assert_eq!(before, after);

    // A live call takes legs only from the credential that opened it.
    let other = make_token(dir, &[], "other-sbc", "ingest");
    let body =
        json!({"call_id": "CA-live", "legs": [{"leg": "a", "speaker": "agent", "codec": "pcmu"}]});
    let (status, _, text) = send(
        &base,
        "POST",
        "/v1/rtp-sessions",
        &bearer(&ingest),
        Some(body),
    );
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let (code, reason) = twilio_in_band(&ws, "CA-live", Some(&other)).expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("another credential"), "{reason}");
    let closed = twilio_in_band(&ws, "CA-live", Some(&ingest));
    assert!(
        closed.as_ref().is_none_or(|(c, _)| *c == 1000),
        "{closed:?}"
    );
}

/// The browser login flow in headless Chromium: the session cookie is HttpOnly and
/// SameSite=Strict, it alone opens the API and the events WebSocket, page script cannot read
/// it, and logout ends it.
#[test]
fn chromium_logs_in_with_a_session_cookie_and_out_again() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let password = std::fs::read_to_string(server.data_dir.path().join("initial-admin-password"))
        .unwrap()
        .trim()
        .to_string();
    let out = std::process::Command::new("node")
        .arg(root().join("tests/clients/login_chromium.mjs"))
        .args([&server.http(), "admin", &password])
        .output()
        .expect("node (npm ci in tests/clients installs playwright-core)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium login failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["meBefore"], 401, "{seen}");
    assert_eq!(seen["wsBefore"], "refused", "{seen}");
    assert_eq!(seen["wrongPassword"], 401, "{seen}");
    assert_eq!(seen["login"], 200, "{seen}");
    assert_eq!(seen["cookieVisibleToScript"], false, "{seen}");
    assert_eq!(seen["cookie"]["httpOnly"], true, "{seen}");
    assert_eq!(seen["cookie"]["sameSite"], "Strict", "{seen}");
    assert_eq!(seen["me"]["name"], "admin", "{seen}");
    assert_eq!(seen["me"]["role"], "admin", "{seen}");
    assert_eq!(seen["calls"], 200, "{seen}");
    assert_eq!(seen["wsAfterLogin"], "open", "{seen}");
    assert!(seen["logout"] == 200 || seen["logout"] == 204, "{seen}");
    assert_eq!(seen["meAfterLogout"], 401, "{seen}");
    assert_eq!(seen["wsAfterLogout"], "refused", "{seen}");
}

/// Behind a TLS-terminating proxy (`[http] tls_proxy`), the plain-HTTP listener still marks
/// login cookies `Secure` and sends HSTS, since browsers reach it over HTTPS; without the
/// switch, in clear, it does neither.
#[test]
fn behind_a_tls_proxy_cookies_are_secure_and_pages_carry_hsts() {
    for proxy in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("callwatch.toml");
        std::fs::write(&cfg, format!("[http]\ntls_proxy = {proxy}\n")).unwrap();
        let server = Server::start("ggml-tiny.en.bin", &["--config", cfg.to_str().unwrap()]);
        let base = server.http();
        let password =
            std::fs::read_to_string(server.data_dir.path().join("initial-admin-password"))
                .unwrap()
                .trim()
                .to_string();
        let (status, h, body) = send(
            &base,
            "POST",
            "/v1/login",
            &[],
            Some(json!({"username": "admin", "password": password})),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        let cookie = h["set-cookie"].to_str().unwrap();
        assert_eq!(cookie.contains("; Secure"), proxy, "{cookie}");
        let (_, page, _) = send(&base, "GET", "/", &[], None);
        assert_eq!(
            page.contains_key("strict-transport-security"),
            proxy,
            "{page:?}"
        );
    }
}
