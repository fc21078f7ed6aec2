//! Lexicon files: TOML lists of prohibited phrases with category, severity and speaker scope.
//!
//! The format is documented in `lexicons/README.md`. Every value is checked where it is written,
//! so an error always names the file and line to fix.

use super::error::{LexiconError, Problem};
use super::normalize::normalize;
use super::term::{MatchMode, Severity, SpeakerScope, Term};
use crate::transforms::toml_source;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use toml::Spanned;

/// An ordered list of terms, read from one or more lexicon files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lexicon {
    /// Terms in file order; `terms[i].id == i`.
    pub terms: Vec<Term>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    defaults: Option<Attrs>,
    #[serde(default)]
    group: Vec<GroupDoc>,
    #[serde(default)]
    term: Vec<TermDoc>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Attrs {
    category: Option<Spanned<String>>,
    severity: Option<Spanned<String>>,
    speaker: Option<Spanned<String>>,
    lang: Option<Spanned<String>>,
    homophones: Option<bool>,
    #[serde(rename = "match")]
    mode: Option<Spanned<String>>,
}

// serde cannot combine `flatten` with `deny_unknown_fields`, hence the repeated attribute fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDoc {
    category: Option<Spanned<String>>,
    severity: Option<Spanned<String>>,
    speaker: Option<Spanned<String>>,
    lang: Option<Spanned<String>>,
    homophones: Option<bool>,
    #[serde(rename = "match")]
    mode: Option<Spanned<String>>,
    terms: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TermDoc {
    text: Spanned<String>,
    category: Option<Spanned<String>>,
    severity: Option<Spanned<String>>,
    speaker: Option<Spanned<String>>,
    lang: Option<Spanned<String>>,
    homophones: Option<bool>,
    #[serde(rename = "match")]
    mode: Option<Spanned<String>>,
}

/// Attribute values after validation, each still optional until the layers are merged.
#[derive(Clone, Default)]
struct Resolved {
    category: Option<String>,
    severity: Option<Severity>,
    speaker: Option<SpeakerScope>,
    lang: Option<String>,
    mode: Option<MatchMode>,
}

impl Resolved {
    /// `self` where set, else `outer`.
    fn over(&self, outer: &Resolved) -> Resolved {
        Resolved {
            category: self.category.clone().or_else(|| outer.category.clone()),
            severity: self.severity.or(outer.severity),
            speaker: self.speaker.or(outer.speaker),
            lang: self.lang.clone().or_else(|| outer.lang.clone()),
            mode: self.mode.or(outer.mode),
        }
    }
}

/// Line and file context for turning byte offsets into errors.
struct Source<'a> {
    src: &'a str,
    file: &'a str,
}

impl Source<'_> {
    fn line_of(&self, byte: usize) -> usize {
        toml_source::line_of(self.src, byte)
    }

    fn error(&self, byte: usize, problem: Problem) -> LexiconError {
        LexiconError::Invalid {
            file: self.file.to_string(),
            line: self.line_of(byte),
            problem,
        }
    }

    fn resolve(
        &self,
        category: &Option<Spanned<String>>,
        severity: &Option<Spanned<String>>,
        speaker: &Option<Spanned<String>>,
        lang: &Option<Spanned<String>>,
    ) -> Result<Resolved, LexiconError> {
        let mut out = Resolved::default();
        if let Some(c) = category {
            let valid = !c.get_ref().is_empty()
                && c.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !valid {
                return Err(self.error(c.span().start, Problem::BadCategory(c.get_ref().clone())));
            }
            out.category = Some(c.get_ref().clone());
        }
        if let Some(s) = severity {
            out.severity = Some(Severity::parse(s.get_ref()).ok_or_else(|| {
                self.error(
                    s.span().start,
                    Problem::UnknownSeverity(s.get_ref().clone()),
                )
            })?);
        }
        if let Some(s) = speaker {
            out.speaker = Some(SpeakerScope::parse(s.get_ref()).ok_or_else(|| {
                self.error(s.span().start, Problem::UnknownSpeaker(s.get_ref().clone()))
            })?);
        }
        if let Some(l) = lang {
            if l.get_ref().trim().is_empty() {
                return Err(self.error(l.span().start, Problem::EmptyLanguage));
            }
            out.lang = Some(l.get_ref().clone());
        }
        Ok(out)
    }

    /// The mode a layer sets, from `match` or the older `homophones` flag.
    fn mode(
        &self,
        mode: &Option<Spanned<String>>,
        homophones: Option<bool>,
    ) -> Result<Option<MatchMode>, LexiconError> {
        match (mode, homophones) {
            (Some(m), Some(_)) => Err(self.error(m.span().start, Problem::BothMatchKeys)),
            (Some(m), None) => MatchMode::parse(m.get_ref()).map(Some).ok_or_else(|| {
                self.error(
                    m.span().start,
                    Problem::UnknownMatchMode(m.get_ref().clone()),
                )
            }),
            (None, Some(true)) => Ok(Some(MatchMode::Homophone)),
            (None, Some(false)) => Ok(Some(MatchMode::Exact)),
            (None, None) => Ok(None),
        }
    }

    fn term(
        &self,
        text: &Spanned<String>,
        attrs: Resolved,
        pinned: bool,
    ) -> Result<Term, LexiconError> {
        let at = text.span().start;
        let raw = text.get_ref();
        if raw.trim().is_empty() {
            return Err(self.error(at, Problem::EmptyTerm));
        }
        if normalize(raw).text.is_empty() {
            return Err(self.error(at, Problem::NothingToMatch(raw.clone())));
        }
        let category = attrs
            .category
            .ok_or_else(|| self.error(at, Problem::MissingCategory { term: raw.clone() }))?;
        let severity = attrs
            .severity
            .ok_or_else(|| self.error(at, Problem::MissingSeverity { term: raw.clone() }))?;
        Ok(Term {
            id: 0,
            text: raw.clone(),
            category,
            severity,
            speaker: attrs.speaker.unwrap_or_default(),
            language: attrs.lang,
            mode: attrs.mode.unwrap_or_default(),
            mode_pinned: pinned,
            file: self.file.to_string(),
            line: self.line_of(at),
        })
    }
}

impl Lexicon {
    /// Parses one lexicon file's contents; `file_name` is used in errors and [`Term::file`].
    pub fn parse(src: &str, file_name: &str) -> Result<Lexicon, LexiconError> {
        let source = Source {
            src,
            file: file_name,
        };
        let doc: FileDoc = toml::from_str(src).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().lines().collect::<Vec<_>>().join("; ");
            source.error(at, Problem::Syntax(message))
        })?;
        let defaults = match &doc.defaults {
            Some(d) => Resolved {
                mode: source.mode(&d.mode, d.homophones)?,
                ..source.resolve(&d.category, &d.severity, &d.speaker, &d.lang)?
            },
            None => Resolved::default(),
        };
        let mut terms = Vec::new();
        for g in &doc.group {
            let mode = source.mode(&g.mode, g.homophones)?;
            let group = Resolved {
                mode,
                ..source.resolve(&g.category, &g.severity, &g.speaker, &g.lang)?
            }
            .over(&defaults);
            for text in &g.terms {
                terms.push(source.term(text, group.clone(), mode.is_some())?);
            }
        }
        for t in &doc.term {
            let mode = source.mode(&t.mode, t.homophones)?;
            let attrs = Resolved {
                mode,
                ..source.resolve(&t.category, &t.severity, &t.speaker, &t.lang)?
            }
            .over(&defaults);
            terms.push(source.term(&t.text, attrs, mode.is_some())?);
        }
        // Groups and single terms are parsed in two passes; report and number them in file order.
        terms.sort_by_key(|t| t.line);
        let lexicon = Lexicon::from_terms(terms);
        lexicon.check_duplicates()?;
        Ok(lexicon)
    }

    /// Reads and parses one lexicon file.
    pub fn load_file(path: &Path) -> Result<Lexicon, LexiconError> {
        let src = std::fs::read_to_string(path).map_err(|source| LexiconError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Lexicon::parse(&src, &path.display().to_string())
    }

    /// Loads every `*.toml` file of `dir`, in file-name order, into one lexicon.
    ///
    /// A term may appear in several categories, but not twice in one category, even across files.
    pub fn load_dir(dir: &Path) -> Result<Lexicon, LexiconError> {
        let io = |source| LexiconError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let files = toml_source::toml_files(dir).map_err(io)?;
        if files.is_empty() {
            return Err(LexiconError::NoFiles {
                dir: dir.to_path_buf(),
            });
        }
        let mut terms = Vec::new();
        for file in &files {
            terms.extend(Lexicon::load_file(file)?.terms);
        }
        let lexicon = Lexicon::from_terms(terms);
        lexicon.check_duplicates()?;
        Ok(lexicon)
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// True when the lexicon has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Sets the match mode of every term of a listed category, except terms whose own entry or
    /// `[[group]]` sets one: the configuration's `[lexicons.match]` table, so a bank can turn
    /// near matching on for a category without editing the shipped files.
    pub fn with_category_modes(mut self, modes: &BTreeMap<String, MatchMode>) -> Lexicon {
        for t in &mut self.terms {
            if let Some(&m) = modes.get(&t.category).filter(|_| !t.mode_pinned) {
                t.mode = m;
            }
        }
        self
    }

    /// Builds a lexicon from terms, renumbering their ids to their positions.
    pub fn from_terms(mut terms: Vec<Term>) -> Lexicon {
        for (i, t) in terms.iter_mut().enumerate() {
            t.id = i;
        }
        Lexicon { terms }
    }

    /// Rejects a term that repeats, after normalisation, an earlier term of the same category:
    /// both would fire on exactly the same text and double every hit.
    pub(crate) fn check_duplicates(&self) -> Result<(), LexiconError> {
        let mut seen: HashMap<(&str, String), &Term> = HashMap::new();
        for t in &self.terms {
            let key = (t.category.as_str(), normalize(&t.text).text);
            if let Some(first) = seen.get(&key) {
                let first = if first.file == t.file {
                    format!("line {}", first.line)
                } else {
                    format!("{}:{}", first.file, first.line)
                };
                return Err(LexiconError::Invalid {
                    file: t.file.clone(),
                    line: t.line,
                    problem: Problem::DuplicateTerm {
                        term: t.text.clone(),
                        category: t.category.clone(),
                        first,
                    },
                });
            }
            seen.insert(key, t);
        }
        Ok(())
    }
}
