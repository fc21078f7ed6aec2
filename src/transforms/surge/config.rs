//! `[surge]`: windows, baseline and thresholds of the surge detector.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How the expected count of a window is learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineKind {
    /// One EWMA per time-of-day slot, updated once a day: follows the daily curve.
    Seasonal,
    /// One EWMA over consecutive slots: follows the recent level, blind to the time of day.
    Ewma,
}

/// `[surge]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SurgeConfig {
    /// Run the detector and its ticker.
    pub enabled: bool,
    /// Length of the counting window that ends now; it slides every minute.
    pub window_min: u32,
    /// `seasonal` (per time-of-day slot) or `ewma`.
    pub baseline: BaselineKind,
    /// Length of a baseline slot; must divide a day.
    pub slot_min: u32,
    /// Weight of the newest observation in the EWMA (per day for `seasonal`, per slot for `ewma`).
    pub alpha: f64,
    /// Days a baseline must have watched before it may alert (0 alerts at once against `min_expected`).
    pub warmup_days: u32,
    /// Fewer calls than this in the window never alert, however small the baseline.
    pub min_count: u64,
    /// The window must hold at least this multiple of the expected count to alert.
    pub min_ratio: f64,
    /// Poisson upper-tail probability below which a surge is raised.
    pub p_raise: f64,
    /// Probability at or above which a raised surge counts as over.
    pub p_clear: f64,
    /// Consecutive minutes at or above `p_clear` before the all-clear.
    pub clear_after_min: u32,
    /// Minutes after an all-clear during which the same key cannot alert again.
    pub cooldown_min: u32,
    /// Floor of the expected count of a window, so an empty baseline is not divided by zero.
    pub min_expected: f64,
    /// Minutes of per-minute counts kept (the longest `/v1/topics` window).
    pub history_min: u32,
    /// Queue label of calls whose source gave none.
    pub default_queue: String,
    /// Most keys (queues, topics, categories, emerging phrases) counted at once. Queue labels
    /// come from callers' forks and SBCs, so past this the key heard from longest ago that is
    /// not in a surge is forgotten to make room.
    pub max_keys: usize,
    /// Directory of inquiry-topic files (`*.toml`, format in `lexicons/topics/README.md`).
    pub topics_dir: PathBuf,
    /// How often the ticker evaluates, in seconds of wall-clock time.
    pub tick_s: u64,
    /// `[surge.emerging]`: phrases no topic lists, found by n-gram clustering.
    pub emerging: EmergingConfig,
}

/// `[surge.emerging]`: how unseen frequent phrases become emerging topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmergingConfig {
    /// Look for emerging phrases in customers' final utterances.
    pub enabled: bool,
    /// Distinct calls in the window before a gram is considered (the alert itself still needs
    /// `min_count` and the Poisson test).
    pub min_calls: u64,
    /// A gram said in at least this share of a day's calls, by its long-run average, is
    /// ordinary vocabulary and never a candidate.
    pub stop_share: f64,
    /// Share of a gram's calls that must be a longer phrase's calls for the two to merge.
    pub overlap: f64,
    /// Distinct grams remembered; beyond it the rarest are forgotten.
    pub max_grams: usize,
    /// Emerging phrases watched at once; beyond it the one silent longest (and not surging) is
    /// retired.
    pub max_keys: usize,
}

impl Default for EmergingConfig {
    fn default() -> Self {
        EmergingConfig {
            enabled: true,
            min_calls: 5,
            stop_share: 0.01,
            overlap: 0.8,
            max_grams: 50_000,
            max_keys: 100,
        }
    }
}

impl Default for SurgeConfig {
    fn default() -> Self {
        SurgeConfig {
            enabled: true,
            window_min: 15,
            baseline: BaselineKind::Seasonal,
            slot_min: 15,
            alpha: 0.2,
            warmup_days: 1,
            min_count: 10,
            min_ratio: 1.5,
            p_raise: 0.00001,
            p_clear: 0.05,
            clear_after_min: 3,
            cooldown_min: 30,
            min_expected: 1.0,
            history_min: 1440,
            default_queue: "default".into(),
            max_keys: 5000,
            topics_dir: PathBuf::from("lexicons/topics"),
            tick_s: 5,
            emerging: EmergingConfig::default(),
        }
    }
}

impl SurgeConfig {
    /// Checks the values; the message names the key and the accepted range.
    pub fn validate(&self) -> Result<(), String> {
        let fail = |m: &str| Err(format!("surge.{m}"));
        if self.window_min == 0 || self.window_min > self.history_min {
            return fail("window_min must be at least 1 and at most history_min");
        }
        if self.slot_min == 0 || 1440 % self.slot_min != 0 {
            return fail("slot_min must divide a day (1440 minutes), e.g. 15, 30 or 60");
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return fail("alpha must be in (0, 1]");
        }
        if !(self.p_raise > 0.0 && self.p_raise < self.p_clear && self.p_clear <= 1.0) {
            return fail("p_raise and p_clear must satisfy 0 < p_raise < p_clear <= 1");
        }
        if self.min_ratio < 1.0 {
            return fail("min_ratio must be at least 1");
        }
        if self.min_expected <= 0.0 {
            return fail("min_expected must be above 0");
        }
        if self.clear_after_min == 0 {
            return fail("clear_after_min must be at least 1");
        }
        if self.tick_s == 0 {
            return fail("tick_s must be at least 1");
        }
        let e = &self.emerging;
        if e.min_calls < 2 {
            return fail("emerging.min_calls must be at least 2 (one caller is never a trend)");
        }
        if !(e.stop_share > 0.0 && e.stop_share <= 1.0) {
            return fail("emerging.stop_share must be in (0, 1]");
        }
        if !(e.overlap > 0.0 && e.overlap <= 1.0) {
            return fail("emerging.overlap must be in (0, 1]");
        }
        if e.max_grams < 1000 || e.max_keys == 0 {
            return fail(
                "emerging.max_grams must be at least 1000 and emerging.max_keys at least 1",
            );
        }
        if self.default_queue.trim().is_empty() {
            return fail("default_queue must not be empty");
        }
        if self.max_keys < 16 {
            return fail("max_keys must be at least 16");
        }
        Ok(())
    }
}
