//! Shared loading of the phrase-list files beside the lexicon (inquiry topics, knowledge
//! base, escalation signals): TOML read with spans so every error names `file:line`, and
//! phrase lists compiled into a [`Matcher`] so they get the same normalisation (width, case,
//! punctuation, Traditional/Simplified, spoken digits) as prohibited phrases.

use crate::transforms::matcher::{
    normalize, Lexicon, LexiconError, MatchMode, Matcher, Severity, SpeakerScope, Term,
};
use crate::transforms::toml_source;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Why a phrase file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PhrasebookError {
    #[error("{path}: cannot read: {source}; check the path and its permissions")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir}: no *.toml files found; point the setting at the shipped folder or add a file")]
    NoFiles { dir: PathBuf },
    /// `line` is 1-based.
    #[error("{file}:{line}: {problem}")]
    Invalid {
        file: String,
        line: usize,
        problem: String,
    },
    #[error(transparent)]
    Phrases(#[from] LexiconError),
}

/// One file's text, for turning byte offsets into `file:line` errors.
pub struct SourceText<'a> {
    pub src: &'a str,
    pub file: &'a str,
}

impl SourceText<'_> {
    /// 1-based line of a byte offset.
    pub fn line_of(&self, byte: usize) -> usize {
        toml_source::line_of(self.src, byte)
    }

    /// An error at a byte offset.
    pub fn error(&self, byte: usize, problem: impl Into<String>) -> PhrasebookError {
        PhrasebookError::Invalid {
            file: self.file.to_string(),
            line: self.line_of(byte),
            problem: problem.into(),
        }
    }

    /// Parses the whole file; syntax errors, unknown keys and wrong types carry their line.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, PhrasebookError> {
        toml::from_str(self.src).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            let message = e.message().trim().lines().collect::<Vec<_>>().join("; ");
            self.error(at, message)
        })
    }

    /// Checks an identifier: lower-case ASCII letters, digits, `_` and `-`.
    pub fn id(&self, id: &Spanned<String>, what: &str) -> Result<String, PhrasebookError> {
        let v = id.get_ref();
        let ok = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(v.clone())
        } else {
            Err(self.error(
                id.span().start,
                format!("invalid {what} `{v}` (use lower-case letters, digits, `_` and `-`, e.g. `card_frozen`)"),
            ))
        }
    }

    /// A non-empty text field.
    pub fn text(&self, t: &Spanned<String>, what: &str) -> Result<String, PhrasebookError> {
        if t.get_ref().trim().is_empty() {
            return Err(self.error(
                t.span().start,
                format!("empty {what}; write it or remove the entry"),
            ));
        }
        Ok(t.get_ref().trim().to_string())
    }

    /// A phrase as a matcher term filed under `category` for `speaker`.
    pub fn phrase(
        &self,
        p: &Spanned<String>,
        category: &str,
        speaker: SpeakerScope,
    ) -> Result<Term, PhrasebookError> {
        let raw = p.get_ref();
        if normalize(raw).text.is_empty() {
            return Err(self.error(
                p.span().start,
                format!("phrase `{raw}` has no letters, digits or CJK characters, so it can never match"),
            ));
        }
        Ok(Term {
            id: 0,
            text: raw.clone(),
            category: category.to_string(),
            severity: Severity::Low,
            speaker,
            language: None,
            // Exact phrases only: a topic or article fired by a homophone would mislead more
            // than it helps.
            mode: MatchMode::Exact,
            mode_pinned: true,
            file: self.file.to_string(),
            line: self.line_of(p.span().start),
        })
    }
}

/// The `*.toml` files of `dir`, in name order.
pub fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, PhrasebookError> {
    let io = |source| PhrasebookError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let files = toml_source::toml_files(dir).map_err(io)?;
    if files.is_empty() {
        return Err(PhrasebookError::NoFiles {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// Reads one file.
pub fn read(path: &Path) -> Result<String, PhrasebookError> {
    std::fs::read_to_string(path).map_err(|source| PhrasebookError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Compiles terms into a matcher; a phrase repeated within one category is an error naming
/// both places.
pub fn compile(terms: Vec<Term>) -> Result<Matcher, PhrasebookError> {
    Ok(Matcher::new(Lexicon::from_terms(terms))?)
}
