//! End to end with a real AudioSocket client: `callwatch serve --audiosocket`, the Python client
//! streaming both legs of a call as Asterisk does, a garbage connection and a third connection
//! for the same call refused on the side, live events over `/v1/events`, then the archive.

mod common;

use common::sidecar::check_8k_call_hits;
use common::{archived_call, dump_events, root, EventWatcher, Server};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const CALL_ID: &str = "5f0c6f0e-2b7a-4c55-9a56-0d9f3c2e8a11";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn message(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    m.extend_from_slice(payload);
    m
}

/// Sends `bytes` and asserts the server closes the connection (rather than waiting for more).
fn assert_closed_after(port: u16, bytes: &[u8], what: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(bytes).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("{what}: connection not closed: {other:?}"),
    }
}

#[test]
fn two_legs_from_the_python_client() {
    let port = free_port();
    let server = Server::start(
        "ggml-tiny.en.bin",
        &["--audiosocket", &format!("127.0.0.1:{port}")],
    );
    let base = server.http();
    let watcher = EventWatcher::start(&server, CALL_ID);

    // Audio before the UUID: refused before any call exists.
    assert_closed_after(port, &message(0x10, &[0; 320]), "audio before UUID");

    let client = Command::new("python3")
        .arg(root().join("tests/clients/audiosocket_client.py"))
        .args([
            "--port",
            &port.to_string(),
            "--uuid",
            CALL_ID,
            "--speed",
            "2",
        ])
        .arg("--wav")
        .arg(root().join("fixtures/calls/call_en_8k.wav"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");

    std::thread::sleep(Duration::from_secs(3));
    // While both legs stream: a third connection for the call, and garbage on a fourth.
    let uuid = uuid::Uuid::parse_str(CALL_ID).unwrap();
    assert_closed_after(port, &message(0x01, uuid.as_bytes()), "third leg");
    let garbage = [message(0x01, &[7; 16]), message(0x10, &[0; 3])].concat();
    assert_closed_after(port, &garbage, "odd audio length");

    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );

    let events = watcher.until_call_ended(Duration::from_secs(120));
    let dump = || dump_events(&events);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "call.started" && e["source"] == "audiosocket"),
        "{}",
        dump()
    );
    assert!(
        events.iter().any(|e| e["type"] == "call.ended"),
        "{}",
        dump()
    );
    // Each leg is named for its speaker.
    assert!(
        events
            .iter()
            .filter(|e| e["type"] == "phrase.hit")
            .all(|e| e["leg"] == e["speaker"]),
        "{}",
        dump()
    );

    let detail = archived_call(&base, CALL_ID);
    let legs = detail["legs"].as_array().expect("archived call");
    assert_eq!(legs.len(), 2, "{detail}");
    check_8k_call_hits(&events, &detail, &server.log_text());
    let log = server.log_text();
    assert!(log.contains("at most two legs"), "{log}");
    assert!(log.contains("must be even"), "{log}");
    // DTMF digits never reach info-level lines.
    assert!(
        !log.lines()
            .any(|l| l.contains(" INFO ") && l.contains("digit")),
        "{log}"
    );
}

/// Newer Asterisk sends the channel's own rate (0x12: 16 kHz); a peer that stops sending
/// without hanging up is closed after `idle_timeout_s` and its leg is archived.
#[test]
fn wideband_leg_and_idle_timeout() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("callwatch.toml");
    std::fs::write(&cfg, "[audiosocket]\nidle_timeout_s = 3\n").unwrap();
    let server = Server::start(
        "ggml-tiny.en.bin",
        &[
            "--audiosocket",
            &format!("127.0.0.1:{port}"),
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    let call_id = "0b4d8e3a-6c1f-4f2e-9d7a-3e5b1c9f2a40";
    // The customer (left) channel of the 16 kHz English call, in 20 ms frames of type 0x12.
    let mut wav = hound::WavReader::open(root().join("fixtures/calls/call_en.wav")).unwrap();
    assert_eq!(wav.spec().sample_rate, 16_000);
    let left: Vec<i16> = wav
        .samples::<i16>()
        .step_by(2)
        .map(|s| s.unwrap())
        .collect();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let uuid = uuid::Uuid::parse_str(call_id).unwrap();
    s.write_all(&message(0x01, uuid.as_bytes())).unwrap();
    for frame in left.chunks(320) {
        let bytes: Vec<u8> = frame.iter().flat_map(|x| x.to_le_bytes()).collect();
        s.write_all(&message(0x12, &bytes)).unwrap();
    }
    // Then nothing, without hanging up: the server must close the connection by itself.
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("idle connection not closed: {other:?}"),
    }
    // The leg's last utterances are transcribed after the close; give a loaded machine time.
    let url = format!("{}/v1/calls/{call_id}", server.http());
    let t0 = std::time::Instant::now();
    let detail = loop {
        let (code, d) = common::get_json(&url);
        if code == 200 && d["ended_at"].is_string() {
            break d;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "not archived: {d}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(detail["source"], "audiosocket");
    assert_eq!(detail["legs"].as_array().unwrap().len(), 1, "{detail}");
    assert!(
        detail["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["speaker"] == "customer" && h["category"] == "complaint"),
        "16 kHz audio not heard as such: {detail}"
    );
    let log = server.log_text();
    assert!(log.contains("idle; closing it"), "{log}");
}
