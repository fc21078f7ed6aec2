//! Errors from loading rule files and from reloading the whole inspection set.

use crate::transforms::matcher::LexiconError;
use std::path::PathBuf;
use thiserror::Error;

/// Why the rule files could not be loaded.
#[derive(Debug, Error)]
pub enum RuleError {
    /// The file or directory could not be read.
    #[error("{path}: cannot read rules: {source}; check the path and its permissions")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not a valid rule file; `line` is 1-based.
    #[error("{file}:{line}: {problem}")]
    Invalid {
        file: String,
        line: usize,
        problem: RuleProblem,
    },
    /// The phrase automaton could not be built.
    #[error("cannot build the rule phrase automaton: {0}; shorten or split the phrase lists")]
    Build(String),
}

/// What is wrong at one place of a rule file.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleProblem {
    /// TOML syntax error, unknown key, wrong value type or missing field.
    #[error("{0}")]
    Syntax(String),
    #[error("invalid rule id `{0}` (use lower-case letters, digits and `_`, e.g. `greeting_within_15s`)")]
    BadId(String),
    #[error("duplicate rule id `{id}` (first at {first}); every rule needs its own id")]
    DuplicateId { id: String, first: String },
    #[error(
        "invalid category `{0}` (use lower-case letters, digits and `_`, e.g. `service_script`)"
    )]
    BadCategory(String),
    #[error("unknown severity `{0}` (expected low|medium|high|critical)")]
    UnknownSeverity(String),
    #[error("unknown speaker `{0}` (expected agent|customer|any)")]
    UnknownSpeaker(String),
    #[error("unknown action `{0}` (expected alert_agent|alert_supervisor|tag_call)")]
    UnknownAction(String),
    #[error("rule has no actions; list at least one of alert_agent, alert_supervisor, tag_call")]
    NoActions,
    #[error("invalid tag `{0}` (use lower-case letters, digits and `_`)")]
    BadTag(String),
    #[error(
        "`tags` are only applied by the `tag_call` action; add it to `actions` or drop `tags`"
    )]
    TagsWithoutTagCall,
    #[error("a condition needs exactly one of said, absent, near, all, any; found {0}")]
    ConditionKinds(usize),
    #[error("`{0}` needs at least one condition")]
    EmptyCombinator(&'static str),
    #[error("phrase list is empty; give `phrases`, `terms` or `categories`")]
    NoPhrases,
    #[error("phrase `{0}` has no letters, digits or CJK characters, so it can never match")]
    NothingToMatch(String),
    #[error("term `{0}` is in no lexicon file; add it to a lexicon or write it under `phrases`")]
    UnknownTerm(String),
    #[error("category `{0}` has no lexicon terms; check the spelling against the lexicon files")]
    UnknownCategory(String),
    #[error("`first_s`, `last_s` and `before` exclude each other; keep one")]
    ConflictingWindow,
    #[error("`{0}` must be at least 1 second")]
    ZeroSeconds(&'static str),
    #[error("`near` needs exactly one of `within_chars` and `within_s`")]
    NearDistance,
    #[error("unknown speakers relation `{0}` (expected same|other|any)")]
    UnknownRelation(String),
}

/// Why a reload (or the start-up load) of lexicons and rules failed; the old set stays in force.
#[derive(Debug, Error)]
pub enum InspectionError {
    #[error(transparent)]
    Lexicon(#[from] LexiconError),
    #[error(transparent)]
    Rules(#[from] RuleError),
}
