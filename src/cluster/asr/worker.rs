//! `callwatch worker`: takes utterances from the cluster's queue, transcribes them on this
//! machine's [`AsrPool`], publishes each result and only then acknowledges the job.
//!
//! [`AsrPool`]: crate::transforms::asr::AsrPool

use super::wire::{Job, JobKind, JobResult, Outcome};
use super::{AsrQueue, FINAL_ACK_WAIT};
use crate::shutdown::Shutdown;
use crate::transforms::asr::{AsrError, AsrPool};
use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{AckKind, Message};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Settings of one worker process.
#[derive(Clone)]
pub struct WorkerSettings {
    /// Shown in logs and results.
    pub name: String,
    /// A partial older than this when a worker gets to it is answered `shed`: a newer partial
    /// or the final has overtaken it.
    pub partial_max_age: Duration,
}

/// What a worker did, for its log and tests.
#[derive(Debug, Default)]
pub struct WorkerCounts {
    pub finals: AtomicU64,
    pub partials: AtomicU64,
    pub shed: AtomicU64,
    pub failed: AtomicU64,
    pub refused: AtomicU64,
}

/// Runs until `shutdown` fires: jobs in flight are finished (and acknowledged) first.
pub async fn run(
    queue: AsrQueue,
    pool: AsrPool,
    settings: WorkerSettings,
    mut shutdown: Shutdown,
) -> Arc<WorkerCounts> {
    let counts = Arc::new(WorkerCounts::default());
    let slots = Arc::new(Semaphore::new(pool.health().workers.max(1)));
    let (finals, partials) = loop {
        match open(&queue).await {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(error = %e, "recognition queue not reachable yet; retrying");
                tokio::select! {
                    _ = shutdown.recv() => return counts,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    tracing::info!(worker = %settings.name, slots = slots.available_permits(), "taking recognition jobs");
    loop {
        let permit = tokio::select! {
            _ = shutdown.recv() => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let msg = tokio::select! {
            _ = shutdown.recv() => break,
            m = next_job(&finals, &partials) => m,
        };
        let Some(msg) = msg else { continue };
        let (queue, pool, settings, counts) = (
            queue.clone(),
            pool.clone(),
            settings.clone(),
            counts.clone(),
        );
        tokio::spawn(async move {
            handle(&queue, &pool, &settings, &counts, msg).await;
            drop(permit);
        });
    }
    // Every slot back: every job in flight answered.
    let total = pool.health().workers.max(1) as u32;
    let _ = slots.acquire_many(total).await;
    counts
}

async fn open(queue: &AsrQueue) -> Result<(PullConsumer, PullConsumer), String> {
    let (jobs, _) = queue.ensure().await?;
    Ok((
        queue.consumer(&jobs, JobKind::Final).await?,
        queue.consumer(&jobs, JobKind::Partial).await?,
    ))
}

/// The next job: a final when one waits, else a partial, else whatever arrives first within
/// a short wait (finals asked again first).
async fn next_job(finals: &PullConsumer, partials: &PullConsumer) -> Option<Message> {
    async fn one(c: &PullConsumer, wait: Option<Duration>) -> Option<Message> {
        let batch = match wait {
            None => c.fetch().max_messages(1).messages().await,
            Some(w) => c.batch().max_messages(1).expires(w).messages().await,
        };
        match batch {
            Ok(mut b) => b.next().await.and_then(Result::ok),
            Err(e) => {
                tracing::debug!(error = %e, "pull failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                None
            }
        }
    }
    if let Some(m) = one(finals, None).await {
        return Some(m);
    }
    if let Some(m) = one(partials, None).await {
        return Some(m);
    }
    one(finals, Some(Duration::from_millis(250))).await
}

async fn handle(
    queue: &AsrQueue,
    pool: &AsrPool,
    settings: &WorkerSettings,
    counts: &WorkerCounts,
    msg: Message,
) {
    let job = match Job::decode(msg.headers.as_ref(), &msg.payload) {
        Ok(j) => j,
        Err(e) => {
            // Never redelivered: no worker could do better with it.
            tracing::warn!(error = %e, subject = %msg.subject, "recognition job refused");
            counts.refused.fetch_add(1, Ordering::Relaxed);
            let _ = msg.ack_with(AckKind::Term).await;
            return;
        }
    };
    let span = tracing::info_span!("job", id = %job.id, kind = job.kind.as_str(), node = %job.node);
    let _enter = span.enter();
    let outcome = match job.kind {
        JobKind::Partial => {
            let age = super::wire::now_ms().saturating_sub(job.sent_ms);
            if age > settings.partial_max_age.as_millis() as i64 {
                Outcome::Shed
            } else {
                match pool.try_submit_partial(job.audio.into(), job.policy) {
                    Ok(rx) => outcome_of(rx.await.unwrap_or(Err(AsrError::Stopped))),
                    Err(e) => outcome_of(Err(e)),
                }
            }
        }
        JobKind::Final => {
            tracing::info!(secs = job.audio.len() as f32 / 16_000.0, "final taken");
            // Told while it decodes, so NATS does not hand the final to another worker.
            let progress = {
                let acker = msg.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(FINAL_ACK_WAIT / 3).await;
                        let _ = acker.ack_with(AckKind::Progress).await;
                    }
                })
            };
            let result = match pool.submit_final(job.audio.into(), job.policy).await {
                Ok(rx) => rx.await.unwrap_or(Err(AsrError::Stopped)),
                Err(e) => Err(e),
            };
            progress.abort();
            outcome_of(result)
        }
    };
    match &outcome {
        Outcome::Transcript(_) if job.kind == JobKind::Final => &counts.finals,
        Outcome::Transcript(_) => &counts.partials,
        Outcome::Shed => &counts.shed,
        Outcome::Failed(_) => &counts.failed,
    }
    .fetch_add(1, Ordering::Relaxed);
    let result = JobResult {
        job: job.id.clone(),
        worker: settings.name.clone(),
        outcome,
    };
    let published = async {
        queue
            .jetstream()
            .publish(queue.result_subject(&job.node), result.encode().into())
            .await
            .map_err(|e| e.to_string())?
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
    .await;
    match published {
        // Only now is the job done: had this worker died before, NATS would redeliver it.
        Ok(()) => {
            if let Err(e) = msg.double_ack().await {
                tracing::warn!(error = %e, "job acknowledgement lost; it may be done twice");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "result not stored; the job goes back to the queue");
            let _ = msg.ack_with(AckKind::Nak(None)).await;
        }
    }
}

fn outcome_of(r: Result<crate::transforms::asr::Transcript, AsrError>) -> Outcome {
    match r {
        Ok(t) => Outcome::Transcript(t),
        Err(AsrError::Shed | AsrError::Preempted) => Outcome::Shed,
        Err(e) => Outcome::Failed(e.to_string()),
    }
}
