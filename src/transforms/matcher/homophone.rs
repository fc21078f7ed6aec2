//! Opt-in homophone matching: a term marked `homophones = true` also matches text that sounds
//! the same in toneless pinyin, because Chinese ASR errors are mostly homophones (保本 heard as
//! 包本, 保息 as 保锡, 不归我管 as 不规我管).
//!
//! Each syllable gets a small id, encoded as one Private Use Area char, so a text becomes a
//! string with exactly one char per normalised char and one Aho-Corasick automaton finds term
//! syllable sequences in it. UTF-8 is self-synchronising, so a match always starts on a whole
//! encoded syllable, and char positions map straight back to the normalised text.

use pinyin::ToPinyin;
use std::collections::HashMap;
use std::ops::Range;

/// First code point of the syllable encoding; `BASE` itself marks a char with no pinyin.
const BASE: u32 = 0xE000;

/// Marks a Chinese char whose syllable no term has: far above the few hundred syllable ids, so
/// [`is_syllable`] can tell it from a char with no pinyin at all.
const OTHER: u32 = 0xF8FF;

/// Whether an encoded char stands for a Chinese syllable (a term's or another), not for a char
/// with no pinyin (a digit, a Latin letter).
pub(crate) fn is_syllable(c: char) -> bool {
    c as u32 > BASE
}

/// Folds a toneless syllable for southern-accent tolerance: z/zh, c/ch, s/sh, n/l and the
/// nasal finals an/ang, en/eng, in/ing are each treated as one sound.
pub(crate) fn fuzzy(s: &str) -> String {
    let (initial, rest) = if let Some(r) = s.strip_prefix("zh") {
        ("z", r)
    } else if let Some(r) = s.strip_prefix("ch") {
        ("c", r)
    } else if let Some(r) = s.strip_prefix("sh") {
        ("s", r)
    } else if let Some(r) = s.strip_prefix('n') {
        // `n` alone or as the start of a final (`ng` is not an initial) stays.
        if r.is_empty() || r.starts_with('g') {
            ("", s)
        } else {
            ("l", r)
        }
    } else {
        ("", s)
    };
    let rest = if let Some(r) = rest.strip_suffix("ng") {
        // ang -> an, eng -> en, ing -> in; ong has no partner and stays.
        if r.is_empty() || r.ends_with('o') {
            rest.to_string()
        } else {
            format!("{r}n")
        }
    } else {
        rest.to_string()
    };
    format!("{initial}{rest}")
}

/// Syllable ids, shared by the terms and the texts searched.
#[derive(Debug, Default)]
pub(crate) struct Syllables {
    ids: HashMap<String, u32>,
    fuzzy: bool,
}

impl Syllables {
    pub(crate) fn new(fuzzy: bool) -> Syllables {
        Syllables {
            ids: HashMap::new(),
            fuzzy,
        }
    }

    fn fold(&self, s: &str) -> String {
        if self.fuzzy {
            fuzzy(s)
        } else {
            s.to_string()
        }
    }

    fn syllable(&self, c: char) -> Option<String> {
        Some(self.fold(c.to_pinyin()?.plain()))
    }

    /// Toneless syllables of a term; `None` unless every char has pinyin (a term with Latin
    /// letters or digits has no homophones worth matching) and there are at least two.
    pub(crate) fn term_syllables(norm: &str) -> Option<Vec<&'static str>> {
        let syls: Option<Vec<&'static str>> = norm.chars().map(super::near::syllable).collect();
        syls.filter(|s| s.len() >= 2)
    }

    /// Encodes a syllable sequence (folded for accents when that is on), one char a syllable.
    pub(crate) fn encode(&mut self, syllables: &[impl AsRef<str>]) -> Option<String> {
        let mut out = String::new();
        for s in syllables {
            let s = self.fold(s.as_ref());
            let id = match self.ids.get(&s) {
                Some(&id) => id,
                None => {
                    let next = BASE + 1 + self.ids.len() as u32;
                    // Never reached: pinyin has about 400 syllables, the table's swaps add a few.
                    if next >= OTHER {
                        return None;
                    }
                    self.ids.insert(s, next);
                    next
                }
            };
            out.push(char::from_u32(id)?);
        }
        Some(out)
    }

    /// Encodes a term's homophone pattern; see [`Syllables::term_syllables`].
    #[cfg(test)]
    pub(crate) fn encode_term(&mut self, norm: &str) -> Option<String> {
        self.encode(&Syllables::term_syllables(norm)?)
    }

    /// Encodes a normalised text, one char per char: chars with no pinyin become one marker,
    /// syllables no term has another.
    pub(crate) fn encode_text(&self, norm: &str) -> String {
        norm.chars()
            .map(|c| {
                let code = match self.syllable(c) {
                    Some(s) => self.ids.get(&s).copied().unwrap_or(OTHER),
                    None => BASE,
                };
                char::from_u32(code).unwrap_or(' ')
            })
            .collect()
    }
}

/// Byte range in `norm` of the chars `chars` (char indices).
pub(crate) fn char_range_to_bytes(norm: &str, chars: Range<usize>) -> Range<usize> {
    let mut it = norm.char_indices().map(|(i, _)| i).chain([norm.len()]);
    let start = it.nth(chars.start).unwrap_or(norm.len());
    let end = if chars.end > chars.start {
        it.nth(chars.end - chars.start - 1).unwrap_or(norm.len())
    } else {
        start
    };
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_folds_southern_accent_pairs_only() {
        for (a, b) in [
            ("zhi", "zi"),
            ("chang", "can"),
            ("shen", "seng"),
            ("nan", "lan"),
            ("xing", "xin"),
        ] {
            assert_eq!(fuzzy(a), fuzzy(b), "{a} {b}");
        }
        for (a, b) in [("bao", "pao"), ("gong", "gon"), ("ni", "mi")] {
            assert_ne!(fuzzy(a), fuzzy(b), "{a} {b}");
        }
        assert_eq!(fuzzy("ng"), "ng");
    }

    #[test]
    fn homophones_encode_alike() {
        let mut s = Syllables::new(false);
        let term = s.encode_term("保本").unwrap();
        assert_eq!(s.encode_text("包本"), term);
        let term = s.encode_term("不归我管").unwrap();
        assert_eq!(s.encode_text("不规我管"), term);
        assert_eq!(s.encode_term("abc"), None);
    }

    #[test]
    fn char_ranges_map_to_bytes() {
        assert_eq!(char_range_to_bytes("a保本b", 1..3), 1..7);
        assert_eq!(char_range_to_bytes("保本", 0..2), 0..6);
        assert_eq!(char_range_to_bytes("保本", 2..2), 6..6);
    }
}
