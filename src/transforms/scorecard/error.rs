//! Errors from loading a scorecard file.

use std::path::PathBuf;
use thiserror::Error;

/// Why a scorecard could not be loaded.
#[derive(Debug, Error)]
pub enum ScorecardError {
    /// The file could not be read.
    #[error("{path}: cannot read scorecard: {source}; check the path and its permissions")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid scorecard; `line` is 1-based.
    #[error("{file}:{line}: {problem}")]
    Invalid {
        file: String,
        line: usize,
        problem: String,
    },
}
