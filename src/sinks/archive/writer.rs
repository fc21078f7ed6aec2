//! The archive writer: one thread owns the write connection and drains an unbounded
//! channel of [`ArchiveOp`]s, so the audio path never waits on SQLite.
//!
//! Ops are committed in batches. A transient failure (lock held by another process,
//! disk full, I/O error) rolls the batch back and retries it with backoff, keeping every
//! op; an op SQLite refuses for good is moved to `rejected_ops` so it neither blocks the
//! queue nor disappears.

use super::error::ArchiveError;
use super::record::ArchiveOp;
use super::{schema, store};
use crossbeam_channel::{Receiver, Sender};
use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Tuning of the writer thread.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// How long SQLite itself waits on a lock before the writer backs off and retries.
    pub busy_timeout: Duration,
    /// Most ops committed in one transaction.
    pub max_batch: usize,
    /// First wait after a failed commit; doubles on each further failure.
    pub initial_backoff: Duration,
    /// Ceiling of the backoff.
    pub max_backoff: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            busy_timeout: Duration::from_secs(5),
            max_batch: 512,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Counters of the writer thread since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WriterStats {
    /// Ops committed (including those kept in `rejected_ops`).
    pub committed_ops: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Failed commit attempts that were retried.
    pub retries: u64,
    /// Ops SQLite refused for good, kept in `rejected_ops`.
    pub rejected_ops: u64,
    /// Ops and barriers waiting in the channel.
    pub queued: u64,
}

/// Whether the writer can keep what it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WriterHealth {
    /// The writer thread runs.
    pub alive: bool,
    /// The last commit failed and the writer is retrying it.
    pub failing: bool,
    /// Ops and barriers waiting in the channel.
    pub queued: u64,
}

#[derive(Default)]
struct Counters {
    committed_ops: AtomicU64,
    commits: AtomicU64,
    retries: AtomicU64,
    rejected_ops: AtomicU64,
    alive: AtomicBool,
    failing: AtomicBool,
}

/// Marks the writer dead when its thread ends, by return or by panic.
struct AliveGuard<'a>(&'a Counters);

impl Drop for AliveGuard<'_> {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::Relaxed);
    }
}

// Almost every message is an op, so boxing it would cost an allocation per op to
// shrink the rare barrier messages.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Op(ArchiveOp),
    /// Answered once everything queued before it is committed.
    Flush(Waiter),
    Close,
}

/// Who waits for a flush: a blocking caller or a task.
enum Waiter {
    Thread(Sender<()>),
    Task(tokio::sync::oneshot::Sender<()>),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::Thread(tx) => drop(tx.send(())),
            Waiter::Task(tx) => drop(tx.send(())),
        }
    }
}

/// Starts archive writer threads.
pub struct ArchiveWriter;

impl ArchiveWriter {
    /// Opens (creating and migrating) the archive at `path` and starts its writer thread.
    pub fn spawn(
        path: impl AsRef<Path>,
    ) -> Result<(ArchiveSender, ArchiveWriterHandle), ArchiveError> {
        Self::spawn_with(path, WriterConfig::default())
    }

    /// [`ArchiveWriter::spawn`] with explicit tuning.
    pub fn spawn_with(
        path: impl AsRef<Path>,
        config: WriterConfig,
    ) -> Result<(ArchiveSender, ArchiveWriterHandle), ArchiveError> {
        // Opening here rather than on the thread makes a bad path fail at start-up.
        let conn = schema::open_writer(path.as_ref(), config.busy_timeout)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(Counters::default());
        counters.alive.store(true, Ordering::Relaxed);
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("archive-writer".into())
            .spawn(move || {
                let _alive = AliveGuard(&thread_counters);
                run(conn, rx, config, &thread_counters)
            })
            .map_err(ArchiveError::Spawn)?;
        Ok((
            ArchiveSender {
                tx: tx.clone(),
                counters: counters.clone(),
            },
            ArchiveWriterHandle {
                tx,
                thread: Some(thread),
                counters,
            },
        ))
    }
}

/// Sends ops to the writer. Cheap to clone; `send` never blocks.
#[derive(Clone)]
pub struct ArchiveSender {
    tx: Sender<Msg>,
    counters: Arc<Counters>,
}

impl ArchiveSender {
    /// Queues `op` for writing. Never blocks; fails only once the writer has stopped.
    pub fn send(&self, op: ArchiveOp) -> Result<(), ArchiveError> {
        self.tx.send(Msg::Op(op)).map_err(|_| ArchiveError::Closed)
    }

    /// Blocks until every op sent before this call is committed. Not for the audio
    /// path; from async code call it inside `spawn_blocking`.
    pub fn flush(&self) -> Result<(), ArchiveError> {
        flush(&self.tx)
    }

    /// Resolves once every op sent before this call is committed (durable on disk); an error
    /// when the writer stopped first. For async callers that must not announce what is not
    /// yet kept (a final is published after its utterance is committed).
    pub fn committed(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // A send error drops `tx`, which the receiver sees as an error.
        let _ = self.tx.send(Msg::Flush(Waiter::Task(tx)));
        rx
    }

    /// Whether the writer runs and its commits go through.
    pub fn health(&self) -> WriterHealth {
        WriterHealth {
            alive: self.counters.alive.load(Ordering::Relaxed),
            failing: self.counters.failing.load(Ordering::Relaxed),
            queued: self.tx.len() as u64,
        }
    }
}

/// Owns the writer thread; [`ArchiveWriterHandle::close`] drains and stops it.
/// Dropping the handle closes it the same way.
pub struct ArchiveWriterHandle {
    tx: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

impl ArchiveWriterHandle {
    /// Blocks until every op sent before this call is committed.
    pub fn flush(&self) -> Result<(), ArchiveError> {
        flush(&self.tx)
    }

    /// Commits everything already queued, stops the thread and waits for it.
    /// Ops sent afterwards are refused with [`ArchiveError::Closed`].
    pub fn close(mut self) -> Result<(), ArchiveError> {
        self.stop()
    }

    /// Counters of the writer so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            committed_ops: self.counters.committed_ops.load(Ordering::Relaxed),
            commits: self.counters.commits.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            rejected_ops: self.counters.rejected_ops.load(Ordering::Relaxed),
            queued: self.tx.len() as u64,
        }
    }

    fn stop(&mut self) -> Result<(), ArchiveError> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        // A send error means the thread is already gone; join reports how it ended.
        let _ = self.tx.send(Msg::Close);
        thread.join().map_err(|_| ArchiveError::Closed)
    }
}

impl Drop for ArchiveWriterHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(error = %e, "archive writer ended abnormally");
        }
    }
}

fn flush(tx: &Sender<Msg>) -> Result<(), ArchiveError> {
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    tx.send(Msg::Flush(Waiter::Thread(done_tx)))
        .map_err(|_| ArchiveError::Closed)?;
    done_rx.recv().map_err(|_| ArchiveError::Closed)
}

fn run(mut conn: Connection, rx: Receiver<Msg>, config: WriterConfig, counters: &Counters) {
    let mut batch = Vec::with_capacity(config.max_batch);
    let mut waiters = Vec::new();
    loop {
        // Every sender gone is the same as an explicit close.
        let mut closing = sort(rx.recv().unwrap_or(Msg::Close), &mut batch, &mut waiters);
        while !closing && batch.len() < config.max_batch {
            match rx.try_recv() {
                Ok(msg) => closing = sort(msg, &mut batch, &mut waiters),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            commit_with_retry(&mut conn, &batch, &config, counters);
            batch.clear();
        }
        for done in waiters.drain(..) {
            done.wake();
        }
        if closing {
            break;
        }
    }
    tracing::debug!("archive writer stopped");
}

/// Files a message into the batch or the flush waiters; true when it asks the writer to stop.
fn sort(msg: Msg, batch: &mut Vec<ArchiveOp>, waiters: &mut Vec<Waiter>) -> bool {
    match msg {
        Msg::Op(op) => batch.push(op),
        Msg::Flush(done) => waiters.push(done),
        Msg::Close => return true,
    }
    false
}

/// Commits `batch`, retrying with backoff until it succeeds: dropping it would lose transcripts.
fn commit_with_retry(
    conn: &mut Connection,
    batch: &[ArchiveOp],
    config: &WriterConfig,
    counters: &Counters,
) {
    let mut backoff = config.initial_backoff;
    loop {
        match commit(conn, batch) {
            Ok(rejected) => {
                counters.failing.store(false, Ordering::Relaxed);
                counters.commits.fetch_add(1, Ordering::Relaxed);
                counters
                    .committed_ops
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                counters.rejected_ops.fetch_add(rejected, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                counters.failing.store(true, Ordering::Relaxed);
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, ops = batch.len(), retry_in_ms = backoff.as_millis() as u64,
                    "archive commit failed; keeping the batch and retrying");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(config.max_backoff);
            }
        }
    }
}

/// One transaction over the batch; returns how many ops were moved to `rejected_ops`.
fn commit(conn: &mut Connection, batch: &[ArchiveOp]) -> rusqlite::Result<u64> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut rejected = 0;
    for op in batch {
        // A savepoint per op lets one bad op be set aside without undoing its neighbours.
        let sp = tx.savepoint()?;
        match store::apply(&sp, op) {
            Ok(()) => sp.commit()?,
            Err(e) if is_transient(&e) => return Err(e),
            Err(e) => {
                drop(sp);
                // The op itself holds transcript text: log what kind it was, not its content.
                tracing::error!(error = %e, op = op.kind(), "archive refused an op; kept in rejected_ops");
                store::reject(&tx, op, &e.to_string())?;
                rejected += 1;
            }
        }
    }
    tx.commit()?;
    Ok(rejected)
}

/// Whether an error comes from the environment (and may pass) rather than from the op itself.
fn is_transient(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => !matches!(
            f.code,
            ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch
        ),
        // Conversion and binding errors are the op's own: retrying cannot fix them.
        _ => false,
    }
}
