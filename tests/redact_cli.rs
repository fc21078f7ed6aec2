//! Personal data read out on a call never reaches the events or the archive: a caller reads a
//! card number digit by digit, the recording is transcribed into the archive by the real
//! binary with the real model, and the events, the stored utterance and search all show the
//! `[CARD]` label instead of the digits.

mod common;

use common::{callwatch, model, root};
use serde_json::Value;

/// The Luhn-valid card the fixture reads out (as "four five three two, zero one five one, ...").
const CARD: &str = "4532015112830366";

/// Every transcript text in a JSON document: `text`, `utterance` and `matched` fields.
fn texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("text" | "utterance" | "matched", Value::String(s)) => out.push(s.clone()),
                    _ => texts(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
        _ => {}
    }
}

/// True when any transcript text in `json` shows four or more digits of the card, in digits or
/// as spoken words.
fn shows_card(json: &Value) -> bool {
    let mut all = Vec::new();
    texts(json, &mut all);
    all.iter().any(|t| {
        let digits: String = t.chars().filter(char::is_ascii_digit).collect();
        let words = t.to_lowercase().contains("five three two");
        words || (0..=CARD.len() - 4).any(|i| digits.contains(&CARD[i..i + 4]))
    })
}

#[test]
fn a_card_number_read_out_is_redacted_in_events_and_archive() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = model("ggml-tiny.en.bin");
    let wav = root().join("fixtures/en/customer_card_number.wav");
    let (ok, stdout, stderr) = callwatch(
        dir.path(),
        &[
            "transcribe",
            "--json",
            "--archive",
            "--speaker",
            "customer",
            "--model",
            tiny.to_str().unwrap(),
            wav.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    assert!(
        !stderr.contains("4532"),
        "card digits in the log:\n{stderr}"
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        !events.iter().any(shows_card),
        "card digits in the events:\n{stdout}"
    );
    let finals: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "transcript.final")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(
        finals.iter().any(|t| t.contains("[CARD]")),
        "no [CARD] label in {finals:?}"
    );
    let call_id = events.last().unwrap()["call_id"]
        .as_str()
        .unwrap()
        .to_string();

    let (ok, stdout, stderr) = callwatch(dir.path(), &["call", &call_id]);
    assert!(ok, "{stderr}");
    let detail: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        !shows_card(&detail),
        "card digits in the archive:\n{stdout}"
    );
    assert!(stdout.contains("[CARD]"), "{stdout}");

    // Search finds the label, and the full-text index holds no digits of the card.
    let (ok, stdout, stderr) = callwatch(dir.path(), &["search", "card number"]);
    assert!(ok, "{stderr}");
    let found: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(found["items"][0]["call_id"], call_id.as_str(), "{found}");
    assert!(!shows_card(&found), "{stdout}");
    let (ok, stdout, stderr) = callwatch(dir.path(), &["search", "4532"]);
    assert!(ok, "{stderr}");
    let found: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(found["items"].as_array().map(Vec::len), Some(0), "{found}");
}
