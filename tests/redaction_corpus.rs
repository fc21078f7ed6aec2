//! Redaction measured on the generated corpus `fixtures/text/redaction_corpus.jsonl` (made
//! by `fixtures/gen/make_redaction_corpus.py`): cards, resident IDs, mobiles and codes read out
//! in every way the generator knows, through a leg's redactor utterance by utterance, and
//! amounts, dates, times and branch numbers that must stay. Prints the README figures:
//! `cargo test --test redaction_corpus -- --nocapture`.

mod common;

use callwatch::transforms::redact::{requested, LegRedactor, Redactor};
use common::root;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Goals from the README: number recall and false masking.
const MIN_RECALL: f64 = 0.995;
const MAX_FALSE_MASKING: f64 = 0.01;
/// A secret has leaked when this many of its characters in a row survive in the output.
const LEAK_WINDOW: usize = 6;

/// Every digit the text still says, in order, however it is written (digits, full-width
/// digits, Chinese numerals, English digit words with "double" and "triple").
fn spoken_digits(text: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let mut repeat = 1;
    let flush = |word: &mut String, out: &mut String, repeat: &mut usize| {
        let d = match word.to_ascii_lowercase().as_str() {
            "zero" | "oh" | "o" => Some('0'),
            "one" => Some('1'),
            "two" => Some('2'),
            "three" => Some('3'),
            "four" => Some('4'),
            "five" => Some('5'),
            "six" => Some('6'),
            "seven" => Some('7'),
            "eight" => Some('8'),
            "nine" => Some('9'),
            "x" => Some('X'),
            "double" => {
                *repeat = 2;
                None
            }
            "triple" => {
                *repeat = 3;
                None
            }
            _ => None,
        };
        if let Some(d) = d {
            for _ in 0..*repeat {
                out.push(d);
            }
            *repeat = 1;
        }
        word.clear();
    };
    for c in text.chars() {
        let digit = match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_digit(c as u32 - '０' as u32, 10),
            '零' | '〇' | '洞' => Some('0'),
            '一' | '幺' => Some('1'),
            '二' | '两' => Some('2'),
            '三' => Some('3'),
            '四' => Some('4'),
            '五' => Some('5'),
            '六' => Some('6'),
            '七' => Some('7'),
            '八' => Some('8'),
            '九' => Some('9'),
            _ => None,
        };
        if c.is_ascii_alphabetic() {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out, &mut repeat);
        if let Some(d) = digit {
            out.push(d);
        }
    }
    flush(&mut word, &mut out, &mut repeat);
    out
}

fn leaked(secret: &str, said: &str) -> bool {
    let s: Vec<char> = secret.chars().collect();
    let n = LEAK_WINDOW.min(s.len());
    s.windows(n)
        .any(|w| said.contains(&w.iter().collect::<String>()))
}

#[derive(Default)]
struct Tally {
    secrets: usize,
    leaks: usize,
    keeps: usize,
    masked_keeps: usize,
}

#[test]
fn recall_and_false_masking_on_the_generated_corpus() {
    // Another corpus (a held-out one from a fresh seed) can be measured the same way.
    let path = std::env::var_os("CALLWATCH_REDACTION_CORPUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("fixtures/text/redaction_corpus.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let redactor = Arc::new(Redactor::default());
    let mut by_category: BTreeMap<String, Tally> = BTreeMap::new();
    let mut total = Tally::default();
    let mut failures = Vec::new();
    let mut labels_with_digits = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let item: Value = serde_json::from_str(line).unwrap();
        let language = item["language"].as_str().unwrap();
        let mut leg = LegRedactor::new(redactor.clone());
        let asked = item["asked"].as_str().and_then(requested);
        let outputs: Vec<String> = item["turns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                leg.set_asked(asked);
                leg.finish(t.as_str().unwrap(), language).text
            })
            .collect();
        // Card labels keep at most the first six and last four digits of a card the item
        // holds; what they keep is not counted as a leak.
        let cards: Vec<&str> = item["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["category"] == "card")
            .filter_map(|s| s["digits"].as_str())
            .collect();
        let mut said = String::new();
        for o in &outputs {
            let (speech, shown) = common::labels::split_card_labels(o);
            for s in shown {
                labels_with_digits += 1;
                let ok = cards
                    .iter()
                    .any(|c| common::labels::within_display_rule(&s, c));
                if !ok {
                    failures.push(format!("label {}: {s} -> {outputs:?}", item["id"]));
                    total.leaks += 1;
                }
            }
            said.push_str(&spoken_digits(&speech));
        }
        let joined = outputs.concat();
        for s in item["secrets"].as_array().unwrap() {
            let category = s["category"].as_str().unwrap().to_string();
            let digits = s["digits"].as_str().unwrap();
            let t = by_category.entry(category).or_default();
            t.secrets += 1;
            total.secrets += 1;
            if leaked(digits, &said) {
                t.leaks += 1;
                total.leaks += 1;
                failures.push(format!(
                    "leak {}: {:?} -> {outputs:?}",
                    item["id"], item["turns"]
                ));
            }
        }
        for k in item["keep"].as_array().unwrap() {
            let keep = k.as_str().unwrap();
            let t = by_category.entry("keep".into()).or_default();
            t.keeps += 1;
            total.keeps += 1;
            if !joined.contains(keep) {
                t.masked_keeps += 1;
                total.masked_keeps += 1;
                failures.push(format!("masked {}: {keep:?} -> {outputs:?}", item["id"]));
            }
        }
    }
    for f in &failures {
        println!("{f}");
    }
    for (name, t) in &by_category {
        if t.secrets > 0 {
            println!(
                "{name}: {} numbers, {} leaked, recall {:.2}%",
                t.secrets,
                t.leaks,
                100.0 * (t.secrets - t.leaks) as f64 / t.secrets as f64
            );
        } else {
            println!(
                "{name}: {} numbers that must stay, {} masked",
                t.keeps, t.masked_keeps
            );
        }
    }
    println!(
        "card labels keeping digits: {labels_with_digits}, each at most the first six and last four"
    );
    let recall = (total.secrets - total.leaks) as f64 / total.secrets as f64;
    let false_masking = total.masked_keeps as f64 / total.keeps as f64;
    println!(
        "all: {} numbers, recall {:.2}%; {} numbers that must stay, false masking {:.2}%",
        total.secrets,
        recall * 100.0,
        total.keeps,
        false_masking * 100.0
    );
    assert!(total.secrets >= 1000, "only {} numbers", total.secrets);
    assert!(
        recall >= MIN_RECALL,
        "recall {recall:.4} below {MIN_RECALL}"
    );
    assert!(
        false_masking <= MAX_FALSE_MASKING,
        "false masking {false_masking:.4} above {MAX_FALSE_MASKING}"
    );
}

#[test]
fn spoken_digits_reads_every_form() {
    assert_eq!(
        spoken_digits("4532 四五三二 幺两洞 four double five x"),
        "45324532120455X"
    );
    assert_eq!(spoken_digits("[卡号] and [PHONE]"), "");
}
