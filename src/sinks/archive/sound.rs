//! Searching by sound: what a reviewer types is matched against what the recogniser might have
//! written for it (理财产品 finds 理台产品 with `mode=near`).
//!
//! Each utterance is archived with a sound key: one three-character slot per character, `|` and
//! the two-character code of its toneless syllable (`sound_codes`, a fixed append-only list),
//! and one `|~~` for each run of Latin letters and digits. Fixed-width slots let a SQL
//! `LIKE` pattern stand for "any one syllable" with `__`, and the `|` before every slot keeps a
//! pattern from matching across slot boundaries. A trigram FTS index over the key answers the
//! patterns; at three characters a character, key and index stay close to the text's own.

use super::error::ArchiveError;
use super::sound_codes;
use crate::transforms::matcher::near;

/// Characters of a slot after its `|`.
const WIDTH: usize = 2;

/// How loosely a search matches (`mode=`), and how each result matched (`match`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// The text holds the term as written.
    #[default]
    Exact,
    /// The text holds characters with the term's toneless pinyin.
    Pinyin,
    /// As pinyin, with one syllable of the term different.
    Near,
}

/// A query term as syllables: Chinese characters only, since sound search means nothing for
/// other scripts.
pub fn syllables(term: &str) -> Result<Vec<&'static str>, ArchiveError> {
    term.chars()
        .filter(|c| c.is_alphanumeric())
        .map(|c| {
            near::syllable(c).ok_or_else(|| {
                ArchiveError::bad(format!(
                    "`{term}`: mode=pinyin and mode=near search Chinese characters only; \
                     search other text with mode=exact"
                ))
            })
        })
        .collect()
}

fn slot(syllable: &str) -> String {
    format!("|{}", sound_codes::code(syllable))
}

/// The one slot that stands for a run of letters and digits: sound search is for Chinese
/// terms, so the run only has to keep the characters on either side from looking adjacent.
const OTHER: &str = "|~~";

/// Each searchable character of `text` with its char index and slot.
fn slots(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, c) in text.chars().enumerate() {
        if let Some(s) = near::syllable(c) {
            out.push((i, slot(s)));
        } else if c.is_alphanumeric() && out.last().is_none_or(|(_, s)| s != OTHER) {
            out.push((i, OTHER.to_string()));
        }
    }
    out
}

/// The sound key archived with an utterance's text.
pub fn key(text: &str) -> String {
    let mut k: String = slots(text).into_iter().map(|(_, s)| s).collect();
    k.push('|');
    k
}

/// `LIKE` pattern for utterances whose key holds `syllables`, with the one at `wildcard` (if
/// any) free. Syllables are pinyin letters, so nothing needs escaping.
pub fn like(syllables: &[&str], wildcard: Option<usize>) -> String {
    let mut p = String::from("%");
    for (i, s) in syllables.iter().enumerate() {
        if Some(i) == wildcard {
            p.push('|');
            p.push_str(&"_".repeat(WIDTH));
        } else {
            p.push_str(&slot(s));
        }
    }
    p.push_str("|%");
    p
}

/// Whether near search widens this term: with fewer syllables one free syllable is too loose.
pub fn widens(syllables: &[&str]) -> bool {
    syllables.len() >= crate::transforms::matcher::NEAR_MIN_SYLLABLES
}

/// Character ranges of `text` that sound like `syllables`, and whether any needed the one free
/// syllable (`near`).
pub fn find(text: &str, syllables: &[&str], near: bool) -> Vec<([usize; 2], SearchMode)> {
    let slots = slots(text);
    let want: Vec<String> = syllables.iter().map(|s| slot(s)).collect();
    let n = want.len();
    let mut out = Vec::new();
    if n == 0 || n > slots.len() {
        return out;
    }
    for start in 0..=slots.len() - n {
        let window = &slots[start..start + n];
        let differ = window
            .iter()
            .zip(&want)
            .filter(|((_, a), b)| a != *b)
            .count();
        let how = match differ {
            0 => SearchMode::Pinyin,
            1 if near && widens(syllables) => SearchMode::Near,
            _ => continue,
        };
        out.push(([window[0].0, window[n - 1].0 + 1], how));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Any text gets a key of whole slots, one per letter, digit or character.
        #[test]
        fn keys_are_whole_slots(text in "\\PC{0,60}") {
            let k = key(&text);
            prop_assert_eq!(k.chars().count() % (WIDTH + 1), 1);
            prop_assert!(k.chars().count() <= text.chars().count() * (WIDTH + 1) + 1);
            prop_assert!(k.chars().step_by(WIDTH + 1).all(|c| c == '|'));
        }

        // Chinese text, punctuated anyhow, is found by its own sound, whole.
        #[test]
        fn text_finds_its_own_sound(text in "[理财产品保本息验证码，。 ]{1,30}") {
            let said: String = text.chars().filter(|c| c.is_alphanumeric()).collect();
            prop_assume!(!said.is_empty());
            let s = syllables(&said).unwrap();
            let pattern = like(&s, None);
            prop_assert!(key(&text).contains(pattern.trim_matches('%')));
            let found = find(&text, &s, true);
            prop_assert!(found.iter().any(|(_, how)| *how == SearchMode::Pinyin));
        }
    }

    #[test]
    fn keys_are_fixed_width_slots() {
        let (li, cai) = (sound_codes::code("li"), sound_codes::code("cai"));
        assert_eq!(key("理财, OK1é"), format!("|{li}|{cai}|~~|"));
        // A run of other letters keeps Chinese on either side apart.
        assert_eq!(key("理app财"), format!("|{li}|~~|{cai}|"));
        assert_eq!(key(""), "|");
        // Traditional characters sound as their simplified forms.
        assert_eq!(key("理財"), key("理财"));
    }

    #[test]
    fn like_patterns_free_one_slot() {
        let s = syllables("理财产品").unwrap();
        let c = |s: &str| sound_codes::code(s);
        let (li, cai, chan, pin) = (c("li"), c("cai"), c("chan"), c("pin"));
        assert_eq!(like(&s, None), format!("%|{li}|{cai}|{chan}|{pin}|%"));
        assert_eq!(like(&s, Some(1)), format!("%|{li}|__|{chan}|{pin}|%"));
        assert!(syllables("理财app").is_err());
    }

    #[test]
    fn finds_sound_alikes_with_char_ranges() {
        let s = syllables("理财产品").unwrap();
        assert_eq!(
            find("我想问，理台产品的事", &s, true),
            [([4, 8], SearchMode::Near)]
        );
        assert!(find("我想问，理台产品的事", &s, false).is_empty());
        assert_eq!(find("离财产品", &s, false), [([0, 4], SearchMode::Pinyin)]);
    }
}
