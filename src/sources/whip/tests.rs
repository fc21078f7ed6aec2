use super::offer::summarize;
use super::*;
use crate::call::Speaker;
use proptest::prelude::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn aiortc_offer() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/whip/aiortc_audio_video_offer.sdp"
    ))
    .unwrap()
}

/// The offer with its video section removed.
fn audio_only(offer: &str) -> String {
    let cut = offer.find("m=video").unwrap();
    offer[..cut].replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0")
}

#[test]
fn offers_are_summarized_or_refused_with_the_reason() {
    let full = aiortc_offer();
    let s = summarize(&full).unwrap();
    assert_eq!((s.opus_pt, s.audio_sections, s.video_sections), (96, 1, 1));

    let chromium_pt = full
        .replace("SAVPF 96 9 0 8", "SAVPF 111 9 0 8")
        .replace("a=rtpmap:96 opus", "a=rtpmap:111 opus");
    assert_eq!(summarize(&chromium_pt).unwrap().opus_pt, 111);

    let video_only = {
        let a = full.find("m=audio").unwrap();
        let v = full.find("m=video").unwrap();
        format!("{}{}", &full[..a], &full[v..])
    };
    let recvonly = audio_only(&full).replace("a=sendonly", "a=recvonly");
    let port_zero = audio_only(&full).replace("m=audio 49938", "m=audio 0");
    let no_opus = audio_only(&full)
        .replace("SAVPF 96 9 0 8", "SAVPF 9 0 8")
        .replace("a=rtpmap:96 opus/48000/2\r\n", "");
    let table: [(&str, String, &str); 6] = [
        ("not sdp", "hello".into(), "v=0"),
        (
            "bad m-line",
            "v=0\r\nm=audio x RTP/AVP 0\r\n".into(),
            "bad media line",
        ),
        ("video only", video_only, "no sendable audio"),
        ("recvonly audio", recvonly, "no sendable audio"),
        ("declined audio", port_zero, "no sendable audio"),
        ("no opus", no_opus, "G722, PCMU, PCMA"),
    ];
    for (name, sdp, words) in table {
        let e = summarize(&sdp).expect_err(name).to_string();
        assert!(e.contains(words), "{name}: {e}");
    }
}

#[test]
fn the_answer_receives_audio_and_accepts_video_without_sending() {
    let offer = aiortc_offer();
    let local = "127.0.0.1:40000".parse().unwrap();
    let (s, answer) =
        WhipSession::accept(&offer, &[local], Duration::from_secs(10), Instant::now()).unwrap();
    assert_eq!(s.opus_payload_type(), 96);
    assert_eq!(s.sample_rate(), 48_000);
    let audio = &answer[answer.find("m=audio").unwrap()..answer.find("m=video").unwrap()];
    assert!(
        audio.starts_with("m=audio 9 ") || !audio.starts_with("m=audio 0"),
        "{answer}"
    );
    assert!(
        audio.contains("opus/48000/2") && audio.contains("a=recvonly"),
        "{answer}"
    );
    assert!(
        audio.contains("a=candidate:") && audio.contains("127.0.0.1 40000"),
        "{answer}"
    );
    let video = &answer[answer.find("m=video").unwrap()..];
    assert!(
        video.contains("a=recvonly") || video.contains("a=inactive"),
        "{answer}"
    );
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(answer.contains("a=fingerprint:sha-256"), "{answer}");
    assert!(answer.contains("a=setup:passive") || answer.contains("a=setup:active"));
}

#[test]
fn str0m_refusing_a_garbled_offer_is_a_malformed_sdp_error() {
    let garbled = aiortc_offer().replace("a=fingerprint:sha-256 ", "a=fingerprint:sha-256");
    let garbled = garbled.replace("a=ice-ufrag:", "a=ice-ufragment:");
    let r = WhipSession::accept(
        &garbled,
        &["127.0.0.1:40000".parse().unwrap()],
        Duration::from_secs(10),
        Instant::now(),
    );
    assert!(
        matches!(r, Err(WhipError::MalformedSdp(_) | WhipError::Rtc(_))),
        "{:?}",
        r.err()
    );
}

#[test]
fn a_session_without_media_ends_by_timeout_exactly_once() {
    let t0 = Instant::now();
    let (mut s, _) = WhipSession::accept(
        &aiortc_offer(),
        &["127.0.0.1:40000".parse().unwrap()],
        Duration::from_secs(5),
        t0,
    )
    .unwrap();
    assert!(s.next_deadline() <= t0 + Duration::from_secs(5));
    let early = s.on_timeout(t0 + Duration::from_secs(4));
    assert!(!early.iter().any(|o| matches!(o, SessionOutput::Ended(_))));
    let out = s.on_timeout(t0 + Duration::from_secs(5));
    assert_eq!(
        out.last(),
        Some(&SessionOutput::Ended(EndReason::MediaTimeout))
    );
    assert!(s.is_ended());
    assert!(s.on_timeout(t0 + Duration::from_secs(9)).is_empty());
    assert!(s.close(EndReason::Deleted).is_empty());
    // A stray datagram after the end changes nothing.
    let junk = s.on_datagram(
        t0 + Duration::from_secs(10),
        "127.0.0.1:5000".parse().unwrap(),
        "127.0.0.1:40000".parse().unwrap(),
        b"junk",
    );
    assert!(junk.is_empty());
}

#[test]
fn garbage_datagrams_do_not_end_a_live_session() {
    let t0 = Instant::now();
    let (mut s, _) = WhipSession::accept(
        &aiortc_offer(),
        &["127.0.0.1:40000".parse().unwrap()],
        Duration::from_secs(5),
        t0,
    )
    .unwrap();
    for (i, d) in [&b""[..], b"\x00\x01garbage", &[0x80; 40], &[0x16; 13]]
        .into_iter()
        .enumerate()
    {
        let out = s.on_datagram(
            t0 + Duration::from_millis(i as u64),
            "127.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:40000".parse().unwrap(),
            d,
        );
        assert!(!out.iter().any(|o| matches!(o, SessionOutput::Ended(_))));
    }
    assert!(!s.is_ended());
    assert_eq!(s.stats().datagrams_in, 4);
}

fn opus_frames(n: usize) -> Vec<Vec<u8>> {
    let mut enc =
        opus::Encoder::new(48_000, opus::Channels::Mono, opus::Application::Voip).unwrap();
    (0..n)
        .map(|i| {
            let pcm: Vec<i16> = (0..960)
                .map(|k| (((i * 960 + k) as f32 * 0.05).sin() * 8000.0) as i16)
                .collect();
            enc.encode_vec(&pcm, 400).unwrap()
        })
        .collect()
}

#[test]
fn the_track_keeps_media_time_across_loss_reordering_and_bad_frames() {
    let frames = opus_frames(10);
    let mut t = OpusTrack::new().unwrap();
    let mut total = 0;
    // Frames 0, 1, (2 lost), 3, a late 2, a corrupt 4, 5..9 at 960 ticks each.
    for (i, f) in frames.iter().enumerate() {
        let pcm = match i {
            2 => continue,
            4 => t.push(4 * 960, &[0xff, 0xff, 0xff]),
            _ => t.push(i as u64 * 960, f),
        };
        total += pcm.len();
        if i == 3 {
            assert!(t.push(2 * 960, &frames[2]).is_empty(), "late frame played");
        }
    }
    assert_eq!(total, 10 * 960, "media time lost or invented");
    assert_eq!(t.bad_frames, 1);
}

#[test]
fn a_long_pause_is_capped_silence() {
    let frames = opus_frames(2);
    let mut t = OpusTrack::new().unwrap();
    t.push(0, &frames[0]);
    let after_pause = t.push(960 + 48_000 * 60, &frames[1]);
    assert_eq!(after_pause.len(), 48_000 * 5 + 960);
}

fn params(q: &[(&str, &str)], h: &[(&str, &str)]) -> Result<PublishParams, WhipError> {
    let query: HashMap<String, String> = q
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let headers: HashMap<String, String> = h
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    PublishParams::from_parts(&query, |n| headers.get(n).cloned())
}

#[test]
fn publish_parameters_come_from_the_query_or_headers() {
    let p = params(
        &[
            ("call_id", "V-1"),
            ("participant", "cust-1"),
            ("role", "客户"),
            ("queue", "video"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        (
            p.call_id.as_str(),
            p.participant.as_str(),
            p.speaker,
            p.queue.as_deref()
        ),
        ("V-1", "cust-1", Speaker::Customer, Some("video"))
    );
    let h = params(
        &[("participant_id", "a7")],
        &[
            ("x-call-id", "V-2"),
            ("x-speaker-role", "agent"),
            ("x-participant-id", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(
        (h.call_id.as_str(), h.participant.as_str(), h.speaker),
        ("V-2", "a7", Speaker::Agent)
    );
    let table: [(&[(&str, &str)], &str); 5] = [
        (&[("participant", "p")], "call id"),
        (&[("call_id", "c")], "participant id"),
        (
            &[("call_id", "c"), ("participant", "p"), ("role", "boss")],
            "boss",
        ),
        (
            &[("call_id", "c d"), ("participant", "p")],
            "letters, digits",
        ),
        (
            &[("call_id", "c"), ("participant", "p"), ("language", "xx")],
            "xx",
        ),
    ];
    for (q, words) in table {
        let e = params(q, &[]).unwrap_err().to_string();
        assert!(e.contains(words), "{q:?}: {e}");
    }
}

proptest! {
    #[test]
    fn summarize_never_panics(s in "\\PC{0,400}") {
        let _ = summarize(&s);
    }

    #[test]
    fn summarize_survives_mangled_real_offers(cut in 0usize..4000, junk in "[a-z=: 0-9/\r\n]{0,40}") {
        let o = aiortc_offer();
        let at = o.char_indices().map(|(i, _)| i).take_while(|i| *i <= cut).last().unwrap_or(0);
        let mangled = format!("{}{}{}", &o[..at], junk, &o[at..]);
        if let Ok(s) = summarize(&mangled) {
            prop_assert!(s.audio_sections >= 1);
        }
    }

    #[test]
    fn the_track_never_runs_behind_media_time(gaps in proptest::collection::vec(0u64..5000, 1..30)) {
        let frame = opus_frames(1).remove(0);
        let mut t = OpusTrack::new().unwrap();
        let mut time = 0;
        let mut total = 0u64;
        let mut end = 0;
        for g in gaps {
            total += t.push(time, &frame).len() as u64;
            end = time + 960;
            time = end + g;
        }
        // Every tick up to the last frame's end is played out (no gap here exceeds the cap).
        prop_assert_eq!(total, end);
    }
}

#[test]
fn whip_config_is_checked_with_a_hint() {
    use crate::config::Config;
    let ok = Config::parse(
        "[whip]\nenabled = true\nhosts = [\"127.0.0.1\", \"::1\"]\nport_min = 21000\nport_max = 21099\n",
        "c.toml",
    )
    .unwrap();
    assert_eq!(ok.whip.hosts.len(), 2);
    assert!(!Config::default().whip.enabled);
    for (toml, words) in [
        ("[whip]\nhosts = [\"0.0.0.0\"]\n", "not 0.0.0.0"),
        ("[whip]\nhosts = []\n", "local addresses"),
        ("[whip]\nport_min = 21000\n", "range"),
        ("[whip]\nport_min = 3\nport_max = 2\n", "range"),
        ("[whip]\nmedia_timeout_ms = 0\n", "at least 1"),
        (
            "[whip]\ncors_origins = [\"bad\\norigin\"]\n",
            "not an origin",
        ),
        ("[whip]\ntrickle = true\n", "unknown field"),
    ] {
        let e = Config::parse(toml, "c.toml").unwrap_err().to_string();
        assert!(e.contains(words), "{toml}: {e}");
    }
}
