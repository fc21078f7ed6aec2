//! Reader behaviour: call filters, transcript search (Chinese and English), paging, bad queries.

mod archive_support;

use archive_support::*;
use callwatch::call::Speaker;
use callwatch::sinks::archive::reader::MAX_OFFSET;
use callwatch::sinks::archive::{
    ArchiveError, ArchiveReader, ArchiveWriter, CallFilter, SearchQuery,
};
use std::time::Duration;

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

#[test]
fn call_filters() {
    let dir = tempfile::tempdir().unwrap();
    let reader = fixture(&dir.path().join("a.db"));
    let f = |s: &str| -> CallFilter { serde_urlencoded_like(s) };
    let cases: &[(&str, &[&str])] = &[
        ("", &["legonly", "en1", "zh2", "zh1"]),
        (&format!("from={}", at(10)), &["legonly", "en1", "zh2"]),
        (&format!("to={}", at(10)), &["zh1"]),
        (&format!("from={}&to={}", at(5), at(25)), &["en1", "zh2"]),
        // Same instant as at(10), written in UTC.
        ("from=2024-05-01T01:10:00Z", &["legonly", "en1", "zh2"]),
        ("agent_id=agent-8", &["en1", "zh2"]),
        ("agent_id=agent-9", &["legonly"]),
        ("participant=sip:alice", &["en1"]),
        ("category=guarantee", &["zh1"]),
        ("category=complaint", &["en1", "zh1"]),
        ("has_hits=true", &["en1", "zh1"]),
        ("has_hits=false", &["legonly", "zh2"]),
        ("speaker=customer", &["en1", "zh2", "zh1"]),
        ("speaker=customer&category=complaint", &["en1", "zh1"]),
        ("speaker=agent&category=complaint", &[]),
        ("speaker=agent&has_hits=true", &["zh1"]),
        ("agent_id=agent-8&has_hits=true", &["en1"]),
    ];
    for (query, want) in cases {
        let page = reader.list_calls(&f(query)).unwrap();
        assert_eq!(ids(&page.items, |c| &c.id), *want, "filter {query}");
        assert_eq!(page.next_cursor, None);
    }
    let zh1 = reader
        .list_calls(&f("category=guarantee"))
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        (zh1.utterance_count, zh1.hit_count, zh1.legs.len()),
        (3, 3, 2)
    );
}

#[test]
fn paging_by_cursor_and_offset_visits_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    // Pairs of calls share a start time so the cursor's id tie-break is exercised.
    for i in 0..120 {
        for op in sample_call(&format!("call-{i:03}"), "a", i / 2) {
            tx.send(op).unwrap();
        }
    }
    handle.close().unwrap();
    let reader = ArchiveReader::open(&path).unwrap();

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = reader
            .list_calls(&CallFilter {
                cursor: cursor.take(),
                ..Default::default()
            })
            .unwrap();
        pages += 1;
        seen.extend(ids(&page.items, |c| &c.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let want: Vec<String> = (0..120).rev().map(|i| format!("call-{i:03}")).collect();
    assert_eq!(seen, want);

    let page = reader
        .list_calls(&CallFilter {
            offset: Some(100),
            limit: Some(50),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 20);
    assert_eq!(page.items[0].id, "call-019");

    // Deep pages go by cursor: an offset past MAX_OFFSET is refused with the way out.
    let e = reader
        .list_calls(&CallFilter {
            offset: Some(MAX_OFFSET + 1),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(&e, ArchiveError::BadQuery(m) if m.contains("cursor")),
        "{e}"
    );
    assert!(reader
        .list_calls(&CallFilter {
            offset: Some(MAX_OFFSET),
            ..Default::default()
        })
        .unwrap()
        .items
        .is_empty());

    // A query past the time limit is stopped and says so; the reader serves the next one.
    let hasty = reader.clone().with_query_timeout(Duration::ZERO);
    let e = hasty
        .search(&SearchQuery {
            q: "投诉".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(e, ArchiveError::QueryTimeout(_)), "{e}");
    assert!(e.to_string().contains("narrow it"), "{e}");
    let page = reader
        .search(&SearchQuery {
            q: "投诉".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(!page.items.is_empty());
}

#[test]
fn bad_queries_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let reader = fixture(&dir.path().join("a.db"));
    let calls: &[CallFilter] = &[
        CallFilter {
            limit: Some(0),
            ..Default::default()
        },
        CallFilter {
            limit: Some(501),
            ..Default::default()
        },
        CallFilter {
            from: Some("yesterday".into()),
            ..Default::default()
        },
        CallFilter {
            to: Some("2024-05-01".into()),
            ..Default::default()
        },
        CallFilter {
            cursor: Some("garbage".into()),
            ..Default::default()
        },
        CallFilter {
            offset: Some(u64::MAX),
            ..Default::default()
        },
    ];
    for f in calls {
        let e = reader.list_calls(f).unwrap_err();
        assert!(matches!(e, ArchiveError::BadQuery(_)), "{f:?}: {e}");
    }
    assert_eq!(
        reader
            .list_calls(&CallFilter::default())
            .unwrap()
            .items
            .len(),
        4
    );
}

/// Timing of the two search paths on 100 000 utterances; run with
/// `cargo test --release --test archive_query -- --ignored --nocapture`.
#[test]
#[ignore = "measurement, takes a while"]
fn search_latency_on_100k_utterances() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    let fillers = [
        "您好，请问有什么可以帮您",
        "我想查询一下信用卡的账单",
        "好的，请稍等，我帮您看一下",
        "Thank you for calling, how can I help",
        "I would like to check my balance",
    ];
    let t0 = std::time::Instant::now();
    for c in 0..1000u32 {
        let call = format!("c{c}");
        tx.send(call_started(&call, "a", c / 60)).unwrap();
        for i in 0..100u32 {
            let text = if i == 50 && c % 100 == 0 {
                "我要投诉，保本保息是假的"
            } else {
                fillers[(i as usize + c as usize) % fillers.len()]
            };
            let u = utterance(
                &format!("{call}-{i}"),
                &call,
                "left",
                Speaker::Agent,
                i as u64 * 2000,
                text,
                c / 60,
            );
            tx.send(callwatch::sinks::archive::ArchiveOp::Utterance(u))
                .unwrap();
        }
    }
    handle.close().unwrap();
    println!("wrote 100000 utterances in {:?}", t0.elapsed());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    let size = |q: &str| -> i64 { c.query_row(q, [], |r| r.get(0)).unwrap_or(0) };
    println!(
        "archive {} KiB; text {} KiB, sound keys {} KiB, text index {} KiB, sound index {} KiB",
        std::fs::metadata(&path).unwrap().len() / 1024,
        size("SELECT sum(length(CAST(text AS BLOB))) FROM utterances") / 1024,
        size("SELECT sum(length(sound)) FROM utterances") / 1024,
        size("SELECT sum(length(block)) FROM utterances_fts_data") / 1024,
        size("SELECT sum(length(block)) FROM utterances_sound_data") / 1024,
    );
    let reader = ArchiveReader::open(&path).unwrap();
    use callwatch::sinks::archive::sound::SearchMode;
    for (q, mode, want) in [
        ("投诉", SearchMode::Exact, 10),
        ("保本保息", SearchMode::Exact, 10),
        ("账单", SearchMode::Exact, 20_000),
        ("balance", SearchMode::Exact, 20_000),
        ("包本保锡", SearchMode::Pinyin, 10),
        ("保本保锡", SearchMode::Near, 10),
        ("帮您看一下", SearchMode::Near, 20_000),
    ] {
        let t = std::time::Instant::now();
        let page = reader
            .search(&SearchQuery {
                q: q.into(),
                mode,
                limit: Some(50),
                ..Default::default()
            })
            .unwrap();
        let first = t.elapsed();
        let mut total = page.items.len();
        let mut cursor = page.next_cursor;
        while let Some(c) = cursor {
            let p = reader
                .search(&SearchQuery {
                    q: q.into(),
                    mode,
                    limit: Some(500),
                    cursor: Some(c),
                    ..Default::default()
                })
                .unwrap();
            total += p.items.len();
            cursor = p.next_cursor;
        }
        println!(
            "q={q} mode={mode:?}: first page {first:?}, all {total} in {:?}",
            t.elapsed()
        );
        assert_eq!(total, want, "q={q}");
    }
}

/// Utterances archived before sound search get their keys when the schema is upgraded.
#[test]
fn upgrading_the_schema_keys_earlier_utterances() {
    use callwatch::sinks::archive::sound::SearchMode;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    {
        let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
        for op in sound_fixture_ops() {
            tx.send(op).unwrap();
        }
        handle.close().unwrap();
    }
    {
        // Back to the schema before sound keys, as an older build left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER utterances_sound_insert; DROP TRIGGER utterances_sound_delete;
             DROP TRIGGER utterances_sound_update; DROP TABLE utterances_sound;
             ALTER TABLE utterances DROP COLUMN sound; PRAGMA user_version = 11;",
        )
        .unwrap();
    }
    let (_tx, handle) = ArchiveWriter::spawn(&path).unwrap();
    handle.close().unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    let page = reader
        .search(&SearchQuery {
            q: "理财产品".into(),
            mode: SearchMode::Near,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 3);
}

#[test]
fn score_filters_follow_the_latest_score() {
    use callwatch::sinks::archive::{ArchiveOp, ScoreRecord};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let reader = fixture(&path);
    let score = |call: &str, score: f64, failed: &[&str]| {
        ArchiveOp::Score(ScoreRecord {
            call_id: call.into(),
            scorecard_id: "card".into(),
            score,
            passed: score >= 80.0,
            failed_items: failed.iter().map(|s| s.to_string()).collect(),
            report: serde_json::json!({"score": score}),
            scored_at: at(30),
        })
    };
    let write = |ops: Vec<ArchiveOp>| {
        let (tx, handle) = ArchiveWriter::spawn(&path).unwrap();
        for op in ops {
            tx.send(op).unwrap();
        }
        drop(tx);
        handle.close().unwrap();
    };
    write(vec![
        score("zh1", 60.0, &["greeting", "no_sales_promise"]),
        score("en1", 95.0, &[]),
    ]);
    let f = |s: &str| -> CallFilter { serde_urlencoded_like(s) };
    let cases: &[(&str, &[&str])] = &[
        ("min_score=90", &["en1"]),
        ("max_score=80", &["zh1"]),
        ("min_score=60&max_score=60", &["zh1"]),
        ("passed=true", &["en1"]),
        ("passed=false", &["zh1"]),
        ("failed_item=greeting", &["zh1"]),
        ("failed_item=closing", &[]),
        ("failed_item=greeting&category=complaint", &["zh1"]),
    ];
    for (query, want) in cases {
        let page = reader.list_calls(&f(query)).unwrap();
        assert_eq!(ids(&page.items, |c| &c.id), *want, "filter {query}");
    }
    let zh1 = reader.get_call("zh1").unwrap().unwrap();
    let qa = zh1.call.qa.as_ref().unwrap();
    assert_eq!((qa.score, qa.passed), (60.0, false));
    assert_eq!(qa.failed_items, ["greeting", "no_sales_promise"]);
    assert_eq!(zh1.qa_report.unwrap()["score"], 60.0);
    assert!(reader.get_call("zh2").unwrap().unwrap().call.qa.is_none());

    // A re-score replaces the score and the failed items, it does not add to them.
    write(vec![score("zh1", 85.0, &["closing"])]);
    for (query, want) in [
        ("failed_item=greeting", &[][..]),
        ("failed_item=closing", &["zh1"][..]),
        ("passed=true", &["en1", "zh1"][..]),
    ] {
        let page = reader.list_calls(&f(query)).unwrap();
        assert_eq!(ids(&page.items, |c| &c.id), want, "after re-score: {query}");
    }
    for bad in ["min_score=101", "max_score=-1"] {
        match reader.list_calls(&f(bad)) {
            Err(ArchiveError::BadQuery(m)) => assert!(m.contains("score"), "{m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}
