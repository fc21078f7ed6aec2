//! Archive retention: deletes audio older than `[archive] audio_retention_days` and calls
//! older than `[archive] retention_days` (with their audio), every deletion audited.

use crate::auth::AuditEntry;
use crate::clock::rfc3339;
use crate::sinks::archive::{ArchiveError, ArchiveOp, ArchiveReader, ArchiveSender};
use crate::sinks::audio::AudioArchive;
use std::path::Path;
use time::OffsetDateTime;

/// How long what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Calls (transcripts, hits, scores, audio); 0 keeps them.
    pub days: u32,
    /// Audio; 0 keeps it as long as its call.
    pub audio_days: u32,
}

/// What one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub calls: usize,
    pub audio_files: usize,
    pub audio_bytes: u64,
    /// Refused archive ops (kept for inspection) past the call retention.
    pub rejected_ops: u64,
}

/// Rows handled per batch; each batch is committed before the next is read.
const BATCH: u32 = 500;

/// Deletes what is past `policy` at `now`. `audit` is called once per call touched, with
/// who `retention`, action `audio.purge` or `call.purge`.
pub fn purge_once(
    reader: &ArchiveReader,
    writer: &ArchiveSender,
    audio_root: Option<&Path>,
    policy: Retention,
    now: OffsetDateTime,
    audit: &mut dyn FnMut(AuditEntry),
) -> Result<PurgeReport, ArchiveError> {
    let mut report = PurgeReport::default();
    let cutoff = |days: u32| {
        let t = now - time::Duration::days(days as i64);
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    };
    let entry = |action: &str, call_id: &str, detail: String| AuditEntry {
        who: "retention".into(),
        action: action.into(),
        outcome: "ok".into(),
        call_id: Some(call_id.to_string()),
        detail: Some(detail),
        ..Default::default()
    };
    // Rows handled this run: a write the archive could not apply (spilled to its journal
    // while the disk is full) leaves them in place, and they must not be handled forever.
    let mut seen = std::collections::HashSet::new();
    if let (Some(root), true) = (audio_root, policy.audio_days > 0) {
        loop {
            let rows: Vec<_> = reader
                .audio_started_before(cutoff(policy.audio_days), BATCH)?
                .into_iter()
                .filter(|r| seen.insert((r.call_id.clone(), r.file.clone())))
                .collect();
            if rows.is_empty() {
                break;
            }
            let mut by_call: std::collections::BTreeMap<String, (usize, u64)> = Default::default();
            for row in rows {
                let Some(path) = AudioArchive::resolve(root, &row.file) else {
                    tracing::warn!(call_id = %row.call_id, "audio row with an unexpected file name; left alone");
                    continue;
                };
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(error = %e, file = %path.display(), "audio past retention not deleted; retrying at the next purge");
                        continue;
                    }
                }
                // Under the mixing lock: a mix being made now must not land after this.
                let _one = crate::sinks::audio::mix::lock();
                remove_mix(root, &row.call_id);
                let e = by_call.entry(row.call_id.clone()).or_default();
                e.0 += 1;
                e.1 += bytes;
                writer.send(ArchiveOp::AudioPurged {
                    call_id: row.call_id,
                    file: row.file,
                    purged_at: rfc3339(now),
                })?;
            }
            writer.flush()?;
            if by_call.is_empty() {
                break; // nothing could be deleted: do not spin
            }
            for (call_id, (files, bytes)) in by_call {
                report.audio_files += files;
                report.audio_bytes += bytes;
                audit(entry(
                    "audio.purge",
                    &call_id,
                    format!(
                        "{files} file(s), {bytes} bytes, older than {} days",
                        policy.audio_days
                    ),
                ));
            }
        }
    }
    if policy.days > 0 {
        loop {
            let ids: Vec<String> = reader
                .calls_started_before(cutoff(policy.days), BATCH)?
                .into_iter()
                .filter(|id| seen.insert((id.clone(), String::new())))
                .collect();
            if ids.is_empty() {
                break;
            }
            for id in &ids {
                if let Some(root) = audio_root {
                    let dir = root.join(AudioArchive::call_dir(id));
                    if let Err(e) = std::fs::remove_dir_all(&dir) {
                        if e.kind() != std::io::ErrorKind::NotFound {
                            tracing::warn!(error = %e, dir = %dir.display(), "call audio past retention not deleted");
                        }
                    }
                }
                writer.send(ArchiveOp::CallPurged {
                    call_id: id.clone(),
                })?;
            }
            writer.flush()?;
            for id in ids {
                report.calls += 1;
                audit(entry(
                    "call.purge",
                    &id,
                    format!("older than {} days", policy.days),
                ));
            }
        }
        // UTC, as `rejected_at` is written, so the two compare as text.
        let before = rfc3339(
            (now - time::Duration::days(policy.days as i64)).to_offset(time::UtcOffset::UTC),
        );
        let n = reader.rejected_before(&before)?;
        if n > 0 {
            writer.send(ArchiveOp::RejectedPurged { before })?;
            writer.flush()?;
            report.rejected_ops = n;
            audit(AuditEntry {
                who: "retention".into(),
                action: "rejected.purge".into(),
                outcome: "ok".into(),
                detail: Some(format!(
                    "{n} refused archive op(s) older than {} days",
                    policy.days
                )),
                ..Default::default()
            });
        }
    }
    Ok(report)
}

/// The cached mix is made from leg files; once one of them is gone, so is the mix.
fn remove_mix(root: &Path, call_id: &str) {
    let _ = std::fs::remove_file(root.join(AudioArchive::call_dir(call_id)).join("mix.ogg"));
}
