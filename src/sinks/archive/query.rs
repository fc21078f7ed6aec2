//! Filters accepted by the archive reader and the shapes of what it returns.
//!
//! Filters derive `Deserialize` so the HTTP API and the CLI can take them straight from a
//! query string; unknown fields are refused so a misspelt filter is not silently ignored.

use super::record::{HitRecord, RuleFiringRecord, UtteranceRecord};
use super::sound::SearchMode;
use crate::call::Speaker;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size accepted.
pub const MAX_LIMIT: u32 = 500;

/// Which calls [`ArchiveReader::list_calls`](super::ArchiveReader::list_calls) returns.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallFilter {
    /// Calls started at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Calls started before this RFC 3339 time.
    pub to: Option<String>,
    /// Calls with a leg of this speaker; with `category`/`has_hits`, only hits spoken by it count.
    pub speaker: Option<Speaker>,
    /// Calls taken by this agent: the call's agent id, or the participant of an agent leg.
    pub agent_id: Option<String>,
    /// Calls with a leg whose participant is exactly this.
    pub participant: Option<String>,
    /// Calls with at least one hit of this category.
    pub category: Option<String>,
    /// `true`: calls with at least one hit; `false`: calls with none.
    pub has_hits: Option<bool>,
    /// Calls whose QA score is at least this (0–100).
    pub min_score: Option<f64>,
    /// Calls whose QA score is at most this (0–100).
    pub max_score: Option<f64>,
    /// `true`: calls that passed their scorecard; `false`: calls that failed it.
    pub passed: Option<bool>,
    /// Calls that failed this scorecard item (its `id`).
    pub failed_item: Option<String>,
    /// Calls a rule tagged with this tag (`tag_call`).
    pub tag: Option<String>,
    /// Calls of this queue.
    pub queue: Option<String>,
    /// Calls from this source (`twilio`, `audio_fork`, `siprec`, `rtp`, `whip`, ...).
    pub source: Option<String>,
    /// Calls that ended for this reason (`hangup`, `media_timeout`, `interrupted`, ...).
    pub end_reason: Option<String>,
    /// Calls with a hit of this lexicon term.
    pub term: Option<String>,
    /// Calls on which this composite rule (its id) fired.
    pub rule: Option<String>,
    /// Calls with a supervisor alert of this level (complaint warning or alerting rule).
    pub alert_level: Option<String>,
    /// `true`: calls a reviewer marked reviewed; `false`: the others.
    pub reviewed: Option<bool>,
    /// Calls with a hit that reviewers `confirmed`, `rejected`, or left `unreviewed`.
    pub verdict: Option<String>,
    /// Calls in which these words were said (in one utterance; by `speaker` when given).
    pub q: Option<String>,
    /// How `q` matches: `exact` (default), `pinyin` or `near`, as for [`SearchQuery::mode`].
    #[serde(default)]
    pub mode: SearchMode,
    /// `newest` (default), `oldest`, `score_asc` or `score_desc`.
    pub sort: Option<String>,
    /// `json` (default) or `csv`: on the HTTP API, every matching call as a CSV download.
    pub format: Option<String>,
    /// Page size, 1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: Option<u64>,
    /// `next_cursor` of the previous page; steadier than `offset` while calls keep arriving.
    pub cursor: Option<String>,
    /// The queues the asking principal may see (`None`: all). Set by the server from the
    /// credential, never from the query string: a queue-limited reviewer's counts, pages and
    /// searches only ever cover its queues.
    #[serde(skip)]
    pub visible_queues: Option<Vec<String>>,
}

/// A transcript search for [`ArchiveReader::search`](super::ArchiveReader::search).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchQuery {
    /// What to find: whitespace-separated terms that must all occur (as substrings,
    /// ASCII case-insensitive); `"double quotes"` keep a phrase together.
    pub q: String,
    /// `exact` (default): the text holds each term as written. `pinyin`: or characters with
    /// the same toneless pinyin. `near`: or, for terms of three or more characters, all but
    /// one syllable the same. Chinese terms only in the sound modes.
    #[serde(default)]
    pub mode: SearchMode,
    /// Only utterances of this speaker.
    pub speaker: Option<Speaker>,
    /// Only utterances of this call.
    pub call_id: Option<String>,
    /// Utterances finalised at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Utterances finalised before this RFC 3339 time.
    pub to: Option<String>,
    /// Page size, 1 to [`MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
    pub limit: Option<u32>,
    /// Rows to skip.
    pub offset: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// The queues the asking principal may see (`None`: all). Set by the server from the
    /// credential, never from the query string: a queue-limited reviewer's counts, pages and
    /// searches only ever cover its queues.
    #[serde(skip)]
    pub visible_queues: Option<Vec<String>>,
}

/// One page of results, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// How many items match in all (calls only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// A leg of an archived call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegSummary {
    pub leg: String,
    pub speaker: Speaker,
    pub participant: Option<String>,
    pub started_at: String,
}

/// A call as listed: its metadata, legs and how much was said and flagged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSummary {
    pub id: String,
    /// Empty while only utterances or hits of the call have been archived.
    pub source: String,
    pub agent_id: Option<String>,
    pub queue: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    pub duration_ms: Option<u64>,
    pub metadata: serde_json::Value,
    pub legs: Vec<LegSummary>,
    /// Utterances transcribed.
    pub utterance_count: u64,
    /// Utterances that produced no transcript (their rows carry `dropped`).
    pub dropped_count: u64,
    pub hit_count: u64,
    /// Hit counts keyed by category.
    pub hits_by_category: BTreeMap<String, u64>,
    /// The QA score, once the call has been scored.
    pub qa: Option<CallScore>,
    /// Tags added by rules, sorted.
    pub tags: Vec<String>,
    /// Who marked the call reviewed, if anyone.
    pub review: Option<super::review::CallReview>,
}

/// A call's QA score as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallScore {
    pub scorecard_id: String,
    pub score: f64,
    pub passed: bool,
    pub failed_items: Vec<String>,
    pub scored_at: String,
}

/// A call with everything archived about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallDetail {
    #[serde(flatten)]
    pub call: CallSummary,
    /// Final transcripts, ordered by leg then start time.
    pub utterances: Vec<UtteranceRecord>,
    /// Hits ordered by start time.
    pub hits: Vec<HitRecord>,
    /// The full QA report (every item with its outcome and evidence), once scored.
    pub qa_report: Option<serde_json::Value>,
    /// Composite rules that fired, ordered by media time.
    pub rule_firings: Vec<RuleFiringRecord>,
    /// Complaint early warnings with their evidence, oldest first; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<super::record::CallWarning>,
    /// Archived audio of the call's legs (replay with `GET /v1/calls/{id}/audio`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub audio: Vec<super::record::AudioRecord>,
    /// Reviewers' verdicts, overrides and the score after them.
    pub review: super::review::ReviewState,
}

/// An utterance matching a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub call_id: String,
    pub leg: String,
    pub speaker: Speaker,
    pub utterance_id: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub language: String,
    pub created_at: String,
    pub text: String,
    /// Part of `text` around the first match, HTML-escaped, matches wrapped in `<mark>`.
    pub snippet: String,
    /// Character ranges `[start, end)` of every match in `text`.
    pub highlights: Vec<[usize; 2]>,
    /// How the utterance matched: `exact`, `pinyin` or `near` (results rank in that order).
    #[serde(rename = "match")]
    pub how: SearchMode,
}
