//! What the pipeline hands to the archive. Ids are made by the pipeline so no write waits for a read.

use crate::call::Speaker;
use crate::transforms::matcher::MatchMode;
use serde::{Deserialize, Serialize};

/// One write to the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ArchiveOp {
    CallStarted {
        call_id: String,
        source: String,
        agent_id: Option<String>,
        queue: Option<String>,
        /// RFC 3339.
        started_at: String,
        metadata: serde_json::Value,
    },
    LegStarted {
        call_id: String,
        leg: String,
        speaker: Speaker,
        participant: Option<String>,
        started_at: String,
    },
    Utterance(UtteranceRecord),
    Hit(HitRecord),
    RuleFired(RuleFiringRecord),
    CallEnded {
        call_id: String,
        ended_at: String,
        reason: crate::call::EndReason,
        duration_ms: u64,
    },
    /// A QA score; replaces the call's previous score (a re-score).
    Score(ScoreRecord),
    /// A surge was raised or cleared.
    Surge(crate::transforms::surge::SurgeAlert),
    /// A complaint early warning on a call (also tags the call).
    CallWarning(CallWarning),
    /// A supervisor acknowledged a surge alert; the first acknowledgement stands.
    SurgeAck(SurgeAck),
    /// A leg's audio recording started (no duration yet) or finished; keyed by call and file.
    Audio(AudioRecord),
    /// Retention deleted this audio file.
    AudioPurged {
        call_id: String,
        file: String,
        purged_at: String,
    },
    /// Retention deletes this call and everything archived about it (its audit rows stay).
    CallPurged {
        call_id: String,
    },
    /// Retention deletes the refused ops kept since before this RFC 3339 time: they may hold
    /// (redacted) transcripts, which must not outlive the calls they came from.
    RejectedPurged {
        before: String,
    },
    /// A reviewer's verdict on a hit (replaces an earlier one).
    HitReview(super::review::HitReview),
    /// A reviewer's outcome for a scorecard item (replaces an earlier one).
    ScoreOverride(super::review::ScoreOverride),
    /// A call marked reviewed.
    CallReviewed(super::review::CallReview),
    /// A supervisor acknowledged a call alert; the first acknowledgement stands.
    AlertAck(super::alerts::AlertAck),
}

impl ArchiveOp {
    /// The op's kind, for logs that must not carry its content.
    pub fn kind(&self) -> &'static str {
        match self {
            ArchiveOp::CallStarted { .. } => "call_started",
            ArchiveOp::LegStarted { .. } => "leg_started",
            ArchiveOp::Utterance(_) => "utterance",
            ArchiveOp::Hit(_) => "hit",
            ArchiveOp::RuleFired(_) => "rule_fired",
            ArchiveOp::CallEnded { .. } => "call_ended",
            ArchiveOp::Score(_) => "score",
            ArchiveOp::Surge(_) => "surge",
            ArchiveOp::CallWarning(_) => "call_warning",
            ArchiveOp::SurgeAck(_) => "surge_ack",
            ArchiveOp::Audio(_) => "audio",
            ArchiveOp::AudioPurged { .. } => "audio_purged",
            ArchiveOp::CallPurged { .. } => "call_purged",
            ArchiveOp::RejectedPurged { .. } => "rejected_purged",
            ArchiveOp::HitReview(_) => "hit_review",
            ArchiveOp::ScoreOverride(_) => "score_override",
            ArchiveOp::CallReviewed(_) => "call_reviewed",
            ArchiveOp::AlertAck(_) => "alert_ack",
        }
    }
}

/// A final transcript of one utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtteranceRecord {
    pub id: String,
    pub call_id: String,
    pub leg: String,
    pub speaker: Speaker,
    pub start_ms: u64,
    pub end_ms: u64,
    pub language: String,
    pub text: String,
    /// Segment timings as JSON (`[{start_ms,end_ms,text}]`).
    pub segments: serde_json::Value,
    pub created_at: String,
    /// Set when the utterance produced no transcript (then `text` is empty): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<crate::transforms::asr::gate::DropReason>,
    /// Media ranges `[start_ms, end_ms)` of this utterance silenced in the archived audio
    /// because they held redacted speech.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audio_masked: Vec<[u64; 2]>,
}

/// One leg's archived audio file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioRecord {
    pub call_id: String,
    pub leg: String,
    pub speaker: Speaker,
    /// Relative to the audio folder.
    pub file: String,
    /// RFC 3339: when the leg's first audio arrived.
    pub started_at: String,
    /// Set once the recording is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Milliseconds silenced (redacted speech, or audio held past the limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_ms: Option<u64>,
    /// When retention deleted the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purged_at: Option<String>,
}

/// A prohibited-phrase hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitRecord {
    pub id: String,
    pub call_id: String,
    pub leg: String,
    pub speaker: Speaker,
    pub utterance_id: String,
    pub term: String,
    pub category: String,
    pub severity: String,
    pub matched: String,
    pub span_start: usize,
    pub span_end: usize,
    pub start_ms: u64,
    pub end_ms: u64,
    pub created_at: String,
    /// True when the text only sounds like the term (`how` is not exact); kept for readers
    /// from before `match`.
    #[serde(default)]
    pub homophone: bool,
    /// How the text matched the term; anything but `exact` means it only sounds like the term,
    /// so a reviewer can tell a likely recognition error from the words themselves.
    #[serde(default, rename = "match")]
    pub how: MatchMode,
}

/// A call's QA score against one scorecard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRecord {
    pub call_id: String,
    pub scorecard_id: String,
    pub score: f64,
    pub passed: bool,
    pub failed_items: Vec<String>,
    /// The whole [`ScoreReport`](crate::transforms::scorecard::ScoreReport) as JSON.
    pub report: serde_json::Value,
    pub scored_at: String,
}

/// A composite rule that fired on a call; its tags are added to the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFiringRecord {
    pub id: String,
    pub call_id: String,
    pub rule_id: String,
    pub description: String,
    pub category: String,
    pub severity: String,
    pub actions: Vec<String>,
    pub tags: Vec<String>,
    /// Media time the rule became true.
    pub at_ms: u64,
    /// Evidence spans as JSON (`[{leg,speaker,utterance_id,matched,span_start,...}]`).
    pub evidence: serde_json::Value,
    pub created_at: String,
}

/// A complaint early warning on a call, with the utterances that caused it. Its `tag` is also
/// added to the call's tags, so `GET /v1/calls?tag=` finds the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallWarning {
    pub call_id: String,
    /// `complaint_escalation:<signal>`.
    pub tag: String,
    pub level: String,
    pub reason: String,
    /// The alert's evidence (utterance ids, texts, matched phrases) as JSON.
    pub evidence: serde_json::Value,
    /// RFC 3339.
    pub tagged_at: String,
}

/// Who acknowledged a surge alert, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurgeAck {
    pub surge_id: String,
    pub acked_by: String,
    pub role: Option<String>,
    /// RFC 3339.
    pub acked_at: String,
    pub note: Option<String>,
}

impl From<&crate::facts::FinalUtterance> for UtteranceRecord {
    fn from(u: &crate::facts::FinalUtterance) -> UtteranceRecord {
        UtteranceRecord {
            id: u.id.clone(),
            call_id: u.call_id.clone(),
            leg: u.leg.clone(),
            speaker: u.speaker,
            start_ms: u.start_ms,
            end_ms: u.end_ms,
            language: u.language.clone(),
            text: u.text.clone(),
            segments: serde_json::to_value(&u.segments).unwrap_or_default(),
            created_at: crate::clock::rfc3339(u.at),
            dropped: None,
            audio_masked: u.audio_masked.clone(),
        }
    }
}
