//! The surge detector: counts arrivals, topics and phrase categories per minute, learns what
//! each window should hold and raises one alert per surge. Pure: time is passed in.

use super::alert::{Metric, SurgeAlert, SurgeState};
use super::config::SurgeConfig;
use super::poisson::{first_improbable, quantile, upper_tail};
use super::series::{Baseline, Phase, Series};
use crate::clock::rfc3339;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use time::OffsetDateTime;

const MINUTES_PER_DAY: i64 = 1440;
/// A clock jump longer than this is not replayed minute by minute; the detector resumes from
/// one history length before the new time.
const MAX_REPLAY_MIN: i64 = 7 * MINUTES_PER_DAY;
/// Queue labels are cut to this many characters before they become keys.
pub const MAX_KEY_CHARS: usize = 64;

/// How many standard errors of the learned baseline are added before testing a count: the
/// baseline is itself an estimate, and a slot that happened to be learned low would otherwise
/// make ordinary traffic look improbable.
pub const UNCERTAINTY_Z: f64 = 1.5;

/// A window's expectation under the baseline.
struct Expected {
    mean: f64,
    stderr: f64,
    learned: bool,
}

/// The numbers of one key over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyStatus {
    pub metric: Metric,
    pub key: String,
    pub window_s: u64,
    /// Count in the window.
    pub count: u64,
    /// What the baseline expects in the same window (before the `min_expected` floor).
    pub expected: f64,
    /// `count / max(expected, min_expected)`: above 1 the key runs hotter than usual.
    pub ratio: f64,
    /// Poisson probability of at least `count` under the baseline.
    pub p_value: f64,
    /// Whether the baseline has watched enough days to judge this window.
    pub learned: bool,
    /// Id of the surge this key is in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surge_id: Option<String>,
}

/// One point of a key's history: the window of `window_s` ending at `at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// End of the window (exclusive, RFC 3339); the newest point ends after the current minute.
    pub at: String,
    pub count: u64,
    /// What the baseline expects in the window.
    pub expected: f64,
    /// The central 95 % of counts the baseline expects: ordinary traffic stays within.
    pub low: u64,
    pub high: u64,
    /// The smallest count that would raise a surge in this window; `None` while the baseline
    /// is still learning this time of day (nothing is raised then).
    pub raise_at: Option<u64>,
}

/// A key's recent windows, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyHistory {
    pub metric: Metric,
    pub key: String,
    pub window_s: u64,
    pub step_s: u64,
    pub points: Vec<HistoryPoint>,
}

#[derive(Debug, Default)]
struct CallMarks {
    counted: HashSet<(Metric, String)>,
    last_minute: i64,
}

/// Counts and judges every key. Feed it with [`record`](Self::record) (or the helpers) and call
/// [`tick`](Self::tick) with the current time at least once a minute.
#[derive(Debug)]
pub struct SurgeDetector {
    cfg: SurgeConfig,
    slot_min: i64,
    slots_per_day: usize,
    series: BTreeMap<(Metric, String), Series>,
    calls: HashMap<String, CallMarks>,
    /// Next minute boundary to process: minute `next_minute - 1` is the last complete one.
    next_minute: i64,
    /// Slots that began before this minute were seen only in part and are not learned.
    learn_from: i64,
    /// Full slots of each time of day the detector has watched.
    slot_seen: Vec<u32>,
    /// Keys forgotten to stay within `max_keys`, and new keys not counted because every
    /// counted key was in a surge.
    evicted: u64,
    refused: u64,
}

fn minute_of(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 60_000_000_000) as i64
}

fn time_of(minute: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(minute * 60).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl SurgeDetector {
    /// A detector that starts watching at `start`. `cfg` must have passed
    /// [`SurgeConfig::validate`].
    pub fn new(cfg: SurgeConfig, start: OffsetDateTime) -> SurgeDetector {
        let slot_min = cfg.slot_min.max(1) as i64;
        let slots_per_day = (MINUTES_PER_DAY / slot_min) as usize;
        let m = minute_of(start);
        SurgeDetector {
            cfg,
            slot_min,
            slots_per_day,
            series: BTreeMap::new(),
            calls: HashMap::new(),
            next_minute: m + 1,
            learn_from: m + 1,
            slot_seen: vec![0; slots_per_day],
            evicted: 0,
            refused: 0,
        }
    }

    /// Keys counted now.
    pub fn key_count(&self) -> usize {
        self.series.len()
    }

    /// Keys forgotten to stay within `max_keys`, and new keys refused because no key could
    /// be forgotten.
    pub fn evictions(&self) -> (u64, u64) {
        (self.evicted, self.refused)
    }

    /// Makes room for one more key when the detector holds `max_keys`: forgets the key heard
    /// from longest ago that is not in a surge. False when every key is in a surge.
    fn make_room(&mut self) -> bool {
        if self.series.len() < self.cfg.max_keys {
            return true;
        }
        let oldest = self
            .series
            .iter()
            .filter(|(k, s)| !matches!(s.phase, Phase::Raised { .. }) && k.1 != "all")
            .min_by_key(|(_, s)| s.last_seen)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                self.series.remove(&k);
                self.evicted += 1;
                if self.evicted.is_power_of_two() {
                    tracing::warn!(
                        max_keys = self.cfg.max_keys,
                        evicted = self.evicted,
                        "surge detector at its key limit; forgetting the least recent keys"
                    );
                }
                true
            }
            None => {
                self.refused += 1;
                false
            }
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &SurgeConfig {
        &self.cfg
    }

    fn keep(&self) -> usize {
        self.cfg
            .history_min
            .max(self.cfg.window_min)
            .max(self.cfg.slot_min) as usize
    }

    fn slot_of(&self, minute: i64) -> usize {
        (minute.rem_euclid(MINUTES_PER_DAY) / self.slot_min) as usize
    }

    /// Counts `call_id` once under `metric`/`key` at `at`; returns false when this call was
    /// already counted there (a call that says "冻结" ten times is one call about freezing).
    pub fn record(&mut self, metric: Metric, key: &str, call_id: &str, at: OffsetDateTime) -> bool {
        let m = minute_of(at);
        let k = (metric, key.to_string());
        if !self.series.contains_key(&k) && !self.make_room() {
            return false;
        }
        let marks = self.calls.entry(call_id.to_string()).or_default();
        marks.last_minute = marks.last_minute.max(m);
        if !marks.counted.insert(k.clone()) {
            return false;
        }
        let keep = self.keep();
        let cfg = &self.cfg;
        let seen = &self.slot_seen;
        let s = self
            .series
            .entry(k)
            .or_insert_with(|| Series::new(cfg, seen));
        s.buckets.add(m, keep);
        s.last_seen = s.last_seen.max(m);
        true
    }

    /// Starts counting `metric`/`key` with a baseline of `per_minute` in every minute since the
    /// detector started, unless the key is already counted; returns whether it was new. For keys
    /// discovered after the fact (emerging phrases) whose long-run rate is known.
    pub fn seed(&mut self, metric: Metric, key: &str, per_minute: f64) -> bool {
        let k = (metric, key.to_string());
        if self.series.contains_key(&k) || !self.make_room() {
            return false;
        }
        let per_slot = per_minute * self.slot_min as f64;
        let baseline = Baseline::flat_since_start(self.cfg.baseline, &self.slot_seen, per_slot);
        let mut series = Series::with_baseline(baseline);
        series.last_seen = self.next_minute - 1;
        self.series.insert(k, series);
        true
    }

    /// Stops counting `metric`/`key` and forgets its history; returns whether it was counted.
    /// A raised surge of it ends without an all-clear, so callers retire only keys at rest.
    pub fn forget(&mut self, metric: Metric, key: &str) -> bool {
        self.series.remove(&(metric, key.to_string())).is_some()
    }

    /// Whether `metric`/`key` is in a raised surge now.
    pub fn is_raised(&self, metric: Metric, key: &str) -> bool {
        self.series
            .get(&(metric, key.to_string()))
            .is_some_and(|s| matches!(s.phase, Phase::Raised { .. }))
    }

    /// A call arrived on `queue` (the default label when the source gave none); it also counts
    /// in the all-queues total `all`.
    pub fn call_started(&mut self, call_id: &str, queue: Option<&str>, at: OffsetDateTime) {
        let queue = match queue.map(str::trim) {
            Some(q) if !q.is_empty() => q.chars().take(MAX_KEY_CHARS).collect(),
            _ => self.cfg.default_queue.clone(),
        };
        self.record(Metric::Calls, &queue, call_id, at);
        if queue != "all" {
            self.record(Metric::Calls, "all", call_id, at);
        }
    }

    /// Processes every minute boundary up to `now`; returns the alerts raised or cleared.
    pub fn tick(&mut self, now: OffsetDateTime) -> Vec<SurgeAlert> {
        let now_m = minute_of(now);
        let mut out = Vec::new();
        if now_m - self.next_minute > MAX_REPLAY_MIN {
            tracing::warn!(
                minutes = now_m - self.next_minute,
                "surge detector: clock jumped forward; resuming without replaying the gap"
            );
            self.next_minute = now_m - self.keep() as i64;
            self.learn_from = self.next_minute;
        }
        while self.next_minute <= now_m {
            let m = self.next_minute;
            self.boundary(m, &mut out);
            self.next_minute += 1;
        }
        out
    }

    /// Minute `m` begins: judge the window that just closed, then learn the slot that closed.
    fn boundary(&mut self, m: i64, out: &mut Vec<SurgeAlert>) {
        let keep = self.keep();
        let slot_done = m % self.slot_min == 0 && m - self.slot_min >= self.learn_from;
        let done_slot = self.slot_of(m - self.slot_min);
        let keys: Vec<(Metric, String)> = self.series.keys().cloned().collect();
        for k in keys {
            let mut s = self.series.remove(&k).expect("key listed above");
            s.buckets.pad_to(m, keep);
            if let Some(alert) = self.evaluate(&k, &mut s, m) {
                out.push(alert);
            }
            if slot_done {
                let mut count = s.buckets.sum(m - self.slot_min, m) as f64;
                let raised = matches!(s.phase, Phase::Raised { .. });
                if s.raised_in_slot || raised {
                    // A surge must not teach the baseline that surges are normal; capping
                    // still lets a lasting new level in, slowly.
                    let usual = s.baseline.expected(done_slot).max(self.cfg.min_expected);
                    count = count.min(usual * self.cfg.min_ratio);
                }
                s.baseline.update(done_slot, count, self.cfg.alpha);
                s.raised_in_slot = raised;
            }
            self.series.insert(k, s);
        }
        if slot_done {
            self.slot_seen[done_slot] += 1;
            let horizon = m - keep as i64;
            self.calls.retain(|_, c| c.last_minute >= horizon);
        }
    }

    /// Expected count over minutes `[from, to)`, the standard error of that expectation and
    /// whether every slot in it is learned.
    fn expected(&self, s: &Series, from: i64, to: i64) -> Expected {
        let mut e = Expected {
            mean: 0.0,
            stderr: 0.0,
            learned: true,
        };
        let mut var = 0.0;
        let mut minute = from;
        while minute < to {
            // The window covers a fraction f of each slot it touches: mean f*m, variance f^2*v.
            let slot = self.slot_of(minute);
            let slot_end = minute - minute.rem_euclid(self.slot_min) + self.slot_min;
            let run = slot_end.min(to) - minute;
            let f = run as f64 / self.slot_min as f64;
            let (m, v) = s.baseline.estimate(slot);
            e.mean += f * m;
            var += f * f * v;
            e.learned &= s
                .baseline
                .learned(slot, self.cfg.warmup_days, self.slots_per_day as u32);
            minute += run;
        }
        e.stderr = var.sqrt();
        e
    }

    /// The rate the test is run against: the expectation plus [`UNCERTAINTY_Z`] standard
    /// errors, floored at `min_expected`.
    fn test_rate(&self, e: &Expected) -> f64 {
        (e.mean + UNCERTAINTY_Z * e.stderr).max(self.cfg.min_expected)
    }

    fn evaluate(&self, k: &(Metric, String), s: &mut Series, m: i64) -> Option<SurgeAlert> {
        let cfg = &self.cfg;
        let from = m - cfg.window_min as i64;
        let observed = s.buckets.sum(from, m);
        let e = self.expected(s, from, m);
        let learned = e.learned;
        let expected = e.mean.max(cfg.min_expected);
        let p = upper_tail(observed, self.test_rate(&e));
        let at = rfc3339(time_of(m));
        let alert = |surge_id: &str, raised_at: &str, state| SurgeAlert {
            surge_id: surge_id.to_string(),
            metric: k.0,
            key: k.1.clone(),
            window_s: cfg.window_min as u64 * 60,
            observed,
            expected,
            ratio: observed as f64 / expected,
            p_value: p,
            state,
            window_end: at.clone(),
            raised_at: raised_at.to_string(),
        };
        match &mut s.phase {
            Phase::Normal { quiet_until } => {
                let surge = learned
                    && m >= *quiet_until
                    && observed >= cfg.min_count
                    && observed as f64 >= cfg.min_ratio * expected
                    && p < cfg.p_raise;
                if !surge {
                    return None;
                }
                let id = uuid::Uuid::new_v4().to_string();
                let a = alert(&id, &at, SurgeState::Raised);
                s.phase = Phase::Raised {
                    surge_id: id,
                    raised_at: at.clone(),
                    calm: 0,
                };
                s.raised_in_slot = true;
                Some(a)
            }
            Phase::Raised {
                surge_id,
                raised_at,
                calm,
            } => {
                *calm = if p >= cfg.p_clear { *calm + 1 } else { 0 };
                if *calm < cfg.clear_after_min {
                    return None;
                }
                let a = alert(surge_id, raised_at, SurgeState::Cleared);
                s.phase = Phase::Normal {
                    quiet_until: m + cfg.cooldown_min as i64,
                };
                Some(a)
            }
        }
    }

    /// Every key of `metric` (all metrics when `None`) over the `window_min` minutes up to
    /// and including the current one.
    pub fn status(
        &self,
        metric: Option<Metric>,
        window_min: u32,
        now: OffsetDateTime,
    ) -> Vec<KeyStatus> {
        let to = minute_of(now) + 1;
        let from = to - window_min.max(1) as i64;
        self.series
            .iter()
            .filter(|((mt, _), _)| metric.is_none_or(|x| x == *mt))
            .map(|((mt, key), s)| {
                let count = s.buckets.sum(from, to);
                let e = self.expected(s, from, to);
                KeyStatus {
                    metric: *mt,
                    key: key.clone(),
                    window_s: window_min as u64 * 60,
                    count,
                    expected: e.mean,
                    ratio: count as f64 / e.mean.max(self.cfg.min_expected),
                    p_value: upper_tail(count, self.test_rate(&e)),
                    learned: e.learned,
                    surge_id: match &s.phase {
                        Phase::Raised { surge_id, .. } => Some(surge_id.clone()),
                        Phase::Normal { .. } => None,
                    },
                }
            })
            .collect()
    }

    /// The windows of `window_min` minutes ending every `step_min` minutes over the last
    /// `minutes` (newest: up to and including the current minute), for every key of `metric`
    /// that `keep_key` accepts. Windows ending before the detector started are left out.
    pub fn history(
        &self,
        metric: Metric,
        keep_key: impl Fn(&str) -> bool,
        window_min: u32,
        minutes: u32,
        step_min: u32,
        now: OffsetDateTime,
    ) -> Vec<KeyHistory> {
        let (window, step) = (window_min.max(1) as i64, step_min.max(1) as i64);
        let newest = minute_of(now) + 1;
        let oldest = (newest - minutes as i64 + 1).max(self.learn_from);
        let ends: Vec<i64> = {
            let mut v: Vec<i64> = (0..)
                .map(|i| newest - i * step)
                .take_while(|&e| e >= oldest)
                .collect();
            v.reverse();
            v
        };
        self.series
            .iter()
            .filter(|((mt, key), _)| *mt == metric && keep_key(key))
            .map(|((mt, key), s)| KeyHistory {
                metric: *mt,
                key: key.clone(),
                window_s: window as u64 * 60,
                step_s: step as u64 * 60,
                points: ends
                    .iter()
                    .map(|&to| self.point(s, to - window, to))
                    .collect(),
            })
            .collect()
    }

    fn point(&self, s: &Series, from: i64, to: i64) -> HistoryPoint {
        let cfg = &self.cfg;
        let e = self.expected(s, from, to);
        let floor = e.mean.max(cfg.min_expected);
        // The same three conditions `evaluate` raises on: enough calls, enough above the
        // baseline, and improbable under it.
        let least = cfg
            .min_count
            .max((cfg.min_ratio * floor - 1e-9).ceil().max(0.0) as u64);
        HistoryPoint {
            at: rfc3339(time_of(to)),
            count: s.buckets.sum(from, to),
            expected: e.mean,
            low: quantile(0.025, e.mean),
            high: quantile(0.975, e.mean),
            raise_at: e
                .learned
                .then(|| first_improbable(least, cfg.p_raise, self.test_rate(&e))),
        }
    }

    /// Surges raised and not yet cleared: `(metric, key, surge_id, raised_at)`.
    pub fn active(&self) -> Vec<(Metric, String, String, String)> {
        self.series
            .iter()
            .filter_map(|((mt, key), s)| match &s.phase {
                Phase::Raised {
                    surge_id,
                    raised_at,
                    ..
                } => Some((*mt, key.clone(), surge_id.clone(), raised_at.clone())),
                Phase::Normal { .. } => None,
            })
            .collect()
    }

    /// Calls currently remembered for per-call de-duplication.
    pub fn tracked_calls(&self) -> usize {
        self.calls.len()
    }
}
