//! QA review and supervision end to end: a call streamed over the Twilio fork shows on the
//! live board while it runs; its alert is acknowledged once; a reviewer confirms and rejects
//! hits, overrides a scorecard item and marks the call reviewed; the list filters, the CSV
//! export, the term precision report and the transcript download all reflect it, within
//! queue scopes, and every action is in the audit trail.

mod common;

use common::{archived_call_within, audit_outcomes, callwatch, make_token, root, Server};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn send(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, String, String) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut r = reqwest::Client::new()
                .request(method.parse().unwrap(), url)
                .bearer_auth(token);
            if let Some(b) = body {
                r = r.json(&b);
            }
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            let ctype = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            (status, ctype, r.text().await.unwrap())
        })
}

fn json_of(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let (s, _, text) = send(method, url, token, body);
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn review_supervise_export_and_audit() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let (base, dir) = (server.http(), server.data_dir.path());
    let supervisor = make_token(dir, &[], "sup-1", "supervisor");
    let reviewer = make_token(dir, &[], "qa-1", "reviewer");
    let agent = make_token(dir, &[], "ag-1", "agent");
    let (ok, other, err) = callwatch(
        dir,
        &[
            "token", "create", "--name", "qa-w", "--role", "reviewer", "--queues", "wealth",
        ],
    );
    assert!(ok, "{err}");
    let other = other.trim().to_string();

    // The call streams in real time; the board shows it while it runs.
    let call = "CA-review";
    let mut client = Command::new("python3")
        .env("CALLWATCH_TOKEN", &server.token)
        .arg(root().join("tests/clients/fork_client.py"))
        .args([
            "--base",
            &server.ws(),
            "--format",
            "twilio",
            "--call-id",
            call,
        ])
        .arg("--wav")
        .arg(root().join("fixtures/calls/call_en_8k.wav"))
        .args(["--speed", "1.0", "--param", "queue=card"])
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 fork client");
    let t0 = Instant::now();
    let on_board = loop {
        let (s, board) = json_of("GET", &format!("{base}/v1/live/calls"), &supervisor, None);
        assert_eq!(s, 200, "{board}");
        let row = board["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["call_id"] == call && c["last_line"].is_object())
            .cloned();
        if let Some(row) = row {
            break row;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "{board}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(on_board["queue"], "card", "{on_board}");
    assert_eq!(on_board["source"], "twilio", "{on_board}");
    assert!(
        !on_board["legs"].as_array().unwrap().is_empty(),
        "{on_board}"
    );
    assert_eq!(
        send("GET", &format!("{base}/v1/live/calls"), &reviewer, None).0,
        403,
        "a reviewer has no live board"
    );
    assert!(client.wait().unwrap().success());
    let detail = archived_call_within(&base, call, Duration::from_secs(30));
    let t0 = Instant::now();
    while json_of("GET", &format!("{base}/v1/live/calls"), &supervisor, None).1["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["call_id"] == call)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the ended call stays on the board"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Alerts: listed, acknowledged once, the second answered with the first.
    let (_, alerts) = json_of(
        "GET",
        &format!("{base}/v1/alerts?state=all"),
        &supervisor,
        None,
    );
    let alert = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["call_id"] == call)
        .unwrap_or_else(|| panic!("no alert for the call: {alerts}"))
        .clone();
    let alert_id = alert["alert_id"].as_str().unwrap();
    let ack_url = format!("{base}/v1/alerts/{alert_id}/ack");
    let (s, first) = json_of(
        "POST",
        &ack_url,
        &supervisor,
        Some(json!({"note": "called back"})),
    );
    assert_eq!(
        (s, &first["already"], &first["acked_by"]),
        (200, &json!(false), &json!("sup-1")),
        "{first}"
    );
    let (s, again) = json_of("POST", &ack_url, &server.token, Some(json!({})));
    assert_eq!(
        (s, &again["already"], &again["acked_by"]),
        (200, &json!(true), &json!("sup-1")),
        "{again}"
    );
    let (_, open) = json_of(
        "GET",
        &format!("{base}/v1/alerts?state=open"),
        &supervisor,
        None,
    );
    assert!(!open.to_string().contains(alert_id), "{open}");
    let (_, acked) = json_of(
        "GET",
        &format!("{base}/v1/alerts?state=acked"),
        &supervisor,
        None,
    );
    assert!(acked.to_string().contains(alert_id), "{acked}");
    assert_eq!(
        send(
            "POST",
            &format!("{base}/v1/alerts/nope/ack"),
            &supervisor,
            None
        )
        .0,
        404
    );

    // Review: one hit rejected, another confirmed, a failed item overridden, call reviewed.
    let hits = detail["hits"].as_array().unwrap();
    assert!(hits.len() >= 2, "{detail}");
    let (rejected, confirmed) = (&hits[0], &hits[1]);
    let hit_url = |h: &Value| {
        format!(
            "{base}/v1/calls/{call}/hits/{}/review",
            h["id"].as_str().unwrap()
        )
    };
    let (s, r) = json_of(
        "POST",
        &hit_url(rejected),
        &reviewer,
        Some(json!({"verdict": "rejected", "comment": "said as a question"})),
    );
    assert_eq!(
        (s, &r["verdict"], &r["reviewer"]),
        (200, &json!("rejected"), &json!("qa-1")),
        "{r}"
    );
    let (s, _) = json_of(
        "POST",
        &hit_url(confirmed),
        &reviewer,
        Some(json!({"verdict": "confirmed"})),
    );
    assert_eq!(s, 200);
    let (s, bad) = json_of(
        "POST",
        &hit_url(confirmed),
        &reviewer,
        Some(json!({"verdict": "maybe"})),
    );
    assert_eq!(s, 400, "{bad}");
    assert_eq!(
        send(
            "POST",
            &format!("{base}/v1/calls/{call}/hits/nope/review"),
            &reviewer,
            Some(json!({"verdict": "rejected"}))
        )
        .0,
        404
    );
    let items = detail["qa_report"]["items"].as_array().unwrap();
    let failed = items
        .iter()
        .find(|i| i["outcome"] == "fail")
        .unwrap_or_else(|| panic!("no failed item: {detail}"));
    let item_url = format!(
        "{base}/v1/calls/{call}/qa/{}/override",
        failed["id"].as_str().unwrap()
    );
    let (s, missing) = json_of(
        "POST",
        &item_url,
        &reviewer,
        Some(json!({"outcome": "pass"})),
    );
    assert_eq!(s, 400, "an override needs a comment: {missing}");
    let (s, o) = json_of(
        "POST",
        &item_url,
        &reviewer,
        Some(json!({"outcome": "pass", "comment": "greeting was said before the fork started"})),
    );
    assert_eq!(s, 200, "{o}");
    let before = detail["qa"]["score"].as_f64().unwrap();
    assert!(o["score"].as_f64().unwrap() > before, "{o} vs {before}");
    let (s, _) = json_of(
        "POST",
        &format!("{base}/v1/calls/{call}/reviewed"),
        &reviewer,
        Some(json!({"comment": "done"})),
    );
    assert_eq!(s, 200);

    // The detail shows it all.
    let (_, now) = json_of("GET", &format!("{base}/v1/calls/{call}"), &reviewer, None);
    let review = &now["review"];
    assert_eq!(
        review["hits"][rejected["id"].as_str().unwrap()]["verdict"],
        "rejected",
        "{review}"
    );
    assert_eq!(
        review["hits"][confirmed["id"].as_str().unwrap()]["verdict"],
        "confirmed",
        "{review}"
    );
    assert_eq!(
        review["overrides"][failed["id"].as_str().unwrap()]["outcome"],
        "pass",
        "{review}"
    );
    assert_eq!(review["call"]["reviewer"], "qa-1", "{review}");
    assert_eq!(review["score"], o["score"], "{review}");

    // The list filters by it.
    let list =
        |q: &str, token: &str| json_of("GET", &format!("{base}/v1/calls?{q}"), token, None).1;
    let found = |q: &str| ids(&list(q, &reviewer)).contains(&call.to_string());
    for q in [
        "reviewed=true",
        "verdict=rejected",
        "verdict=confirmed",
        "queue=card",
        "source=twilio",
        "end_reason=hangup",
        "q=complaint&speaker=customer",
        "sort=score_asc",
    ] {
        assert!(found(q), "{q}: {}", list(q, &reviewer));
    }
    let term = rejected["term"].as_str().unwrap();
    assert!(
        found(&format!("term={}", term.replace(' ', "%20"))),
        "term {term}"
    );
    for q in [
        "reviewed=false",
        "queue=wealth",
        "q=complaint&speaker=agent",
        "source=siprec",
    ] {
        assert!(!found(q), "{q}: {}", list(q, &reviewer));
    }
    assert_eq!(list("queue=card", &reviewer)["total"], 1);
    assert_eq!(
        list("", &other)["total"],
        0,
        "another queue's reviewer sees no call"
    );
    let (s, e) = json_of(
        "GET",
        &format!("{base}/v1/calls?sort=sideways"),
        &reviewer,
        None,
    );
    assert_eq!(s, 400, "{e}");

    // CSV export of the filtered list.
    let (s, ctype, csv) = send(
        "GET",
        &format!("{base}/v1/calls?format=csv&queue=card"),
        &reviewer,
        None,
    );
    assert_eq!(s, 200, "{csv}");
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let lines: Vec<&str> = csv.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("call_id,started_at"), "{csv}");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with("CA-review,") && lines[1].ends_with(",qa-1"),
        "{csv}"
    );

    // Term precision from the verdicts.
    let (_, report) = json_of("GET", &format!("{base}/v1/reports/terms"), &reviewer, None);
    let row = |t: &Value| {
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["term"] == t["term"] && r["category"] == t["category"])
            .cloned()
            .unwrap_or_else(|| panic!("{report}"))
    };
    if rejected["term"] != confirmed["term"] {
        assert_eq!(row(rejected)["precision"], 0.0, "{report}");
        assert_eq!(row(confirmed)["precision"], 1.0, "{report}");
    }
    assert!(row(rejected)["rejected"].as_u64().unwrap() >= 1);

    // The redacted transcript as downloads.
    let (s, ctype, txt) = send(
        "GET",
        &format!("{base}/v1/calls/{call}/transcript?format=txt"),
        &reviewer,
        None,
    );
    assert_eq!(s, 200);
    assert!(
        ctype.starts_with("text/plain") && txt.contains("customer:") && txt.contains("complaint"),
        "{txt}"
    );
    let (s, j) = json_of(
        "GET",
        &format!("{base}/v1/calls/{call}/transcript?format=json"),
        &reviewer,
        None,
    );
    assert_eq!(s, 200);
    assert!(j["utterances"].as_array().unwrap().len() >= 3, "{j}");

    // Scopes and roles.
    for (m, path) in [
        ("POST", format!("/v1/calls/{call}/reviewed")),
        ("GET", format!("/v1/calls/{call}/transcript")),
        (
            "POST",
            format!(
                "/v1/calls/{call}/qa/{}/override",
                failed["id"].as_str().unwrap()
            ),
        ),
    ] {
        let body = Some(json!({"outcome": "fail", "comment": "x"}));
        assert_eq!(
            send(m, &format!("{base}{path}"), &other, body).0,
            404,
            "{m} {path}"
        );
    }
    assert_eq!(
        send(
            "POST",
            &hit_url(rejected),
            &agent,
            Some(json!({"verdict": "confirmed"}))
        )
        .0,
        403
    );

    // Every action is in the audit trail.
    for (action, outcome) in [
        ("hit.review", "ok"),
        ("hit.review", "not_found"),
        ("qa.override", "ok"),
        ("call.reviewed", "ok"),
        ("calls.export", "ok"),
        ("transcript.export", "ok"),
        ("transcript.export", "not_found"),
        ("alert.ack", "already_acked"),
    ] {
        let got = audit_outcomes(&base, action);
        assert!(got.iter().any(|o| o == outcome), "{action}: {got:?}");
    }
}
