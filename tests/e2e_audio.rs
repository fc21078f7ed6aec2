//! The audio archive end to end: a call with a card number streamed over the Twilio fork is
//! recorded as Ogg Opus, replayed per leg and as a stereo mix with range requests, decoded by
//! ffprobe/ffmpeg, the card's stretch silent, and every replay role-checked and audited.

mod common;

use common::{
    archived_call_within, audit_outcomes, callwatch, ffprobe_duration, make_token, root,
    run_fork_client, Server,
};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn get(url: &str, token: &str, range: Option<&str>) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let mut r = reqwest::Client::new().get(url).bearer_auth(token);
            if let Some(range) = range {
                r = r.header("range", range);
            }
            let r = r.send().await.unwrap();
            let (s, h) = (r.status().as_u16(), r.headers().clone());
            (s, h, r.bytes().await.unwrap().to_vec())
        })
}

/// The file decoded by ffmpeg to 16 kHz 16-bit PCM, `channels` interleaved.
fn ffmpeg_pcm(file: &Path, channels: u32) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(file)
        .args(["-f", "s16le", "-acodec", "pcm_s16le", "-ar", "16000", "-ac"])
        .arg(channels.to_string())
        .arg("-")
        .output()
        .expect("ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Level of channel `ch` of `pcm` between two media times, in dBFS.
fn dbfs(pcm: &[i16], channels: usize, ch: usize, from_ms: u64, to_ms: u64) -> f64 {
    let (a, b) = ((from_ms * 16) as usize, (to_ms * 16) as usize);
    let frames: Vec<f64> = pcm
        .chunks_exact(channels)
        .skip(a)
        .take(b.saturating_sub(a))
        .map(|f| (f[ch] as f64 / 32768.0).powi(2))
        .collect();
    assert!(
        !frames.is_empty(),
        "no audio between {from_ms} and {to_ms} ms"
    );
    10.0 * (frames.iter().sum::<f64>() / frames.len() as f64)
        .max(1e-20)
        .log10()
}

#[test]
fn recorded_redacted_replayable_and_audited() {
    let server = Server::start("ggml-tiny.en.bin", &[]);
    let (base, dir) = (server.http(), server.data_dir.path());
    let wav = root().join("fixtures/calls/call_en_pii_8k.wav");
    let call_id = "CA-audio";
    run_fork_client(&server, "twilio", &wav, call_id, 2.0, &[("queue", "card")]);
    // The call is archived, then its recordings are finished (lengths known).
    let t0 = Instant::now();
    let detail = loop {
        let d = archived_call_within(&base, call_id, Duration::from_secs(30));
        let audio = d["audio"].as_array().cloned().unwrap_or_default();
        if audio.len() == 2 && audio.iter().all(|a| a["duration_ms"].is_u64()) {
            break d;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{d}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let call_s = detail["duration_ms"].as_f64().unwrap() / 1000.0;
    let side: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/calls/call_en_pii_8k.json")).unwrap(),
    )
    .unwrap();
    let wav_s = side["duration_s"].as_f64().unwrap();
    assert!(
        (call_s - wav_s).abs() < 1.0,
        "call {call_s} s vs wav {wav_s} s"
    );

    let reviewer = make_token(dir, &[], "qa-1", "reviewer");
    let url = |leg: &str| format!("{base}/v1/calls/{call_id}/audio?leg={leg}");
    let files = tempfile::tempdir().unwrap();
    let mut decoded = std::collections::HashMap::new();
    for (leg, channels) in [("customer", 1u32), ("agent", 1), ("mix", 2)] {
        let (status, h, body) = get(&url(leg), &reviewer, None);
        assert_eq!(status, 200, "{leg}: {}", String::from_utf8_lossy(&body));
        assert_eq!(h["content-type"], "audio/ogg");
        assert_eq!(h["accept-ranges"], "bytes");
        assert!(h["cache-control"].to_str().unwrap().contains("no-store"));
        let f = files.path().join(format!("{leg}.ogg"));
        std::fs::write(&f, &body).unwrap();
        let secs = ffprobe_duration(&f);
        assert!(
            (secs - call_s).abs() < 1.0,
            "{leg}: {secs} s vs the call's {call_s} s"
        );
        decoded.insert(leg, ffmpeg_pcm(&f, channels));
    }

    // Seeking: a byte range is answered 206 with exactly those bytes.
    let (_, _, whole) = get(&url("customer"), &reviewer, None);
    let (status, h, part) = get(&url("customer"), &reviewer, Some("bytes=100-1099"));
    assert_eq!(status, 206);
    assert_eq!(
        h["content-range"].to_str().unwrap(),
        format!("bytes 100-1099/{}", whole.len())
    );
    assert_eq!(part, whole[100..1100]);

    // The customer's card utterance has its masked stretch recorded and silent on disk, in
    // the leg and on the mix's left; the agent's speech is not silenced.
    let utterances = detail["utterances"].as_array().unwrap();
    let card = utterances
        .iter()
        .find(|u| {
            let text = u["text"].as_str().unwrap();
            u["speaker"] == "customer" && text.contains("card") && text.contains('[')
        })
        .unwrap_or_else(|| panic!("no card label in {detail}"));
    let masked = card["audio_masked"].as_array().expect("masked ranges");
    assert!(!masked.is_empty(), "{card}");
    let (u0, u1) = (
        card["start_ms"].as_u64().unwrap(),
        card["end_ms"].as_u64().unwrap(),
    );
    let mut masked_ms = 0;
    for r in masked {
        let (a, b) = (r[0].as_u64().unwrap(), r[1].as_u64().unwrap());
        assert!(u0 <= a && a < b && b <= u1, "{r} outside {u0}..{u1}");
        masked_ms += b - a;
        // A few ms of codec ramp at each edge.
        let (a, b) = (a + 30, b - 30);
        let leg = dbfs(&decoded["customer"], 1, 0, a, b);
        assert!(leg < -60.0, "customer leg at {a}..{b} ms: {leg:.1} dBFS");
        let left = dbfs(&decoded["mix"], 2, 0, a, b);
        assert!(left < -60.0, "mix left at {a}..{b} ms: {left:.1} dBFS");
    }
    // The digits were read over most of the utterance.
    assert!(masked_ms * 2 > u1 - u0, "{masked:?} of {u0}..{u1}");
    // Independently of what the service chose: where the fixture says the card number and
    // the code were read, the customer's leg is silent.
    for u in side["utterances"].as_array().unwrap() {
        let text = u["text"].as_str().unwrap();
        if u["speaker"] != "customer"
            || !(text.contains("card number is") || text.contains("four eight"))
        {
            continue;
        }
        let ms = |k: &str| (u[k].as_f64().unwrap() * 1000.0) as u64;
        let (a, b) = (ms("start_s") + 200, ms("end_s") - 200);
        let level = dbfs(&decoded["customer"], 1, 0, a, b);
        assert!(level < -60.0, "{text:?} at {a}..{b} ms: {level:.1} dBFS");
    }
    let greeting = utterances.iter().find(|u| u["speaker"] == "agent").unwrap();
    let (g0, g1) = (
        greeting["start_ms"].as_u64().unwrap(),
        greeting["end_ms"].as_u64().unwrap(),
    );
    let loud = dbfs(&decoded["agent"], 1, 0, g0, g1);
    assert!(loud > -40.0, "the agent's greeting: {loud:.1} dBFS");
    let right = dbfs(&decoded["mix"], 2, 1, g0, g1);
    assert!(
        right > -40.0,
        "mix right during the greeting: {right:.1} dBFS"
    );
    let recorded: u64 = detail["audio"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["masked_ms"].as_u64().unwrap())
        .sum();
    assert!(recorded >= masked_ms, "{recorded} < {masked_ms}");

    // Roles and queues: an agent may not replay, a reviewer of another queue finds nothing,
    // nobody without a credential gets in.
    let agent = make_token(dir, &[], "ag-1", "agent");
    assert_eq!(get(&url("mix"), &agent, None).0, 403);
    let (ok, scoped, err) = callwatch(
        dir,
        &[
            "token", "create", "--name", "qa-w", "--role", "reviewer", "--queues", "wealth",
        ],
    );
    assert!(ok, "{err}");
    let (status, _, body) = get(&url("customer"), scoped.trim(), None);
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    assert_eq!(get(&url("mix"), "cw_forged", None).0, 401);
    let (status, _, _) = get(&url("../../callwatch.db"), &reviewer, None);
    assert_eq!(status, 404);
    let outcomes = audit_outcomes(&base, "audio.replay");
    assert!(
        outcomes.iter().filter(|o| *o == "ok").count() >= 5,
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|o| o == "not_found"), "{outcomes:?}");
}
