//! Wiring of the stages for live and offline legs.

pub mod leg;
pub mod offline;
pub mod qa;
pub mod registry;

pub use leg::{run_leg, spawn_leg, LegInput, LegSummary, LEG_INBOX};
pub use registry::{CallRegistry, RegistryError};

use crate::clock::SharedClock;
use crate::shutdown::{Shutdown, ShutdownHandle};
use crate::sinks::archive::{ArchiveOp, ArchiveSender};
use crate::sinks::events::EventBus;
use crate::transforms::asr::{AsrPool, LanguagePolicy};
use crate::transforms::matcher::Matcher;
use crate::transforms::redact::Redactor;
use crate::transforms::segment::SegmenterConfig;
use std::sync::Arc;

/// Where archive writes go; disabled for offline runs without `--archive`.
#[derive(Clone, Default)]
pub struct ArchiveSink(Option<ArchiveSender>);

impl ArchiveSink {
    pub fn new(sender: ArchiveSender) -> Self {
        ArchiveSink(Some(sender))
    }
    pub fn disabled() -> Self {
        ArchiveSink(None)
    }
    /// Queues a write; the archive writer never drops it (it retries on failure).
    pub fn send(&self, op: ArchiveOp) {
        if let Some(s) = &self.0 {
            if let Err(e) = s.send(op) {
                tracing::error!(error = %e, "archive writer has stopped; write lost");
            }
        }
    }
}

/// Everything a leg needs, shared by all legs.
pub struct Shared {
    pub asr: AsrPool,
    pub matcher: Arc<Matcher>,
    pub events: EventBus,
    pub archive: ArchiveSink,
    pub registry: CallRegistry,
    pub clock: SharedClock,
    pub segmenter: SegmenterConfig,
    pub language: LanguagePolicy,
    /// Utterances with less VAD speech than this fraction never reach the recogniser.
    pub min_speech_ratio: f32,
    /// Emit partial transcripts while an utterance is open.
    pub partials: bool,
    pub shutdown: Option<ShutdownHandle>,
    /// Removes personal data from transcripts before anything else sees them.
    pub redactor: Arc<Redactor>,
}

impl Shared {
    /// Assembles the shared state from the configuration and the loaded components.
    #[allow(clippy::too_many_arguments)] // each is a distinct component; a builder would only rename them
    pub fn new(
        cfg: &crate::config::Config,
        asr: AsrPool,
        matcher: Matcher,
        events: EventBus,
        archive: ArchiveSink,
        clock: SharedClock,
        partials: bool,
        shutdown: Option<ShutdownHandle>,
    ) -> Shared {
        Shared {
            asr,
            matcher: Arc::new(matcher),
            registry: CallRegistry::new(events.clone(), archive.clone(), clock.clone()),
            events,
            archive,
            clock,
            segmenter: cfg.segment.clone(),
            language: LanguagePolicy::new(cfg.asr.languages.clone(), None),
            min_speech_ratio: cfg.asr.min_speech_ratio as f32,
            partials,
            shutdown,
            // Config::validate has checked the section; should it not have, redact with the
            // defaults rather than let anything through.
            redactor: Arc::new(Redactor::new(&cfg.redact).unwrap_or_else(|e| {
                tracing::error!(error = %e, "redaction configuration rejected; using the defaults");
                Redactor::default()
            })),
        }
    }

    /// Scores every call against `card` when it ends (`None`: no scoring).
    pub fn with_scorecard(
        mut self,
        card: Option<crate::transforms::scorecard::Scorecard>,
    ) -> Shared {
        self.registry = self.registry.with_scorecard(card);
        self
    }

    pub(crate) fn shutdown_guard(&self) -> Option<Shutdown> {
        self.shutdown.as_ref().and_then(|h| h.subscribe())
    }
}
