//! Loose matching: a term of [`LOOSE_MIN_SYLLABLES`] or more syllables in `match = "loose"`
//! mode also matches text with any one of its syllables heard as another (故想屏幕 for 共享屏幕,
//! 动摊密码 for 动态密码; 设嫌几钱 for 涉嫌洗钱 has two syllables off and does not). These are the misses the
//! near table cannot catch: on telephone audio Whisper often writes a syllable that differs from
//! the spoken one in more than one part. Long terms keep enough syllables in place that the
//! rest of a sentence rarely lines up with them by chance; the homophone test measures how
//! rarely.
//!
//! One syllable differing means the term's first half or its second half is heard intact, so
//! an Aho-Corasick automaton over the halves finds every candidate place in one pass, and each
//! candidate is checked syllable by syllable.

use super::homophone::is_syllable;
use super::near;
use super::term::MatchMode;
use aho_corasick::{AhoCorasick, MatchKind};
use std::collections::{BTreeSet, HashMap};
use std::ops::Range;

/// Loose matching needs terms of this many syllables; shorter terms in loose mode match as near
/// (three syllables) or homophones.
pub const LOOSE_MIN_SYLLABLES: usize = 4;

/// Terms shorter than this only match with the odd syllable keeping its initial or its final
/// (共享 heard as 故想: gong as gu; 动态 as 动摊: tai as tan). On the precision corpus every
/// four-syllable place that differs in both parts was another phrase: 产品有风险 for 没有风险
/// (mei as pin), 我出国了 for 我说过了, 相关部门 for 监管部门.
pub const ANY_SYLLABLE_FROM: usize = 5;

/// The terms of one speaker scope that match loosely, indexed by their halves.
pub(crate) struct LooseIndex {
    halves: AhoCorasick,
    /// Per half pattern: the sounds it is a half of, and the half's offset (in syllables).
    half_of: Vec<Vec<(usize, usize)>>,
    sounds: Vec<Sound>,
}

/// Terms a place stands for, each with how it matched.
pub(crate) type Heard = [(usize, MatchMode)];

/// A term's syllables (one encoded char each, and spelled) and the terms that sound like that.
struct Sound {
    syllables: Vec<char>,
    spelled: Vec<&'static str>,
    terms: Vec<(usize, MatchMode)>,
}

impl LooseIndex {
    /// Indexes terms by their encoded syllables (see [`Syllables`](super::homophone::Syllables)),
    /// given with the term's id and its syllables as spelled; `None` when no term is given.
    pub(crate) fn build<'a>(
        terms: impl IntoIterator<Item = (usize, &'a str, Vec<&'static str>)>,
    ) -> Result<Option<LooseIndex>, aho_corasick::BuildError> {
        let mut sounds: Vec<Sound> = Vec::new();
        let mut by_sound: HashMap<&str, usize> = HashMap::new();
        for (id, encoded, spelled) in terms {
            let i = *by_sound.entry(encoded).or_insert_with(|| {
                sounds.push(Sound {
                    syllables: encoded.chars().collect(),
                    spelled,
                    terms: Vec::new(),
                });
                sounds.len() - 1
            });
            if !sounds[i].terms.iter().any(|(t, _)| *t == id) {
                sounds[i].terms.push((id, MatchMode::Loose));
            }
        }
        if sounds.is_empty() {
            return Ok(None);
        }
        let mut halves: Vec<String> = Vec::new();
        let mut half_of: Vec<Vec<(usize, usize)>> = Vec::new();
        let mut by_half: HashMap<String, usize> = HashMap::new();
        for (s, sound) in sounds.iter().enumerate() {
            let mid = sound.syllables.len() / 2;
            for (offset, half) in [(0, &sound.syllables[..mid]), (mid, &sound.syllables[mid..])] {
                let text: String = half.iter().collect();
                let h = *by_half.entry(text.clone()).or_insert_with(|| {
                    halves.push(text);
                    half_of.push(Vec::new());
                    halves.len() - 1
                });
                half_of[h].push((s, offset));
            }
        }
        let halves = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&halves)?;
        Ok(Some(LooseIndex {
            halves,
            half_of,
            sounds,
        }))
    }

    /// Places in a normalised text, given with its encoding (see
    /// [`Syllables::encode_text`](super::homophone::Syllables)), where a term sounds with exactly
    /// one syllable heard as another, as char ranges with the terms they stand for: every place,
    /// overlapping ones included, leftmost first and longest first at one start, so the caller
    /// can pick the leftmost-longest among those its other rules let stand. Each comes with the
    /// char index of its odd syllable.
    pub(crate) fn find(&self, norm: &str, encoded: &str) -> Vec<(&Heard, Range<usize>, usize)> {
        let text: Vec<char> = encoded.chars().collect();
        let written: Vec<char> = norm.chars().collect();
        // Every encoded char is 3 bytes in UTF-8 (the Private Use Area), so byte / 3 = char.
        let mut candidates: BTreeSet<(usize, std::cmp::Reverse<usize>, usize, usize)> =
            BTreeSet::new();
        for m in self.halves.find_overlapping_iter(encoded) {
            let at = m.start() / 3;
            for &(s, offset) in &self.half_of[m.pattern().as_usize()] {
                let sound = &self.sounds[s];
                let len = sound.syllables.len();
                let Some(start) = at.checked_sub(offset) else {
                    continue;
                };
                let Some(window) = text.get(start..start + len) else {
                    continue;
                };
                let mut differing = (0..len).filter(|&i| window[i] != sound.syllables[i]);
                let odd = match (differing.next(), differing.next()) {
                    (Some(i), None) if is_syllable(window[i]) => Some(i).filter(|&i| {
                        len >= ANY_SYLLABLE_FROM
                            || written
                                .get(start + i)
                                .and_then(|&c| near::syllable(c))
                                .is_some_and(|heard| shares_a_part(heard, sound.spelled[i]))
                    }),
                    _ => None,
                };
                if let Some(i) = odd {
                    candidates.insert((start, std::cmp::Reverse(len), s, start + i));
                }
            }
        }
        candidates
            .into_iter()
            .map(|(start, std::cmp::Reverse(len), s, odd)| {
                (self.sounds[s].terms.as_slice(), start..start + len, odd)
            })
            .collect()
    }
}

/// Whether two syllables have the same initial or the same final (`gong`/`gu`, `tai`/`tan`);
/// two syllables without an initial (`an`/`er`) share nothing by that.
fn shares_a_part(a: &str, b: &str) -> bool {
    let ((ai, af), (bi, bf)) = (near::split(a), near::split(b));
    (ai == bi && !ai.is_empty()) || af == bf
}

#[cfg(test)]
mod tests {
    use super::super::homophone::Syllables;
    use super::*;

    fn index(terms: &[&str]) -> (Syllables, LooseIndex) {
        let mut syl = Syllables::new(false);
        let encoded: Vec<String> = terms.iter().map(|t| syl.encode_term(t).unwrap()).collect();
        let idx = LooseIndex::build(
            encoded
                .iter()
                .zip(terms)
                .enumerate()
                .map(|(i, (e, t))| (i, e.as_str(), Syllables::term_syllables(t).unwrap())),
        )
        .unwrap()
        .unwrap();
        (syl, idx)
    }

    fn found(terms: &[&str], text: &str) -> Vec<(usize, Range<usize>)> {
        let (syl, idx) = index(terms);
        idx.find(text, &syl.encode_text(text))
            .into_iter()
            .flat_map(|(ids, r, _)| ids.iter().map(move |(id, _)| (*id, r.clone())))
            .collect()
    }

    #[test]
    fn places_say_which_syllable_is_odd() {
        let (syl, idx) = index(&["共享屏幕", "快递丢失理赔"]);
        let odd = |text: &str| -> Vec<usize> {
            let found = idx.find(text, &syl.encode_text(text));
            found.into_iter().map(|(_, _, odd)| odd).collect()
        };
        assert_eq!(odd("请你故想屏幕"), [2]);
        assert_eq!(odd("快递丢失理台"), [5]);
    }

    #[test]
    fn one_syllable_heard_as_any_other() {
        let terms = ["共享屏幕", "动态密码", "快递丢失理赔"];
        for (text, want) in [
            ("请你故想屏幕给我", vec![(0, 2..6)]),
            ("你的动摊密码是多少", vec![(1, 2..6)]),
            ("快递丢水礼台怎么办", vec![]), // two syllables off
            ("快递丢失礼台怎么办", vec![(2, 0..6)]),
            ("共享屏幕", vec![]), // the term itself is the homophone automaton's
            ("共享屏", vec![]),
            ("共享屏a", vec![]), // the odd one out must be a Chinese syllable
            ("故想屏幕动摊密码", vec![(0, 0..4), (1, 4..8)]),
        ] {
            assert_eq!(found(&terms, text), want, "{text}");
        }
    }

    #[test]
    fn four_syllable_terms_keep_a_part_of_the_odd_syllable() {
        let terms = ["没有风险", "我说过了", "监管部门", "没有风险的产品"];
        for (text, want) in [
            // The risk disclosure is not a promise of no risk: mei heard as pin shares nothing.
            ("理财非存款，产品有风险", vec![]),
            ("我出国了", vec![]),
            ("反馈给相关部门", vec![]),
            // One part kept: mei heard as mai (the initial), le as lai.
            ("卖有风险", vec![(0, 0..4)]),
            ("我说过来", vec![(1, 0..4)]),
            // From five syllables any syllable may be the odd one.
            ("这是品有风险的产品", vec![(3, 2..9)]),
        ] {
            assert_eq!(found(&terms, text), want, "{text}");
        }
    }

    #[test]
    fn overlapping_candidates_come_leftmost_then_longest() {
        let terms = ["我已经说过了", "说过了多少", "已经说过了多少"];
        // 我已经说过来多少: each term one off (了 -> 来); the matcher picks among them in order.
        assert_eq!(
            found(&terms, "我已经说过来多少"),
            vec![(0, 0..6), (2, 1..8), (1, 3..8)]
        );
    }

    #[test]
    fn syllables_without_an_initial_share_no_initial() {
        assert!(!shares_a_part("an", "er"));
        assert!(shares_a_part("an", "gan"));
        assert_eq!(found(&["本金安全"], "本金二全"), vec![]);
        assert_eq!(found(&["本金安全"], "本金干全"), vec![(0, 0..4)]);
    }

    #[test]
    fn terms_that_sound_alike_share_a_place() {
        let (syl, idx) = index(&["涉嫌洗钱", "设嫌洗钱"]);
        let hits = idx.find("他涉嫌洗抢", &syl.encode_text("他涉嫌洗抢"));
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].0.len(), 2);
    }
}
