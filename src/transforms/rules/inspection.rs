//! The lexicon and the rules as one unit, swapped together on reload: rules refer to lexicon
//! terms by id, so a matcher and a rule set are only ever used as the pair they were built as.

use super::compile::RuleSet;
use super::error::InspectionError;
use super::file;
use crate::transforms::matcher::{Lexicon, MatchMode, Matcher};
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
    /// [`Lexicon::with_category_modes`]).
    pub category_modes: BTreeMap<String, MatchMode>,
}

/// What a load found, for logs and the reload endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InspectionSummary {
    pub terms: usize,
    pub rules: usize,
    pub generation: u64,
}

impl Inspection {
    /// Pairs a matcher with rules already compiled against it.
    pub fn new(matcher: Matcher, rules: RuleSet) -> Inspection {
        Inspection {
            matcher,
            rules,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Loads and compiles the lexicon directory and the rules directory.
    pub fn load(source: &InspectionSource) -> Result<Inspection, InspectionError> {
        let matcher = Matcher::with_fuzzy_pinyin(
            Lexicon::load_dir(&source.lexicon_dir)?.with_category_modes(&source.category_modes),
            source.fuzzy_pinyin,
        )?;
        let defs = file::load_dir(&source.rules_dir)?;
        let rules = RuleSet::compile(defs, &matcher)?;
        Ok(Inspection::new(matcher, rules))
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
        Ok(RuleSet::compile(file::load_dir(dir)?, matcher)?.len())
    }

    /// Counts for logs and the reload endpoint.
    pub fn summary(&self) -> InspectionSummary {
        InspectionSummary {
            terms: self.matcher.len(),
            rules: self.rules.len(),
            generation: self.generation,
        }
    }
}

impl From<Matcher> for Inspection {
    /// A matcher with no rules.
    fn from(matcher: Matcher) -> Inspection {
        Inspection::new(matcher, RuleSet::default())
    }
}

/// Re-reads lexicons and rules and puts them in force; on error the old set stays.
pub fn reload(
    handle: &InspectionHandle,
    source: &InspectionSource,
) -> Result<InspectionSummary, InspectionError> {
    let next = Inspection::load(source)?;
    let summary = next.summary();
    handle.store(Arc::new(next));
    Ok(summary)
}
