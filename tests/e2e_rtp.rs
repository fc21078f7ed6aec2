//! End to end with real RTP senders: `callwatch serve`, a plain RTP session created over HTTP,
//! ffmpeg streaming the customer leg as PCMU and the agent leg as Opus, garbage datagrams in
//! between, live events over `/v1/events`, DELETE, then the archive; and an injector on a
//! second socket that must never be heard.

mod common;

use common::sidecar::{check_8k_call_hits, check_call_hits};
use common::{archived_call, dump_events, get_json, root, EventWatcher, Server};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A free even port with 20 ports above it.
fn free_rtp_range() -> (u16, u16) {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let p = probe.local_addr().unwrap().port().min(65000);
    (p - p % 2, p - p % 2 + 19)
}

/// ffmpeg sending `wav` through `filter` (which picks the channel) as RTP; `codec_args` picks the encoding.
fn ffmpeg_rtp(
    wav: &std::path::Path,
    filter: &str,
    codec_args: &[&str],
    port: u16,
) -> std::process::Child {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-readrate", "2", "-i"])
        .arg(wav)
        .args(["-af", filter])
        .args(codec_args)
        .args(["-f", "rtp", &format!("rtp://127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg (apt-get install -y ffmpeg)")
}

#[test]
fn pcmu_and_opus_legs_from_ffmpeg() {
    let (first, last) = free_rtp_range();
    let server = Server::start(
        "ggml-tiny.en.bin",
        &["--rtp-ports", &format!("{first}-{last}")],
    );
    let call_id = "rtp-e2e-en";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = common::client(&server);
    let base = server.http();

    // Bad requests first: each gets its status and a JSON error naming the problem.
    let bad = [
        (json!({"call_id": "x", "legs": []}), 400, "1 to 8 legs"),
        (
            json!({"call_id": "x", "legs": [{"leg": "a", "speaker": "agent", "codec": "g729"}]}),
            400,
            "g729",
        ),
        (
            json!({"call_id": "x", "legs": [{"leg": "a", "speaker": "boss", "codec": "pcmu"}]}),
            400,
            "boss",
        ),
        (json!({"call_id": "x"}), 400, "legs"),
    ];
    for (body, status, words) in bad {
        let (s, v): (u16, Value) = rt.block_on(async {
            let r = http
                .post(format!("{base}/v1/rtp-sessions"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json().await.unwrap())
        });
        assert_eq!(s, status, "{body} -> {v}");
        assert!(v["detail"].as_str().unwrap().contains(words), "{v}");
    }
    let (s, _) = get_json(&format!("{base}/v1/rtp-sessions/nope"));
    assert_eq!(s, 404);

    let watcher = EventWatcher::start(&server, call_id);

    let created: Value = rt.block_on(async {
        let r = http
            .post(format!("{base}/v1/rtp-sessions"))
            .json(&json!({
                "call_id": call_id, "agent_id": "A7",
                "legs": [
                    {"leg": "caller", "speaker": "customer", "codec": "pcmu", "language": "en"},
                    {"leg": "agent", "speaker": "agent", "codec": "opus", "payload_type": 111, "language": "en"}
                ]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        r.json().await.unwrap()
    });
    let id = created["id"].as_str().unwrap().to_string();
    let caller_port = created["legs"][0]["rtp_port"].as_u64().unwrap() as u16;
    let agent_port = created["legs"][1]["rtp_port"].as_u64().unwrap() as u16;
    assert_eq!(created["host"], "127.0.0.1");
    assert_eq!(caller_port % 2, 0);
    assert_eq!(
        agent_port,
        caller_port + 2,
        "legs on consecutive pairs: {created}"
    );
    assert_eq!(created["legs"][0]["rtcp_port"], caller_port + 1);

    // Same call again while live: conflict.
    let dup = rt.block_on(async {
        http.post(format!("{base}/v1/rtp-sessions"))
            .json(&json!({"call_id": call_id, "legs": [{"leg": "x", "speaker": "agent", "codec": "pcma"}]}))
            .send().await.unwrap().status().as_u16()
    });
    assert_eq!(dup, 409);

    let wav = root().join("fixtures/calls/call_en_8k.wav");
    let mut caller = ffmpeg_rtp(
        &wav,
        // 20 ms packets, as PBXes send them (ffmpeg's default is about 180 ms).
        "pan=mono|c0=c0,asetnsamples=n=160:p=0",
        &["-ar", "8000", "-acodec", "pcm_mulaw"],
        caller_port,
    );
    let mut agent = ffmpeg_rtp(
        &wav,
        "pan=mono|c0=c1",
        &[
            "-ar",
            "48000",
            "-acodec",
            "libopus",
            "-b:a",
            "32k",
            "-payload_type",
            "111",
        ],
        agent_port,
    );
    // Garbage into both ports while they stream: counted, never fatal. Once a port has
    // latched to ffmpeg, the junk socket's datagrams are dropped as foreign, unread.
    let junk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20u8 {
        std::thread::sleep(Duration::from_millis(100));
        for port in [caller_port, agent_port] {
            junk.send_to(&[i; 7], ("127.0.0.1", port)).unwrap();
            junk.send_to(&[0x80, 0xc8, 0, 40, 1], ("127.0.0.1", port))
                .unwrap();
        }
    }
    for (name, child) in [("caller", &mut caller), ("agent", &mut agent)] {
        let out = child.wait().unwrap();
        assert!(out.success(), "ffmpeg {name} failed: {out}");
    }

    let (s, live) = get_json(&format!("{base}/v1/rtp-sessions/{id}"));
    assert_eq!(s, 200, "{live}");
    for leg in live["legs"].as_array().unwrap() {
        let st = &leg["stats"];
        assert!(st["rtp_packets"].as_u64().unwrap() > 500, "{leg}");
        let junk = st["malformed"].as_u64().unwrap() + st["foreign_dropped"].as_u64().unwrap();
        assert!(junk >= 20, "{leg}");
        assert!(st["foreign_dropped"].as_u64().unwrap() > 0, "{leg}");
        assert!(leg["remote"].is_string() && leg["ended"].is_null(), "{leg}");
    }
    let ended: Value = rt.block_on(async {
        let r = http
            .delete(format!("{base}/v1/rtp-sessions/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    });
    for leg in ended["legs"].as_array().unwrap() {
        assert_eq!(leg["ended"], "closed", "{leg}");
        // Media time covers the whole 24.5 s fixture (within a packet or two).
        let rate = leg["sample_rate"].as_f64().unwrap();
        let secs = leg["stats"]["samples_out"].as_f64().unwrap() / rate;
        assert!((secs - 24.5).abs() < 0.2, "{secs} s on {leg}");
    }
    let (s, _) = get_json(&format!("{base}/v1/rtp-sessions/{id}"));
    assert_eq!(s, 404);

    let events = watcher.until_call_ended(Duration::from_secs(120));
    let dump = || dump_events(&events);
    assert!(
        events.iter().any(|e| e["type"] == "call.ended"),
        "{}",
        dump()
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "call.started" && e["source"] == "rtp"),
        "{}",
        dump()
    );
    let detail = archived_call(&base, call_id);
    let legs = detail["legs"].as_array().expect("archived call");
    assert_eq!(legs.len(), 2, "{detail}");
    check_8k_call_hits(&events, &detail, &server.log_text());
}

/// One PCMU packet of loud white noise.
fn noise_packet(seq: u16, ts: u32, ssrc: u32, state: &mut u32) -> Vec<u8> {
    let mut d = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    d[2..4].copy_from_slice(&seq.to_be_bytes());
    d[4..8].copy_from_slice(&ts.to_be_bytes());
    d[8..12].copy_from_slice(&ssrc.to_be_bytes());
    d.extend((0..160).map(|_| {
        // xorshift: noise without a dependency; the top bits of mu-law pick the loud segments.
        *state ^= *state << 13;
        *state ^= *state >> 17;
        *state ^= *state << 5;
        (*state as u8) & 0x8f
    }));
    d
}

/// Security: a plain RTP port belongs to the first source that sends it media. While ffmpeg
/// streams the customer, an injector that learned the port sends loud noise on ffmpeg's own
/// SSRC, a few packets ahead in its sequence space, so that every slot would be its if it
/// were read. The archive must hold the customer's words, and the server must say it dropped
/// the injector.
#[test]
fn a_second_sender_on_the_port_is_dropped_and_never_heard() {
    let (first, last) = free_rtp_range();
    let server = Server::start(
        "ggml-tiny.en.bin",
        &["--rtp-ports", &format!("{first}-{last}")],
    );
    let call_id = "rtp-e2e-injected";
    // Multi-threaded so the pooled connection notices the server closing it while idle.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = common::client(&server);
    let base = server.http();
    let watcher = EventWatcher::start(&server, call_id);
    let created: Value = rt.block_on(async {
        let r = http
            .post(format!("{base}/v1/rtp-sessions"))
            .json(&json!({
                "call_id": call_id,
                "legs": [{"leg": "caller", "speaker": "customer", "codec": "pcmu", "language": "en"}]
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        r.json().await.unwrap()
    });
    let id = created["id"].as_str().unwrap().to_string();
    let port = created["legs"][0]["rtp_port"].as_u64().unwrap() as u16;
    let session = format!("{base}/v1/rtp-sessions/{id}");

    const SSRC: u32 = 0x4242;
    let wav = root().join("fixtures/calls/call_en_8k.wav");
    let started = Instant::now();
    let mut caller = ffmpeg_rtp(
        &wav,
        "pan=mono|c0=c0,asetnsamples=n=160:p=0",
        &[
            "-ar",
            "8000",
            "-acodec",
            "pcm_mulaw",
            "-ssrc",
            &SSRC.to_string(),
            "-seq",
            "0",
        ],
        port,
    );
    // The attack starts mid-call, once the port belongs to ffmpeg.
    let latched = loop {
        let (_, v) = get_json(&session);
        if let Some(remote) = v["legs"][0]["remote"].as_str() {
            break remote.to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ffmpeg never latched the port: {v}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let injector = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (mut sent, mut state) = (0u64, 0x2545_f491u32);
    while caller.try_wait().unwrap().is_none() {
        // ffmpeg sends 100 packets a second (-readrate 2) from sequence 0.
        let seq = (started.elapsed().as_millis() / 10) as u16 + 3;
        let d = noise_packet(seq, seq as u32 * 160, SSRC, &mut state);
        injector.send_to(&d, ("127.0.0.1", port)).unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = caller.wait().unwrap();
    assert!(out.success(), "ffmpeg failed: {out}");
    assert!(sent > 1000, "only {sent} packets injected");

    let ended: Value = rt.block_on(async {
        let r = http.delete(&session).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.unwrap()
    });
    let leg = &ended["legs"][0];
    let st = &leg["stats"];
    assert_eq!(leg["remote"], latched.as_str(), "{leg}");
    assert_ne!(latched, injector.local_addr().unwrap().to_string(), "{leg}");
    // Every datagram read was ffmpeg's (1227 packets of 20 ms), and the injector's were
    // dropped unread (a few may still have been queued when the session ended).
    let rtp = st["rtp_packets"].as_u64().unwrap();
    assert!(
        (1100..=1230).contains(&rtp),
        "{rtp} RTP packets read: {leg}"
    );
    let dropped = st["foreign_dropped"].as_u64().unwrap();
    assert!(
        dropped >= sent * 9 / 10 && dropped <= sent,
        "{dropped} of {sent} dropped: {leg}"
    );
    assert_eq!(st["duplicates"], 0, "{leg}");
    let secs = st["samples_out"].as_f64().unwrap() / 8000.0;
    assert!((secs - 24.5).abs() < 0.2, "{secs} s on {leg}");

    // One warning for the whole stream, naming it; the end-of-stream line has the count.
    let log = server.log_text();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("other than the stream's source dropped"))
        .collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains(&format!("{call_id}/caller")), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("RTP stream ended")
                && l.contains(&format!("foreign_dropped={dropped}"))),
        "{log}"
    );

    let events = watcher.until_call_ended(Duration::from_secs(120));
    let detail = archived_call(&base, call_id);
    let text = detail["utterances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["text"].as_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    assert!(text.contains("complaint"), "{text:?}");
    // Every hit is one the customer's audio holds, at its time: noise read as speech would
    // add utterances the sidecar does not have, or hide the ones it does.
    check_call_hits(
        "call_en_8k",
        &events,
        &detail,
        &[("customer", "file a complaint")],
    );
}
