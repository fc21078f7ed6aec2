//! Archive rows for surge alerts and complaint early warnings, and the queries over them.

use super::error::ArchiveError;
use super::reader::{limit, offset, time_arg, ArchiveReader};
use super::store::unix_ms;
use crate::transforms::surge::{Metric, SurgeAlert, SurgeState};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection};
use serde::{Deserialize, Serialize};

/// A complaint early warning on a call, with the utterances that caused it. Its `tag` is also
/// added to the call's tags, so `GET /v1/calls?tag=` finds the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallWarning {
    pub call_id: String,
    /// `complaint_escalation:<signal>`.
    pub tag: String,
    pub level: String,
    pub reason: String,
    /// The alert's evidence (utterance ids, texts, matched phrases) as JSON.
    pub evidence: serde_json::Value,
    /// RFC 3339.
    pub tagged_at: String,
}

/// Which archived surge alerts [`ArchiveReader::list_surges`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SurgeFilter {
    /// `calls`, `topic` or `phrase`.
    pub metric: Option<String>,
    /// Queue label, topic id or category.
    pub key: Option<String>,
    /// `raised` or `cleared`.
    pub state: Option<String>,
    /// Alerts whose window ended at or after this RFC 3339 time.
    pub from: Option<String>,
    /// Alerts whose window ended before this RFC 3339 time.
    pub to: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    /// Only call-volume surges of these queues (a queue-limited reader); `None`: everything.
    /// Set by the server from the reader's credential, never from a query.
    #[serde(skip)]
    pub queues: Option<Vec<String>>,
}

pub(crate) fn insert_surge(conn: &Connection, a: &SurgeAlert) -> rusqlite::Result<()> {
    let end_ms = unix_ms(&a.window_end).unwrap_or(0);
    conn.prepare_cached(
        "INSERT OR IGNORE INTO surges (surge_id, metric, key, state, window_s, observed, expected,
            ratio, p_value, window_end, window_end_ms, raised_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        a.surge_id,
        a.metric.as_str(),
        a.key,
        a.state.as_str(),
        a.window_s,
        a.observed,
        a.expected,
        a.ratio,
        a.p_value,
        a.window_end,
        end_ms,
        a.raised_at,
    ])?;
    Ok(())
}

pub(crate) fn insert_warning(conn: &Connection, t: &CallWarning) -> rusqlite::Result<()> {
    super::store::ensure_call(conn, &t.call_id, &t.tagged_at)?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO call_tags (call_id, tag, rule_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![t.call_id, t.tag, "assist"])?;
    // A call keeps the first evidence for a warning: that is when it was raised.
    conn.prepare_cached(
        "INSERT OR IGNORE INTO call_warnings (call_id, tag, level, reason, evidence, tagged_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        t.call_id,
        t.tag,
        t.level,
        t.reason,
        t.evidence.to_string(),
        t.tagged_at
    ])?;
    Ok(())
}

pub(crate) fn warnings_of(conn: &Connection, call_id: &str) -> rusqlite::Result<Vec<CallWarning>> {
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

/// Who acknowledged a surge alert, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurgeAck {
    pub surge_id: String,
    pub acked_by: String,
    pub role: Option<String>,
    /// RFC 3339.
    pub acked_at: String,
    pub note: Option<String>,
}

pub(crate) fn insert_surge_ack(conn: &Connection, a: &SurgeAck) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO surge_acks (surge_id, acked_by, role, acked_at, note)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![a.surge_id, a.acked_by, a.role, a.acked_at, a.note])?;
    Ok(())
}

impl ArchiveReader {
    /// Whether a surge with this id was ever archived.
    pub fn surge_known(&self, surge_id: &str) -> Result<bool, ArchiveError> {
        self.with_snapshot(|conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM surges WHERE surge_id = ?1 LIMIT 1")?
                .exists(params![surge_id])?)
        })
    }

    /// The acknowledgements of these surges, by surge id.
    pub fn surge_acks(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, SurgeAck>, ArchiveError> {
        self.with_snapshot(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT surge_id, acked_by, role, acked_at, note FROM surge_acks WHERE surge_id = ?1",
            )?;
            let mut out = std::collections::HashMap::new();
            for id in ids {
                if out.contains_key(id) {
                    continue;
                }
                let mut rows = stmt.query_map(params![id], |r| {
                    Ok(SurgeAck {
                        surge_id: r.get(0)?,
                        acked_by: r.get(1)?,
                        role: r.get(2)?,
                        acked_at: r.get(3)?,
                        note: r.get(4)?,
                    })
                })?;
                if let Some(a) = rows.next().transpose()? {
                    out.insert(id.clone(), a);
                }
            }
            Ok(out)
        })
    }

    /// Archived surge alerts matching `filter`, newest first.
    pub fn list_surges(&self, filter: &SurgeFilter) -> Result<Vec<SurgeAlert>, ArchiveError> {
        let limit = limit(filter.limit)?;
        let mut sql = String::from(
            "SELECT surge_id, metric, key, state, window_s, observed, expected, ratio, p_value,
                    window_end, raised_at FROM surges WHERE 1 = 1",
        );
        let mut args: Vec<Value> = Vec::new();
        if let Some(m) = &filter.metric {
            if Metric::parse(m).is_none() {
                return Err(ArchiveError::bad(format!(
                    "metric {m:?} is unknown; use calls, topic, phrase or emerging"
                )));
            }
            sql.push_str(" AND metric = ?");
            args.push(m.clone().into());
        }
        if let Some(k) = &filter.key {
            sql.push_str(" AND key = ?");
            args.push(k.clone().into());
        }
        if let Some(qs) = &filter.queues {
            sql.push_str(" AND metric = 'calls' AND key IN (SELECT value FROM json_each(?))");
            args.push(serde_json::to_string(qs).unwrap_or_default().into());
        }
        if let Some(s) = &filter.state {
            if s != "raised" && s != "cleared" {
                return Err(ArchiveError::bad(format!(
                    "state {s:?} is unknown; use raised or cleared"
                )));
            }
            sql.push_str(" AND state = ?");
            args.push(s.clone().into());
        }
        if let Some(from) = &filter.from {
            sql.push_str(" AND window_end_ms >= ?");
            args.push(time_arg("from", from)?.into());
        }
        if let Some(to) = &filter.to {
            sql.push_str(" AND window_end_ms < ?");
            args.push(time_arg("to", to)?.into());
        }
        sql.push_str(" ORDER BY window_end_ms DESC, seq DESC LIMIT ? OFFSET ?");
        args.push((limit as i64).into());
        args.push(offset(filter.offset)?.into());
        self.with_snapshot(|conn| {
            Ok(conn
                .prepare(&sql)?
                .query_map(params_from_iter(args), |r| {
                    let metric: String = r.get(1)?;
                    let state: String = r.get(3)?;
                    Ok(SurgeAlert {
                        surge_id: r.get(0)?,
                        metric: Metric::parse(&metric).unwrap_or(Metric::Calls),
                        key: r.get(2)?,
                        state: if state == "cleared" {
                            SurgeState::Cleared
                        } else {
                            SurgeState::Raised
                        },
                        window_s: r.get(4)?,
                        observed: r.get(5)?,
                        expected: r.get(6)?,
                        ratio: r.get(7)?,
                        p_value: r.get(8)?,
                        window_end: r.get(9)?,
                        raised_at: r.get(10)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
