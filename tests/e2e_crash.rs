//! A crash loses nothing it announced: two calls stream live, the server is killed with
//! SIGKILL after some finals, and a new server on the same data dir has every final that was
//! announced, the cut calls closed as `interrupted`, and a sound database file.

mod common;

use common::{archived_call, root, EventWatcher, Server};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// GET with a bearer token; the body, after asserting 200.
fn get_bytes(url: &str, token: &str) -> Vec<u8> {
    let (status, _, body) = common::get_with_token(url, token);
    assert_eq!(status, 200, "{url}");
    body
}

#[test]
fn kill_9_keeps_every_announced_final_and_closes_the_cut_calls() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let calls = ["CA-crash-1", "CA-crash-2"];
    let watchers: Vec<EventWatcher> = calls
        .iter()
        .map(|c| EventWatcher::start(&server, c))
        .collect();
    let wav = root().join("fixtures/calls/call_en_8k.wav");
    let mut clients: Vec<_> = calls
        .iter()
        .map(|c| {
            Command::new("python3")
                .env("CALLWATCH_TOKEN", &server.token)
                .arg(root().join("tests/clients/fork_client.py"))
                .args(["--base", &server.ws(), "--format", "twilio", "--call-id", c])
                .arg("--wav")
                .arg(&wav)
                .args(["--speed", "1.0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("python3 fork client")
        })
        .collect();

    // Real time: the fixture's first finals come after a few seconds of speech.
    let finals_of = |w: &EventWatcher| -> Vec<String> {
        w.events()
            .iter()
            .filter(|e| e["type"] == "transcript.final")
            .map(|e| e["utterance_id"].as_str().unwrap().to_string())
            .collect()
    };
    let t0 = Instant::now();
    while watchers.iter().any(|w| finals_of(w).len() < 2) {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "no two finals per call within 90 s:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log_before = server.log_text();
    let dir = server.kill9();
    // Everything announced before the kill: read after it, so nothing arrives in between.
    let announced: Vec<Vec<String>> = watchers.iter().map(finals_of).collect();
    for c in &mut clients {
        let _ = c.kill();
        let _ = c.wait();
    }
    for w in &watchers {
        assert!(
            !w.events().iter().any(|e| e["type"] == "call.ended"),
            "the call ended before the kill; the test needs a longer call"
        );
    }

    let server = Server::start_in("ggml-tiny.en.bin", dir, &[]);
    let base = server.http();
    for (call, finals) in calls.iter().zip(&announced) {
        let detail = archived_call(&base, call);
        assert_eq!(detail["end_reason"], "interrupted", "{detail}");
        assert!(detail["ended_at"].is_string(), "{detail}");
        assert!(detail["duration_ms"].as_u64().unwrap() > 0, "{detail}");
        let archived: Vec<&str> = detail["utterances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap())
            .collect();
        for id in finals {
            assert!(
                archived.contains(&id.as_str()),
                "final {id} of {call} was announced but not archived: {detail}\nlog before the kill:\n{log_before}"
            );
        }
    }
    // The recordings keep what was written before the kill: each leg file decodes, and the
    // customer's reaches past the end of the first final announced on that leg.
    for (call, w) in calls.iter().zip(&watchers) {
        let first_end = w
            .events()
            .iter()
            .find(|e| e["type"] == "transcript.final" && e["speaker"] == "customer")
            .and_then(|e| e["end_ms"].as_u64());
        let detail = archived_call(&base, call);
        let audio = detail["audio"].as_array().unwrap();
        assert_eq!(audio.len(), 2, "{detail}");
        assert!(audio.iter().all(|a| a["duration_ms"].is_null()), "{detail}");
        let ogg = get_bytes(
            &format!("{base}/v1/calls/{call}/audio?leg=customer"),
            &server.token,
        );
        let file = server.data_dir.path().join(format!("{call}.ogg"));
        std::fs::write(&file, ogg).unwrap();
        let secs = common::ffprobe_duration(&file);
        if let Some(end) = first_end {
            assert!(
                secs * 1000.0 >= end as f64 - 1000.0,
                "{call}: {secs} s, first final ends at {end} ms"
            );
        }
    }
    let db = rusqlite::Connection::open(server.data_dir.path().join("callwatch.db")).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert!(
        server.log_text().contains("as `interrupted`"),
        "{}",
        server.log_text()
    );
}
