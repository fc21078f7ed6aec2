//! The live event model pushed to `/v1/events` subscribers.

use crate::call::Speaker;
use crate::transforms::matcher::MatchMode;
use serde::{Deserialize, Serialize};

/// One live event. Serialised as a flat JSON object with a `type` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(flatten)]
    pub payload: Payload,
    pub call_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub leg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub speaker: Option<Speaker>,
    /// Media time from the start of the leg, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end_ms: Option<u64>,
    /// Wall-clock time the event was produced (RFC 3339).
    pub at: String,
}

pub use crate::facts::SegmentTiming;

impl Event {
    /// An event about a whole call (no leg, speaker or media time), made at `at` (RFC 3339).
    pub fn of_call(payload: Payload, call_id: impl Into<String>, at: String) -> Event {
        Event {
            payload,
            call_id: call_id.into(),
            leg: None,
            speaker: None,
            start_ms: None,
            end_ms: None,
            at,
        }
    }
}

impl From<&crate::facts::FinalUtterance> for Event {
    fn from(u: &crate::facts::FinalUtterance) -> Event {
        Event {
            payload: Payload::TranscriptFinal {
                utterance_id: u.id.clone(),
                text: u.text.clone(),
                language: u.language.clone(),
                segments: u.segments.clone(),
            },
            call_id: u.call_id.clone(),
            leg: Some(u.leg.clone()),
            speaker: Some(u.speaker),
            start_ms: Some(u.start_ms),
            end_ms: Some(u.end_ms),
            at: crate::clock::rfc3339(u.at),
        }
    }
}

pub use crate::transforms::assist::AlertEvidence;

/// Type-specific part of an [`Event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Payload {
    #[serde(rename = "call.started")]
    CallStarted {
        source: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        agent_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        queue: Option<String>,
        /// Participants (AOR or name) when the source tells them (SIPREC metadata).
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        participants: Vec<String>,
    },
    #[serde(rename = "transcript.partial")]
    TranscriptPartial {
        utterance_id: String,
        text: String,
        language: String,
    },
    #[serde(rename = "transcript.final")]
    TranscriptFinal {
        utterance_id: String,
        text: String,
        language: String,
        segments: Vec<SegmentTiming>,
    },
    #[serde(rename = "phrase.hit")]
    PhraseHit {
        utterance_id: String,
        term: String,
        category: String,
        severity: String,
        /// The matched text as it appears in the utterance.
        matched: String,
        /// Character offsets of `matched` within `utterance`.
        span_start: usize,
        span_end: usize,
        utterance: String,
        /// True when the hit was raised on a partial transcript.
        partial: bool,
        /// True when the utterance only sounds like the term (`match` is not `exact`): likely a
        /// recognition error, worth a listen.
        homophone: bool,
        /// How the text matched: `exact`, `homophone` (same toneless pinyin) or `near` (one
        /// syllable swapped for a sound the recogniser confuses it with).
        #[serde(rename = "match")]
        how: MatchMode,
    },
    /// A composite inspection rule became true; fired once per rule per call.
    #[serde(rename = "rule.fired")]
    RuleFired {
        /// Id of the alert this firing raises for supervisors (when its actions include
        /// `alert_supervisor`), as in `GET /v1/alerts` and `POST /v1/alerts/{id}/ack`.
        alert_id: String,
        rule_id: String,
        description: String,
        category: String,
        severity: String,
        /// `alert_agent`, `alert_supervisor`, `tag_call`.
        actions: Vec<String>,
        /// Tags added to the archived call (by `tag_call`).
        tags: Vec<String>,
        /// Media time the rule became true.
        at_ms: u64,
        /// What it fired on; empty for a required phrase that was never said.
        evidence: Vec<crate::transforms::rules::Evidence>,
    },
    #[serde(rename = "call.ended")]
    CallEnded {
        reason: crate::call::EndReason,
        duration_ms: u64,
    },
    /// The call's QA score, sent right before `call.ended` (which stays the call's last event).
    #[serde(rename = "qa.scored")]
    QaScored {
        scorecard_id: String,
        score: f64,
        passed: bool,
        failed_items: Vec<String>,
        items: Vec<crate::transforms::scorecard::ItemResult>,
    },
    /// A surge of calls, topics or phrase categories began or ended. Not about one call:
    /// `call_id` is empty.
    #[serde(rename = "surge.alert")]
    SurgeAlert(crate::transforms::surge::SurgeAlert),
    /// A knowledge-base article for what the customer just asked; sent on the agent's leg.
    #[serde(rename = "assist.suggestion")]
    AssistSuggestion {
        intent: String,
        article_id: String,
        title: String,
        answer: String,
        /// 0 to 1; several suggestions from one utterance come highest first.
        confidence: f64,
        /// The customer's words that triggered it.
        triggers: Vec<String>,
        utterance_id: String,
        /// The customer leg the utterance was heard on.
        customer_leg: String,
    },
    /// An early warning for supervisors (complaint escalation); `call_id` and the customer leg
    /// say where, `evidence` what was said.
    #[serde(rename = "alert")]
    Alert {
        /// As in `GET /v1/alerts` and `POST /v1/alerts/{id}/ack`.
        alert_id: String,
        kind: String,
        signal: String,
        level: String,
        reason: String,
        evidence: Vec<AlertEvidence>,
    },
    /// A closed utterance that produced no `transcript.final`, and why. Every utterance
    /// ends as one or the other.
    #[serde(rename = "utterance.dropped")]
    UtteranceDropped {
        utterance_id: String,
        reason: crate::transforms::asr::gate::DropReason,
        /// The error, for `recognition_failed`.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        detail: Option<String>,
    },
    /// Sent to a subscriber that fell behind and missed events.
    #[serde(rename = "events.lagged")]
    Lagged { missed: u64 },
}

impl Payload {
    /// The `type` string of this payload.
    pub fn type_name(&self) -> &'static str {
        match self {
            Payload::CallStarted { .. } => "call.started",
            Payload::TranscriptPartial { .. } => "transcript.partial",
            Payload::TranscriptFinal { .. } => "transcript.final",
            Payload::PhraseHit { .. } => "phrase.hit",
            Payload::RuleFired { .. } => "rule.fired",
            Payload::CallEnded { .. } => "call.ended",
            Payload::QaScored { .. } => "qa.scored",
            Payload::SurgeAlert(_) => "surge.alert",
            Payload::AssistSuggestion { .. } => "assist.suggestion",
            Payload::Alert { .. } => "alert",
            Payload::UtteranceDropped { .. } => "utterance.dropped",
            Payload::Lagged { .. } => "events.lagged",
        }
    }
}
