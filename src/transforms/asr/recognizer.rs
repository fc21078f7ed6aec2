//! What a recogniser worker runs: one [`Recognizer`] per worker thread, made by a shared
//! [`RecognizerFactory`] at start and again whenever the worker's recogniser failed.
//!
//! The pool only knows these traits, so its promises (finals never dropped, stale partials
//! shed, a failed recogniser replaced) are tested with a scripted recogniser, and Whisper is
//! one implementation.

use super::engine::{AsrError, Transcript};
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
