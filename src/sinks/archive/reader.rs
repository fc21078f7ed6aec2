//! Read side of the archive: call listing, call detail and transcript search.
//!
//! Queries are blocking; async handlers run them inside `spawn_blocking`. They are written
//! once, in SQLite's spelling, and run on either backend (see [`super::rows`]).

use super::error::ArchiveError;
use super::postgres::PgArchive;
use super::query::{CallDetail, CallScore, CallSummary, LegSummary, DEFAULT_LIMIT, MAX_LIMIT};
use super::record::{CallWarning, HitRecord, RuleFiringRecord, UtteranceRecord};
use super::rows::{Read, Row, SqliteRead};
use super::search::Dialect;
use super::sql::args;
use super::{schema, store};
use crate::transforms::matcher::MatchMode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Idle connections kept for reuse; more are opened on demand under load.
const POOL_SIZE: usize = 8;
/// Longest a read query runs by default before it is stopped.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest `offset` accepted: deeper pages cost a scan of every row before them, so they are
/// reached with `cursor` (keyset paging) instead.
pub const MAX_OFFSET: u64 = 10_000;
/// SQLite VM instructions between two looks at the clock.
const PROGRESS_EVERY: i32 = 1_000;

/// Read-only access to an archive, SQLite or PostgreSQL. Cheap to clone; clones share a
/// small connection pool.
#[derive(Clone)]
pub struct ArchiveReader {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    query_timeout: Duration,
}

enum Backend {
    Sqlite {
        path: PathBuf,
        idle: Mutex<Vec<Connection>>,
    },
    Postgres(Arc<PgArchive>),
}

impl ArchiveReader {
    /// Opens the SQLite archive at `path`, which a writer must have created.
    pub fn open(path: impl AsRef<Path>) -> Result<ArchiveReader, ArchiveError> {
        let path = path.as_ref().to_path_buf();
        // Opening one connection now reports a missing or foreign file at start-up.
        let first = schema::open_reader(&path)?;
        Ok(ArchiveReader::with_backend(Backend::Sqlite {
            path,
            idle: Mutex::new(vec![first]),
        }))
    }

    /// Reads the PostgreSQL archive `archive` (its pool serves the queries).
    pub fn postgres(archive: Arc<PgArchive>) -> ArchiveReader {
        ArchiveReader::with_backend(Backend::Postgres(archive))
    }

    fn with_backend(backend: Backend) -> ArchiveReader {
        ArchiveReader {
            inner: Arc::new(Inner {
                backend,
                query_timeout: DEFAULT_QUERY_TIMEOUT,
            }),
        }
    }

    /// The same archive with every query stopped after `limit` (a search over months of
    /// calls must not hold a connection and a core for minutes).
    pub fn with_query_timeout(self, limit: Duration) -> ArchiveReader {
        let backend = match &self.inner.backend {
            Backend::Sqlite { path, .. } => Backend::Sqlite {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
            },
            Backend::Postgres(pg) => Backend::Postgres(pg.clone()),
        };
        ArchiveReader {
            inner: Arc::new(Inner {
                backend,
                query_timeout: limit,
            }),
        }
    }

    /// The PostgreSQL archive read, when it is one (its pool also serves the users store).
    pub fn postgres_archive(&self) -> Option<Arc<PgArchive>> {
        match &self.inner.backend {
            Backend::Postgres(pg) => Some(pg.clone()),
            Backend::Sqlite { .. } => None,
        }
    }

    /// The SQL dialect of the backend, for the queries whose text differs.
    pub(super) fn dialect(&self) -> Dialect {
        match self.inner.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Whether a call with this id is archived as ended (a new stream may not reuse its id).
    pub fn call_ended(&self, id: &str) -> Result<bool, ArchiveError> {
        self.with_snapshot(|db| {
            Ok(db
                .value::<bool>(
                    "SELECT ended_at IS NOT NULL FROM calls WHERE id = ?1",
                    &args![id],
                )?
                .unwrap_or(false))
        })
    }

    /// Everything archived about one call, or `None` when the id is unknown.
    pub fn get_call(&self, id: &str) -> Result<Option<CallDetail>, ArchiveError> {
        self.with_snapshot(|db| {
            let Some(mut call) = db.one(
                "SELECT id, source, agent_id, queue, started_at, ended_at, end_reason,
                        duration_ms, metadata FROM calls WHERE id = ?1",
                &args![id],
                call_row,
            )?
            else {
                return Ok(None);
            };
            fill_summary(db, &mut call)?;
            let utterances = db.all(
                "SELECT id, call_id, leg, speaker, start_ms, end_ms, language, text, segments,
                        created_at, dropped, audio_masked
                 FROM utterances WHERE call_id = ?1 ORDER BY leg, start_ms, seq",
                &args![id],
                |r| {
                    Ok(UtteranceRecord {
                        id: r.get(0)?,
                        call_id: r.get(1)?,
                        leg: r.get(2)?,
                        speaker: r.speaker(3)?,
                        start_ms: r.get(4)?,
                        end_ms: r.get(5)?,
                        language: r.get(6)?,
                        text: r.get(7)?,
                        segments: r.json(8)?,
                        created_at: r.get(9)?,
                        dropped: r
                            .get::<Option<String>>(10)?
                            .and_then(|d| crate::transforms::asr::gate::DropReason::parse(&d)),
                        audio_masked: r
                            .get::<Option<String>>(11)?
                            .and_then(|m| serde_json::from_str(&m).ok())
                            .unwrap_or_default(),
                    })
                },
            )?;
            let hits = db.all(
                "SELECT id, call_id, leg, speaker, utterance_id, term, category, severity, matched,
                        span_start, span_end, start_ms, end_ms, created_at, match_mode, homophone
                 FROM hits WHERE call_id = ?1 ORDER BY start_ms, leg, id",
                &args![id],
                |r| {
                    Ok(HitRecord {
                        id: r.get(0)?,
                        call_id: r.get(1)?,
                        leg: r.get(2)?,
                        speaker: r.speaker(3)?,
                        utterance_id: r.get(4)?,
                        term: r.get(5)?,
                        category: r.get(6)?,
                        severity: r.get(7)?,
                        matched: r.get(8)?,
                        span_start: r.get(9)?,
                        span_end: r.get(10)?,
                        start_ms: r.get(11)?,
                        end_ms: r.get(12)?,
                        created_at: r.get(13)?,
                        how: r
                            .get::<Option<String>>(14)?
                            .and_then(|m| MatchMode::parse(&m))
                            .unwrap_or_default(),
                        homophone: r.get(15)?,
                    })
                },
            )?;
            let qa_report = db.one(
                "SELECT report FROM scores WHERE call_id = ?1",
                &args![id],
                |r| r.json(0),
            )?;
            let rule_firings = db.all(
                "SELECT id, call_id, rule_id, description, category, severity, actions, tags,
                        at_ms, evidence, created_at
                 FROM rule_firings WHERE call_id = ?1 ORDER BY at_ms, rule_id",
                &args![id],
                |r| {
                    Ok(RuleFiringRecord {
                        id: r.get(0)?,
                        call_id: r.get(1)?,
                        rule_id: r.get(2)?,
                        description: r.get(3)?,
                        category: r.get(4)?,
                        severity: r.get(5)?,
                        actions: serde_json::from_value(r.json(6)?).unwrap_or_default(),
                        tags: serde_json::from_value(r.json(7)?).unwrap_or_default(),
                        at_ms: r.get(8)?,
                        evidence: r.json(9)?,
                        created_at: r.get(10)?,
                    })
                },
            )?;
            let warnings = warnings_of(db, id)?;
            let review = super::review::review_of(db, id, qa_report.as_ref())?;
            Ok(Some(CallDetail {
                call,
                utterances,
                hits,
                qa_report,
                rule_firings,
                warnings,
                audio: super::audio_rows::audio_of(db, id)?,
                review,
            }))
        })
    }

    /// Runs `f` on a pooled connection inside one read transaction, so a page and the
    /// per-call counts it carries come from the same snapshot.
    pub(super) fn with_snapshot<T: Send>(
        &self,
        f: impl FnOnce(&mut dyn Read) -> Result<T, ArchiveError> + Send,
    ) -> Result<T, ArchiveError> {
        let limit = self.inner.query_timeout;
        let (path, idle) = match &self.inner.backend {
            Backend::Postgres(pg) => return pg.snapshot(limit, f),
            Backend::Sqlite { path, idle } => (path, idle),
        };
        let conn = idle.lock().map(|mut p| p.pop()).unwrap_or(None);
        let conn = match conn {
            Some(c) => c,
            None => schema::open_reader(path)?,
        };
        let deadline = Instant::now() + limit;
        conn.progress_handler(PROGRESS_EVERY, Some(move || Instant::now() >= deadline));
        let result = (|| {
            let tx = conn.unchecked_transaction()?;
            let out = f(&mut SqliteRead(&tx));
            tx.finish()?;
            out
        })();
        conn.progress_handler(0, None::<fn() -> bool>);
        let result = result.map_err(|e| match e {
            ArchiveError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if f.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                ArchiveError::QueryTimeout(limit)
            }
            other => other,
        });
        if let Ok(mut idle) = idle.lock() {
            if idle.len() < POOL_SIZE {
                idle.push(conn);
            }
        }
        result
    }
}

pub(super) fn call_row(r: &Row) -> Result<CallSummary, ArchiveError> {
    Ok(CallSummary {
        id: r.get(0)?,
        source: r.get(1)?,
        agent_id: r.get(2)?,
        queue: r.get(3)?,
        started_at: r.get(4)?,
        ended_at: r.get(5)?,
        end_reason: r.get(6)?,
        duration_ms: r.get(7)?,
        metadata: r.json(8)?,
        legs: Vec::new(),
        utterance_count: 0,
        dropped_count: 0,
        hit_count: 0,
        hits_by_category: Default::default(),
        qa: None,
        tags: Vec::new(),
        review: None,
    })
}

/// Adds legs and counts to a call row.
pub(super) fn fill_summary(db: &mut dyn Read, call: &mut CallSummary) -> Result<(), ArchiveError> {
    let id = &args![call.id];
    call.legs = db.all(
        "SELECT leg, speaker, participant, started_at FROM legs WHERE call_id = ?1
         ORDER BY started_at, leg",
        id,
        |r| {
            Ok(LegSummary {
                leg: r.get(0)?,
                speaker: r.speaker(1)?,
                participant: r.get(2)?,
                started_at: r.get(3)?,
            })
        },
    )?;
    (call.utterance_count, call.dropped_count) = db
        .one(
            "SELECT count(*) - count(dropped), count(dropped) FROM utterances WHERE call_id = ?1",
            id,
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .unwrap_or_default();
    call.hits_by_category = db
        .all(
            "SELECT category, count(*) FROM hits WHERE call_id = ?1 GROUP BY category",
            id,
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .into_iter()
        .collect();
    call.hit_count = call.hits_by_category.values().sum();
    call.qa = db.one(
        "SELECT scorecard_id, score, passed, scored_at FROM scores WHERE call_id = ?1",
        id,
        |r| {
            Ok(CallScore {
                scorecard_id: r.get(0)?,
                score: r.get(1)?,
                passed: r.get(2)?,
                failed_items: Vec::new(),
                scored_at: r.get(3)?,
            })
        },
    )?;
    if let Some(qa) = &mut call.qa {
        qa.failed_items = db.all(
            "SELECT item_id FROM score_failures WHERE call_id = ?1 ORDER BY item_id",
            id,
            |r| r.get(0),
        )?;
    }
    call.tags = db.all(
        "SELECT tag FROM call_tags WHERE call_id = ?1 ORDER BY tag",
        id,
        |r| r.get(0),
    )?;
    call.review = super::review::call_review_of(db, &call.id)?;
    Ok(())
}

pub(super) fn limit(limit: Option<u32>) -> Result<u32, ArchiveError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(ArchiveError::bad(format!(
            "limit {n} is out of range; use 1 to {MAX_LIMIT}"
        ))),
    }
}

pub(super) fn offset(offset: Option<u64>) -> Result<i64, ArchiveError> {
    match offset.unwrap_or(0) {
        n @ 0..=MAX_OFFSET => Ok(n as i64),
        n => Err(ArchiveError::bad(format!(
            "offset {n} is above {MAX_OFFSET}; page with cursor (next_cursor of the previous page) instead"
        ))),
    }
}

pub(super) fn time_arg(name: &str, value: &str) -> Result<i64, ArchiveError> {
    store::unix_ms(value).ok_or_else(|| {
        ArchiveError::bad(format!(
            "{name} {value:?} is not an RFC 3339 time; write it like 2024-05-01T09:30:00+08:00"
        ))
    })
}

pub(super) fn encode_cursor(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

pub(super) fn decode_cursor(cursor: &str, kind: &str) -> Option<String> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    raw.strip_prefix(kind)?
        .strip_prefix(':')
        .map(str::to_string)
}

pub(super) fn bad_cursor() -> ArchiveError {
    ArchiveError::bad(
        "cursor was not issued by this endpoint; pass next_cursor from the previous page unchanged",
    )
}

/// Limits `column` to `queues` (none at all for an empty list; no limit for `None`).
pub(super) fn queue_limit<V: From<String>>(
    sql: &mut String,
    args: &mut Vec<V>,
    column: &str,
    queues: Option<&[String]>,
) {
    let Some(queues) = queues else { return };
    if queues.is_empty() {
        sql.push_str(" AND 1 = 0");
        return;
    }
    let marks = vec!["?"; queues.len()].join(", ");
    sql.push_str(&format!(" AND {column} IN ({marks})"));
    args.extend(queues.iter().map(|q| V::from(q.clone())));
}

fn warnings_of(db: &mut dyn Read, call_id: &str) -> Result<Vec<CallWarning>, ArchiveError> {
    db.all(
        "SELECT call_id, tag, level, reason, evidence, tagged_at FROM call_warnings
         WHERE call_id = ?1 ORDER BY tagged_at, tag",
        &args![call_id],
        |r| {
            Ok(CallWarning {
                call_id: r.get(0)?,
                tag: r.get(1)?,
                level: r.get(2)?,
                reason: r.get(3)?,
                evidence: r.json(4).unwrap_or(serde_json::Value::Null),
                tagged_at: r.get(5)?,
            })
        },
    )
}
