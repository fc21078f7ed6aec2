//! TLS on the HTTP/WebSocket listener, against the running server with a self-signed
//! certificate made here: reqwest over HTTPS (login cookie marked Secure), the Python
//! websockets fork client and events stream over wss://, a plain-HTTP client refused, and the
//! start-up rules (require_tls, the warning on a non-loopback address in clear).

mod common;

use common::{root, self_signed, Server};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn https_and_wss_carry_the_api_logins_and_media_forks() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(certs.path());
    let server = Server::start(
        "ggml-tiny.en.bin",
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let base = server.http();
    assert!(base.starts_with("https://"));
    let password = std::fs::read_to_string(server.data_dir.path().join("initial-admin-password"))
        .unwrap()
        .trim()
        .to_string();
    rt().block_on(async {
        let authed = common::client(&server);
        let r = authed.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = authed.get(format!("{base}/v1/calls")).send().await.unwrap();
        assert_eq!(r.status(), 200);

        // Without the token: 401, over TLS as in clear.
        let pem = std::fs::read(&cert).unwrap();
        let anon = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        let r = anon.get(format!("{base}/v1/calls")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        // Browsers that reached it over TLS never fall back to clear text.
        assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");

        // A login under TLS sets a Secure cookie, and the cookie opens the API.
        let r = anon
            .post(format!("{base}/v1/login"))
            .json(&serde_json::json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            cookie.contains("Secure") && cookie.contains("HttpOnly"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_string();
        let r = anon
            .get(format!("{base}/v1/me"))
            .header("cookie", pair)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        // A client that does not trust the certificate gets no answer at all.
        let untrusting = reqwest::Client::new();
        assert!(untrusting
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err());
    });

    // Plain HTTP to the TLS port: the handshake fails and no request is served.
    let plain = format!("http://127.0.0.1:{}/healthz", server.port);
    let r = rt().block_on(async {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap()
            .get(plain)
            .send()
            .await
    });
    assert!(r.is_err(), "plain HTTP was answered: {r:?}");

    // A Twilio media fork and the events stream over wss:// (Python websockets with the
    // certificate as its CA): transcribed and archived.
    let wav = root().join("fixtures/calls/call_en_8k.wav");
    let events = common::run_fork_client(&server, "twilio", &wav, "CA-tls", 4.0, &[]);
    assert!(
        common::of_type(&events, "transcript.final").len() >= 2,
        "{}",
        common::dump_events(&events)
    );
    assert_eq!(common::of_type(&events, "call.ended").len(), 1);
    rt().block_on(async {
        let call: serde_json::Value = common::client(&server)
            .get(format!("{base}/v1/calls/CA-tls"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(call["ended_at"].is_string(), "{call}");
        assert!(!call["utterances"].as_array().unwrap().is_empty(), "{call}");
    });
}

/// Runs `serve` with `args` until its log holds `wanted` or it exits; returns the log.
fn serve_log_until(args: &[&str], wanted: &str) -> (Option<std::process::ExitStatus>, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .current_dir(root())
        .args(["serve", "--no-fetch", "--data-dir"])
        .arg(dir.path())
        .arg("--model")
        .arg(common::model("ggml-tiny.en.bin"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(status) = child.try_wait().unwrap() {
            return (Some(status), std::fs::read_to_string(&log).unwrap());
        }
        if text.contains(wanted) || t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return (None, text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn require_tls_refuses_to_start_in_clear_and_clear_text_off_loopback_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[http]\nrequire_tls = true\n").unwrap();
    let (status, log) = serve_log_until(&["--config", config.to_str().unwrap()], "\u{0}");
    assert!(status.is_some_and(|s| !s.success()), "{log}");
    assert!(
        log.contains("require_tls") && log.contains("tls_cert"),
        "{log}"
    );

    // A certificate that does not match its key stops the start with both names.
    let (cert, _) = self_signed(dir.path());
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = self_signed(other.path());
    let (status, log) = serve_log_until(
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            other_key.to_str().unwrap(),
        ],
        "\u{0}",
    );
    assert!(status.is_some_and(|s| !s.success()), "{log}");
    assert!(log.contains("cannot be used together"), "{log}");

    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_, log) = serve_log_until(
        &["--http", &format!("0.0.0.0:{port}")],
        "HTTP without TLS on a non-loopback address",
    );
    assert!(
        log.contains("HTTP without TLS on a non-loopback address"),
        "{log}"
    );
}
