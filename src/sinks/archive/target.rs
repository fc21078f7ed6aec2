//! Where the archive writer commits its batches: the SQLite file or a PostgreSQL archive.
//! The writer's queue, spill journal, backoff and health are the same for both; only a
//! transaction and the classification of its failures differ.

use super::record::ArchiveOp;
use super::sql::Sqlite;
use super::store;
use super::writer::StorageFault;
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

/// A failed commit: what happened, and the storage fault behind it (`None` when it passes
/// by itself, like a busy lock or a serialization conflict).
#[derive(Debug)]
pub struct CommitError {
    pub message: String,
    pub fault: Option<StorageFault>,
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A database the writer thread commits to.
pub trait Target: Send + 'static {
    /// One transaction over the batch; returns how many ops were refused for good and kept
    /// in `rejected_ops`. `replayed`: the batch comes from a spill journal, up to this line,
    /// recorded in the same transaction.
    fn commit(
        &mut self,
        batch: &[ArchiveOp],
        replayed: Option<(&str, u64)>,
    ) -> Result<u64, CommitError>;
    /// The last line of `journal` already replayed (0: none).
    fn replayed(&mut self, journal: &str) -> Result<u64, CommitError>;
    /// Forgets a journal that was replayed whole and removed.
    fn forget(&mut self, journal: &str);
}

/// The SQLite archive file's write connection.
pub struct SqliteTarget(pub Connection);

impl From<rusqlite::Error> for CommitError {
    fn from(e: rusqlite::Error) -> CommitError {
        CommitError {
            fault: StorageFault::of(&e),
            message: e.to_string(),
        }
    }
}

impl Target for SqliteTarget {
    fn commit(
        &mut self,
        batch: &[ArchiveOp],
        replayed: Option<(&str, u64)>,
    ) -> Result<u64, CommitError> {
        let mut tx = self
            .0
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut rejected = 0;
        for op in batch {
            // A savepoint per op lets one bad op be set aside without undoing its neighbours.
            let sp = tx.savepoint()?;
            match store::apply(&mut Sqlite(&sp), op) {
                Ok(()) => sp.commit()?,
                Err(e) if is_transient(&e) => return Err(e.into()),
                Err(e) => {
                    drop(sp);
                    // The op itself holds transcript text: log what kind it was, not its content.
                    tracing::error!(error = %e, op = op.kind(), "archive refused an op; kept in rejected_ops");
                    store::reject(&mut Sqlite(&tx), op, &e.to_string())?;
                    rejected += 1;
                }
            }
        }
        if let Some((journal, line)) = replayed {
            tx.execute(
                "INSERT INTO journal_replay (journal, line) VALUES (?1, ?2)
                 ON CONFLICT (journal) DO UPDATE SET line = excluded.line",
                rusqlite::params![journal, line as i64],
            )?;
        }
        tx.commit()?;
        Ok(rejected)
    }

    fn replayed(&mut self, journal: &str) -> Result<u64, CommitError> {
        match self.0.query_row(
            "SELECT line FROM journal_replay WHERE journal = ?1",
            [journal],
            |r| r.get::<_, i64>(0),
        ) {
            Ok(line) => Ok(line.max(0) as u64),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    fn forget(&mut self, journal: &str) {
        let _ = self
            .0
            .execute("DELETE FROM journal_replay WHERE journal = ?1", [journal]);
    }
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
