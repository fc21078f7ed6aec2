//! The archive writer under a full disk: the failure is classified (readiness says why and
//! what to do), nothing queued is lost, memory stays bounded (senders wait past the queue's
//! bound), and everything is written once space is freed.

mod archive_support;

use archive_support::*;
use callwatch::call::Speaker;
use callwatch::sinks::archive::{
    ArchiveOp, ArchiveSender, ArchiveWriter, StorageFault, WriterConfig,
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
    c.execute_batch("INSERT INTO utterances_fts(utterances_fts) VALUES('optimize');")
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

#[test]
fn a_full_disk_degrades_the_writer_bounds_its_queue_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    // The schema's own size, then a cap a little above it: the "disk" fills up quickly.
    ArchiveWriter::spawn(&path).unwrap().1.close().unwrap();
    let base: u64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let config = WriterConfig {
        max_pages: Some(base + 60),
        max_queued: 8,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..WriterConfig::default()
    };
    let (tx, writer) = ArchiveWriter::spawn_with(&path, config).unwrap();
    tx.send(call_started("filler", "a", 1)).unwrap();

    // Fill it one utterance at a time until a commit fails.
    let mut sent = 0;
    let full = loop {
        send_utterance(&tx, sent);
        sent += 1;
        assert!(sent < 2000, "the page cap never filled");
        let settled = wait_until(Duration::from_secs(10), || {
            let h = tx.health();
            h.failing || h.queued == 0
        });
        assert!(settled, "{:?}", tx.health());
        let h = tx.health();
        if h.failing {
            break h;
        }
    };
    assert_eq!(full.degraded, Some(StorageFault::DiskFull), "{full:?}");
    assert!(full.advice.unwrap().contains("free space"));
    let health_json = serde_json::to_value(full).unwrap();
    assert_eq!(health_json["degraded"], "disk_full", "{health_json}");

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

    // Free space: another process deletes older rows; the writer's retry goes through.
    let admin = open(&path);
    admin
        .execute(
            "DELETE FROM utterances WHERE call_id = 'filler' AND id IN (SELECT id FROM utterances ORDER BY seq LIMIT ?1)",
            [sent as i64 - 1],
        )
        .unwrap();
    free_pages(&admin);
    drop(admin);
    // Each further write needs room again; keep freeing what the writer has just kept.
    let recovered = wait_until(Duration::from_secs(60), || {
        if tx.health().failing {
            let c = open(&path);
            c.execute(
                "DELETE FROM utterances WHERE id IN (SELECT id FROM utterances ORDER BY seq LIMIT 4)",
                [],
            )
            .unwrap();
            free_pages(&c);
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
    let last: String = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT id FROM utterances ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last, format!("u{}", 10_000 + extra - 1));
    writer.close().unwrap();
}
