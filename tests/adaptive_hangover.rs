//! What the adaptive hangover buys and costs on the Mandarin accuracy calls (two-leg, six
//! voices, 16 kHz and their 8 kHz telephone copies): how long after a speaker stops each
//! utterance closes, against how many reference lines end up cut into two utterances (Whisper
//! hears a half sentence worse). Prints the figures quoted in the README:
//! `cargo test --release --test adaptive_hangover -- --nocapture`.

use callwatch::sources::file::decode_file;
use callwatch::transforms::decode::LegDecoder;
use callwatch::transforms::segment::{SegmentEvent, Segmenter, SegmenterConfig};
use serde_json::Value;
use std::path::Path;

struct Measured {
    utterances: usize,
    lines: usize,
    split_lines: usize,
    /// Media time from the last speech in an utterance (its end less the tail) to its close.
    close_delays_ms: Vec<u64>,
    /// Every utterance as (call, rate, leg channel, start ms, end ms).
    cuts: Vec<(String, String, usize, u64, u64)>,
    /// The lines cut in two or more, as (call, rate, text).
    split: Vec<(String, String, String)>,
}

fn measure(cfg: &SegmenterConfig) -> Measured {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/accuracy");
    let mut m = Measured {
        utterances: 0,
        lines: 0,
        split_lines: 0,
        close_delays_ms: Vec::new(),
        cuts: Vec::new(),
        split: Vec::new(),
    };
    let mut sidecars: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    sidecars.sort();
    for sidecar in sidecars {
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
        if meta["language"] != "zh" {
            continue;
        }
        let name = meta["name"].as_str().unwrap().to_string();
        for (rate, file) in meta["files"].as_object().unwrap() {
            let audio = decode_file(&dir.join(file.as_str().unwrap())).unwrap();
            for leg in meta["legs"].as_array().unwrap() {
                let channel = leg["channel"].as_u64().unwrap() as usize;
                let mut decoder = LegDecoder::new(audio.sample_rate).unwrap();
                let mut pcm = decoder.push(&audio.channels[channel]);
                pcm.extend(decoder.flush());
                let mut seg = Segmenter::new(cfg.clone()).unwrap();
                let mut finals: Vec<(u64, u64)> = Vec::new();
                for piece in pcm.chunks(320) {
                    for e in seg.push(piece) {
                        if let SegmentEvent::Final {
                            start_ms, end_ms, ..
                        } = e
                        {
                            finals.push((start_ms, end_ms));
                            let last_speech = end_ms - u64::from(cfg.tail_ms);
                            m.close_delays_ms.push(seg.media_ms() - last_speech);
                        }
                    }
                }
                for e in seg.finish() {
                    if let SegmentEvent::Final {
                        start_ms, end_ms, ..
                    } = e
                    {
                        finals.push((start_ms, end_ms));
                    }
                }
                m.utterances += finals.len();
                m.cuts.extend(
                    finals
                        .iter()
                        .map(|&(s, e)| (name.clone(), rate.clone(), channel, s, e)),
                );
                for line in leg["utterances"].as_array().unwrap() {
                    let start = (line["start_s"].as_f64().unwrap() * 1000.0) as u64;
                    let end = (line["end_s"].as_f64().unwrap() * 1000.0) as u64;
                    // Utterances holding a good part (a quarter second) of the line's speech.
                    let holding = finals
                        .iter()
                        .filter(|&&(s, e)| e.min(end).saturating_sub(s.max(start)) >= 250)
                        .count();
                    m.lines += 1;
                    if holding > 1 {
                        m.split_lines += 1;
                        let text = line["text"].as_str().unwrap().to_string();
                        m.split.push((name.clone(), rate.clone(), text));
                    }
                }
            }
        }
    }
    m
}

fn percentile(v: &[u64], p: f64) -> u64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn adaptive_hangover_closes_sooner_without_cutting_more_lines() {
    let fixed = SegmenterConfig::default();
    let adaptive = SegmenterConfig {
        adaptive_hangover: true,
        ..SegmenterConfig::default()
    };
    let mut rows = Vec::new();
    for (label, cfg) in [("fixed 600 ms", &fixed), ("adaptive 300-600 ms", &adaptive)] {
        let m = measure(cfg);
        let mean = m.close_delays_ms.iter().sum::<u64>() / m.close_delays_ms.len() as u64;
        println!(
            "{label}: {} utterances, {} of {} lines cut in two or more; close after last speech: mean {mean} ms, p50 {} ms, p95 {} ms",
            m.utterances,
            m.split_lines,
            m.lines,
            percentile(&m.close_delays_ms, 0.5),
            percentile(&m.close_delays_ms, 0.95),
        );
        assert!(m.lines >= 100, "{} lines", m.lines);
        rows.push((m, mean));
    }
    let ((fixed, fixed_mean), (adaptive, adaptive_mean)) = (&rows[0], &rows[1]);
    // Only the utterances cut differently can be heard differently.
    let same = adaptive
        .cuts
        .iter()
        .filter(|c| fixed.cuts.contains(c))
        .count();
    println!(
        "the same {same} of {} utterances either way; lines cut only when adaptive: {:?}",
        adaptive.utterances,
        adaptive
            .split
            .iter()
            .filter(|l| !fixed.split.contains(l))
            .collect::<Vec<_>>()
    );
    assert!(
        adaptive_mean < fixed_mean,
        "adaptive closes no sooner: {adaptive_mean} ms against {fixed_mean} ms"
    );
    // A cut is a sentence the recogniser hears in halves; one more in a hundred lines at most.
    assert!(
        adaptive.split_lines <= fixed.split_lines + fixed.lines / 100,
        "adaptive cuts {} lines, fixed {}",
        adaptive.split_lines,
        fixed.split_lines
    );
}
