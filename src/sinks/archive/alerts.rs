//! Call alerts for supervisors, as one list: complaint early warnings and composite rules
//! with the `alert_supervisor` action, each with its acknowledgement (the first one stands).

use super::error::ArchiveError;
use super::reader::ArchiveReader;
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The id of a call alert: the same in the `alert` / `rule.fired` event, the list and the
/// acknowledgement. `kind` is `warning` (key: the warning's tag) or `rule` (key: the rule id;
/// a rule fires once per call).
pub fn alert_id(call_id: &str, kind: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{kind}\0{call_id}\0{key}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A supervisor's acknowledgement of a call alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertAck {
    pub alert_id: String,
    pub call_id: String,
    pub acked_by: String,
    pub role: Option<String>,
    pub acked_at: String,
    pub note: Option<String>,
}

/// One call alert as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertItem {
    pub alert_id: String,
    pub call_id: String,
    pub queue: Option<String>,
    pub agent_id: Option<String>,
    /// `warning` or `rule`.
    pub kind: String,
    /// The warning's tag or the rule's id.
    pub key: String,
    pub level: String,
    pub reason: String,
    /// RFC 3339.
    pub at: String,
    pub ack: Option<AlertAck>,
}

/// Which alerts [`ArchiveReader::list_alerts`] returns, newest first.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertFilter {
    pub queue: Option<String>,
    /// `open` (not acknowledged, the default), `acked` or `all`.
    pub state: Option<String>,
    /// 1 to 500; 100 when absent.
    pub limit: Option<u32>,
    /// Set by the server from the credential.
    #[serde(skip)]
    pub visible_queues: Option<Vec<String>>,
}

pub(crate) fn insert_ack(conn: &Connection, a: &AlertAck) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO alert_acks (alert_id, call_id, acked_by, role, acked_at, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        a.alert_id, a.call_id, a.acked_by, a.role, a.acked_at, a.note
    ])?;
    Ok(())
}

fn acks_of(conn: &Connection, call_id: &str) -> rusqlite::Result<Vec<AlertAck>> {
    conn.prepare_cached(
        "SELECT alert_id, call_id, acked_by, role, acked_at, note FROM alert_acks WHERE call_id = ?1",
    )?
    .query_map([call_id], |r| {
        Ok(AlertAck {
            alert_id: r.get(0)?,
            call_id: r.get(1)?,
            acked_by: r.get(2)?,
            role: r.get(3)?,
            acked_at: r.get(4)?,
            note: r.get(5)?,
        })
    })?
    .collect()
}

impl ArchiveReader {
    /// Call alerts, newest first.
    pub fn list_alerts(&self, f: &AlertFilter) -> Result<Vec<AlertItem>, ArchiveError> {
        let limit = f.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(ArchiveError::BadQuery(format!(
                "limit must be 1 to 500, got {limit}"
            )));
        }
        let state = f.state.as_deref().unwrap_or("open");
        if !matches!(state, "open" | "acked" | "all") {
            return Err(ArchiveError::BadQuery(format!(
                "state must be open, acked or all, got {state:?}"
            )));
        }
        // Both kinds as one list; queue limits apply to the call.
        let mut sql = String::from(
            "SELECT * FROM (
               SELECT 'warning' AS kind, w.call_id, w.tag AS key, w.level, w.reason,
                      w.tagged_at AS at, c.queue, c.agent_id
               FROM call_warnings w JOIN calls c ON c.id = w.call_id
               UNION ALL
               SELECT 'rule', f.call_id, f.rule_id, f.severity, f.description, f.created_at,
                      c.queue, c.agent_id
               FROM rule_firings f JOIN calls c ON c.id = f.call_id
               WHERE f.actions LIKE '%alert_supervisor%'
             ) WHERE 1 = 1",
        );
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(q) = &f.queue {
            sql.push_str(" AND queue = ?");
            args.push(q.clone().into());
        }
        if let Some(qs) = &f.visible_queues {
            if qs.is_empty() {
                sql.push_str(" AND 0");
            } else {
                sql.push_str(&format!(
                    " AND queue IN ({})",
                    vec!["?"; qs.len()].join(", ")
                ));
                args.extend(qs.iter().map(|q| q.clone().into()));
            }
        }
        // Filtered by state after the acks are joined, so read generously.
        sql.push_str(" ORDER BY at DESC LIMIT ?");
        args.push(i64::from(limit * 4).into());
        self.with_snapshot(|conn| {
            let rows = conn
                .prepare(&sql)?
                .query_map(rusqlite::params_from_iter(args), |r| {
                    let (kind, call_id, key): (String, String, String) =
                        (r.get(0)?, r.get(1)?, r.get(2)?);
                    Ok(AlertItem {
                        alert_id: alert_id(&call_id, &kind, &key),
                        call_id,
                        kind,
                        key,
                        level: r.get(3)?,
                        reason: r.get(4)?,
                        at: r.get(5)?,
                        queue: r.get(6)?,
                        agent_id: r.get(7)?,
                        ack: None,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::new();
            let mut acks: std::collections::HashMap<String, Vec<AlertAck>> = Default::default();
            for mut item in rows {
                if !acks.contains_key(&item.call_id) {
                    acks.insert(item.call_id.clone(), acks_of(conn, &item.call_id)?);
                }
                item.ack = acks[&item.call_id]
                    .iter()
                    .find(|a| a.alert_id == item.alert_id)
                    .cloned();
                let keep = match state {
                    "open" => item.ack.is_none(),
                    "acked" => item.ack.is_some(),
                    _ => true,
                };
                if keep && out.len() < limit as usize {
                    out.push(item);
                }
            }
            Ok(out)
        })
    }

    /// The alert with this id, if it exists (with its acknowledgement).
    pub fn alert(&self, alert: &str) -> Result<Option<AlertItem>, ArchiveError> {
        // Alerts are few per call; find by scanning the newest ones of every state.
        let all = self.list_alerts(&AlertFilter {
            state: Some("all".into()),
            limit: Some(500),
            ..Default::default()
        })?;
        Ok(all.into_iter().find(|a| a.alert_id == alert))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_ids_are_stable_and_separate_kinds_and_calls() {
        let a = alert_id("CA1", "warning", "complaint_escalation:regulator");
        assert_eq!(
            a,
            alert_id("CA1", "warning", "complaint_escalation:regulator")
        );
        assert_eq!(a.len(), 16);
        assert_ne!(
            a,
            alert_id("CA2", "warning", "complaint_escalation:regulator")
        );
        assert_ne!(
            alert_id("CA1", "rule", "x"),
            alert_id("CA1", "warning", "x")
        );
        // The separator keeps ("a\0b", "c") and ("a", "b\0c") apart in practice too.
        assert_ne!(alert_id("a", "rule", "bc"), alert_id("ab", "rule", "c"));
    }
}
