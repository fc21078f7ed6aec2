//! Bad input from the network and from files gets a clear error, and the service keeps serving.

mod common;

use common::{get_json, root, run_fork_client, Server};
use futures_util::{SinkExt, StreamExt};
use std::process::Command;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

enum Send {
    Text(&'static str),
    Binary(Vec<u8>),
}

/// Opens a fork socket, sends `frames`, and returns the close code and reason the server sent.
async fn close_after(url: &str, protocol: Option<&str>, frames: Vec<Send>) -> (u16, String) {
    let mut req = common::ws_request(url);
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("connect");
    for f in frames {
        let m = match f {
            Send::Text(t) => Message::Text(t.into()),
            Send::Binary(b) => Message::Binary(b.into()),
        };
        if ws.send(m).await.is_err() {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("no close frame within 10 s");
        match next {
            Some(Ok(Message::Close(Some(f)))) => return (u16::from(f.code), f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => {
                return (u16::from(CloseCode::Abnormal), String::new())
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error before close: {e}"),
        }
    }
}

/// What is sent, where, and the close code and reason words expected back.
type BadCase<'a> = (&'a str, &'a str, Option<&'a str>, Vec<Send>, u16, &'a str);

/// Regression: a NUL byte in a fork's language panicked inside whisper-rs and killed the only
/// recogniser worker, so every later call waited forever.
const START_NUL_LANGUAGE: &str = r#"{"event":"start","streamSid":"MZ2","start":{"streamSid":"MZ2","callSid":"CAnul","tracks":["inbound"],"customParameters":{"language":"z\u0000h"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#;

/// A single Twilio message of 128 KiB (the limit is 64 KiB).
fn huge_text() -> &'static str {
    let pad = "A".repeat(128 * 1024);
    Box::leak(format!(r#"{{"event":"connected","pad":"{pad}"}}"#).into_boxed_str())
}

const START_ALAW: &str = r#"{"event":"start","streamSid":"MZ1","start":{"streamSid":"MZ1","callSid":"CAbad","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-alaw","sampleRate":16000,"channels":1}}}"#;

#[test]
fn bad_frames_get_close_codes_and_the_service_keeps_serving() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let ws = server.ws();
    let rt = tokio::runtime::Runtime::new().unwrap();

    // A good call streams while the bad ones arrive, and must not notice them.
    std::thread::scope(|scope| {
        let concurrent = scope.spawn(|| {
            run_fork_client(
                &server,
                "audio",
                &root().join("fixtures/calls/call_en_8k.wav"),
                "fs-during-bad",
                2.0,
                &[],
            )
        });
        let twilio = format!("{ws}/v1/fork/twilio");
        let audio = format!("{ws}/v1/fork/audio");
        let cases: Vec<BadCase> = vec![
            (
                "not JSON",
                &twilio,
                None,
                vec![Send::Text("hello there")],
                1007,
                "invalid JSON",
            ),
            (
                "truncated JSON",
                &twilio,
                None,
                vec![Send::Text(r#"{"event":"media","media":{"payload":"#)],
                1007,
                "invalid JSON",
            ),
            (
                "media before start",
                &twilio,
                None,
                vec![Send::Text(
                    r#"{"event":"media","media":{"track":"inbound","payload":"AAAA"}}"#,
                )],
                1008,
                "before `start`",
            ),
            (
                "unsupported codec",
                &twilio,
                None,
                vec![Send::Text(START_ALAW)],
                1003,
                "audio/x-mulaw",
            ),
            (
                "binary on twilio",
                &twilio,
                None,
                vec![Send::Binary(vec![0xde, 0xad, 0xbe, 0xef])],
                1003,
                "binary",
            ),
            (
                "unsupported rate",
                &audio,
                Some("audio.drachtio.org"),
                vec![Send::Text(
                    r#"{"callId":"x","sampleRate":11025,"mixType":"mono"}"#,
                )],
                1003,
                "11025",
            ),
            (
                "NUL in the twilio language",
                &twilio,
                None,
                vec![Send::Text(START_NUL_LANGUAGE)],
                1008,
                "unknown language code",
            ),
            (
                "unknown language on the audio fork",
                &audio,
                Some("audio.drachtio.org"),
                vec![Send::Text(
                    r#"{"callId":"lang","sampleRate":16000,"language":"klingon\u0000"}"#,
                )],
                1008,
                "unknown language code",
            ),
            (
                "a twilio message over the size limit",
                &twilio,
                None,
                vec![Send::Text(huge_text())],
                1009,
                "64 KiB",
            ),
            (
                "an audio-fork frame over the size limit",
                &audio,
                Some("audio.drachtio.org"),
                vec![
                    Send::Text(r#"{"callId":"big","sampleRate":16000}"#),
                    Send::Binary(vec![0u8; 256 * 1024]),
                ],
                1009,
                "64 KiB",
            ),
            (
                "metadata not an object",
                &audio,
                Some("audio.drachtio.org"),
                vec![Send::Text("[1,2,3]")],
                1007,
                "JSON object",
            ),
            (
                "audio without a rate",
                &audio,
                Some("audio.drachtio.org"),
                vec![Send::Binary(vec![1, 2, 3, 4, 5])],
                1008,
                "sample rate",
            ),
        ];
        for (what, url, proto, frames, code, reason) in cases {
            let (got_code, got_reason) = rt.block_on(close_after(url, proto, frames));
            assert_eq!(got_code, code, "{what}: reason {got_reason:?}");
            assert!(
                got_reason.contains(reason),
                "{what}: reason {got_reason:?} lacks {reason:?}"
            );
        }
        let events = concurrent.join().unwrap();
        assert!(
            events
                .iter()
                .any(|e| e["type"] == "phrase.hit" && e["category"] == "complaint"),
            "{events:?}"
        );
        assert!(events.iter().any(|e| e["type"] == "call.ended"));
    });

    // Bad HTTP queries are 400/404 with a JSON error.
    let base = server.http();
    for (url, status) in [
        (format!("{base}/v1/search?q="), 400),
        (format!("{base}/v1/calls?from=yesterday"), 400),
        (format!("{base}/v1/calls?limit=100000"), 400),
        (format!("{base}/v1/calls/no-such-call"), 404),
    ] {
        let (got, body) = get_json(&url);
        assert_eq!(got, status, "{url}: {body}");
        assert!(body["error"].is_string(), "{url}: {body}");
    }
    let (status, body) = get_json(&format!("{base}/v1/events?type=bogus"));
    assert_eq!(status, 400, "{body}");

    // After all that, a real call still goes through end to end.
    let events = run_fork_client(
        &server,
        "twilio",
        &root().join("fixtures/calls/call_en_8k.wav"),
        "CA-after-bad",
        4.0,
        &[],
    );
    assert!(
        events.iter().any(|e| e["type"] == "transcript.final"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e["type"] == "call.ended"));
    let (status, _) = get_json(&format!("{base}/healthz"));
    assert_eq!(status, 200);

    // Shutdown is clean: SIGTERM ends the process with success.
    let mut server = server;
    assert!(server.stop().success(), "{}", server.log_text());
}

#[test]
fn corrupt_audio_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken.wav");
    let good = std::fs::read(root().join("fixtures/en/agent_greeting.wav")).unwrap();
    // A RIFF header that promises more than is there, then garbage.
    let mut bytes = good[..44].to_vec();
    bytes.extend(std::iter::repeat_n(0xAAu8, 7));
    std::fs::write(&bad, &bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .current_dir(root())
        .arg("transcribe")
        .arg("--model")
        .arg(common::model("ggml-tiny.en.bin"))
        .arg(&bad)
        .output()
        .unwrap();
    // A truncated file either decodes what is there or fails with a message naming it; never a crash.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code().is_some(), "killed by a signal: {stderr}");
    // 101 is how a Rust panic exits: a crash, not an error.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "exit {:?}: {stderr}",
        out.status.code()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    if !out.status.success() {
        assert!(stderr.contains("broken.wav"), "{stderr}");
    }
    let text = dir.path().join("notes.wav");
    std::fs::write(&text, "this is not audio").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .current_dir(root())
        .arg("transcribe")
        .arg("--model")
        .arg(common::model("ggml-tiny.en.bin"))
        .arg(&text)
        .arg(root().join("fixtures/en/agent_greeting.wav"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stderr.contains("notes.wav") && stderr.contains("not a supported audio file"),
        "{stderr}"
    );
    // The good file in the same run is still transcribed.
    assert!(
        stdout.to_lowercase().contains("thank you for calling"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("1 of 2 files failed"), "{stderr}");
}

#[test]
fn malformed_lexicon_fails_start_up_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let lex = dir.path().join("lexicons");
    std::fs::create_dir(&lex).unwrap();
    std::fs::write(
        lex.join("bad.toml"),
        "[[term]]\ntext = \"保本\"\ncategory = \"sales_promise\"\nseverity = \"hgh\"\nspeaker = \"agent\"\n",
    )
    .unwrap();
    let cfg = dir.path().join("callwatch.toml");
    std::fs::write(
        &cfg,
        format!("[lexicons]\ndir = {:?}\n", lex.display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .current_dir(root())
        .args(["serve", "--no-fetch", "--http", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--model")
        .arg(common::model("ggml-tiny.en.bin"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.toml:4") && stderr.contains("hgh"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .args(["lexicon"])
        .arg(&lex)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:4"));

    let out = Command::new(env!("CARGO_BIN_EXE_callwatch"))
        .current_dir(root())
        .args(["lexicon", "lexicons"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each category says how its terms really match (English terms only as written).
    let summary = String::from_utf8_lossy(&out.stdout);
    let fraud = summary.lines().find(|l| l.contains("fraud:")).unwrap_or("");
    assert!(
        fraud.contains("(matched exact ") && !fraud.contains("near 0)"),
        "{summary}"
    );
}

#[test]
fn liveness_and_readiness_say_what_works() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let base = server.http();
    for path in ["/livez", "/healthz"] {
        let (status, body) = get_json(&format!("{base}{path}"));
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["status"], "ok", "{path}: {body}");
        let asr = &body["checks"]["recognizer"]["detail"];
        assert_eq!(
            (asr["alive"].as_u64(), asr["ready"].as_u64()),
            (Some(1), Some(1)),
            "{body}"
        );
    }
    let (status, body) = get_json(&format!("{base}/readyz"));
    assert_eq!(status, 200, "{body}");
    for check in ["recognizer", "archive", "disk"] {
        assert_eq!(body["checks"][check]["ok"], true, "{check}: {body}");
    }
    assert!(
        body["checks"]["disk"]["detail"]["free_mb"]
            .as_u64()
            .unwrap()
            > 0,
        "{body}"
    );
    assert_eq!(body["checks"]["archive"]["detail"]["alive"], true, "{body}");

    // A data dir with less room than required: alive, but not ready, and it says why.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("callwatch.toml");
    std::fs::write(&cfg, "[server]\nmin_free_disk_mb = 1000000000000\n").unwrap();
    let full = Server::start("ggml-tiny.en.bin", &["--config", cfg.to_str().unwrap()]);
    let base = full.http();
    let (status, body) = get_json(&format!("{base}/readyz"));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["disk"]["ok"], false, "{body}");
    assert_eq!(body["checks"]["recognizer"]["ok"], true, "{body}");
    assert_eq!(
        body["checks"]["disk"]["detail"]["min_free_mb"].as_u64(),
        Some(1_000_000_000_000)
    );
    let (status, _) = get_json(&format!("{base}/livez"));
    assert_eq!(status, 200);
}

#[test]
fn an_events_subscriber_that_sends_too_much_is_closed() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let url = format!("{}/v1/events", server.ws());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (code, reason) = rt.block_on(close_after(
        &url,
        None,
        vec![Send::Binary(vec![7u8; 64 * 1024])],
    ));
    assert_eq!(code, 1009, "{reason}");
    assert!(reason.contains("4 KiB"), "{reason}");
    // The server goes on serving.
    let (status, _) = get_json(&format!("{}/livez", server.http()));
    assert_eq!(status, 200);
}
