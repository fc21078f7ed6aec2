use super::*;
use crate::call::Speaker;
use crate::sources::fork::{ForkError, ForkOutput, ForkSession};
use proptest::prelude::*;
use std::collections::HashMap;

fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn le_bytes(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Collects the samples per leg from a run of outputs.
fn samples_by_leg(outputs: &[ForkOutput]) -> HashMap<String, Vec<i16>> {
    let mut by_leg: HashMap<String, Vec<i16>> = HashMap::new();
    for o in outputs {
        if let ForkOutput::Audio { leg, samples, .. } = o {
            by_leg.entry(leg.clone()).or_default().extend(samples);
        }
    }
    by_leg
}

fn start_of(out: &[ForkOutput]) -> (&crate::call::CallInfo, &Vec<crate::call::LegInfo>, u32) {
    match out.first() {
        Some(ForkOutput::Start {
            call,
            legs,
            sample_rate,
        }) => (call, legs, *sample_rate),
        other => panic!("expected Start, got {other:?}"),
    }
}

#[test]
fn mono_metadata_starts_one_customer_leg() {
    let mut s = AudioForkSession::new(&query(&[]));
    let out = s
        .on_text(r#"{"callId":"fs-1","sampleRate":8000,"mixType":"mono","agent_id":"A1","queue":"loans"}"#)
        .unwrap();
    let (call, legs, rate) = start_of(&out);
    assert_eq!(rate, 8000);
    assert_eq!(call.call_id, "fs-1");
    assert_eq!(call.source, "audio_fork");
    assert_eq!(call.agent_id.as_deref(), Some("A1"));
    assert_eq!(call.queue.as_deref(), Some("loans"));
    assert_eq!(legs.len(), 1);
    assert_eq!(
        (legs[0].leg.as_str(), legs[0].speaker),
        ("mono", Speaker::Customer)
    );
}

#[test]
fn stereo_frames_split_mid_sample_and_between_channels() {
    let mut s = AudioForkSession::new(&query(&[("rate", "16000")]));
    let out = s.on_text(r#"{"uuid":"fs-2","mix_type":"stereo"}"#).unwrap();
    let (_, legs, rate) = start_of(&out);
    assert_eq!(rate, 16000);
    let names: Vec<_> = legs.iter().map(|l| (l.leg.as_str(), l.speaker)).collect();
    assert_eq!(
        names,
        vec![("left", Speaker::Customer), ("right", Speaker::Agent)]
    );

    // L0 R0 L1 R1 L2 R2 as bytes, cut after 1 byte (mid-sample) and after 6 bytes (between channels of a frame).
    let bytes = le_bytes(&[100, -100, 200, -200, 300, -300]);
    let mut outputs = Vec::new();
    for piece in [&bytes[..1], &bytes[1..6], &bytes[6..]] {
        outputs.extend(s.on_binary(piece).unwrap());
    }
    let by_leg = samples_by_leg(&outputs);
    assert_eq!(by_leg["left"], vec![100, 200, 300]);
    assert_eq!(by_leg["right"], vec![-100, -200, -300]);
}

#[test]
fn media_time_counts_samples_per_channel() {
    let mut s = AudioForkSession::new(&query(&[("rate", "8k"), ("mix", "stereo")]));
    let mut times = Vec::new();
    for _ in 0..3 {
        // 160 stereo frames = 20 ms at 8 kHz.
        for o in s.on_binary(&le_bytes(&[1; 320])).unwrap() {
            if let ForkOutput::Audio {
                leg,
                media_ms,
                samples,
            } = o
            {
                assert_eq!(samples.len(), 160);
                times.push((leg, media_ms));
            }
        }
    }
    let left: Vec<u64> = times
        .iter()
        .filter(|(l, _)| l == "left")
        .map(|t| t.1)
        .collect();
    assert_eq!(left, vec![0, 20, 40]);
}

#[test]
fn binary_before_metadata_starts_from_query() {
    let mut s = AudioForkSession::new(&query(&[
        ("sample_rate", "8000"),
        ("call_id", "q-1"),
        ("speaker", "agent"),
    ]));
    let out = s.on_binary(&le_bytes(&[5, 6])).unwrap();
    let (call, legs, _) = start_of(&out);
    assert_eq!(call.call_id, "q-1");
    assert_eq!(legs[0].speaker, Speaker::Agent);
    assert_eq!(samples_by_leg(&out)["mono"], vec![5, 6]);
    // Metadata arriving afterwards is an update and changes nothing.
    assert!(s.on_text(r#"{"sampleRate":16000}"#).unwrap().is_empty());
}

#[test]
fn metadata_wins_over_query_and_query_is_kept() {
    let mut s = AudioForkSession::new(&query(&[
        ("rate", "8000"),
        ("language", "en"),
        ("site", "sz"),
    ]));
    let out = s
        .on_text(r#"{"sampleRate":"16000","language":"zh"}"#)
        .unwrap();
    let (call, legs, rate) = start_of(&out);
    assert_eq!(rate, 16000);
    assert_eq!(legs[0].language.as_deref(), Some("zh"));
    assert_eq!(call.metadata["query.site"], "sz");
    assert!(
        !call.call_id.is_empty(),
        "a call id is generated when none is given"
    );
}

#[test]
fn roles_and_speaker_overrides() {
    let cases: &[(&str, &[(&str, Speaker)])] = &[
        (
            r#"{"roles":{"left":"agent","right":"customer"}}"#,
            &[("left", Speaker::Agent), ("right", Speaker::Customer)],
        ),
        (
            r#"{"roles":["agent","caller"]}"#,
            &[("left", Speaker::Agent), ("right", Speaker::Customer)],
        ),
        (
            r#"{"roles":"agent,customer"}"#,
            &[("left", Speaker::Agent), ("right", Speaker::Customer)],
        ),
        (
            r#"{"roles":{"right":"supervisor"}}"#,
            &[("left", Speaker::Customer), ("right", Speaker::Unknown)],
        ),
        (
            r#"{"channels":1,"speaker":"agent"}"#,
            &[("mono", Speaker::Agent)],
        ),
        (r#"{"mixType":"mixed"}"#, &[("mixed", Speaker::Unknown)]),
    ];
    for (meta, want) in cases {
        let mut s = AudioForkSession::new(&query(&[("rate", "8000"), ("channels", "2")]));
        let out = s.on_text(meta).unwrap();
        let (_, legs, _) = start_of(&out);
        let got: Vec<_> = legs.iter().map(|l| (l.leg.as_str(), l.speaker)).collect();
        assert_eq!(got, want.to_vec(), "{meta}");
    }
}

/// Query pairs, text frame, expected close code, text the message must contain.
type ErrorCase<'a> = (&'a [(&'a str, &'a str)], &'a str, u16, &'a str);

#[test]
fn errors_carry_close_codes() {
    let cases: &[ErrorCase] = &[
        (&[], r#"{"callId":"x"}"#, 1008, "sample rate unknown"),
        (&[], r#"{"sampleRate":11025}"#, 1003, "11025"),
        (&[], r#"{"sampleRate":96000}"#, 1003, "96000"),
        (&[], r#"{"sampleRate":"fast"}"#, 1007, "fast"),
        (
            &[("rate", "8000")],
            r#"{"mixType":"surround"}"#,
            1003,
            "surround",
        ),
        (&[("rate", "8000")], "not json", 1007, "invalid JSON"),
        (
            &[("rate", "8000")],
            r#""just a string""#,
            1007,
            "JSON object",
        ),
    ];
    for (q, text, code, needle) in cases {
        let err = AudioForkSession::new(&query(q)).on_text(text).unwrap_err();
        assert_eq!(err.close_code(), *code, "{text}: {err}");
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
    let err = AudioForkSession::new(&query(&[]))
        .on_binary(&[0, 0])
        .unwrap_err();
    assert_eq!(err, ForkError::SampleRateUnknown);
}

#[test]
fn close_stops_once_and_rejects_later_frames() {
    let mut s = AudioForkSession::new(&query(&[("rate", "8000")]));
    assert!(s.on_close().is_empty(), "nothing started, nothing to stop");
    let mut s = AudioForkSession::new(&query(&[("rate", "8000")]));
    s.on_binary(&[1, 0, 2]).unwrap();
    assert_eq!(s.on_close(), vec![ForkOutput::Stop]);
    assert!(s.on_close().is_empty());
    assert!(matches!(s.on_binary(&[0, 0]), Err(ForkError::AfterStop(_))));
}

proptest! {
    #[test]
    fn any_split_yields_the_same_samples(
        samples in prop::collection::vec(any::<i16>(), 0..400),
        stereo in any::<bool>(),
        cuts in prop::collection::vec(0usize..800, 0..10),
    ) {
        let mut samples = samples;
        if stereo && samples.len() % 2 == 1 {
            samples.pop();
        }
        let bytes = le_bytes(&samples);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mix = if stereo { "stereo" } else { "mono" };
        let mut s = AudioForkSession::new(&query(&[("rate", "8000"), ("mix", mix)]));
        let mut outputs = s.on_text("{}").unwrap();
        for w in cuts.windows(2) {
            outputs.extend(s.on_binary(&bytes[w[0]..w[1]]).unwrap());
        }
        let by_leg = samples_by_leg(&outputs);
        if stereo {
            let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
            let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
            prop_assert_eq!(by_leg.get("left").cloned().unwrap_or_default(), left);
            prop_assert_eq!(by_leg.get("right").cloned().unwrap_or_default(), right);
        } else {
            prop_assert_eq!(by_leg.get("mono").cloned().unwrap_or_default(), samples);
        }
    }

    #[test]
    fn arbitrary_frames_never_panic(
        q in prop::collection::hash_map("[a-zA-Z_]{1,12}", ".{0,12}", 0..5),
        frames in prop::collection::vec(
            prop_oneof![
                ".{0,80}".prop_map(Err),
                prop::collection::vec(any::<u8>(), 0..300).prop_map(Ok),
            ],
            0..10,
        ),
    ) {
        let mut s = AudioForkSession::new(&q);
        for f in frames {
            let _ = match f {
                Err(text) => s.on_text(&text),
                Ok(bytes) => s.on_binary(&bytes),
            };
        }
        let _ = s.on_close();
    }
}
