//! One prohibited phrase and the attributes a lexicon gives it.

use crate::call::Speaker;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How serious a hit on a term is; ordered from `Low` to `Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lexicon and event spelling: `low`, `medium`, `high` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the lexicon spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which speaker a term is prohibited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpeakerScope {
    /// Only the agent's leg (sales promises, rudeness).
    Agent,
    /// Only the customer's leg (complaint and escalation signals).
    Customer,
    /// Either leg.
    #[default]
    Any,
}

impl SpeakerScope {
    /// The lexicon spelling: `agent`, `customer` or `any`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpeakerScope::Agent => "agent",
            SpeakerScope::Customer => "customer",
            SpeakerScope::Any => "any",
        }
    }

    /// Parses the lexicon spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<SpeakerScope> {
        match s {
            "agent" => Some(SpeakerScope::Agent),
            "customer" => Some(SpeakerScope::Customer),
            "any" => Some(SpeakerScope::Any),
            _ => None,
        }
    }

    /// Whether a term with this scope is matched on a leg spoken by `speaker`.
    ///
    /// A leg whose speaker is [`Speaker::Unknown`] is matched against every term: such legs are
    /// typically mono recordings that carry both parties, and for compliance review a missed
    /// violation costs more than an extra hit a reviewer can dismiss.
    pub fn applies(self, speaker: Speaker) -> bool {
        match (self, speaker) {
            (SpeakerScope::Any, _) | (_, Speaker::Unknown) => true,
            (SpeakerScope::Agent, Speaker::Agent) => true,
            (SpeakerScope::Customer, Speaker::Customer) => true,
            (SpeakerScope::Agent, Speaker::Customer) | (SpeakerScope::Customer, Speaker::Agent) => {
                false
            }
        }
    }
}

impl fmt::Display for SpeakerScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a term is allowed to match text that is not spelled like it.
///
/// Chinese recognition errors are mostly sound-alikes, so the looser modes trade a little
/// precision for hits the recogniser would otherwise hide.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// The normalised text holds the term (Simplified/Traditional, width and punctuation folded).
    #[default]
    Exact,
    /// Also text with the same toneless pinyin (保本保锡 for 保本保息).
    Homophone,
    /// Also text with one syllable swapped for a sound Whisper confuses it with (验重码 for
    /// 验证码); see [`near`](super::near). Terms of fewer than three syllables match as homophones.
    Near,
    /// Also text with any one syllable heard as another (故想屏幕 for 共享屏幕); see
    /// [`loose`](super::loose). Terms of three syllables match as near, shorter ones as homophones.
    Loose,
}

impl MatchMode {
    /// Every mode, strictest first.
    pub const ALL: [MatchMode; 4] = [
        MatchMode::Exact,
        MatchMode::Homophone,
        MatchMode::Near,
        MatchMode::Loose,
    ];

    /// The lexicon, event and API spelling: `exact`, `homophone`, `near` or `loose`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::Exact => "exact",
            MatchMode::Homophone => "homophone",
            MatchMode::Near => "near",
            MatchMode::Loose => "loose",
        }
    }

    /// Parses the lexicon spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<MatchMode> {
        MatchMode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for MatchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One prohibited phrase, as written in a lexicon file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Index of the term in its [`Lexicon`](super::Lexicon) and [`Matcher`](super::Matcher).
    pub id: usize,
    /// The phrase as written in the lexicon (not normalised).
    pub text: String,
    /// Category name, e.g. `sales_promise`, `rudeness`, `complaint`, `fraud`.
    pub category: String,
    pub severity: Severity,
    pub speaker: SpeakerScope,
    /// Language tag from the lexicon (`zh`, `en`), informational.
    pub language: Option<String>,
    /// How loosely the term matches (`match = "near"`, or `homophones = true` for homophone).
    pub mode: MatchMode,
    /// True when the term or its group sets the mode itself, so a per-category mode from the
    /// configuration does not override it.
    pub mode_pinned: bool,
    /// Lexicon file the term was read from, as given to the loader.
    pub file: String,
    /// 1-based line of the term in `file`.
    pub line: usize,
}
