//! A call fixture's sidecar as the end-to-end tests use it: which terms each speaker's
//! utterances hold, where in the call they are, and the check that a streamed call found those
//! and nothing else.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every JSON sidecar in `dir` (relative to the crate root) with its path, in name order.
pub fn sidecars(dir: &str) -> Vec<(PathBuf, Value)> {
    let mut out: Vec<_> = std::fs::read_dir(super::root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// One utterance of the sidecar: its media time and the terms a hit on it may report.
struct Spoken {
    speaker: String,
    start_ms: u64,
    end_ms: u64,
    /// (term, category)
    terms: Vec<(String, String)>,
}

/// How far (ms) a hit's utterance bounds may sit from the sidecar's: the segmenter keeps
/// a little audio either side, and a transport may shift media time slightly.
const SLACK_MS: u64 = 1_200;

/// The expected hits of a two-leg call fixture (`fixtures/calls/NAME.json`).
pub struct CallHits {
    name: String,
    spoken: Vec<Spoken>,
    /// (speaker, term) -> how many times the call says it.
    counts: BTreeMap<(String, String), usize>,
}

impl CallHits {
    pub fn load(name: &str) -> CallHits {
        let path = super::root().join(format!("fixtures/calls/{name}.json"));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut spoken = Vec::new();
        let mut counts = BTreeMap::new();
        for leg in v["legs"].as_array().unwrap() {
            let speaker = leg["speaker"].as_str().unwrap().to_string();
            for u in leg["utterances"].as_array().unwrap() {
                let terms: Vec<(String, String)> = u["expected_hits"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        let term = h["term"].as_str().unwrap().to_string();
                        *counts.entry((speaker.clone(), term.clone())).or_default() += 1;
                        (term, h["category"].as_str().unwrap().to_string())
                    })
                    .collect();
                spoken.push(Spoken {
                    speaker: speaker.clone(),
                    start_ms: (u["start_s"].as_f64().unwrap() * 1000.0) as u64,
                    end_ms: (u["end_s"].as_f64().unwrap() * 1000.0) as u64,
                    terms,
                });
            }
        }
        CallHits {
            name: name.to_string(),
            spoken,
            counts,
        }
    }

    /// Terms the sidecar allows for a hit of `speaker` on an utterance spanning the given
    /// media time (the union over the sidecar's utterances it overlaps).
    fn allowed(&self, speaker: &str, start_ms: u64, end_ms: u64) -> Vec<&(String, String)> {
        self.spoken
            .iter()
            .filter(|s| {
                s.speaker == speaker
                    && start_ms < s.end_ms + SLACK_MS
                    && s.start_ms < end_ms + SLACK_MS
            })
            .flat_map(|s| s.terms.iter())
            .collect()
    }

    /// Asserts that `hits` (live `phrase.hit` events or archived hits, each with `speaker`,
    /// `term`, `category`, `start_ms`, `end_ms`) are what the fixture says:
    /// - every hit is a term the sidecar lists for that speaker's utterance at that time,
    ///   with its category, or a shorter term of the same category inside one (a partial
    ///   has heard only the start; a misheard neighbour can leave 12378 of 打12378投诉);
    /// - archived hits (`archived`: the finals' hits, all of them) never outnumber the times
    ///   the call says a term; live hits are raised once per utterance, partial or final, so
    ///   they are not counted;
    /// - every `(speaker, term)` in `required` was found.
    ///
    /// Expected terms outside `required` may be missing: the model mishears some of them
    /// (the sidecar's `whisper_base` shows how), and no matcher can find a word not heard.
    pub fn check(
        &self,
        hits: &[&Value],
        archived: bool,
        required: &[(&str, &str)],
        context: &dyn Fn() -> String,
    ) {
        let mut counted: BTreeMap<(String, String), usize> = BTreeMap::new();
        for h in hits {
            let speaker = h["speaker"].as_str().unwrap();
            let term = h["term"].as_str().unwrap();
            let category = h["category"].as_str().unwrap();
            let allowed = self.allowed(
                speaker,
                h["start_ms"].as_u64().unwrap(),
                h["end_ms"].as_u64().unwrap(),
            );
            // The expected term this hit stands for: itself, or one that holds it.
            let stands_for = allowed
                .iter()
                .find(|(t, c)| c == category && t == term)
                .or_else(|| {
                    allowed
                        .iter()
                        .find(|(t, c)| c == category && t.contains(term))
                });
            let Some((expected_term, _)) = stands_for else {
                panic!(
                    "{}: hit {h} is not in the sidecar (allowed there: {allowed:?})\n{}",
                    self.name,
                    context()
                );
            };
            *counted
                .entry((speaker.to_string(), expected_term.clone()))
                .or_default() += 1;
        }
        if archived {
            for (key, n) in &counted {
                let said = self.counts.get(key).copied().unwrap_or(0);
                assert!(
                    *n <= said,
                    "{}: {key:?} archived {n} times, said {said} times\n{}",
                    self.name,
                    context()
                );
            }
        }
        for (speaker, term) in required {
            assert!(
                self.counts
                    .contains_key(&(speaker.to_string(), term.to_string())),
                "{}: required {term:?} for the {speaker} is not in the sidecar",
                self.name
            );
            assert!(
                hits.iter()
                    .any(|h| h["speaker"] == *speaker && h["term"] == *term),
                "{}: no hit of {term:?} for the {speaker}\n{}",
                self.name,
                context()
            );
        }
    }
}

/// The whole hit check of one streamed call of `fixture`: the live `phrase.hit` events and
/// the archived call's hits both hold to the sidecar, with the `required` terms found, and
/// the live and archived hits agree.
pub fn check_call_hits(fixture: &str, events: &[Value], detail: &Value, required: &[(&str, &str)]) {
    let expected = CallHits::load(fixture);
    let dump = || super::dump_events(events);
    let live = super::of_type(events, "phrase.hit");
    expected.check(&live, false, required, &dump);
    let archived: Vec<&Value> = detail["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in the archived call: {detail}"))
        .iter()
        .collect();
    expected.check(&archived, true, required, &|| detail.to_string());
    // A hit is raised live once per utterance (on the first partial or the final that finds
    // it), and the final's hits are archived: each archived hit was announced, and each hit
    // announced on a final was archived.
    let same =
        |a: &Value, b: &Value| a["utterance_id"] == b["utterance_id"] && a["term"] == b["term"];
    for a in &archived {
        assert!(
            live.iter().any(|l| same(l, a)),
            "archived hit {a} was never announced\n{}",
            dump()
        );
    }
    for l in live.iter().filter(|l| l["partial"] == false) {
        assert!(
            archived.iter().any(|a| same(l, a)),
            "hit {l} announced on a final is not archived: {detail}"
        );
    }
}

/// The hit check of `call_en_8k` as tiny.en hears it: the customer's complaint, and the
/// agent's promise as one of its two terms (the sidecar's `whisper_base` shows how the agent's
/// line gets misheard at 8 kHz).
pub fn check_8k_call_hits(events: &[Value], detail: &Value, log: &str) {
    check_call_hits(
        "call_en_8k",
        events,
        detail,
        &[("customer", "file a complaint")],
    );
    assert!(
        detail["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["speaker"] == "agent" && h["category"] == "sales_promise"),
        "{detail}\n{log}"
    );
}
