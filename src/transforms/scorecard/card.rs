//! The scorecard file format (documented in `lexicons/scorecards/README.md`).
//!
//! Each `[[item]]` is checked where it is written, so an error names the file and line to fix.

use super::error::ScorecardError;
use crate::transforms::matcher::{normalize, Severity, SpeakerScope};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::Path;
use toml::Spanned;

/// A weighted list of QA items.
#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    pub id: String,
    pub name: String,
    /// A call passes when its score (0–100) reaches this.
    pub pass_score: f64,
    pub items: Vec<Item>,
}

/// One scored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub weight: f64,
    pub kind: ItemKind,
}

/// What an item checks.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    /// One of `phrases` is said by `speaker`, within the window when one is set.
    Said {
        speaker: SpeakerScope,
        /// Normalised (see [`normalize`]) so they compare with normalised transcripts.
        phrases: Vec<String>,
        window: Window,
    },
    /// None of `phrases` is said by `speaker` within the window.
    NotSaid {
        speaker: SpeakerScope,
        phrases: Vec<String>,
        window: Window,
    },
    /// No lexicon hit of these categories (all when empty) at or above `min_severity`.
    NoHits {
        categories: Vec<String>,
        min_severity: Severity,
        speaker: SpeakerScope,
    },
    /// Share of the call where nobody speaks is at most `max`.
    SilenceRatio { max: f64 },
    /// Share of speech where both sides speak at once is at most `max`.
    TalkOverRatio { max: f64 },
    /// Speaking rate of `speaker` within bounds: Chinese in characters per minute, English in
    /// words per minute, taken over that speaker's utterances of each language.
    SpeechRate {
        speaker: SpeakerScope,
        zh_cpm: (f64, f64),
        en_wpm: (f64, f64),
    },
}

/// The part of the call an item looks at; both `None` means the whole call.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Window {
    /// Only utterances starting within the first this-many seconds.
    pub first_s: Option<u32>,
    /// Only utterances ending within the last this-many seconds.
    pub last_s: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    id: Spanned<String>,
    name: Option<String>,
    #[serde(default = "default_pass")]
    pass_score: f64,
    #[serde(default)]
    item: Vec<Spanned<ItemDoc>>,
}

fn default_pass() -> f64 {
    80.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemDoc {
    id: String,
    name: Option<String>,
    weight: f64,
    kind: String,
    speaker: Option<String>,
    #[serde(default)]
    phrases: Vec<String>,
    within_first_s: Option<u32>,
    within_last_s: Option<u32>,
    #[serde(default)]
    categories: Vec<String>,
    min_severity: Option<String>,
    max: Option<f64>,
    zh_cpm: Option<[f64; 2]>,
    en_wpm: Option<[f64; 2]>,
}

impl Scorecard {
    /// Reads and parses one scorecard file.
    pub fn load_file(path: &Path) -> Result<Scorecard, ScorecardError> {
        let src = std::fs::read_to_string(path).map_err(|source| ScorecardError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scorecard::parse(&src, &path.display().to_string())
    }

    /// Parses a scorecard file's contents; `file` is used in errors.
    pub fn parse(src: &str, file: &str) -> Result<Scorecard, ScorecardError> {
        let err = |at: usize, problem: String| ScorecardError::Invalid {
            file: file.to_string(),
            line: src[..at.min(src.len())].matches('\n').count() + 1,
            problem,
        };
        let doc: FileDoc = toml::from_str(src).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            err(
                at,
                e.message().trim().lines().collect::<Vec<_>>().join("; "),
            )
        })?;
        if doc.id.get_ref().trim().is_empty() {
            return Err(err(doc.id.span().start, "empty scorecard id".into()));
        }
        if !(0.0..=100.0).contains(&doc.pass_score) {
            return Err(err(
                0,
                format!("pass_score {} is outside 0..=100", doc.pass_score),
            ));
        }
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        for spanned in &doc.item {
            let at = spanned.span().start;
            let d = spanned.get_ref();
            let item = parse_item(d).map_err(|p| err(at, format!("item `{}`: {p}", d.id)))?;
            if !seen.insert(item.id.clone()) {
                return Err(err(at, format!("duplicate item id `{}`", item.id)));
            }
            items.push(item);
        }
        if items.is_empty() {
            return Err(err(
                src.len(),
                "no [[item]]: a scorecard needs at least one".into(),
            ));
        }
        Ok(Scorecard {
            id: doc.id.get_ref().clone(),
            name: doc.name.unwrap_or_else(|| doc.id.get_ref().clone()),
            pass_score: doc.pass_score,
            items,
        })
    }

    /// The item with this id.
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }
}

fn parse_item(d: &ItemDoc) -> Result<Item, String> {
    if d.id.trim().is_empty() {
        return Err("empty id".into());
    }
    if !(d.weight.is_finite() && d.weight > 0.0) {
        return Err(format!("weight {} must be a positive number", d.weight));
    }
    let speaker = match &d.speaker {
        None => SpeakerScope::Agent,
        Some(s) => SpeakerScope::parse(s)
            .ok_or_else(|| format!("unknown speaker `{s}` (expected agent|customer|any)"))?,
    };
    let window = Window {
        first_s: d.within_first_s,
        last_s: d.within_last_s,
    };
    let phrases = || -> Result<Vec<String>, String> {
        if d.phrases.is_empty() {
            return Err(format!("kind `{}` needs `phrases`", d.kind));
        }
        d.phrases
            .iter()
            .map(|p| {
                let n = normalize(p).text;
                if n.is_empty() {
                    Err(format!("phrase `{p}` has nothing to match"))
                } else {
                    Ok(n)
                }
            })
            .collect()
    };
    let ratio = || -> Result<f64, String> {
        match d.max {
            Some(m) if (0.0..=1.0).contains(&m) => Ok(m),
            Some(m) => Err(format!("max {m} must be a ratio within 0..=1")),
            None => Err(format!(
                "kind `{}` needs `max` (a ratio within 0..=1)",
                d.kind
            )),
        }
    };
    check_fields(d)?;
    let kind = match d.kind.as_str() {
        "said" => ItemKind::Said {
            speaker,
            phrases: phrases()?,
            window,
        },
        "not_said" => ItemKind::NotSaid {
            speaker,
            phrases: phrases()?,
            window,
        },
        "no_hits" => ItemKind::NoHits {
            categories: d.categories.clone(),
            min_severity: match &d.min_severity {
                None => Severity::Low,
                Some(s) => Severity::parse(s).ok_or_else(|| {
                    format!("unknown severity `{s}` (expected low|medium|high|critical)")
                })?,
            },
            speaker: if d.speaker.is_some() {
                speaker
            } else {
                SpeakerScope::Any
            },
        },
        "silence_ratio" => ItemKind::SilenceRatio { max: ratio()? },
        "talk_over_ratio" => ItemKind::TalkOverRatio { max: ratio()? },
        "speech_rate" => {
            let range = |r: Option<[f64; 2]>, what: &str, default: (f64, f64)| match r {
                None => Ok(default),
                Some([lo, hi]) if lo >= 0.0 && lo < hi => Ok((lo, hi)),
                Some([lo, hi]) => Err(format!("{what} [{lo}, {hi}] must be [low, high] with 0 <= low < high")),
            };
            ItemKind::SpeechRate {
                speaker,
                zh_cpm: range(d.zh_cpm, "zh_cpm", (150.0, 330.0))?,
                en_wpm: range(d.en_wpm, "en_wpm", (100.0, 190.0))?,
            }
        }
        other => {
            return Err(format!(
                "unknown kind `{other}` (expected said|not_said|no_hits|silence_ratio|talk_over_ratio|speech_rate)"
            ))
        }
    };
    Ok(Item {
        id: d.id.clone(),
        name: d.name.clone().unwrap_or_else(|| d.id.clone()),
        weight: d.weight,
        kind,
    })
}

/// Rejects fields the item's kind does not read, so a misplaced setting is not silently ignored.
fn check_fields(d: &ItemDoc) -> Result<(), String> {
    let allowed: &[&str] = match d.kind.as_str() {
        "said" | "not_said" => &["speaker", "phrases", "within_first_s", "within_last_s"],
        "no_hits" => &["speaker", "categories", "min_severity"],
        "silence_ratio" | "talk_over_ratio" => &["max"],
        "speech_rate" => &["speaker", "zh_cpm", "en_wpm"],
        _ => return Ok(()), // the kind itself is reported
    };
    let present = [
        ("speaker", d.speaker.is_some()),
        ("phrases", !d.phrases.is_empty()),
        ("within_first_s", d.within_first_s.is_some()),
        ("within_last_s", d.within_last_s.is_some()),
        ("categories", !d.categories.is_empty()),
        ("min_severity", d.min_severity.is_some()),
        ("max", d.max.is_some()),
        ("zh_cpm", d.zh_cpm.is_some()),
        ("en_wpm", d.en_wpm.is_some()),
    ];
    match present
        .iter()
        .find(|(name, set)| *set && !allowed.contains(name))
    {
        Some((name, _)) => Err(format!(
            "`{name}` does not apply to kind `{}` (it reads: {})",
            d.kind,
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}
