//! Scoring one call against a scorecard.

use super::card::{ItemKind, Scorecard, Window};
use super::ledger::{contains_phrase, normalized, overlap, total, CallLedger, LedgerUtterance};
use crate::call::Speaker;
use serde::{Deserialize, Serialize};

/// How one item came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Nothing to judge (e.g. no speech to measure a rate on); left out of the score.
    NotApplicable,
}

/// One item's result, with what it was judged on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResult {
    pub id: String,
    pub name: String,
    pub weight: f64,
    pub outcome: Outcome,
    /// The measured ratio or rate, for measured items.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<f64>,
    /// What the judgement rests on: the utterance or hit found, or why nothing was.
    pub detail: String,
    /// The utterance the judgement rests on, when there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub utterance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub at_ms: Option<u64>,
}

/// A call's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreReport {
    pub scorecard_id: String,
    /// 0–100: the weight of passed items over the weight of applicable items.
    pub score: f64,
    pub passed: bool,
    /// The score needed to pass (kept so a reviewer's overrides can re-judge the call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_score: Option<f64>,
    /// Ids of the failed items, in scorecard order.
    pub failed_items: Vec<String>,
    pub items: Vec<ItemResult>,
}

/// Scores `ledger` against `card`.
pub fn score(card: &Scorecard, ledger: &CallLedger) -> ScoreReport {
    let duration = ledger.effective_duration_ms();
    let texts: Vec<String> = ledger.utterances.iter().map(normalized).collect();
    let mut items = Vec::with_capacity(card.items.len());
    for item in &card.items {
        let mut r = ItemResult {
            id: item.id.clone(),
            name: item.name.clone(),
            weight: item.weight,
            outcome: Outcome::NotApplicable,
            value: None,
            detail: String::new(),
            utterance_id: None,
            at_ms: None,
        };
        match &item.kind {
            ItemKind::Said {
                speaker,
                phrases,
                window,
            }
            | ItemKind::NotSaid {
                speaker,
                phrases,
                window,
            } => {
                let found = ledger.utterances.iter().zip(&texts).find(|(u, t)| {
                    speaker.applies(u.speaker)
                        && in_window(u, *window, duration)
                        && phrases.iter().any(|p| contains_phrase(t, p))
                });
                let want_said = matches!(item.kind, ItemKind::Said { .. });
                r.outcome = if found.is_some() == want_said {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                };
                match found {
                    Some((u, _)) => {
                        r.detail = format!("{} said: {}", u.speaker, u.text);
                        r.utterance_id = Some(u.id.clone());
                        r.at_ms = Some(u.start_ms);
                    }
                    None => r.detail = format!("not said {}", describe(*window)),
                }
            }
            ItemKind::NoHits {
                categories,
                min_severity,
                speaker,
            } => {
                let found = ledger.hits.iter().find(|h| {
                    speaker.applies(h.speaker)
                        && h.severity >= *min_severity
                        && (categories.is_empty() || categories.contains(&h.category))
                });
                r.outcome = if found.is_some() {
                    Outcome::Fail
                } else {
                    Outcome::Pass
                };
                r.detail = match found {
                    Some(h) => {
                        r.at_ms = Some(h.start_ms);
                        format!(
                            "{} hit `{}` ({}, {})",
                            h.speaker, h.term, h.category, h.severity
                        )
                    }
                    None => "no such hit".into(),
                };
            }
            ItemKind::SilenceRatio { max } => {
                if duration > 0 {
                    let speech = total(&ledger.speech(|_| true));
                    let ratio = 1.0 - speech as f64 / duration as f64;
                    measured(
                        &mut r,
                        ratio,
                        ratio <= *max,
                        format!(
                            "silence {:.0}% of the call (max {:.0}%)",
                            ratio * 100.0,
                            max * 100.0
                        ),
                    );
                } else {
                    r.detail = "no media".into();
                }
            }
            ItemKind::TalkOverRatio { max } => {
                let all = total(&ledger.speech(|_| true));
                if all > 0 {
                    let agent = ledger.speech(|u| u.speaker == Speaker::Agent);
                    let customer = ledger.speech(|u| u.speaker == Speaker::Customer);
                    let ratio = overlap(&agent, &customer) as f64 / all as f64;
                    measured(
                        &mut r,
                        ratio,
                        ratio <= *max,
                        format!(
                            "both sides speaking {:.0}% of speech (max {:.0}%)",
                            ratio * 100.0,
                            max * 100.0
                        ),
                    );
                } else {
                    r.detail = "no speech".into();
                }
            }
            ItemKind::SpeechRate {
                speaker,
                zh_cpm,
                en_wpm,
            } => {
                let zh = rate(
                    ledger,
                    |u| speaker.applies(u.speaker) && u.language.starts_with("zh"),
                    cjk_chars,
                );
                let en = rate(
                    ledger,
                    |u| speaker.applies(u.speaker) && u.language.starts_with("en"),
                    words,
                );
                // Judge on the language the speaker used most; too little speech says nothing.
                let (units, ms, (lo, hi), unit) = if zh.1 >= en.1 {
                    (zh.0, zh.1, *zh_cpm, "characters")
                } else {
                    (en.0, en.1, *en_wpm, "words")
                };
                if ms >= MIN_RATE_SPEECH_MS {
                    let per_min = units as f64 * 60_000.0 / ms as f64;
                    measured(
                        &mut r,
                        per_min,
                        (lo..=hi).contains(&per_min),
                        format!("{per_min:.0} {unit}/min (expected {lo:.0}–{hi:.0})"),
                    );
                } else {
                    r.detail = format!("only {} ms of speech", ms);
                }
            }
        }
        items.push(r);
    }
    let weight = |o: Outcome| -> f64 {
        items
            .iter()
            .filter(|i| i.outcome == o)
            .map(|i| i.weight)
            .sum()
    };
    let (pass, fail) = (weight(Outcome::Pass), weight(Outcome::Fail));
    let score = if pass + fail > 0.0 {
        (1000.0 * pass / (pass + fail)).round() / 10.0
    } else {
        100.0
    };
    ScoreReport {
        scorecard_id: card.id.clone(),
        score,
        passed: score >= card.pass_score,
        pass_score: Some(card.pass_score),
        failed_items: items
            .iter()
            .filter(|i| i.outcome == Outcome::Fail)
            .map(|i| i.id.clone())
            .collect(),
        items,
    }
}

/// A rate measured over less speech than this is not judged.
const MIN_RATE_SPEECH_MS: u64 = 5_000;

fn measured(r: &mut ItemResult, value: f64, ok: bool, detail: String) {
    r.value = Some((value * 1000.0).round() / 1000.0);
    r.outcome = if ok { Outcome::Pass } else { Outcome::Fail };
    r.detail = detail;
}

fn in_window(u: &LedgerUtterance, w: Window, duration_ms: u64) -> bool {
    let first_ok = w.first_s.is_none_or(|s| u.start_ms < u64::from(s) * 1000);
    let last_ok = w
        .last_s
        .is_none_or(|s| u.end_ms + u64::from(s) * 1000 >= duration_ms);
    first_ok && last_ok
}

fn describe(w: Window) -> String {
    match (w.first_s, w.last_s) {
        (Some(f), Some(l)) => format!("in the first {f} s and the last {l} s"),
        (Some(f), None) => format!("in the first {f} s"),
        (None, Some(l)) => format!("in the last {l} s"),
        (None, None) => "in the call".into(),
    }
}

/// (units spoken, milliseconds of speech) over the utterances `keep` selects.
fn rate(
    ledger: &CallLedger,
    keep: impl Fn(&LedgerUtterance) -> bool,
    count: fn(&str) -> usize,
) -> (usize, u64) {
    let units = ledger
        .utterances
        .iter()
        .filter(|u| keep(u))
        .map(|u| count(&u.text))
        .sum();
    (units, total(&ledger.speech(keep)))
}

fn cjk_chars(text: &str) -> usize {
    text.chars()
        .filter(|c| matches!(*c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF))
        .count()
}

fn words(text: &str) -> usize {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .count()
}
