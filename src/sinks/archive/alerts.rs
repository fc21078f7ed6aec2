//! Call alerts for supervisors, as one list: complaint early warnings and composite rules
//! with the `alert_supervisor` action, each with its acknowledgement (the first one stands).

use super::error::ArchiveError;
use super::reader::ArchiveReader;
use super::rows::Row;
use super::sql::{args, Arg, Db};
use rusqlite::Connection;
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
    /// Alerts acknowledged whose acknowledgement the writer may not have archived yet: they
    /// count as acknowledged for `state`. Set by the server.
    #[serde(skip)]
    pub acked_pending: Vec<String>,
}

pub(crate) fn insert_ack<D: Db>(db: &mut D, a: &AlertAck) -> Result<(), D::Error> {
    db.exec(
        "INSERT OR IGNORE INTO alert_acks (alert_id, call_id, acked_by, role, acked_at, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &args![a.alert_id, a.call_id, a.acked_by, a.role, a.acked_at, a.note],
    )?;
    Ok(())
}

/// Makes `alert_id(call_id, kind, key)` callable in SQL on a reader connection, so alerts
/// are found and joined to their acknowledgements by id without a stored column. (The
/// PostgreSQL schema defines the same function in SQL.)
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "alert_id",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let (call, kind, key): (String, String, String) =
                (ctx.get(0)?, ctx.get(1)?, ctx.get(2)?);
            Ok(alert_id(&call, &kind, &key))
        },
    )
}

/// Both kinds of alert as one table, each with its acknowledgement's columns.
const ALERTS: &str = "SELECT a.*, k.acked_by, k.role, k.acked_at, k.note FROM (
       SELECT alert_id(w.call_id, 'warning', w.tag) AS id, 'warning' AS kind, w.call_id,
              w.tag AS key, w.level, w.reason, w.tagged_at AS at, c.queue, c.agent_id
       FROM call_warnings w JOIN calls c ON c.id = w.call_id
       UNION ALL
       SELECT alert_id(f.call_id, 'rule', f.rule_id), 'rule', f.call_id, f.rule_id, f.severity,
              f.description, f.created_at, c.queue, c.agent_id
       FROM rule_firings f JOIN calls c ON c.id = f.call_id
       WHERE f.actions LIKE '%alert_supervisor%'
     ) a LEFT JOIN alert_acks k ON k.alert_id = a.id
     WHERE 1 = 1";

fn alert_row(r: &Row) -> Result<AlertItem, ArchiveError> {
    let (alert_id, call_id): (String, String) = (r.get(0)?, r.get(2)?);
    let acked_by: Option<String> = r.get(9)?;
    Ok(AlertItem {
        ack: match acked_by {
            Some(acked_by) => Some(AlertAck {
                alert_id: alert_id.clone(),
                call_id: call_id.clone(),
                acked_by,
                role: r.get(10)?,
                acked_at: r.get(11)?,
                note: r.get(12)?,
            }),
            None => None,
        },
        alert_id,
        kind: r.get(1)?,
        call_id,
        key: r.get(3)?,
        level: r.get(4)?,
        reason: r.get(5)?,
        at: r.get(6)?,
        queue: r.get(7)?,
        agent_id: r.get(8)?,
    })
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
        let mut sql = String::from(ALERTS);
        let mut args: Vec<Arg> = Vec::new();
        let pending = || {
            let marks = vec!["?"; f.acked_pending.len()].join(",");
            format!("a.id IN ({marks})")
        };
        match f.state.as_deref().unwrap_or("open") {
            "open" if f.acked_pending.is_empty() => sql.push_str(" AND k.alert_id IS NULL"),
            "open" => sql.push_str(&format!(" AND k.alert_id IS NULL AND NOT {}", pending())),
            "acked" if f.acked_pending.is_empty() => sql.push_str(" AND k.alert_id IS NOT NULL"),
            "acked" => sql.push_str(&format!(" AND (k.alert_id IS NOT NULL OR {})", pending())),
            "all" => {}
            other => {
                return Err(ArchiveError::BadQuery(format!(
                    "state must be open, acked or all, got {other:?}"
                )))
            }
        }
        if f.state.as_deref() != Some("all") {
            args.extend(f.acked_pending.iter().map(|id| id.clone().into()));
        }
        if let Some(q) = &f.queue {
            sql.push_str(" AND a.queue = ?");
            args.push(q.clone().into());
        }
        super::reader::queue_limit(&mut sql, &mut args, "a.queue", f.visible_queues.as_deref());
        sql.push_str(" ORDER BY a.at DESC, a.id LIMIT ?");
        args.push(i64::from(limit).into());
        self.with_snapshot(|db| db.all(&sql, &args, alert_row))
    }

    /// The alert with this id, with its acknowledgement, however old.
    pub fn alert(&self, id: &str) -> Result<Option<AlertItem>, ArchiveError> {
        let sql = format!("{ALERTS} AND a.id = ?1 LIMIT 1");
        self.with_snapshot(|db| db.one(&sql, &args![id], alert_row))
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
