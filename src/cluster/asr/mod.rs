//! Recognition on separate machines (`[asr] remote = true` on ingest nodes, `callwatch worker`
//! on recognition machines), through a JetStream work queue:
//!
//! - An ingest node publishes each utterance to `<stream>_ASR.final` or `<stream>_ASR.partial`
//!   (work-queue retention: a job is stored until one worker acknowledges it).
//! - Workers pull finals before partials. A worker publishes its result to
//!   `<stream>_ASR_RESULTS.<node>` and acknowledges the job only once NATS has stored the
//!   result, so a worker that dies mid-utterance loses nothing: after `ack_wait` the job goes
//!   to another worker. While it decodes, it tells NATS it is still at work.
//! - Partials go to workers only while they keep up: a partial that waited past its age
//!   limit is answered `shed`, and the ingest node's own pool sheds partials first when finals
//!   wait.
//!
//! The job stream holds call audio and the result stream transcripts before redaction, each
//! for minutes at most: protect NATS as the archive is protected.

pub mod remote;
pub mod wire;
pub mod worker;

use async_nats::jetstream::{self, consumer, stream};
use std::time::Duration;
use wire::JobKind;

/// How long a job is kept when no worker takes it.
const JOB_MAX_AGE: Duration = Duration::from_secs(600);
/// How long results are kept (their ingest node reads them at once).
const RESULT_MAX_AGE: Duration = Duration::from_secs(300);
/// A worker silent this long about a final (no progress, no ack) is taken for dead and the
/// final goes to another worker.
pub const FINAL_ACK_WAIT: Duration = Duration::from_secs(6);
/// Deliveries of a final before it is given up (and the ingest node reports a failure).
const FINAL_MAX_DELIVER: i64 = 8;

/// The streams and subjects of one cluster's recognition queue.
#[derive(Clone)]
pub struct AsrQueue {
    js: jetstream::Context,
    jobs: String,
    results: String,
}

impl AsrQueue {
    /// The queue beside the events stream named `base` (`[bus] stream`).
    pub fn of(js: jetstream::Context, base: &str) -> AsrQueue {
        AsrQueue {
            js,
            jobs: format!("{base}_ASR"),
            results: format!("{base}_ASR_RESULTS"),
        }
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn job_subject(&self, kind: JobKind) -> String {
        format!("{}.{}", self.jobs, kind.as_str())
    }

    pub fn result_subject(&self, node: &str) -> String {
        format!("{}.{node}", self.results)
    }

    /// Creates the two streams when missing.
    pub async fn ensure(&self) -> Result<(stream::Stream, stream::Stream), String> {
        let jobs = self
            .js
            .get_or_create_stream(stream::Config {
                name: self.jobs.clone(),
                description: Some("callwatch: utterances waiting for a recognition worker".into()),
                subjects: vec![format!("{}.>", self.jobs)],
                retention: stream::RetentionPolicy::WorkQueue,
                max_age: JOB_MAX_AGE,
                max_message_size: (wire::MAX_JOB_AUDIO_BYTES + 16 * 1024) as i32,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("stream {}: {e}", self.jobs))?;
        let results = self
            .js
            .get_or_create_stream(stream::Config {
                name: self.results.clone(),
                description: Some("callwatch: recognition results for ingest nodes".into()),
                subjects: vec![format!("{}.>", self.results)],
                max_age: RESULT_MAX_AGE,
                max_message_size: wire::MAX_RESULT_BYTES as i32,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("stream {}: {e}", self.results))?;
        Ok((jobs, results))
    }

    /// The workers' shared consumer of `kind` jobs: each job goes to one worker.
    pub async fn consumer(
        &self,
        jobs: &stream::Stream,
        kind: JobKind,
    ) -> Result<consumer::PullConsumer, String> {
        let name = format!("workers-{}", kind.as_str());
        let (ack_wait, max_deliver) = match kind {
            JobKind::Final => (FINAL_ACK_WAIT, FINAL_MAX_DELIVER),
            // A partial lost with its worker is not worth doing again: a newer one follows.
            JobKind::Partial => (Duration::from_secs(5), 1),
        };
        jobs.get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: self.job_subject(kind),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait,
                max_deliver,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("consumer {name}: {e}"))
    }
}
