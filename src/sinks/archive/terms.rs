//! Turning a user's search text into safe SQL predicates, and marking matches in results.
//!
//! FTS5's trigram tokenizer indexes every run of three characters, so it finds any
//! substring of three or more characters, Chinese included. A shorter term (投诉 is two
//! characters) can never match through it, so such terms become a `LIKE` scan over the
//! utterances the other predicates leave; results come newest first, so a common short
//! term stops early, while a rare one reads every utterance in the filter window. Narrow
//! it with `call_id`, `from`/`to` or a longer term.

use super::error::ArchiveError;

/// Longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most terms in one query.
pub const MAX_TERMS: usize = 8;
/// Shortest term the trigram index can answer.
pub(super) const TRIGRAM: usize = 3;
/// Characters of context kept on each side of the first match in a snippet.
const SNIPPET_CONTEXT: usize = 30;

/// A parsed search: every term must occur in the utterance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms(Vec<String>);

impl Terms {
    /// Splits `q` on whitespace, keeping `"quoted phrases"` whole (an unclosed quote runs
    /// to the end). Refuses empty and over-long queries with a message saying what to send.
    pub fn parse(q: &str) -> Result<Terms, ArchiveError> {
        let len = q.chars().count();
        if len > MAX_QUERY_CHARS {
            return Err(ArchiveError::bad(format!(
                "q is {len} characters long; keep it to {MAX_QUERY_CHARS} or fewer"
            )));
        }
        // Control characters (NUL included) cannot be searched for, and SQLite's FTS5 query
        // parser would stop at a NUL inside a quoted string: they separate terms like spaces.
        let q: String = q
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let mut terms = Vec::new();
        for (i, chunk) in q.split('"').enumerate() {
            // Odd chunks sit between quotes.
            if i % 2 == 1 {
                terms.push(chunk.trim().to_string());
            } else {
                terms.extend(chunk.split_whitespace().map(str::to_string));
            }
        }
        terms.retain(|t| !t.is_empty());
        if terms.is_empty() {
            return Err(ArchiveError::bad(
                "q is empty; give the words or characters to find, e.g. q=投诉",
            ));
        }
        if terms.len() > MAX_TERMS {
            return Err(ArchiveError::bad(format!(
                "q has {} terms; use at most {MAX_TERMS}",
                terms.len()
            )));
        }
        Ok(Terms(terms))
    }

    /// The terms as parsed.
    pub fn terms(&self) -> &[String] {
        &self.0
    }

    /// FTS5 MATCH expression over the terms the trigram index can answer, or `None`
    /// when all are too short. Each term is a quoted FTS5 string, so no user input
    /// is ever read as FTS5 syntax.
    pub fn fts_match(&self) -> Option<String> {
        let quoted: Vec<String> = self
            .0
            .iter()
            .filter(|t| t.chars().count() >= TRIGRAM)
            .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
            .collect();
        (!quoted.is_empty()).then(|| quoted.join(" AND "))
    }

    /// `LIKE` patterns (escape character `\`) for the terms too short for the index.
    pub fn like_patterns(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|t| t.chars().count() < TRIGRAM)
            .map(|t| like_contains(t))
            .collect()
    }

    /// Character ranges of every occurrence of any term in `text` (ASCII case-insensitive),
    /// sorted and with overlaps merged.
    pub fn highlights(&self, text: &str) -> Vec<[usize; 2]> {
        merge(self.occurrences(text))
    }

    fn occurrences(&self, text: &str) -> Vec<[usize; 2]> {
        let hay: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
        let mut spans = Vec::new();
        for term in &self.0 {
            let needle: Vec<char> = term.chars().map(|c| c.to_ascii_lowercase()).collect();
            if needle.is_empty() || needle.len() > hay.len() {
                continue;
            }
            for start in 0..=hay.len() - needle.len() {
                if hay[start..start + needle.len()] == needle[..] {
                    spans.push([start, start + needle.len()]);
                }
            }
        }
        spans
    }
}

/// Sorts character ranges and merges the ones that overlap or touch.
pub fn merge(mut spans: Vec<[usize; 2]>) -> Vec<[usize; 2]> {
    spans.sort_unstable();
    let mut merged: Vec<[usize; 2]> = Vec::with_capacity(spans.len());
    for s in spans {
        match merged.last_mut() {
            Some(last) if s[0] <= last[1] => last[1] = last[1].max(s[1]),
            _ => merged.push(s),
        }
    }
    merged
}

/// A `LIKE` pattern matching any text containing `term` literally.
pub(super) fn like_contains(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Text around the first highlight, HTML-escaped, with highlights wrapped in `<mark>`
/// and `…` where the text was cut.
pub fn snippet(text: &str, highlights: &[[usize; 2]]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let first = highlights.first().map_or(0, |h| h[0]);
    let start = first.saturating_sub(SNIPPET_CONTEXT);
    let end = highlights
        .first()
        .map_or(0, |h| h[1])
        .saturating_add(SNIPPET_CONTEXT)
        .max(start + 2 * SNIPPET_CONTEXT)
        .min(chars.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut marks = highlights.iter().peekable();
    let mut open_until = None;
    for (i, &c) in chars.iter().enumerate().take(end).skip(start) {
        if open_until.is_none() {
            // A match that began before the window opens at its left edge.
            while marks.peek().is_some_and(|h| h[1] <= i) {
                marks.next();
            }
            if let Some(h) = marks.peek().filter(|h| h[0] <= i) {
                open_until = Some(h[1]);
                marks.next();
                out.push_str("<mark>");
            }
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
        if open_until == Some(i + 1) {
            open_until = None;
            out.push_str("</mark>");
        }
    }
    if open_until.is_some() {
        out.push_str("</mark>");
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rusqlite::Connection;

    #[test]
    fn parse_table() {
        let cases: &[(&str, &[&str])] = &[
            ("投诉", &["投诉"]),
            ("  refund   guaranteed ", &["refund", "guaranteed"]),
            ("\"full refund\" now", &["full refund", "now"]),
            ("say \"保本 保息", &["say", "保本 保息"]),
            ("a\"\"b", &["a", "b"]),
        ];
        for (q, want) in cases {
            let got = Terms::parse(q).unwrap();
            assert_eq!(got.terms(), *want, "q={q:?}");
        }
    }

    #[test]
    fn empty_long_and_crowded_queries_are_bad() {
        for q in ["", "   ", "\"\"", "\" \""] {
            assert!(
                matches!(Terms::parse(q), Err(ArchiveError::BadQuery(_))),
                "{q:?}"
            );
        }
        let long = "字".repeat(MAX_QUERY_CHARS + 1);
        assert!(matches!(
            Terms::parse(&long),
            Err(ArchiveError::BadQuery(_))
        ));
        let crowded = ["ab"; MAX_TERMS + 1].join(" ");
        assert!(matches!(
            Terms::parse(&crowded),
            Err(ArchiveError::BadQuery(_))
        ));
    }

    #[test]
    fn short_terms_go_to_like_and_long_ones_to_fts() {
        let t = Terms::parse("投诉 保本保息 50%").unwrap();
        assert_eq!(t.fts_match().as_deref(), Some("\"保本保息\" AND \"50%\""));
        assert_eq!(t.like_patterns(), vec!["%投诉%".to_string()]);
        let t = Terms::parse("a_").unwrap();
        assert_eq!(t.fts_match(), None);
        assert_eq!(t.like_patterns(), vec!["%a\\_%".to_string()]);
    }

    #[test]
    fn snippet_marks_matches_escapes_html_and_cuts_long_text() {
        let text = format!("{}我要投诉<你们>{}", "前".repeat(40), "后".repeat(40));
        let t = Terms::parse("投诉").unwrap();
        let h = t.highlights(&text);
        assert_eq!(h, vec![[42, 44]]);
        let s = snippet(&text, &h);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("我要<mark>投诉</mark>&lt;你们&gt;"), "{s}");
        assert_eq!(
            snippet(
                "Refund now",
                &Terms::parse("refund").unwrap().highlights("Refund now")
            ),
            "<mark>Refund</mark> now"
        );
    }

    fn fts_table() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram');
             INSERT INTO t VALUES ('some text');",
        )
        .unwrap();
        c
    }

    /// Regression (found by the `http_query` fuzz target): a NUL inside a quoted term made
    /// FTS5 report "unterminated string", a database error instead of an answer.
    #[test]
    fn control_characters_separate_terms_and_never_reach_fts5() {
        let c = fts_table();
        for q in [
            "\"file a\u{0}complaint\"",
            "abc\u{0}def",
            "\u{1}\u{0}xyz\u{7f}",
            "\"x\u{0}",
        ] {
            let t = Terms::parse(q).unwrap();
            assert!(
                t.terms().iter().all(|t| !t.contains(char::is_control)),
                "{q:?}: {t:?}"
            );
            if let Some(m) = t.fts_match() {
                let r: rusqlite::Result<i64> =
                    c.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [&m], |r| {
                        r.get(0)
                    });
                assert!(r.is_ok(), "{m:?}: {r:?}");
            }
        }
        assert!(
            Terms::parse("\u{0}\u{0}").is_err(),
            "nothing left to search for"
        );
    }

    proptest! {
        #[test]
        fn any_query_is_valid_fts5_and_like(q in "[\\x00-\\x1f\\PC]{0,60}") {
            let c = fts_table();
            if let Ok(t) = Terms::parse(&q) {
                if let Some(m) = t.fts_match() {
                    let r: rusqlite::Result<i64> =
                        c.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [&m], |r| r.get(0));
                    prop_assert!(r.is_ok(), "{m:?}: {r:?}");
                }
                for p in t.like_patterns() {
                    let r: rusqlite::Result<i64> =
                        c.query_row("SELECT count(*) FROM t WHERE x LIKE ?1 ESCAPE '\\'", [&p], |r| r.get(0));
                    prop_assert!(r.is_ok(), "{p:?}: {r:?}");
                }
            }
        }

        #[test]
        fn text_containing_a_term_matches_it(
            pre in "\\PC{0,10}", term in "[a-z%_\\\\投诉保']{1,6}", post in "\\PC{0,10}"
        ) {
            // One term: no spaces (they split terms) and no quotes (they make a phrase).
            let text = format!("{pre}{term}{post}");
            let c = Connection::open_in_memory().unwrap();
            c.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram')").unwrap();
            c.execute("INSERT INTO t VALUES (?1)", [&text]).unwrap();
            let t = Terms::parse(&term).unwrap();
            let n: i64 = match t.fts_match() {
                Some(m) => c.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [&m], |r| r.get(0)).unwrap(),
                None => c.query_row("SELECT count(*) FROM t WHERE x LIKE ?1 ESCAPE '\\'",
                    [&t.like_patterns()[0]], |r| r.get(0)).unwrap(),
            };
            prop_assert_eq!(n, 1);
            let chars: Vec<char> = text.chars().collect();
            let h = t.highlights(&text);
            prop_assert!(!h.is_empty());
            for [s, e] in h {
                let found: String = chars[s..e].iter().collect();
                prop_assert!(found.to_ascii_lowercase().contains(&term.to_ascii_lowercase()));
            }
        }
    }
}
