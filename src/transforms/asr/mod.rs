//! Speech recognition: Whisper (whisper.cpp through whisper-rs) on a dedicated worker pool.

pub mod bias;
pub mod engine;
pub mod gate;
pub mod language;
pub mod log_filter;
pub mod pool;
pub mod recognizer;
pub mod repetition;
#[cfg(feature = "whisper")]
pub mod whisper;

pub use bias::{Bias, BiasConfig};
pub use engine::{
    audio_ctx_for, AsrError, DecodeOptions, LoopGuard, TimedText, Transcript, SAMPLE_RATE,
};
pub use language::LanguagePolicy;
pub use pool::{AsrPool, PoolConfig, PoolHealth, PoolStatsSnapshot, SpeculationTicket};
pub use recognizer::{AbortFlag, Preemption, Recognizer, RecognizerFactory};
#[cfg(feature = "whisper")]
pub use whisper::{transcribe, WhisperFactory, WhisperModel};
