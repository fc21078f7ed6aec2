//! What the surge detector reports.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What is being counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Call arrivals, keyed by queue label (plus the all-queues total `all`).
    Calls,
    /// Distinct calls whose customer raised an inquiry topic, keyed by topic id.
    Topic,
    /// Distinct calls with a phrase hit, keyed by lexicon category.
    Phrase,
    /// Distinct calls whose customer said a phrase no lexicon lists, found by n-gram
    /// clustering, keyed by the phrase itself (登录不了).
    Emerging,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 4] = [
        Metric::Calls,
        Metric::Topic,
        Metric::Phrase,
        Metric::Emerging,
    ];

    /// The event and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Calls => "calls",
            Metric::Topic => "topic",
            Metric::Phrase => "phrase",
            Metric::Emerging => "emerging",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a surge begins or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SurgeState {
    Raised,
    Cleared,
}

impl SurgeState {
    /// The event and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SurgeState::Raised => "raised",
            SurgeState::Cleared => "cleared",
        }
    }
}

/// One state change of one surge: a surge yields one `Raised` and, later, one `Cleared`
/// with the same `surge_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurgeAlert {
    /// Shared by the raised and cleared alerts of one surge.
    pub surge_id: String,
    pub metric: Metric,
    pub key: String,
    /// Counting window, in seconds.
    pub window_s: u64,
    /// Count in the window (calls, or distinct calls for topics and phrases).
    pub observed: u64,
    /// What the baseline expected in the same window.
    pub expected: f64,
    /// `observed / expected`.
    pub ratio: f64,
    /// Poisson probability of at least `observed` under the baseline (taken at its upper
    /// estimate, see `detector::UNCERTAINTY_Z`).
    pub p_value: f64,
    pub state: SurgeState,
    /// End of the evaluated window (RFC 3339).
    pub window_end: String,
    /// When the surge was raised (RFC 3339); equal to `window_end` on the raised alert.
    pub raised_at: String,
}
