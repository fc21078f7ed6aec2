//! What one call said and when: the input of scoring, built the same way live and from the archive.

use crate::call::Speaker;
use crate::transforms::matcher::{normalize, Severity};
use serde::{Deserialize, Serialize};

/// One final utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerUtterance {
    pub id: String,
    pub speaker: Speaker,
    /// Media time from the start of the call, in milliseconds.
    pub start_ms: u64,
    pub end_ms: u64,
    pub language: String,
    pub text: String,
}

/// One lexicon hit kept in the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerHit {
    pub speaker: Speaker,
    pub term: String,
    pub category: String,
    pub severity: Severity,
    pub start_ms: u64,
}

/// Everything scoring looks at for one call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallLedger {
    pub call_id: String,
    /// Length of the call's media, in milliseconds.
    pub duration_ms: u64,
    pub utterances: Vec<LedgerUtterance>,
    pub hits: Vec<LedgerHit>,
}

impl CallLedger {
    /// A ledger for a call that has produced nothing yet.
    pub fn new(call_id: &str) -> CallLedger {
        CallLedger {
            call_id: call_id.to_string(),
            ..CallLedger::default()
        }
    }

    /// Length used for ratios and "last N seconds": the media length, or the last speech when a
    /// source reported less media than was transcribed.
    pub fn effective_duration_ms(&self) -> u64 {
        let last = self.utterances.iter().map(|u| u.end_ms).max().unwrap_or(0);
        self.duration_ms.max(last)
    }

    /// Merged speech intervals of the utterances `keep` selects, sorted and disjoint.
    pub(crate) fn speech(&self, keep: impl Fn(&LedgerUtterance) -> bool) -> Vec<(u64, u64)> {
        let mut spans: Vec<(u64, u64)> = self
            .utterances
            .iter()
            .filter(|u| keep(u) && u.end_ms > u.start_ms)
            .map(|u| (u.start_ms, u.end_ms))
            .collect();
        spans.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

/// Total length of disjoint intervals.
pub(crate) fn total(spans: &[(u64, u64)]) -> u64 {
    spans.iter().map(|(s, e)| e - s).sum()
}

/// Total overlap of two sorted, disjoint interval lists.
pub(crate) fn overlap(a: &[(u64, u64)], b: &[(u64, u64)]) -> u64 {
    let (mut i, mut j, mut sum) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if hi > lo {
            sum += hi - lo;
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    sum
}

/// True when `phrase` (normalised) occurs in `text` (normalised) not inside a longer Latin word.
pub(crate) fn contains_phrase(text: &str, phrase: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        let first = phrase.chars().next();
        let last = phrase.chars().next_back();
        let glued_before = word(first) && word(before);
        let glued_after = word(last) && word(after);
        !glued_before && !glued_after
    })
}

/// Normalised text of an utterance, for phrase checks.
pub(crate) fn normalized(u: &LedgerUtterance) -> String {
    normalize(&u.text).text
}

impl From<&crate::facts::FinalUtterance> for LedgerUtterance {
    fn from(u: &crate::facts::FinalUtterance) -> LedgerUtterance {
        LedgerUtterance {
            id: u.id.clone(),
            speaker: u.speaker,
            start_ms: u.start_ms,
            end_ms: u.end_ms,
            language: u.language.clone(),
            text: u.text.clone(),
        }
    }
}
