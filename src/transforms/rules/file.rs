//! Rule files: TOML `[[rule]]` tables with a condition tree, validated where they are written so
//! every error names the file and line to fix. The format is documented in `lexicons/README.md`.

use super::error::{RuleError, RuleProblem};
use crate::transforms::matcher::{Severity, SpeakerScope};
use crate::transforms::toml_source;
use serde::Deserialize;
use toml::Spanned;

/// What a rule asks for when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Show a reminder on the agent's desktop.
    AlertAgent,
    /// Notify the team lead (班长/主管).
    AlertSupervisor,
    /// Tag the archived call so reviewers can filter on it.
    TagCall,
}

impl Action {
    /// The rule-file and event spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AlertAgent => "alert_agent",
            Action::AlertSupervisor => "alert_supervisor",
            Action::TagCall => "tag_call",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        [Action::AlertAgent, Action::AlertSupervisor, Action::TagCall]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// A text written in a rule file and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub text: String,
    pub line: usize,
}

/// A list of phrases a condition looks for, before it is resolved against the lexicon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PhrasesDef {
    pub phrases: Vec<Located>,
    pub terms: Vec<Located>,
    pub categories: Vec<Located>,
    pub speaker: SpeakerScope,
}

/// How far apart the two sides of a `near` condition may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distance {
    /// In one utterance, at most this many (normalised) characters between the two phrases.
    Chars(usize),
    /// At most this many milliseconds of media time between the two utterances.
    Ms(u64),
}

/// Whether the two sides of a `near` condition must come from the same speaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    Same,
    Other,
    Any,
}

/// Until when an `absent` phrase may still be said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UntilDef {
    /// Within the first N ms of the call.
    First(u64),
    /// Within the last N ms of the call (decided at call end).
    Last(u64),
    /// Before the first occurrence of these phrases.
    Before(PhrasesDef),
    /// At any time before the call ends.
    End,
}

/// Where in the call a `said` phrase counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Anywhere,
    /// Utterances starting in the first N ms.
    First(u64),
    /// Utterances reaching into the last N ms (decided at call end).
    Last(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CondDef {
    Said(PhrasesDef, Window),
    Absent(PhrasesDef, UntilDef),
    Near {
        a: PhrasesDef,
        b: PhrasesDef,
        relation: Relation,
        distance: Distance,
    },
    All(Vec<CondDef>),
    Any(Vec<CondDef>),
}

/// One rule as written, validated but not yet resolved against the lexicon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuleDef {
    pub id: String,
    pub description: String,
    pub category: String,
    pub severity: Severity,
    pub actions: Vec<Action>,
    pub tags: Vec<String>,
    pub cond: CondDef,
    pub file: String,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    rule: Vec<Spanned<RuleDoc>>,
}

// serde cannot combine `flatten` with `deny_unknown_fields`, hence the condition keys repeated
// from `CondDoc`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    id: Spanned<String>,
    #[serde(default)]
    description: String,
    category: Spanned<String>,
    severity: Spanned<String>,
    #[serde(default)]
    actions: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    said: Option<Spanned<SaidDoc>>,
    absent: Option<Spanned<AbsentDoc>>,
    near: Option<Spanned<NearDoc>>,
    all: Option<Spanned<Vec<Spanned<CondDoc>>>>,
    any: Option<Spanned<Vec<Spanned<CondDoc>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CondDoc {
    said: Option<Spanned<SaidDoc>>,
    absent: Option<Spanned<AbsentDoc>>,
    near: Option<Spanned<NearDoc>>,
    all: Option<Spanned<Vec<Spanned<CondDoc>>>>,
    any: Option<Spanned<Vec<Spanned<CondDoc>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PhrasesDoc {
    #[serde(default)]
    phrases: Vec<Spanned<String>>,
    #[serde(default)]
    terms: Vec<Spanned<String>>,
    #[serde(default)]
    categories: Vec<Spanned<String>>,
    speaker: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaidDoc {
    #[serde(default)]
    phrases: Vec<Spanned<String>>,
    #[serde(default)]
    terms: Vec<Spanned<String>>,
    #[serde(default)]
    categories: Vec<Spanned<String>>,
    speaker: Option<Spanned<String>>,
    first_s: Option<Spanned<u32>>,
    last_s: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AbsentDoc {
    #[serde(default)]
    phrases: Vec<Spanned<String>>,
    #[serde(default)]
    terms: Vec<Spanned<String>>,
    #[serde(default)]
    categories: Vec<Spanned<String>>,
    speaker: Option<Spanned<String>>,
    first_s: Option<Spanned<u32>>,
    last_s: Option<Spanned<u32>>,
    before: Option<Spanned<PhrasesDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NearDoc {
    a: Spanned<PhrasesDoc>,
    b: Spanned<PhrasesDoc>,
    within_chars: Option<Spanned<u32>>,
    within_s: Option<Spanned<u32>>,
    speakers: Option<Spanned<String>>,
}

struct Source<'a> {
    src: &'a str,
    file: &'a str,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Source<'_> {
    fn line_of(&self, byte: usize) -> usize {
        toml_source::line_of(self.src, byte)
    }

    fn error(&self, byte: usize, problem: RuleProblem) -> RuleError {
        RuleError::Invalid {
            file: self.file.to_string(),
            line: self.line_of(byte),
            problem,
        }
    }

    fn located(&self, v: &[Spanned<String>]) -> Vec<Located> {
        v.iter()
            .map(|s| Located {
                text: s.get_ref().clone(),
                line: self.line_of(s.span().start),
            })
            .collect()
    }

    fn speaker(&self, s: &Option<Spanned<String>>) -> Result<SpeakerScope, RuleError> {
        match s {
            None => Ok(SpeakerScope::Any),
            Some(s) => SpeakerScope::parse(s.get_ref()).ok_or_else(|| {
                self.error(
                    s.span().start,
                    RuleProblem::UnknownSpeaker(s.get_ref().clone()),
                )
            }),
        }
    }

    fn phrases(
        &self,
        at: usize,
        phrases: &[Spanned<String>],
        terms: &[Spanned<String>],
        categories: &[Spanned<String>],
        speaker: &Option<Spanned<String>>,
    ) -> Result<PhrasesDef, RuleError> {
        if phrases.is_empty() && terms.is_empty() && categories.is_empty() {
            return Err(self.error(at, RuleProblem::NoPhrases));
        }
        Ok(PhrasesDef {
            phrases: self.located(phrases),
            terms: self.located(terms),
            categories: self.located(categories),
            speaker: self.speaker(speaker)?,
        })
    }

    fn seconds(&self, v: &Spanned<u32>, key: &'static str) -> Result<u64, RuleError> {
        if *v.get_ref() == 0 {
            return Err(self.error(v.span().start, RuleProblem::ZeroSeconds(key)));
        }
        Ok(u64::from(*v.get_ref()) * 1000)
    }

    #[allow(clippy::type_complexity)]
    fn cond(
        &self,
        at: usize,
        said: &Option<Spanned<SaidDoc>>,
        absent: &Option<Spanned<AbsentDoc>>,
        near: &Option<Spanned<NearDoc>>,
        all: &Option<Spanned<Vec<Spanned<CondDoc>>>>,
        any: &Option<Spanned<Vec<Spanned<CondDoc>>>>,
    ) -> Result<CondDef, RuleError> {
        let kinds = [
            said.is_some(),
            absent.is_some(),
            near.is_some(),
            all.is_some(),
            any.is_some(),
        ]
        .iter()
        .filter(|k| **k)
        .count();
        if kinds != 1 {
            return Err(self.error(at, RuleProblem::ConditionKinds(kinds)));
        }
        if let Some(s) = said {
            let at = s.span().start;
            let d = s.get_ref();
            let p = self.phrases(at, &d.phrases, &d.terms, &d.categories, &d.speaker)?;
            let window = match (&d.first_s, &d.last_s) {
                (Some(_), Some(_)) => return Err(self.error(at, RuleProblem::ConflictingWindow)),
                (Some(f), None) => Window::First(self.seconds(f, "first_s")?),
                (None, Some(l)) => Window::Last(self.seconds(l, "last_s")?),
                (None, None) => Window::Anywhere,
            };
            return Ok(CondDef::Said(p, window));
        }
        if let Some(a) = absent {
            let at = a.span().start;
            let d = a.get_ref();
            let p = self.phrases(at, &d.phrases, &d.terms, &d.categories, &d.speaker)?;
            let until = match (&d.first_s, &d.last_s, &d.before) {
                (None, None, None) => UntilDef::End,
                (Some(f), None, None) => UntilDef::First(self.seconds(f, "first_s")?),
                (None, Some(l), None) => UntilDef::Last(self.seconds(l, "last_s")?),
                (None, None, Some(b)) => {
                    let bd = b.get_ref();
                    UntilDef::Before(self.phrases(
                        b.span().start,
                        &bd.phrases,
                        &bd.terms,
                        &bd.categories,
                        &bd.speaker,
                    )?)
                }
                _ => return Err(self.error(at, RuleProblem::ConflictingWindow)),
            };
            return Ok(CondDef::Absent(p, until));
        }
        if let Some(n) = near {
            let at = n.span().start;
            let d = n.get_ref();
            let side = |s: &Spanned<PhrasesDoc>| {
                let sd = s.get_ref();
                self.phrases(
                    s.span().start,
                    &sd.phrases,
                    &sd.terms,
                    &sd.categories,
                    &sd.speaker,
                )
            };
            let distance = match (&d.within_chars, &d.within_s) {
                (Some(c), None) => Distance::Chars(*c.get_ref() as usize),
                (None, Some(s)) => Distance::Ms(self.seconds(s, "within_s")?),
                _ => return Err(self.error(at, RuleProblem::NearDistance)),
            };
            let relation = match &d.speakers {
                None => Relation::Any,
                Some(r) => match r.get_ref().as_str() {
                    "same" => Relation::Same,
                    "other" => Relation::Other,
                    "any" => Relation::Any,
                    other => {
                        return Err(self.error(
                            r.span().start,
                            RuleProblem::UnknownRelation(other.to_string()),
                        ))
                    }
                },
            };
            return Ok(CondDef::Near {
                a: side(&d.a)?,
                b: side(&d.b)?,
                relation,
                distance,
            });
        }
        let (list, name, all_of) = match (all, any) {
            (Some(l), _) => (l, "all", true),
            (_, Some(l)) => (l, "any", false),
            _ => unreachable!("exactly one kind is set"),
        };
        if list.get_ref().is_empty() {
            return Err(self.error(list.span().start, RuleProblem::EmptyCombinator(name)));
        }
        let children = list
            .get_ref()
            .iter()
            .map(|c| {
                let d = c.get_ref();
                self.cond(c.span().start, &d.said, &d.absent, &d.near, &d.all, &d.any)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if all_of {
            CondDef::All(children)
        } else {
            CondDef::Any(children)
        })
    }

    fn rule(&self, r: &Spanned<RuleDoc>) -> Result<RuleDef, RuleError> {
        let d = r.get_ref();
        if !is_name(d.id.get_ref()) {
            return Err(self.error(
                d.id.span().start,
                RuleProblem::BadId(d.id.get_ref().clone()),
            ));
        }
        if !is_name(d.category.get_ref()) {
            return Err(self.error(
                d.category.span().start,
                RuleProblem::BadCategory(d.category.get_ref().clone()),
            ));
        }
        let severity = Severity::parse(d.severity.get_ref()).ok_or_else(|| {
            self.error(
                d.severity.span().start,
                RuleProblem::UnknownSeverity(d.severity.get_ref().clone()),
            )
        })?;
        if d.actions.is_empty() {
            return Err(self.error(d.id.span().start, RuleProblem::NoActions));
        }
        let mut actions = Vec::new();
        for a in &d.actions {
            let action = Action::parse(a.get_ref()).ok_or_else(|| {
                self.error(
                    a.span().start,
                    RuleProblem::UnknownAction(a.get_ref().clone()),
                )
            })?;
            if !actions.contains(&action) {
                actions.push(action);
            }
        }
        let mut tags = Vec::new();
        for t in &d.tags {
            if !is_name(t.get_ref()) {
                return Err(self.error(t.span().start, RuleProblem::BadTag(t.get_ref().clone())));
            }
            tags.push(t.get_ref().clone());
        }
        if actions.contains(&Action::TagCall) {
            if tags.is_empty() {
                tags.push(d.id.get_ref().clone());
            }
        } else if let Some(t) = d.tags.first() {
            return Err(self.error(t.span().start, RuleProblem::TagsWithoutTagCall));
        }
        let cond = self.cond(
            d.id.span().start,
            &d.said,
            &d.absent,
            &d.near,
            &d.all,
            &d.any,
        )?;
        Ok(RuleDef {
            id: d.id.get_ref().clone(),
            description: d.description.clone(),
            category: d.category.get_ref().clone(),
            severity,
            actions,
            tags,
            cond,
            file: self.file.to_string(),
            line: self.line_of(r.span().start.max(d.id.span().start)),
        })
    }
}

/// Parses one rule file's contents; `file_name` is used in errors.
pub(crate) fn parse(src: &str, file_name: &str) -> Result<Vec<RuleDef>, RuleError> {
    let source = Source {
        src,
        file: file_name,
    };
    let doc: FileDoc = toml::from_str(src).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let message = e.message().trim().lines().collect::<Vec<_>>().join("; ");
        source.error(at, RuleProblem::Syntax(message))
    })?;
    doc.rule.iter().map(|r| source.rule(r)).collect()
}

/// Rejects a rule id used twice (in one file or across files): firings, tags and reloads are
/// keyed by id.
pub(crate) fn check_duplicates(rules: &[RuleDef]) -> Result<(), RuleError> {
    for (i, r) in rules.iter().enumerate() {
        if let Some(first) = rules[..i].iter().find(|f| f.id == r.id) {
            let first = if first.file == r.file {
                format!("line {}", first.line)
            } else {
                format!("{}:{}", first.file, first.line)
            };
            return Err(RuleError::Invalid {
                file: r.file.clone(),
                line: r.line,
                problem: RuleProblem::DuplicateId {
                    id: r.id.clone(),
                    first,
                },
            });
        }
    }
    Ok(())
}
