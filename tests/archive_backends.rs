//! One archive test suite, run against both backends: SQLite (the embedded default) and
//! PostgreSQL (a real server started for each test). The same ops are written to each and
//! every search must answer the same, in the same order.

mod archive_support;

use archive_support::*;
use callwatch::call::Speaker;
use callwatch::sinks::archive::{ArchiveError, ArchiveOp, SearchQuery};

fn ids<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| id(i).to_string()).collect()
}

#[test]
fn search_chinese_and_english() {
    for b in backends() {
        b.write(fixture_ops());
        let reader = &b.reader;
        let name = b.name;
        let cases: &[(&str, &[&str])] = &[
            ("q=投诉", &["zh1-u2"]),
            ("q=保本保息", &["zh1-u1"]),
            ("q=本保", &["zh1-u1"]),
            ("q=账单", &["zh2-u2"]),
            ("q=单", &["zh2-u2"]),
            ("q=refund", &["en1-u1", "zh1-u3"]),
            ("q=REFUND", &["en1-u1", "zh1-u3"]),
            ("q=refund complaint", &["en1-u1"]),
            ("q=\"full refund\"", &["zh1-u3"]),
            ("q=\"refund full\"", &[]),
            ("q=您好 账单", &[]),
            ("q=投诉 你们", &["zh1-u2"]),
            ("q=投诉&speaker=agent", &[]),
            ("q=refund&speaker=customer", &["en1-u1"]),
            ("q=refund&call_id=zh1", &["zh1-u3"]),
            (&format!("q=refund&from={}", at(15)), &["en1-u1"]),
            (&format!("q=refund&to={}", at(15)), &["zh1-u3"]),
            ("q=50% off", &[]),
            ("q=_", &[]),
            ("q=xyz123", &[]),
        ];
        for (query, want) in cases {
            let q: SearchQuery = serde_urlencoded_like(query);
            let page = reader.search(&q).unwrap();
            assert_eq!(
                ids(&page.items, |h| &h.utterance_id),
                *want,
                "{name}: search {query}"
            );
        }
        let hit = reader
            .search(&SearchQuery {
                q: "投诉".into(),
                ..Default::default()
            })
            .unwrap()
            .items
            .remove(0);
        assert_eq!(hit.snippet, "我要<mark>投诉</mark>你们");
        assert_eq!(hit.highlights, vec![[2, 4]]);
        assert_eq!(
            (hit.call_id.as_str(), hit.leg.as_str(), hit.speaker),
            ("zh1", "right", Speaker::Customer)
        );
        assert_eq!((hit.start_ms, hit.end_ms), (4000, 5500));
        let hit = reader
            .search(&SearchQuery {
                q: "refund".into(),
                call_id: Some("zh1".into()),
                ..Default::default()
            })
            .unwrap()
            .items
            .remove(0);
        assert_eq!(
            hit.snippet,
            "We offer a full <mark>Refund</mark>, guaranteed returns."
        );
    }
}

/// Text holding FTS5 syntax is found by searching for that text, and only it.
#[test]
fn fts_syntax_in_a_query_finds_the_literal_text() {
    let texts = [
        ("lit-1", "please read NEAR(a b) aloud"),
        ("lit-2", "col:foo* is what the form says"),
        ("lit-3", "she said AND OR NOT twice"),
    ];
    let mut ops = fixture_ops();
    ops.push(call_started("lit", "agent-9", 40));
    ops.push(leg("lit", "left", Speaker::Agent, "agent-9", 40));
    for (i, (id, text)) in texts.iter().enumerate() {
        let u = utterance(id, "lit", "left", Speaker::Agent, i as u64 * 2000, text, 40);
        ops.push(ArchiveOp::Utterance(u));
    }
    for b in backends() {
        b.write(ops.clone());
        let reader = &b.reader;
        let name = b.name;
        for (q, want) in [
            ("NEAR(a b)", vec!["lit-1"]),
            ("col:foo*", vec!["lit-2"]),
            ("AND OR NOT", vec!["lit-3"]),
            ("\"NEAR(a b)\"", vec!["lit-1"]),
        ] {
            let page = reader
                .search(&SearchQuery {
                    q: q.into(),
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("{q}: {e}"));
            let got: Vec<&str> = page.items.iter().map(|h| h.utterance_id.as_str()).collect();
            assert_eq!(got, want, "{name}: {q}");
        }
    }
}

#[test]
fn search_by_sound_ranks_exact_then_pinyin_then_near() {
    for b in backends() {
        b.write(sound_fixture_ops());
        let reader = &b.reader;
        let name = b.name;
        use callwatch::sinks::archive::sound::SearchMode;
        let cases: &[(&str, &[(&str, SearchMode)])] = &[
            ("q=理财产品", &[("s1-u0", SearchMode::Exact)]),
            ("q=理财产品&mode=exact", &[("s1-u0", SearchMode::Exact)]),
            (
                "q=理财产品&mode=pinyin",
                &[("s1-u0", SearchMode::Exact), ("s1-u1", SearchMode::Pinyin)],
            ),
            (
                "q=理财产品&mode=near",
                &[
                    ("s1-u0", SearchMode::Exact),
                    ("s1-u1", SearchMode::Pinyin),
                    ("s1-u2", SearchMode::Near),
                ],
            ),
            // Two syllables are never widened: one free syllable would match nearly anything.
            (
                "q=理财&mode=near",
                &[("s1-u0", SearchMode::Exact), ("s1-u1", SearchMode::Pinyin)],
            ),
            // Every term must match; the sound of full-width or Traditional text is the same.
            (
                "q=理財產品 收益&mode=near",
                &[("s1-u0", SearchMode::Pinyin)],
            ),
            ("q=理财产品&mode=near&speaker=agent", &[]),
        ];
        for (query, want) in cases {
            let q: SearchQuery = serde_urlencoded_like(query);
            let page = reader.search(&q).unwrap();
            let got: Vec<(String, SearchMode)> = page
                .items
                .iter()
                .map(|h| (h.utterance_id.clone(), h.how))
                .collect();
            let want: Vec<(String, SearchMode)> =
                want.iter().map(|(id, m)| (id.to_string(), *m)).collect();
            assert_eq!(got, want, "{name}: search {query}");
        }
        let q: SearchQuery = serde_urlencoded_like("q=理财产品&mode=near");
        let near = reader.search(&q).unwrap().items.remove(2);
        assert_eq!(near.highlights, vec![[2, 6]]);
        assert_eq!(near.snippet, "那个<mark>理台产品</mark>还有吗");

        // Paging walks the ranks in order, one row a page.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = reader
                .search(&SearchQuery {
                    q: "理财产品".into(),
                    mode: SearchMode::Near,
                    limit: Some(1),
                    cursor: cursor.take(),
                    ..Default::default()
                })
                .unwrap();
            seen.extend(page.items.into_iter().map(|h| h.utterance_id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["s1-u0", "s1-u1", "s1-u2"]);

        // Sound search is for Chinese: anything else is refused with what to do instead.
        for query in ["q=wealth&mode=pinyin", "q=理财 app&mode=near"] {
            let q: SearchQuery = serde_urlencoded_like(query);
            let e = reader.search(&q).unwrap_err();
            assert!(
                matches!(e, ArchiveError::BadQuery(_)) && e.to_string().contains("mode=exact"),
                "{query}: {e}"
            );
        }
    }
}

#[test]
fn search_pages_by_cursor_and_refuses_bad_queries_on_every_backend() {
    let mut ops = Vec::new();
    for i in 0..30 {
        ops.extend(sample_call(&format!("call-{i:03}"), "a", i / 2));
    }
    for b in backends() {
        b.write(ops.clone());
        let name = b.name;
        // Every 投诉 utterance once, across pages of 7, newest first.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = b
                .reader
                .search(&SearchQuery {
                    q: "投诉".into(),
                    limit: Some(7),
                    cursor: cursor.take(),
                    ..Default::default()
                })
                .unwrap();
            assert!(page.items.len() <= 7, "{name}");
            seen.extend(ids(&page.items, |h| &h.utterance_id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let want: Vec<String> = (0..30).rev().map(|i| format!("call-{i:03}-u2")).collect();
        assert_eq!(seen, want, "{name}");
        // One and two characters, English in any case, and an offset page.
        for (q, n) in [
            ("诉", 30),
            ("保", 30),
            ("REFUND", 30),
            ("guaranteed returns", 30),
        ] {
            let page = b
                .reader
                .search(&SearchQuery {
                    q: q.into(),
                    limit: Some(500),
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(page.items.len(), n, "{name}: {q}");
        }
        let page = b
            .reader
            .search(&SearchQuery {
                q: "投诉".into(),
                offset: Some(25),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(ids(&page.items, |h| &h.call_id)[0], "call-004", "{name}");

        for q in [
            SearchQuery::default(),
            SearchQuery {
                q: "字".repeat(201),
                ..Default::default()
            },
            SearchQuery {
                q: "x".into(),
                limit: Some(1000),
                ..Default::default()
            },
            SearchQuery {
                q: "x".into(),
                cursor: Some("garbage".into()),
                ..Default::default()
            },
            SearchQuery {
                q: "x".into(),
                to: Some("tomorrow".into()),
                ..Default::default()
            },
            SearchQuery {
                q: "x".into(),
                from: Some("now".into()),
                ..Default::default()
            },
            SearchQuery {
                q: "   ".into(),
                ..Default::default()
            },
            // A call list's cursor (`c:…`) is not a search cursor.
            SearchQuery {
                q: "x".into(),
                cursor: Some("YzoxMjM".into()),
                ..Default::default()
            },
            // A lone quote leaves nothing to search for.
            SearchQuery {
                q: "\"".into(),
                ..Default::default()
            },
        ] {
            let e = b.reader.search(&q).unwrap_err();
            assert!(matches!(e, ArchiveError::BadQuery(_)), "{name}: {q:?}: {e}");
        }
        // SQL, FTS5 syntax and LIKE wildcards in a query are text to find, on either backend:
        // nothing here holds them, so every search answers an empty page.
        for q in [
            "'; DROP TABLE calls; --",
            "%",
            "_",
            "\\",
            "$1",
            "AND OR NOT",
            "col:foo*",
            "NEAR(a b)",
            "(((",
            "^abc",
        ] {
            let page = b
                .reader
                .search(&SearchQuery {
                    q: q.into(),
                    ..Default::default()
                })
                .unwrap_or_else(|e| panic!("{name}: {q}: {e}"));
            assert!(page.items.is_empty(), "{name}: {q}: {:?}", page.items);
        }
        assert!(b.reader.call_ended("call-000").unwrap(), "{name}");
        assert!(!b.reader.call_ended("nope").unwrap(), "{name}");
    }
}

#[test]
fn writes_are_idempotent_and_purges_remove_what_was_found_on_every_backend() {
    for b in backends() {
        let name = b.name;
        let ops = sample_call("c1", "a", 0);
        // A batch written again (a retry after a failed commit) adds nothing.
        b.write(ops.clone());
        b.write(ops);
        let found = |q: &str| {
            b.reader
                .search(&SearchQuery {
                    q: q.into(),
                    ..Default::default()
                })
                .unwrap()
                .items
                .len()
        };
        assert_eq!(found("投诉"), 1, "{name}");
        // An utterance before its call started: the call row is made on demand.
        let early = utterance("c2-u1", "c2", "left", Speaker::Agent, 0, "先到的话", 5);
        b.write(vec![ArchiveOp::Utterance(early)]);
        assert_eq!(found("先到"), 1, "{name}");
        b.write(vec![ArchiveOp::CallPurged {
            call_id: "c1".into(),
        }]);
        assert_eq!(found("投诉"), 0, "{name}");
        assert_eq!(found("先到"), 1, "{name}");
    }
}

#[test]
fn postgres_keeps_a_refused_op_aside_and_writes_its_neighbours() {
    let b = backends().pop().unwrap();
    let pg = b.pg.as_ref().unwrap();
    let mut bad = utterance("bad", "c1", "left", Speaker::Agent, 0, "坏的", 0);
    // Over i64::MAX: no BIGINT holds it, on every attempt.
    bad.start_ms = u64::MAX;
    let good = utterance("good", "c1", "left", Speaker::Agent, 0, "好的", 0);
    let rejected = pg
        .write(&[
            call_started("c1", "a", 0),
            ArchiveOp::Utterance(bad),
            ArchiveOp::Utterance(good),
        ])
        .unwrap();
    assert_eq!(rejected, 1);
    let page = b
        .reader
        .search(&SearchQuery {
            q: "的".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&page.items, |h| &h.utterance_id), ["good"]);
}

#[test]
fn postgres_setup_is_checked_at_open() {
    use callwatch::sinks::archive::PgArchive;
    let server = pg::TempPostgres::start();
    // Nodes starting together migrate one after the other; both then use the archive.
    let url = server.database("shared");
    let opened: Vec<_> = std::thread::scope(|s| {
        let a = s.spawn(|| PgArchive::open(&url));
        let b = s.spawn(|| PgArchive::open(&url));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    for o in &opened {
        assert!(o.is_ok(), "{:?}", o.as_ref().err().map(ToString::to_string));
    }
    // Under the C locale pg_trgm sees no letters in Chinese: refused with what to do.
    let c = server.database_with("clocale", &["--locale=C", "--template=template0"]);
    let e = PgArchive::open(&c).err().unwrap().to_string();
    assert!(e.contains("LC_CTYPE") && e.contains("C.UTF-8"), "{e}");
    // A password never shows in errors; an unreachable server says so.
    let e = PgArchive::open("postgres://cw:hunter2@127.0.0.1:1/x")
        .err()
        .unwrap()
        .to_string();
    assert!(!e.contains("hunter2") && e.contains("PostgreSQL"), "{e}");
    let e = PgArchive::open("mysql://x").err().unwrap().to_string();
    assert!(e.contains("not a PostgreSQL URL"), "{e}");
}

#[test]
fn postgres_over_tls_checks_the_servers_certificate() {
    use callwatch::sinks::archive::PgArchive;
    let (server, ca) = pg::TempPostgres::start_tls();
    let url = format!("{}?sslmode=require", server.database("tls"));
    // The server's CA: connected over TLS, and the archive works.
    let archive = std::sync::Arc::new(PgArchive::open_with(&url, Some(&ca)).unwrap());
    archive.write(&sample_call("t1", "a", 0)).unwrap();
    // Reads go through the same TLS-configured pool.
    let reader = callwatch::sinks::archive::ArchiveReader::postgres(archive);
    assert!(reader.call_ended("t1").unwrap());
    // Asking for TLS without a CA to check the server against is refused at open.
    let e = PgArchive::open(&url).err().unwrap().to_string();
    assert!(e.contains("ca_file"), "{e}");
    // A certificate the given CA did not sign: the connection is refused.
    let other = tempfile::tempdir().unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let stranger_pem = other.path().join("ca.pem");
    std::fs::write(&stranger_pem, stranger.cert.pem()).unwrap();
    let e = PgArchive::open_with(&url, Some(&stranger_pem))
        .err()
        .unwrap()
        .to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    // A CA file that holds no certificate says so.
    let empty = other.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    let e = PgArchive::open_with(&url, Some(&empty))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no certificate"), "{e}");
}

#[test]
fn a_postgres_outage_spills_to_the_journal_and_is_caught_up() {
    use callwatch::sinks::archive::{
        ArchiveReader, ArchiveWriter, PgArchive, StorageFault, WriterConfig,
    };
    use std::time::{Duration, Instant};
    let server = pg::TempPostgres::start();
    let archive = std::sync::Arc::new(PgArchive::open(&server.database("outage")).unwrap());
    let node = tempfile::tempdir().unwrap();
    let journal_at = node.path().join("archive-postgres");
    let config = WriterConfig {
        max_backoff: Duration::from_millis(200),
        ..Default::default()
    };
    let (tx, writer) =
        ArchiveWriter::spawn_postgres(archive.clone(), &journal_at, config.clone()).unwrap();
    let reader = ArchiveReader::postgres(archive.clone());
    for op in sample_call("before", "agent-1", 0) {
        tx.send(op).unwrap();
    }
    tx.flush().unwrap();
    assert!(reader.call_ended("before").unwrap());

    // PostgreSQL goes away: what arrives is kept in this node's journal, readiness says why.
    server.pause();
    for op in sample_call("during", "agent-1", 5) {
        tx.send(op).unwrap();
    }
    tx.flush().unwrap();
    let health = tx.health();
    assert_eq!(
        health.degraded,
        Some(StorageFault::Unreachable),
        "{health:?}"
    );
    assert!(health.journaled >= 10, "{health:?}");
    assert!(health.advice.unwrap().contains("[archive] url"));
    assert!(callwatch::sinks::archive::journal_path(&journal_at).exists());

    // Back: the journal is replayed in order and removed, and the calls read back whole.
    server.resume();
    for op in sample_call("after", "agent-1", 10) {
        tx.send(op).unwrap();
    }
    let t0 = Instant::now();
    while tx.health().journaled > 0 || tx.health().failing {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "journal not replayed: {:?}",
            tx.health()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    tx.flush().unwrap();
    assert_eq!(tx.health().degraded, None);
    assert!(!callwatch::sinks::archive::journal_path(&journal_at).exists());
    for id in ["before", "during", "after"] {
        let call = reader.get_call(id).unwrap().expect(id);
        assert_eq!(call.utterances.len(), 3, "{id}");
        assert_eq!(call.hits.len(), 3, "{id}");
        assert!(call.call.ended_at.is_some(), "{id}");
    }
    assert_eq!(writer.stats().rejected_ops, 0);
    drop(writer);

    // A journal left by a run that stopped while PostgreSQL was down is replayed at the
    // next start, before anything new.
    server.pause();
    let (tx, writer) =
        ArchiveWriter::spawn_postgres(archive.clone(), &journal_at, config.clone()).unwrap();
    for op in sample_call("left", "agent-1", 15) {
        tx.send(op).unwrap();
    }
    tx.flush().unwrap();
    assert!(tx.health().journaled > 0);
    drop(writer);
    server.resume();
    let (tx, writer) = ArchiveWriter::spawn_postgres(archive, &journal_at, config).unwrap();
    tx.flush().unwrap();
    assert_eq!(tx.health().journaled, 0, "{:?}", tx.health());
    assert_eq!(
        reader.get_call("left").unwrap().unwrap().utterances.len(),
        3
    );
    drop(writer);
}

#[test]
fn users_tokens_sessions_and_the_audit_trail_are_shared_by_nodes_on_postgres() {
    use callwatch::auth::{AuditEntry, AuditFilter, AuthStore, LoginRefusal, Role};
    use callwatch::sinks::archive::PgArchive;
    use std::sync::Arc;
    let server = pg::TempPostgres::start();
    let url = server.database("users");
    // Two nodes, each with its own connection pool to the one database.
    let node1 = AuthStore::postgres(Arc::new(PgArchive::open(&url).unwrap()));
    let node2 = AuthStore::postgres(Arc::new(PgArchive::open(&url).unwrap()));
    let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    let pw = "correct horse battery staple";

    assert!(!node2.has_admin().unwrap());
    node1
        .add_user("qa-1", Role::Reviewer, Some(&["wealth".into()]), pw, now)
        .unwrap();
    node1.add_user("admin", Role::Admin, None, pw, now).unwrap();
    assert!(node2.has_admin().unwrap());
    let e = node2
        .add_user("qa-1", Role::Agent, None, pw, now)
        .unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");

    // Logged in on node 2, the session is good on node 1; logged out on node 1, gone on 2.
    let p = node2.check_login("qa-1", pw).unwrap();
    assert_eq!(
        (p.role, p.queues.clone()),
        (Role::Reviewer, Some(vec!["wealth".to_string()]))
    );
    let session = node2
        .create_session("qa-1", now, std::time::Duration::from_secs(3600))
        .unwrap();
    assert_eq!(node1.session(&session, now).unwrap().unwrap().name, "qa-1");
    let later = now + time::Duration::hours(2);
    assert!(node1.session(&session, later).unwrap().is_none(), "expired");
    node1.end_session(&session).unwrap();
    assert!(node2.session(&session, now).unwrap().is_none());

    // A token made on node 1 opens node 2 until it is revoked there.
    let token = node1
        .create_token("sbc-1", Role::Ingest, None, Some(30), now)
        .unwrap();
    assert_eq!(
        node2.token(&token, now).unwrap().unwrap().role,
        Role::Ingest
    );
    assert!(node2
        .token(&token, now + time::Duration::days(31))
        .unwrap()
        .is_none());
    node2.revoke_token("sbc-1", now).unwrap();
    assert!(node1.token(&token, now).unwrap().is_none());
    assert!(node1.tokens().unwrap()[0].revoked);

    // Ten wrong passwords on either node lock the user on both; disabling ends sessions.
    for n in 0..10 {
        let node = if n % 2 == 0 { &node1 } else { &node2 };
        assert_eq!(
            node.check_login("qa-1", "wrong").unwrap_err(),
            LoginRefusal::Invalid
        );
    }
    assert_eq!(
        node1.check_login("qa-1", pw).unwrap_err(),
        LoginRefusal::Locked
    );
    assert!(node2
        .users()
        .unwrap()
        .iter()
        .any(|u| u.name == "qa-1" && u.locked));
    node2.unlock_user("qa-1", now).unwrap();
    let s2 = node1
        .create_session("qa-1", now, std::time::Duration::from_secs(60))
        .unwrap();
    node1.disable_user("qa-1", now).unwrap();
    assert!(node2.session(&s2, now).unwrap().is_none());
    assert_eq!(
        node2.check_login("qa-1", pw).unwrap_err(),
        LoginRefusal::Disabled
    );
    assert!(matches!(
        node2.disable_user("nobody", now),
        Err(callwatch::auth::AuthError::Missing { .. })
    ));

    // One audit trail: what either node records, both list, newest first; append-only.
    let admin = node1.check_login("admin", pw).unwrap();
    node1
        .audit(&AuditEntry::by(&admin, "call.view").call("c1"), now)
        .unwrap();
    node2
        .audit(&AuditEntry::by(&admin, "search").detail("q=保本"), later)
        .unwrap();
    let page = node1.audit_page(&AuditFilter::default()).unwrap();
    let actions: Vec<&str> = page.items.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["search", "call.view"]);
    let by_call = node2
        .audit_page(&AuditFilter {
            call_id: Some("c1".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_call.items.len(), 1);
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let e = c
        .execute("UPDATE audit SET who = 'someone else'", &[])
        .unwrap_err();
    assert!(format!("{e:?}").contains("append-only"), "{e:?}");
    assert_eq!(
        node2
            .purge_audit(0, later + time::Duration::minutes(1))
            .unwrap(),
        2
    );
}
