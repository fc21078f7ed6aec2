//! SIPREC end to end with a real recording client: sipp sends the recording INVITE
//! (multipart SDP + metadata), RTP from a pcap of a two-leg call, re-INVITEs and BYE, against
//! the real `callwatch serve --sip`; events and the archive are checked.

mod common;

use common::sidecar::check_call_hits;
use common::{archived_call_within, free_udp_port, of_type, root, Server};
use futures_util::StreamExt;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// Starts the server with SIP on a free port and RTP ports from a range of their own.
fn start(model: &str, rtp_first: u16) -> (Server, u16, tempfile::TempDir) {
    let sip = free_udp_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("callwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sip]\nqueue_from = \"header:X-Queue\"\nagent = \"aor:^sip:8\\\\d{{3}}@\"\n[rtp]\nport_min = {rtp_first}\nport_max = {}\n",
            rtp_first + 199
        ),
    )
    .unwrap();
    let server = Server::start(
        model,
        &[
            "--sip",
            &format!("127.0.0.1:{sip}"),
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    (server, sip, dir)
}

/// Runs one sipp scenario (from `cwd`) to completion and asserts it passed.
fn sipp(server: &Server, sip_port: u16, scenario: &str, call_id: &str, extra: &[&str]) {
    let media_port = free_udp_port();
    let out = Command::new("sipp")
        .current_dir(root().join("fixtures/siprec"))
        .arg(format!("127.0.0.1:{sip_port}"))
        .arg("-sf")
        .arg(root().join("tests/sipp").join(scenario))
        .args(["-m", "1", "-l", "1", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args([
            "-mp",
            &media_port.to_string(),
            "-p",
            &free_udp_port().to_string(),
        ])
        .args([
            "-cid_str",
            call_id,
            "-nostdin",
            "-timeout",
            "120s",
            "-timeout_error",
        ])
        .args(extra)
        .output()
        .expect("sipp (apt-get install sip-tester)");
    assert!(
        out.status.success(),
        "sipp {scenario} failed ({}):\n{}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
}

/// Collects live events in the background until `call.ended` for `call_id` (or the deadline).
fn subscribe(server: &Server, call_id: &str) -> mpsc::Receiver<Vec<serde_json::Value>> {
    let url = format!("{}/v1/events?call_id={call_id}", server.ws());
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (mut ws, _) = tokio_tungstenite::connect_async(common::ws_request(&url))
                .await
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut events = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(400);
            while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
                // Pings (the server's liveness checks) are answered by the library; only text
                // messages are events.
                if let tokio_tungstenite::tungstenite::Message::Text(text) = msg {
                    let ev: serde_json::Value = serde_json::from_str(&text).unwrap();
                    let end = ev["type"] == "call.ended";
                    events.push(ev);
                    if end {
                        break;
                    }
                }
            }
            let _ = tx.send(events);
        });
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    rx
}

#[test]
fn siprec_recorded_call_from_sipp() {
    let (server, sip, _dir) = start("ggml-base.bin", 31000);
    let call_id = "siprec-e2e-zh";
    let events = subscribe(&server, call_id);
    sipp(&server, sip, "siprec_call.xml", call_id, &[]);
    let events = events.recv_timeout(Duration::from_secs(420)).unwrap();
    let started = of_type(&events, "call.started");
    assert_eq!(started.len(), 1, "{events:?}");
    assert_eq!(started[0]["source"], "siprec");
    assert_eq!(started[0]["queue"], "retail-loans");
    assert_eq!(started[0]["agent_id"], "sip:8001@cc.example");
    assert_eq!(
        started[0]["participants"],
        // The customer's number is redacted; the agent's extension is no customer data.
        serde_json::json!(["sip:[PHONE]@pstn.example", "sip:8001@cc.example"])
    );
    // Each hit comes from the stream its speaker sends.
    let hits = of_type(&events, "phrase.hit");
    for h in &hits {
        let leg = if h["speaker"] == "customer" {
            "label-1"
        } else {
            "label-2"
        };
        assert_eq!(h["leg"], leg, "{h}");
    }
    assert_eq!(of_type(&events, "call.ended").len(), 1);
    let detail = archived_call_within(&server.http(), call_id, Duration::from_secs(30));
    assert_eq!(detail["source"], "siprec");
    // The caller's number (in the participants, the From URI and the recording metadata)
    // is nowhere in the archive or the live events.
    assert!(!detail.to_string().contains("13800138000"), "{detail}");
    assert!(!events.iter().any(|e| e.to_string().contains("13800138000")));
    let legs: Vec<(String, String, String)> = detail["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["leg"].as_str().unwrap().to_string(),
                l["speaker"].as_str().unwrap().to_string(),
                l["participant"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(legs.contains(&(
        "label-1".into(),
        "customer".into(),
        "sip:[PHONE]@pstn.example".into()
    )));
    assert!(legs.contains(&(
        "label-2".into(),
        "agent".into(),
        "sip:8001@cc.example".into()
    )));
    // The terms Whisper base reliably hears in this call (see tests/e2e_fork.rs), and no hit
    // the call's sidecar does not list.
    check_call_hits(
        "call_zh_8k",
        &events,
        &detail,
        &[("customer", "我要投诉"), ("agent", "保本保息")],
    );
    // The SIP and RTP counters of /metrics saw the call.
    let (status, text) = common::get_json(&format!("{}/metrics", server.http()));
    assert_eq!(status, 200);
    let text = text.as_str().unwrap();
    let value = |sample: &str| common::metric_value(text, sample);
    assert!(
        value("callwatch_sip_requests_total{method=\"INVITE\"}") >= 1.0,
        "{text}"
    );
    assert!(value("callwatch_sip_requests_total{method=\"BYE\"}") >= 1.0);
    assert!(value("callwatch_sip_responses_total{class=\"2xx\"}") >= 2.0);
    assert!(value("callwatch_rtp_packets_total") > 100.0, "{text}");
}

#[test]
fn siprec_signalling_with_sipp() {
    let (server, sip, _dir) = start("ggml-tiny.en.bin", 31400);
    sipp(&server, sip, "options.xml", "siprec-options-1", &[]);
    sipp(
        &server,
        sip,
        "options.xml",
        "siprec-options-tcp",
        &["-t", "t1"],
    );
    sipp(&server, sip, "not_siprec.xml", "siprec-plain-1", &[]);
    // Garbage datagrams: dropped, the server keeps answering.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for junk in [
        &b"\x00\x01\x02garbage"[..],
        b"INVITE sip:x SIP/2.0\r\n\r\n",
        b"SIP/2.0 999 nonsense\r\n\r\n",
        &[0xff; 1400][..],
        b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\nCSeq: banana\r\n\r\n",
    ] {
        sock.send_to(junk, ("127.0.0.1", sip)).unwrap();
    }
    let call_id = "siprec-hold-1";
    sipp(&server, sip, "siprec_hold.xml", call_id, &[]);
    sipp(&server, sip, "options.xml", "siprec-options-2", &[]);
    // A CANCEL after our 200: answered 200, the session stands until the SRC's BYE, and a
    // CANCEL for a finished transaction gets 481 (the scenario checks the codes).
    let cancelled = "siprec-cancel-1";
    sipp(&server, sip, "siprec_cancel.xml", cancelled, &[]);
    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
    // The held call and the call whose CANCEL came after the 200 were recorded and ended by BYE.
    for call_id in [call_id, cancelled] {
        let d = archived_call_within(&server.http(), call_id, Duration::from_secs(30));
        assert_eq!(d["source"], "siprec");
        assert_eq!(d["legs"].as_array().unwrap().len(), 2, "{d}");
        assert_eq!(d["end_reason"], "bye", "{d}");
    }
}
