//! The detector shared by every leg and the ticker.
//!
//! Backpressure: none is needed. Feeding is a short critical section (a hash insert and a
//! bucket increment) under a mutex, so legs never queue behind it; the ticker holds the lock
//! for one evaluation pass.

use super::alert::{Metric, SurgeAlert};
use super::config::SurgeConfig;
use super::detector::{KeyHistory, KeyStatus, SurgeDetector};
use super::emerging::EmergingTracker;
use super::topics::TopicSet;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use time::OffsetDateTime;

/// Cheap-to-clone handle on one detector and its topic set.
#[derive(Clone)]
pub struct SurgeHub {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: bool,
    detector: Mutex<Watch>,
    topics: TopicSet,
}

/// The detector and the n-gram tracker that feeds it emerging phrases, locked together.
struct Watch {
    detector: SurgeDetector,
    emerging: Option<EmergingTracker>,
}

impl Deref for Watch {
    type Target = SurgeDetector;
    fn deref(&self) -> &SurgeDetector {
        &self.detector
    }
}

impl DerefMut for Watch {
    fn deref_mut(&mut self) -> &mut SurgeDetector {
        &mut self.detector
    }
}

impl SurgeHub {
    /// A hub watching from `start`; `cfg.enabled = false` makes every feed a no-op.
    pub fn new(cfg: SurgeConfig, topics: TopicSet, start: OffsetDateTime) -> SurgeHub {
        SurgeHub {
            inner: Arc::new(Inner {
                enabled: cfg.enabled,
                detector: Mutex::new(Watch {
                    emerging: cfg
                        .emerging
                        .enabled
                        .then(|| EmergingTracker::new(cfg.clone(), start)),
                    detector: SurgeDetector::new(cfg, start),
                }),
                topics,
            }),
        }
    }

    /// A hub that ignores everything (offline transcription, benchmarks).
    pub fn disabled(start: OffsetDateTime) -> SurgeHub {
        let cfg = SurgeConfig {
            enabled: false,
            ..SurgeConfig::default()
        };
        SurgeHub::new(cfg, TopicSet::empty(), start)
    }

    /// Whether the detector is running.
    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    fn detector(&self) -> MutexGuard<'_, Watch> {
        // A panic inside the detector leaves counts, not invariants, half-updated; keep going.
        self.inner
            .detector
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A call arrived.
    pub fn call_started(&self, call_id: &str, queue: Option<&str>, at: OffsetDateTime) {
        if self.inner.enabled {
            self.detector().call_started(call_id, queue, at);
        }
    }

    /// A customer's final utterance: assigns and counts its topics, which it returns, and
    /// counts what the topics leave uncovered towards emerging phrases.
    pub fn customer_final(&self, call_id: &str, text: &str, at: OffsetDateTime) -> Vec<String> {
        if !self.inner.enabled {
            return Vec::new();
        }
        let (topics, covered) = self.inner.topics.assign_spans(text);
        let mut guard = self.detector();
        let w = &mut *guard;
        for t in &topics {
            w.detector.record(Metric::Topic, t, call_id, at);
        }
        if let Some(e) = &mut w.emerging {
            e.observe(call_id, text, &covered, at, &mut w.detector);
        }
        topics
    }

    /// Phrase hits of one utterance, by category.
    pub fn phrase_hits<'a>(
        &self,
        call_id: &str,
        categories: impl IntoIterator<Item = &'a str>,
        at: OffsetDateTime,
    ) {
        if !self.inner.enabled {
            return;
        }
        let mut d = self.detector();
        for c in categories {
            d.record(Metric::Phrase, c, call_id, at);
        }
    }

    /// Evaluates every minute up to `now`.
    pub fn tick(&self, now: OffsetDateTime) -> Vec<SurgeAlert> {
        if !self.inner.enabled {
            return Vec::new();
        }
        let mut guard = self.detector();
        let w = &mut *guard;
        if let Some(e) = &mut w.emerging {
            e.tick(now, &mut w.detector);
        }
        w.detector.tick(now)
    }

    /// Counts and trend per key; see [`SurgeDetector::status`].
    pub fn status(
        &self,
        metric: Option<Metric>,
        window_min: u32,
        now: OffsetDateTime,
    ) -> Vec<KeyStatus> {
        self.detector().status(metric, window_min, now)
    }

    /// Recent windows per key; see [`SurgeDetector::history`].
    pub fn history(
        &self,
        metric: Metric,
        keep_key: impl Fn(&str) -> bool,
        window_min: u32,
        minutes: u32,
        step_min: u32,
        now: OffsetDateTime,
    ) -> Vec<KeyHistory> {
        self.detector()
            .history(metric, keep_key, window_min, minutes, step_min, now)
    }

    /// Surges raised and not yet cleared.
    pub fn active(&self) -> Vec<(Metric, String, String, String)> {
        self.detector().active()
    }

    /// Minutes of history kept, the longest window `status` can answer.
    pub fn history_min(&self) -> u32 {
        self.detector().config().history_min
    }

    /// The detector's counting window in minutes.
    pub fn window_min(&self) -> u32 {
        self.detector().config().window_min
    }

    /// Every topic as `(id, title)`, in file order.
    pub fn topic_list(&self) -> Vec<(String, String)> {
        self.inner
            .topics
            .topics()
            .iter()
            .map(|t| (t.id.clone(), t.title.clone()))
            .collect()
    }

    /// Title of a topic id.
    pub fn topic_title(&self, id: &str) -> Option<String> {
        self.inner
            .topics
            .topics()
            .iter()
            .find(|t| t.id == id)
            .map(|t| t.title.clone())
    }
}
