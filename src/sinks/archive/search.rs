//! Utterance search: exact substrings (`mode=exact`), or by sound (`mode=pinyin`, `mode=near`),
//! where exact matches rank first, then same-pinyin ones, then near ones; newest first within
//! each rank.

use super::error::ArchiveError;
use super::query::{Page, SearchHit, SearchQuery};
use super::reader::{
    bad_cursor, decode_cursor, encode_cursor, limit, offset, queue_limit, time_arg, ArchiveReader,
};
use super::sound::{self, SearchMode};
use super::sql::Arg;
use super::terms::{like_contains, merge, snippet, Terms, TRIGRAM};
use crate::call::Speaker;

/// SQL text with its positional arguments, in order.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    fn push(&mut self, text: &str, args: impl IntoIterator<Item = Arg>) {
        self.text.push_str(text);
        self.args.extend(args);
    }
}

/// Which backend a search runs on: the index predicates differ, the rest is the same SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// FTS5 trigram tables beside `utterances`; `LIKE` is ASCII case-insensitive.
    Sqlite,
    /// `pg_trgm` GIN indexes on `text` and `sound`, and a GIN index on `grams` (every 1- and
    /// 2-character substring, ASCII lower-cased) for terms too short for trigrams.
    Postgres,
}

impl Dialect {
    /// The case-insensitive `LIKE` of the dialect.
    fn like(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }
}

/// A term's sound patterns: the same-pinyin one first, then (near mode) one per free syllable.
fn patterns(syllables: &[&str], mode: SearchMode) -> Vec<String> {
    let mut out = vec![sound::like(syllables, None)];
    if mode == SearchMode::Near && sound::widens(syllables) {
        out.extend((0..syllables.len()).map(|i| sound::like(syllables, Some(i))));
    }
    out
}

/// The syllables of each term for a sound search; none for `exact`.
pub(super) fn sounds_of(
    terms: &Terms,
    mode: SearchMode,
) -> Result<Vec<Vec<&'static str>>, ArchiveError> {
    if mode == SearchMode::Exact {
        return Ok(Vec::new());
    }
    terms.terms().iter().map(|t| sound::syllables(t)).collect()
}

/// ` AND ...` conditions on the utterance row `u` for every term in `mode`, with their arguments.
pub(super) fn predicate(
    terms: &Terms,
    sounds: &[Vec<&str>],
    mode: SearchMode,
    dialect: Dialect,
) -> (String, Vec<Arg>) {
    let (mut text, mut args) = exact_predicate(terms, sounds, dialect);
    let (t, a) = sound_predicate(sounds, mode, dialect);
    text.push_str(&t);
    args.extend(a);
    (text, args)
}

/// The conditions of an `exact` search (none for a sound search).
fn exact_predicate(terms: &Terms, sounds: &[Vec<&str>], dialect: Dialect) -> (String, Vec<Arg>) {
    let mut sql = Sql::default();
    let mode_is_exact = sounds.is_empty();
    match dialect {
        Dialect::Sqlite if mode_is_exact => {
            if let Some(m) = terms.fts_match() {
                sql.push(
                    " AND u.seq IN (SELECT rowid FROM utterances_fts WHERE utterances_fts MATCH ?)",
                    [m.into()],
                );
            }
            for p in terms.like_patterns() {
                sql.push(" AND u.text LIKE ? ESCAPE '\\'", [p.into()]);
            }
        }
        Dialect::Postgres if mode_is_exact => {
            for t in terms.terms() {
                if t.chars().count() < TRIGRAM {
                    sql.push(" AND u.grams @> ARRAY[?]", [t.to_ascii_lowercase().into()]);
                } else {
                    sql.push(" AND u.text ILIKE ? ESCAPE '\\'", [like_contains(t).into()]);
                }
            }
        }
        _ => {}
    }
    (sql.text, sql.args)
}

/// ` AND ...` conditions for the sound terms of a `pinyin` or `near` search.
fn sound_predicate(sounds: &[Vec<&str>], mode: SearchMode, dialect: Dialect) -> (String, Vec<Arg>) {
    let mut sql = Sql::default();
    for s in sounds {
        let pats = patterns(s, mode);
        let any = match dialect {
            Dialect::Sqlite => {
                let union =
                    vec!["SELECT rowid FROM utterances_sound WHERE sound LIKE ?"; pats.len()]
                        .join(" UNION ");
                format!(" AND u.seq IN ({union})")
            }
            Dialect::Postgres => {
                format!(" AND ({})", vec!["u.sound LIKE ?"; pats.len()].join(" OR "))
            }
        };
        sql.push(&any, pats.into_iter().map(Arg::from));
    }
    (sql.text, sql.args)
}

/// A search as SQL for one backend, and what turns its rows into hits.
pub(super) struct Plan<'a> {
    pub sql: String,
    pub args: Vec<Arg>,
    terms: Terms,
    sounds: Vec<Vec<&'a str>>,
    mode: SearchMode,
    limit: u32,
}

/// One matching row, as both backends return it: `(seq, rank)` then the hit's columns.
pub(super) struct FoundRow {
    pub seq: i64,
    pub rank: i64,
    pub utterance_id: String,
    pub call_id: String,
    pub leg: String,
    pub speaker: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub language: String,
    pub created_at: String,
    pub text: String,
}

/// Plans the search `query` for `dialect`: utterances matching every term of `query.q` in
/// `query.mode`, best rank first, then most recently archived first. See the `terms` module
/// for how short exact terms are searched.
pub(super) fn plan(query: &SearchQuery, dialect: Dialect) -> Result<Plan<'static>, ArchiveError> {
    let terms = Terms::parse(&query.q)?;
    let mode = query.mode;
    let sounds: Vec<Vec<&'static str>> = sounds_of(&terms, mode)?;
    let limit = limit(query.limit)?;
    let like = dialect.like();
    let mut sql = Sql::default();
    sql.push(
        "SELECT seq, CAST(rank AS BIGINT) AS rank, id, call_id, leg, speaker, start_ms, end_ms,
                language, created_at, text
         FROM (SELECT u.seq, u.id, u.call_id, u.leg, u.speaker, u.start_ms, u.end_ms,
                u.language, u.created_at, u.text, ",
        [],
    );
    if sounds.is_empty() {
        sql.push("0", []);
    } else {
        let all = |col: &str, op: &str, pats: Vec<String>| {
            let cond = vec![format!("u.{col} {op} ? ESCAPE '\\'"); pats.len()].join(" AND ");
            (cond, pats.into_iter().map(Arg::from))
        };
        let (exact, a) = all(
            "text",
            like,
            terms.terms().iter().map(|t| like_contains(t)).collect(),
        );
        let (pinyin, b) = all(
            "sound",
            "LIKE",
            sounds.iter().map(|s| sound::like(s, None)).collect(),
        );
        sql.push(&format!("CASE WHEN {exact} THEN 0 WHEN "), a);
        sql.push(&format!("{pinyin} THEN 1 ELSE 2 END"), b);
    }
    sql.push(" AS rank FROM utterances u WHERE 1 = 1", []);
    let (text, args) = predicate(&terms, &sounds, mode, dialect);
    sql.push(&text, args);
    if let Some(qs) = query.visible_queues.as_deref() {
        sql.text
            .push_str(" AND u.call_id IN (SELECT c.id FROM calls c WHERE 1 = 1");
        queue_limit(&mut sql.text, &mut sql.args, "c.queue", Some(qs));
        sql.text.push(')');
    }
    if let Some(s) = query.speaker {
        sql.push(" AND u.speaker = ?", [s.as_str().to_string().into()]);
    }
    if let Some(id) = &query.call_id {
        sql.push(" AND u.call_id = ?", [id.clone().into()]);
    }
    if let Some(from) = &query.from {
        sql.push(
            " AND u.created_at_ms >= ?",
            [Arg::Int(time_arg("from", from)?)],
        );
    }
    if let Some(to) = &query.to {
        sql.push(" AND u.created_at_ms < ?", [Arg::Int(time_arg("to", to)?)]);
    }
    sql.push(") AS found WHERE 1 = 1", []);
    if let Some(cursor) = &query.cursor {
        let (rank, seq) = decode_search_cursor(cursor)?;
        sql.push(
            " AND (rank > ? OR (rank = ? AND seq < ?))",
            [Arg::Int(rank), Arg::Int(rank), Arg::Int(seq)],
        );
    }
    // Exact searches have one rank: ordering by it alone would keep SQLite from walking
    // the rowids newest first and stopping at the page, so it sorts every match instead.
    let order = if sounds.is_empty() {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY rank, seq DESC"
    };
    sql.push(
        &format!("{order} LIMIT ? OFFSET ?"),
        [Arg::Int(limit as i64 + 1), Arg::Int(offset(query.offset)?)],
    );
    Ok(Plan {
        sql: sql.text,
        args: sql.args,
        terms,
        sounds,
        mode,
        limit,
    })
}

impl Plan<'_> {
    /// The page of hits the rows of this plan's SQL make.
    pub(super) fn page(&self, rows: Vec<FoundRow>) -> Page<SearchHit> {
        let mut rows: Vec<((i64, i64), SearchHit)> = rows
            .into_iter()
            .map(|r| {
                let mut spans = self.terms.highlights(&r.text);
                for s in &self.sounds {
                    let found = sound::find(&r.text, s, self.mode == SearchMode::Near);
                    spans.extend(found.into_iter().map(|(span, _)| span));
                }
                let highlights = merge(spans);
                let hit = SearchHit {
                    utterance_id: r.utterance_id,
                    call_id: r.call_id,
                    leg: r.leg,
                    speaker: Speaker::parse(&r.speaker).unwrap_or_default(),
                    start_ms: r.start_ms.max(0) as u64,
                    end_ms: r.end_ms.max(0) as u64,
                    language: r.language,
                    created_at: r.created_at,
                    snippet: snippet(&r.text, &highlights),
                    highlights,
                    text: r.text,
                    how: match r.rank {
                        0 => SearchMode::Exact,
                        1 => SearchMode::Pinyin,
                        _ => SearchMode::Near,
                    },
                };
                ((r.rank, r.seq), hit)
            })
            .collect();
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = more
            .then(|| {
                rows.last()
                    .map(|((rank, seq), _)| encode_cursor(&format!("u:{rank}:{seq}")))
            })
            .flatten();
        Page {
            items: rows.into_iter().map(|(_, h)| h).collect(),
            next_cursor,
            total: None,
        }
    }
}

impl ArchiveReader {
    /// Utterances matching every term of `query.q` in `query.mode`, best rank first, then most
    /// recently archived first. See the `terms` module for how short exact terms are searched.
    pub fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>, ArchiveError> {
        let plan = plan(query, self.dialect())?;
        self.with_snapshot(|db| {
            let rows = db.all(&plan.sql, &plan.args, |r| {
                Ok(FoundRow {
                    seq: r.get(0)?,
                    rank: r.get(1)?,
                    utterance_id: r.get(2)?,
                    call_id: r.get(3)?,
                    leg: r.get(4)?,
                    speaker: r.get(5)?,
                    start_ms: r.get(6)?,
                    end_ms: r.get(7)?,
                    language: r.get(8)?,
                    created_at: r.get(9)?,
                    text: r.get(10)?,
                })
            })?;
            Ok(plan.page(rows))
        })
    }
}

/// `(rank, seq)` of a search cursor; cursors from before ranks (`u:{seq}`) are rank 0.
fn decode_search_cursor(cursor: &str) -> Result<(i64, i64), ArchiveError> {
    let raw = decode_cursor(cursor, "u").ok_or_else(bad_cursor)?;
    let parsed = match raw.split_once(':') {
        Some((rank, seq)) => rank.parse().ok().zip(seq.parse().ok()),
        None => raw.parse().ok().map(|seq| (0, seq)),
    };
    parsed
        .filter(|(rank, _)| (0..=2).contains(rank))
        .ok_or_else(bad_cursor)
}
