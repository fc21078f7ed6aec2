//! End to end for composite rules and reload: `callwatch serve` with the English model, a
//! two-leg fixture call streamed over the audio fork by the Python client, `rule.fired` events
//! and the archive's rule firings and tags; then lexicons edited on disk and reloaded.

mod common;

use common::{archived_call, get_json, root, run_fork_client, Server};
use serde_json::Value;
use std::path::Path;

const RULES: &str = r#"
[[rule]]
id = "never_says_pineapple"
category = "service_script"
severity = "low"
actions = ["tag_call"]
tags = ["missing_pineapple"]
absent = { speaker = "agent", phrases = ["pineapple"], first_s = 5 }

[[rule]]
id = "complaint_and_promise"
category = "complaint"
severity = "critical"
actions = ["alert_supervisor", "tag_call"]
all = [
  { said = { speaker = "customer", categories = ["complaint"] } },
  { said = { speaker = "agent", categories = ["sales_promise"] } },
]
"#;

/// A lexicon directory of the shipped lexicons plus the test rules.
fn lexicon_dir(dir: &Path) {
    for entry in std::fs::read_dir(root().join("lexicons")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/test.toml"), RULES).unwrap();
}

fn archived(server: &Server, call_id: &str) -> Value {
    archived_call(&server.http(), call_id)
}

/// A tiny.en server over a fresh copy of the test lexicons and rules; `asr_extra` is added
/// to its `[asr]` section. The lexicon dir is returned so a test can edit it and reload; the
/// server comes last so it is dropped (stopped) before its directories.
fn server_with_rules(asr_extra: &str) -> (tempfile::TempDir, tempfile::TempDir, Server) {
    let lex = tempfile::tempdir().unwrap();
    lexicon_dir(lex.path());
    let conf_dir = tempfile::tempdir().unwrap();
    let config = conf_dir.path().join("callwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[lexicons]\ndir = {:?}\n[asr]\nlanguages = [\"en\"]\n{asr_extra}",
            lex.path().display().to_string()
        ),
    )
    .unwrap();
    let server = Server::start("ggml-tiny.en.bin", &["--config", config.to_str().unwrap()]);
    (lex, conf_dir, server)
}

#[test]
fn rules_fire_live_and_in_the_archive_and_reload_takes_effect() {
    let (lex, _conf, server) = server_with_rules("");

    let call_id = "fs-e2e-rules";
    let events = run_fork_client(
        &server,
        "audio",
        &root().join("fixtures/calls/call_en.wav"),
        call_id,
        2.0,
        &[],
    );
    let dump = || {
        events
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let fired: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "rule.fired")
        .collect();
    let ids: Vec<&str> = fired
        .iter()
        .map(|e| e["rule_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.iter().filter(|i| **i == "never_says_pineapple").count(),
        1,
        "{}",
        dump()
    );
    assert_eq!(
        ids.iter()
            .filter(|i| **i == "complaint_and_promise")
            .count(),
        1,
        "{}",
        dump()
    );
    let pineapple = fired
        .iter()
        .find(|e| e["rule_id"] == "never_says_pineapple")
        .unwrap();
    // Fired when the agent leg was settled past 5 s, long before the call ended at 24.5 s.
    let at = pineapple["at_ms"].as_u64().unwrap();
    assert!((5_000..20_000).contains(&at), "{pineapple}");
    let composite = fired
        .iter()
        .find(|e| e["rule_id"] == "complaint_and_promise")
        .unwrap();
    let evidence = composite["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 2, "{composite}");
    for e in evidence {
        assert!(
            e["matched"].is_string() && e["utterance_id"].is_string(),
            "{e}"
        );
        assert!(e["span_start"].as_u64() < e["span_end"].as_u64(), "{e}");
    }
    let speakers: Vec<&str> = evidence
        .iter()
        .map(|e| e["speaker"].as_str().unwrap())
        .collect();
    assert!(
        speakers.contains(&"agent") && speakers.contains(&"customer"),
        "{composite}"
    );

    let detail = archived(&server, call_id);
    let firings: Vec<&str> = detail["rule_firings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    assert!(
        firings.contains(&"never_says_pineapple") && firings.contains(&"complaint_and_promise"),
        "{detail}"
    );
    let tags = detail["tags"].as_array().unwrap();
    assert!(tags.contains(&Value::from("missing_pineapple")), "{detail}");
    assert!(
        tags.contains(&Value::from("complaint_and_promise")),
        "{detail}"
    );
    let (status, list) = get_json(&format!("{}/v1/calls?tag=missing_pineapple", server.http()));
    assert_eq!(status, 200);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == call_id),
        "{list}"
    );

    // A new lexicon term, reloaded without a restart, hits on the next call.
    let greeting = root().join("fixtures/en/agent_greeting.wav");
    std::fs::write(
        lex.path().join("zz_courtesy.toml"),
        "[defaults]\ncategory = \"courtesy\"\nseverity = \"low\"\n\n[[group]]\nterms = [\"thank you for calling\"]\n",
    )
    .unwrap();
    let (status, body) = common::post_json(&format!("{}/v1/admin/reload", server.http()));
    assert_eq!(status, 200, "{body}");
    assert!(body["rules"].as_u64() == Some(2), "{body}");
    let courtesy = |call_id: &str| {
        run_fork_client(&server, "audio", &greeting, call_id, 2.0, &[])
            .into_iter()
            .filter(|e| e["type"] == "phrase.hit" && e["category"] == "courtesy")
            .count()
    };
    assert_eq!(courtesy("fs-e2e-reload-1"), 1);

    // A broken edit is refused with its file and line; the set in force keeps working.
    std::fs::write(
        lex.path().join("zz_courtesy.toml"),
        "[defaults]\ncategory = \"courtesy\"\nseverity = \"hgh\"\n\n[[group]]\nterms = [\"thank you for calling\"]\n",
    )
    .unwrap();
    let (status, body) = common::post_json(&format!("{}/v1/admin/reload", server.http()));
    assert_eq!(status, 400, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("zz_courtesy.toml:3:") && detail.contains("hgh"),
        "{body}"
    );
    assert_eq!(courtesy("fs-e2e-reload-2"), 1);
    // Both reloads are in the audit trail, with who and how they went.
    let outcomes = common::audit_outcomes(&server.http(), "reload");
    assert_eq!(outcomes, ["failed", "ok"]);
}

/// Sends SIGHUP to the server and waits until its log reports the `nth` reload outcome
/// containing `outcome`.
fn hangup_and_wait(server: &Server, outcome: &str, nth: usize) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let t0 = std::time::Instant::now();
    while server.log_text().matches(outcome).count() < nth {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "no {outcome:?} in the log after SIGHUP:\n{}",
            server.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn sighup_reloads_and_a_broken_edit_keeps_the_set_in_force() {
    let (lex, _conf, server) = server_with_rules("partials = false\n");
    // An answered request means the server is past installing its SIGHUP handler (a signal
    // before that would end the process).
    let (status, _) = get_json(&format!("{}/v1/openapi.json", server.http()));
    assert_eq!(status, 200);
    let greeting = root().join("fixtures/en/agent_greeting.wav");
    let courtesy = |call_id: &str| {
        run_fork_client(&server, "audio", &greeting, call_id, 2.0, &[])
            .into_iter()
            .filter(|e| e["type"] == "phrase.hit" && e["category"] == "courtesy")
            .count()
    };
    let term = |severity: &str| {
        format!("[defaults]\ncategory = \"courtesy\"\nseverity = \"{severity}\"\n\n[[group]]\nterms = [\"thank you for calling\"]\n")
    };

    std::fs::write(lex.path().join("zz_courtesy.toml"), term("low")).unwrap();
    hangup_and_wait(&server, "lexicons and rules reloaded", 1);
    assert_eq!(courtesy("fs-e2e-hup-1"), 1, "{}", server.log_text());

    // The broken edit is logged with its file and line, and the term keeps hitting.
    std::fs::write(lex.path().join("zz_courtesy.toml"), term("hgh")).unwrap();
    hangup_and_wait(&server, "reload failed", 1);
    let log = server.log_text();
    assert!(log.contains("zz_courtesy.toml:3:"), "{log}");
    assert_eq!(courtesy("fs-e2e-hup-2"), 1, "{}", server.log_text());
    // Both signals are in the audit trail as SIGHUP's.
    let (_, audit) = get_json(&format!("{}/v1/audit?action=reload", server.http()));
    let rows: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["who"].as_str().unwrap().into(),
                r["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("SIGHUP".into(), "failed".into()),
            ("SIGHUP".into(), "ok".into())
        ],
        "{audit}"
    );
}
