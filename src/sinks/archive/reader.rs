//! Read side of the archive: call listing, call detail and transcript search.
//!
//! Queries are blocking; async handlers run them inside `spawn_blocking`.

use super::error::ArchiveError;
use super::query::{CallDetail, CallScore, CallSummary, LegSummary, DEFAULT_LIMIT, MAX_LIMIT};
use super::record::{CallWarning, HitRecord, RuleFiringRecord, UtteranceRecord};
use super::{schema, store};
use crate::call::Speaker;
use crate::transforms::matcher::MatchMode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension, Row};
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

/// Read-only access to an archive. Cheap to clone; clones share a small connection pool.
#[derive(Clone)]
pub struct ArchiveReader {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    query_timeout: Duration,
}

impl ArchiveReader {
    /// Opens the archive at `path`, which a writer must have created.
    pub fn open(path: impl AsRef<Path>) -> Result<ArchiveReader, ArchiveError> {
        let path = path.as_ref().to_path_buf();
        // Opening one connection now reports a missing or foreign file at start-up.
        let first = schema::open_reader(&path)?;
        Ok(ArchiveReader {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(vec![first]),
                query_timeout: DEFAULT_QUERY_TIMEOUT,
            }),
        })
    }

    /// The same archive with every query stopped after `limit` (a search over months of
    /// calls must not hold a connection and a core for minutes).
    pub fn with_query_timeout(self, limit: Duration) -> ArchiveReader {
        let inner = Inner {
            path: self.inner.path.clone(),
            idle: Mutex::new(Vec::new()),
            query_timeout: limit,
        };
        ArchiveReader {
            inner: Arc::new(inner),
        }
    }
    /// Whether a call with this id is archived as ended (a new stream may not reuse its id).
    pub fn call_ended(&self, id: &str) -> Result<bool, ArchiveError> {
        self.with_snapshot(|conn| {
            Ok(conn
                .prepare_cached("SELECT ended_at IS NOT NULL FROM calls WHERE id = ?1")?
                .query_row([id], |r| r.get::<_, bool>(0))
                .optional()?
                .unwrap_or(false))
        })
    }

    /// Everything archived about one call, or `None` when the id is unknown.
    pub fn get_call(&self, id: &str) -> Result<Option<CallDetail>, ArchiveError> {
        self.with_snapshot(|conn| {
            let Some(mut call) = conn
                .prepare_cached(
                    "SELECT id, source, agent_id, queue, started_at, ended_at, end_reason,
                            duration_ms, metadata FROM calls WHERE id = ?1",
                )?
                .query_row([id], call_row)
                .optional()?
            else {
                return Ok(None);
            };
            fill_summary(conn, &mut call)?;
            let utterances = conn
                .prepare_cached(
                    "SELECT id, call_id, leg, speaker, start_ms, end_ms, language, text, segments,
                            created_at, dropped, audio_masked
                     FROM utterances WHERE call_id = ?1 ORDER BY leg, start_ms, seq",
                )?
                .query_map([id], |r| {
                    Ok(UtteranceRecord {
                        id: r.get(0)?,
                        call_id: r.get(1)?,
                        leg: r.get(2)?,
                        speaker: speaker(r, 3)?,
                        start_ms: r.get(4)?,
                        end_ms: r.get(5)?,
                        language: r.get(6)?,
                        text: r.get(7)?,
                        segments: json(r, 8)?,
                        created_at: r.get(9)?,
                        dropped: r
                            .get::<_, Option<String>>(10)?
                            .and_then(|d| crate::transforms::asr::gate::DropReason::parse(&d)),
                        audio_masked: r
                            .get::<_, Option<String>>(11)?
                            .and_then(|m| serde_json::from_str(&m).ok())
                            .unwrap_or_default(),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let hits = conn
                .prepare_cached(
                    "SELECT id, call_id, leg, speaker, utterance_id, term, category, severity, matched,
                            span_start, span_end, start_ms, end_ms, created_at, match_mode, homophone
                     FROM hits WHERE call_id = ?1 ORDER BY start_ms, leg, id",
                )?
                .query_map([id], |r| {
                    Ok(HitRecord {
                        id: r.get(0)?,
                        call_id: r.get(1)?,
                        leg: r.get(2)?,
                        speaker: speaker(r, 3)?,
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
                            .get::<_, String>(14)
                            .ok()
                            .and_then(|m| MatchMode::parse(&m))
                            .unwrap_or_default(),
                        homophone: r.get(15)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let qa_report = conn
                .prepare_cached("SELECT report FROM scores WHERE call_id = ?1")?
                .query_row([id], |r| json(r, 0))
                .optional()?;
            let rule_firings = conn
                .prepare_cached(
                    "SELECT id, call_id, rule_id, description, category, severity, actions, tags,
                            at_ms, evidence, created_at
                     FROM rule_firings WHERE call_id = ?1 ORDER BY at_ms, rule_id",
                )?
                .query_map([id], |r| {
                    Ok(RuleFiringRecord {
                        id: r.get(0)?,
                        call_id: r.get(1)?,
                        rule_id: r.get(2)?,
                        description: r.get(3)?,
                        category: r.get(4)?,
                        severity: r.get(5)?,
                        actions: serde_json::from_value(json(r, 6)?).unwrap_or_default(),
                        tags: serde_json::from_value(json(r, 7)?).unwrap_or_default(),
                        at_ms: r.get(8)?,
                        evidence: json(r, 9)?,
                        created_at: r.get(10)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let warnings = warnings_of(conn, id)?;
            let review = super::review::review_of(conn, id, qa_report.as_ref())?;
            Ok(Some(CallDetail {
                call,
                utterances,
                hits,
                qa_report,
                rule_firings,
                warnings,
                audio: super::audio_rows::audio_of(conn, id)?,
                review,
            }))
        })
    }

    /// Runs `f` on a pooled connection inside one read transaction, so a page and the
    /// per-call counts it carries come from the same snapshot.
    pub(super) fn with_snapshot<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ArchiveError>,
    ) -> Result<T, ArchiveError> {
        let conn = self.inner.idle.lock().map(|mut p| p.pop()).unwrap_or(None);
        let conn = match conn {
            Some(c) => c,
            None => schema::open_reader(&self.inner.path)?,
        };
        let limit = self.inner.query_timeout;
        let deadline = Instant::now() + limit;
        conn.progress_handler(PROGRESS_EVERY, Some(move || Instant::now() >= deadline));
        let result = (|| {
            let tx = conn.unchecked_transaction()?;
            let out = f(&tx);
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
        if let Ok(mut idle) = self.inner.idle.lock() {
            if idle.len() < POOL_SIZE {
                idle.push(conn);
            }
        }
        result
    }
}

pub(super) fn call_row(r: &Row<'_>) -> rusqlite::Result<CallSummary> {
    Ok(CallSummary {
        id: r.get(0)?,
        source: r.get(1)?,
        agent_id: r.get(2)?,
        queue: r.get(3)?,
        started_at: r.get(4)?,
        ended_at: r.get(5)?,
        end_reason: r.get(6)?,
        duration_ms: r.get(7)?,
        metadata: json(r, 8)?,
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
pub(super) fn fill_summary(conn: &Connection, call: &mut CallSummary) -> rusqlite::Result<()> {
    call.legs = conn
        .prepare_cached(
            "SELECT leg, speaker, participant, started_at FROM legs WHERE call_id = ?1
             ORDER BY started_at, leg",
        )?
        .query_map([&call.id], |r| {
            Ok(LegSummary {
                leg: r.get(0)?,
                speaker: speaker(r, 1)?,
                participant: r.get(2)?,
                started_at: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    (call.utterance_count, call.dropped_count) = conn
        .prepare_cached(
            "SELECT count(*) - count(dropped), count(dropped) FROM utterances WHERE call_id = ?1",
        )?
        .query_row([&call.id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    call.hits_by_category = conn
        .prepare_cached("SELECT category, count(*) FROM hits WHERE call_id = ?1 GROUP BY category")?
        .query_map(params![call.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    call.hit_count = call.hits_by_category.values().sum();
    call.qa = conn
        .prepare_cached(
            "SELECT scorecard_id, score, passed, scored_at FROM scores WHERE call_id = ?1",
        )?
        .query_row([&call.id], |r| {
            Ok(CallScore {
                scorecard_id: r.get(0)?,
                score: r.get(1)?,
                passed: r.get(2)?,
                failed_items: Vec::new(),
                scored_at: r.get(3)?,
            })
        })
        .optional()?;
    if let Some(qa) = &mut call.qa {
        qa.failed_items = conn
            .prepare_cached(
                "SELECT item_id FROM score_failures WHERE call_id = ?1 ORDER BY item_id",
            )?
            .query_map([&call.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    call.tags = conn
        .prepare_cached("SELECT tag FROM call_tags WHERE call_id = ?1 ORDER BY tag")?
        .query_map([&call.id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    call.review = super::review::call_review_of(conn, &call.id)?;
    Ok(())
}

pub(super) fn speaker(r: &Row<'_>, i: usize) -> rusqlite::Result<Speaker> {
    let s: String = r.get(i)?;
    Ok(Speaker::parse(&s).unwrap_or_default())
}

pub(super) fn json(r: &Row<'_>, i: usize) -> rusqlite::Result<serde_json::Value> {
    let s: String = r.get(i)?;
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
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

fn warnings_of(conn: &Connection, call_id: &str) -> rusqlite::Result<Vec<CallWarning>> {
    conn.prepare_cached(
        "SELECT call_id, tag, level, reason, evidence, tagged_at FROM call_warnings
         WHERE call_id = ?1 ORDER BY tagged_at, tag",
    )?
    .query_map([call_id], |r| {
        let evidence: String = r.get(4)?;
        Ok(CallWarning {
            call_id: r.get(0)?,
            tag: r.get(1)?,
            level: r.get(2)?,
            reason: r.get(3)?,
            evidence: serde_json::from_str(&evidence).unwrap_or(serde_json::Value::Null),
            tagged_at: r.get(5)?,
        })
    })?
    .collect()
}
