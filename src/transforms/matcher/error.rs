//! Errors from loading lexicons and building the matcher.

use std::path::PathBuf;
use thiserror::Error;

/// Why a lexicon could not be loaded or compiled.
#[derive(Debug, Error)]
pub enum LexiconError {
    /// The file or directory could not be read.
    #[error("{path}: cannot read lexicon: {source}; check the path and its permissions")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A lexicon directory holds no `*.toml` file.
    #[error("{dir}: no *.toml lexicon files found; point the lexicon directory at the shipped `lexicons/` folder or add a file")]
    NoFiles { dir: PathBuf },
    /// A file is not a valid lexicon; `line` is 1-based.
    #[error("{file}:{line}: {problem}")]
    Invalid {
        file: String,
        line: usize,
        problem: Problem,
    },
    /// The automaton could not be built from the terms.
    #[error("cannot build the phrase automaton from {terms} terms: {reason}; split or shrink the lexicon")]
    Build { terms: usize, reason: String },
}

/// What is wrong at one place of a lexicon file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// TOML syntax error, unknown key, wrong value type or missing field.
    #[error("{0}")]
    Syntax(String),
    #[error("unknown severity `{0}` (expected low|medium|high|critical)")]
    UnknownSeverity(String),
    #[error("unknown speaker `{0}` (expected agent|customer|any)")]
    UnknownSpeaker(String),
    #[error(
        "invalid category `{0}` (use lower-case letters, digits and `_`, e.g. `sales_promise`)"
    )]
    BadCategory(String),
    #[error("unknown match mode `{0}` (expected exact|homophone|near|loose)")]
    UnknownMatchMode(String),
    #[error("both `match` and `homophones` are set; keep `match` (`homophones = true` is the older spelling of `match = \"homophone\"`)")]
    BothMatchKeys,
    #[error("empty language tag (use e.g. `zh` or `en`, or leave `lang` out)")]
    EmptyLanguage,
    #[error("empty term (remove it or write the phrase)")]
    EmptyTerm,
    #[error("term `{0}` has no letters, digits or CJK characters, so it can never match")]
    NothingToMatch(String),
    #[error(
        "term `{term}` has no category; set `category` on the term, its [[group]] or in [defaults]"
    )]
    MissingCategory { term: String },
    #[error(
        "term `{term}` has no severity; set `severity` on the term, its [[group]] or in [defaults]"
    )]
    MissingSeverity { term: String },
    #[error("duplicate term `{term}` in category `{category}` (first at {first}); terms are compared after normalisation (width, case, punctuation, Traditional/Simplified)")]
    DuplicateTerm {
        term: String,
        category: String,
        /// `line N` in the same file, `file:N` in another.
        first: String,
    },
}
