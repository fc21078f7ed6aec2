//! Wiring of the stages for live and offline legs.

pub mod assemble;
pub mod board;
mod ingest;
mod insight;
pub mod leg;
mod leg_audio;
pub mod qa;
pub mod registry;
pub mod retention;
pub mod rules;
pub mod surge_ticker;
#[cfg(test)]
mod tests;

pub use ingest::{Ingest, LegGone, LegSender};
pub use leg::{run_leg, LegInput, LegSummary, LEG_INBOX, MAX_AUDIO_MESSAGE};
pub use registry::{CallRegistry, RegistryError};
pub use rules::RulesHub;

use crate::clock::SharedClock;
use crate::shutdown::{Shutdown, ShutdownHandle};
use crate::sinks::archive::{ArchiveOp, ArchiveSender};
use crate::sinks::events::EventBus;
use crate::transforms::asr::{AsrPool, LanguagePolicy};
use crate::transforms::redact::Redactor;
use crate::transforms::rules::{
    Inspection, InspectionError, InspectionFiles, InspectionHandle, InspectionSource,
    InspectionSummary,
};
use crate::transforms::segment::SegmenterConfig;
use crate::transforms::surge::SurgeHub;
use std::path::PathBuf;
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

    /// Waits until everything sent so far is committed, for at most `limit`: a final is
    /// announced only once it is kept, so a crash cannot lose what subscribers saw. A writer
    /// that is failing or gone does not hold live events back longer than `limit`.
    pub async fn committed(&self, limit: std::time::Duration) {
        if let Some(s) = &self.0 {
            match tokio::time::timeout(limit, s.committed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => tracing::error!("archive writer has stopped; final not kept"),
                Err(_) => tracing::warn!(
                    waited_ms = limit.as_millis() as u64,
                    "archive commit is slow; announcing the final before it is kept"
                ),
            }
        }
    }

    /// The writer's health; `None` when archiving is off.
    pub fn health(&self) -> Option<crate::sinks::archive::WriterHealth> {
        self.0.as_ref().map(ArchiveSender::health)
    }
}

/// Everything a leg needs, shared by all legs.
pub struct Shared {
    pub asr: AsrPool,
    /// Lexicon and rules in force; a reload swaps them. Take one snapshot per utterance.
    pub inspection: InspectionHandle,
    /// Where a reload reads lexicons and rules from.
    pub inspection_source: InspectionSource,
    /// Per-call rule state.
    pub rules: RulesHub,
    pub events: EventBus,
    pub archive: ArchiveSink,
    pub registry: CallRegistry,
    pub clock: SharedClock,
    pub segmenter: SegmenterConfig,
    pub language: LanguagePolicy,
    /// Learn each leg's language from its first confident detections and stop detecting it on
    /// every utterance (see [`crate::transforms::asr::language::LanguageMemory`]).
    pub language_memory: bool,
    /// The configured Mandarin prompt, which a biased prompt opens with.
    pub zh_prompt: String,
    /// Prompting each leg toward its lexicon terms.
    pub bias: crate::transforms::asr::BiasConfig,
    /// The agent script phrases a biased agent leg is prompted with (read when bias is on).
    pub bias_scripts: crate::transforms::asr::bias::Scripts,
    /// Utterances with less VAD speech than this fraction never reach the recogniser.
    pub min_speech_ratio: f32,
    /// Emit partial transcripts while an utterance is open.
    pub partials: bool,
    pub shutdown: Option<ShutdownHandle>,
    /// Removes personal data from transcripts before anything else sees them.
    pub redactor: Arc<Redactor>,
    /// Surge and topic detector fed by the registry and the legs (disabled until
    /// [`Shared::with_surge`]).
    pub surge: SurgeHub,
    /// Live agent assist and complaint early warning (none until [`Shared::with_assist`]).
    pub assist: Option<Arc<crate::transforms::assist::Assistant>>,
    /// Where the archive lives; readiness watches its free space.
    pub data_dir: PathBuf,
    /// Below this much free space in `data_dir` the service reports itself not ready.
    pub min_free_disk_mb: u64,
    /// Utterances closed without a final, per reason (`/v1/stats`).
    pub drops: crate::transforms::asr::gate::DropCounts,
    /// Where leg audio is recorded (none until [`Shared::with_audio`]).
    pub audio: Option<crate::sinks::audio::AudioArchive>,
}

impl Shared {
    /// Assembles the shared state from the configuration and the loaded components.
    #[allow(clippy::too_many_arguments)] // each is a distinct component; a builder would only rename them
    pub fn new(
        cfg: &crate::config::Config,
        asr: AsrPool,
        inspection: Inspection,
        events: EventBus,
        archive: ArchiveSink,
        clock: SharedClock,
        partials: bool,
        shutdown: Option<ShutdownHandle>,
    ) -> Shared {
        let inspection: InspectionHandle = Arc::new(arc_swap::ArcSwap::from_pointee(inspection));
        let rules = RulesHub::new(
            inspection.clone(),
            events.clone(),
            archive.clone(),
            clock.clone(),
        );
        // Config::validate has checked the section; should it not have, redact with the
        // defaults rather than let anything through.
        let redactor = Arc::new(Redactor::new(&cfg.redact).unwrap_or_else(|e| {
            tracing::error!(error = %e, "redaction configuration rejected; using the defaults");
            Redactor::default()
        }));
        Shared {
            asr,
            inspection,
            inspection_source: cfg.lexicons.source(),
            registry: CallRegistry::new(events.clone(), archive.clone(), clock.clone())
                .with_rules(rules.clone())
                .with_redactor(redactor.clone()),
            rules,
            surge: SurgeHub::disabled(clock.now()),
            assist: None,
            data_dir: cfg.server.data_dir.clone(),
            min_free_disk_mb: cfg.server.min_free_disk_mb,
            drops: Default::default(),
            audio: None,
            events,
            archive,
            clock,
            segmenter: SegmenterConfig {
                // Speculation serves live calls (with partials on); offline it is wasted work.
                speculative: cfg.segment.speculative && partials,
                ..cfg.segment.clone()
            },
            language: LanguagePolicy::new(cfg.asr.languages.clone(), None),
            language_memory: cfg.asr.language_memory,
            bias_scripts: if !cfg.asr.bias.enabled {
                Default::default()
            } else if cfg.asr.bias.scripts_dir.as_os_str().is_empty() {
                crate::transforms::asr::bias::Scripts::load(&cfg.lexicons.dir.join("scripts"))
            } else {
                crate::transforms::asr::bias::Scripts::load(&cfg.asr.bias.scripts_dir)
            },
            bias: cfg.asr.bias.clone(),
            zh_prompt: cfg.asr.zh_prompt.clone(),
            min_speech_ratio: cfg.asr.min_speech_ratio as f32,
            partials,
            shutdown,
            redactor,
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

    /// Re-reads lexicons and rules from [`Shared::inspection_source`]; on error the set in
    /// force stays and the error names the file and line. Live calls use the new set from
    /// their next utterance on. Returns the files read, which a cluster hands its other
    /// nodes. Blocking (reads files): call it off the async workers.
    pub fn reload(&self) -> Result<(InspectionSummary, InspectionFiles), InspectionError> {
        let result = crate::transforms::rules::reload(&self.inspection, &self.inspection_source);
        log_reload(result.as_ref().map(|(s, _)| s), "files");
        result
    }

    /// Puts lexicon and rule files read on another node in force, compiled with this node's
    /// match settings; on error the set in force stays. Blocking (compiles automata).
    pub fn apply_inspection(
        &self,
        files: &InspectionFiles,
    ) -> Result<InspectionSummary, InspectionError> {
        let result =
            crate::transforms::rules::apply(&self.inspection, files, &self.inspection_source);
        log_reload(result.as_ref(), "cluster");
        result
    }

    /// The lexicons and rules in force.
    pub fn inspection_summary(&self) -> InspectionSummary {
        self.inspection.load().summary()
    }

    /// Installs the surge detector: call arrivals, customer finals and hits feed it from now on.
    pub fn with_surge(mut self, hub: SurgeHub) -> Shared {
        self.registry = self.registry.with_surge(hub.clone());
        self.surge = hub;
        self
    }

    /// Records every leg's audio into `archive` from now on.
    pub fn with_audio(mut self, archive: crate::sinks::audio::AudioArchive) -> Shared {
        self.audio = Some(archive);
        self
    }

    /// Installs the assistant: customer finals get article suggestions and escalation warnings.
    pub fn with_assist(mut self, assistant: crate::transforms::assist::Assistant) -> Shared {
        self.assist = Some(Arc::new(assistant));
        self
    }

    pub(crate) fn shutdown_guard(&self) -> Option<Shutdown> {
        self.shutdown.as_ref().and_then(|h| h.subscribe())
    }
}

fn log_reload(result: Result<&InspectionSummary, &InspectionError>, from: &'static str) {
    match result {
        Ok(s) => tracing::info!(
            terms = s.terms,
            rules = s.rules,
            digest = %s.digest,
            from,
            "lexicons and rules reloaded"
        ),
        Err(e) => tracing::error!(
            error = %e,
            from,
            "reload failed; the previous lexicons and rules stay in force"
        ),
    }
}
