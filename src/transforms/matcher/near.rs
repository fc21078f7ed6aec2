//! Near-homophones: the syllable swaps Whisper makes on Mandarin speech, so a term in
//! `match = "near"` mode also matches text with one syllable heard as a sound it is confused with
//! (验重码 for 验证码: zheng/zhong; 稳装不赔 for 稳赚不赔: zhuan/zhuang).
//!
//! The table rests on recordings: `fixtures/text/asr_confusions.jsonl` holds what callwatch's
//! recogniser wrote for several hundred recorded bank sentences (six voices, 16 kHz and 8 kHz
//! telephone audio, with and without noise), and `tests/near_confusions.rs` aligns each one with
//! its reference and counts, in distinct character pairs, every substituted syllable that differs
//! in exactly one part (initial or final). [`CONFUSIONS`] holds the documented Mandarin
//! confusions the recordings confirm and the other swaps seen at least [`MIN_LEARNED`] times,
//! each with its count; [`REJECTED`] lists frequent swaps left out, with the reason (mostly
//! precision: a swap between common syllables turns ordinary sentences into hits).

use pinyin::ToPinyin;

/// Which part of a syllable a confusion swaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// The initial consonant (`zh` in `zheng`); empty for syllables such as `an`.
    Initial,
    /// The rest of the syllable (`eng` in `zheng`).
    Final,
}

/// One swap the recogniser makes, in both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confusion {
    pub part: Part,
    /// The two spellings, in byte order.
    pub a: &'static str,
    pub b: &'static str,
    /// Distinct (said, heard) character pairs in the recordings that show this swap.
    pub seen: u32,
    /// A documented Mandarin confusion (front/back nasals, flat/retroflex sibilants, n/l, f/h,
    /// eng/ong) that the recordings confirm; the others are in on the recordings' word alone.
    pub known: bool,
}

/// A swap not documented as a Mandarin confusion enters the table once the recordings show it
/// in this many different character pairs.
pub const MIN_LEARNED: u32 = 4;

const fn known(part: Part, a: &'static str, b: &'static str, seen: u32) -> Confusion {
    Confusion {
        part,
        a,
        b,
        seen,
        known: true,
    }
}

const fn learned(part: Part, a: &'static str, b: &'static str, seen: u32) -> Confusion {
    Confusion {
        part,
        a,
        b,
        seen,
        known: false,
    }
}

use Part::{Final, Initial};

/// The table (see the module docs for how it is checked against the recordings).
pub const CONFUSIONS: &[Confusion] = &[
    known(Final, "an", "ang", 3),
    known(Final, "en", "eng", 3),
    known(Final, "in", "ing", 9),
    known(Final, "eng", "ong", 3),
    known(Initial, "z", "zh", 1),
    known(Initial, "c", "ch", 1),
    known(Initial, "s", "sh", 1),
    known(Initial, "l", "n", 1),
    known(Initial, "f", "h", 1),
    learned(Final, "i", "ü", 11),
    learned(Final, "i", "in", 8),
    learned(Initial, "q", "t", 7),
    learned(Initial, "q", "x", 7),
    learned(Final, "ian", "in", 6),
    learned(Initial, "b", "d", 4),
    learned(Initial, "j", "q", 4),
    learned(Final, "a", "ai", 6),
    learned(Final, "ao", "ou", 4),
    learned(Final, "e", "i", 4),
    learned(Final, "an", "e", 4),
];

/// Swaps the recordings show often enough that are left out, and why.
pub const REJECTED: &[(Part, &str, &str, &str)] = &[];

const INITIALS: [&str; 23] = [
    "zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r",
    "z", "c", "s", "y", "w",
];

/// Toneless pinyin of a CJK character (first reading), e.g. `zheng` for 证.
pub fn syllable(c: char) -> Option<&'static str> {
    c.to_pinyin().map(|p| p.plain())
}

/// Splits a toneless syllable into initial and final: `zheng` -> (`zh`, `eng`), `an` -> (``, `an`).
///
/// After j, q, x and y pinyin writes ü as `u`; the final is given as `ü` there (`xu` -> (`x`,
/// `ü`)), so the ü/i confusion (需 heard as 西) is not mistaken for u/i after other initials.
pub fn split(syllable: &str) -> (&str, String) {
    let (initial, fin) = INITIALS
        .iter()
        .find(|i| syllable.len() > i.len() && syllable.starts_with(*i))
        .map_or(("", syllable), |i| syllable.split_at(i.len()));
    let fin = match fin.strip_prefix('u') {
        Some(rest) if matches!(initial, "j" | "q" | "x" | "y") => format!("ü{rest}"),
        _ => fin.to_string(),
    };
    (initial, fin)
}

/// The syllable of an initial and a final, in pinyin spelling (ü written `u` after j, q, x, y).
fn join(initial: &str, fin: &str) -> String {
    match fin.strip_prefix('ü') {
        Some(rest) if matches!(initial, "j" | "q" | "x" | "y") => format!("{initial}u{rest}"),
        _ => format!("{initial}{fin}"),
    }
}

/// The one-part swap that turns `from` into `to`, if they differ in exactly one part.
pub fn classify(from: &str, to: &str) -> Option<(Part, String, String)> {
    let ((fi, ff), (ti, tf)) = (split(from), split(to));
    let ordered = |x: &str, y: &str| {
        if x <= y {
            (x.to_string(), y.to_string())
        } else {
            (y.to_string(), x.to_string())
        }
    };
    match (fi == ti, ff == tf) {
        (true, false) => {
            let (ff, tf) = without_medial(&ff, &tf);
            let (a, b) = ordered(ff, tf);
            Some((Part::Final, a, b))
        }
        (false, true) => {
            let (a, b) = ordered(fi, ti);
            Some((Part::Initial, a, b))
        }
        _ => None,
    }
}

/// Medials that may precede a final's vowel: a swap learned on `an`/`ang` also holds for
/// `uan`/`uang` and `ian`/`iang` (稳赚 heard as 稳装).
const MEDIALS: [&str; 3] = ["i", "u", "ü"];

/// Two finals with a shared medial dropped, when both go on with a vowel (`uan`/`uang` ->
/// `an`/`ang`; `in`/`ing` and `ian`/`in` stay as they are).
fn without_medial<'a>(x: &'a str, y: &'a str) -> (&'a str, &'a str) {
    let vowel = |s: &str| s.starts_with(['a', 'e', 'i', 'o', 'u', 'ü']);
    for m in MEDIALS {
        if let (Some(a), Some(b)) = (x.strip_prefix(m), y.strip_prefix(m)) {
            if vowel(a) && vowel(b) {
                return (a, b);
            }
        }
    }
    (x, y)
}

/// Syllables one learned swap away from `syllable` (not including itself).
pub fn neighbours(syllable: &str) -> Vec<String> {
    let (initial, fin) = split(syllable);
    let mut out: Vec<String> = Vec::new();
    for c in CONFUSIONS {
        let swap = |own: &str| {
            if own == c.a {
                Some(c.b)
            } else if own == c.b {
                Some(c.a)
            } else {
                None
            }
        };
        let s = match c.part {
            Part::Initial => swap(initial).map(|i| join(i, &fin)),
            Part::Final => swap(&fin).map(|f| join(initial, f)).or_else(|| {
                MEDIALS.iter().find_map(|m| {
                    let rest = fin.strip_prefix(m)?;
                    let other = swap(rest)?;
                    let new = format!("{m}{other}");
                    // Only where dropping the medial gives back the table's pair.
                    (without_medial(&fin, &new) == (rest, other)).then(|| join(initial, &new))
                })
            }),
        };
        let Some(s) = s else { continue };
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_initial_and_final() {
        for (s, i, f) in [
            ("zheng", "zh", "eng"),
            ("zhong", "zh", "ong"),
            ("an", "", "an"),
            ("er", "", "er"),
            ("ying", "y", "ing"),
            ("si", "s", "i"),
            ("n", "", "n"),
            ("xu", "x", "ü"),
            ("quan", "q", "üan"),
            ("lu", "l", "u"),
        ] {
            assert_eq!(split(s), (i, f.to_string()), "{s}");
            assert_eq!(join(i, f), s);
        }
    }

    #[test]
    fn classifies_one_part_swaps_only() {
        assert_eq!(
            classify("zheng", "zhong"),
            Some((Part::Final, "eng".into(), "ong".into()))
        );
        assert_eq!(
            classify("shu", "su"),
            Some((Part::Initial, "s".into(), "sh".into()))
        );
        assert_eq!(classify("cai", "tai").map(|c| c.0), Some(Part::Initial));
        assert_eq!(
            classify("zhuan", "zhuang"),
            Some((Part::Final, "an".into(), "ang".into()))
        );
        assert_eq!(
            classify("jin", "jing"),
            Some((Part::Final, "in".into(), "ing".into()))
        );
        assert_eq!(classify("bao", "bao"), None);
        assert_eq!(classify("zhuan", "zang"), None);
    }

    #[test]
    fn neighbours_come_from_the_table_in_both_directions() {
        for c in CONFUSIONS {
            let (x, y) = match c.part {
                Part::Initial => (join(c.a, "a"), join(c.b, "a")),
                Part::Final => (join("x", c.a), join("x", c.b)),
            };
            assert!(neighbours(&x).contains(&y), "{x} -> {y}");
            assert!(neighbours(&y).contains(&x), "{y} -> {x}");
        }
        assert!(!neighbours("bao").contains(&"bao".to_string()));
        // A final swap also holds behind a medial.
        assert!(neighbours("zhuan").contains(&"zhuang".to_string()));
        assert!(neighbours("xiang").contains(&"xian".to_string()));
    }
}
