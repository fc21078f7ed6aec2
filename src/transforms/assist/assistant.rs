//! Per-call assist state: which intents were already suggested, how often each escalation
//! signal was heard. Pure: time comes in with each utterance.

use super::knowledge::{Knowledge, STRONG_WEIGHT, TRIGGER_WEIGHT};
use crate::call::Speaker;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use time::OffsetDateTime;

/// An utterance that contributed to an escalation warning (sent as an `alert` event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvidence {
    pub utterance_id: String,
    pub text: String,
    /// The signal phrases heard in it.
    pub matched: Vec<String>,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// Calls silent for this long are forgotten (their hang-up was missed or they are over).
const CALL_TTL_S: i64 = 4 * 3600;

/// One customer utterance.
#[derive(Debug, Clone, Copy)]
pub struct Heard<'a> {
    pub utterance_id: &'a str,
    pub text: &'a str,
    pub start_ms: u64,
    pub end_ms: u64,
    pub at: OffsetDateTime,
}

/// An article to push to the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub intent: String,
    pub article_id: String,
    pub title: String,
    pub answer: String,
    pub confidence: f64,
    pub triggers: Vec<String>,
}

/// A complaint early warning.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub signal: String,
    pub level: String,
    pub reason: String,
    pub evidence: Vec<AlertEvidence>,
}

#[derive(Default)]
struct CallState {
    suggested: HashSet<usize>,
    warned: HashSet<String>,
    /// Per signal: the distinct utterances that carried it.
    heard: HashMap<String, Vec<AlertEvidence>>,
    last_seen: i64,
}

/// The live assistant shared by every leg. Backpressure: none needed; one short critical
/// section per customer utterance.
pub struct Assistant {
    kb: Knowledge,
    min_confidence: f64,
    calls: Mutex<HashMap<String, CallState>>,
}

impl Assistant {
    pub fn new(kb: Knowledge, min_confidence: f64) -> Assistant {
        Assistant {
            kb,
            min_confidence,
            calls: Mutex::new(HashMap::new()),
        }
    }

    /// The knowledge in use.
    pub fn knowledge(&self) -> &Knowledge {
        &self.kb
    }

    /// Suggestions (highest confidence first, each intent once per call) and warnings (each
    /// signal once per call) for one customer utterance.
    pub fn on_customer(&self, call_id: &str, u: Heard<'_>) -> (Vec<Suggestion>, Vec<Warning>) {
        let now = u.at.unix_timestamp();
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if !calls.contains_key(call_id) {
            calls.retain(|_, c| now - c.last_seen < CALL_TTL_S);
        }
        let state = calls.entry(call_id.to_string()).or_default();
        state.last_seen = now;
        (self.suggest(state, &u), self.warn(state, &u))
    }

    fn suggest(&self, state: &mut CallState, u: &Heard<'_>) -> Vec<Suggestion> {
        let Some(m) = &self.kb.article_matcher else {
            return Vec::new();
        };
        // Per article: the distinct phrases heard and whether each was strong.
        let mut found: BTreeMap<usize, Vec<(String, bool)>> = BTreeMap::new();
        for hit in m.find(u.text, Speaker::Customer) {
            let cat = &m.term(hit.term_id).category;
            let strong = cat.starts_with('s');
            let Ok(i) = cat[1..].parse::<usize>() else {
                continue;
            };
            let phrases = found.entry(i).or_default();
            if !phrases.iter().any(|(p, _)| *p == hit.matched) {
                phrases.push((hit.matched.clone(), strong));
            }
        }
        let mut out: Vec<Suggestion> = found
            .into_iter()
            .filter(|(i, _)| !state.suggested.contains(i))
            .map(|(i, phrases)| {
                // Noisy-OR: each phrase is independent evidence for the intent.
                let miss: f64 = phrases
                    .iter()
                    .map(|(_, s)| 1.0 - if *s { STRONG_WEIGHT } else { TRIGGER_WEIGHT })
                    .product();
                let a = &self.kb.articles[i];
                (
                    i,
                    Suggestion {
                        intent: a.intent.clone(),
                        article_id: a.id.clone(),
                        title: a.title.clone(),
                        answer: a.answer.clone(),
                        confidence: 1.0 - miss,
                        triggers: phrases.into_iter().map(|(p, _)| p).collect(),
                    },
                )
            })
            .filter(|(_, s)| s.confidence + 1e-9 >= self.min_confidence)
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(i, s)| {
                state.suggested.insert(i);
                s
            })
            .collect();
        out.sort_by(|a, b| {
            b.confidence
                .total_cmp(&a.confidence)
                .then_with(|| a.intent.cmp(&b.intent))
        });
        out
    }

    fn warn(&self, state: &mut CallState, u: &Heard<'_>) -> Vec<Warning> {
        let Some(m) = &self.kb.signal_matcher else {
            return Vec::new();
        };
        let mut matched: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for hit in m.find(u.text, Speaker::Customer) {
            let list = matched
                .entry(m.term(hit.term_id).category.as_str())
                .or_default();
            if !list.contains(&hit.matched) {
                list.push(hit.matched.clone());
            }
        }
        let mut out = Vec::new();
        for signal in &self.kb.signals {
            let Some(phrases) = matched.remove(signal.id.as_str()) else {
                continue;
            };
            if state.warned.contains(&signal.id) {
                continue;
            }
            let heard = state.heard.entry(signal.id.clone()).or_default();
            heard.push(AlertEvidence {
                utterance_id: u.utterance_id.to_string(),
                text: u.text.to_string(),
                matched: phrases,
                start_ms: u.start_ms,
                end_ms: u.end_ms,
            });
            if heard.len() as u32 >= signal.repeat {
                state.warned.insert(signal.id.clone());
                out.push(Warning {
                    signal: signal.id.clone(),
                    level: signal.level.as_str().to_string(),
                    reason: signal.reason.clone(),
                    evidence: std::mem::take(heard),
                });
            }
        }
        // Most severe first, so a supervisor's list leads with the regulator threat.
        out.sort_by_key(|w| {
            std::cmp::Reverse(crate::transforms::matcher::Severity::parse(&w.level))
        });
        out
    }
}
