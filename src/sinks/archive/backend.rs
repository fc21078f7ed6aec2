//! Writing to either archive backend, so callers (and the one test suite run against both)
//! hold either: SQLite ([`ArchiveSender`]) or PostgreSQL ([`PgArchive`]). Reading needs no
//! trait: one [`ArchiveReader`](super::ArchiveReader) reads both.

use super::error::ArchiveError;
use super::postgres::PgArchive;
use super::record::ArchiveOp;
use super::ArchiveSender;

/// Writing ops: every op is idempotent, so a batch may be written again after a failure.
pub trait ArchiveStore: Send + Sync {
    /// Writes `ops` and returns once they are committed (or kept aside as refused).
    fn write(&self, ops: &[ArchiveOp]) -> Result<(), ArchiveError>;
}

impl ArchiveStore for ArchiveSender {
    fn write(&self, ops: &[ArchiveOp]) -> Result<(), ArchiveError> {
        for op in ops {
            self.send(op.clone())?;
        }
        self.flush()
    }
}

impl ArchiveStore for PgArchive {
    fn write(&self, ops: &[ArchiveOp]) -> Result<(), ArchiveError> {
        PgArchive::write(self, ops).map(drop)
    }
}
