//! audio_fork source.
