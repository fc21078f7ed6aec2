//! Whisper model acquisition: CTranslate2 -> GGML conversion.
