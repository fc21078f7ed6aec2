//! Queries over the archived surge alerts (the rows are written by the store; complaint
//! warnings are read with their call).

use super::error::ArchiveError;
use super::reader::{limit, offset, queue_limit, time_arg, ArchiveReader};
use super::record::SurgeAck;
use super::sql::{args, Arg as Value};
use crate::transforms::surge::{Metric, SurgeAlert, SurgeState};
use serde::Deserialize;

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

impl ArchiveReader {
    /// Whether a surge with this id was ever archived.
    pub fn surge_known(&self, surge_id: &str) -> Result<bool, ArchiveError> {
        self.with_snapshot(|db| {
            db.exists(
                "SELECT 1 FROM surges WHERE surge_id = ?1 LIMIT 1",
                &args![surge_id],
            )
        })
    }

    /// The acknowledgements of these surges, by surge id.
    pub fn surge_acks(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, SurgeAck>, ArchiveError> {
        self.with_snapshot(|db| {
            let mut out = std::collections::HashMap::new();
            for id in ids {
                if out.contains_key(id) {
                    continue;
                }
                let ack = db.one(
                    "SELECT surge_id, acked_by, role, acked_at, note FROM surge_acks
                     WHERE surge_id = ?1",
                    &args![id],
                    |r| {
                        Ok(SurgeAck {
                            surge_id: r.get(0)?,
                            acked_by: r.get(1)?,
                            role: r.get(2)?,
                            acked_at: r.get(3)?,
                            note: r.get(4)?,
                        })
                    },
                )?;
                if let Some(a) = ack {
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
            sql.push_str(" AND metric = 'calls'");
            queue_limit(&mut sql, &mut args, "key", Some(qs));
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
        self.with_snapshot(|db| {
            db.all(&sql, &args, |r| {
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
            })
        })
    }
}
