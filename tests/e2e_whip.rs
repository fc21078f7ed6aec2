//! End to end over WHIP (RFC 9725) with real WebRTC publishers against `callwatch serve`:
//! aiortc (two participants of one call, one with a camera track; then a publisher that
//! vanishes) and headless Chromium publishing a fixture as its microphone through the served
//! publisher page. Bad requests are checked against the live server too.

mod common;

use common::sidecar::check_call_hits;
use common::{archived_call, archived_call_within, dump_events, get_json, of_type, root, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A server with WHIP on, and an ingest token made for publishers while it runs.
fn whip_server(dir: &Path) -> (Server, String) {
    let cfg = dir.join("whip.toml");
    std::fs::write(
        &cfg,
        "[whip]\nenabled = true\nmedia_timeout_ms = 3000\n[asr]\nthreads = 1\n",
    )
    .unwrap();
    let extra = ["--config", cfg.to_str().unwrap()];
    let server = Server::start("ggml-tiny.en.bin", &extra);
    let ingest = common::make_token(server.data_dir.path(), &extra, "publisher", "ingest");
    (server, ingest)
}

fn aiortc(server: &Server, token: &str, call_id: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(root().join("tests/clients/whip_aiortc.py"))
        .args([
            "--base",
            &server.http(),
            "--call-id",
            call_id,
            "--token",
            token,
            "--events-token",
            &server.token,
        ])
        .arg("--wav")
        .arg(root().join("fixtures/calls/call_en.wav"))
        .args(args)
        .output()
        .expect("python3 whip client (pip install aiortc websockets)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aiortc client failed ({}):\n{stdout}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect()
}

fn request(method: &str, url: &str, auth: bool, ctype: &str, body: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::new();
        let mut r = c
            .request(method.parse().unwrap(), url)
            .header("content-type", ctype)
            .body(body.to_string());
        if auth {
            r = r.bearer_auth(common::token_for(url).unwrap());
        }
        let r = r.send().await.expect("request");
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

#[test]
fn aiortc_participants_of_one_call_a_vanishing_one_and_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (server, ingest) = whip_server(dir.path());
    let base = server.http();
    let offer =
        std::fs::read_to_string(root().join("fixtures/whip/aiortc_audio_video_offer.sdp")).unwrap();
    let endpoint = format!("{base}/v1/whip?call_id=bad&participant=p&role=customer");
    let no_audio = &offer[..offer.find("m=audio").unwrap()];
    for (method, url, auth, ctype, body, status, words) in [
        (
            "POST",
            endpoint.as_str(),
            false,
            "application/sdp",
            offer.as_str(),
            401,
            "Bearer",
        ),
        (
            "POST",
            endpoint.as_str(),
            true,
            "application/sdp",
            "v=0\r\nm=audio x\r\n",
            400,
            "bad media line",
        ),
        (
            "POST",
            endpoint.as_str(),
            true,
            "application/sdp",
            "hello",
            400,
            "SDP",
        ),
        (
            "POST",
            endpoint.as_str(),
            true,
            "application/sdp",
            no_audio,
            422,
            "no sendable audio",
        ),
        (
            "DELETE",
            &format!("{base}/v1/whip/unknown"),
            true,
            "text/plain",
            "",
            404,
            "unknown",
        ),
        (
            "PATCH",
            &format!("{base}/v1/whip/unknown"),
            true,
            "application/trickle-ice-sdpfrag",
            "a=end-of-candidates",
            405,
            "trickle",
        ),
    ] {
        let (s, b) = request(method, url, auth, ctype, body);
        assert_eq!(s, status, "{method} {url}: {b}");
        assert!(b.contains(words), "{method} {url}: {b}");
    }

    // Two participants publish into one call id; the customer also sends video.
    let call_id = "whip-aiortc-en";
    let events = aiortc(
        &server,
        &ingest,
        call_id,
        &[
            "--publish",
            "cust-7:customer:0:video",
            "--publish",
            "agent-a7:agent:1",
            "--queue",
            "video-cs",
        ],
    );
    let started = of_type(&events, "call.started");
    assert_eq!(started.len(), 1, "{}", dump_events(&events));
    assert_eq!(started[0]["source"], "whip");
    assert_eq!(started[0]["queue"], "video-cs");
    assert_eq!(
        of_type(&events, "call.ended").len(),
        1,
        "{}",
        dump_events(&events)
    );
    let hits = of_type(&events, "phrase.hit");
    for (leg, speaker, category) in [
        ("cust-7", "customer", "complaint"),
        ("agent-a7", "agent", "sales_promise"),
    ] {
        assert!(
            hits.iter()
                .any(|h| h["leg"] == leg && h["speaker"] == speaker && h["category"] == category),
            "no {category} hit on {leg}:\n{}",
            dump_events(&events)
        );
    }
    let detail = archived_call(&base, call_id);
    check_call_hits(
        "call_en",
        &events,
        &detail,
        &[("customer", "file a complaint")],
    );
    let legs = detail["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2, "{detail}");
    for (leg, speaker) in [("cust-7", "customer"), ("agent-a7", "agent")] {
        assert!(
            legs.iter()
                .any(|l| l["leg"] == leg && l["speaker"] == speaker),
            "{detail}"
        );
    }
    assert_eq!(detail["source"], "whip");
    // Dropped utterances are archived too, as rows with `dropped` set.
    let transcribed = detail["utterances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["dropped"].is_null())
        .count();
    assert_eq!(transcribed, of_type(&events, "transcript.final").len());
    assert_eq!(
        detail["dropped_count"],
        of_type(&events, "utterance.dropped").len(),
        "{detail}"
    );

    // A publisher that disappears without DELETE after 9 s: the session ends by the media
    // timeout and what was heard (the complaint at 4-7 s) is archived.
    let vanish = "whip-aiortc-vanish";
    aiortc(
        &server,
        &ingest,
        vanish,
        &["--publish", "cust-9:customer:0", "--vanish-after", "9"],
    );
    let detail = archived_call_within(&base, vanish, Duration::from_secs(60));
    assert!(
        detail["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["category"] == "complaint" && h["leg"] == "cust-9"),
        "{detail}"
    );
    let media_ms = detail["duration_ms"].as_u64().unwrap();
    assert!((8000..=10_500).contains(&media_ms), "{detail}");
    assert_eq!(detail["end_reason"], "media_timeout", "{detail}");
    let (_, stats) = get_json(&format!("{base}/v1/stats"));
    assert_eq!(stats["whip"], serde_json::json!([]), "{stats}");
}

/// A mono excerpt of one channel of a fixture call, as Chromium's fake microphone reads it.
fn excerpt(dir: &Path, channel: usize, seconds: f32) -> PathBuf {
    let mut r = hound::WavReader::open(root().join("fixtures/calls/call_en.wav")).unwrap();
    let spec = r.spec();
    let n = (spec.sample_rate as f32 * seconds) as usize * spec.channels as usize;
    let samples: Vec<i16> = r
        .samples::<i16>()
        .take(n)
        .map(Result::unwrap)
        .skip(channel)
        .step_by(spec.channels as usize)
        .collect();
    let out = dir.join(format!("ch{channel}.wav"));
    let mut w = hound::WavWriter::create(
        &out,
        hound::WavSpec {
            channels: 1,
            ..spec
        },
    )
    .unwrap();
    for s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    out
}

fn rfc3339_ms(s: &str) -> i64 {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

#[test]
fn chromium_publishes_a_microphone_through_the_served_page() {
    let dir = tempfile::tempdir().unwrap();
    let (server, ingest) = whip_server(dir.path());
    let base = server.http();
    // The customer's complaint (4.2-7.3 s) and verification-code question (14.3-17.9 s).
    let wav = excerpt(dir.path(), 0, 19.0);
    let call_id = "whip-chromium-en";
    let watcher = common::EventWatcher::start(&server, call_id);
    let out = Command::new("node")
        .arg(root().join("tests/clients/whip_chromium.mjs"))
        .args([&base, call_id, "web-cust", "customer"])
        .arg(&wav)
        .args(["19", &ingest])
        .output()
        .expect("node (npm ci in tests/clients installs playwright-core)");
    assert!(
        out.status.success(),
        "chromium publisher failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    let page: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    let events = watcher.until_call_ended(Duration::from_secs(90));
    let finals = of_type(&events, "transcript.final");
    assert!(
        finals
            .iter()
            .all(|f| f["speaker"] == "customer" && f["leg"] == "web-cust"),
        "{}",
        dump_events(&events)
    );
    let hits = of_type(&events, "phrase.hit");
    let complaint = hits
        .iter()
        .find(|h| h["category"] == "complaint" && h["speaker"] == "customer")
        .unwrap_or_else(|| panic!("no complaint hit:\n{}", dump_events(&events)));
    let detail = archived_call(&base, call_id);
    assert_eq!(detail["legs"].as_array().unwrap().len(), 1, "{detail}");
    assert!(detail["hits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["category"] == "complaint"));

    // Latency figures (printed with --nocapture; README "WHIP publishing" keeps them).
    let published = page["publishedAt"].as_i64().unwrap();
    let connected = page["connectedAt"].as_i64().unwrap();
    let first_partial = of_type(&events, "transcript.partial")
        .first()
        .map(|p| rfc3339_ms(p["at"].as_str().unwrap()) - published);
    let spoken = connected + complaint["end_ms"].as_i64().unwrap();
    let hit_at = rfc3339_ms(complaint["at"].as_str().unwrap());
    println!(
        "WHIP chromium: publish->connected {} ms, publish->first transcript.partial {:?} ms, \
         phrase end->phrase.hit {} ms (partial hit: {})",
        connected - published,
        first_partial,
        hit_at - spoken,
        complaint["partial"]
    );
}
