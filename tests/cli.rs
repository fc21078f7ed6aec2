//! The command line as a QA reviewer uses it: transcribe a recording into the archive, then
//! list, open and search it.

mod common;

use common::sidecar::check_call_hits;
use common::{callwatch, model, root};
use serde_json::Value;

#[test]
fn transcribe_archive_then_query_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = model("ggml-tiny.en.bin");
    let wav = root().join("fixtures/calls/call_en.wav");
    let (ok, stdout, stderr) = callwatch(
        dir.path(),
        &[
            "transcribe",
            "--json",
            "--archive",
            "--model",
            tiny.to_str().unwrap(),
            wav.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hits: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "phrase.hit")
        .collect();
    assert!(
        hits.iter()
            .any(|h| h["category"] == "sales_promise" && h["speaker"] == "agent"),
        "{stdout}"
    );
    assert!(hits
        .iter()
        .any(|h| h["category"] == "complaint" && h["speaker"] == "customer"));
    let call_id = events.last().unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(events.last().unwrap()["type"], "call.ended");

    let (ok, stdout, stderr) = callwatch(dir.path(), &["calls", "--category", "complaint"]);
    assert!(ok, "{stderr}");
    let page: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(page["items"][0]["id"], call_id.as_str(), "{page}");
    assert_eq!(page["items"][0]["source"], "file");

    let (ok, stdout, stderr) = callwatch(dir.path(), &["call", &call_id]);
    assert!(ok, "{stderr}");
    let detail: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(detail["legs"].as_array().unwrap().len(), 2);
    check_call_hits(
        "call_en",
        &events,
        &detail,
        &[
            ("customer", "file a complaint"),
            ("agent", "guaranteed return"),
        ],
    );

    let (ok, stdout, stderr) =
        callwatch(dir.path(), &["search", "guaranteed", "--speaker", "agent"]);
    assert!(ok, "{stderr}");
    let found: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(found["items"][0]["call_id"], call_id.as_str(), "{found}");
    assert_eq!(found["items"][0]["speaker"], "agent");

    // The call was scored when it ended: the agent greeted and closed, but promised a
    // guaranteed return and never verified the customer's identity.
    let scored = events
        .iter()
        .find(|e| e["type"] == "qa.scored")
        .expect("a qa.scored event");
    assert_eq!(scored["scorecard_id"], "retail_banking_v1");
    let failed: Vec<&str> = scored["failed_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for item in ["no_sales_promise", "identity_verification"] {
        assert!(failed.contains(&item), "{item} should fail: {scored}");
    }
    for item in ["greeting", "closing"] {
        assert!(!failed.contains(&item), "{item} should pass: {scored}");
    }
    let (ok, stdout, stderr) =
        callwatch(dir.path(), &["calls", "--failed-item", "no_sales_promise"]);
    assert!(ok, "{stderr}");
    let page: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(page["items"][0]["id"], call_id.as_str(), "{page}");
    assert_eq!(page["items"][0]["qa"]["score"], scored["score"]);

    // After a scorecard change, `rescore` replaces the stored score.
    let card = dir.path().join("closing_only.toml");
    std::fs::write(
        &card,
        "id = \"closing_only\"\n[[item]]\nid = \"closing\"\nweight = 1\nkind = \"said\"\nphrases = [\"anything else\"]\nwithin_last_s = 30\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = callwatch(
        dir.path(),
        &["rescore", "--scorecard", card.to_str().unwrap()],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.starts_with(&format!("{call_id}\t100.0\tpass")),
        "{stdout}"
    );
    let (ok, stdout, _) = callwatch(dir.path(), &["calls", "--failed-item", "no_sales_promise"]);
    assert!(ok);
    let page: Value = serde_json::from_str(&stdout).unwrap();
    assert!(page["items"].as_array().unwrap().is_empty(), "{page}");
    let (ok, stdout, _) = callwatch(dir.path(), &["call", &call_id]);
    assert!(ok);
    let detail: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(detail["qa"]["scorecard_id"], "closing_only", "{detail}");
    assert_eq!(detail["qa_report"]["items"][0]["outcome"], "pass");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "id = \"x\"\n[[item]]\nid = \"a\"\nweight = 1\nkind = \"smile\"\n",
    )
    .unwrap();
    let (ok, _, stderr) = callwatch(
        dir.path(),
        &["rescore", "--scorecard", bad.to_str().unwrap()],
    );
    assert!(
        !ok && stderr.contains("bad.toml:2") && stderr.contains("smile"),
        "{stderr}"
    );

    // Bad queries are errors with a message, not crashes.
    let (ok, _, stderr) = callwatch(dir.path(), &["calls", "--from", "last tuesday"]);
    assert!(!ok && stderr.contains("from"), "{stderr}");
    let (ok, _, stderr) = callwatch(dir.path(), &["call", "no-such-call"]);
    assert!(!ok && stderr.contains("no-such-call"), "{stderr}");
    let empty = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = callwatch(empty.path(), &["search", "x"]);
    assert!(!ok && stderr.contains("no archive"), "{stderr}");
}

/// Regression: a node configured for remote recognition (`[asr] remote`) still transcribes a
/// recording on its own model; it used to refuse for want of a NATS connection.
#[test]
fn a_recording_is_transcribed_here_on_a_node_whose_live_calls_go_to_workers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("remote.toml");
    // Nothing listens on port 9: the recording must not need NATS.
    std::fs::write(
        &cfg,
        "[bus]\nnats = \"nats://127.0.0.1:9\"\n[asr]\nremote = true\nlanguages = [\"en\"]\n",
    )
    .unwrap();
    let tiny = model("ggml-tiny.en.bin");
    let wav = root().join("fixtures/calls/call_en.wav");
    let (ok, stdout, stderr) = callwatch(
        dir.path(),
        &[
            "transcribe",
            "--json",
            "--config",
            cfg.to_str().unwrap(),
            "--model",
            tiny.to_str().unwrap(),
            wav.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("\"transcript.final\"") && stdout.contains("complaint"),
        "{stdout}"
    );
}
