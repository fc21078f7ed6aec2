//! Hostile input against the running server while a good call streams alongside: every
//! limit holds (connection caps, header-read and idle timeouts, frame sizes, the surge key
//! space, deep archive pages) and the good call keeps its hits.

mod common;

use common::sidecar::check_call_hits;
use common::{archived_call, free_udp_port, get_json, root, run_fork_client, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Per-address cap of the test server (every client here is 127.0.0.1).
const PER_ADDR: usize = 24;
/// Header-read, WebSocket idle and SIP TCP idle timeouts of the test server, seconds.
const TIMEOUT_S: u64 = 2;
/// Surge keys the test server may count.
const MAX_KEYS: usize = 32;

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("limits.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nmax_connections = 500\nmax_connections_per_addr = {PER_ADDR}\n\
             header_read_timeout_s = {TIMEOUT_S}\nidle_timeout_s = {TIMEOUT_S}\n\n\
             [sip]\ntcp_idle_timeout_s = {TIMEOUT_S}\n\n[surge]\nmax_keys = {MAX_KEYS}\n"
        ),
    )
    .unwrap();
    path
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Waits (up to 15 s) for the server to close `s`; returns what it sent first.
fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("connection not closed by the server: {e}; got {got:?}"),
        }
    }
}

/// What each connection got before the server closed it, for those closed within a moment
/// of opening (well inside every timeout): the ones refused by a cap.
fn closed_at_once(conns: &[TcpStream]) -> Vec<Vec<u8>> {
    std::thread::sleep(Duration::from_millis(300));
    let mut out = Vec::new();
    for s in conns {
        s.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match (&*s).read(&mut buf) {
                Ok(0) => {
                    out.push(got);
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    out.push(got);
                    break;
                }
                Err(_) => break, // still open
            }
        }
    }
    out
}

/// Half a request's headers, then nothing: closed by the header-read timeout.
fn slow_headers(port: u16) {
    let mut conns: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET /v1/calls HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let t0 = Instant::now();
    for s in &mut conns {
        let reply = read_until_closed(s);
        // hyper answers a header timeout with 408 or just closes; never a 200.
        assert!(!String::from_utf8_lossy(&reply).contains(" 200 "));
    }
    assert!(t0.elapsed() < Duration::from_secs(15));
}

/// More idle connections than the per-address cap: the ones past it get 503 at once, and
/// once the idle ones time out the server takes requests again.
fn per_address_cap(base: &str, port: u16) {
    let conns: Vec<TcpStream> = (0..PER_ADDR + 8)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let refused = closed_at_once(&conns)
        .into_iter()
        .filter(|reply| {
            let text = String::from_utf8_lossy(reply);
            text.starts_with("HTTP/1.1 503") && text.contains("too many connections")
        })
        .count();
    // The good call holds two of the address's slots (its fork and its event stream).
    assert!(refused >= 8, "only {refused} refused");
    drop(conns);
    let t0 = Instant::now();
    loop {
        let ok = std::panic::catch_unwind(|| get_json(&format!("{base}/v1/stats")).0 == 200);
        if matches!(ok, Ok(true)) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "server took no request again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A fork that connects and sends nothing is closed after the idle timeout; one frame over
/// the size limit gets 1009.
async fn quiet_and_oversized_forks(ws: &str) {
    let (mut quiet, _) =
        tokio_tungstenite::connect_async(common::ws_request(&format!("{ws}/v1/fork/twilio")))
            .await
            .unwrap();
    let (mut big, _) =
        tokio_tungstenite::connect_async(common::ws_request(&format!("{ws}/v1/fork/audio")))
            .await
            .unwrap();
    let _ = big
        .send(Message::Binary(vec![0u8; 100 * 1024].into()))
        .await;
    for (ws, code) in [(&mut quiet, 1000u16), (&mut big, 1009)] {
        let close = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Close(Some(f)))) => return Some(f),
                    Some(Ok(_)) => continue,
                    _ => return None,
                }
            }
        })
        .await
        .expect("fork not closed within 15 s")
        .expect("no close frame");
        assert_eq!(u16::from(close.code), code, "{close:?}");
    }
}

/// An events subscriber that never answers the server's pings is closed.
fn deaf_subscriber(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let token = common::token_for(&format!("http://127.0.0.1:{port}")).unwrap();
    s.write_all(
        format!(
            "GET /v1/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer {token}\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    // Read nothing for a while: the pings pile up unanswered.
    std::thread::sleep(Duration::from_secs(TIMEOUT_S + 2));
    let got = read_until_closed(&mut s);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    let start = text.find("\r\n\r\n").unwrap() + 4;
    let frames = &got[start..];
    assert!(frames.contains(&0x89), "no ping: {frames:?}");
    assert!(frames.contains(&0x88), "no close frame: {frames:?}");
}

/// SIP over TCP: an idle connection is closed, and connections past the cap are closed at once.
fn sip_tcp(sip: u16) {
    let mut idle = TcpStream::connect(("127.0.0.1", sip)).unwrap();
    let extra: Vec<TcpStream> = (0..PER_ADDR + 4)
        .map(|_| TcpStream::connect(("127.0.0.1", sip)).unwrap())
        .collect();
    let cut_at_once = closed_at_once(&extra).len();
    assert!(
        cut_at_once >= 4,
        "{cut_at_once} of the extra connections were cut"
    );
    let t0 = Instant::now();
    read_until_closed(&mut idle);
    assert!(t0.elapsed() < Duration::from_secs(15));
}

/// A flood of short Twilio calls, each with a queue label of its own: the surge detector
/// keeps at most MAX_KEYS keys.
async fn queue_flood(ws: &str) {
    for i in 0..(MAX_KEYS * 2) {
        let (mut s, _) =
            tokio_tungstenite::connect_async(common::ws_request(&format!("{ws}/v1/fork/twilio")))
                .await
                .unwrap();
        let sid = format!("MZflood{i}");
        let call = format!("CAflood{i}");
        let queue = format!("flood-{i}-{}", "q".repeat(200));
        let msgs = [
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            json!({"event": "start", "streamSid": sid, "start": {"streamSid": sid, "callSid": call,
                "tracks": ["inbound"], "customParameters": {"queue": queue, "language": "en"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}),
            json!({"event": "stop", "streamSid": sid, "stop": {"callSid": call}}),
        ];
        for m in msgs {
            s.send(Message::Text(m.to_string().into())).await.unwrap();
        }
        let _ = s.close(None).await;
    }
}

#[test]
fn hostile_clients_are_bounded_while_a_good_call_keeps_its_hits() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sip = free_udp_port();
    let sip_addr = format!("127.0.0.1:{sip}");
    let server = Server::start(
        "ggml-tiny.en.bin",
        &["--config", cfg.to_str().unwrap(), "--sip", &sip_addr],
    );
    let (base, ws, port) = (server.http(), server.ws(), server.port);
    let call_id = "limits-good-call";

    std::thread::scope(|scope| {
        let good = scope.spawn(|| {
            run_fork_client(
                &server,
                "audio",
                &root().join("fixtures/calls/call_en.wav"),
                call_id,
                1.0,
                &[("queue", "cards")],
            )
        });
        // Let the good call connect before its address's slots are exhausted.
        std::thread::sleep(Duration::from_secs(2));
        slow_headers(port);
        per_address_cap(&base, port);
        rt().block_on(quiet_and_oversized_forks(&ws));
        deaf_subscriber(port);
        sip_tcp(sip);
        rt().block_on(queue_flood(&ws));

        // Deep pages go by cursor.
        let (status, body) = get_json(&format!("{base}/v1/calls?offset=99999999"));
        assert_eq!(status, 400, "{body}");
        assert!(body.to_string().contains("cursor"), "{body}");
        let (status, calls) = get_json(&format!("{base}/v1/topics?metric=calls"));
        assert_eq!(status, 200, "{calls}");
        let keys = calls["items"]
            .as_array()
            .or(calls.as_array())
            .map(Vec::len)
            .unwrap_or_else(|| panic!("no list in {calls}"));
        assert!(keys <= MAX_KEYS, "{keys} call keys: {calls}");

        let events: Vec<Value> = good.join().unwrap();
        let detail = archived_call(&base, call_id);
        check_call_hits(
            "call_en",
            &events,
            &detail,
            &[
                ("customer", "file a complaint"),
                ("agent", "guaranteed return"),
            ],
        );
    });
    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
    for line in [
        "connection refused",
        "fork sent nothing; closing it",
        "events subscriber silent; closing it",
        "SIP TCP connection idle; closing it",
    ] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
}
