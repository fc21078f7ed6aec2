//! The speech fixtures the benchmark plays: single utterances and two-leg calls, with the
//! language and speaker their sidecars record.

use callwatch::call::Speaker;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Root of the committed fixtures.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// One utterance WAV (16 kHz mono) and what its sidecar says about it.
#[derive(Debug, Clone)]
pub struct UtteranceFixture {
    /// `en/agent_greeting` and the like.
    pub name: String,
    pub wav: PathBuf,
    pub language: String,
    pub speaker: Speaker,
    pub duration_s: f64,
    /// What was said.
    pub text: String,
    /// Lexicon terms the matcher finds in `text`.
    pub expected_hits: Vec<String>,
}

/// One two-leg call WAV (16 kHz stereo: customer left, agent right).
#[derive(Debug, Clone)]
pub struct CallFixture {
    pub name: String,
    pub wav: PathBuf,
    pub language: String,
    pub duration_s: f64,
}

#[derive(Deserialize)]
struct UtteranceSidecar {
    language: String,
    speaker: String,
    duration_s: f64,
    text: String,
    expected_hits: Vec<ExpectedHit>,
}

#[derive(Deserialize)]
struct ExpectedHit {
    term: String,
}

#[derive(Deserialize)]
struct CallSidecar {
    language: String,
    duration_s: f64,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read fixture sidecar {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture sidecar {} is malformed: {e}", path.display()))
}

/// Every utterance of `fixtures/<language>/`, sorted by name.
pub fn utterances(language: &str) -> Vec<UtteranceFixture> {
    let dir = fixtures_dir().join(language);
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    wavs.sort();
    wavs.into_iter()
        .map(|wav| {
            let side: UtteranceSidecar = read_json(&wav.with_extension("json"));
            let stem = wav.file_stem().unwrap_or_default().to_string_lossy();
            UtteranceFixture {
                name: format!("{language}/{stem}"),
                speaker: Speaker::parse(&side.speaker).unwrap_or_else(|| {
                    panic!("{}: unknown speaker `{}`", wav.display(), side.speaker)
                }),
                wav,
                language: side.language,
                duration_s: side.duration_s,
                text: side.text,
                expected_hits: side.expected_hits.into_iter().map(|h| h.term).collect(),
            }
        })
        .collect()
}

/// `fixtures/calls/<name>.wav`.
pub fn call(name: &str) -> CallFixture {
    let wav = fixtures_dir().join("calls").join(format!("{name}.wav"));
    let side: CallSidecar = read_json(&wav.with_extension("json"));
    CallFixture {
        name: name.to_string(),
        wav,
        language: side.language,
        duration_s: side.duration_s,
    }
}

/// The channels of a 16-bit WAV, de-interleaved.
pub fn read_channels(path: &Path) -> (u32, Vec<Vec<i16>>) {
    let mut reader = hound::WavReader::open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let spec = reader.spec();
    let n = spec.channels.max(1) as usize;
    let mut channels = vec![Vec::new(); n];
    for (i, s) in reader.samples::<i16>().enumerate() {
        let s = s.unwrap_or_else(|e| panic!("{}: corrupt WAV: {e}", path.display()));
        channels[i % n].push(s);
    }
    (spec.sample_rate, channels)
}
