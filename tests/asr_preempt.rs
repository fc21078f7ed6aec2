//! Pre-emption on the real recogniser: whisper.cpp stops at its abort callback when the
//! worker's flag is raised, the error says so, and the same decoding state transcribes the
//! next utterance exactly as before (the pool keeps the recogniser instead of making a new
//! one).

use callwatch::transforms::asr::{
    AbortFlag, AsrError, DecodeOptions, LanguagePolicy, Preemption, RecognizerFactory,
    WhisperFactory, WhisperModel,
};
use std::path::PathBuf;
use std::sync::Arc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn utterance(name: &str) -> Vec<f32> {
    let path = root().join(format!("fixtures/zh/{name}.wav"));
    let mut r = hound::WavReader::open(&path).unwrap();
    assert_eq!(r.spec().sample_rate, 16_000, "{}", path.display());
    r.samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect()
}

#[test]
fn an_aborted_partial_leaves_the_state_usable() {
    let path = root().join("models/ggml-base.bin");
    let model = WhisperModel::load(&path)
        .unwrap_or_else(|e| panic!("{e} (run `cargo run -- model fetch base`)"));
    let mut rec = WhisperFactory::new(model, DecodeOptions::default())
        .make()
        .unwrap();
    let flag: AbortFlag = Arc::new(Preemption::default());
    rec.set_abort_flag(flag.clone());
    let zh = LanguagePolicy::new(vec!["zh".into()], Some("zh".into()));
    let audio = utterance("agent_guaranteed");

    let before = rec.transcribe(&audio, &zh).unwrap();
    assert!(!before.text.is_empty());

    // A partial, asked to stop: whisper.cpp sees the flag after the encoder.
    flag.begin_partial();
    assert!(flag.request());
    let stopped = rec.transcribe(&audio, &zh);
    assert!(matches!(stopped, Err(AsrError::Preempted)), "{stopped:?}");
    assert!(flag.end(), "the worker learns it had been asked to stop");

    // A request with no partial in flight changes nothing (finals are never stopped).
    assert!(!flag.request());
    let after = rec.transcribe(&audio, &zh).unwrap();
    assert_eq!(after.text, before.text);
    let other = rec
        .transcribe(&utterance("customer_complain"), &zh)
        .unwrap();
    assert!(other.text.contains("投诉"), "{}", other.text);
}
