//! The archive writer under a full disk: the failure is classified (readiness says why and
//! what to do), what arrives goes to the spill journal (kept once synced, so the queue stays
//! drained), the journal is replayed in order and exactly once when space returns or at the
//! next start, and when not even the journal can be written memory stays bounded (senders
//! wait past the queue's bound).

mod archive_support;

use archive_support::*;
use callwatch::call::Speaker;
use callwatch::sinks::archive::{
    journal_path, ArchiveOp, ArchiveSender, ArchiveWriter, ArchiveWriterHandle, StorageFault,
    WriterConfig,
};
use rusqlite::Connection;
use std::time::{Duration, Instant};

/// Text that fills pages fast (the trigram index multiplies it).
fn bulky(i: usize) -> String {
    (0..600)
        .map(|k| char::from_u32(0x4e00 + ((i * 7919 + k * 104729) % 20000) as u32).unwrap())
        .collect()
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Another process's connection, waiting out the writer's locks.
fn open(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

/// Makes deleted rows' pages reusable: the full-text index keeps deletions as tombstones
/// until its segments are merged.
fn free_pages(c: &Connection) {
    // Both full-text indexes keep deleted rows' entries until merged.
    c.execute_batch(
        "INSERT INTO utterances_fts(utterances_fts) VALUES('optimize');
         INSERT INTO utterances_sound(utterances_sound) VALUES('optimize');",
    )
    .unwrap();
}

fn send_utterance(tx: &ArchiveSender, i: usize) {
    let u = utterance(
        &format!("u{i}"),
        "filler",
        "left",
        Speaker::Customer,
        i as u64 * 2000,
        &bulky(i),
        1,
    );
    tx.send(ArchiveOp::Utterance(u)).unwrap();
}

/// A writer on a fresh archive capped a little above its empty size, so the "disk" fills
/// up after a few utterances; returns it with the page count of the empty archive.
fn capped(path: &std::path::Path, max_queued: usize) -> (ArchiveSender, ArchiveWriterHandle) {
    ArchiveWriter::spawn(path).unwrap().1.close().unwrap();
    let base: u64 = Connection::open(path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let config = WriterConfig {
        // Room for a dozen of the bulky utterances: each carries its text, its sound key and
        // both full-text indexes.
        max_pages: Some(base + 200),
        max_queued,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        journal_reserve_bytes: 0,
        ..WriterConfig::default()
    };
    ArchiveWriter::spawn_with(path, config).unwrap()
}

/// Sends utterances one at a time until a commit fails; returns how many were sent.
fn fill(tx: &ArchiveSender) -> usize {
    tx.send(call_started("filler", "a", 1)).unwrap();
    let mut sent = 0;
    loop {
        send_utterance(tx, sent);
        sent += 1;
        assert!(sent < 2000, "the page cap never filled");
        let settled = wait_until(Duration::from_secs(10), || {
            let h = tx.health();
            h.degraded.is_some() || h.queued == 0
        });
        assert!(settled, "{:?}", tx.health());
        if tx.health().degraded.is_some() {
            return sent;
        }
    }
}

/// Frees room by deleting the oldest utterances from another connection.
fn free(path: &std::path::Path, rows: usize) {
    let c = open(path);
    c.execute(
        "DELETE FROM utterances WHERE id IN (SELECT id FROM utterances ORDER BY seq LIMIT ?1)",
        [rows as i64],
    )
    .unwrap();
    free_pages(&c);
}

fn utterance_ids(path: &std::path::Path) -> Vec<String> {
    let c = open(path);
    let mut s = c.prepare("SELECT id FROM utterances ORDER BY seq").unwrap();
    let ids = s
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap();
    ids
}

#[test]
fn a_full_disk_sends_ops_to_the_journal_and_they_come_back_in_order_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let (tx, writer) = capped(&path, 8);
    let sent = fill(&tx);
    let full = tx.health();
    assert_eq!(full.degraded, Some(StorageFault::DiskFull), "{full:?}");
    assert!(full.advice.unwrap().contains("free space"));
    let health_json = serde_json::to_value(full).unwrap();
    assert_eq!(health_json["degraded"], "disk_full", "{health_json}");

    // More than the queue holds: nobody waits, each op is kept in the journal, and a flush
    // (what a final waits for before it is announced) returns once they are synced.
    let extra = 10;
    for i in 0..extra {
        send_utterance(&tx, 10_000 + i);
    }
    tx.flush().unwrap();
    let h = tx.health();
    assert_eq!(h.queued, 0, "{h:?}");
    assert!(h.journaled >= extra as u64, "{h:?}");
    assert!(journal_path(&path).exists());
    assert_eq!(h.degraded, Some(StorageFault::DiskFull), "{h:?}");

    // Space returns (another process deletes the rows that filled it): the journal is
    // replayed and removed.
    free(&path, sent);
    let recovered = wait_until(Duration::from_secs(60), || {
        let h = tx.health();
        h.journaled == 0 && h.degraded.is_none() && !h.failing
    });
    assert!(recovered, "{:?}", tx.health());
    assert!(!journal_path(&path).exists());
    writer.flush().unwrap();
    // Everything after the deleted rows is there once, in the order it was sent.
    let ids = utterance_ids(&path);
    let tail: Vec<String> = (0..extra).map(|i| format!("u{}", 10_000 + i)).collect();
    assert!(ids.ends_with(&tail), "{ids:?}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "an op was applied twice: {ids:?}");
    assert_eq!(writer.stats().rejected_ops, 0);
    writer.close().unwrap();
}

#[test]
fn a_journal_left_by_a_stopped_writer_is_replayed_once_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let (tx, writer) = capped(&path, 8);
    fill(&tx);
    let extra = 12;
    for i in 0..extra {
        send_utterance(&tx, 10_000 + i);
    }
    tx.send(call_ended("filler", 2, 60_000)).unwrap();
    tx.flush().unwrap();
    assert!(tx.health().journaled > extra as u64, "{:?}", tx.health());
    // Stopped while the disk is still full: the journal stays.
    drop(tx);
    writer.close().unwrap();
    assert!(journal_path(&path).exists());

    // Pretend a crash came after the first two journal lines were applied: their progress is
    // recorded with them, so the next start skips exactly those.
    let journal = std::fs::read_to_string(journal_path(&path)).unwrap();
    let id: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    let lines: Vec<&str> = journal.lines().skip(1).collect();
    let skipped: Vec<String> = lines[..2]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["Utterance"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    {
        let c = open(&path);
        c.pragma_update(None, "max_page_count", 1_000_000).unwrap();
        c.execute(
            "INSERT INTO journal_replay (journal, line) VALUES (?1, 2)",
            [id["journal"].as_str().unwrap()],
        )
        .unwrap();
    }

    // The next start, with room: everything else is in the archive before spawn returns.
    let (tx, writer) = ArchiveWriter::spawn(&path).unwrap();
    assert_eq!(tx.health().journaled, 0, "{:?}", tx.health());
    assert!(!journal_path(&path).exists());
    let ids = utterance_ids(&path);
    for s in &skipped {
        assert!(
            !ids.contains(s),
            "{s} was replayed past its recorded progress"
        );
    }
    for i in 0..extra {
        let id = format!("u{}", 10_000 + i);
        if !skipped.contains(&id) {
            assert_eq!(ids.iter().filter(|x| **x == id).count(), 1, "{id}: {ids:?}");
        }
    }
    let (ended, replays): (Option<String>, i64) = {
        let c = open(&path);
        (
            c.query_row("SELECT ended_at FROM calls WHERE id = 'filler'", [], |r| {
                r.get(0)
            })
            .unwrap(),
            c.query_row("SELECT count(*) FROM journal_replay", [], |r| r.get(0))
                .unwrap(),
        )
    };
    assert!(
        ended.is_some(),
        "the journaled end of the call was not replayed"
    );
    assert_eq!(replays, 0);
    drop(tx);
    writer.close().unwrap();
}

#[test]
fn with_the_journal_unwritable_too_the_queue_stays_bounded_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let (tx, writer) = capped(&path, 8);
    // A directory where the journal would go: it cannot be written.
    std::fs::create_dir(journal_path(&path)).unwrap();
    let sent = fill(&tx);

    // More than the queue holds: the sender waits instead of memory growing.
    let extra = 20;
    let sender = {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for i in 0..extra {
                send_utterance(&tx, 10_000 + i);
            }
        })
    };
    assert!(wait_until(Duration::from_secs(5), || tx.health().queued >= 8));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!sender.is_finished(), "the sender did not wait for room");
    assert!(tx.health().queued <= 8, "{:?}", tx.health());
    assert_eq!(tx.health().journaled, 0);

    // Free space: the writer's retry goes through; keep freeing what it has just kept.
    free(&path, sent - 1);
    let recovered = wait_until(Duration::from_secs(60), || {
        if tx.health().failing {
            free(&path, 4);
        }
        sender.is_finished() && tx.health().queued == 0 && !tx.health().failing
    });
    assert!(recovered, "{:?}", tx.health());
    sender.join().unwrap();
    assert_eq!(tx.health().degraded, None);
    writer.flush().unwrap();
    let stats = writer.stats();
    // Every op sent was committed: the call, the fill and the extra ones.
    assert_eq!(
        stats.committed_ops,
        1 + sent as u64 + extra as u64,
        "{stats:?}"
    );
    let ids = utterance_ids(&path);
    assert_eq!(ids.last().unwrap(), &format!("u{}", 10_000 + extra - 1));
    writer.close().unwrap();
}
