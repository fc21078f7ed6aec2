use super::*;
use crate::call::Speaker;
use crate::sources::fork::{ForkError, ForkOutput, ForkSession};
use crate::transforms::decode::g711::linear_to_ulaw;
use base64::Engine;
use proptest::prelude::*;
use serde_json::json;

fn start_msg(params: serde_json::Value) -> String {
    json!({
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": "AC123",
            "streamSid": "MZ123",
            "callSid": "CA123",
            "tracks": ["inbound", "outbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        },
        "streamSid": "MZ123"
    })
    .to_string()
}

fn media_msg(seq: u64, track: &str, ts: u64, samples: &[i16]) -> String {
    let bytes: Vec<u8> = samples.iter().map(|&s| linear_to_ulaw(s)).collect();
    json!({
        "event": "media",
        "sequenceNumber": seq.to_string(),
        "media": {
            "track": track,
            "chunk": "1",
            "timestamp": ts.to_string(),
            "payload": base64::engine::general_purpose::STANDARD.encode(bytes)
        },
        "streamSid": "MZ123"
    })
    .to_string()
}

fn started(params: serde_json::Value) -> (TwilioSession, Vec<ForkOutput>) {
    let mut s = TwilioSession::new();
    assert!(s
        .on_text(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#)
        .unwrap()
        .is_empty());
    let out = s.on_text(&start_msg(params)).unwrap();
    (s, out)
}

#[test]
fn start_announces_call_and_default_speakers() {
    let (s, out) = started(json!({"agent_id": "A-7", "queue": "cards", "language": "zh"}));
    let [ForkOutput::Start {
        call,
        legs,
        sample_rate,
    }] = out.as_slice()
    else {
        panic!("expected one Start, got {out:?}");
    };
    assert_eq!(*sample_rate, 8000);
    assert_eq!(call.call_id, "CA123");
    assert_eq!(call.source, "twilio");
    assert_eq!(call.agent_id.as_deref(), Some("A-7"));
    assert_eq!(call.queue.as_deref(), Some("cards"));
    assert_eq!(call.metadata["streamSid"], "MZ123");
    assert_eq!(s.stream_sid(), Some("MZ123"));
    let got: Vec<_> = legs
        .iter()
        .map(|l| {
            (
                l.leg.as_str(),
                l.speaker,
                l.participant.as_deref(),
                l.language.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("inbound", Speaker::Customer, None, Some("zh")),
            ("outbound", Speaker::Agent, Some("A-7"), Some("zh")),
        ]
    );
}

#[test]
fn custom_parameters_override_roles_and_languages() {
    let (_, out) = started(json!({
        "inbound_role": "agent",
        "outbound_role": "客户",
        "outbound_language": "en",
    }));
    let ForkOutput::Start { legs, .. } = &out[0] else {
        panic!()
    };
    assert_eq!(legs[0].speaker, Speaker::Agent);
    assert_eq!(legs[1].speaker, Speaker::Customer);
    assert_eq!(legs[0].language, None);
    assert_eq!(legs[1].language.as_deref(), Some("en"));
}

#[test]
fn media_is_decoded_and_timed() {
    let (mut s, _) = started(json!({}));
    let pcm: Vec<i16> = (0..160).map(|i| (i * 100 - 8000) as i16).collect();
    let out = s.on_text(&media_msg(2, "outbound", 40, &pcm)).unwrap();
    let [ForkOutput::Audio {
        leg,
        media_ms,
        samples,
    }] = out.as_slice()
    else {
        panic!("expected audio, got {out:?}");
    };
    assert_eq!(leg, "outbound");
    assert_eq!(*media_ms, 40);
    assert_eq!(samples.len(), 160);
    for (a, b) in samples.iter().zip(&pcm) {
        assert!((*a as i32 - *b as i32).abs() <= 16 + b.abs() as i32 / 16);
    }
    assert_eq!(
        s.on_text(r#"{"event":"stop","stop":{}}"#).unwrap(),
        vec![ForkOutput::Stop]
    );
    assert!(s.on_close().is_empty(), "Stop must be emitted once");
}

#[test]
fn mark_dtmf_and_unknown_events_are_ignored() {
    let (mut s, _) = started(json!({}));
    for msg in [
        r#"{"event":"mark","mark":{"name":"x"}}"#,
        r#"{"event":"dtmf","dtmf":{"track":"inbound_track","digit":"5"}}"#,
        r#"{"event":"somethingNew","x":1}"#,
    ] {
        assert!(s.on_text(msg).unwrap().is_empty(), "{msg}");
    }
}

#[test]
fn close_without_stop_yields_stop() {
    let (mut s, _) = started(json!({}));
    assert_eq!(s.on_close(), vec![ForkOutput::Stop]);
    assert!(TwilioSession::new().on_close().is_empty());
}

#[test]
fn counts_sequence_gaps() {
    let (mut s, _) = started(json!({}));
    s.on_text(&media_msg(2, "inbound", 0, &[0; 160])).unwrap();
    s.on_text(&media_msg(5, "inbound", 60, &[0; 160])).unwrap();
    assert_eq!(s.sequence_gaps(), 2);
}

#[test]
fn regression_huge_sequence_numbers_do_not_overflow() {
    let (mut s, _) = started(json!({}));
    let max = json!({"event":"mark","sequenceNumber": u64::MAX}).to_string();
    s.on_text(&max).unwrap();
    s.on_text(&max).unwrap();
    s.on_text(r#"{"event":"mark","sequenceNumber":"0"}"#)
        .unwrap();
    s.on_text(&max).unwrap();
    // (MAX - 2) + (MAX - 1) saturates.
    assert_eq!(s.sequence_gaps(), u64::MAX);
}

/// Name, setup frame, frame under test, expected error kind, expected close code.
type ErrorCase = (
    &'static str,
    Option<String>,
    String,
    fn(&ForkError) -> bool,
    u16,
);

#[test]
fn errors_carry_close_codes() {
    let inbound_only =
        json!({"event":"start","start":{"callSid":"CA1","tracks":["inbound"]}}).to_string();
    let alaw = json!({"event":"start","start":{"callSid":"CA1","mediaFormat":{"encoding":"audio/x-alaw","sampleRate":8000,"channels":1}}}).to_string();
    let wideband = json!({"event":"start","start":{"callSid":"CA1","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":16000,"channels":1}}}).to_string();
    let no_call = json!({"event":"start","start":{"streamSid":"MZ"}}).to_string();
    let bad_b64 =
        json!({"event":"media","media":{"track":"inbound","timestamp":"0","payload":"!!!"}})
            .to_string();
    let bad_ts =
        json!({"event":"media","media":{"track":"inbound","timestamp":"soon","payload":""}})
            .to_string();
    let stop = r#"{"event":"stop"}"#.to_string();
    let cases: Vec<ErrorCase> = vec![
        (
            "invalid json",
            None,
            "{not json".into(),
            |e| matches!(e, ForkError::InvalidJson(_)),
            1007,
        ),
        (
            "not an object",
            None,
            "[1,2]".into(),
            |e| matches!(e, ForkError::InvalidJson(_)),
            1007,
        ),
        (
            "no event",
            None,
            r#"{"x":1}"#.into(),
            |e| matches!(e, ForkError::Malformed { .. }),
            1007,
        ),
        (
            "media before start",
            None,
            media_msg(1, "inbound", 0, &[0]),
            |e| matches!(e, ForkError::BeforeStart(_)),
            1008,
        ),
        (
            "a-law",
            None,
            alaw,
            |e| matches!(e, ForkError::UnsupportedFormat { .. }),
            1003,
        ),
        (
            "16 kHz",
            None,
            wideband,
            |e| matches!(e, ForkError::UnsupportedFormat { .. }),
            1003,
        ),
        (
            "no callSid",
            None,
            no_call,
            |e| matches!(e, ForkError::Malformed { .. }),
            1007,
        ),
        (
            "bad base64",
            Some(inbound_only.clone()),
            bad_b64,
            |e| matches!(e, ForkError::BadBase64(_)),
            1007,
        ),
        (
            "bad timestamp",
            Some(inbound_only.clone()),
            bad_ts,
            |e| matches!(e, ForkError::Malformed { .. }),
            1007,
        ),
        (
            "unknown track",
            Some(inbound_only.clone()),
            media_msg(2, "outbound", 0, &[0]),
            |e| matches!(e, ForkError::UnknownTrack { .. }),
            1007,
        ),
        (
            "second start",
            Some(inbound_only.clone()),
            inbound_only.clone(),
            |e| matches!(e, ForkError::DuplicateStart),
            1008,
        ),
        (
            "stop before start",
            None,
            stop,
            |e| matches!(e, ForkError::BeforeStart(_)),
            1008,
        ),
    ];
    for (name, setup, msg, is_expected, code) in cases {
        let mut s = TwilioSession::new();
        if let Some(setup) = setup {
            s.on_text(&setup).unwrap();
        }
        let err = s.on_text(&msg).expect_err(name);
        assert!(is_expected(&err), "{name}: got {err:?}");
        assert_eq!(err.close_code(), code, "{name}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        TwilioSession::new()
            .on_binary(&[1, 2])
            .unwrap_err()
            .close_code(),
        1003
    );
}

#[test]
fn unsupported_format_message_names_the_supported_one() {
    let alaw = json!({"event":"start","start":{"callSid":"CA1","mediaFormat":{"encoding":"audio/x-alaw","sampleRate":8000,"channels":1}}}).to_string();
    let err = TwilioSession::new().on_text(&alaw).unwrap_err().to_string();
    assert!(
        err.contains("audio/x-alaw") && err.contains("only audio/x-mulaw, 8000 Hz"),
        "{err}"
    );
}

#[test]
fn media_after_stop_is_rejected() {
    let (mut s, _) = started(json!({}));
    s.on_text(r#"{"event":"stop"}"#).unwrap();
    let err = s.on_text(&media_msg(3, "inbound", 0, &[0])).unwrap_err();
    assert!(matches!(err, ForkError::AfterStop(_)));
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(texts in prop::collection::vec(".{0,200}", 1..8)) {
        let (mut s, _) = started(json!({}));
        for t in &texts {
            let _ = s.on_text(t);
        }
        let _ = s.on_close();
    }

    #[test]
    fn arbitrary_json_shapes_never_panic(
        event in prop::sample::select(vec!["start", "media", "stop", "mark", "connected"]),
        body in prop::sample::select(vec![
            json!(null), json!(1), json!("x"), json!([]), json!({}),
            json!({"track": 5, "timestamp": -1, "payload": 3}),
            json!({"callSid": 1, "tracks": "inbound", "mediaFormat": []}),
            json!({"callSid": "C", "tracks": ["x"]}),
            json!({"track": "inbound", "timestamp": "18446744073709551616", "payload": "AA=="}),
        ]),
        seq in prop::sample::select(vec![json!("1"), json!(u64::MAX), json!("x"), json!(null)]),
    ) {
        let msg = json!({"event": event, event: body, "sequenceNumber": seq}).to_string();
        let mut fresh = TwilioSession::new();
        let _ = fresh.on_text(&msg);
        let (mut s, _) = started(json!({}));
        let _ = s.on_text(&msg);
        let _ = s.on_text(&msg);
    }

    #[test]
    fn any_payload_decodes_to_one_sample_per_byte(bytes in prop::collection::vec(any::<u8>(), 1..400)) {
        let (mut s, _) = started(json!({}));
        let msg = json!({"event":"media","media":{"track":"inbound","timestamp":"20",
            "payload": base64::engine::general_purpose::STANDARD.encode(&bytes)}}).to_string();
        let out = s.on_text(&msg).unwrap();
        let ForkOutput::Audio { samples, .. } = &out[0] else { panic!() };
        prop_assert_eq!(samples.len(), bytes.len());
    }
}
