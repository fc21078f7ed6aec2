//! Calls a crash left open. A process killed mid-call never writes `ended_at`; at the next
//! start those calls are closed as `interrupted` at the last moment the archive knows of them
//! (their last utterance, else their start), so lists, durations and retention treat them
//! like any other call.

use super::error::ArchiveError;
use super::schema;
use rusqlite::params;
use std::path::Path;
use std::time::Duration;

/// The end reason written for a call a crash cut off.
pub const INTERRUPTED: &str = crate::call::EndReason::Interrupted.as_str();

/// Closes every call of the archive at `path` that has no end; returns their ids.
/// Run it once at start-up, before live calls are taken: a call still streaming into another
/// process on the same archive would be closed too.
pub fn close_interrupted(path: &Path) -> Result<Vec<String>, ArchiveError> {
    let mut conn = schema::open_writer(path, Duration::from_secs(5))?;
    let tx = conn.transaction()?;
    let open: Vec<(String, i64, i64)> = tx
        .prepare(
            "SELECT id, started_at_ms,
                    max(started_at_ms,
                        COALESCE((SELECT max(end_ms) FROM utterances u WHERE u.call_id = calls.id), 0)
                            + started_at_ms,
                        COALESCE((SELECT max(created_at_ms) FROM utterances u WHERE u.call_id = calls.id), 0))
             FROM calls WHERE ended_at IS NULL",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, started_ms, last_ms) in &open {
        let ended = time::OffsetDateTime::from_unix_timestamp_nanos(*last_ms as i128 * 1_000_000)
            .map(crate::clock::rfc3339)
            .unwrap_or_default();
        tx.execute(
            "UPDATE calls SET ended_at = ?2, end_reason = ?3, duration_ms = ?4
             WHERE id = ?1 AND ended_at IS NULL",
            params![id, ended, INTERRUPTED, (last_ms - started_ms).max(0)],
        )?;
    }
    tx.commit()?;
    Ok(open.into_iter().map(|(id, _, _)| id).collect())
}
