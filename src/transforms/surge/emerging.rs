//! Emerging topics: phrases nobody wrote into a topic file that many customers start saying.
//!
//! Every final customer utterance is cut into n-grams ([`ngram`](super::ngram)); each gram
//! counts the distinct calls that said it in the detector's window and, per day, how many calls
//! said it at all, averaged over days like the detector's baseline. Once a minute the grams
//! said in at least `min_calls` calls that are not ordinary vocabulary (in `stop_share` of a
//! day's calls on average) are merged into phrases ([`cluster`](super::cluster)); a new phrase
//! becomes a detector key of [`Metric::Emerging`], seeded with its long-run rate and the calls
//! that already said it, and from then on every customer utterance containing it is counted
//! there. The detector's baseline and Poisson test decide whether it surges, as for any topic.
//!
//! Memory is bounded: at most `max_grams` grams (the rarest are forgotten first, so the common
//! vocabulary that makes the stop list survives), call lists only for grams that are not
//! ordinary, and at most `max_keys` phrases. Pure: time is passed in.

use super::alert::Metric;
use super::cluster::{self, Candidate};
use super::config::SurgeConfig;
use super::detector::SurgeDetector;
use super::ngram::{self, Script};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use time::OffsetDateTime;

const MINUTES_PER_DAY: i64 = 1440;
/// Calls remembered per gram: far above any `min_calls`, and what merging compares.
const CALLS_PER_GRAM: usize = 1024;
/// Candidates merged per minute at most, the most-said first: merging compares every pair, so
/// a flood of frequent grams (a first day without vocabulary, a burst of noise) must not
/// stall the detector's lock.
const MAX_CANDIDATES: usize = 200;
/// A gram with no call in the window and a daily average below this is forgotten at midnight.
const FORGET_BELOW_DAILY: f64 = 0.05;

fn hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn minute_of(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 60_000_000_000) as i64
}

fn time_of(minute: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(minute * 60).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[derive(Debug)]
struct GramStats {
    script: Script,
    /// `(minute, call hash)` of the distinct calls that said it in the window, oldest first.
    calls: VecDeque<(i64, u64)>,
    /// Calls that said it today.
    today: u32,
    /// Calls per day, averaged over the days watched.
    daily: f64,
}

#[derive(Debug)]
struct CallSeen {
    id: String,
    /// Gram hash -> minute this call was last counted for it.
    grams: HashMap<u64, i64>,
    last_minute: i64,
}

/// A phrase handed to the detector.
#[derive(Debug, Clone)]
struct Key {
    script: Script,
    text: String,
    last_minute: i64,
}

/// The n-gram counts and the phrases promoted to detector keys.
#[derive(Debug)]
pub struct EmergingTracker {
    cfg: SurgeConfig,
    grams: HashMap<String, GramStats>,
    calls: HashMap<u64, CallSeen>,
    keys: Vec<Key>,
    day: i64,
    days_seen: u32,
    calls_today: u32,
    calls_daily: f64,
    last_minute: i64,
}

fn contains(outer: &str, outer_script: Script, inner: &str, inner_script: Script) -> bool {
    if outer_script != inner_script {
        return false;
    }
    match outer_script {
        Script::Han => outer.contains(inner),
        Script::Word => format!(" {outer} ").contains(&format!(" {inner} ")),
    }
}

fn tokens(script: Script, text: &str) -> Vec<String> {
    match script {
        Script::Han => text.chars().map(String::from).collect(),
        Script::Word => text.split(' ').map(String::from).collect(),
    }
}

impl EmergingTracker {
    /// A tracker that starts watching at `start`; `cfg` is the detector's (validated) one.
    pub fn new(cfg: SurgeConfig, start: OffsetDateTime) -> EmergingTracker {
        let m = minute_of(start);
        EmergingTracker {
            cfg,
            grams: HashMap::new(),
            calls: HashMap::new(),
            keys: Vec::new(),
            day: m.div_euclid(MINUTES_PER_DAY),
            days_seen: 0,
            calls_today: 0,
            calls_daily: 0.0,
            last_minute: m,
        }
    }

    fn window(&self) -> i64 {
        self.cfg.window_min as i64
    }

    /// Whether a gram is ordinary vocabulary by its long-run share of calls.
    fn ordinary(&self, daily: f64) -> bool {
        self.days_seen > 0 && daily >= self.cfg.emerging.stop_share * self.calls_daily.max(1.0)
    }

    /// One final customer utterance (redacted) of `call_id` at `at`; `covered` are byte ranges
    /// of `text` an inquiry topic already accounts for. Utterances containing a watched phrase
    /// are counted in `detector`.
    pub fn observe(
        &mut self,
        call_id: &str,
        text: &str,
        covered: &[Range<usize>],
        at: OffsetDateTime,
        detector: &mut SurgeDetector,
    ) {
        let m = minute_of(at);
        let ch = hash(call_id);
        let runs = ngram::runs(text, covered);
        for k in &mut self.keys {
            if runs.iter().any(|r| r.contains(k.script, &k.text)) {
                detector.record(Metric::Emerging, &k.text, call_id, at);
                k.last_minute = k.last_minute.max(m);
            }
        }
        let window = self.window();
        if !self.calls.contains_key(&ch) {
            self.calls_today += 1;
        }
        let call = self.calls.entry(ch).or_insert_with(|| CallSeen {
            id: call_id.to_string(),
            grams: HashMap::new(),
            last_minute: m,
        });
        call.last_minute = call.last_minute.max(m);
        let (stop_share, calls_daily, days_seen) = (
            self.cfg.emerging.stop_share,
            self.calls_daily,
            self.days_seen,
        );
        for g in ngram::grams(&runs) {
            let gh = hash(&g.text);
            // Counted once per call and window: a caller repeating it is one caller.
            if call.grams.get(&gh).is_some_and(|&cm| cm > m - window) {
                continue;
            }
            call.grams.insert(gh, m);
            let st = self.grams.entry(g.text).or_insert_with(|| GramStats {
                script: g.script,
                calls: VecDeque::new(),
                today: 0,
                daily: 0.0,
            });
            st.today = st.today.saturating_add(1);
            let ordinary = days_seen > 0 && st.daily >= stop_share * calls_daily.max(1.0);
            if !ordinary {
                st.calls.push_back((m, ch));
                if st.calls.len() > CALLS_PER_GRAM {
                    st.calls.pop_front();
                }
            }
        }
        if self.grams.len() > self.cfg.emerging.max_grams {
            self.evict();
        }
    }

    /// Forgets the rarest eighth of the grams: fewest calls in the window, then lowest daily
    /// average. A new problem's grams gain calls within minutes and outrank one-off phrases;
    /// ordinary vocabulary has the highest averages and stays, so the stop list survives.
    fn evict(&mut self) {
        let mut score: Vec<(usize, f64, String)> = self
            .grams
            .iter()
            .map(|(t, s)| (s.calls.len(), s.daily, t.clone()))
            .collect();
        let n = self.grams.len() - self.cfg.emerging.max_grams * 7 / 8;
        let nth = n.min(score.len() - 1);
        score.select_nth_unstable_by(nth, |a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        for (_, _, t) in score.into_iter().take(n) {
            self.grams.remove(&t);
        }
    }

    fn roll_day(&mut self) {
        let alpha = self.cfg.alpha;
        let first = self.days_seen == 0;
        let ewma = |avg: f64, x: f64| if first { x } else { avg + alpha * (x - avg) };
        self.calls_daily = ewma(self.calls_daily, self.calls_today as f64);
        self.calls_today = 0;
        for s in self.grams.values_mut() {
            s.daily = ewma(s.daily, s.today as f64);
            s.today = 0;
        }
        self.grams
            .retain(|_, s| !s.calls.is_empty() || s.daily >= FORGET_BELOW_DAILY);
        self.days_seen += 1;
    }

    /// Processes the minutes up to `now`: forgets what left the window, learns at midnight and
    /// promotes new phrases into `detector`. Call before [`SurgeDetector::tick`] so a phrase
    /// promoted now is judged in the same pass.
    pub fn tick(&mut self, now: OffsetDateTime, detector: &mut SurgeDetector) {
        let now_m = minute_of(now);
        if now_m <= self.last_minute {
            return;
        }
        self.last_minute = now_m;
        let day = now_m.div_euclid(MINUTES_PER_DAY);
        if day > self.day {
            // Days without traffic count as days without the gram; a long gap only needs a few.
            for _ in 0..(day - self.day).min(30) {
                self.roll_day();
            }
            self.day = day;
        }
        let from = now_m - self.window();
        for s in self.grams.values_mut() {
            while s.calls.front().is_some_and(|&(m, _)| m < from) {
                s.calls.pop_front();
            }
        }
        self.calls.retain(|_, c| c.last_minute >= from);
        self.retire(now_m, detector);
        if self.days_seen >= self.cfg.warmup_days {
            self.promote(now_m, detector);
        }
    }

    /// Retires phrases silent for a whole history (and not surging), so the keys stay few.
    fn retire(&mut self, now_m: i64, detector: &mut SurgeDetector) {
        let horizon = self.cfg.history_min as i64;
        self.keys.retain(|k| {
            let keep =
                now_m - k.last_minute <= horizon || detector.is_raised(Metric::Emerging, &k.text);
            if !keep {
                detector.forget(Metric::Emerging, &k.text);
            }
            keep
        });
    }

    fn promote(&mut self, now_m: i64, detector: &mut SurgeDetector) {
        let e = self.cfg.emerging.clone();
        let mut pieces: Vec<(String, Script, f64)> = Vec::new();
        let mut cands = Vec::new();
        for (text, s) in &self.grams {
            if (s.calls.len() as u64) < e.min_calls || self.ordinary(s.daily) {
                continue;
            }
            // Already watched as (part of) a phrase.
            if self.keys.iter().any(|k| {
                contains(&k.text, k.script, text, s.script)
                    || contains(text, s.script, &k.text, k.script)
            }) {
                continue;
            }
            let mut calls: Vec<u64> = s.calls.iter().map(|&(_, c)| c).collect();
            calls.sort_unstable();
            calls.dedup();
            if (calls.len() as u64) < e.min_calls {
                continue;
            }
            pieces.push((text.clone(), s.script, s.daily));
            cands.push(Candidate {
                script: s.script,
                tokens: tokens(s.script, text),
                calls,
            });
        }
        if cands.is_empty() {
            return;
        }
        if cands.len() > MAX_CANDIDATES {
            cands.select_nth_unstable_by(MAX_CANDIDATES - 1, |a, b| {
                b.calls.len().cmp(&a.calls.len())
            });
            cands.truncate(MAX_CANDIDATES);
        }
        for c in cluster::merge(cands, e.overlap) {
            let text = c.text();
            // Pieces of a watched phrase were skipped above, but a chain of them may still
            // reach across one.
            if self.keys.iter().any(|k| {
                contains(&k.text, k.script, &text, c.script)
                    || contains(&text, c.script, &k.text, k.script)
            }) {
                continue;
            }
            if self.keys.len() >= e.max_keys && !self.make_room(detector) {
                return;
            }
            // The phrase is said at most as often as its rarest piece.
            let daily = pieces
                .iter()
                .filter(|(p, s, _)| contains(&text, c.script, p, *s))
                .map(|(_, _, d)| *d)
                .fold(f64::INFINITY, f64::min);
            let daily = if daily.is_finite() { daily } else { 0.0 };
            detector.seed(Metric::Emerging, &text, daily / MINUTES_PER_DAY as f64);
            // Hand over the calls that already said it, oldest first (the detector's buckets
            // only grow forwards).
            let mut said: Vec<(i64, u64)> = Vec::new();
            for (p, s, _) in &pieces {
                if !contains(&text, c.script, p, *s) {
                    continue;
                }
                for &(m, ch) in &self.grams[p].calls {
                    if c.calls.binary_search(&ch).is_ok() && !said.iter().any(|x| x.1 == ch) {
                        said.push((m, ch));
                    }
                }
            }
            said.sort_unstable();
            for (m, ch) in said {
                let id = self
                    .calls
                    .get(&ch)
                    .map_or_else(|| format!("{ch:016x}"), |c| c.id.clone());
                detector.record(Metric::Emerging, &text, &id, time_of(m));
            }
            // The phrase is customer speech: /v1/topics shows it to those allowed; logs do not.
            tracing::info!(
                chars = text.chars().count(),
                calls = c.calls.len(),
                "emerging phrase watched"
            );
            self.keys.push(Key {
                script: c.script,
                text,
                last_minute: now_m,
            });
        }
    }

    /// Retires the phrase silent longest that is not surging; false when every one is.
    fn make_room(&mut self, detector: &mut SurgeDetector) -> bool {
        let victim = self
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !detector.is_raised(Metric::Emerging, &k.text))
            .min_by_key(|(_, k)| k.last_minute)
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                let k = self.keys.remove(i);
                detector.forget(Metric::Emerging, &k.text);
                true
            }
            None => false,
        }
    }

    /// The phrases watched now.
    pub fn phrases(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.text.clone()).collect()
    }

    /// Grams remembered now (bounded by `max_grams`).
    pub fn gram_count(&self) -> usize {
        self.grams.len()
    }
}
