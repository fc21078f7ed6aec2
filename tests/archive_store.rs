//! Writer behaviour: round trip, out-of-order ops, idempotence, refused ops, lock retry, crash safety.

mod archive_support;

use archive_support::*;
use callwatch::call::Speaker;
use callwatch::sinks::archive::{
    ArchiveError, ArchiveOp, ArchiveReader, ArchiveWriter, CallFilter, WriterConfig,
};
use callwatch::transforms::matcher::MatchMode;
use rusqlite::Connection;
use std::path::Path;
use std::time::{Duration, Instant};

fn count(path: &Path, table: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn round_trip_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.db");
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    let ops = sample_call("c1", "agent-7", 0);
    for op in ops.clone() {
        tx.send(op).unwrap();
    }
    tx.flush().unwrap();

    let reader = ArchiveReader::open(&path).unwrap();
    let detail = reader.get_call("c1").unwrap().expect("call archived");
    let call = &detail.call;
    assert_eq!(call.source, "audio_fork");
    assert_eq!(call.agent_id.as_deref(), Some("agent-7"));
    assert_eq!(call.queue.as_deref(), Some("cards"));
    assert_eq!(call.started_at, at(0));
    assert_eq!(call.ended_at.as_deref(), Some(at(1).as_str()));
    assert_eq!(call.end_reason.as_deref(), Some("hangup"));
    assert_eq!(call.duration_ms, Some(60_000));
    assert_eq!(call.metadata["ani"], "+8613800000000");
    let legs: Vec<_> = call
        .legs
        .iter()
        .map(|l| (l.leg.as_str(), l.speaker))
        .collect();
    assert_eq!(
        legs,
        [("left", Speaker::Agent), ("right", Speaker::Customer)]
    );
    assert_eq!(call.utterance_count, 3);
    assert_eq!(call.hit_count, 3);
    assert_eq!(call.hits_by_category["guarantee"], 2);
    assert_eq!(call.hits_by_category["complaint"], 1);

    let sent_utterances: Vec<_> = ops
        .iter()
        .filter_map(|op| match op {
            ArchiveOp::Utterance(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    // Ordered by leg, then start: left 1000, left 8000, right 4000.
    let want = vec![
        sent_utterances[0].clone(),
        sent_utterances[2].clone(),
        sent_utterances[1].clone(),
    ];
    assert_eq!(detail.utterances, want);
    let sent_hits: Vec<_> = ops
        .iter()
        .filter_map(|op| match op {
            ArchiveOp::Hit(h) => Some(h.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(detail.hits, sent_hits);
    let modes: Vec<MatchMode> = detail.hits.iter().map(|h| h.how).collect();
    assert_eq!(
        modes,
        [MatchMode::Homophone, MatchMode::Exact, MatchMode::Exact],
        "how each hit matched is archived"
    );
    assert_eq!(reader.get_call("nope").unwrap(), None);
    handle.close().unwrap();
    assert!(matches!(
        tx.send(call_ended("c1", 2, 1)),
        Err(ArchiveError::Closed)
    ));
    assert!(matches!(tx.flush(), Err(ArchiveError::Closed)));
}

#[test]
fn utterances_and_hits_before_call_started_are_kept_and_the_start_fills_in_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.db");
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    let u = utterance("u1", "late", "in", Speaker::Customer, 0, "我要投诉", 5);
    tx.send(ArchiveOp::Hit(hit("h1", &u, "投诉", "complaint")))
        .unwrap();
    tx.send(ArchiveOp::Utterance(u)).unwrap();
    tx.flush().unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    let d = reader.get_call("late").unwrap().unwrap();
    assert_eq!(d.call.source, "");
    assert_eq!(d.utterances.len(), 1);
    assert_eq!(d.hits.len(), 1);
    assert_eq!(d.call.legs[0].speaker, Speaker::Customer);

    tx.send(call_started("late", "agent-1", 3)).unwrap();
    tx.send(leg("late", "in", Speaker::Customer, "sip:bob", 3))
        .unwrap();
    tx.flush().unwrap();
    let d = reader.get_call("late").unwrap().unwrap();
    assert_eq!(d.call.source, "audio_fork");
    assert_eq!(d.call.started_at, at(3));
    assert_eq!(d.call.legs[0].participant.as_deref(), Some("sip:bob"));
    assert_eq!(d.utterances.len(), 1);
    handle.close().unwrap();
}

#[test]
fn replayed_ops_do_not_duplicate_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.db");
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    for _ in 0..3 {
        for op in sample_call("c1", "a", 0) {
            tx.send(op).unwrap();
        }
    }
    handle.close().unwrap();
    assert_eq!(count(&path, "calls"), 1);
    assert_eq!(count(&path, "legs"), 2);
    assert_eq!(count(&path, "utterances"), 3);
    assert_eq!(count(&path, "hits"), 3);
    // The FTS index must not hold ghosts of ignored inserts either.
    let reader = ArchiveReader::open(&path).unwrap();
    let page = reader
        .search(&callwatch::sinks::archive::SearchQuery {
            q: "保本保息".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

#[test]
fn an_op_sqlite_refuses_is_kept_aside_and_its_neighbours_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.db");
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    // u64::MAX does not fit SQLite's signed 64-bit integers: refused on every attempt.
    let mut bad = utterance("bad", "c1", "left", Speaker::Agent, 0, "x", 0);
    bad.start_ms = u64::MAX;
    tx.send(call_started("c1", "a", 0)).unwrap();
    tx.send(ArchiveOp::Utterance(bad)).unwrap();
    tx.send(ArchiveOp::Utterance(utterance(
        "good",
        "c1",
        "left",
        Speaker::Agent,
        0,
        "fine",
        0,
    )))
    .unwrap();
    tx.flush().unwrap();
    let stats = handle.stats();
    assert_eq!(stats.rejected_ops, 1);
    assert_eq!(stats.committed_ops, 3);
    handle.close().unwrap();
    assert_eq!(count(&path, "utterances"), 1);
    let (op, error): (String, String) = Connection::open(&path)
        .unwrap()
        .query_row("SELECT op, error FROM rejected_ops", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(op.contains("\"id\":\"bad\""), "{op}");
    assert!(!error.is_empty());
}

#[test]
fn writer_waits_out_an_exclusive_lock_and_then_stores_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.db");
    let config = WriterConfig {
        busy_timeout: Duration::from_millis(20),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..Default::default()
    };
    let (tx, handle) = ArchiveWriter::spawn_with(&path, config).unwrap();
    tx.send(call_started("before", "a", 0)).unwrap();
    tx.flush().unwrap();

    let locker = Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let t0 = Instant::now();
    for i in 0..20 {
        for op in sample_call(&format!("c{i}"), "a", i + 1) {
            tx.send(op).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(800));
    let during = handle.stats();
    assert!(
        during.retries >= 3,
        "writer should have retried, stats {during:?}"
    );
    assert_eq!(
        during.committed_ops, 1,
        "nothing can commit while the lock is held"
    );
    locker.execute_batch("COMMIT").unwrap();
    tx.flush().unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(800));
    let after = handle.stats();
    assert_eq!(after.committed_ops, 1 + 20 * 10);
    assert_eq!(after.rejected_ops, 0);
    handle.close().unwrap();

    let reader = ArchiveReader::open(&path).unwrap();
    let page = reader
        .list_calls(&CallFilter {
            limit: Some(500),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 21);
    assert!(page
        .items
        .iter()
        .filter(|c| c.id != "before")
        .all(|c| c.utterance_count == 3 && c.hit_count == 3));
}

/// Child half of the crash test: writes, flushes, then aborts without closing anything.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var("CALLWATCH_ARCHIVE_CRASH_PATH") else {
        return;
    };
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    for op in sample_call("crashed", "a", 0) {
        tx.send(op).unwrap();
    }
    tx.flush().unwrap();
    // Keep the writer busy with more work at the moment of the crash.
    for i in 0..200 {
        tx.send(call_started(&format!("after-{i}"), "a", 1))
            .unwrap();
    }
    std::mem::forget(handle);
    std::process::abort();
}

#[test]
fn rows_flushed_before_a_crash_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.db");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("CALLWATCH_ARCHIVE_CRASH_PATH", &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have aborted");
    // The WAL is still there, uncheckpointed: reopening must recover it.
    assert!(path.with_extension("db-wal").exists());
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    tx.send(call_started("next", "a", 2)).unwrap();
    handle.close().unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    let d = reader
        .get_call("crashed")
        .unwrap()
        .expect("flushed call survives");
    assert_eq!(d.utterances.len(), 3);
    assert_eq!(d.hits.len(), 3);
    assert!(reader.get_call("next").unwrap().is_some());
}
