//! The detector shared by every leg and the ticker.
//!
//! Backpressure: none is needed. Feeding is a short critical section (a hash insert and a
//! bucket increment) under a mutex, so legs never queue behind it; the ticker holds the lock
//! for one evaluation pass.

use super::alert::{Metric, SurgeAlert};
use super::config::SurgeConfig;
use super::detector::{KeyHistory, KeyStatus, SurgeDetector};
use super::emerging::EmergingTracker;
use super::feed::{unix_ms, ClusterLink, Observation};
use super::topics::TopicSet;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
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
    /// Set when this node is part of a cluster: observations go there and come back
    /// through [`SurgeHub::apply`].
    cluster: std::sync::OnceLock<ClusterLink>,
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
                cluster: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Makes this hub one node of a cluster: what it observes is published through `link`
    /// (and counted when it comes back through [`apply`](Self::apply)), and its ticks report
    /// surges only while `link.leader` is set. Once per hub; a second link is refused.
    pub fn join_cluster(&self, link: ClusterLink) -> Result<(), &'static str> {
        self.inner
            .cluster
            .set(link)
            .map_err(|_| "this surge detector already belongs to a cluster")
    }

    /// Counts an observation of any node of the cluster.
    pub fn apply(&self, obs: Observation) {
        if !self.inner.enabled {
            return;
        }
        match obs {
            Observation::CallStarted {
                call_id,
                queue,
                at_ms,
            } => self.count_call(&call_id, queue.as_deref(), super::feed::at(at_ms)),
            Observation::CustomerFinal {
                call_id,
                text,
                at_ms,
            } => {
                self.count_final(&call_id, &text, super::feed::at(at_ms));
            }
            Observation::PhraseHits {
                call_id,
                categories,
                at_ms,
            } => self.count_hits(
                &call_id,
                categories.iter().map(String::as_str),
                super::feed::at(at_ms),
            ),
        }
    }

    /// Sends `obs` to the cluster when there is one; `false` when it is counted here.
    fn to_cluster(&self, obs: impl FnOnce() -> Observation) -> bool {
        match self.inner.cluster.get() {
            Some(link) => {
                (link.publish)(obs());
                true
            }
            None => false,
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
        if !self.inner.enabled {
            return;
        }
        let sent = self.to_cluster(|| Observation::CallStarted {
            call_id: call_id.to_string(),
            queue: queue.map(str::to_string),
            at_ms: unix_ms(at),
        });
        if !sent {
            self.count_call(call_id, queue, at);
        }
    }

    fn count_call(&self, call_id: &str, queue: Option<&str>, at: OffsetDateTime) {
        self.detector().call_started(call_id, queue, at);
    }

    /// A customer's final utterance: assigns and counts its topics, which it returns, and
    /// counts what the topics leave uncovered towards emerging phrases.
    pub fn customer_final(&self, call_id: &str, text: &str, at: OffsetDateTime) -> Vec<String> {
        if !self.inner.enabled {
            return Vec::new();
        }
        let sent = self.to_cluster(|| Observation::CustomerFinal {
            call_id: call_id.to_string(),
            text: text.to_string(),
            at_ms: unix_ms(at),
        });
        if sent {
            return self.inner.topics.assign_spans(text).0;
        }
        self.count_final(call_id, text, at)
    }

    fn count_final(&self, call_id: &str, text: &str, at: OffsetDateTime) -> Vec<String> {
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
        let mut categories = categories.into_iter().peekable();
        if self.inner.cluster.get().is_some() {
            if categories.peek().is_some() {
                let categories = categories.map(str::to_string).collect();
                self.to_cluster(|| Observation::PhraseHits {
                    call_id: call_id.to_string(),
                    categories,
                    at_ms: unix_ms(at),
                });
            }
            return;
        }
        self.count_hits(call_id, categories, at);
    }

    fn count_hits<'a>(
        &self,
        call_id: &str,
        categories: impl IntoIterator<Item = &'a str>,
        at: OffsetDateTime,
    ) {
        let mut d = self.detector();
        for c in categories {
            d.record(Metric::Phrase, c, call_id, at);
        }
    }

    /// Evaluates every minute up to `now`. In a cluster every node evaluates (so each keeps
    /// the same raised and cleared state) and only the leader's alerts are returned.
    pub fn tick(&self, now: OffsetDateTime) -> Vec<SurgeAlert> {
        if !self.inner.enabled {
            return Vec::new();
        }
        let mut guard = self.detector();
        let w = &mut *guard;
        if let Some(e) = &mut w.emerging {
            e.tick(now, &mut w.detector);
        }
        let alerts = w.detector.tick(now);
        match self.inner.cluster.get() {
            Some(link) if !link.leader.load(Ordering::Relaxed) => Vec::new(),
            _ => alerts,
        }
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
