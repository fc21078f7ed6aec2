//! What every archive backend does, so callers (and the one test suite run against both) hold
//! either: SQLite ([`ArchiveReader`] and [`ArchiveSender`]) or PostgreSQL ([`PgArchive`]).

use super::error::ArchiveError;
use super::postgres::PgArchive;
use super::query::{Page, SearchHit, SearchQuery};
use super::record::ArchiveOp;
use super::{ArchiveReader, ArchiveSender};

/// Writing ops: every op is idempotent, so a batch may be written again after a failure.
pub trait ArchiveStore: Send + Sync {
    /// Writes `ops` and returns once they are committed (or kept aside as refused).
    fn write(&self, ops: &[ArchiveOp]) -> Result<(), ArchiveError>;
}

/// Reading transcripts back.
pub trait ArchiveSearch: Send + Sync {
    /// Utterances matching every term of `query.q` in `query.mode`, best rank first, then
    /// most recently archived first.
    fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>, ArchiveError>;
    /// Whether a call with this id is archived as ended.
    fn call_ended(&self, id: &str) -> Result<bool, ArchiveError>;
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

impl ArchiveSearch for ArchiveReader {
    fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>, ArchiveError> {
        ArchiveReader::search(self, query)
    }
    fn call_ended(&self, id: &str) -> Result<bool, ArchiveError> {
        ArchiveReader::call_ended(self, id)
    }
}

impl ArchiveSearch for PgArchive {
    fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>, ArchiveError> {
        PgArchive::search(self, query)
    }
    fn call_ended(&self, id: &str) -> Result<bool, ArchiveError> {
        PgArchive::call_ended(self, id)
    }
}
