//! Builds the shared state of a running pipeline from the configuration: lexicons and rules,
//! the QA scorecard and, for live traffic, the surge detector and agent assist. `serve`,
//! `transcribe` and the pipeline bench all go through here, so a measurement runs exactly
//! what the service runs.

use super::{ArchiveSink, Shared};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::shutdown::ShutdownHandle;
use crate::sinks::events::EventBus;
use crate::transforms::asr::AsrPool;
use crate::transforms::assist::{Assistant, Knowledge};
use crate::transforms::phrasebook::PhrasebookError;
use crate::transforms::rules::{Inspection, InspectionError};
use crate::transforms::scorecard::ScorecardError;
use crate::transforms::surge::{SurgeHub, TopicSet};
use std::path::PathBuf;
use std::sync::Arc;

/// What the pipeline is assembled for.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// Whether partial transcripts are recognised and published.
    pub partials: bool,
    /// Live traffic (`serve`): surges and agent assist are built when configured. Recordings
    /// transcribed offline are not arrivals and get neither.
    pub live: bool,
}

/// A configured file that could not be loaded; the message names the file and the setting.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("loading lexicons from {lexicons} and rules from {rules}: {source}")]
    Inspection {
        lexicons: PathBuf,
        rules: PathBuf,
        #[source]
        source: Box<InspectionError>,
    },
    #[error("loading the QA scorecard ([qa] scorecard = {path}): {source}")]
    Scorecard {
        path: PathBuf,
        #[source]
        source: Box<ScorecardError>,
    },
    #[error("loading inquiry topics from {dir} ([surge] topics_dir): {source}")]
    Topics {
        dir: PathBuf,
        #[source]
        source: Box<PhrasebookError>,
    },
    #[error("loading the knowledge base from {dir} ([assist] dir): {source}")]
    Knowledge {
        dir: PathBuf,
        #[source]
        source: Box<PhrasebookError>,
    },
}

/// The shared state every leg of the process runs with, over a started recogniser `pool`.
pub fn assemble(
    cfg: &Config,
    pool: AsrPool,
    archive: ArchiveSink,
    events: EventBus,
    mode: Mode,
    shutdown: Option<ShutdownHandle>,
    archived: Option<crate::sinks::archive::ArchiveReader>,
) -> Result<Arc<Shared>, AssembleError> {
    let source = cfg.lexicons.source();
    let inspection = Inspection::load(&source).map_err(|e| AssembleError::Inspection {
        lexicons: source.lexicon_dir.clone(),
        rules: source.rules_dir.clone(),
        source: Box::new(e),
    })?;
    let summary = inspection.summary();
    tracing::info!(
        multilingual = pool.is_multilingual(),
        terms = summary.terms,
        rules = summary.rules,
        "recogniser, matcher and rules ready"
    );
    let scorecard = cfg.qa.load().map_err(|e| AssembleError::Scorecard {
        path: cfg.qa.scorecard.clone(),
        source: Box::new(e),
    })?;
    let clock: SharedClock = Arc::new(SystemClock);
    let mut shared = Shared::new(
        cfg,
        pool,
        inspection,
        events,
        archive,
        clock.clone(),
        mode.partials,
        shutdown,
    )
    .with_scorecard(scorecard);
    if mode.live && cfg.surge.enabled {
        let dir = &cfg.surge.topics_dir;
        let topics = TopicSet::load_dir(dir).map_err(|e| AssembleError::Topics {
            dir: dir.clone(),
            source: Box::new(e),
        })?;
        tracing::info!(topics = topics.topics().len(), "surge detector ready");
        shared = shared.with_surge(SurgeHub::new(cfg.surge.clone(), topics, clock.now()));
    }
    if mode.live {
        if let Some(audio) = cfg.audio_archive() {
            tracing::info!(dir = %audio.root().display(), "leg audio recorded");
            shared = shared.with_audio(audio);
        }
    }
    // A stream may not reopen a call the archive holds as ended (it would rewrite it).
    if let Some(reader) = archived.filter(|_| mode.live) {
        shared.registry = shared.registry.clone().with_archived_check(Arc::new(
            move |id: &str| match reader.call_ended(id) {
                Ok(ended) => ended,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot tell whether a call id is archived; taking the stream");
                    false
                }
            },
        ));
    }
    if mode.live && cfg.assist.enabled {
        let dir = &cfg.assist.dir;
        let kb = Knowledge::load_dir(dir).map_err(|e| AssembleError::Knowledge {
            dir: dir.clone(),
            source: Box::new(e),
        })?;
        tracing::info!(
            articles = kb.articles().len(),
            signals = kb.signals().len(),
            "agent assist ready"
        );
        shared = shared.with_assist(Assistant::new(kb, cfg.assist.min_confidence));
    }
    Ok(Arc::new(shared))
}
