//! The browser workspace in headless Chromium (playwright-core), against a server with real
//! calls: a QA reviewer logs in through the form, narrows the list to a call, opens it, clicks
//! the third utterance (the mix audio seeks to it), rejects a hit and overrides a scorecard
//! item (both still shown after a reload, and audited), and finds no live board; then does it
//! with the keyboard alone, a reviewer of another queue finds the call nowhere, and the page
//! is walked again in Firefox (firefox-esr through puppeteer-core's WebDriver BiDi).
//!
//! `CALLWATCH_SCREENSHOTS=1 cargo test --test e2e_workspace` refreshes the README's
//! screenshots in tests/screenshots/ (a CJK font such as fonts-wqy-microhei renders the
//! Chinese); otherwise they go to a temporary folder.

mod common;

use common::{archived_call_within, audit_outcomes, root, run_fork_client, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "a long enough passphrase";

/// Adds a user with the CLI, as an operator would.
fn add_user(dir: &Path, name: &str, role: &str, queues: Option<&str>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_callwatch"));
    cmd.current_dir(root())
        .args(["user", "add", name, "--role", role])
        .arg("--data-dir")
        .arg(dir)
        .env("CALLWATCH_PASSWORD", PASSWORD);
    if let Some(q) = queues {
        cmd.args(["--queues", q]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Where screenshots go: the repository's tests/screenshots when asked, else `tmp`.
fn screenshot_dir(tmp: &Path) -> PathBuf {
    if std::env::var_os("CALLWATCH_SCREENSHOTS").is_some() {
        root().join("tests/screenshots")
    } else {
        tmp.to_path_buf()
    }
}

/// Runs a workspace script; its one JSON line.
fn run_script(script: &str, args: &[&str], env: &[(&str, String)], server: &Server) -> Value {
    let mut cmd = Command::new("node");
    cmd.arg(root().join("tests/clients").join(script))
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("node (npm ci in tests/clients installs playwright-core)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn reviewer_filters_opens_seeks_and_reviews_in_the_browser() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let (base, dir) = (server.http(), server.data_dir.path());
    add_user(dir, "qa-ui", "reviewer", None);
    add_user(dir, "qa-wealth", "reviewer", Some("wealth"));
    let call = "CA-ui-review";
    run_fork_client(
        &server,
        "twilio",
        &root().join("fixtures/calls/call_en_8k.wav"),
        call,
        2.0,
        &[("queue", "card"), ("agent_id", "agent-7")],
    );
    let detail = archived_call_within(&base, call, Duration::from_secs(30));
    assert!(
        detail["hits"].as_array().is_some_and(|h| !h.is_empty()),
        "{detail}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let shots = screenshot_dir(tmp.path());
    let seen = run_script(
        "workspace_reviewer.mjs",
        &[&base, "qa-ui", PASSWORD, call, shots.to_str().unwrap()],
        &[
            ("SCOPED_USER", "qa-wealth".to_string()),
            ("SCOPED_PASSWORD", PASSWORD.to_string()),
        ],
        &server,
    );
    assert_eq!(seen["me"]["role"], "reviewer", "{seen}");
    // In clear (loopback) there is no HSTS: it would pin a name to TLS it does not speak.
    let page = headers_of(&base);
    assert!(!page.contains_key("strict-transport-security"), "{page:?}");
    assert_eq!(seen["landing"], "#/calls", "{seen}");
    assert_eq!(
        seen["rowFound"], true,
        "the filtered list shows the call: {seen}"
    );
    assert!(
        seen["csvHref"].as_str().unwrap().contains("format=csv"),
        "{seen}"
    );
    assert!(seen["utterances"].as_u64().unwrap() >= 3, "{seen}");
    // The third utterance's click seeks the mix to its start.
    let seek = &seen["seek"];
    let (want, got) = (
        seek["expectedMixS"].as_f64().unwrap(),
        seek["audioSeekedS"].as_f64().unwrap(),
    );
    assert!(
        (want - got).abs() < 0.5,
        "seeked to {got} s, the utterance starts at {want} s: {seen}"
    );
    assert_eq!(seek["playingMarked"], true, "{seen}");
    // Review actions are saved and still shown after a reload.
    assert_eq!(seen["rejectHit"]["error"], false, "{seen}");
    assert_eq!(seen["overrideItem"]["error"], false, "{seen}");
    assert_eq!(seen["afterReload"]["hitRejectedShown"], true, "{seen}");
    assert_eq!(seen["afterReload"]["overrideShown"], true, "{seen}");
    // No live board for a reviewer.
    assert_eq!(seen["live"]["liveBoardVisible"], false, "{seen}");
    for k in ["consoleErrors", "pageErrors", "cspViolations"] {
        assert_eq!(seen[k], serde_json::json!([]), "{k}: {seen}");
    }
    // The archive and the audit trail hold what the page did.
    let (_, after) = common::get_json(&format!("{base}/v1/calls/{call}"));
    let hit = seen["rejectHit"]["hitId"].as_str().unwrap();
    assert_eq!(
        after["review"]["hits"][hit]["verdict"], "rejected",
        "{after}"
    );
    assert_eq!(after["review"]["hits"][hit]["reviewer"], "qa-ui", "{after}");
    let item = seen["overrideItem"]["itemId"].as_str().unwrap();
    assert_eq!(
        after["review"]["overrides"][item]["reviewer"], "qa-ui",
        "{after}"
    );
    // A reviewer of the wealth queue sees the card call on no page, in no export, no audio.
    let scoped = &seen["scoped"];
    assert_eq!(
        scoped["me"]["queues"],
        serde_json::json!(["wealth"]),
        "{seen}"
    );
    assert_eq!(scoped["rowShown"], false, "{seen}");
    assert_eq!(scoped["listRows"], 0, "{seen}");
    let csv = scoped["csv"].as_str().unwrap();
    assert!(
        csv.starts_with("call_id") && !csv.contains(call),
        "the export shows another queue's call: {csv}"
    );
    assert_eq!(scoped["detail"]["utterances"], 0, "{seen}");
    assert_eq!(scoped["audioStatus"], 404, "{seen}");
    // The same walk with the keyboard alone: login, list, call, play, mark reviewed.
    let kb = &seen["keyboard"];
    assert_eq!(kb["loggedIn"], true, "{seen}");
    for (step, outlined) in kb["outlined"].as_object().unwrap() {
        assert_eq!(outlined, true, "focus on {step} is not outlined: {seen}");
    }
    let (want, got) = (
        kb["seek"]["expectedMixS"].as_f64().unwrap(),
        kb["seek"]["audioSeekedS"].as_f64().unwrap(),
    );
    assert!((want - got).abs() < 0.5, "keyboard seek: {seen}");
    assert_eq!(kb["reviewed"]["error"], false, "{seen}");
    assert_eq!(after["review"]["call"]["reviewer"], "qa-ui", "{after}");
    for action in ["hit.review", "qa.override", "audio.replay", "call.read"] {
        assert!(
            audit_outcomes(&base, action).iter().any(|o| o == "ok"),
            "{action}"
        );
    }
    for f in ["list.png", "detail.png"] {
        assert!(
            shots.join(f).metadata().is_ok_and(|m| m.len() > 10_000),
            "{f}"
        );
    }

    // The same page in Firefox (a second engine): list, call, a click and Enter seek the audio.
    let ff = run_script(
        "workspace_firefox.mjs",
        &[&base, "qa-ui", PASSWORD, call],
        &[],
        &server,
    );
    assert!(
        ff["browser"].as_str().unwrap_or("").contains("firefox"),
        "{ff}"
    );
    assert_eq!(ff["me"]["role"], "reviewer", "{ff}");
    assert!(ff["hitMarks"].as_u64().unwrap() >= 1, "{ff}");
    for k in ["clickSeek", "keyboardSeek"] {
        let (want, got) = (
            ff[k]["expectedMixS"].as_f64().unwrap(),
            ff[k]["audioSeekedS"].as_f64().unwrap(),
        );
        assert!((want - got).abs() < 0.5, "{k}: {ff}");
    }
    assert_eq!(ff["playingMarked"], true, "{ff}");
    for k in ["consoleErrors", "pageErrors", "cspViolations"] {
        assert_eq!(ff[k], serde_json::json!([]), "{k}: {ff}");
    }
}

/// The headers of `GET url`.
fn headers_of(url: &str) -> reqwest::header::HeaderMap {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { reqwest::get(url).await.unwrap().headers().clone() })
}

/// Shell-quotes one argument.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn supervisor_watches_the_board_the_live_call_and_acknowledges_an_alert() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let (base, dir) = (server.http(), server.data_dir.path());
    add_user(dir, "sup-ui", "supervisor", None);
    let call = "CA-ui-live";
    // Started by the script once the board is open: the call streams in at real time.
    let trigger = format!(
        "CALLWATCH_TOKEN={} python3 {} --base {} --format twilio --call-id {call} --wav {} --speed 1.0 --param queue=card",
        sh(&server.token),
        sh(root().join("tests/clients/fork_client.py").to_str().unwrap()),
        sh(&server.ws()),
        sh(root().join("fixtures/calls/call_en_8k.wav").to_str().unwrap()),
    );
    let tmp = tempfile::tempdir().unwrap();
    let shots = screenshot_dir(tmp.path());
    let seen = run_script(
        "workspace_supervisor.mjs",
        &[&base, "sup-ui", PASSWORD, call, shots.to_str().unwrap()],
        &[("WORKSPACE_TRIGGER", trigger)],
        &server,
    );
    assert_eq!(seen["me"]["role"], "supervisor", "{seen}");
    assert_eq!(seen["trigger_exit"], 0, "{seen}");
    assert!(
        seen["board_row_ms"].is_u64(),
        "the call never showed on the board: {seen}"
    );
    assert!(
        seen["live_final_ms"].is_u64(),
        "no final line in the live view: {seen}"
    );
    assert!(seen["live_lines"].as_u64().unwrap() >= 1, "{seen}");
    // Every alert of the call is on the page within 3 s of its event.
    let alerts: Vec<&Value> = seen["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["call_id"] == call)
        .collect();
    assert!(!alerts.is_empty(), "the call raised no alert: {seen}");
    for a in &alerts {
        let delay = a["delay_ms"].as_i64().unwrap_or(i64::MAX);
        assert!(delay <= 3000, "alert {a} shown after {delay} ms: {seen}");
    }
    assert_eq!(seen["ack"]["shown"], true, "{seen}");
    assert_eq!(seen["ack"]["acked_by"], "sup-ui", "{seen}");
    assert_eq!(seen["page_errors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["failed_requests"], serde_json::json!([]), "{seen}");
    // The acknowledgement is kept and audited.
    let (_, acked) = common::get_json(&format!("{base}/v1/alerts?state=acked"));
    let id = seen["ack"]["alert_id"].as_str().unwrap();
    assert!(
        acked["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["alert_id"] == id && a["ack"]["acked_by"] == "sup-ui"),
        "{acked}"
    );
    assert!(audit_outcomes(&base, "alert.ack").iter().any(|o| o == "ok"));
    // The surge panel draws the server's per-minute history of call volume (the card queue
    // and the total), not only what it polled itself.
    assert_eq!(seen["surges_chart"], true, "{seen}");
    assert!(seen["surges_queues"].as_u64().unwrap() >= 2, "{seen}");
    assert!(seen["surges_points"].as_u64().unwrap() >= 1, "{seen}");
    for f in ["board.png", "live.png", "alerts.png", "surges.png"] {
        assert!(
            shots.join(f).metadata().is_ok_and(|m| m.len() > 10_000),
            "{f}"
        );
    }
}
