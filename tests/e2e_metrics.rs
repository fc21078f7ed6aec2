//! `GET /metrics` while a real call streams over the Twilio fork: a token of role `metrics`
//! reads it (and nothing else), the exposition parses with the Prometheus project's own Python
//! parser, the latency histograms of each stage count the call's utterances, the live leg's
//! recognition lag is there during the call and gone after it.

mod common;

use common::{archived_call_within, callwatch, root, Server};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn get(url: &str, token: &str) -> (u16, String, String) {
    let (status, ct, body) = common::get_with_token(url, token);
    (status, ct, String::from_utf8(body).unwrap())
}

/// The exposition as the Python client parses it.
fn parse(text: &str) -> Value {
    let mut child = Command::new("python3")
        .arg(root().join("tests/clients/parse_metrics.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not a valid exposition ({}; pip install prometheus_client):\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(m: &Value, family: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    m[family]["samples"]
        .as_array()?
        .iter()
        .find(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][*k].as_str() == Some(*v)))
        .and_then(|s| s[2].as_f64())
}

#[test]
fn metrics_count_a_streamed_call_and_only_the_metrics_role_reads_them() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let (base, dir) = (server.http(), server.data_dir.path());
    let (ok, token, err) = callwatch(
        dir,
        &[
            "token",
            "create",
            "--name",
            "prometheus",
            "--role",
            "metrics",
        ],
    );
    assert!(ok, "{err}");
    let token = token.trim().to_string();
    let url = format!("{base}/metrics");
    let (status, ct, _) = get(&url, &token);
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    // The scraper's token reads nothing else.
    for path in ["/v1/calls", "/v1/stats", "/v1/events"] {
        let (status, _, _) = get(&format!("{base}{path}"), &token);
        assert_eq!(status, 403, "{path}");
    }

    // A call at real time; its leg's lag shows while it runs.
    let call = "CA-metrics";
    let streaming = std::thread::spawn({
        let (ws, tok) = (server.ws(), server.token.clone());
        move || {
            Command::new("python3")
                .env("CALLWATCH_TOKEN", tok)
                .arg(root().join("tests/clients/fork_client.py"))
                .args(["--base", &ws, "--format", "twilio", "--call-id", call])
                .arg("--wav")
                .arg(root().join("fixtures/calls/call_en_8k.wav"))
                .args(["--speed", "1.0", "--param", "queue=card"])
                .output()
                .unwrap()
        }
    });
    let t0 = Instant::now();
    let mut lag_seen = None;
    while t0.elapsed() < Duration::from_secs(20) && lag_seen.is_none() {
        let m = parse(&get(&url, &token).2);
        lag_seen = sample(
            &m,
            "callwatch_recognition_lag_seconds",
            "callwatch_recognition_lag_seconds",
            &[("call_id", call)],
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = streaming.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lag = lag_seen.expect("a live leg's recognition lag");
    assert!((0.0..30.0).contains(&lag), "{lag}");
    let detail = archived_call_within(&base, call, Duration::from_secs(30));
    let hits = detail["hits"].as_array().unwrap().len();
    assert!(hits > 0, "{detail}");

    let m = parse(&get(&url, &token).2);
    let count = |family: &str, labels: &[(&str, &str)]| {
        sample(&m, family, &format!("{family}_count"), labels).unwrap_or(0.0)
    };
    // Utterances with a transcript (dropped ones, e.g. no speech, publish no final).
    let utterances = detail["utterances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["dropped"].is_null())
        .count() as f64;
    assert!(utterances >= 3.0, "{detail}");
    assert_eq!(m["callwatch_turn_end_to_hit_seconds"]["type"], "histogram");
    assert!(count("callwatch_utterance_to_final_seconds", &[]) >= utterances);
    // Each utterance was recognised as a final, or speculatively at its first silence (and
    // that transcript used as its final).
    let speculated = count("callwatch_asr_decode_seconds", &[("kind", "speculative")]);
    assert!(
        count("callwatch_asr_queue_wait_seconds", &[("kind", "final")]) + speculated >= utterances
    );
    assert!(count("callwatch_asr_decode_seconds", &[("kind", "final")]) + speculated >= utterances);
    assert!(count("callwatch_turn_end_to_hit_seconds", &[]) >= 1.0);
    assert!(count("callwatch_archive_commit_seconds", &[]) >= 1.0);
    let total = |family: &str, labels: &[(&str, &str)]| {
        sample(&m, family, &format!("{family}_total"), labels).unwrap_or(0.0)
    };
    let used = total("callwatch_asr_speculations", &[("outcome", "used")]);
    // Whether a speculation is used, overtaken or redone depends on how busy the machine is
    // (a loaded CI box overtakes them all); that one ran and its outcome was counted does not.
    let outcomes = used
        + total("callwatch_asr_speculations", &[("outcome", "overtaken")])
        + total("callwatch_asr_speculations", &[("outcome", "redone")]);
    assert!(outcomes >= 1.0, "no speculation ran on a real call");
    assert!(total("callwatch_asr_finals", &[]) + used >= utterances);
    assert!(total("callwatch_asr_speculative", &[]) >= used);
    assert!(total("callwatch_fork_streams", &[("format", "twilio")]) >= 1.0);
    assert!(
        sample(
            &m,
            "callwatch_asr_busy_seconds",
            "callwatch_asr_busy_seconds_total",
            &[]
        )
        .unwrap()
            > 0.0
    );
    assert_eq!(
        sample(&m, "callwatch_live_calls", "callwatch_live_calls", &[]),
        Some(0.0)
    );
    // The ended leg's lag is gone, and no call data but the ids is in the exposition.
    let text = get(&url, &token).2;
    assert!(!text.contains(call), "an ended leg's lag stays:\n{text}");
    for u in detail["utterances"].as_array().unwrap() {
        let words = u["text"].as_str().unwrap_or("");
        assert!(words.is_empty() || !text.contains(words), "{words}");
    }
}
