//! The archive writer: one thread owns the write connection and drains an unbounded
//! channel of [`ArchiveOp`]s, so the audio path never waits on SQLite.
//!
//! Ops are committed in batches. A failure of the environment rolls the batch back and
//! retries it with backoff, keeping every op; an op SQLite refuses for good is moved to
//! `rejected_ops` so it neither blocks the queue nor disappears. Failures are classified: a
//! busy lock is waited out quietly, while disk full, read-only, corrupt and I/O errors put
//! the writer in a degraded state (readiness false, logged once with what to do) until a
//! commit goes through again. While degraded, ops go to the spill journal beside the
//! database (see [`super::journal`]) and count as kept once it is synced; the journal is
//! replayed, in order and exactly once, when the database takes writes again or at the next
//! start. The queue is bounded ([`MAX_QUEUED`]): when not even the journal can be written,
//! senders wait for room rather than memory growing without end.

use super::error::ArchiveError;
use super::journal::Journal;
use super::postgres::{PgArchive, PgTarget};
use super::record::ArchiveOp;
use super::schema;
use super::target::{CommitError, SqliteTarget, Target};
use crossbeam_channel::{Receiver, Sender};
use rusqlite::ErrorCode;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Ops waiting for the writer at most; past it [`ArchiveSender::send`] waits for room.
/// About 50 MB of transcripts, hits and rule firings: minutes of a busy centre's traffic.
pub const MAX_QUEUED: usize = 50_000;

/// Why the archive cannot be written; the operator has to act on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageFault {
    /// The filesystem (or SQLite's page limit) is full: free space in the data dir.
    DiskFull,
    /// The file or filesystem is read-only: check permissions and mounts.
    ReadOnly,
    /// The database file is damaged: restore it from a backup or move it aside.
    Corrupt,
    /// The disk reported an I/O error: check the device.
    Io,
    /// The PostgreSQL archive cannot be reached or refuses writes: check the server, the
    /// network and `[archive] url`.
    Unreachable,
}

impl StorageFault {
    const ALL: [StorageFault; 5] = [
        StorageFault::DiskFull,
        StorageFault::ReadOnly,
        StorageFault::Corrupt,
        StorageFault::Io,
        StorageFault::Unreachable,
    ];

    /// What to do about it, for the log and `/readyz`.
    pub fn advice(self) -> &'static str {
        match self {
            StorageFault::DiskFull => {
                "the disk holding the archive is full; free space in the data dir"
            }
            StorageFault::ReadOnly => {
                "the archive is read-only; check the file's permissions and the mount"
            }
            StorageFault::Corrupt => {
                "the archive file is damaged; stop the service and restore or move it aside"
            }
            StorageFault::Io => "the disk reported an I/O error; check the device",
            StorageFault::Unreachable => {
                "the PostgreSQL archive cannot be reached or refuses writes (see the error in the log); check the server, the network and [archive] url"
            }
        }
    }

    /// The fault behind a failed commit; `None` for what passes by itself (a busy lock).
    pub fn of(e: &rusqlite::Error) -> Option<StorageFault> {
        let rusqlite::Error::SqliteFailure(f, _) = e else {
            return None;
        };
        match f.code {
            ErrorCode::DiskFull => Some(StorageFault::DiskFull),
            ErrorCode::ReadOnly => Some(StorageFault::ReadOnly),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => Some(StorageFault::Corrupt),
            ErrorCode::SystemIoFailure | ErrorCode::CannotOpen => Some(StorageFault::Io),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(c: u8) -> Option<StorageFault> {
        StorageFault::ALL
            .get(usize::from(c).checked_sub(1)?)
            .copied()
    }
}

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
    /// Ops waiting for the writer at most ([`MAX_QUEUED`]); senders wait for room past it.
    pub max_queued: usize,
    /// A hard cap on the database file, in pages (SQLite `max_page_count`); past it commits
    /// fail as with a full disk. `None`: no cap but the disk's.
    pub max_pages: Option<u64>,
    /// Bytes kept free beside the database for the spill journal, so a full disk still
    /// leaves it room ([`super::DEFAULT_RESERVE_BYTES`]); 0 keeps none.
    pub journal_reserve_bytes: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            busy_timeout: Duration::from_secs(5),
            max_batch: 512,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            max_queued: MAX_QUEUED,
            max_pages: None,
            journal_reserve_bytes: super::journal::DEFAULT_RESERVE_BYTES,
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
    /// Ops in the spill journal, waiting for the database.
    pub journaled: u64,
}

/// Whether the writer can keep what it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WriterHealth {
    /// The writer thread runs.
    pub alive: bool,
    /// The last commit failed and the writer is retrying it.
    pub failing: bool,
    /// The storage fault behind the failures, when it is one (not a busy lock).
    pub degraded: Option<StorageFault>,
    /// What to do about `degraded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<&'static str>,
    /// Ops and barriers waiting in the channel (at most [`MAX_QUEUED`]).
    pub queued: u64,
    /// Ops kept in the spill journal, waiting for the database.
    pub journaled: u64,
}

#[derive(Default)]
struct Counters {
    committed_ops: AtomicU64,
    commits: AtomicU64,
    retries: AtomicU64,
    rejected_ops: AtomicU64,
    alive: AtomicBool,
    failing: AtomicBool,
    /// [`StorageFault::code`] of the current fault, 0 when none.
    degraded: AtomicU8,
    /// Op lines in the spill journal not yet replayed.
    journaled: AtomicU64,
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
        if let Some(pages) = config.max_pages {
            conn.pragma_update(None, "max_page_count", pages)
                .map_err(|source| ArchiveError::Open {
                    path: path.as_ref().to_path_buf(),
                    source,
                })?;
        }
        let target = Box::new(SqliteTarget(conn));
        Self::start(target, path.as_ref(), config)
    }

    /// Starts a writer thread committing to the PostgreSQL archive `archive`. Its spill
    /// journal, which keeps ops while PostgreSQL cannot be reached, lies at `journal_at`
    /// (a path in this node's data dir; the journal takes its name from it).
    pub fn spawn_postgres(
        archive: Arc<PgArchive>,
        journal_at: &Path,
        config: WriterConfig,
    ) -> Result<(ArchiveSender, ArchiveWriterHandle), ArchiveError> {
        Self::start(Box::new(PgTarget(archive)), journal_at, config)
    }

    fn start(
        target: Box<dyn Target>,
        journal_at: &Path,
        config: WriterConfig,
    ) -> Result<(ArchiveSender, ArchiveWriterHandle), ArchiveError> {
        let journal = Journal::open(journal_at, config.journal_reserve_bytes).map_err(|e| {
            ArchiveError::Journal {
                path: super::journal_path(journal_at),
                source: e,
            }
        })?;
        let (tx, rx) = crossbeam_channel::bounded(config.max_queued.max(1));
        let counters = Arc::new(Counters::default());
        counters.alive.store(true, Ordering::Relaxed);
        counters.journaled.store(journal.lines(), Ordering::Relaxed);
        let mut writer = Writer {
            target,
            journal,
            config: config.clone(),
            counters: counters.clone(),
            last_drain: Instant::now(),
            drain_batch: config.max_batch,
        };
        // What a previous run left in the journal goes in before anything new, and before
        // the caller looks for calls a crash left open.
        if writer.journal.pending() {
            tracing::warn!(
                ops = writer.journal.lines(),
                "replaying the archive's spill journal from the previous run"
            );
            writer.drain();
        }
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("archive-writer".into())
            .spawn(move || {
                let _alive = AliveGuard(&thread_counters);
                writer.run(rx)
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

/// Sends ops to the writer. Cheap to clone; `send` waits only when [`MAX_QUEUED`] ops are
/// already waiting (the archive cannot keep up or cannot write).
#[derive(Clone)]
pub struct ArchiveSender {
    tx: Sender<Msg>,
    counters: Arc<Counters>,
}

impl ArchiveSender {
    /// Queues `op` for writing; fails only once the writer has stopped. With the queue full
    /// it waits for room; on a multi-threaded runtime the worker hands its other tasks over
    /// first, so HTTP and the other legs keep running while this one waits.
    pub fn send(&self, op: ArchiveOp) -> Result<(), ArchiveError> {
        let op = match self.tx.try_send(Msg::Op(op)) {
            Ok(()) => return Ok(()),
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                return Err(ArchiveError::Closed)
            }
            Err(crossbeam_channel::TrySendError::Full(op)) => op,
        };
        let send = || self.tx.send(op).map_err(|_| ArchiveError::Closed);
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(send)
            }
            _ => send(),
        }
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
        let degraded = StorageFault::from_code(self.counters.degraded.load(Ordering::Relaxed));
        WriterHealth {
            alive: self.counters.alive.load(Ordering::Relaxed),
            failing: self.counters.failing.load(Ordering::Relaxed),
            degraded,
            advice: degraded.map(StorageFault::advice),
            queued: self.tx.len() as u64,
            journaled: self.counters.journaled.load(Ordering::Relaxed),
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
            journaled: self.counters.journaled.load(Ordering::Relaxed),
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

/// The writer thread's state: the connection, the journal and the counters it reports.
struct Writer {
    target: Box<dyn Target>,
    journal: Journal,
    config: WriterConfig,
    counters: Arc<Counters>,
    /// When the journal was last tried against the database.
    last_drain: Instant,
    /// Ops per replay transaction: halved after a failure (a nearly full disk may take one
    /// op where it cannot take a batch), doubled back after each success.
    drain_batch: usize,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        let mut batch = Vec::with_capacity(self.config.max_batch);
        let mut waiters = Vec::new();
        loop {
            // Every sender gone is the same as an explicit close. With ops in the journal,
            // wake now and then to try the database again even when nothing new arrives.
            let first = if self.journal.pending() {
                match rx.recv_timeout(self.config.max_backoff) {
                    Ok(msg) => msg,
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        self.drain();
                        continue;
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Msg::Close,
                }
            } else {
                rx.recv().unwrap_or(Msg::Close)
            };
            let mut closing = sort(first, &mut batch, &mut waiters);
            while !closing && batch.len() < self.config.max_batch {
                match rx.try_recv() {
                    Ok(msg) => closing = sort(msg, &mut batch, &mut waiters),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.keep(&batch);
                batch.clear();
            }
            // A steady stream of ops must not keep the journal from being tried.
            if self.journal.pending() && self.last_drain.elapsed() >= self.config.max_backoff {
                self.drain();
            }
            for done in waiters.drain(..) {
                done.wake();
            }
            if closing {
                break;
            }
        }
        if self.journal.pending() {
            self.drain();
        }
        if self.journal.pending() {
            tracing::warn!(
                ops = self.journal.lines(),
                "archive writer stopped with ops in the spill journal; they are replayed at the next start"
            );
        }
        tracing::debug!("archive writer stopped");
    }

    /// Keeps `batch`: in the database, or in the journal while the database cannot take it.
    /// Returns only once the batch is kept one way or the other: dropping it would lose
    /// transcripts, so with neither writable it retries with backoff (and the queue fills).
    fn keep(&mut self, batch: &[ArchiveOp]) {
        let mut backoff = self.config.initial_backoff;
        let mut failures: u64 = 0;
        loop {
            // Behind ops already journaled, new ones join the journal: order is kept.
            if !self.journal.pending() {
                let t0 = std::time::Instant::now();
                match self.target.commit(batch, None) {
                    Ok(rejected) => {
                        crate::metrics::metrics()
                            .archive_commit
                            .observe(t0.elapsed().as_secs_f64());
                        self.committed(batch.len(), rejected);
                        return;
                    }
                    Err(e) => {
                        failures += 1;
                        match self.failed(&e, batch.len()) {
                            // A busy lock passes by itself; say so now and then.
                            None if failures.is_power_of_two() => {
                                tracing::warn!(error = %e, ops = batch.len(), retry_in_ms = backoff.as_millis() as u64,
                                    "archive commit failed; keeping the batch and retrying");
                            }
                            None => {}
                            Some(_) if self.spill(batch) => return,
                            Some(_) => {}
                        }
                    }
                }
            } else if self.spill(batch) {
                return;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(self.config.max_backoff);
            if self.journal.pending() {
                self.drain();
            }
        }
    }

    /// Appends `batch` to the journal; false when the journal cannot be written either.
    fn spill(&mut self, batch: &[ArchiveOp]) -> bool {
        let first = !self.journal.pending();
        match self.journal.append(batch) {
            Ok(()) => {
                if first {
                    tracing::warn!(
                        ops = batch.len(),
                        "archive ops go to the spill journal until the database takes writes again"
                    );
                }
                self.counters
                    .journaled
                    .store(self.journal.lines(), Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, ops = batch.len(),
                    "the archive's spill journal cannot be written either; holding the ops in memory and retrying (senders wait once the queue is full)");
                false
            }
        }
    }

    /// Replays the journal into the database, in batches each recorded with how far it
    /// got; stops at the first failure, keeping the rest for the next try.
    fn drain(&mut self) {
        self.last_drain = Instant::now();
        let Some(id) = self.journal.id().map(str::to_string) else {
            return;
        };
        let mut done = match self.target.replayed(&id) {
            Ok(line) => line,
            Err(e) => {
                self.failed(&e, 0);
                return;
            }
        };
        loop {
            let (entries, report) = match self.journal.read(done, self.drain_batch) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the archive's spill journal; retrying");
                    return;
                }
            };
            if report.unreadable > 0 {
                // Cut short by a crash while it was written: it never counted as kept.
                tracing::warn!(
                    lines = report.unreadable,
                    "skipped unreadable lines of the spill journal"
                );
            }
            let Some(&(last, _)) = entries.last() else {
                break;
            };
            let ops: Vec<ArchiveOp> = entries.into_iter().map(|(_, op)| op).collect();
            match self.target.commit(&ops, Some((&id, last))) {
                Ok(rejected) => {
                    self.committed(ops.len(), rejected);
                    self.drain_batch = (self.drain_batch * 2).min(self.config.max_batch.max(1));
                    done = last;
                    // Zero is only reported once the file is gone (below): until then a reader
                    // of the health would see an empty journal that still exists on disk.
                    let left = self.journal.lines().saturating_sub(done).max(1);
                    self.counters.journaled.store(left, Ordering::Relaxed);
                }
                Err(e) => {
                    self.failed(&e, ops.len());
                    self.drain_batch = (self.drain_batch / 2).max(1);
                    return;
                }
            }
        }
        if let Err(e) = self.journal.remove() {
            tracing::error!(error = %e, "cannot remove the replayed spill journal; retrying");
            return;
        }
        self.target.forget(&id);
        self.counters.journaled.store(0, Ordering::Relaxed);
        tracing::info!(ops = done, "spill journal replayed into the archive");
    }

    fn committed(&self, ops: usize, rejected: u64) {
        let c = &self.counters;
        if let Some(fault) = StorageFault::from_code(c.degraded.swap(0, Ordering::Relaxed)) {
            tracing::info!(?fault, ops, "archive writes go through again");
        }
        c.failing.store(false, Ordering::Relaxed);
        c.commits.fetch_add(1, Ordering::Relaxed);
        c.committed_ops.fetch_add(ops as u64, Ordering::Relaxed);
        c.rejected_ops.fetch_add(rejected, Ordering::Relaxed);
    }

    /// Records a failed commit; returns its storage fault (`None` for a busy lock).
    fn failed(&self, e: &CommitError, ops: usize) -> Option<StorageFault> {
        let c = &self.counters;
        c.failing.store(true, Ordering::Relaxed);
        c.retries.fetch_add(1, Ordering::Relaxed);
        let fault = e.fault?;
        let before = c.degraded.swap(fault.code(), Ordering::Relaxed);
        if before != fault.code() {
            tracing::error!(error = %e, ?fault, ops,
                "archive degraded: {}; keeping what arrives in the spill journal and retrying", fault.advice());
        }
        Some(fault)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn failures_are_told_apart() {
        use rusqlite::ffi;
        for (code, fault) in [
            (ffi::SQLITE_FULL, Some(StorageFault::DiskFull)),
            (ffi::SQLITE_READONLY, Some(StorageFault::ReadOnly)),
            (ffi::SQLITE_CORRUPT, Some(StorageFault::Corrupt)),
            (ffi::SQLITE_NOTADB, Some(StorageFault::Corrupt)),
            (ffi::SQLITE_IOERR, Some(StorageFault::Io)),
            (ffi::SQLITE_BUSY, None),
            (ffi::SQLITE_LOCKED, None),
        ] {
            assert_eq!(StorageFault::of(&failure(code)), fault, "code {code}");
        }
        for f in StorageFault::ALL {
            assert_eq!(StorageFault::from_code(f.code()), Some(f));
        }
        assert_eq!(StorageFault::from_code(0), None);
    }
}
