//! The `[redact]` configuration section.

use super::Category;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which label table to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelLanguage {
    /// Chinese labels for Chinese text, English labels for English text (by the transcript's
    /// language, or by the presence of Chinese characters when it is unknown).
    #[default]
    Auto,
    /// Always the Chinese labels (`[卡号]`).
    Zh,
    /// Always the English labels (`[CARD]`).
    En,
}

/// `[redact]`: personal data removed from transcripts before they leave the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactConfig {
    /// Redact at all. On by default.
    pub enabled: bool,
    /// Categories to redact. `amount` is off by default.
    pub categories: Vec<Category>,
    /// Label table: `auto`, `zh` or `en`.
    pub labels: LabelLanguage,
    /// Labels replacing the built-in ones, by category name (e.g. `card = "[CARD]"`).
    pub custom_labels: BTreeMap<Category, String>,
    /// Call metadata keys (forks' metadata, Twilio `customParameters`, SIPREC metadata)
    /// whose values are kept as sent, with everything under them. Every other value is
    /// redacted like a transcript, and a value whose key names a person (any key containing
    /// `name`) is replaced whole.
    pub metadata_keep: Vec<String>,
    /// Digits a card label keeps: `first6_last4` (what PCI DSS allows on screen, the
    /// default), `last4`, or `none` for the bare label.
    pub card_display: super::CardDisplay,
}

/// Metadata keys kept by default: routing and stream facts, no customer data.
pub const METADATA_KEEP: [&str; 16] = [
    "queue",
    "agent_id",
    "language",
    "inbound_language",
    "outbound_language",
    "streamSid",
    "accountSid",
    "callSid",
    "callId",
    "tracks",
    "mediaFormat",
    "sampleRate",
    "mixType",
    "direction",
    "skill",
    "session",
];

impl Default for RedactConfig {
    fn default() -> Self {
        RedactConfig {
            enabled: true,
            categories: vec![
                Category::Card,
                Category::IdNumber,
                Category::Mobile,
                Category::Code,
                Category::Number,
            ],
            labels: LabelLanguage::Auto,
            custom_labels: BTreeMap::new(),
            metadata_keep: METADATA_KEEP.iter().map(|k| k.to_string()).collect(),
            card_display: super::CardDisplay::default(),
        }
    }
}

/// Why a `[redact]` section cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactConfigError {
    /// A label would itself be read as part of a number, so redacting twice would differ.
    #[error("redact.custom_labels.{category}: label `{label}` contains a digit or numeral; use letters, Chinese words and brackets only")]
    LabelHasDigits { category: Category, label: String },
    /// An empty label would make redactions invisible to reviewers.
    #[error("redact.custom_labels.{category}: label is empty; give a visible label such as `[{category}]`")]
    EmptyLabel { category: Category },
}

impl RedactConfig {
    /// Checks that every custom label is usable.
    pub fn validate(&self) -> Result<(), RedactConfigError> {
        for (&category, label) in &self.custom_labels {
            if label.trim().is_empty() {
                return Err(RedactConfigError::EmptyLabel { category });
            }
            if super::scan::has_number_token(label) {
                return Err(RedactConfigError::LabelHasDigits {
                    category,
                    label: label.clone(),
                });
            }
        }
        Ok(())
    }
}
