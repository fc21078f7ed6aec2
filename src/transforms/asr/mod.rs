//! Speech recognition: Whisper (whisper.cpp through whisper-rs) on a dedicated worker pool.

pub mod engine;
pub mod gate;
pub mod language;
pub mod pool;
pub mod recognizer;

pub use engine::{
    audio_ctx_for, transcribe, AsrError, DecodeOptions, TimedText, Transcript, WhisperModel,
    SAMPLE_RATE,
};
pub use language::LanguagePolicy;
pub use pool::{AsrPool, PoolConfig, PoolHealth, PoolStatsSnapshot};
pub use recognizer::{Recognizer, RecognizerFactory, WhisperFactory};
