//! The reference side: whisper-rs called directly, with exactly the decoding parameters
//! `transforms::asr::engine::transcribe` sets, and nothing of callwatch around it.

use callwatch::transforms::asr::{audio_ctx_for, DecodeOptions};
use std::path::Path;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperError,
    WhisperState,
};

/// A model with one decoding state, as one recogniser worker holds it.
pub struct BareWhisper {
    state: WhisperState,
    multilingual: bool,
    opts: DecodeOptions,
}

impl BareWhisper {
    /// Loads `path` and decodes one second of silence, as the pool's workers do before their
    /// first job, so neither side pays the first-decode allocations inside the measurement.
    pub fn load(path: &Path, opts: DecodeOptions) -> Result<Self, WhisperError> {
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())?;
        let multilingual = ctx.is_multilingual();
        let state = ctx.create_state()?;
        let mut me = BareWhisper {
            state,
            multilingual,
            opts,
        };
        me.transcribe(&vec![0.0; 16_000], "en")?;
        Ok(me)
    }

    /// Transcribes 16 kHz mono audio in `language` (ignored by English-only models).
    pub fn transcribe(&mut self, audio: &[f32], language: &str) -> Result<String, WhisperError> {
        let language = if self.multilingual { language } else { "en" };
        let opts = &self.opts;
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(opts.threads as i32);
        params.set_language(Some(language));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_no_speech_thold(opts.no_speech_threshold);
        params.set_no_timestamps(true);
        params.set_single_segment(true);
        params.set_temperature_inc(0.0);
        params.set_audio_ctx(audio_ctx_for(audio.len()));
        if language == "zh" {
            params.set_initial_prompt(&opts.zh_prompt);
        }
        self.state.full(params, audio)?;
        let mut text = String::new();
        for seg in self.state.as_iter() {
            text.push_str(seg.to_str_lossy()?.trim());
        }
        Ok(text)
    }
}
