//! The archive of calls, legs, utterances and hits: SQLite by default, PostgreSQL
//! ([`postgres`]) for a cluster.
//!
//! The pipeline sends [`ArchiveOp`]s through an [`ArchiveSender`]; one writer thread
//! commits them. Reviewers and the CLI query it through an [`ArchiveReader`].
pub mod alerts;
mod audio_rows;
pub mod backend;
pub mod call_list;
pub mod error;
pub mod insights;
mod journal;
pub mod postgres;
pub mod query;
pub mod reader;
pub mod record;
pub mod recovery;
pub mod review;
pub mod rows;
pub mod schema;
mod search;
pub mod sound;
mod sound_codes;
pub mod sql;
mod store;
mod target;
pub mod terms;
pub mod writer;

pub use backend::ArchiveStore;
pub use error::ArchiveError;
pub use insights::SurgeFilter;
pub use journal::{journal_path, DEFAULT_RESERVE_BYTES};
pub use postgres::PgArchive;
pub use query::{
    CallDetail, CallFilter, CallScore, CallSummary, LegSummary, Page, SearchHit, SearchQuery,
    DEFAULT_LIMIT, MAX_LIMIT,
};
pub use reader::ArchiveReader;
pub use record::{
    ArchiveOp, AudioRecord, CallWarning, HitRecord, RuleFiringRecord, ScoreRecord, SurgeAck,
    UtteranceRecord,
};
pub(crate) use store::unix_ms;
pub use writer::{
    ArchiveSender, ArchiveWriter, ArchiveWriterHandle, StorageFault, WriterConfig, WriterHealth,
    WriterStats, MAX_QUEUED,
};
