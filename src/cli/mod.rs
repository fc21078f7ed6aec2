//! What the command line prints: the CLI's own rendering of pipeline results.
pub mod transcribe;
