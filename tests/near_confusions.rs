//! Near-homophone matching rests on recordings, not on a guessed list of sound pairs.
//!
//! `fixtures/text/asr_confusions.jsonl` (made by `fixtures/gen/make_confusions.py`) holds what
//! callwatch's recogniser wrote for bank sentences spoken by six voices at 16 kHz and over an
//! 8 kHz telephone channel, with and without noise. The ordinary sentences are the learning set:
//! every misheard character there whose syllable differs from the one said in exactly one part
//! (initial or final) is counted by distinct character pairs. `near::CONFUSIONS` holds the
//! documented Mandarin confusions the recordings confirm, and the other swaps seen at least
//! `near::MIN_LEARNED` times, each with its count; a swap seen that often and left out is listed in
//! `near::REJECTED` with the reason. The carriers of lexicon terms are held out: on them the recall of each
//! matching mode is measured. Prints both: `cargo test --test near_confusions -- --nocapture`.

use callwatch::call::Speaker;
use callwatch::eval::{substitutions, units};
use callwatch::transforms::matcher::near::{self, Part, CONFUSIONS, MIN_LEARNED, REJECTED};
use callwatch::transforms::matcher::{Lexicon, MatchMode, Matcher};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Deserialize)]
struct Row {
    text: String,
    heard: String,
    condition: String,
    #[serde(default)]
    term: Option<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rows() -> Vec<Row> {
    std::fs::read_to_string(root().join("fixtures/text/asr_confusions.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

type Swap = (Part, String, String);

/// One-part syllable swaps in the learning set, with the distinct (said, heard) character pairs
/// that show each: a pair repeated by one frequent word (您 written 你) counts once, so a swap
/// needs several words behind it to look like a sound confusion rather than a habit.
fn learn(rows: &[Row]) -> BTreeMap<Swap, BTreeSet<(String, String)>> {
    let mut seen: BTreeMap<Swap, BTreeSet<(String, String)>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.term.is_none()) {
        let pairs = substitutions(&units(&row.text, "zh"), &units(&row.heard, "zh"));
        for (said, heard) in pairs {
            let syllable = |s: &str| s.chars().next().and_then(near::syllable);
            let (Some(a), Some(b)) = (syllable(&said), syllable(&heard)) else {
                continue;
            };
            if let Some(swap) = near::classify(a, b) {
                seen.entry(swap).or_default().insert((said, heard));
            }
        }
    }
    seen
}

#[test]
fn the_table_is_what_the_recordings_show() {
    let rows = rows();
    assert!(rows.len() >= 500, "{} recordings", rows.len());
    let seen = learn(&rows);
    let mut by_count: Vec<_> = seen.iter().collect();
    by_count.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    for ((part, a, b), pairs) in &by_count {
        let examples: Vec<String> = pairs
            .iter()
            .take(6)
            .map(|(s, h)| format!("{s}>{h}"))
            .collect();
        println!(
            "{:3}  {part:?} {a}/{b}  {}",
            pairs.len(),
            examples.join(" ")
        );
    }
    let count = |swap: &Swap| seen.get(swap).map_or(0, |p| p.len() as u32);
    let key = |part: Part, a: &str, b: &str| (part, a.to_string(), b.to_string());
    for c in CONFUSIONS {
        let n = count(&key(c.part, c.a, c.b));
        assert_eq!(
            c.seen, n,
            "{:?} {}/{}: the recordings show it {n} times",
            c.part, c.a, c.b
        );
        let enough = if c.known { 1 } else { MIN_LEARNED };
        assert!(
            n >= enough,
            "{:?} {}/{} seen {n} times, needs {enough}",
            c.part,
            c.a,
            c.b
        );
    }
    // Every swap the recordings show often enough is either used or rejected with a reason.
    for (swap, pairs) in &seen {
        let listed = CONFUSIONS.iter().any(|c| key(c.part, c.a, c.b) == *swap)
            || REJECTED.iter().any(|r| key(r.0, r.1, r.2) == *swap);
        assert!(
            pairs.len() < MIN_LEARNED as usize || listed,
            "{swap:?} is seen {} times: add it to near::CONFUSIONS or near::REJECTED",
            pairs.len()
        );
    }
}

fn all_in(mode: MatchMode) -> Matcher {
    let mut lex = Lexicon::load_dir(&root().join("lexicons")).unwrap();
    for t in &mut lex.terms {
        t.mode = mode;
    }
    Matcher::new(lex).unwrap()
}

#[test]
fn near_mode_recovers_held_out_misrecognised_terms() {
    let rows = rows();
    let held_out: Vec<&Row> = rows.iter().filter(|r| r.term.is_some()).collect();
    assert!(
        held_out.len() >= 200,
        "{} held-out recordings",
        held_out.len()
    );
    let mut found = BTreeMap::new();
    let shipped = Matcher::new(Lexicon::load_dir(&root().join("lexicons")).unwrap()).unwrap();
    let matchers = MatchMode::ALL
        .into_iter()
        .map(|mode| (mode.to_string(), all_in(mode)))
        .chain([("shipped".to_string(), shipped)]);
    for (mode, m) in matchers {
        let mut by_condition: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for row in &held_out {
            let term = row.term.as_deref().unwrap();
            let hit = m
                .find(&row.heard, Speaker::Unknown)
                .iter()
                .any(|h| m.term(h.term_id).text == term);
            let e = by_condition.entry(row.condition.as_str()).or_default();
            e.0 += usize::from(hit);
            e.1 += 1;
        }
        let total: usize = by_condition.values().map(|v| v.0).sum();
        println!(
            "{mode}: term recall {total}/{} ({:.1}%); {}",
            held_out.len(),
            100.0 * total as f64 / held_out.len() as f64,
            by_condition
                .iter()
                .map(|(c, (h, n))| format!("{c} {h}/{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        found.insert(mode, total);
    }
    // Each looser mode finds at least what the stricter one does, and near finds more than
    // homophones alone: otherwise its precision cost buys nothing.
    assert!(found["homophone"] >= found["exact"]);
    assert!(found["near"] > found["homophone"]);
    assert!(found["loose"] > found["near"]);
    // The shipped lexicons keep near for the categories that have it and loose for their
    // long terms whose loose places raise no unintended hit: between the two.
    assert!(found["shipped"] > found["homophone"]);
}

/// Unintended hits on what the recogniser wrote for the ordinary sentences (the recordings with
/// no held-out term): real recognition errors are what the sound modes forgive, so they are also
/// where a loose mode would invent a phrase that was not said.
#[test]
fn sound_modes_on_misheard_ordinary_sentences() {
    let rows = rows();
    let ordinary: Vec<&Row> = rows.iter().filter(|r| r.term.is_none()).collect();
    assert!(ordinary.len() >= 400, "{} recordings", ordinary.len());
    let exact = all_in(MatchMode::Exact);
    let mut unintended = BTreeMap::new();
    for mode in MatchMode::ALL {
        let m = all_in(mode);
        let mut by_category: BTreeMap<String, usize> = BTreeMap::new();
        for row in &ordinary {
            let said: Vec<usize> = exact
                .find(&row.text, Speaker::Unknown)
                .iter()
                .map(|h| h.term_id)
                .collect();
            let mut categories = std::collections::BTreeSet::new();
            for h in m.find(&row.heard, Speaker::Unknown) {
                if said.contains(&h.term_id) {
                    continue;
                }
                let term = m.term(h.term_id);
                println!(
                    "{mode}: unintended {} ({}) <- {:?} in {:?} (said {:?})",
                    term.text, h.how, h.matched, row.heard, row.text
                );
                categories.insert(term.category.clone());
            }
            for c in categories {
                *by_category.entry(c).or_default() += 1;
            }
        }
        println!(
            "{mode}: {} recordings, unintended hits on {}",
            ordinary.len(),
            by_category
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        unintended.insert(mode, by_category);
    }
    // Loose places raise no more than 1% of these recordings' worth of hits beyond near's.
    let count = |mode: MatchMode, c: &str| unintended[&mode].get(c).copied().unwrap_or(0);
    for c in unintended[&MatchMode::Loose].keys() {
        let added = count(MatchMode::Loose, c).saturating_sub(count(MatchMode::Near, c));
        assert!(
            added * 100 <= ordinary.len(),
            "{c}: loose adds {added} unintended hits on {} misheard ordinary sentences",
            ordinary.len()
        );
    }
}
