use super::*;
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    utterances: Vec<ExpectedUtterance>,
    tolerance_ms: u64,
}

#[derive(Deserialize)]
struct ExpectedUtterance {
    start_ms: u64,
    end_ms: u64,
}

fn fixture() -> (Vec<f32>, Expected) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/segment/");
    let mut reader = hound::WavReader::open(format!("{dir}two_utterances.wav")).unwrap();
    assert_eq!(reader.spec().sample_rate, 16_000);
    assert_eq!(reader.spec().channels, 1);
    let audio = reader
        .samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    let json = std::fs::read_to_string(format!("{dir}two_utterances.json")).unwrap();
    (audio, serde_json::from_str(&json).unwrap())
}

/// Deterministic xorshift noise source.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn scale_to_dbfs(mut x: Vec<f32>, dbfs: f32) -> Vec<f32> {
    let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
    let gain = 10f32.powf(dbfs / 20.0) / rms;
    x.iter_mut().for_each(|v| *v *= gain);
    x
}

fn white_noise(n: usize, dbfs: f32, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    scale_to_dbfs((0..n).map(|_| rng.uniform()).collect(), dbfs)
}

/// Pink noise by Paul Kellet's economy filter over white noise.
fn pink_noise(n: usize, dbfs: f32, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let (mut b0, mut b1, mut b2) = (0f32, 0f32, 0f32);
    let x = (0..n)
        .map(|_| {
            let w = rng.uniform();
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            b0 + b1 + b2 + w * 0.1848
        })
        .collect();
    scale_to_dbfs(x, dbfs)
}

fn run(cfg: SegmenterConfig, audio: &[f32], chunk: usize) -> Vec<SegmentEvent> {
    let mut seg = Segmenter::new(cfg).unwrap();
    let mut events = Vec::new();
    for piece in audio.chunks(chunk) {
        events.extend(seg.push(piece));
    }
    events.extend(seg.finish());
    events
}

fn finals(events: &[SegmentEvent]) -> Vec<(u64, u64, u64, usize, f32)> {
    events
        .iter()
        .filter_map(|e| match e {
            SegmentEvent::Final {
                utterance,
                start_ms,
                end_ms,
                audio,
                speech_ratio,
            } => Some((*utterance, *start_ms, *end_ms, audio.len(), *speech_ratio)),
            _ => None,
        })
        .collect()
}

fn assert_matches_fixture(events: &[SegmentEvent], expected: &Expected, label: &str) {
    let cfg = SegmenterConfig::default();
    let got = finals(events);
    assert_eq!(got.len(), expected.utterances.len(), "{label}: {got:?}");
    let tol = expected.tolerance_ms;
    for (g, e) in got.iter().zip(&expected.utterances) {
        let (_, start, end, len, ratio) = *g;
        let start_lo = e.start_ms.saturating_sub(cfg.pre_roll_ms as u64 + tol);
        assert!(
            (start_lo..=e.start_ms + tol).contains(&start),
            "{label}: start {start} vs expected {}",
            e.start_ms
        );
        assert!(
            (e.end_ms.saturating_sub(tol)..=e.end_ms + cfg.tail_ms as u64 + tol).contains(&end),
            "{label}: end {end} vs expected {}",
            e.end_ms
        );
        assert_eq!(
            len as u64,
            (end - start) * 16,
            "{label}: audio length matches times"
        );
        assert!(ratio > 0.5 && ratio <= 1.0, "{label}: speech ratio {ratio}");
    }
}

#[test]
fn finds_the_utterances_in_recorded_speech() {
    let (audio, expected) = fixture();
    let events = run(SegmenterConfig::default(), &audio, 320);
    assert_matches_fixture(&events, &expected, "clean");
}

#[test]
fn chunking_does_not_change_the_result() {
    let (audio, _) = fixture();
    let whole = run(SegmenterConfig::default(), &audio, audio.len());
    for chunk in [1usize, 77, 160, 1000] {
        assert_eq!(
            run(SegmenterConfig::default(), &audio, chunk),
            whole,
            "chunk {chunk}"
        );
    }
}

#[test]
fn finds_the_utterances_under_background_noise() {
    let (audio, expected) = fixture();
    for (name, noise) in [
        ("white", white_noise(audio.len(), -35.0, 7)),
        ("pink", pink_noise(audio.len(), -35.0, 11)),
    ] {
        let noisy: Vec<f32> = audio.iter().zip(&noise).map(|(a, n)| a + n).collect();
        let events = run(SegmenterConfig::default(), &noisy, 320);
        assert_matches_fixture(&events, &expected, name);
    }
}

#[test]
fn silence_and_noise_give_no_utterances() {
    let n = 16_000 * 20;
    let cases = [
        ("digital silence", vec![0.0f32; n]),
        ("dither", white_noise(n, -70.0, 1)),
        // The fixture's speech is about -25 dBFS RMS, so -35 dBFS noise is a 10 dB SNR.
        ("white -35 dBFS", white_noise(n, -35.0, 2)),
        ("pink -35 dBFS", pink_noise(n, -35.0, 3)),
        ("white -40 dBFS", white_noise(n, -40.0, 4)),
        ("pink -40 dBFS", pink_noise(n, -40.0, 5)),
    ];
    for (name, audio) in cases {
        let events = run(SegmenterConfig::default(), &audio, 320);
        assert!(events.is_empty(), "{name}: {:?}", finals(&events));
    }
}

#[test]
fn long_speech_is_cut_at_the_limit_without_gaps() {
    let (audio, expected) = fixture();
    let first = &expected.utterances[0];
    let speech = &audio[first.start_ms as usize * 16..first.end_ms as usize * 16];
    // Two copies back to back: about 5.3 s of uninterrupted speech.
    let mut long: Vec<f32> = speech.to_vec();
    long.extend_from_slice(speech);
    long.extend(vec![0.0; 16_000]);
    let cfg = SegmenterConfig {
        max_utterance_ms: 2_000,
        ..SegmenterConfig::default()
    };
    let got = finals(&run(cfg, &long, 320));
    assert!(got.len() >= 3, "{got:?}");
    for w in got.windows(2) {
        assert_eq!(
            w[0].2, w[1].1,
            "next utterance starts where the cut fell: {got:?}"
        );
        assert_eq!(w[1].0, w[0].0 + 1, "ids increase");
    }
    for g in &got {
        assert!(g.2 - g.1 <= 2_000, "{g:?}");
    }
    assert!(
        got[0].2 - got[0].1 == 2_000,
        "first piece is cut at the limit: {got:?}"
    );
}

#[test]
fn partials_arrive_every_second_and_prefix_the_final() {
    let (audio, _) = fixture();
    let events = run(SegmenterConfig::default(), &audio, 160);
    let mut open_partials: Vec<&SegmentEvent> = Vec::new();
    let mut checked = 0;
    for e in &events {
        match e {
            SegmentEvent::Partial { .. } => open_partials.push(e),
            SegmentEvent::Speculative { .. } => {}
            SegmentEvent::Final {
                utterance,
                start_ms,
                audio,
                ..
            } => {
                let before_close = audio.len() / 16_000;
                assert!(
                    !open_partials.is_empty(),
                    "utterance {utterance} had no partial"
                );
                for (k, p) in open_partials.iter().enumerate() {
                    let SegmentEvent::Partial {
                        utterance: pu,
                        start_ms: ps,
                        end_ms: pe,
                        audio_so_far,
                    } = p
                    else {
                        unreachable!()
                    };
                    assert_eq!((pu, ps), (utterance, start_ms));
                    // Once per second of utterance audio, within a frame.
                    let due = (k as u64 + 1) * 1000;
                    assert!(
                        (due..due + 20).contains(&(pe - ps)),
                        "partial {k} at {}",
                        pe - ps
                    );
                    assert_eq!(
                        &audio[..audio_so_far.len().min(audio.len())],
                        &audio_so_far[..audio_so_far.len().min(audio.len())]
                    );
                }
                assert!(open_partials.len() <= before_close + 2);
                open_partials.clear();
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2);
}

#[test]
fn finish_closes_an_open_utterance() {
    let (audio, expected) = fixture();
    let cut = (expected.utterances[0].start_ms + 1_200) as usize * 16;
    let mut seg = Segmenter::new(SegmenterConfig::default()).unwrap();
    assert!(finals(&seg.push(&audio[..cut])).is_empty());
    assert!(seg.in_utterance());
    let got = finals(&seg.finish());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, cut as u64 / 16, "ends at the end of the leg");
    assert!(seg.finish().is_empty());
}

#[test]
fn partials_can_be_turned_off() {
    let (audio, _) = fixture();
    let cfg = SegmenterConfig {
        partial_every_ms: 0,
        speculative: false,
        ..SegmenterConfig::default()
    };
    let events = run(cfg, &audio, 320);
    assert!(events
        .iter()
        .all(|e| matches!(e, SegmentEvent::Final { .. })));
    assert_eq!(events.len(), 2);
}

/// Speech, then `gap_ms` of silence, then speech again, then a long silence.
fn speech_gap_speech(gap_ms: usize) -> Vec<f32> {
    let (audio, expected) = fixture();
    let u = &expected.utterances[0];
    let speech = &audio[u.start_ms as usize * 16..u.end_ms as usize * 16];
    let mut v = vec![0.0f32; 16 * 500];
    v.extend_from_slice(speech);
    v.extend(std::iter::repeat_n(0.0, gap_ms * 16));
    v.extend_from_slice(speech);
    v.extend(std::iter::repeat_n(0.0, 16 * 1500));
    v
}

/// Finals of `audio` pushed 20 ms at a time, each with the media time it was emitted at.
fn finals_with_emit_time(cfg: SegmenterConfig, audio: &[f32]) -> Vec<(u64, u64, u64)> {
    let mut seg = Segmenter::new(cfg).unwrap();
    let mut out = Vec::new();
    for piece in audio.chunks(320) {
        for e in seg.push(piece) {
            if let SegmentEvent::Final {
                start_ms, end_ms, ..
            } = e
            {
                out.push((start_ms, end_ms, seg.media_ms()));
            }
        }
    }
    out
}

#[test]
fn an_adaptive_hangover_closes_sooner_after_short_pauses_and_keeps_the_cuts() {
    // One speaker, eight stretches of speech 250 ms apart, then a long silence.
    let (audio, expected) = fixture();
    let u = &expected.utterances[0];
    let speech = &audio[u.start_ms as usize * 16..u.end_ms as usize * 16];
    let mut v = vec![0.0f32; 16 * 500];
    for _ in 0..8 {
        v.extend_from_slice(speech);
        v.extend(std::iter::repeat_n(0.0, 16 * 250));
    }
    v.extend(std::iter::repeat_n(0.0, 16 * 1500));
    let fixed = finals_with_emit_time(SegmenterConfig::default(), &v);
    let adaptive = finals_with_emit_time(
        SegmenterConfig {
            adaptive_hangover: true,
            ..SegmenterConfig::default()
        },
        &v,
    );
    // The same utterances, cut at the same places: 250 ms pauses never closed one.
    let cuts = |f: &[(u64, u64, u64)]| f.iter().map(|&(s, e, _)| (s, e)).collect::<Vec<_>>();
    assert_eq!(cuts(&adaptive), cuts(&fixed));
    // The first cut falls at the 15 s limit; the second closes on the hangover.
    assert_eq!(fixed.len(), 2, "{fixed:?}");
    // Emitted once the hangover has passed: 600 ms after the last speech fixed, at most
    // 250 + 100 adaptive (the recording's own pauses may be longer).
    let (_, end, fixed_at) = fixed[1];
    let (_, _, adaptive_at) = adaptive[1];
    let tail = SegmenterConfig::default().tail_ms as u64;
    assert_eq!(fixed_at, end - tail + 600);
    assert!(
        adaptive_at < fixed_at && adaptive_at >= end - tail + 300,
        "adaptive close at {adaptive_at} ms, fixed at {fixed_at} ms"
    );
}

#[test]
fn a_speculation_carries_exactly_the_audio_and_ratio_of_the_final_when_silence_holds() {
    let cfg = SegmenterConfig::default();
    let events = run(cfg.clone(), &speech_gap_speech(2000), 320);
    let mut checked = 0;
    for (i, e) in events.iter().enumerate() {
        let SegmentEvent::Final {
            utterance,
            end_ms,
            audio,
            speech_ratio,
            ..
        } = e
        else {
            continue;
        };
        // The last speculation of this utterance, sent before its close.
        let spec = events[..i].iter().rev().find_map(|p| match p {
            SegmentEvent::Speculative {
                utterance: u,
                end_ms: se,
                audio: sa,
                speech_ratio: sr,
                ..
            } if u == utterance => Some((*se, sa.clone(), *sr)),
            _ => None,
        });
        let (spec_end, spec_audio, spec_ratio) = spec.expect("a speculation before the close");
        assert_eq!(spec_end, *end_ms);
        assert_eq!(&spec_audio[..], &audio[..]);
        assert_eq!(spec_ratio, *speech_ratio);
        checked += 1;
    }
    assert_eq!(checked, 2, "two utterances, each with its speculation");
}

#[test]
fn speech_after_a_speculation_makes_it_stale_and_a_new_one_follows() {
    // A 400 ms pause: longer than the tail (speculate), shorter than the hangover (no close).
    let events = run(SegmenterConfig::default(), &speech_gap_speech(400), 320);
    let finals: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            SegmentEvent::Final { audio, .. } => Some(audio.len()),
            _ => None,
        })
        .collect();
    assert_eq!(finals.len(), 1, "one utterance across the pause");
    let specs: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            SegmentEvent::Speculative { audio, .. } => Some(audio.len()),
            _ => None,
        })
        .collect();
    assert!(specs.len() >= 2, "{specs:?}");
    assert!(
        specs[0] < finals[0],
        "the pause's speculation is shorter than the final"
    );
    assert_eq!(*specs.last().unwrap(), finals[0]);
    // Turned off, there are none.
    let off = run(
        SegmenterConfig {
            speculative: false,
            ..SegmenterConfig::default()
        },
        &speech_gap_speech(400),
        320,
    );
    assert!(!off
        .iter()
        .any(|e| matches!(e, SegmentEvent::Speculative { .. })));
}

#[test]
fn rejects_inconsistent_configs() {
    let d = SegmenterConfig::default;
    let cases: Vec<(SegmenterConfig, &str)> = vec![
        (
            SegmenterConfig {
                frame_ms: 25,
                ..d()
            },
            "frame_ms = 25",
        ),
        (
            SegmenterConfig {
                start_ms: 500,
                ..d()
            },
            "start_ms = 500",
        ),
        (SegmenterConfig { start_ms: 5, ..d() }, "start_ms = 5"),
        (
            SegmenterConfig {
                hangover_ms: 0,
                tail_ms: 0,
                ..d()
            },
            "hangover_ms = 0",
        ),
        (
            SegmenterConfig {
                tail_ms: 900,
                ..d()
            },
            "tail_ms = 900",
        ),
        (
            SegmenterConfig {
                adaptive_hangover: true,
                min_hangover_ms: 100,
                ..d()
            },
            "min_hangover_ms = 100",
        ),
        (
            SegmenterConfig {
                max_utterance_ms: 400,
                ..d()
            },
            "max_utterance_ms = 400",
        ),
        (
            SegmenterConfig {
                energy_floor_dbfs: f32::NAN,
                ..d()
            },
            "energy_floor_dbfs",
        ),
    ];
    for (cfg, needle) in cases {
        let err = Segmenter::new(cfg).err().expect(needle).to_string();
        assert!(err.contains(needle), "{err}");
    }
    for frame_ms in [10, 20, 30] {
        assert!(Segmenter::new(SegmenterConfig { frame_ms, ..d() }).is_ok());
    }
}

#[test]
fn segmenter_can_move_between_tasks() {
    fn assert_send<T: Send>() {}
    assert_send::<Segmenter>();
}

/// 64 cases by default (each runs seconds of audio through the segmenter); `PROPTEST_CASES`
/// raises it for a long run.
fn segmenter_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(segmenter_cases()))]
    #[test]
    fn arbitrary_audio_keeps_invariants(
        pieces in prop::collection::vec(prop::collection::vec(prop_oneof![
            -1.5f32..1.5,
            Just(0.0f32),
            Just(f32::NAN),
            Just(f32::INFINITY),
        ], 0..2000), 0..20),
    ) {
        let cfg = SegmenterConfig { max_utterance_ms: 1_000, ..SegmenterConfig::default() };
        let mut seg = Segmenter::new(cfg).unwrap();
        let mut events = Vec::new();
        let mut total = 0u64;
        for p in &pieces {
            total += p.len() as u64;
            events.extend(seg.push(p));
        }
        events.extend(seg.finish());
        let mut last_end = 0;
        for (_, start, end, len, ratio) in finals(&events) {
            prop_assert!(start >= last_end && end >= start && end * 16 <= total);
            prop_assert!(end - start <= 1_000);
            // Starts are whole milliseconds; the end may fall mid-millisecond at finish().
            prop_assert_eq!(len as u64 / 16, end - start);
            prop_assert!((0.0..=1.0).contains(&ratio));
            last_end = end;
        }
    }
}

/// Regression: the audio archive wrote audio up to the open utterance's start, but before an
/// utterance opens its first 0.2–0.5 s are already heard, so the start of a card number could
/// be written before redaction saw it. What is undecided never passes a later start.
#[test]
fn nothing_before_an_utterance_start_is_ever_called_decided() {
    let (audio, _) = fixture();
    let mut seg = Segmenter::new(SegmenterConfig::default()).unwrap();
    let mut decided = 0u64;
    let mut starts = Vec::new();
    for chunk in audio.chunks(160) {
        for ev in seg.push(chunk) {
            if let SegmentEvent::Final { start_ms, .. } = ev {
                starts.push((start_ms, decided));
            }
        }
        let now = seg.undecided_from_ms();
        assert!(
            now >= decided,
            "undecided went back from {decided} to {now}"
        );
        decided = now;
        if let Some(open) = seg.open_start_ms() {
            assert!(decided <= open);
        }
    }
    assert!(!starts.is_empty());
    for (start, decided_then) in starts {
        assert!(decided_then <= start, "{decided_then} > {start}");
    }
}
