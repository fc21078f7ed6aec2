//! The fixtures' sidecars say which hits each utterance holds; this holds them to the shipped
//! lexicons and the matcher's semantics (leftmost-longest, speaker scopes), so the end-to-end
//! tests that assert them assert the truth:
//! - an utterance's `text` gives exactly its `expected_hits`, no more, no fewer;
//! - what the base model heard (`whisper_base`) gives only expected hits, or a shorter term
//!   inside one when a neighbouring word was misheard (homophones may recover a misheard
//!   term; nothing may add another);
//! - a call's per-speaker `expected_hits` are the sum of its utterances'.

mod common;

use callwatch::call::Speaker;
use callwatch::transforms::matcher::{Lexicon, Matcher};
use common::root;
use common::sidecar::sidecars;
use serde_json::Value;
use std::collections::BTreeMap;

fn matcher() -> Matcher {
    Matcher::new(Lexicon::load_dir(&root().join("lexicons")).unwrap()).unwrap()
}

/// (term, category) pairs with their counts.
type Hits = BTreeMap<(String, String), usize>;

fn found(m: &Matcher, text: &str, speaker: Speaker) -> Hits {
    let mut out = Hits::new();
    for h in m.find(text, speaker) {
        let t = m.term(h.term_id);
        *out.entry((t.text.clone(), t.category.clone())).or_default() += 1;
    }
    out
}

/// A missing list means no hit is expected.
fn expected(list: &Value) -> Hits {
    let mut out = Hits::new();
    if list.is_null() {
        return out;
    }
    for h in list.as_array().expect("expected_hits is a list") {
        let key = (
            h["term"].as_str().unwrap().to_string(),
            h["category"].as_str().unwrap().to_string(),
        );
        *out.entry(key).or_default() += h["count"].as_u64().unwrap_or(1) as usize;
    }
    out
}

/// Checks one utterance object, adding what disagrees to `wrong`; returns its expected hits.
fn check_utterance(
    m: &Matcher,
    what: &str,
    u: &Value,
    speaker: Speaker,
    wrong: &mut Vec<String>,
) -> Hits {
    let want = expected(&u["expected_hits"]);
    let text = u["text"].as_str().unwrap();
    let got = found(m, text, speaker);
    if got != want {
        wrong.push(format!(
            "{what}: {text:?} ({speaker:?}) gives {got:?}, the sidecar says {want:?}"
        ));
    }
    if let Some(heard) = u["whisper_base"].as_str() {
        for (key, n) in found(m, heard, speaker) {
            // A misheard neighbour can leave a shorter term of an expected one standing
            // (12378 of 打12378投诉 when 投诉 is heard as 投数): still what was said.
            let inside = want
                .keys()
                .any(|(t, c)| *c == key.1 && t != &key.0 && t.contains(&key.0));
            if !inside && want.get(&key).is_none_or(|w| n > *w) {
                wrong.push(format!(
                    "{what}: {key:?} found in what the model heard ({heard:?}) is not expected"
                ));
            }
        }
    }
    want
}

#[test]
fn single_utterance_sidecars_agree_with_the_matcher() {
    let m = matcher();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for dir in ["fixtures/en", "fixtures/zh"] {
        for (path, v) in sidecars(dir) {
            let speaker = Speaker::parse(v["speaker"].as_str().unwrap()).unwrap();
            check_utterance(&m, &path.display().to_string(), &v, speaker, &mut wrong);
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} sidecars found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn call_sidecars_agree_with_the_matcher_and_sum_up() {
    let m = matcher();
    let mut wrong = Vec::new();
    let calls = sidecars("fixtures/calls");
    assert!(calls.len() >= 6);
    for (path, v) in calls {
        let what = path.display().to_string();
        let mut per_speaker: BTreeMap<String, Hits> = BTreeMap::new();
        let Some(legs) = v["legs"].as_array() else {
            // A call described utterance by utterance, each naming its speaker.
            for u in v["utterances"].as_array().unwrap() {
                let speaker = Speaker::parse(u["speaker"].as_str().unwrap()).unwrap();
                check_utterance(&m, &what, u, speaker, &mut wrong);
            }
            continue;
        };
        for leg in legs {
            let name = leg["speaker"].as_str().unwrap();
            let speaker = Speaker::parse(name).unwrap();
            let sum = per_speaker.entry(name.to_string()).or_default();
            for u in leg["utterances"].as_array().unwrap() {
                for (key, n) in check_utterance(&m, &what, u, speaker, &mut wrong) {
                    *sum.entry(key).or_default() += n;
                }
            }
        }
        per_speaker.retain(|_, h| !h.is_empty());
        let declared: BTreeMap<String, Hits> = v["expected_hits"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, l)| (k.clone(), expected(l)))
                    .filter(|(_, h)| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if declared != per_speaker {
            wrong.push(format!(
                "{what}: call totals {declared:?}, utterances sum to {per_speaker:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The regression the sidecars once had: a shorter term inside a longer one at the same
/// place is not a second hit.
#[test]
fn a_term_inside_a_longer_one_is_not_a_second_hit() {
    let m = matcher();
    let hits = found(&m, "这款理财产品保本保息，您放心。", Speaker::Agent);
    assert_eq!(
        hits.keys().map(|k| k.0.as_str()).collect::<Vec<_>>(),
        ["保本保息"]
    );
}
