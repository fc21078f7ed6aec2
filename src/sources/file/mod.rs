//! file source.
