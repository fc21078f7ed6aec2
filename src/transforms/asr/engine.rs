//! One Whisper model, loaded once, and the per-utterance transcription call every worker makes.

use super::gate::{self, DropReason};
use super::language::{choose_language, LanguagePolicy};
use std::path::Path;
use std::sync::Arc;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

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
        }
    }
}

/// A timed piece of a transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedText {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    pub no_speech_prob: f32,
}

/// What Whisper heard in one stretch of audio.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Transcript {
    pub text: String,
    pub language: String,
    pub segments: Vec<TimedText>,
    /// Why `text` is empty, when it is: what the last discarded segment was taken for.
    pub dropped: Option<DropReason>,
}

/// A loaded model, shared by every worker (each worker owns one [`WhisperState`]).
#[derive(Clone)]
pub struct WhisperModel {
    ctx: Arc<WhisperContext>,
    multilingual: bool,
    /// Token ids from this one on are special (end of text, timestamps, language, task).
    eot: i32,
}

impl WhisperModel {
    /// Loads a GGML model file.
    pub fn load(path: &Path) -> Result<Self, AsrError> {
        if !path.is_file() {
            return Err(AsrError::Load {
                path: path.display().to_string(),
                reason: "file not found".into(),
            });
        }
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| AsrError::Load {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        let multilingual = ctx.is_multilingual();
        let eot = ctx.token_eot();
        Ok(WhisperModel {
            ctx: Arc::new(ctx),
            multilingual,
            eot,
        })
    }

    pub fn is_multilingual(&self) -> bool {
        self.multilingual
    }

    /// A fresh decoding state (per worker).
    pub fn new_state(&self) -> Result<WhisperState, AsrError> {
        self.ctx.create_state().map_err(|e| AsrError::Load {
            path: "<state>".into(),
            reason: e.to_string(),
        })
    }
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

/// Transcribes one stretch of 16 kHz mono audio with `state`.
pub fn transcribe(
    model: &WhisperModel,
    state: &mut WhisperState,
    audio: &[f32],
    policy: &LanguagePolicy,
    opts: &DecodeOptions,
) -> Result<Transcript, AsrError> {
    let secs = audio.len() as f32 / SAMPLE_RATE as f32;
    let fail = |e: whisper_rs::WhisperError| AsrError::Inference {
        secs,
        reason: e.to_string(),
    };
    if audio.is_empty() {
        return Ok(Transcript::default());
    }
    // Whisper needs at least ~1 s of input to produce anything sensible; pad short audio with silence.
    let padded;
    let audio = if audio.len() < SAMPLE_RATE + SAMPLE_RATE / 10 {
        let mut v = audio.to_vec();
        v.resize(SAMPLE_RATE + SAMPLE_RATE / 10, 0.0);
        padded = v;
        &padded[..]
    } else {
        audio
    };

    let language = if !model.multilingual {
        "en".to_string()
    } else if let Some(forced) = policy.forced() {
        forced.to_string()
    } else {
        state.pcm_to_mel(audio, opts.threads).map_err(fail)?;
        let (_, probs) = state.lang_detect(0, opts.threads).map_err(fail)?;
        choose_language(&probs, policy.allowed())
    };

    let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
    params.set_n_threads(opts.threads as i32);
    params.set_language(Some(&language));
    params.set_translate(false);
    params.set_no_context(true);
    params.set_print_special(false);
    params.set_print_progress(false);
    params.set_print_realtime(false);
    params.set_print_timestamps(false);
    params.set_suppress_blank(true);
    params.set_no_speech_thold(opts.no_speech_threshold);
    if !opts.timestamps {
        // One utterance from the VAD is one segment; its bounds are the VAD's.
        params.set_no_timestamps(true);
        params.set_single_segment(true);
    }
    if !opts.temperature_fallback {
        params.set_temperature_inc(0.0);
    }
    if opts.short_audio_ctx {
        params.set_audio_ctx(audio_ctx_for(audio.len()));
    }
    if language == "zh" && !opts.zh_prompt.is_empty() {
        params.set_initial_prompt(&opts.zh_prompt);
    }
    state.full(params, audio).map_err(fail)?;

    let mut segments = Vec::new();
    let mut discarded = None;
    for seg in state.as_iter() {
        let text = seg.to_str_lossy().map_err(fail)?.trim().to_string();
        let no_speech_prob = seg.no_speech_probability();
        if text.is_empty() {
            continue;
        }
        // As Whisper itself decides: silence only when the no-speech token is likely *and*
        // the words written are unlikely. A confident transcript with a high no-speech
        // probability is real speech (digits read slowly over a phone line come out so).
        if no_speech_prob > opts.no_speech_threshold
            && avg_logprob(&seg, model.eot) < LOGPROB_THRESHOLD
        {
            discarded = Some(DropReason::NoSpeech);
            continue;
        }
        if gate::is_known_hallucination(&text, &opts.zh_prompt) {
            discarded = Some(DropReason::Hallucination);
            continue;
        }
        let (start_ms, end_ms) = if opts.timestamps {
            (
                (seg.start_timestamp().max(0) as u64) * 10,
                (seg.end_timestamp().max(0) as u64) * 10,
            )
        } else {
            (0, (secs * 1000.0) as u64)
        };
        segments.push(TimedText {
            start_ms,
            end_ms,
            text,
            no_speech_prob,
        });
    }
    let joiner = if language == "zh" { "" } else { " " };
    let text = segments
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(joiner);
    let dropped = text
        .is_empty()
        .then(|| discarded.unwrap_or(DropReason::Empty));
    Ok(Transcript {
        text,
        language,
        segments,
        dropped,
    })
}

/// Below this mean log-probability of its text tokens a segment that also looks like
/// no speech is dropped (Whisper's `logprob_threshold`).
const LOGPROB_THRESHOLD: f32 = -1.0;

/// Mean log-probability of a segment's text tokens (special tokens left out).
fn avg_logprob(seg: &whisper_rs::WhisperSegment<'_>, eot: i32) -> f32 {
    let (mut sum, mut n) = (0.0f32, 0u32);
    for i in 0..seg.n_tokens() {
        if let Some(tok) = seg.get_token(i) {
            let d = tok.token_data();
            if d.id < eot {
                sum += d.plog;
                n += 1;
            }
        }
    }
    if n == 0 {
        f32::NEG_INFINITY
    } else {
        sum / n as f32
    }
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
