//! The recogniser pool: dedicated OS threads (never the async runtime) each owning one Whisper
//! state over one shared model, fed by a bounded inbox.
//!
//! Backpressure policy:
//! - finals: the submitter waits for room in the inbox (it blocks the leg, which blocks its
//!   source); a final is never dropped;
//! - partials: offered without waiting; when the partial inbox is full, or a partial has waited
//!   longer than `partial_max_wait` (it is stale by then), it is shed and counted.

use super::engine::{transcribe, AsrError, DecodeOptions, Transcript, WhisperModel};
use super::language::LanguagePolicy;
use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

/// Sizes of the pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub workers: usize,
    /// Finals that may wait in the inbox before submitters block.
    pub final_inbox: usize,
    /// Partials that may wait before new ones are shed.
    pub partial_inbox: usize,
    pub partial_max_wait: Duration,
    pub decode: DecodeOptions,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: 1,
            final_inbox: 64,
            partial_inbox: 2,
            partial_max_wait: Duration::from_millis(1500),
            decode: DecodeOptions::default(),
        }
    }
}

/// Counters, readable at any time.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub finals_done: AtomicU64,
    pub partials_done: AtomicU64,
    pub partials_shed: AtomicU64,
    pub failures: AtomicU64,
    /// Total seconds of audio transcribed (finals and partials), in milliseconds.
    pub audio_ms: AtomicU64,
    /// Total time spent inside whisper, in milliseconds.
    pub busy_ms: AtomicU64,
}

/// A snapshot of [`PoolStats`].
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PoolStatsSnapshot {
    pub finals_done: u64,
    pub partials_done: u64,
    pub partials_shed: u64,
    pub failures: u64,
    pub audio_ms: u64,
    pub busy_ms: u64,
}

struct Job {
    audio: Arc<[f32]>,
    policy: LanguagePolicy,
    reply: oneshot::Sender<Result<Transcript, AsrError>>,
    enqueued: Instant,
    partial: bool,
    span: tracing::Span,
    _permit: Option<OwnedSemaphorePermit>,
}

type Reply = oneshot::Receiver<Result<Transcript, AsrError>>;

impl Job {
    fn new(
        audio: Arc<[f32]>,
        policy: LanguagePolicy,
        partial: bool,
        permit: Option<OwnedSemaphorePermit>,
    ) -> (Job, Reply) {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            audio,
            policy,
            reply,
            enqueued: Instant::now(),
            partial,
            span: tracing::Span::current(),
            _permit: permit,
        };
        (job, rx)
    }
}

/// Handle to the pool; cheap to clone.
#[derive(Clone)]
pub struct AsrPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    finals: Sender<Job>,
    partials: Sender<Job>,
    final_permits: Arc<Semaphore>,
    stats: Arc<PoolStats>,
    workers: std::sync::Mutex<Vec<JoinHandle<()>>>,
    multilingual: bool,
}

impl AsrPool {
    /// Starts `cfg.workers` threads sharing `model`.
    pub fn start(model: WhisperModel, cfg: PoolConfig) -> Result<Self, AsrError> {
        let (finals_tx, finals_rx) = unbounded::<Job>();
        let (partials_tx, partials_rx) = bounded::<Job>(cfg.partial_inbox.max(1));
        let stats = Arc::new(PoolStats::default());
        let mut workers = Vec::new();
        for i in 0..cfg.workers.max(1) {
            let mut state = model.new_state()?;
            let model = model.clone();
            let (frx, prx) = (finals_rx.clone(), partials_rx.clone());
            let stats = stats.clone();
            let cfg = cfg.clone();
            let handle = std::thread::Builder::new()
                .name(format!("asr-{i}"))
                .spawn(move || {
                    // The first decode on a state allocates its buffers and is several times
                    // slower; pay that before the first caller waits.
                    let warm = vec![0.0f32; super::engine::SAMPLE_RATE];
                    let policy = LanguagePolicy::new(vec!["en".into()], None);
                    if let Err(e) = transcribe(&model, &mut state, &warm, &policy, &cfg.decode) {
                        tracing::warn!(error = %e, "recogniser warm-up failed");
                    }
                    while let Some(job) = next_job(&frx, &prx) {
                        run_job(&model, &mut state, job, &cfg, &stats);
                    }
                })
                .map_err(|e| AsrError::Load {
                    path: "<thread>".into(),
                    reason: e.to_string(),
                })?;
            workers.push(handle);
        }
        Ok(AsrPool {
            inner: Arc::new(PoolInner {
                finals: finals_tx,
                partials: partials_tx,
                final_permits: Arc::new(Semaphore::new(cfg.final_inbox.max(1))),
                stats,
                workers: std::sync::Mutex::new(workers),
                multilingual: model.is_multilingual(),
            }),
        })
    }

    pub fn is_multilingual(&self) -> bool {
        self.inner.multilingual
    }

    /// Queues a final transcription, waiting for inbox room; resolves to the receiver of its result.
    pub async fn submit_final(
        &self,
        audio: Arc<[f32]>,
        policy: LanguagePolicy,
    ) -> Result<Reply, AsrError> {
        let permit = self
            .inner
            .final_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AsrError::Stopped)?;
        let (job, rx) = Job::new(audio, policy, false, Some(permit));
        self.inner.finals.send(job).map_err(|_| AsrError::Stopped)?;
        Ok(rx)
    }

    /// Offers a partial transcription; `Err(Shed)` at once when the inbox is full.
    pub fn try_submit_partial(
        &self,
        audio: Arc<[f32]>,
        policy: LanguagePolicy,
    ) -> Result<Reply, AsrError> {
        let (job, rx) = Job::new(audio, policy, true, None);
        match self.inner.partials.try_send(job) {
            Ok(()) => Ok(rx),
            Err(crossbeam_channel::TrySendError::Full(_)) => {
                self.inner
                    .stats
                    .partials_shed
                    .fetch_add(1, Ordering::Relaxed);
                Err(AsrError::Shed)
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(AsrError::Stopped),
        }
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStatsSnapshot {
        let s = &self.inner.stats;
        PoolStatsSnapshot {
            finals_done: s.finals_done.load(Ordering::Relaxed),
            partials_done: s.partials_done.load(Ordering::Relaxed),
            partials_shed: s.partials_shed.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            audio_ms: s.audio_ms.load(Ordering::Relaxed),
            busy_ms: s.busy_ms.load(Ordering::Relaxed),
        }
    }

    /// Joins the workers once every handle has been dropped and the inbox drained.
    /// Call after all submitters are gone; returns immediately if other handles remain.
    pub fn join(self) {
        if let Ok(inner) = Arc::try_unwrap(self.inner) {
            let workers = std::mem::take(&mut *inner.workers.lock().unwrap());
            drop(inner.finals);
            drop(inner.partials);
            for w in workers {
                let _ = w.join();
            }
        }
    }
}

/// Finals first; otherwise whichever comes. `None` once both inboxes are closed and empty.
fn next_job(finals: &Receiver<Job>, partials: &Receiver<Job>) -> Option<Job> {
    if let Ok(j) = finals.try_recv() {
        return Some(j);
    }
    select! {
        recv(finals) -> m => match m {
            Ok(j) => Some(j),
            Err(_) => partials.recv().ok(),
        },
        recv(partials) -> m => match m {
            Ok(j) => Some(j),
            Err(_) => finals.recv().ok(),
        },
    }
}

fn run_job(
    model: &WhisperModel,
    state: &mut whisper_rs::WhisperState,
    job: Job,
    cfg: &PoolConfig,
    stats: &PoolStats,
) {
    let _g = job.span.enter();
    if job.partial && job.enqueued.elapsed() > cfg.partial_max_wait {
        stats.partials_shed.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(Err(AsrError::Shed));
        return;
    }
    if job.reply.is_closed() {
        return;
    }
    let t0 = Instant::now();
    let result = transcribe(model, state, &job.audio, &job.policy, &cfg.decode);
    let busy = t0.elapsed();
    stats
        .busy_ms
        .fetch_add(busy.as_millis() as u64, Ordering::Relaxed);
    stats.audio_ms.fetch_add(
        (job.audio.len() as u64 * 1000) / super::engine::SAMPLE_RATE as u64,
        Ordering::Relaxed,
    );
    match &result {
        Ok(_) if job.partial => {
            stats.partials_done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(_) => {
            stats.finals_done.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, partial = job.partial, "transcription failed");
        }
    }
    tracing::debug!(
        partial = job.partial,
        audio_ms = job.audio.len() / 16,
        busy_ms = busy.as_millis() as u64,
        waited_ms = (t0 - job.enqueued).as_millis() as u64,
        "transcribed"
    );
    let _ = job.reply.send(result);
}
