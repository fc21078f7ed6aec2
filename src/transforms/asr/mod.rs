//! asr stage.
