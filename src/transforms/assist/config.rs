//! `[assist]`: knowledge base and the confidence needed to suggest an article.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[assist]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssistConfig {
    /// Suggest articles and raise complaint early warnings.
    pub enabled: bool,
    /// Directory of knowledge files (`*.toml`, format in `knowledge/README.md`).
    pub dir: PathBuf,
    /// An intent is suggested once its confidence reaches this (one ordinary trigger gives
    /// 0.4, one strong trigger 0.85, several combine).
    pub min_confidence: f64,
}

impl Default for AssistConfig {
    fn default() -> Self {
        AssistConfig {
            enabled: true,
            dir: PathBuf::from("knowledge"),
            min_confidence: 0.5,
        }
    }
}

impl AssistConfig {
    /// Checks the values; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err("assist.min_confidence must be between 0 and 1".into());
        }
        Ok(())
    }
}
