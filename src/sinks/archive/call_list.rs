//! The call list: every filter a QA reviewer narrows calls by, sorting with keyset paging,
//! the count of matching calls, and the CSV export of them.

use super::error::ArchiveError;
use super::query::{CallFilter, CallSummary, Page};
use super::reader::{
    bad_cursor, call_row, decode_cursor, encode_cursor, fill_summary, limit, offset, queue_limit,
    time_arg, ArchiveReader,
};
use super::search::Dialect;
use super::sql::Arg as Value;
use super::terms::Terms;

/// Most calls one CSV export holds.
pub const MAX_EXPORT: u32 = 10_000;

/// How calls are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Newest,
    Oldest,
    ScoreAsc,
    ScoreDesc,
}

impl Sort {
    fn parse(s: Option<&str>) -> Result<Sort, ArchiveError> {
        Ok(match s.unwrap_or("newest") {
            "newest" => Sort::Newest,
            "oldest" => Sort::Oldest,
            "score_asc" => Sort::ScoreAsc,
            "score_desc" => Sort::ScoreDesc,
            other => {
                return Err(ArchiveError::bad(format!(
                    "sort {other:?}: use newest, oldest, score_asc or score_desc"
                )))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Oldest => "oldest",
            Sort::ScoreAsc => "score_asc",
            Sort::ScoreDesc => "score_desc",
        }
    }

    /// The sort key; unscored calls sort as -1.
    fn key(self) -> &'static str {
        match self {
            Sort::Newest | Sort::Oldest => "c.started_at_ms",
            Sort::ScoreAsc | Sort::ScoreDesc => {
                "coalesce((SELECT s.score FROM scores s WHERE s.call_id = c.id), -1.0)"
            }
        }
    }

    fn descending(self) -> bool {
        matches!(self, Sort::Newest | Sort::ScoreDesc)
    }
}

/// `WHERE` conditions (after `WHERE 1 = 1`) and their arguments for `f`, cursor excluded.
fn conditions(f: &CallFilter, dialect: Dialect) -> Result<(String, Vec<Value>), ArchiveError> {
    let mut sql = String::new();
    let mut args: Vec<Value> = Vec::new();
    queue_limit(&mut sql, &mut args, "c.queue", f.visible_queues.as_deref());
    if let Some(from) = &f.from {
        sql.push_str(" AND c.started_at_ms >= ?");
        args.push(time_arg("from", from)?.into());
    }
    if let Some(to) = &f.to {
        sql.push_str(" AND c.started_at_ms < ?");
        args.push(time_arg("to", to)?.into());
    }
    for (value, column) in [
        (&f.queue, "c.queue"),
        (&f.source, "c.source"),
        (&f.end_reason, "c.end_reason"),
    ] {
        if let Some(v) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            args.push(v.clone().into());
        }
    }
    if let Some(agent) = &f.agent_id {
        sql.push_str(
            " AND (c.agent_id = ? OR EXISTS (SELECT 1 FROM legs l WHERE l.call_id = c.id
                   AND l.speaker = 'agent' AND l.participant = ?))",
        );
        args.extend([agent.clone().into(), agent.clone().into()]);
    }
    if let Some(p) = &f.participant {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM legs l WHERE l.call_id = c.id AND l.participant = ?)",
        );
        args.push(p.clone().into());
    }
    if let Some(s) = f.speaker {
        sql.push_str(" AND EXISTS (SELECT 1 FROM legs l WHERE l.call_id = c.id AND l.speaker = ?)");
        args.push(s.as_str().to_string().into());
    }
    if f.category.is_some() || f.term.is_some() || f.has_hits.is_some() || f.verdict.is_some() {
        let mut hit = String::from("SELECT 1 FROM hits h WHERE h.call_id = c.id");
        if let Some(cat) = &f.category {
            hit.push_str(" AND h.category = ?");
            args.push(cat.clone().into());
        }
        if let Some(term) = &f.term {
            hit.push_str(" AND h.term = ?");
            args.push(term.clone().into());
        }
        if let Some(s) = f.speaker {
            hit.push_str(" AND h.speaker = ?");
            args.push(s.as_str().to_string().into());
        }
        match f.verdict.as_deref() {
            None => {}
            Some(v @ ("confirmed" | "rejected")) => {
                hit.push_str(" AND EXISTS (SELECT 1 FROM hit_reviews r WHERE r.hit_id = h.id AND r.verdict = ?)");
                args.push(v.to_string().into());
            }
            Some("unreviewed") => {
                hit.push_str(" AND NOT EXISTS (SELECT 1 FROM hit_reviews r WHERE r.hit_id = h.id)")
            }
            Some(other) => {
                return Err(ArchiveError::bad(format!(
                    "verdict {other:?}: use confirmed, rejected or unreviewed"
                )))
            }
        }
        let negate = if f.has_hits == Some(false) {
            "NOT "
        } else {
            ""
        };
        sql.push_str(&format!(" AND {negate}EXISTS ({hit})"));
    }
    for (value, op, name) in [
        (f.min_score, ">=", "min_score"),
        (f.max_score, "<=", "max_score"),
    ] {
        if let Some(v) = value {
            if !(0.0..=100.0).contains(&v) {
                return Err(ArchiveError::BadQuery(format!(
                    "{name} must be a score between 0 and 100, got {v}"
                )));
            }
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM scores s WHERE s.call_id = c.id AND s.score {op} ?)"
            ));
            args.push(v.into());
        }
    }
    if let Some(p) = f.passed {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM scores s WHERE s.call_id = c.id AND s.passed = ?)",
        );
        args.push(i64::from(p).into());
    }
    if let Some(item) = &f.failed_item {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM score_failures x WHERE x.call_id = c.id AND x.item_id = ?)",
        );
        args.push(item.clone().into());
    }
    if let Some(tag) = &f.tag {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM call_tags t WHERE t.call_id = c.id AND t.tag = ?)",
        );
        args.push(tag.clone().into());
    }
    if let Some(rule) = &f.rule {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM rule_firings r WHERE r.call_id = c.id AND r.rule_id = ?)",
        );
        args.push(rule.clone().into());
    }
    if let Some(level) = &f.alert_level {
        sql.push_str(
            " AND (EXISTS (SELECT 1 FROM call_warnings w WHERE w.call_id = c.id AND w.level = ?)
                OR EXISTS (SELECT 1 FROM rule_firings r WHERE r.call_id = c.id AND r.severity = ?
                           AND r.actions LIKE '%alert_supervisor%'))",
        );
        args.extend([level.clone().into(), level.clone().into()]);
    }
    if let Some(reviewed) = f.reviewed {
        let negate = if reviewed { "" } else { "NOT " };
        sql.push_str(&format!(
            " AND {negate}EXISTS (SELECT 1 FROM call_reviews v WHERE v.call_id = c.id)"
        ));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.trim().is_empty()) {
        // Every term said in one utterance of the call (by `speaker`, when given).
        let terms = Terms::parse(q)?;
        let mut u = String::from("SELECT 1 FROM utterances u WHERE u.call_id = c.id");
        let sounds = super::search::sounds_of(&terms, f.mode)?;
        let (text, matched) = super::search::predicate(&terms, &sounds, f.mode, dialect);
        u.push_str(&text);
        args.extend(matched);
        if let Some(s) = f.speaker {
            u.push_str(" AND u.speaker = ?");
            args.push(s.as_str().to_string().into());
        }
        sql.push_str(&format!(" AND EXISTS ({u})"));
    }
    Ok((sql, args))
}

const COLUMNS: &str = "c.id, c.source, c.agent_id, c.queue, c.started_at, c.ended_at, c.end_reason,
                       c.duration_ms, c.metadata";

impl ArchiveReader {
    /// Calls matching `filter`, in `filter.sort` order (newest first by default), with the
    /// number of matching calls.
    pub fn list_calls(&self, filter: &CallFilter) -> Result<Page<CallSummary>, ArchiveError> {
        let limit = limit(filter.limit)?;
        let sort = Sort::parse(filter.sort.as_deref())?;
        let (cond, cond_args) = conditions(filter, self.dialect())?;
        let count_sql = format!("SELECT count(*) FROM calls c WHERE 1 = 1{cond}");
        let count_args = cond_args.clone();
        let key = sort.key();
        let mut sql = format!("SELECT {COLUMNS}, {key} FROM calls c WHERE 1 = 1{cond}");
        let mut args = cond_args;
        let (cmp, dir) = if sort.descending() {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some(cursor) = &filter.cursor {
            let (k, id) = decode(cursor, sort)?;
            sql.push_str(&format!(
                " AND ({key} {cmp} ? OR ({key} = ? AND c.id {cmp} ?))"
            ));
            args.extend([k.clone(), k, id.into()]);
        }
        sql.push_str(&format!(
            " ORDER BY {key} {dir}, c.id {dir} LIMIT ? OFFSET ?"
        ));
        args.push((limit as i64 + 1).into());
        args.push(offset(filter.offset)?.into());
        self.with_snapshot(|db| {
            let mut rows = db.all(&sql, &args, |r| Ok((call_row(r)?, r.get::<Value>(9)?)))?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = more
                .then(|| rows.last().map(|(c, k)| encode(sort, k, &c.id)))
                .flatten();
            let total: u64 = db.value(&count_sql, &count_args)?.unwrap_or(0);
            let mut items = Vec::with_capacity(rows.len());
            for (mut call, _) in rows {
                fill_summary(db, &mut call)?;
                items.push(call);
            }
            Ok(Page {
                items,
                next_cursor,
                total: Some(total),
            })
        })
    }

    /// Every call matching `filter` (cursor, limit and offset ignored) in its sort order, at
    /// most [`MAX_EXPORT`]; `Err(BadQuery)` when more match (narrow the filter).
    pub fn export_calls(&self, filter: &CallFilter) -> Result<Vec<CallSummary>, ArchiveError> {
        let mut f = filter.clone();
        f.cursor = None;
        f.offset = None;
        f.limit = Some(super::query::MAX_LIMIT);
        let mut out = Vec::new();
        loop {
            let page = self.list_calls(&f)?;
            if page.total.unwrap_or(0) > MAX_EXPORT as u64 {
                return Err(ArchiveError::BadQuery(format!(
                    "{} calls match; an export holds at most {MAX_EXPORT}: narrow the filter (e.g. a shorter time range)",
                    page.total.unwrap_or(0)
                )));
            }
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => f.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}

fn encode(sort: Sort, key: &Value, id: &str) -> String {
    let k = match key {
        Value::Int(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        _ => "0".into(),
    };
    encode_cursor(&format!("c:{}:{k}:{id}", sort.name()))
}

fn decode(cursor: &str, sort: Sort) -> Result<(Value, String), ArchiveError> {
    let rest = decode_cursor(cursor, "c").ok_or_else(bad_cursor)?;
    let (name, rest) = rest.split_once(':').ok_or_else(bad_cursor)?;
    if name != sort.name() {
        return Err(ArchiveError::bad(
            "cursor was issued for another sort order; start again from the first page",
        ));
    }
    let (k, id) = rest.split_once(':').ok_or_else(bad_cursor)?;
    let key = match sort {
        Sort::Newest | Sort::Oldest => Value::Int(k.parse().map_err(|_| bad_cursor())?),
        Sort::ScoreAsc | Sort::ScoreDesc => Value::Real(k.parse().map_err(|_| bad_cursor())?),
    };
    Ok((key, id.to_string()))
}
