//! One Whisper model, loaded once, and the per-utterance transcription call every worker
//! makes; the recogniser factory the pool uses. Behind the `whisper` feature (on by default)
//! so that builds that never recognise speech (the fuzz targets) skip whisper.cpp.

use super::engine::{
    audio_ctx_for, AsrError, DecodeOptions, LoopGuard, TimedText, Transcript, SAMPLE_RATE,
};
use super::gate::{self, DropReason};
use super::language::{choice_share, choose_language, LanguagePolicy};
use super::recognizer::{AbortFlag, Preemption, Recognizer, RecognizerFactory};
use super::repetition;
use std::path::Path;
use std::sync::Arc;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

/// A loaded model, shared by every worker (each worker owns one [`WhisperState`]).
#[derive(Clone)]
pub struct WhisperModel {
    ctx: Arc<WhisperContext>,
    multilingual: bool,
    /// Token ids from this one on are special (end of text, timestamps, language, task).
    eot: i32,
}

impl WhisperModel {
    /// Loads a GGML model file for the CPU.
    pub fn load(path: &Path) -> Result<Self, AsrError> {
        Self::load_on(path, false)
    }

    /// Loads a GGML model file, onto the GPU when `gpu` (builds with the `cuda` feature;
    /// flash attention on, as it pays there).
    pub fn load_on(path: &Path, gpu: bool) -> Result<Self, AsrError> {
        if !path.is_file() {
            return Err(AsrError::Load {
                path: path.display().to_string(),
                reason: "file not found".into(),
            });
        }
        let params = WhisperContextParameters {
            use_gpu: gpu,
            flash_attn: gpu,
            ..WhisperContextParameters::default()
        };
        let ctx = WhisperContext::new_with_params(path, params).map_err(|e| AsrError::Load {
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

    /// Tokens `text` takes in this model's vocabulary, as whisper.cpp tokenises a prompt;
    /// `None` when it cannot (a NUL in the text, or past 4,096 tokens: a Whisper text context
    /// holds 448).
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        self.ctx.tokenize(text, 4096).ok().map(|t| t.len())
    }

    /// A fresh decoding state (per worker).
    pub fn new_state(&self) -> Result<WhisperState, AsrError> {
        self.ctx.create_state().map_err(|e| AsrError::Load {
            path: "<state>".into(),
            reason: e.to_string(),
        })
    }
}

/// Transcribes one stretch of 16 kHz mono audio with `state`.
pub fn transcribe(
    model: &WhisperModel,
    state: &mut WhisperState,
    audio: &[f32],
    policy: &LanguagePolicy,
    opts: &DecodeOptions,
) -> Result<Transcript, AsrError> {
    transcribe_abortable(model, state, audio, policy, opts, None)
}

/// whisper.cpp's abort callback: reads the flag its user data points at.
unsafe extern "C" fn abort_requested(flag: *mut std::ffi::c_void) -> bool {
    // SAFETY: the user data is `Arc::as_ptr` of a `Preemption` that outlives `full()`
    // (see `transcribe_abortable`).
    unsafe { (*(flag as *const Preemption)).requested() }
}

/// [`transcribe`], stopped early with [`AsrError::Preempted`] once `abort` is raised.
/// whisper.cpp looks at the flag after the encoder and after every decoded token.
pub fn transcribe_abortable(
    model: &WhisperModel,
    state: &mut WhisperState,
    audio: &[f32],
    policy: &LanguagePolicy,
    opts: &DecodeOptions,
    abort: Option<&AbortFlag>,
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

    let (language, language_share) = if !model.multilingual {
        ("en".to_string(), None)
    } else if let Some(forced) = policy.forced() {
        (forced.to_string(), None)
    } else {
        state.pcm_to_mel(audio, opts.threads).map_err(fail)?;
        let (_, probs) = state.lang_detect(0, opts.threads).map_err(fail)?;
        let chosen = choose_language(&probs, policy.allowed());
        let share = choice_share(&probs, policy.allowed(), &chosen);
        (chosen, Some(share))
    };

    let prompt = match policy.bias_prompt(&language) {
        Some(p) => p,
        None if language == "zh" => opts.zh_prompt.as_str(),
        None => "",
    };
    let greedy = SamplingStrategy::Greedy { best_of: 1 };
    let pass = Pass {
        language: &language,
        prompt,
        secs,
        abort,
        loop_entropy: None,
    };
    let mut heard = pass.run(model, state, audio, opts, greedy)?;
    if heard.looped && opts.loop_guard == LoopGuard::Redecode {
        // Beam search keeps other continuations alive, so one phrase repeated rarely wins all
        // of its beams; and it is deterministic, unlike Whisper's temperature fallback.
        let beam = SamplingStrategy::BeamSearch {
            beam_size: LOOP_BEAM_SIZE,
            patience: -1.0,
        };
        tracing::debug!(
            secs,
            "recogniser: repetition loop, decoding again with beam search"
        );
        let again = Pass {
            loop_entropy: Some(LOOP_ENTROPY_THOLD),
            ..pass
        };
        heard = again.run(model, state, audio, opts, beam)?;
        heard.looped = true;
    }
    let Heard {
        segments,
        discarded,
        least_sure,
        looped,
    } = heard;
    let joiner = if language == "zh" { "" } else { " " };
    let text = segments
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(joiner);
    // A biased prompt's known failure: its terms written over sound that is not speech, or
    // speech that said something else. When a biased transcript names a prompt term without
    // confidence, the utterance is decoded again without the terms and that transcript stands.
    if least_sure < BIASED_TERM_MIN_LOGPROB
        && policy.bias_prompt(&language).is_some()
        && gate::names_prompt_term(&text, prompt, &opts.zh_prompt)
    {
        let plain = policy.clone().with_bias(None).assuming(&language);
        let mut again = transcribe_abortable(model, state, audio, &plain, opts, abort)?;
        again.language_share = language_share;
        return Ok(again);
    }
    let dropped = text
        .is_empty()
        .then(|| discarded.unwrap_or(DropReason::Empty));
    Ok(Transcript {
        text,
        language,
        segments,
        dropped,
        language_share,
        looped,
    })
}

/// Beams of the second decode of an utterance that came out as a repetition loop.
const LOOP_BEAM_SIZE: i32 = 5;

/// Entropy (of the token counts in a beam's last 32 tokens) below which the second decode
/// drops a beam as a loop. Whisper's own 2.4 let a sentence repeated whole through (measured
/// 2.47 on the fixture line that loops); 32 distinct tokens would be ln 32 = 3.47.
const LOOP_ENTROPY_THOLD: f32 = 2.8;

/// What one decoding pass settles for every pass of an utterance.
struct Pass<'a> {
    language: &'a str,
    prompt: &'a str,
    /// Length of the audio before padding.
    secs: f32,
    abort: Option<&'a AbortFlag>,
    /// whisper.cpp's `entropy_thold` for this pass: a beam whose last 32 tokens are less
    /// varied than this is dropped as a loop.
    loop_entropy: Option<f32>,
}

/// The segments one pass kept.
struct Heard {
    segments: Vec<TimedText>,
    /// What the last segment left out was taken for.
    discarded: Option<DropReason>,
    /// Lowest mean token log-probability of a kept segment.
    least_sure: f32,
    /// A segment was a repetition loop (kept once in its text).
    looped: bool,
}

impl Pass<'_> {
    fn run(
        &self,
        model: &WhisperModel,
        state: &mut WhisperState,
        audio: &[f32],
        opts: &DecodeOptions,
        strategy: SamplingStrategy,
    ) -> Result<Heard, AsrError> {
        let secs = self.secs;
        let fail = |e: whisper_rs::WhisperError| AsrError::Inference {
            secs,
            reason: e.to_string(),
        };
        let mut params = FullParams::new(strategy);
        params.set_n_threads(opts.threads as i32);
        params.set_language(Some(self.language));
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
            if opts.loop_guard != LoopGuard::Off {
                params.set_max_tokens(repetition::max_tokens_for(secs));
            }
        }
        if !opts.temperature_fallback {
            params.set_temperature_inc(0.0);
        }
        if let Some(entropy) = self.loop_entropy {
            params.set_entropy_thold(entropy);
        }
        if opts.short_audio_ctx {
            params.set_audio_ctx(audio_ctx_for(audio.len()));
        }
        if !self.prompt.is_empty() {
            params.set_initial_prompt(self.prompt);
        }
        if let Some(flag) = self.abort {
            // Not whisper-rs's `set_abort_callback_safe`: its trampoline reads the boxed
            // closure as the wrong type. The flag is borrowed for this whole pass, so the
            // pointer stays valid for as long as `full()` may call back.
            // SAFETY: `abort_requested` only reads the atomic behind the pointer.
            unsafe {
                params.set_abort_callback(Some(abort_requested));
                params.set_abort_callback_user_data(Arc::as_ptr(flag) as *mut std::ffi::c_void);
            }
        }
        if let Err(e) = state.full(params, audio) {
            if self.abort.is_some_and(|f| f.requested()) {
                return Err(AsrError::Preempted);
            }
            return Err(fail(e));
        }

        let mut heard = Heard {
            segments: Vec::new(),
            discarded: None,
            least_sure: 0.0,
            looped: false,
        };
        for seg in state.as_iter() {
            let mut text = seg.to_str_lossy().map_err(fail)?.trim().to_string();
            let no_speech_prob = seg.no_speech_probability();
            if text.is_empty() {
                continue;
            }
            if opts.loop_guard != LoopGuard::Off {
                let (once, looped) = repetition::collapse(&text);
                if looped {
                    heard.looped = true;
                    text = once.trim().to_string();
                }
            }
            // As Whisper itself decides: silence only when the no-speech token is likely
            // *and* the words written are unlikely. A confident transcript with a high
            // no-speech probability is real speech (digits read slowly over a phone line
            // come out so).
            if no_speech_prob > opts.no_speech_threshold
                && avg_logprob(&seg, model.eot) < LOGPROB_THRESHOLD
            {
                heard.discarded = Some(DropReason::NoSpeech);
                continue;
            }
            if gate::is_known_hallucination(&text, self.prompt) {
                heard.discarded = Some(DropReason::Hallucination);
                continue;
            }
            heard.least_sure = heard.least_sure.min(avg_logprob(&seg, model.eot));
            let (start_ms, end_ms) = if opts.timestamps {
                (
                    (seg.start_timestamp().max(0) as u64) * 10,
                    (seg.end_timestamp().max(0) as u64) * 10,
                )
            } else {
                (0, (secs * 1000.0) as u64)
            };
            heard.segments.push(TimedText {
                start_ms,
                end_ms,
                text,
                no_speech_prob,
            });
        }
        Ok(heard)
    }
}

/// Below this mean log-probability of its text tokens a segment that also looks like
/// no speech is dropped (Whisper's `logprob_threshold`).
const LOGPROB_THRESHOLD: f32 = -1.0;

/// Below this mean log-probability a biased transcript that names a prompt term is not
/// trusted (see the accuracy report: such ghosts measured -0.77 and below on noise, while
/// biased transcripts of real lines naming a term were surer).
const BIASED_TERM_MIN_LOGPROB: f32 = -0.5;

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
    abort: Option<AbortFlag>,
}

impl Recognizer for WhisperRecognizer {
    fn transcribe(
        &mut self,
        audio: &[f32],
        policy: &LanguagePolicy,
    ) -> Result<Transcript, AsrError> {
        transcribe_abortable(
            &self.model,
            &mut self.state,
            audio,
            policy,
            &self.decode,
            self.abort.as_ref(),
        )
    }

    fn set_abort_flag(&mut self, flag: AbortFlag) {
        self.abort = Some(flag);
    }
}

impl RecognizerFactory for WhisperFactory {
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError> {
        let mut rec = WhisperRecognizer {
            model: self.model.clone(),
            state: self.model.new_state()?,
            decode: self.decode.clone(),
            abort: None,
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
