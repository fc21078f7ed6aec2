//! The ingest node's side of remote recognition: recognisers for its [`AsrPool`] that hand
//! each utterance to the cluster's workers and wait for the result. The pool's scheduling is
//! unchanged (finals first, partials shed when finals wait, partials pre-empted), its size
//! is the number of utterances in flight to the workers.
//!
//! When NATS does not take a job, or no worker answers a final in time, the utterance is
//! transcribed by the node's own model if it has one (`[asr] remote_fallback`), else it fails
//! with a reason the pipeline reports.
//!
//! [`AsrPool`]: crate::transforms::asr::AsrPool

use super::wire::{Job, JobKind, JobResult, Outcome};
use super::AsrQueue;
use crate::transforms::asr::{
    AbortFlag, AsrError, LanguagePolicy, Recognizer, RecognizerFactory, Transcript,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a partial waits for its result before it counts as shed.
const PARTIAL_WAIT: Duration = Duration::from_secs(5);

/// Settings of remote recognition on an ingest node.
#[derive(Clone)]
pub struct RemoteSettings {
    /// This node's id: results come back on its subject.
    pub node: String,
    /// Longest wait for a final's result (a dead worker's final is redelivered meanwhile).
    pub final_wait: Duration,
    /// Whether the workers' model picks among languages.
    pub multilingual: bool,
    /// The node's own recognisers, used when the workers cannot be reached.
    pub fallback: Option<Arc<dyn RecognizerFactory>>,
}

/// Makes recognisers that send their work to the cluster's workers.
pub struct RemoteFactory {
    remote: Arc<Remote>,
}

struct Remote {
    queue: AsrQueue,
    settings: RemoteSettings,
    rt: tokio::runtime::Handle,
    pending: Mutex<HashMap<String, oneshot::Sender<JobResult>>>,
}

impl RemoteFactory {
    /// Starts reading this node's results (retrying while NATS is away). Call from inside the
    /// runtime that will carry the NATS traffic.
    pub fn start(queue: AsrQueue, settings: RemoteSettings) -> RemoteFactory {
        let remote = Arc::new(Remote {
            queue,
            settings,
            rt: tokio::runtime::Handle::current(),
            pending: Mutex::new(HashMap::new()),
        });
        tokio::spawn(read_results(Arc::downgrade(&remote)));
        RemoteFactory { remote }
    }
}

impl RecognizerFactory for RemoteFactory {
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError> {
        Ok(Box::new(RemoteRecognizer {
            remote: self.remote.clone(),
            abort: None,
            local: None,
        }))
    }

    fn is_multilingual(&self) -> bool {
        self.remote.settings.multilingual
    }
}

/// Dispatches this node's results to the recognisers waiting for them; a result nobody waits
/// for (a redelivered job's second answer, a job given up) is dropped.
async fn read_results(remote: std::sync::Weak<Remote>) {
    loop {
        let Some(r) = remote.upgrade() else { return };
        let subject = r.queue.result_subject(&r.settings.node);
        let opened = async {
            let (_, results) = r.queue.ensure().await?;
            let c = results
                .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                    deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::New,
                    filter_subject: subject.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            c.messages().await.map_err(|e| e.to_string())
        }
        .await;
        drop(r);
        let mut messages = match opened {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read recognition results yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(msg) = messages.next().await {
            let Some(r) = remote.upgrade() else { return };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "recognition results interrupted; reopening");
                    break;
                }
            };
            match JobResult::decode(&msg.payload) {
                Ok(result) => {
                    let waiter = r
                        .pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&result.job);
                    if let Some(tx) = waiter {
                        let _ = tx.send(result);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "unreadable recognition result skipped"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One pool worker's recogniser: sends, waits, falls back.
struct RemoteRecognizer {
    remote: Arc<Remote>,
    abort: Option<AbortFlag>,
    /// Made on first need from the fallback factory.
    local: Option<Box<dyn Recognizer>>,
}

impl RemoteRecognizer {
    /// The node's own recogniser on `audio`, or the reason none can run.
    fn locally(
        &mut self,
        audio: &[f32],
        policy: &LanguagePolicy,
        why: String,
    ) -> Result<Transcript, AsrError> {
        let secs = audio.len() as f32 / 16_000.0;
        let Some(factory) = &self.remote.settings.fallback else {
            return Err(AsrError::Inference {
                secs,
                reason: format!("{why}; this node has no model of its own (set [asr] remote_fallback = true to transcribe here meanwhile)"),
            });
        };
        if self.local.is_none() {
            let mut r = factory.make()?;
            if let Some(flag) = &self.abort {
                r.set_abort_flag(flag.clone());
            }
            self.local = Some(r);
        }
        tracing::warn!(reason = %why, "transcribing on this node");
        self.local
            .as_mut()
            .map(|r| r.transcribe(audio, policy))
            .unwrap_or(Err(AsrError::Stopped))
    }

    fn forget(&self, id: &str) {
        self.remote
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

impl Recognizer for RemoteRecognizer {
    fn transcribe(
        &mut self,
        audio: &[f32],
        policy: &LanguagePolicy,
    ) -> Result<Transcript, AsrError> {
        let partial = self.abort.as_ref().is_some_and(|f| f.partial_in_flight());
        let kind = if partial {
            JobKind::Partial
        } else {
            JobKind::Final
        };
        let secs = audio.len() as f32 / 16_000.0;
        let job = Job {
            id: uuid::Uuid::new_v4().simple().to_string(),
            node: self.remote.settings.node.clone(),
            kind,
            policy: policy.clone(),
            sent_ms: super::wire::now_ms(),
            audio: audio.to_vec(),
        };
        let (headers, body) = job.encode().map_err(|e| AsrError::Inference {
            secs,
            reason: e.to_string(),
        })?;
        let (tx, mut rx) = oneshot::channel();
        self.remote
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.id.clone(), tx);
        let subject = self.remote.queue.job_subject(kind);
        let js = self.remote.queue.jetstream().clone();
        let sent = self.remote.rt.block_on(async {
            let ack = js
                .publish_with_headers(subject, headers, body.into())
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map(drop).map_err(|e| e.to_string())
        });
        if let Err(e) = sent {
            self.forget(&job.id);
            if partial {
                return Err(AsrError::Shed);
            }
            return self.locally(
                audio,
                policy,
                format!("NATS did not take the utterance ({e})"),
            );
        }
        let wait = if partial {
            PARTIAL_WAIT
        } else {
            self.remote.settings.final_wait
        };
        let abort = self.abort.clone();
        let answer = self.remote.rt.block_on(async {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                tokio::select! {
                    r = &mut rx => return r.ok(),
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {
                        if abort.as_ref().is_some_and(|f| f.requested())
                            || tokio::time::Instant::now() >= deadline
                        {
                            return None;
                        }
                    }
                }
            }
        });
        self.forget(&job.id);
        match answer.map(|r| r.outcome) {
            Some(Outcome::Transcript(t)) => Ok(t),
            Some(Outcome::Shed) => Err(AsrError::Shed),
            Some(Outcome::Failed(reason)) => Err(AsrError::Inference { secs, reason }),
            None if self.abort.as_ref().is_some_and(|f| f.requested()) => Err(AsrError::Preempted),
            None if partial => Err(AsrError::Shed),
            None => self.locally(
                audio,
                policy,
                format!("no recognition worker answered within {wait:?}"),
            ),
        }
    }

    fn set_abort_flag(&mut self, flag: AbortFlag) {
        self.abort = Some(flag);
    }
}
