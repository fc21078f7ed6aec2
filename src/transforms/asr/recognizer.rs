//! What a recogniser worker runs: one [`Recognizer`] per worker thread, made by a shared
//! [`RecognizerFactory`] at start and again whenever the worker's recogniser failed.
//!
//! The pool only knows these traits, so its promises (finals never dropped, stale partials
//! shed, a failed recogniser replaced) are tested with a scripted recogniser, and Whisper is
//! one implementation.

use super::engine::{transcribe, AsrError, DecodeOptions, Transcript, WhisperModel, SAMPLE_RATE};
use super::language::LanguagePolicy;

/// One recogniser instance with its own decoding state; used by one thread at a time.
pub trait Recognizer: Send {
    /// Transcribes one stretch of 16 kHz mono audio.
    fn transcribe(
        &mut self,
        audio: &[f32],
        policy: &LanguagePolicy,
    ) -> Result<Transcript, AsrError>;
}

/// Makes recognisers for the pool's workers.
pub trait RecognizerFactory: Send + Sync + 'static {
    /// A fresh, ready recogniser (warm: its first call is not slower than the next).
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError>;
    /// Whether the recognisers pick among languages (else they only write English).
    fn is_multilingual(&self) -> bool;
}

/// Whisper: one loaded model shared by every recogniser, one decoding state each.
pub struct WhisperFactory {
    model: WhisperModel,
    decode: DecodeOptions,
}

impl WhisperFactory {
    pub fn new(model: WhisperModel, decode: DecodeOptions) -> Self {
        WhisperFactory { model, decode }
    }
}

struct WhisperRecognizer {
    model: WhisperModel,
    state: whisper_rs::WhisperState,
    decode: DecodeOptions,
}

impl Recognizer for WhisperRecognizer {
    fn transcribe(
        &mut self,
        audio: &[f32],
        policy: &LanguagePolicy,
    ) -> Result<Transcript, AsrError> {
        transcribe(&self.model, &mut self.state, audio, policy, &self.decode)
    }
}

impl RecognizerFactory for WhisperFactory {
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError> {
        let mut rec = WhisperRecognizer {
            model: self.model.clone(),
            state: self.model.new_state()?,
            decode: self.decode.clone(),
        };
        // The first decode on a state allocates its buffers and is several times slower;
        // pay that before the first caller waits.
        let warm = vec![0.0f32; SAMPLE_RATE];
        let policy = LanguagePolicy::new(vec!["en".into()], None);
        if let Err(e) = rec.transcribe(&warm, &policy) {
            tracing::warn!(error = %e, "recogniser warm-up failed");
        }
        Ok(Box::new(rec))
    }

    fn is_multilingual(&self) -> bool {
        self.model.is_multilingual()
    }
}
