//! The calls the report plays: the Mandarin calls of `fixtures/accuracy/` and the two-leg calls
//! of `fixtures/calls/`, each with a wideband (16 kHz) and a telephone (8 kHz) copy, and what
//! their sidecars say was said on each leg.

use callwatch::call::Speaker;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One reference line.
#[derive(Debug, Clone, Deserialize)]
pub struct Line {
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
    #[serde(default)]
    pub expected_hits: Vec<ExpectedHit>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ExpectedHit {
    pub term: String,
    pub category: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Leg {
    pub side: String,
    pub speaker: String,
    pub utterances: Vec<Line>,
}

impl Leg {
    pub fn speaker(&self) -> Speaker {
        Speaker::parse(&self.speaker).unwrap_or(Speaker::Unknown)
    }
}

/// A call fixture: its copies by sample rate and its legs (channel 0 = left first).
#[derive(Debug, Clone)]
pub struct Call {
    pub name: String,
    pub language: String,
    pub duration_s: f64,
    pub files: BTreeMap<u32, PathBuf>,
    pub legs: Vec<Leg>,
}

impl Call {
    /// Whether any line carries a target term.
    pub fn has_terms(&self) -> bool {
        self.legs
            .iter()
            .any(|l| l.utterances.iter().any(|u| !u.expected_hits.is_empty()))
    }
}

#[derive(Deserialize)]
struct Sidecar {
    name: String,
    language: String,
    duration_s: f64,
    #[serde(default)]
    files: BTreeMap<String, String>,
    legs: Vec<Leg>,
}

fn read(path: &Path) -> Sidecar {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a call sidecar: {e}", path.display()))
}

/// Every call in `languages`, Mandarin accuracy calls first, by name.
pub fn load(fixtures: &Path, languages: &[String]) -> Vec<Call> {
    let mut calls = Vec::new();
    let dir = fixtures.join("accuracy");
    let mut sidecars: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    sidecars.sort();
    for path in sidecars {
        let s = read(&path);
        let files = s
            .files
            .iter()
            .map(|(rate, f)| (rate.parse().expect("rates are numbers"), dir.join(f)))
            .collect();
        calls.push(Call {
            name: s.name,
            language: s.language,
            duration_s: s.duration_s,
            files,
            legs: s.legs,
        });
    }
    // The older two-leg calls: `<name>.wav` and `<name>_8k.wav` share a timeline.
    let dir = fixtures.join("calls");
    for name in ["call_zh", "call_en"] {
        let s = read(&dir.join(format!("{name}.json")));
        calls.push(Call {
            name: s.name,
            language: s.language,
            duration_s: s.duration_s,
            files: [
                (16_000, dir.join(format!("{name}.wav"))),
                (8_000, dir.join(format!("{name}_8k.wav"))),
            ]
            .into(),
            legs: s.legs,
        });
    }
    calls.retain(|c| languages.contains(&c.language));
    calls
}
