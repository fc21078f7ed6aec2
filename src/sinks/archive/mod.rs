//! SQLite archive of calls, legs, utterances and hits.
pub mod record;
pub use record::{ArchiveOp, HitRecord, UtteranceRecord};
