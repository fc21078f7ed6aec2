//! A decoded file as one call on the pipeline: a leg per channel, opened through the
//! [`Ingest`] door and fed as fast as recognition takes it (the legs' inboxes block).

use super::{decode_file, DecodedFile, FileError};
use crate::call::{CallInfo, EndReason, LegInfo, Speaker};
use crate::pipeline::{Ingest, LegSummary};
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// How a file's legs are labelled.
#[derive(Debug, Clone, Default)]
pub struct FileLegs {
    /// Speaker of a mono file's only leg.
    pub mono_speaker: Speaker,
    /// Language forced on every leg.
    pub language: Option<String>,
}

/// A file decoded and ready to stream as a new call.
pub struct FileCall {
    pub call: CallInfo,
    pub duration_ms: u64,
    /// Samples of all channels together (for progress).
    pub total_samples: u64,
    decoded: DecodedFile,
    legs: Vec<LegInfo>,
}

/// Called with the number of samples each time a piece of a channel was taken.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

impl FileCall {
    /// Decodes `path`; a stereo file is two legs (left customer, right agent), a mono one
    /// leg of `legs.mono_speaker`.
    pub fn open(path: &Path, legs: &FileLegs) -> Result<FileCall, FileError> {
        let decoded = decode_file(path)?;
        let call_id = uuid::Uuid::new_v4().to_string();
        let leg = |name: &str, speaker| LegInfo {
            call_id: call_id.clone(),
            leg: name.to_string(),
            speaker,
            participant: None,
            language: legs.language.clone(),
        };
        let infos = match decoded.channels.len() {
            1 => vec![leg("mono", legs.mono_speaker)],
            _ => vec![leg("left", Speaker::Customer), leg("right", Speaker::Agent)],
        };
        Ok(FileCall {
            call: CallInfo {
                call_id: call_id.clone(),
                source: "file".into(),
                agent_id: None,
                queue: None,
                metadata: serde_json::json!({ "file": path.display().to_string() }),
            },
            duration_ms: decoded.duration_ms(),
            total_samples: decoded.channels.iter().map(|c| c.len() as u64).sum(),
            decoded,
            legs: infos,
        })
    }

    /// Opens the call's legs and streams them; each task ends with its leg's summary once
    /// the leg has transcribed and archived its last utterance. A leg the pipeline refuses is
    /// logged and left out.
    pub fn stream(self, ingest: &Ingest, progress: Progress) -> Vec<JoinHandle<LegSummary>> {
        let rate = self.decoded.sample_rate;
        // 100 ms pieces: progress moves smoothly and a leg's inbox stays small.
        let chunk = (rate / 10).max(1) as usize;
        let mut tasks = Vec::new();
        for (info, samples) in self.legs.into_iter().zip(self.decoded.channels) {
            let tx = match ingest.open(&self.call, info, rate, None) {
                Ok(tx) => tx,
                Err(e) => {
                    tracing::error!(error = %e, "leg not opened");
                    continue;
                }
            };
            let progress = progress.clone();
            tasks.push(tokio::spawn(async move {
                for c in samples.chunks(chunk) {
                    if tx.audio(c.to_vec()).await.is_err() {
                        break;
                    }
                    progress(c.len() as u64);
                }
                tx.end_and_wait(EndReason::Hangup).await
            }));
        }
        tasks
    }
}
