//! What a recogniser worker runs: one [`Recognizer`] per worker thread, made by a shared
//! [`RecognizerFactory`] at start and again whenever the worker's recogniser failed.
//!
//! The pool only knows these traits, so its promises (finals never dropped, stale partials
//! shed, a failed recogniser replaced) are tested with a scripted recogniser, and Whisper is
//! one implementation.

use super::engine::{AsrError, Transcript};
use super::language::LanguagePolicy;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// One worker's pre-emption state, shared between the worker, its recogniser and the pool.
///
/// One atomic with three states, so that a request can only ever hit a partial: the pool
/// moves `PARTIAL -> ABORT`, the worker `IDLE -> PARTIAL` before a partial and back to
/// `IDLE` after it; a final runs in `IDLE`, which no request changes.
#[derive(Debug, Default)]
pub struct Preemption(AtomicU8);

const IDLE: u8 = 0;
const PARTIAL: u8 = 1;
const ABORT: u8 = 2;

impl Preemption {
    /// Whether the job in flight should stop (what the recogniser polls).
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed) == ABORT
    }

    /// Whether the job in flight is a partial (asked to stop or not): a recogniser that
    /// hands work on (to a recognition worker) tells partials from finals by it.
    pub fn partial_in_flight(&self) -> bool {
        self.0.load(Ordering::SeqCst) != IDLE
    }

    /// The worker starts a partial.
    pub fn begin_partial(&self) {
        self.0.store(PARTIAL, Ordering::SeqCst);
    }

    /// The worker is done with its job; true when it had been asked to stop.
    pub fn end(&self) -> bool {
        self.0.swap(IDLE, Ordering::SeqCst) == ABORT
    }

    /// Makes the partial in flight safe from requests (it has become a final's work); false
    /// when none is in flight or it was already asked to stop.
    pub fn protect(&self) -> bool {
        self.0
            .compare_exchange(PARTIAL, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Asks the partial in flight to stop; false when no partial is in flight (or it was
    /// already asked).
    pub fn request(&self) -> bool {
        self.0
            .compare_exchange(PARTIAL, ABORT, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// What a recogniser polls to know it should stop: see [`Preemption`].
pub type AbortFlag = Arc<Preemption>;

/// One recogniser instance with its own decoding state; used by one thread at a time.
pub trait Recognizer: Send {
    /// Transcribes one stretch of 16 kHz mono audio.
    fn transcribe(
        &mut self,
        audio: &[f32],
        policy: &LanguagePolicy,
    ) -> Result<Transcript, AsrError>;

    /// Gives the recogniser the flag its worker raises to pre-empt it. Recognisers that
    /// cannot stop midway ignore it (the default) and simply finish.
    fn set_abort_flag(&mut self, _flag: AbortFlag) {}
}

/// Makes recognisers for the pool's workers.
pub trait RecognizerFactory: Send + Sync + 'static {
    /// A fresh, ready recogniser (warm: its first call is not slower than the next).
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError>;
    /// Whether the recognisers pick among languages (else they only write English).
    fn is_multilingual(&self) -> bool;
}
