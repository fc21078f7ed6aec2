//! The audit trail: who read or changed what, when and from where. Append-only (a trigger
//! refuses updates); only retention deletes the oldest rows.

use super::role::Principal;
use super::store::{ms, AuthError, AuthStore};
use crate::sinks::archive::sql::args;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Longest `detail` kept (a search query, say); longer ones are cut.
const MAX_DETAIL_CHARS: usize = 512;

/// Most rows one page of `GET /v1/audit` returns.
pub const MAX_PAGE: u32 = 500;

/// One audited action, as written.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    /// User or token name; `-` when nobody was authenticated (a failed login names the
    /// user it tried in `detail`).
    pub who: String,
    pub role: Option<String>,
    /// `login`, `login.failed`, `logout`, `call.read`, `search`, `calls.list`, `reload`,
    /// `user.add`, `token.create`, ...
    pub action: String,
    /// `ok`, or why it was refused.
    pub outcome: String,
    pub call_id: Option<String>,
    pub detail: Option<String>,
    /// The peer address (IP) of the request; `cli` for the command line.
    pub address: Option<String>,
}

impl AuditEntry {
    /// An entry for `action` by `who`.
    pub fn by(who: &Principal, action: &str) -> AuditEntry {
        AuditEntry {
            who: who.name.clone(),
            role: Some(who.role.as_str().into()),
            action: action.into(),
            outcome: "ok".into(),
            ..AuditEntry::default()
        }
    }

    /// Sets the call.
    pub fn call(mut self, id: &str) -> Self {
        self.call_id = Some(id.into());
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }

    /// Sets the address.
    pub fn from_addr(mut self, a: impl Into<String>) -> Self {
        self.address = Some(a.into());
        self
    }

    /// Sets the outcome.
    pub fn outcome(mut self, o: &str) -> Self {
        self.outcome = o.into();
        self
    }
}

/// One row of the trail, as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: String,
    pub who: String,
    pub role: Option<String>,
    pub action: String,
    pub outcome: String,
    pub call_id: Option<String>,
    pub detail: Option<String>,
    pub address: Option<String>,
}

/// Filters of `GET /v1/audit` and `callwatch audit`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    pub who: Option<String>,
    pub action: Option<String>,
    pub call_id: Option<String>,
    /// At or after (RFC 3339).
    pub from: Option<String>,
    /// Before (RFC 3339).
    pub to: Option<String>,
    /// Only rows older than this `seq` (the next page of a newest-first listing).
    pub before: Option<i64>,
    pub limit: Option<u32>,
}

/// A page of the trail, newest first; `next_before` continues it.
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub items: Vec<AuditRow>,
    pub next_before: Option<i64>,
}

impl AuthStore {
    /// Appends `entry` at `now`.
    pub fn audit(&self, entry: &AuditEntry, now: OffsetDateTime) -> Result<(), AuthError> {
        let detail = entry
            .detail
            .as_deref()
            .map(|d| d.chars().take(MAX_DETAIL_CHARS).collect::<String>());
        let row = args![
            crate::clock::rfc3339(now),
            ms(now),
            entry.who,
            entry.role,
            entry.action,
            entry.outcome,
            entry.call_id,
            detail,
            entry.address
        ];
        self.with_db(|db| {
            Ok(db.exec(
                "INSERT INTO audit (at, at_ms, who, role, action, outcome, call_id, detail, address)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                &row,
            )?)
        })?;
        Ok(())
    }

    /// A page of the trail matching `f`, newest first.
    pub fn audit_page(&self, f: &AuditFilter) -> Result<AuditPage, String> {
        let bound = |t: &Option<String>, name: &str| -> Result<Option<i64>, String> {
            t.as_deref()
                .map(|s| {
                    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .map(ms)
                        .map_err(|e| format!("`{name}` is not an RFC 3339 time ({e}): {s:?}"))
                })
                .transpose()
        };
        let (from, to) = (bound(&f.from, "from")?, bound(&f.to, "to")?);
        let limit = f.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_PAGE {
            return Err(format!("`limit` must be between 1 and {MAX_PAGE}"));
        }
        let filter = args![f.who, f.action, f.call_id, from, to, f.before, limit + 1];
        let rows = self
            .with_db(|db| {
                // The casts give PostgreSQL the type of a parameter that may be NULL.
                let rows = db.rows(
                    "SELECT seq, at, who, role, action, outcome, call_id, detail, address FROM audit
                     WHERE (CAST(?1 AS TEXT) IS NULL OR who = ?1)
                       AND (CAST(?2 AS TEXT) IS NULL OR action = ?2)
                       AND (CAST(?3 AS TEXT) IS NULL OR call_id = ?3)
                       AND (CAST(?4 AS BIGINT) IS NULL OR at_ms >= ?4)
                       AND (CAST(?5 AS BIGINT) IS NULL OR at_ms < ?5)
                       AND (CAST(?6 AS BIGINT) IS NULL OR seq < ?6)
                     ORDER BY seq DESC LIMIT ?7",
                    &filter,
                )?;
                rows.iter()
                    .map(|r| {
                        Ok(AuditRow {
                            seq: r.get(0)?,
                            at: r.get(1)?,
                            who: r.get(2)?,
                            role: r.get(3)?,
                            action: r.get(4)?,
                            outcome: r.get(5)?,
                            call_id: r.get(6)?,
                            detail: r.get(7)?,
                            address: r.get(8)?,
                        })
                    })
                    .collect::<Result<Vec<_>, AuthError>>()
            })
            .map_err(|e| format!("reading the audit trail: {e}"))?;
        let mut items = rows;
        let next_before = (items.len() > limit as usize).then(|| {
            items.truncate(limit as usize);
            items.last().map(|r| r.seq).unwrap_or_default()
        });
        Ok(AuditPage { items, next_before })
    }

    /// Deletes rows older than `days` before `now`; returns how many.
    pub fn purge_audit(&self, days: u32, now: OffsetDateTime) -> Result<usize, AuthError> {
        let cutoff = ms(now) - i64::from(days) * 86_400_000;
        self.with_db(|db| Ok(db.exec("DELETE FROM audit WHERE at_ms < ?1", &args![cutoff])?))
    }
}
