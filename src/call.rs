//! Identity of calls and legs, shared by every stage from source to archive.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who is speaking on a leg. Fixed when the leg starts and carried to the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Agent,
    Customer,
    #[default]
    Unknown,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Agent => "agent",
            Speaker::Customer => "customer",
            Speaker::Unknown => "unknown",
        }
    }

    /// Parses the role names used in fork metadata and query strings.
    pub fn parse(s: &str) -> Option<Speaker> {
        match s.trim().to_ascii_lowercase().as_str() {
            "agent" | "坐席" => Some(Speaker::Agent),
            "customer" | "caller" | "客户" => Some(Speaker::Customer),
            "unknown" => Some(Speaker::Unknown),
            _ => None,
        }
    }
}

impl fmt::Display for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the pipeline needs to know about one leg (one speaker's audio track).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegInfo {
    pub call_id: String,
    /// Leg name, unique within the call (e.g. `inbound`, `outbound`, `left`, `right`, `ch0`).
    pub leg: String,
    pub speaker: Speaker,
    /// Agent id, participant AOR or similar identity, when the source tells it.
    pub participant: Option<String>,
    /// Language forced for this leg (`zh`, `en`); `None` lets the recogniser choose within the configured set.
    pub language: Option<String>,
}

/// Metadata of a call as announced by its source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    pub call_id: String,
    /// `twilio`, `audio_fork`, `file`, ...
    pub source: String,
    /// Agent id, when the source tells it (fork metadata, custom parameters).
    pub agent_id: Option<String>,
    /// Queue/line label, when the source tells it.
    pub queue: Option<String>,
    /// Free-form metadata from the source, kept for the archive.
    pub metadata: serde_json::Value,
}

impl CallInfo {
    /// Participants named in `metadata.participants` (strings), as SIPREC sessions record them.
    pub fn participants(&self) -> Vec<String> {
        self.metadata
            .get("participants")
            .and_then(|p| p.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}
