//! The lexicon and the rules as one unit, swapped together on reload: rules refer to lexicon
//! terms by id, so a matcher and a rule set are only ever used as the pair they were built as.

use super::compile::RuleSet;
use super::error::InspectionError;
use super::file;
use super::files::InspectionFiles;
use crate::transforms::matcher::{MatchMode, Matcher};
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A compiled lexicon and the rules compiled against it.
pub struct Inspection {
    pub matcher: Matcher,
    pub rules: RuleSet,
    /// Distinct for every set built in this process; per-call rule state notices a reload by it.
    pub generation: u64,
    /// [`InspectionFiles::digest`] of the files it was built from (empty when built in code):
    /// the same on every node that runs the same set.
    pub digest: String,
}

/// The set in force, replaced atomically by a reload; readers take a snapshot per utterance.
pub type InspectionHandle = Arc<ArcSwap<Inspection>>;

/// Where lexicons and rules are read from, for start-up and every reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InspectionSource {
    /// Directory of lexicon `*.toml` files.
    pub lexicon_dir: PathBuf,
    /// Directory of rule `*.toml` files; a missing one holds no rules.
    pub rules_dir: PathBuf,
    /// Accent-tolerant homophone matching (see [`Matcher::with_fuzzy_pinyin`]).
    pub fuzzy_pinyin: bool,
    /// Match mode per category for terms that do not set their own (see
    /// [`Lexicon::with_category_modes`](crate::transforms::matcher::Lexicon::with_category_modes)).
    pub category_modes: BTreeMap<String, MatchMode>,
}

/// What a load found, for logs and the reload endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InspectionSummary {
    pub terms: usize,
    pub rules: usize,
    pub generation: u64,
    /// SHA-256 of the lexicon and rule files (see [`InspectionFiles::digest`]).
    pub digest: String,
}

impl Inspection {
    /// Pairs a matcher with rules already compiled against it.
    pub fn new(matcher: Matcher, rules: RuleSet) -> Inspection {
        Inspection {
            matcher,
            rules,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            digest: String::new(),
        }
    }

    /// Loads and compiles the lexicon directory and the rules directory.
    pub fn load(source: &InspectionSource) -> Result<Inspection, InspectionError> {
        Inspection::compile(&InspectionFiles::read(source)?, source)
    }

    /// Compiles files read here or on another node, with this node's match settings
    /// (`fuzzy_pinyin`, category modes) from `source`.
    pub fn compile(
        files: &InspectionFiles,
        source: &InspectionSource,
    ) -> Result<Inspection, InspectionError> {
        let matcher = Matcher::with_fuzzy_pinyin(
            files.lexicon()?.with_category_modes(&source.category_modes),
            source.fuzzy_pinyin,
        )?;
        let rules = RuleSet::compile(files.rule_defs()?, &matcher)?;
        Ok(Inspection {
            digest: files.digest(),
            ..Inspection::new(matcher, rules)
        })
    }

    /// Compiles rule files given as `(name, contents)` against `matcher`; for tests and tools.
    pub fn with_rule_sources(
        matcher: Matcher,
        sources: &[(&str, &str)],
    ) -> Result<Inspection, InspectionError> {
        let mut defs = Vec::new();
        for (name, src) in sources {
            defs.extend(file::parse(src, name)?);
        }
        let rules = RuleSet::compile(defs, &matcher)?;
        Ok(Inspection::new(matcher, rules))
    }

    /// Checks the rule files of `dir` against `matcher` without keeping them.
    pub fn check_rules(dir: &Path, matcher: &Matcher) -> Result<usize, InspectionError> {
        let files = InspectionFiles {
            lexicons: Vec::new(),
            rules: super::files::read_rules(dir)?,
        };
        Ok(RuleSet::compile(files.rule_defs()?, matcher)?.len())
    }

    /// Counts for logs and the reload endpoint.
    pub fn summary(&self) -> InspectionSummary {
        InspectionSummary {
            terms: self.matcher.len(),
            rules: self.rules.len(),
            generation: self.generation,
            digest: self.digest.clone(),
        }
    }
}

impl From<Matcher> for Inspection {
    /// A matcher with no rules.
    fn from(matcher: Matcher) -> Inspection {
        Inspection::new(matcher, RuleSet::default())
    }
}

/// Re-reads lexicons and rules and puts them in force; on error the old set stays. Returns
/// the files read, for a cluster to hand to its other nodes.
pub fn reload(
    handle: &InspectionHandle,
    source: &InspectionSource,
) -> Result<(InspectionSummary, InspectionFiles), InspectionError> {
    let files = InspectionFiles::read(source)?;
    let summary = apply(handle, &files, source)?;
    Ok((summary, files))
}

/// Compiles `files` (with this node's settings from `source`) and puts them in force; on
/// error the old set stays.
pub fn apply(
    handle: &InspectionHandle,
    files: &InspectionFiles,
    source: &InspectionSource,
) -> Result<InspectionSummary, InspectionError> {
    let next = Inspection::compile(files, source)?;
    let summary = next.summary();
    handle.store(Arc::new(next));
    Ok(summary)
}
