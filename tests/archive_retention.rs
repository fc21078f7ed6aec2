//! Retention: audio past `audio_retention_days` and calls past `retention_days` are deleted
//! (files, rows and the search index), each deletion audited; what is younger is untouched.

mod archive_support;

use archive_support::*;
use callwatch::auth::AuditEntry;
use callwatch::call::Speaker;
use callwatch::pipeline::retention::{purge_once, Retention};
use callwatch::sinks::archive::{
    ArchiveOp, ArchiveReader, ArchiveWriter, AudioRecord, SearchQuery,
};
use callwatch::sinks::audio::AudioArchive;
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A sample call started on `day` of May 2024, with a recording per leg on disk.
fn call_on(id: &str, day: u32, root: &Path) -> Vec<ArchiveOp> {
    let started = format!("2024-05-{day:02}T09:00:00+08:00");
    let mut ops: Vec<ArchiveOp> = sample_call(id, "agent-1", 0)
        .into_iter()
        .map(|op| match op {
            ArchiveOp::CallStarted {
                call_id,
                source,
                agent_id,
                queue,
                metadata,
                ..
            } => ArchiveOp::CallStarted {
                call_id,
                source,
                agent_id,
                queue,
                started_at: started.clone(),
                metadata,
            },
            other => other,
        })
        .collect();
    let archive = AudioArchive::new(root.to_path_buf(), 20_000, 10_000);
    for (leg, speaker) in [("left", Speaker::Agent), ("right", Speaker::Customer)] {
        let (file, mut rec) = archive.record_leg(id, leg).unwrap();
        rec.push(&vec![0.1; 16_000]).unwrap();
        let s = rec.finish().unwrap();
        ops.push(ArchiveOp::Audio(AudioRecord {
            call_id: id.into(),
            leg: leg.into(),
            speaker,
            file: file.to_string_lossy().into(),
            started_at: started.clone(),
            duration_ms: Some(s.duration_ms),
            bytes: Some(s.bytes),
            masked_ms: Some(0),
            purged_at: None,
        }));
    }
    ops
}

fn search(reader: &ArchiveReader, q: &str, call: &str) -> usize {
    reader
        .search(&SearchQuery {
            q: q.into(),
            call_id: Some(call.into()),
            ..Default::default()
        })
        .unwrap()
        .items
        .len()
}

#[test]
fn old_calls_and_audio_go_younger_ones_stay_and_every_deletion_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (db, root) = (dir.path().join("a.db"), dir.path().join("audio"));
    let (tx, _writer) = ArchiveWriter::spawn(&db).unwrap();
    for (id, day) in [("old", 1), ("mid", 3), ("new", 5)] {
        for op in call_on(id, day, &root) {
            tx.send(op).unwrap();
        }
    }
    tx.flush().unwrap();
    let reader = ArchiveReader::open(&db).unwrap();
    assert_eq!(search(&reader, "投诉", "old"), 1);
    let now = OffsetDateTime::parse("2024-05-06T09:30:00+08:00", &Rfc3339).unwrap();
    let policy = Retention {
        days: 4,
        audio_days: 2,
    };
    let mut audited: Vec<AuditEntry> = Vec::new();
    let report = purge_once(&reader, &tx, Some(&root), policy, now, &mut |e| {
        audited.push(e)
    })
    .unwrap();
    assert_eq!((report.calls, report.audio_files), (1, 4), "{report:?}");
    assert!(report.audio_bytes > 0);

    // The old call is gone everywhere: rows, search index, files.
    assert!(reader.get_call("old").unwrap().is_none());
    assert_eq!(search(&reader, "投诉", "old"), 0);
    assert!(!root.join(AudioArchive::call_dir("old")).exists());
    // The middle call keeps its transcript; its audio is gone and marked.
    let mid = reader.get_call("mid").unwrap().unwrap();
    assert_eq!(mid.utterances.len(), 3);
    assert_eq!(search(&reader, "投诉", "mid"), 1);
    assert_eq!(mid.audio.len(), 2);
    for a in &mid.audio {
        assert!(a.purged_at.is_some(), "{a:?}");
        assert!(!root.join(&a.file).exists());
    }
    // The new call is untouched.
    let new = reader.get_call("new").unwrap().unwrap();
    for a in &new.audio {
        assert!(
            a.purged_at.is_none() && root.join(&a.file).is_file(),
            "{a:?}"
        );
    }
    // One audit row per call and kind of deletion, by `retention`.
    let mut got: Vec<(String, String)> = audited
        .iter()
        .map(|e| (e.action.clone(), e.call_id.clone().unwrap()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("audio.purge".to_string(), "mid".to_string()),
            ("audio.purge".into(), "old".into()),
            ("call.purge".into(), "old".into()),
        ]
    );
    assert!(audited
        .iter()
        .all(|e| e.who == "retention" && e.outcome == "ok"));

    // Again: nothing left to do.
    let again = purge_once(&reader, &tx, Some(&root), policy, now, &mut |e| {
        audited.push(e)
    })
    .unwrap();
    assert_eq!(again, Default::default());
    assert_eq!(audited.len(), 3);

    // Zero keeps everything.
    let later = now + time::Duration::days(400);
    let keep = Retention {
        days: 0,
        audio_days: 0,
    };
    let none = purge_once(&reader, &tx, Some(&root), keep, later, &mut |e| {
        audited.push(e)
    })
    .unwrap();
    assert_eq!(none, Default::default());
    assert!(reader.get_call("new").unwrap().is_some());
}

#[test]
fn refused_ops_past_retention_are_purged_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let (tx, _writer) = ArchiveWriter::spawn(&db).unwrap();
    tx.flush().unwrap();
    // Ops SQLite refused are kept with the op's JSON (it may hold a transcript).
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    for at in ["2024-04-01T01:00:00Z", "2024-05-05T01:00:00.5Z"] {
        conn.execute(
            "INSERT INTO rejected_ops (op, error, rejected_at) VALUES ('{\"utterance\":{}}', 'test', ?1)",
            [at],
        )
        .unwrap();
    }
    let reader = ArchiveReader::open(&db).unwrap();
    let now = OffsetDateTime::parse("2024-05-06T09:30:00+08:00", &Rfc3339).unwrap();
    let policy = Retention {
        days: 4,
        audio_days: 2,
    };
    let mut audited: Vec<AuditEntry> = Vec::new();
    let report = purge_once(&reader, &tx, None, policy, now, &mut |e| audited.push(e)).unwrap();
    assert_eq!(report.rejected_ops, 1, "{report:?}");
    let left: Vec<String> = conn
        .prepare("SELECT rejected_at FROM rejected_ops")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(left, ["2024-05-05T01:00:00.5Z"]);
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(
        (audited[0].action.as_str(), audited[0].who.as_str()),
        ("rejected.purge", "retention")
    );
}
