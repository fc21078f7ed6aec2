//! A rule set resolved against the lexicon: phrase lists become phrase sets found by one
//! automaton (inline phrases) or by the matcher's term ids (lexicon references).

use super::error::{RuleError, RuleProblem};
use super::file::{
    check_duplicates, Action, CondDef, Distance, PhrasesDef, Relation, RuleDef, UntilDef, Window,
};
use crate::call::Speaker;
use crate::transforms::matcher::{
    is_word_char, normalize, Match, Matcher, Normalized, Severity, SpeakerScope,
};
use aho_corasick::{AhoCorasick, MatchKind};
use std::collections::HashMap;
use std::ops::Range;

/// Index of a phrase set in its [`RuleSet`].
pub(crate) type SetId = usize;

/// A condition with its phrase lists resolved to phrase sets.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Said(SetId, Window),
    Absent(SetId, Until),
    Near {
        a: SetId,
        b: SetId,
        relation: Relation,
        distance: Distance,
    },
    All(Vec<Cond>),
    Any(Vec<Cond>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Until {
    First(u64),
    Last(u64),
    Before(SetId),
    End,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id, as written in the rule file.
    pub id: String,
    pub description: String,
    pub category: String,
    pub severity: Severity,
    pub actions: Vec<Action>,
    /// Tags `tag_call` adds to the archived call.
    pub tags: Vec<String>,
    /// Rule file and 1-based line the rule starts on.
    pub file: String,
    pub line: usize,
    pub(crate) cond: Cond,
    /// Whether media-time progress alone can make the rule true (deadlines, `before`).
    pub(crate) timed: bool,
}

/// An inline phrase of the rule files, normalised.
struct Inline {
    sets: Vec<SetId>,
    word_start: bool,
    word_end: bool,
}

/// One place a phrase set was found in a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub set: SetId,
    /// Byte range in the original text.
    pub bytes: Range<usize>,
}

/// Every rule of the rule files, compiled against one lexicon.
#[derive(Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    scopes: Vec<SpeakerScope>,
    term_sets: HashMap<usize, Vec<SetId>>,
    inline_ac: Option<AhoCorasick>,
    inline: Vec<Inline>,
    rules_by_set: Vec<Vec<usize>>,
    timed: Vec<usize>,
    deadlines: Vec<u64>,
}

struct Builder<'m> {
    matcher: &'m Matcher,
    scopes: Vec<SpeakerScope>,
    term_sets: HashMap<usize, Vec<SetId>>,
    inline_text: Vec<String>,
    inline: Vec<Inline>,
    inline_by_text: HashMap<String, usize>,
    deadlines: Vec<u64>,
    file: String,
}

impl Builder<'_> {
    fn error(&self, line: usize, problem: RuleProblem) -> RuleError {
        RuleError::Invalid {
            file: self.file.clone(),
            line,
            problem,
        }
    }

    fn set(&mut self, p: &PhrasesDef) -> Result<SetId, RuleError> {
        let id = self.scopes.len();
        self.scopes.push(p.speaker);
        for ph in &p.phrases {
            let norm = normalize(&ph.text).text;
            if norm.is_empty() {
                return Err(self.error(ph.line, RuleProblem::NothingToMatch(ph.text.clone())));
            }
            let index = match self.inline_by_text.get(&norm) {
                Some(i) => *i,
                None => {
                    self.inline.push(Inline {
                        sets: Vec::new(),
                        word_start: norm.chars().next().is_some_and(is_word_char),
                        word_end: norm.chars().next_back().is_some_and(is_word_char),
                    });
                    self.inline_text.push(norm.clone());
                    self.inline_by_text.insert(norm, self.inline.len() - 1);
                    self.inline.len() - 1
                }
            };
            if !self.inline[index].sets.contains(&id) {
                self.inline[index].sets.push(id);
            }
        }
        for t in &p.terms {
            let norm = normalize(&t.text).text;
            let ids: Vec<usize> = self
                .matcher
                .terms()
                .iter()
                .filter(|term| normalize(&term.text).text == norm)
                .map(|term| term.id)
                .collect();
            if ids.is_empty() {
                return Err(self.error(t.line, RuleProblem::UnknownTerm(t.text.clone())));
            }
            self.add_terms(id, ids);
        }
        for c in &p.categories {
            let ids: Vec<usize> = self
                .matcher
                .terms()
                .iter()
                .filter(|term| term.category == c.text)
                .map(|term| term.id)
                .collect();
            if ids.is_empty() {
                return Err(self.error(c.line, RuleProblem::UnknownCategory(c.text.clone())));
            }
            self.add_terms(id, ids);
        }
        Ok(id)
    }

    fn add_terms(&mut self, set: SetId, ids: Vec<usize>) {
        for t in ids {
            let sets = self.term_sets.entry(t).or_default();
            if !sets.contains(&set) {
                sets.push(set);
            }
        }
    }

    /// Compiles a condition; the flag tells whether media-time progress can make it true.
    fn cond(&mut self, c: &CondDef) -> Result<(Cond, bool), RuleError> {
        Ok(match c {
            CondDef::Said(p, w) => {
                if let Window::First(ms) = w {
                    self.deadlines.push(*ms);
                }
                // A first-N-seconds window can only turn false with time; an `all` holding it
                // is not made true by time, so it is not timed.
                (Cond::Said(self.set(p)?, *w), false)
            }
            CondDef::Absent(p, u) => {
                let set = self.set(p)?;
                let (until, timed) = match u {
                    UntilDef::First(ms) => {
                        self.deadlines.push(*ms);
                        (Until::First(*ms), true)
                    }
                    UntilDef::Last(ms) => (Until::Last(*ms), false),
                    UntilDef::Before(t) => (Until::Before(self.set(t)?), true),
                    UntilDef::End => (Until::End, false),
                };
                (Cond::Absent(set, until), timed)
            }
            CondDef::Near {
                a,
                b,
                relation,
                distance,
            } => (
                Cond::Near {
                    a: self.set(a)?,
                    b: self.set(b)?,
                    relation: *relation,
                    distance: *distance,
                },
                false,
            ),
            CondDef::All(v) | CondDef::Any(v) => {
                let mut children = Vec::with_capacity(v.len());
                let mut timed = false;
                for child in v {
                    let (c, t) = self.cond(child)?;
                    timed |= t;
                    children.push(c);
                }
                if matches!(c, CondDef::All(_)) {
                    (Cond::All(children), timed)
                } else {
                    (Cond::Any(children), timed)
                }
            }
        })
    }
}

fn sets_of(c: &Cond, out: &mut Vec<SetId>) {
    match c {
        Cond::Said(s, _) => out.push(*s),
        Cond::Absent(s, u) => {
            out.push(*s);
            if let Until::Before(t) = u {
                out.push(*t);
            }
        }
        Cond::Near { a, b, .. } => out.extend([*a, *b]),
        Cond::All(v) | Cond::Any(v) => v.iter().for_each(|c| sets_of(c, out)),
    }
}

impl RuleSet {
    /// Compiles rules against the lexicon terms of `matcher`; lexicon references (`terms`,
    /// `categories`) that name nothing in it are errors at the line that wrote them.
    pub(crate) fn compile(defs: Vec<RuleDef>, matcher: &Matcher) -> Result<RuleSet, RuleError> {
        check_duplicates(&defs)?;
        let mut b = Builder {
            matcher,
            scopes: Vec::new(),
            term_sets: HashMap::new(),
            inline_text: Vec::new(),
            inline: Vec::new(),
            inline_by_text: HashMap::new(),
            deadlines: Vec::new(),
            file: String::new(),
        };
        let mut rules = Vec::with_capacity(defs.len());
        for d in defs {
            b.file = d.file.clone();
            let (cond, timed) = b.cond(&d.cond)?;
            rules.push(Rule {
                id: d.id,
                description: d.description,
                category: d.category,
                severity: d.severity,
                actions: d.actions,
                tags: d.tags,
                file: d.file,
                line: d.line,
                cond,
                timed,
            });
        }
        let mut rules_by_set = vec![Vec::new(); b.scopes.len()];
        for (i, r) in rules.iter().enumerate() {
            let mut sets = Vec::new();
            sets_of(&r.cond, &mut sets);
            sets.sort_unstable();
            sets.dedup();
            for s in sets {
                rules_by_set[s].push(i);
            }
        }
        let inline_ac = if b.inline_text.is_empty() {
            None
        } else {
            // Standard semantics with overlapping search: rules may list phrases that overlap
            // (`您好` and `您好很高兴为您服务`), and each must be seen.
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&b.inline_text)
                    .map_err(|e| RuleError::Build(e.to_string()))?,
            )
        };
        let mut deadlines = b.deadlines;
        deadlines.sort_unstable();
        deadlines.dedup();
        Ok(RuleSet {
            timed: (0..rules.len()).filter(|&i| rules[i].timed).collect(),
            rules,
            scopes: b.scopes,
            term_sets: b.term_sets,
            inline_ac,
            inline: b.inline,
            rules_by_set,
            deadlines,
        })
    }

    /// The compiled rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub(crate) fn set_count(&self) -> usize {
        self.scopes.len()
    }

    pub(crate) fn scope(&self, set: SetId) -> SpeakerScope {
        self.scopes[set]
    }

    pub(crate) fn rules_of_set(&self, set: SetId) -> &[usize] {
        &self.rules_by_set[set]
    }

    pub(crate) fn timed(&self) -> &[usize] {
        &self.timed
    }

    /// Whether a media-time deadline of some rule lies in `(from, to]`.
    pub(crate) fn deadline_between(&self, from: u64, to: u64) -> bool {
        let i = self.deadlines.partition_point(|d| *d <= from);
        self.deadlines.get(i).is_some_and(|d| *d <= to)
    }

    /// Every phrase set found in a transcript: lexicon terms from the matcher's hits, inline
    /// phrases from the rules' own automaton. Speaker scopes are applied by the engine.
    pub(crate) fn find(&self, norm: &Normalized, hits: &[Match]) -> Vec<Found> {
        let mut found = Vec::new();
        for m in hits {
            if let Some(sets) = self.term_sets.get(&m.term_id) {
                for &set in sets {
                    found.push(Found {
                        set,
                        bytes: m.byte_range.clone(),
                    });
                }
            }
        }
        if let Some(ac) = &self.inline_ac {
            let hay = norm.text.as_str();
            for m in ac.find_overlapping_iter(hay) {
                let p = &self.inline[m.pattern().as_usize()];
                let start_ok = !p.word_start
                    || !hay[..m.start()]
                        .chars()
                        .next_back()
                        .is_some_and(is_word_char);
                let end_ok =
                    !p.word_end || !hay[m.end()..].chars().next().is_some_and(is_word_char);
                if !(start_ok && end_ok) {
                    continue;
                }
                let bytes = norm.original_range(m.start(), m.end());
                for &set in &p.sets {
                    found.push(Found {
                        set,
                        bytes: bytes.clone(),
                    });
                }
            }
        }
        found
    }
}

/// Whether an occurrence spoken by `speaker` counts for a set scoped to `scope`.
pub(crate) fn counts(scope: SpeakerScope, speaker: Speaker) -> bool {
    scope.applies(speaker)
}
