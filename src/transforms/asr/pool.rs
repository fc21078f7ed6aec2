//! The recogniser pool: dedicated OS threads (never the async runtime) each owning one
//! [`Recognizer`] (for Whisper: one decoding state over one shared model), fed by a bounded
//! inbox.
//!
//! Backpressure policy:
//! - finals: the submitter waits for room in the inbox (it blocks the leg, which blocks its
//!   source); a final is never dropped;
//! - partials: offered without waiting; when the partial inbox is full, a final is waiting
//!   for a worker, or a partial has waited longer than `partial_max_wait` (it is stale by
//!   then), it is shed and counted;
//! - pre-emption: a final that finds no worker idle stops one partial in flight (whisper.cpp's
//!   abort callback, checked after the encoder and after every token), so a final never waits
//!   for a whole partial decode. The partial's caller gets [`AsrError::Preempted`];
//! - speculations (an utterance recognised at its first silence, before it closes) travel
//!   as partials do (shed, pre-empted) and are counted and timed apart.
//!
//! Faults: a recogniser that panics or fails is thrown away and the worker makes a new one, so
//! no input can stop recognition. A final is tried once more on the new recogniser; if that
//! fails too, its caller gets the error (and records the loss), and the failure is counted.

use super::engine::{AsrError, DecodeOptions, Transcript};
use super::language::LanguagePolicy;
use super::recognizer::{AbortFlag, Preemption, Recognizer, RecognizerFactory};
use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
    /// Finals that failed on two recognisers in a row; each reached its caller as an error.
    pub failures: AtomicU64,
    /// Partials that failed (not retried: the final follows).
    pub partials_failed: AtomicU64,
    /// Partials (and speculations) stopped midway because a final was waiting and no worker
    /// was idle.
    pub partials_preempted: AtomicU64,
    /// Speculative transcriptions made (utterances recognised at their first silence).
    pub speculations_done: AtomicU64,
    /// Transcripts that came out as a repetition loop (see `[asr] loop_guard`).
    pub loops: AtomicU64,
    /// Recognisers thrown away after a panic or an error, and made anew.
    pub restarts: AtomicU64,
    /// Finals tried a second time on a fresh recogniser.
    pub retries: AtomicU64,
    /// Total seconds of audio transcribed (finals and partials), in milliseconds.
    pub audio_ms: AtomicU64,
    /// Total time spent inside the recogniser, in milliseconds.
    pub busy_ms: AtomicU64,
    /// Worker threads running.
    workers_alive: AtomicUsize,
    /// Workers holding a usable recogniser (making a new one can fail, e.g. out of memory).
    workers_ready: AtomicUsize,
    /// Workers waiting for a job.
    workers_idle: AtomicUsize,
}

/// A snapshot of [`PoolStats`].
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct PoolStatsSnapshot {
    pub finals_done: u64,
    pub partials_done: u64,
    pub partials_shed: u64,
    pub failures: u64,
    pub partials_failed: u64,
    pub partials_preempted: u64,
    pub speculations_done: u64,
    pub loops: u64,
    pub restarts: u64,
    pub retries: u64,
    pub audio_ms: u64,
    pub busy_ms: u64,
}

/// Whether the workers are there and able to recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolHealth {
    /// Workers configured.
    pub workers: usize,
    /// Worker threads running.
    pub alive: usize,
    /// Workers with a usable recogniser.
    pub ready: usize,
}

/// The submitter's hold on a speculative job: whether a worker has started it, and a way to
/// give it a final's standing (never shed as stale, not pre-empted when it starts) once its
/// utterance has closed and waits on it.
#[derive(Debug, Default)]
pub struct SpeculationTicket {
    promoted: std::sync::atomic::AtomicBool,
    /// The pre-emption state of the worker running it, set when one starts it.
    worker: std::sync::OnceLock<AbortFlag>,
}

impl SpeculationTicket {
    /// Whether a worker has begun the job.
    pub fn started(&self) -> bool {
        self.worker.get().is_some()
    }

    /// The utterance closed: the job is now its final's recognition. One already running is
    /// taken out of reach of pre-emption too (unless a final has just asked it to stop).
    pub fn promote(&self) {
        self.promoted.store(true, Ordering::SeqCst);
        if let Some(p) = self.worker.get() {
            p.protect();
        }
    }

    fn promoted(&self) -> bool {
        self.promoted.load(Ordering::SeqCst)
    }
}

/// What a job is for: it decides shedding, pre-emption and the metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Final,
    Partial,
    Speculative,
}

impl JobKind {
    /// Sheddable and pre-emptible (partials and speculations).
    fn is_partial(self) -> bool {
        self != JobKind::Final
    }

    /// The `kind` label of the recogniser metrics.
    fn label(self) -> &'static str {
        match self {
            JobKind::Final => "final",
            JobKind::Partial => "partial",
            JobKind::Speculative => "speculative",
        }
    }
}

struct Job {
    audio: Arc<[f32]>,
    policy: LanguagePolicy,
    reply: oneshot::Sender<Result<Transcript, AsrError>>,
    enqueued: Instant,
    kind: JobKind,
    /// Speculative jobs only.
    ticket: Option<Arc<SpeculationTicket>>,
    span: tracing::Span,
    _permit: Option<OwnedSemaphorePermit>,
}

type Reply = oneshot::Receiver<Result<Transcript, AsrError>>;

impl Job {
    fn new(
        audio: Arc<[f32]>,
        policy: LanguagePolicy,
        kind: JobKind,
        permit: Option<OwnedSemaphorePermit>,
    ) -> (Job, Reply) {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            audio,
            policy,
            reply,
            enqueued: Instant::now(),
            kind,
            ticket: None,
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
    /// Each worker's pre-emption state.
    preemption: Vec<AbortFlag>,
    multilingual: bool,
    size: usize,
}

impl AsrPool {
    /// Starts `cfg.workers` Whisper workers sharing `model`.
    #[cfg(feature = "whisper")]
    pub fn start(model: super::WhisperModel, cfg: PoolConfig) -> Result<Self, AsrError> {
        let factory = super::WhisperFactory::new(model, cfg.decode.clone());
        Self::start_with(Arc::new(factory), cfg)
    }

    /// Starts `cfg.workers` workers, each with a recogniser from `factory`. Fails when a first
    /// recogniser cannot be made, so a bad model stops start-up instead of every call.
    pub fn start_with(
        factory: Arc<dyn RecognizerFactory>,
        cfg: PoolConfig,
    ) -> Result<Self, AsrError> {
        let (finals_tx, finals_rx) = unbounded::<Job>();
        let (partials_tx, partials_rx) = bounded::<Job>(cfg.partial_inbox.max(1));
        let stats = Arc::new(PoolStats::default());
        let mut workers = Vec::new();
        let mut preemption = Vec::new();
        for i in 0..cfg.workers.max(1) {
            let flag: AbortFlag = Arc::new(Preemption::default());
            let mut first = factory.make()?;
            first.set_abort_flag(flag.clone());
            stats.workers_ready.fetch_add(1, Ordering::Relaxed);
            let mut worker = Worker {
                factory: factory.clone(),
                recognizer: Some(first),
                stats: stats.clone(),
                cfg: cfg.clone(),
                preemption: flag.clone(),
            };
            preemption.push(flag);
            let (frx, prx) = (finals_rx.clone(), partials_rx.clone());
            stats.workers_alive.fetch_add(1, Ordering::Relaxed);
            let idle_stats = stats.clone();
            let handle = std::thread::Builder::new()
                .name(format!("asr-{i}"))
                .spawn(move || loop {
                    idle_stats.workers_idle.fetch_add(1, Ordering::SeqCst);
                    let job = next_job(&frx, &prx);
                    idle_stats.workers_idle.fetch_sub(1, Ordering::SeqCst);
                    match job {
                        Some(job) => worker.run(job),
                        None => break,
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
                preemption,
                multilingual: factory.is_multilingual(),
                size: cfg.workers.max(1),
            }),
        })
    }

    /// Workers configured, running and ready.
    pub fn health(&self) -> PoolHealth {
        let s = &self.inner.stats;
        PoolHealth {
            workers: self.inner.size,
            alive: s.workers_alive.load(Ordering::Relaxed),
            ready: s.workers_ready.load(Ordering::Relaxed),
        }
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
        let (job, rx) = Job::new(audio, policy, JobKind::Final, Some(permit));
        // Looked at before queueing: an idle worker takes the final at once and stops counting
        // as idle, and read after that it would look as if every worker were busy.
        let none_idle = self.inner.stats.workers_idle.load(Ordering::SeqCst) == 0;
        self.inner.finals.send(job).map_err(|_| AsrError::Stopped)?;
        if none_idle {
            self.preempt_a_partial();
        }
        Ok(rx)
    }

    /// Stops one partial in flight (all workers being busy) so the final just queued starts
    /// as soon as whisper.cpp next looks at its abort flag.
    fn preempt_a_partial(&self) {
        if self.inner.preemption.iter().any(|p| p.request()) {
            tracing::debug!("partial pre-empted for a final");
        }
    }

    /// Offers a partial transcription; `Err(Shed)` at once when the inbox is full, or when a
    /// final is waiting for a worker: then the recogniser is behind, a partial would only
    /// delay that final's successors, and the partial cadence falls with the load.
    pub fn try_submit_partial(
        &self,
        audio: Arc<[f32]>,
        policy: LanguagePolicy,
    ) -> Result<Reply, AsrError> {
        if !self.inner.finals.is_empty() {
            self.inner
                .stats
                .partials_shed
                .fetch_add(1, Ordering::Relaxed);
            return Err(AsrError::Shed);
        }
        self.offer(Job::new(audio, policy, JobKind::Partial, None))
    }

    /// Offers a speculative transcription of an utterance about to close; treated as a
    /// partial (shed at once when the inbox is full, pre-empted by finals) unless promoted
    /// through its ticket.
    pub fn try_submit_speculative(
        &self,
        audio: Arc<[f32]>,
        policy: LanguagePolicy,
    ) -> Result<(Reply, Arc<SpeculationTicket>), AsrError> {
        let (mut job, rx) = Job::new(audio, policy, JobKind::Speculative, None);
        let ticket = Arc::new(SpeculationTicket::default());
        job.ticket = Some(ticket.clone());
        Ok((self.offer((job, rx))?, ticket))
    }

    fn offer(&self, (job, rx): (Job, Reply)) -> Result<Reply, AsrError> {
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

    /// Finals and partials waiting for a worker.
    pub fn inbox_depths(&self) -> (usize, usize) {
        (self.inner.finals.len(), self.inner.partials.len())
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStatsSnapshot {
        let s = &self.inner.stats;
        PoolStatsSnapshot {
            finals_done: s.finals_done.load(Ordering::Relaxed),
            partials_done: s.partials_done.load(Ordering::Relaxed),
            partials_shed: s.partials_shed.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            partials_failed: s.partials_failed.load(Ordering::Relaxed),
            partials_preempted: s.partials_preempted.load(Ordering::Relaxed),
            loops: s.loops.load(Ordering::Relaxed),
            speculations_done: s.speculations_done.load(Ordering::Relaxed),
            restarts: s.restarts.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
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

/// One worker thread's recogniser and what it needs to replace it.
struct Worker {
    factory: Arc<dyn RecognizerFactory>,
    /// `None` after a failure until a new one is made.
    recognizer: Option<Box<dyn Recognizer>>,
    stats: Arc<PoolStats>,
    cfg: PoolConfig,
    preemption: AbortFlag,
}

impl Drop for Worker {
    // Also runs when the thread unwinds, so a dead worker never counts as alive.
    fn drop(&mut self) {
        self.stats.workers_alive.fetch_sub(1, Ordering::Relaxed);
        if self.recognizer.is_some() {
            self.stats.workers_ready.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Worker {
    fn run(&mut self, job: Job) {
        let _g = job.span.enter();
        let stats = self.stats.clone();
        let partial = job.kind.is_partial();
        let promoted = job.ticket.as_ref().is_some_and(|t| t.promoted());
        if partial && !promoted && job.enqueued.elapsed() > self.cfg.partial_max_wait {
            stats.partials_shed.fetch_add(1, Ordering::Relaxed);
            let _ = job.reply.send(Err(AsrError::Shed));
            return;
        }
        if job.reply.is_closed() {
            return;
        }
        if let Some(t) = &job.ticket {
            let _ = t.worker.set(self.preemption.clone());
        }
        let tries = if partial { 1 } else { 2 };
        let t0 = Instant::now();
        let mut result = Err(AsrError::Stopped);
        // Checked again after the worker is recorded on the ticket: a promotion made before
        // the submitter could see the start is never missed.
        if partial && !job.ticket.as_ref().is_some_and(|t| t.promoted()) {
            self.preemption.begin_partial();
        }
        for attempt in 0..tries {
            if attempt > 0 {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("retrying the utterance on a new recogniser");
            }
            result = self.attempt(&job.audio, &job.policy);
            if result.is_ok() {
                break;
            }
        }
        if self.preemption.end() && result.is_err() {
            result = Err(AsrError::Preempted);
        }
        let busy = t0.elapsed();
        let kind = job.kind.label();
        let m = crate::metrics::metrics();
        m.asr_queue_wait
            .with_label_values(&[kind])
            .observe((t0 - job.enqueued).as_secs_f64());
        m.asr_decode
            .with_label_values(&[kind])
            .observe(busy.as_secs_f64());
        stats
            .busy_ms
            .fetch_add(busy.as_millis() as u64, Ordering::Relaxed);
        stats.audio_ms.fetch_add(
            (job.audio.len() as u64 * 1000) / super::engine::SAMPLE_RATE as u64,
            Ordering::Relaxed,
        );
        let counter = match (&result, partial) {
            (Err(AsrError::Preempted), _) => &stats.partials_preempted,
            (Ok(_), true) if job.kind == JobKind::Speculative => &stats.speculations_done,
            (Ok(_), true) => &stats.partials_done,
            (Ok(_), false) => &stats.finals_done,
            (Err(_), true) => &stats.partials_failed,
            (Err(_), false) => &stats.failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if result.as_ref().is_ok_and(|t| t.looped) {
            stats.loops.fetch_add(1, Ordering::Relaxed);
        }
        match &result {
            Err(AsrError::Preempted) | Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, partial, "transcription failed"),
        }
        tracing::debug!(
            partial,
            audio_ms = job.audio.len() / 16,
            busy_ms = busy.as_millis() as u64,
            waited_ms = (t0 - job.enqueued).as_millis() as u64,
            "transcribed"
        );
        let _ = job.reply.send(result);
    }

    /// One try on the current recogniser (made first if there is none). A recogniser that
    /// panicked or failed is thrown away: its state may be half-written.
    fn attempt(&mut self, audio: &[f32], policy: &LanguagePolicy) -> Result<Transcript, AsrError> {
        if self.recognizer.is_none() {
            let made = catch_unwind(AssertUnwindSafe(|| self.factory.make()))
                .unwrap_or_else(|p| Err(panicked(audio, p.as_ref())));
            match made {
                Ok(mut r) => {
                    r.set_abort_flag(self.preemption.clone());
                    self.recognizer = Some(r);
                    self.stats.workers_ready.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot make a new recogniser");
                    return Err(e);
                }
            }
        }
        let rec = self.recognizer.as_mut().expect("made above");
        let outcome = catch_unwind(AssertUnwindSafe(|| rec.transcribe(audio, policy)))
            .unwrap_or_else(|p| Err(panicked(audio, p.as_ref())));
        if matches!(outcome, Err(AsrError::Preempted)) {
            // Stopped on request: the state is whole and is used again.
            return outcome;
        }
        if let Err(e) = &outcome {
            tracing::error!(error = %e, "recogniser failed; replacing it");
            self.recognizer = None;
            self.stats.workers_ready.fetch_sub(1, Ordering::Relaxed);
            self.stats.restarts.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }
}

/// The error for a panic inside the recogniser.
fn panicked(audio: &[f32], payload: &(dyn std::any::Any + Send)) -> AsrError {
    let reason = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    AsrError::Panicked {
        secs: audio.len() as f32 / super::engine::SAMPLE_RATE as f32,
        reason,
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
