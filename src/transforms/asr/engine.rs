//! What recognition takes and gives: decoding options, transcripts and errors. The Whisper
//! engine itself is in `whisper.rs` (behind the default `whisper` feature).

use super::gate::DropReason;

/// Whisper's input rate.
pub const SAMPLE_RATE: usize = 16_000;

/// Errors of the recogniser.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    #[error(
        "cannot load Whisper model {path}: {reason}; run `callwatch model fetch` or pass --model"
    )]
    Load { path: String, reason: String },
    #[error("whisper failed on a {secs:.1} s utterance: {reason}")]
    Inference { secs: f32, reason: String },
    #[error("the recogniser crashed on a {secs:.1} s utterance ({reason}); it was replaced")]
    Panicked { secs: f32, reason: String },
    #[error("speech recognition is overloaded: partial shed")]
    Shed,
    #[error("partial stopped midway to make room for a final")]
    Preempted,
    #[error("speech recognition pool has stopped")]
    Stopped,
}

/// Decoding parameters shared by the live pipeline, the offline transcriber and the benchmark.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Threads whisper.cpp uses inside one transcription.
    pub threads: usize,
    /// Shrink the encoder context for short audio (much faster; see [`audio_ctx_for`]).
    pub short_audio_ctx: bool,
    /// Prompt that keeps Mandarin in Simplified characters.
    pub zh_prompt: String,
    /// Segments whose no-speech probability is above this are dropped.
    pub no_speech_threshold: f32,
    /// Ask Whisper for segment timestamps inside an utterance (slower on short audio).
    pub timestamps: bool,
    /// Re-decode at higher temperatures when greedy output looks degenerate (slower, rarely better on short utterances).
    pub temperature_fallback: bool,
    /// What is done with a transcript that repeats one phrase over and over.
    pub loop_guard: LoopGuard,
}

/// What the recogniser does with a repetition loop (one phrase written over and over, see
/// `repetition.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoopGuard {
    /// Keep Whisper's text as written, and its 220-token limit.
    Off,
    /// Cap the tokens by the audio's length and keep one copy of the repeated phrase. The
    /// default: on the accuracy fixtures `redecode` measured the same at more cost.
    #[default]
    Collapse,
    /// As `collapse`, after decoding the utterance again with beam search.
    Redecode,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            threads: 2,
            short_audio_ctx: true,
            zh_prompt: "以下是普通话的句子。".to_string(),
            no_speech_threshold: 0.6,
            timestamps: false,
            temperature_fallback: false,
            loop_guard: LoopGuard::default(),
        }
    }
}

/// A timed piece of a transcript.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimedText {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    pub no_speech_prob: f32,
}

/// What Whisper heard in one stretch of audio.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Transcript {
    pub text: String,
    pub language: String,
    pub segments: Vec<TimedText>,
    /// Why `text` is empty, when it is: what the last discarded segment was taken for.
    pub dropped: Option<DropReason>,
    /// When the language was detected (not forced or assumed): its share of the allowed
    /// languages' probability, 0 to 1.
    pub language_share: Option<f32>,
    /// Whisper wrote one phrase over and over; `text` holds what the loop guard made of it.
    pub looped: bool,
}

/// Encoder context for `samples` of audio: whisper's encoder covers 30 s in 1500 positions
/// (50 per second); shorter audio needs proportionally fewer, plus a margin, rounded to 64.
/// Audio longer than the context turns into repetition, so never go below the audio's length.
/// Below 384 positions short Mandarin utterances came out wrong (Traditional characters,
/// other words) on the fixtures, so that is the floor.
pub fn audio_ctx_for(samples: usize) -> i32 {
    const MIN_CTX: i32 = 384;
    let secs = samples as f64 / SAMPLE_RATE as f64;
    let need = (secs * 50.0).ceil() as i32 + 128;
    let rounded = (need + 63) / 64 * 64;
    rounded.clamp(MIN_CTX, 1500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_ctx_covers_audio_with_margin() {
        // 5 s -> 250 positions + margin, as measured fast and accurate.
        assert_eq!(audio_ctx_for(5 * SAMPLE_RATE), 384);
        assert_eq!(audio_ctx_for(SAMPLE_RATE), 384);
        assert_eq!(audio_ctx_for(10 * SAMPLE_RATE), 640);
        for secs in 1..=30 {
            let ctx = audio_ctx_for(secs * SAMPLE_RATE);
            assert!(ctx as usize >= secs * 50 || ctx == 1500, "{secs}s -> {ctx}");
            assert!(ctx % 64 == 0 || ctx == 1500);
        }
        assert_eq!(audio_ctx_for(40 * SAMPLE_RATE), 1500);
    }
}
