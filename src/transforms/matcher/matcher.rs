//! Aho-Corasick search of normalised transcripts for lexicon terms.

use super::error::LexiconError;
use super::homophone::{char_range_to_bytes, Syllables};
use super::lexicon::Lexicon;
use super::loose::{Heard, LooseIndex, LOOSE_MIN_SYLLABLES};
use super::near;
use super::normalize::{is_word_char, normalize, Normalized};
use super::term::{MatchMode, Term};
use crate::call::Speaker;
use aho_corasick::{AhoCorasick, Input, MatchKind};
use std::collections::HashMap;
use std::ops::Range;

/// One occurrence of a term in a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Id of the matched [`Term`]; see [`Matcher::term`].
    pub term_id: usize,
    /// Byte range of the match in the original (not normalised) text.
    pub byte_range: Range<usize>,
    /// Char offsets of the match in the original text (what events and the archive carry).
    pub char_start: usize,
    pub char_end: usize,
    /// The original text of the match, punctuation and spacing included.
    pub matched: String,
    /// How many earlier matches of the same term the text holds (0 for the first); this is what
    /// [`HitTracker`](super::HitTracker) keys on.
    pub occurrence: usize,
    /// How the text matched: spelled like the term, or only sounding like it (for terms whose
    /// [`MatchMode`] allows that). A sound-alike is likely a recognition error, worth a listen.
    pub how: MatchMode,
}

/// Near variants need this many syllables: two syllables with one swapped are too often just
/// another word (a two-syllable term in near mode matches as a homophone).
pub const NEAR_MIN_SYLLABLES: usize = 3;

/// The compiled lexicon: finds terms in transcripts.
pub struct Matcher {
    terms: Vec<Term>,
    syllables: Syllables,
    agent: Scoped,
    customer: Scoped,
    unknown: Scoped,
}

/// An automaton over the terms that apply to one kind of speaker.
///
/// One automaton per speaker, rather than one filtered after the search, because with
/// leftmost-longest semantics a longer term of another scope would hide a shorter term that
/// applies (`保本保息` for agents would swallow a customer-scoped `保本`).
struct Scoped {
    ac: AhoCorasick,
    patterns: Vec<Pattern>,
    by_text: HashMap<String, usize>,
    /// Syllable automaton over the sound patterns of terms that match by sound, and each
    /// pattern's terms with how it matches them.
    homophones: Option<(AhoCorasick, Vec<Hears>)>,
    /// Terms in loose mode, found with any one syllable heard as another.
    loose: Option<LooseIndex>,
}

/// Terms a pattern stands for, each with how a match of the pattern matches it.
type Hears = Vec<(usize, MatchMode)>;

/// A distinct normalised phrase and the terms that share it (same phrase in several categories).
struct Pattern {
    text: String,
    term_ids: Vec<usize>,
    /// Whether the phrase begins / ends with a word char, and so needs a word boundary there.
    word_start: bool,
    word_end: bool,
}

impl Matcher {
    /// Compiles a lexicon. Term ids are renumbered to their positions in the lexicon.
    pub fn new(lexicon: Lexicon) -> Result<Matcher, LexiconError> {
        Matcher::with_fuzzy_pinyin(lexicon, false)
    }

    /// Like [`Matcher::new`]; with `fuzzy_pinyin`, homophone terms also tolerate southern
    /// accents (z/zh, c/ch, s/sh, n/l, an/ang, en/eng, in/ing).
    pub fn with_fuzzy_pinyin(
        lexicon: Lexicon,
        fuzzy_pinyin: bool,
    ) -> Result<Matcher, LexiconError> {
        let lexicon = Lexicon::from_terms(lexicon.terms);
        lexicon.check_duplicates()?;
        let terms = lexicon.terms;
        let normalized: Vec<String> = terms.iter().map(|t| normalize(&t.text).text).collect();
        let mut syllables = Syllables::new(fuzzy_pinyin);
        let encoded: Vec<Vec<(String, MatchMode)>> = terms
            .iter()
            .zip(&normalized)
            .map(|(t, n)| sound_patterns(&mut syllables, t.mode, n))
            .collect();
        let build = |speaker: Speaker| Scoped::build(&terms, &normalized, &encoded, speaker);
        Ok(Matcher {
            agent: build(Speaker::Agent)?,
            customer: build(Speaker::Customer)?,
            unknown: build(Speaker::Unknown)?,
            terms,
            syllables,
        })
    }

    /// Finds every term that applies to `speaker` in `text`, in text order.
    ///
    /// Overlapping terms resolve leftmost-longest: `保本保息` yields one hit, not `保本` + `保息` as
    /// well. Terms that begin or end with a letter or digit only match at word boundaries, so
    /// `complaint` does not fire inside `complaints` or `noncomplaint`.
    pub fn find(&self, text: &str, speaker: Speaker) -> Vec<Match> {
        let norm = normalize(text);
        self.find_normalized(text, &norm, speaker)
    }

    /// Like [`Matcher::find`] for a text already normalised with [`normalize`].
    pub fn find_normalized(&self, text: &str, norm: &Normalized, speaker: Speaker) -> Vec<Match> {
        let scoped = match speaker {
            Speaker::Agent => &self.agent,
            Speaker::Customer => &self.customer,
            Speaker::Unknown => &self.unknown,
        };
        let mut matches = Vec::new();
        let mut occurrences: HashMap<usize, usize> = HashMap::new();
        let mut exact = scoped.search(&norm.text);
        let mut heard: Vec<(&Heard, Range<usize>)> = Vec::new();
        if let Some((ac, ids)) = &scoped.homophones {
            let encoded = self.syllables.encode_text(&norm.text);
            // Each encoded syllable is one 3-byte char, one per normalised char.
            let span_of = |m: &aho_corasick::Match| {
                char_range_to_bytes(&norm.text, m.start() / 3..m.end() / 3)
            };
            let mut pos = 0;
            while let Some(first) = ac.find(Input::new(&encoded).range(pos..)) {
                // A sound-alike across a break gives way to the longest shorter one inside it.
                let mut candidate = Some(first);
                while let Some(m) = candidate.filter(|m| spans_a_break(text, norm, &span_of(m), 2))
                {
                    candidate = (m.len() > 3)
                        .then(|| ac.find(Input::new(&encoded).range(m.start()..m.end() - 3)))
                        .flatten();
                }
                let Some(m) = candidate else {
                    pos = first.start() + 3;
                    continue;
                };
                pos = m.end();
                let span = span_of(&m);
                if take_over(&mut exact, &span) {
                    heard.push((&ids[m.pattern().as_usize()], span));
                }
            }
            // Loose places last, leftmost-longest among those that stand: any hit spelled or
            // heard closer to a term wins over them, and they take no pause at all (够响，屏幕 is
            // not 共享屏幕).
            for (ids, chars, odd) in scoped
                .loose
                .iter()
                .flat_map(|l| l.find(&norm.text, &encoded))
            {
                let span = char_range_to_bytes(&norm.text, chars);
                let odd = char_range_to_bytes(&norm.text, odd..odd + 1);
                let overlapping = |e: &Range<usize>| e.start < span.end && span.start < e.end;
                if spans_a_break(text, norm, &span, usize::MAX)
                    || heard.iter().any(|(_, e)| overlapping(e))
                    || exact.iter().any(|(_, e)| explains(e, &span, &odd))
                    || !take_over(&mut exact, &span)
                {
                    continue;
                }
                heard.push((ids, span));
            }
        }
        // Ranges of the original text from here on: the unfolded text has its own offsets.
        let spelled = |p: usize| -> Hears {
            scoped.patterns[p]
                .term_ids
                .iter()
                .map(|&id| (id, MatchMode::Exact))
                .collect()
        };
        let mut found: Vec<(Hears, Range<usize>)> = exact
            .iter()
            .map(|(p, span)| (spelled(*p), span.clone()))
            .chain(heard.into_iter().map(|(ids, span)| (ids.to_vec(), span)))
            .map(|(ids, span)| (ids, norm.original_range(span.start, span.end)))
            .collect();
        if let Some(unfolded) = &norm.unfolded {
            // A term the numeral folding cut into (零风险 after 一一): found only here.
            for (p, span) in scoped.search(&unfolded.text) {
                let r = unfolded.original_range(span.start, span.end);
                if !found
                    .iter()
                    .any(|(_, e)| e.start < r.end && r.start < e.end)
                {
                    found.push((spelled(p), r));
                }
            }
        }
        found.sort_by_key(|(_, span)| span.start);
        for (terms, byte_range) in found {
            let char_start = text[..byte_range.start].chars().count();
            let char_end = char_start + text[byte_range.clone()].chars().count();
            for (term_id, how) in terms {
                let n = occurrences.entry(term_id).or_insert(0);
                matches.push(Match {
                    term_id,
                    byte_range: byte_range.clone(),
                    char_start,
                    char_end,
                    matched: text[byte_range.clone()].to_string(),
                    occurrence: *n,
                    how,
                });
                *n += 1;
            }
        }
        matches
    }

    /// The term with id `id`.
    ///
    /// # Panics
    /// If `id` is not the id of a term of this matcher (ids come from [`Match::term_id`]).
    pub fn term(&self, id: usize) -> &Term {
        &self.terms[id]
    }

    /// All terms, indexed by id.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when the matcher has no terms and never matches.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }
}

impl Scoped {
    fn build(
        terms: &[Term],
        normalized: &[String],
        encoded: &[Vec<(String, MatchMode)>],
        speaker: Speaker,
    ) -> Result<Scoped, LexiconError> {
        let mut sounds: Vec<&str> = Vec::new();
        let mut sound_ids: Vec<Hears> = Vec::new();
        let mut by_sound: HashMap<&str, usize> = HashMap::new();
        for (term, patterns) in terms.iter().zip(encoded) {
            if !term.speaker.applies(speaker) {
                continue;
            }
            for (enc, how) in patterns {
                let i = *by_sound.entry(enc.as_str()).or_insert_with(|| {
                    sounds.push(enc);
                    sound_ids.push(Vec::new());
                    sounds.len() - 1
                });
                if !sound_ids[i].iter().any(|(id, _)| *id == term.id) {
                    sound_ids[i].push((term.id, *how));
                }
            }
        }
        // Text that sounds exactly like one term is that term misheard, not another term with
        // a syllable swapped.
        for ids in &mut sound_ids {
            if ids.iter().any(|(_, how)| *how == MatchMode::Homophone) {
                ids.retain(|(_, how)| *how == MatchMode::Homophone);
            }
        }
        let loose_terms = terms.iter().zip(normalized).zip(encoded);
        let loose = LooseIndex::build(loose_terms.filter_map(|((term, norm), patterns)| {
            let (own, _) = patterns.first()?;
            let spelled = Syllables::term_syllables(norm)?;
            let loose = term.speaker.applies(speaker)
                && term.mode == MatchMode::Loose
                && spelled.len() >= LOOSE_MIN_SYLLABLES;
            loose.then_some((term.id, own.as_str(), spelled))
        }))
        .map_err(|e| LexiconError::Build {
            terms: terms.len(),
            reason: e.to_string(),
        })?;
        let homophones = if sounds.is_empty() {
            None
        } else {
            let ac = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&sounds)
                .map_err(|e| LexiconError::Build {
                    terms: terms.len(),
                    reason: e.to_string(),
                })?;
            Some((ac, sound_ids))
        };
        let mut patterns: Vec<Pattern> = Vec::new();
        let mut by_text: HashMap<String, usize> = HashMap::new();
        for (term, norm) in terms.iter().zip(normalized) {
            if !term.speaker.applies(speaker) || norm.is_empty() {
                continue;
            }
            let index = *by_text.entry(norm.clone()).or_insert_with(|| {
                patterns.push(Pattern {
                    text: norm.clone(),
                    term_ids: Vec::new(),
                    word_start: norm.chars().next().is_some_and(is_word_char),
                    word_end: norm.chars().next_back().is_some_and(is_word_char),
                });
                patterns.len() - 1
            });
            patterns[index].term_ids.push(term.id);
        }
        // The builder picks the automaton: a DFA for small lexicons, a contiguous NFA for large
        // ones, where a DFA over UTF-8 CJK would take tens of megabytes per scope.
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(|p| &p.text))
            .map_err(|e| LexiconError::Build {
                terms: terms.len(),
                reason: e.to_string(),
            })?;
        Ok(Scoped {
            ac,
            patterns,
            by_text,
            homophones,
            loose,
        })
    }

    /// Non-overlapping, leftmost-longest matches that respect word boundaries.
    fn search(&self, hay: &str) -> Vec<(usize, Range<usize>)> {
        let mut found = Vec::new();
        let mut pos = 0;
        while pos < hay.len() {
            let Some(m) = self.ac.find(Input::new(hay).range(pos..)) else {
                break;
            };
            let (start, end) = (m.start(), m.end());
            if self.at_boundaries(hay, m.pattern().as_usize(), start, end) {
                found.push((m.pattern().as_usize(), start..end));
                pos = end;
                continue;
            }
            // The longest phrase runs into a word (`no risky`); a shorter phrase at the same
            // start may still end on a boundary (`no risk`). Rare, so a direct lookup suffices.
            if let Some((pattern, shorter_end)) = self.shorter_at(hay, start, end) {
                found.push((pattern, start..shorter_end));
                pos = shorter_end;
                continue;
            }
            pos = start + hay[start..].chars().next().map_or(1, char::len_utf8);
        }
        found
    }

    fn shorter_at(&self, hay: &str, start: usize, end: usize) -> Option<(usize, usize)> {
        let candidate = &hay[start..end];
        candidate
            .char_indices()
            .rev()
            .filter(|&(i, _)| i > 0)
            .map(|(i, _)| start + i)
            .find_map(|e| {
                let p = *self.by_text.get(&hay[start..e])?;
                self.at_boundaries(hay, p, start, e).then_some((p, e))
            })
    }

    fn at_boundaries(&self, hay: &str, pattern: usize, start: usize, end: usize) -> bool {
        let p = &self.patterns[pattern];
        let start_ok = !p.word_start || !hay[..start].chars().next_back().is_some_and(is_word_char);
        let end_ok = !p.word_end || !hay[end..].chars().next().is_some_and(is_word_char);
        start_ok && end_ok
    }
}

/// Whether an exact hit explains a loose place better than the place does: it spells out the
/// odd syllable as said (跟存款一样安全 is 跟存款一样, not 和存款一样安全 one off), or all the
/// rest of it, so the place adds nothing but a guess (关保监会 is 保监会, not 银保监会). A loose
/// place that adds syllables heard as the term says wins (稳赚不背 is 稳赚不赔, not 稳赚).
fn explains(exact: &Range<usize>, span: &Range<usize>, odd: &Range<usize>) -> bool {
    let holds_odd = exact.start <= odd.start && odd.end <= exact.end;
    let inside = span.start <= exact.start && exact.end <= span.end;
    // Every char of a span that loose matching takes is one CJK syllable, 3 bytes.
    holds_odd || (inside && exact.len() + odd.len() >= span.len())
}

/// Whether a sound-alike at `span` may stand against the exact hits: exact hits win, except a
/// shorter one inside it (保本 inside 保本保锡 heard for 保本保息), which it then replaces:
/// leftmost-longest, as for exact terms.
fn take_over(exact: &mut Vec<(usize, Range<usize>)>, span: &Range<usize>) -> bool {
    let overlapping = |e: &Range<usize>| e.start < span.end && span.start < e.end;
    let inside =
        |e: &Range<usize>| span.start <= e.start && e.end <= span.end && e.len() < span.len();
    if exact.iter().any(|(_, e)| overlapping(e) && !inside(e)) {
        return false;
    }
    exact.retain(|(_, e)| !inside(e));
    true
}

/// Whether the original text of a normalised span runs across a break. A sound-alike is a
/// guess at what was said, and one that runs across the end of a sentence, or puts a pause
/// inside a word (闭嘴 in 鼻。最, 保本 in 报，本), is almost always two words that happen to sound
/// like the term; on an open corpus of news and reviews these were most of the homophone hits.
/// A pause between two parts of at least `min_part` syllables each stays: the recogniser writes
/// 亏了，我们赔 for 亏了我们赔 (`usize::MAX` takes no pause at all). Spelled terms still match
/// across any punctuation.
fn spans_a_break(text: &str, norm: &Normalized, span: &Range<usize>, min_part: usize) -> bool {
    let original = norm.original_range(span.start, span.end);
    let Some(t) = text.get(original) else {
        return false;
    };
    let total = t.chars().filter(|c| c.is_alphanumeric()).count();
    let mut before = 0;
    let mut pause = false;
    for c in t.chars() {
        if c.is_alphanumeric() {
            if pause && (before < min_part || total - before < min_part) {
                return true;
            }
            pause = false;
            before += 1;
        } else if matches!(
            c,
            '。' | '．' | '.' | '！' | '？' | '!' | '?' | '；' | ';' | '…' | '\n' | '\r'
        ) {
            return true;
        } else {
            pause = true;
        }
    }
    false
}

/// The mode a term really matches in: terms that are not all Chinese, or of one character, only
/// match as written; near needs [`NEAR_MIN_SYLLABLES`] (shorter terms match as homophones) and
/// loose [`LOOSE_MIN_SYLLABLES`] (shorter terms match as near).
pub fn effective_mode(term: &Term) -> MatchMode {
    let syllables = Syllables::term_syllables(&normalize(&term.text).text);
    effective(term.mode, syllables.as_deref())
}

fn effective(mode: MatchMode, syllables: Option<&[&str]>) -> MatchMode {
    match (mode, syllables) {
        (_, None) => MatchMode::Exact,
        (MatchMode::Near | MatchMode::Loose, Some(s)) if s.len() < NEAR_MIN_SYLLABLES => {
            MatchMode::Homophone
        }
        (MatchMode::Loose, Some(s)) if s.len() < LOOSE_MIN_SYLLABLES => MatchMode::Near,
        (mode, _) => mode,
    }
}

/// The syllable patterns a term matches by sound: its own (homophones, always first) and, in
/// near and loose mode, each with one syllable swapped for a learned confusion. Empty for terms
/// that match only as written.
fn sound_patterns(
    syllables: &mut Syllables,
    mode: MatchMode,
    norm: &str,
) -> Vec<(String, MatchMode)> {
    let syls = Syllables::term_syllables(norm);
    let mode = effective(mode, syls.as_deref());
    let Some(syls) = syls.filter(|_| mode != MatchMode::Exact) else {
        return Vec::new();
    };
    let mut out: Vec<(String, MatchMode)> = syllables
        .encode(&syls)
        .map(|e| (e, MatchMode::Homophone))
        .into_iter()
        .collect();
    // Loose terms keep their near variants: a one-part swap is reported as near, the more
    // telling of the two.
    if mode >= MatchMode::Near {
        for (i, s) in syls.iter().enumerate() {
            for n in near::neighbours(s) {
                let mut variant: Vec<&str> = syls.clone();
                variant[i] = &n;
                if let Some(e) = syllables.encode(&variant) {
                    out.push((e, MatchMode::Near));
                }
            }
        }
    }
    out
}
