//! The knowledge base and escalation signals, read from `knowledge/*.toml` (format in
//! `knowledge/README.md`), every error naming `file:line`.

use crate::transforms::matcher::{Matcher, Severity, SpeakerScope};
use crate::transforms::phrasebook::{self, PhrasebookError, SourceText};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use toml::Spanned;

/// Confidence one ordinary trigger phrase gives an intent.
pub const TRIGGER_WEIGHT: f64 = 0.4;
/// Confidence one strong trigger phrase gives an intent.
pub const STRONG_WEIGHT: f64 = 0.85;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    article: Vec<ArticleDoc>,
    #[serde(default)]
    signal: Vec<SignalDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArticleDoc {
    id: Spanned<String>,
    intent: Spanned<String>,
    title: Spanned<String>,
    answer: Spanned<String>,
    #[serde(default)]
    triggers: Vec<Spanned<String>>,
    #[serde(default)]
    strong: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalDoc {
    id: Spanned<String>,
    level: Spanned<String>,
    reason: Spanned<String>,
    phrases: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    repeat: Option<Spanned<u32>>,
}

/// One knowledge article and the intent it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: String,
    pub intent: String,
    pub title: String,
    pub answer: String,
}

/// A customer escalation signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub id: String,
    pub level: Severity,
    pub reason: String,
    /// Distinct utterances with one of the phrases before the warning is raised.
    pub repeat: u32,
}

/// Articles and signals, compiled.
pub struct Knowledge {
    pub(crate) articles: Vec<Article>,
    /// Categories are `a<index>` (weak) and `s<index>` (strong) into `articles`.
    pub(crate) article_matcher: Option<Matcher>,
    pub(crate) signals: Vec<Signal>,
    /// Categories are signal ids.
    pub(crate) signal_matcher: Option<Matcher>,
}

impl Knowledge {
    /// Nothing to suggest or warn about.
    pub fn empty() -> Knowledge {
        Knowledge {
            articles: Vec::new(),
            article_matcher: None,
            signals: Vec::new(),
            signal_matcher: None,
        }
    }

    /// Parses files given as `(name, text)`.
    pub fn parse(files: &[(String, String)]) -> Result<Knowledge, PhrasebookError> {
        let mut k = Knowledge::empty();
        let mut article_terms = Vec::new();
        let mut signal_terms = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut first = |src: &SourceText, id: &Spanned<String>, what: &str, key: String| {
            let here = format!("{}:{}", src.file, src.line_of(id.span().start));
            match seen.get(&key) {
                Some(at) => Err(src.error(
                    id.span().start,
                    format!(
                        "{what} `{}` is defined twice (first at {at}); rename one",
                        id.get_ref()
                    ),
                )),
                None => {
                    seen.insert(key, here);
                    Ok(())
                }
            }
        };
        for (name, text) in files {
            let src = SourceText {
                src: text,
                file: name,
            };
            let doc: FileDoc = src.parse()?;
            for a in doc.article {
                let index = k.articles.len();
                let id = src.text(&a.id, "article id")?;
                first(&src, &a.id, "article", format!("article:{id}"))?;
                let intent = src.id(&a.intent, "intent")?;
                first(&src, &a.intent, "intent", format!("intent:{intent}"))?;
                if a.triggers.is_empty() && a.strong.is_empty() {
                    return Err(src.error(
                        a.id.span().start,
                        format!("article `{id}` has no triggers; add `triggers` or `strong` phrases customers say"),
                    ));
                }
                for t in &a.triggers {
                    article_terms.push(src.phrase(
                        t,
                        &format!("a{index}"),
                        SpeakerScope::Customer,
                    )?);
                }
                for t in &a.strong {
                    article_terms.push(src.phrase(
                        t,
                        &format!("s{index}"),
                        SpeakerScope::Customer,
                    )?);
                }
                k.articles.push(Article {
                    id,
                    intent,
                    title: src.text(&a.title, "title")?,
                    answer: src.text(&a.answer, "answer")?,
                });
            }
            for s in doc.signal {
                let id = src.id(&s.id, "signal id")?;
                first(&src, &s.id, "signal", format!("signal:{id}"))?;
                let level = Severity::parse(s.level.get_ref()).ok_or_else(|| {
                    src.error(
                        s.level.span().start,
                        format!(
                            "unknown level `{}` (expected low|medium|high|critical)",
                            s.level.get_ref()
                        ),
                    )
                })?;
                let repeat = match &s.repeat {
                    Some(r) if *r.get_ref() == 0 => {
                        return Err(src.error(r.span().start, "repeat must be at least 1"))
                    }
                    Some(r) => *r.get_ref(),
                    None => 1,
                };
                if s.phrases.get_ref().is_empty() {
                    return Err(src.error(
                        s.phrases.span().start,
                        format!("signal `{id}` has no phrases"),
                    ));
                }
                for p in s.phrases.get_ref() {
                    signal_terms.push(src.phrase(p, &id, SpeakerScope::Customer)?);
                }
                k.signals.push(Signal {
                    id,
                    level,
                    reason: src.text(&s.reason, "reason")?,
                    repeat,
                });
            }
        }
        if !article_terms.is_empty() {
            k.article_matcher = Some(phrasebook::compile(article_terms)?);
        }
        if !signal_terms.is_empty() {
            k.signal_matcher = Some(phrasebook::compile(signal_terms)?);
        }
        Ok(k)
    }

    /// Loads every `*.toml` file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Knowledge, PhrasebookError> {
        let mut files = Vec::new();
        for path in phrasebook::toml_files(dir)? {
            files.push((path.display().to_string(), phrasebook::read(&path)?));
        }
        Knowledge::parse(&files)
    }

    /// Every article.
    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    /// Every signal.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }
}
