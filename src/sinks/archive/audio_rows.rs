//! Archive rows of recorded audio, and the deletions retention makes.

use super::error::ArchiveError;
use super::reader::ArchiveReader;
use super::record::AudioRecord;
use super::rows::{Read, Row};
use super::sql::{args, Db};
use crate::call::Speaker;

pub(crate) fn upsert_audio<D: Db>(db: &mut D, a: &AudioRecord) -> Result<(), D::Error> {
    db.exec(
        "INSERT INTO audio (call_id, leg, speaker, file, started_at, duration_ms, bytes, masked_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(call_id, file) DO UPDATE SET
            duration_ms = coalesce(excluded.duration_ms, audio.duration_ms),
            bytes = coalesce(excluded.bytes, audio.bytes),
            masked_ms = coalesce(excluded.masked_ms, audio.masked_ms)",
        &args![
            a.call_id,
            a.leg,
            a.speaker.as_str(),
            a.file,
            a.started_at,
            a.duration_ms,
            a.bytes,
            a.masked_ms
        ],
    )?;
    Ok(())
}

pub(crate) fn mark_purged<D: Db>(
    db: &mut D,
    call_id: &str,
    file: &str,
    at: &str,
) -> Result<(), D::Error> {
    db.exec(
        "UPDATE audio SET purged_at = ?3 WHERE call_id = ?1 AND file = ?2",
        &args![call_id, file, at],
    )?;
    Ok(())
}

/// Deletes a call and what was archived about it. The audit trail keeps its rows (they
/// name the call, not its content).
pub(crate) fn purge_call<D: Db>(db: &mut D, call_id: &str) -> Result<(), D::Error> {
    for table in [
        "hits",
        "utterances",
        "rule_firings",
        "score_failures",
        "scores",
        "call_tags",
        "call_warnings",
        "audio",
        "hit_reviews",
        "score_overrides",
        "call_reviews",
        "alert_acks",
        "legs",
    ] {
        db.exec(
            &format!("DELETE FROM {table} WHERE call_id = ?1"),
            &args![call_id],
        )?;
    }
    db.exec("DELETE FROM calls WHERE id = ?1", &args![call_id])?;
    Ok(())
}

/// Deletes refused ops kept since before `before` (RFC 3339 UTC, as `rejected_at` is written:
/// the text orders as the time does to the second).
pub(crate) fn purge_rejected<D: Db>(db: &mut D, before: &str) -> Result<(), D::Error> {
    db.exec(
        "DELETE FROM rejected_ops WHERE rejected_at < ?1",
        &args![before],
    )?;
    Ok(())
}

fn row(r: &Row) -> Result<AudioRecord, ArchiveError> {
    let speaker: String = r.get(2)?;
    Ok(AudioRecord {
        call_id: r.get(0)?,
        leg: r.get(1)?,
        speaker: Speaker::parse(&speaker).unwrap_or(Speaker::Unknown),
        file: r.get(3)?,
        started_at: r.get(4)?,
        duration_ms: r.get(5)?,
        bytes: r.get(6)?,
        masked_ms: r.get(7)?,
        purged_at: r.get(8)?,
    })
}

const COLUMNS: &str =
    "call_id, leg, speaker, file, started_at, duration_ms, bytes, masked_ms, purged_at";

/// A call's audio files, oldest first.
pub(crate) fn audio_of(db: &mut dyn Read, call_id: &str) -> Result<Vec<AudioRecord>, ArchiveError> {
    db.all(
        &format!("SELECT {COLUMNS} FROM audio WHERE call_id = ?1 ORDER BY started_at, leg, file"),
        &args![call_id],
        row,
    )
}

impl ArchiveReader {
    /// Audio files not yet purged of calls that started before `before_ms` (Unix ms), at
    /// most `limit`.
    pub fn audio_started_before(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<AudioRecord>, ArchiveError> {
        let sql = format!(
            "SELECT {} FROM audio a JOIN calls c ON c.id = a.call_id
             WHERE a.purged_at IS NULL AND c.started_at_ms < ?1
             ORDER BY c.started_at_ms, a.call_id, a.leg, a.file LIMIT ?2",
            COLUMNS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.with_snapshot(|db| db.all(&sql, &args![before_ms, limit], row))
    }

    /// How many refused ops were kept since before `before` (RFC 3339).
    pub fn rejected_before(&self, before: &str) -> Result<u64, ArchiveError> {
        self.with_snapshot(|db| {
            Ok(db
                .value(
                    "SELECT count(*) FROM rejected_ops WHERE rejected_at < ?1",
                    &args![before],
                )?
                .unwrap_or(0))
        })
    }

    /// Ids of ended calls that started before `before_ms` (Unix ms), oldest first, at most
    /// `limit`.
    pub fn calls_started_before(
        &self,
        before_ms: i64,
        limit: u32,
    ) -> Result<Vec<String>, ArchiveError> {
        self.with_snapshot(|db| {
            db.all(
                "SELECT id FROM calls WHERE started_at_ms < ?1 AND ended_at IS NOT NULL
                 ORDER BY started_at_ms, id LIMIT ?2",
                &args![before_ms, limit],
                |r| r.get(0),
            )
        })
    }
}
