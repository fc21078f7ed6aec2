//! Utterance search: exact substrings (`mode=exact`), or by sound (`mode=pinyin`, `mode=near`),
//! where exact matches rank first, then same-pinyin ones, then near ones; newest first within
//! each rank.

use super::error::ArchiveError;
use super::query::{Page, SearchHit, SearchQuery};
use super::reader::{
    bad_cursor, decode_cursor, encode_cursor, limit, offset, queue_limit, speaker, time_arg,
    ArchiveReader,
};
use super::sound::{self, SearchMode};
use super::terms::{like_contains, merge, snippet, Terms};
use rusqlite::params_from_iter;
use rusqlite::types::Value;

/// SQL text with its positional arguments, in order.
#[derive(Default)]
struct Sql {
    text: String,
    args: Vec<Value>,
}

impl Sql {
    fn push(&mut self, text: &str, args: impl IntoIterator<Item = Value>) {
        self.text.push_str(text);
        self.args.extend(args);
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
pub(super) fn sounds_of(terms: &Terms, mode: SearchMode) -> Result<Vec<Vec<&str>>, ArchiveError> {
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
) -> (String, Vec<Value>) {
    let mut sql = Sql::default();
    if sounds.is_empty() {
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
    for s in sounds {
        let pats = patterns(s, mode);
        let union = vec!["SELECT rowid FROM utterances_sound WHERE sound LIKE ?"; pats.len()]
            .join(" UNION ");
        sql.push(
            &format!(" AND u.seq IN ({union})"),
            pats.into_iter().map(Value::from),
        );
    }
    (sql.text, sql.args)
}

impl ArchiveReader {
    /// Utterances matching every term of `query.q` in `query.mode`, best rank first, then most
    /// recently archived first. See the `terms` module for how short exact terms are searched.
    pub fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>, ArchiveError> {
        let terms = Terms::parse(&query.q)?;
        let mode = query.mode;
        let sounds = sounds_of(&terms, mode)?;
        let limit = limit(query.limit)?;
        let mut sql = Sql::default();
        sql.push(
            "SELECT * FROM (SELECT u.seq, u.id, u.call_id, u.leg, u.speaker, u.start_ms, u.end_ms,
                    u.language, u.created_at, u.text, ",
            [],
        );
        if sounds.is_empty() {
            sql.push("0", []);
        } else {
            let all = |col: &str, pats: Vec<String>| {
                let cond = vec![format!("u.{col} LIKE ? ESCAPE '\\'"); pats.len()].join(" AND ");
                (cond, pats.into_iter().map(Value::from))
            };
            let (exact, a) = all(
                "text",
                terms.terms().iter().map(|t| like_contains(t)).collect(),
            );
            let (pinyin, b) = all(
                "sound",
                sounds.iter().map(|s| sound::like(s, None)).collect(),
            );
            sql.push(&format!("CASE WHEN {exact} THEN 0 WHEN "), a);
            sql.push(&format!("{pinyin} THEN 1 ELSE 2 END"), b);
        }
        sql.push(" AS rank FROM utterances u WHERE 1 = 1", []);
        let (text, args) = predicate(&terms, &sounds, mode);
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
                [time_arg("from", from)?.into()],
            );
        }
        if let Some(to) = &query.to {
            sql.push(" AND u.created_at_ms < ?", [time_arg("to", to)?.into()]);
        }
        sql.push(") WHERE 1 = 1", []);
        if let Some(cursor) = &query.cursor {
            let (rank, seq) = decode_search_cursor(cursor)?;
            sql.push(
                " AND (rank > ? OR (rank = ? AND seq < ?))",
                [rank.into(), rank.into(), seq.into()],
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
            [(limit as i64 + 1).into(), offset(query.offset)?.into()],
        );

        self.with_snapshot(|conn| {
            let mut rows = conn
                .prepare(&sql.text)?
                .query_map(params_from_iter(&sql.args), |r| {
                    let text: String = r.get(9)?;
                    let rank: i64 = r.get(10)?;
                    let mut spans = terms.highlights(&text);
                    for s in &sounds {
                        let found = sound::find(&text, s, mode == SearchMode::Near);
                        spans.extend(found.into_iter().map(|(span, _)| span));
                    }
                    let highlights = merge(spans);
                    let hit = SearchHit {
                        utterance_id: r.get(1)?,
                        call_id: r.get(2)?,
                        leg: r.get(3)?,
                        speaker: speaker(r, 4)?,
                        start_ms: r.get(5)?,
                        end_ms: r.get(6)?,
                        language: r.get(7)?,
                        created_at: r.get(8)?,
                        snippet: snippet(&text, &highlights),
                        highlights,
                        text,
                        how: match rank {
                            0 => SearchMode::Exact,
                            1 => SearchMode::Pinyin,
                            _ => SearchMode::Near,
                        },
                    };
                    Ok(((rank, r.get::<_, i64>(0)?), hit))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = more
                .then(|| {
                    rows.last()
                        .map(|((rank, seq), _)| encode_cursor(&format!("u:{rank}:{seq}")))
                })
                .flatten();
            Ok(Page {
                items: rows.into_iter().map(|(_, h)| h).collect(),
                next_cursor,
                total: None,
            })
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
