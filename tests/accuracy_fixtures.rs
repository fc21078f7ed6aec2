//! The accuracy report's Mandarin calls (`fixtures/accuracy/`) are what their sidecars say:
//! both copies decode at their rates with two legs of the stated length, speech sits where the
//! timeline puts it, and exact matching on each reference line finds exactly the terms the line
//! was written to carry, so the report's recall and precision rest on a known truth.

mod common;

use callwatch::call::Speaker;
use callwatch::sources::file::decode_file;
use callwatch::transforms::matcher::{Lexicon, MatchMode, Matcher};
use common::sidecar::sidecars;
use std::path::PathBuf;

/// The shipped lexicons with every term spelled exactly: what a perfect transcript would hit.
fn exact() -> Matcher {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut lex = Lexicon::load_dir(&root.join("lexicons")).unwrap();
    for t in &mut lex.terms {
        t.mode = MatchMode::Exact;
    }
    Matcher::new(lex).unwrap()
}

#[test]
fn reference_lines_hit_exactly_their_expected_terms() {
    let matcher = exact();
    let (mut hits, mut calls_without) = (0, 0);
    let calls = sidecars("fixtures/accuracy");
    assert!(calls.len() >= 10, "{} accuracy calls", calls.len());
    for (path, call) in &calls {
        let mut in_call = 0;
        for leg in call["legs"].as_array().unwrap() {
            let speaker = Speaker::parse(leg["speaker"].as_str().unwrap()).unwrap();
            for u in leg["utterances"].as_array().unwrap() {
                let text = u["text"].as_str().unwrap();
                let mut found: Vec<(String, String)> = matcher
                    .find(text, speaker)
                    .iter()
                    .map(|m| {
                        let t = matcher.term(m.term_id);
                        (t.text.clone(), t.category.clone())
                    })
                    .collect();
                let mut want: Vec<(String, String)> = u["expected_hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        (
                            h["term"].as_str().unwrap().to_string(),
                            h["category"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect();
                found.sort();
                want.sort();
                assert_eq!(found, want, "{}: {speaker:?} {text}", path.display());
                in_call += want.len();
            }
        }
        hits += in_call;
        calls_without += usize::from(in_call == 0);
    }
    assert!(hits >= 50, "only {hits} target terms in the accuracy calls");
    assert!(
        calls_without >= 3,
        "{calls_without} calls without a target term"
    );
}

#[test]
fn both_copies_decode_with_speech_where_the_timeline_says() {
    for (path, call) in sidecars("fixtures/accuracy") {
        let duration = call["duration_s"].as_f64().unwrap();
        for (rate, file) in call["files"].as_object().unwrap() {
            let rate: u32 = rate.parse().unwrap();
            let audio = decode_file(
                &common::root()
                    .join("fixtures/accuracy")
                    .join(file.as_str().unwrap()),
            )
            .unwrap();
            assert_eq!(audio.sample_rate, rate, "{file}");
            assert_eq!(audio.channels.len(), 2, "{file}");
            let secs = audio.channels[0].len() as f64 / f64::from(rate);
            assert!(
                (secs - duration).abs() < 0.01,
                "{file}: {secs} s vs {duration} s"
            );
            for (leg, pcm) in call["legs"].as_array().unwrap().iter().zip(&audio.channels) {
                let rms = |a: f64, b: f64| {
                    let s = &pcm[(a * f64::from(rate)) as usize..(b * f64::from(rate)) as usize];
                    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len() as f64).sqrt()
                };
                let utterances = leg["utterances"].as_array().unwrap();
                let mut quiet_from = 0.0;
                for u in utterances {
                    let (a, b) = (u["start_s"].as_f64().unwrap(), u["end_s"].as_f64().unwrap());
                    let speech = rms(a, b);
                    assert!(
                        speech > 300.0,
                        "{}: {a}-{b} s is not speech ({speech})",
                        path.display()
                    );
                    if a - quiet_from > 0.2 {
                        // Silent on the wideband copy, a noise floor well below speech on the phone one.
                        let gap = rms(quiet_from + 0.05, a - 0.05);
                        assert!(
                            gap < speech / 3.0,
                            "{}: {quiet_from}-{a} s is loud ({gap})",
                            path.display()
                        );
                    }
                    quiet_from = b;
                }
            }
        }
    }
}
