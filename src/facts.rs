//! What happens on a call, modelled once. The pipeline builds these facts; each sink derives
//! its own representation from them (an archive row, an event, a QA ledger entry), so a
//! field added here reaches every sink by one conversion each, not by copies in the pipeline.

use crate::call::Speaker;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A timed piece of a final transcript, in media time from the start of the leg.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentTiming {
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
}

/// An utterance recognised and redacted: its final transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct FinalUtterance {
    pub id: String,
    pub call_id: String,
    pub leg: String,
    pub speaker: Speaker,
    /// Media time from the start of the leg, in milliseconds.
    pub start_ms: u64,
    pub end_ms: u64,
    pub language: String,
    /// Redacted text.
    pub text: String,
    pub segments: Vec<SegmentTiming>,
    /// Media ranges silenced in the leg's recording (spoken card numbers, codes).
    pub audio_masked: Vec<[u64; 2]>,
    /// When the final was made.
    pub at: OffsetDateTime,
}
