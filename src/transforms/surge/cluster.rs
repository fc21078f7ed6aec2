//! Merging frequent n-grams into candidate phrases.
//!
//! When thirty callers say 登录不了, every piece of it (登录, 登录不, 录不了, ...) is frequent
//! too; reporting each would be one problem under six names. A shorter gram whose calls are
//! largely the calls of a longer one containing it is absorbed by it; two grams that overlap
//! (the end of one is the start of the other) and are said in largely the same calls are
//! joined into the longer phrase (手机银行登录 + 银行登录不了 -> 手机银行登录不了). A phrase that
//! contains a broader one (said in clearly more calls) is dropped in favour of the broader.

use super::ngram::{join, Script};

/// A frequent gram, or a phrase merged from several.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub script: Script,
    pub tokens: Vec<String>,
    /// Distinct calls (as hashes) that said it in the window, sorted and without repeats.
    pub calls: Vec<u64>,
}

impl Candidate {
    /// The phrase as text.
    pub fn text(&self) -> String {
        join(self.script, &self.tokens)
    }
}

fn intersection(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn position(hay: &[String], needle: &[String]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()] == *needle)
}

/// The phrase `a` then `b` overlapping by at least `min` tokens (the longest such overlap),
/// when `b` neither lies inside `a` nor the other way round.
fn chain(a: &[String], b: &[String], min: usize) -> Option<Vec<String>> {
    let most = a.len().min(b.len()) - 1;
    (min..=most).rev().find_map(|k| {
        (a[a.len() - k..] == b[..k]).then(|| {
            let mut v = a.to_vec();
            v.extend_from_slice(&b[k..]);
            v
        })
    })
}

/// Merges `cands` (each gram at most once) into phrases. `overlap` (0..1] is the share of a
/// gram's calls that must also be the phrase's calls for it to be absorbed or joined.
pub fn merge(mut cands: Vec<Candidate>, overlap: f64) -> Vec<Candidate> {
    // Longest first, so pieces meet the phrase they belong to; then the most calls.
    cands.sort_by(|a, b| {
        (b.tokens.len(), b.calls.len(), &a.tokens).cmp(&(a.tokens.len(), a.calls.len(), &b.tokens))
    });
    let share = |shared: usize, of: usize| shared as f64 >= overlap * of as f64;
    let mut out: Vec<Candidate> = Vec::new();
    for c in cands {
        let absorbed = out.iter().any(|k| {
            k.script == c.script
                && position(&k.tokens, &c.tokens).is_some()
                && share(intersection(&k.calls, &c.calls).len(), c.calls.len())
        });
        if !absorbed {
            out.push(c);
        }
    }
    // Join overlapping phrases until nothing changes; each join removes one, so this ends.
    let min_overlap = |s: Script| match s {
        Script::Han => 2,
        Script::Word => 1,
    };
    'again: loop {
        for i in 0..out.len() {
            for j in 0..out.len() {
                if i == j || out[i].script != out[j].script {
                    continue;
                }
                let (a, b) = (&out[i], &out[j]);
                let Some(tokens) = chain(&a.tokens, &b.tokens, min_overlap(a.script)) else {
                    continue;
                };
                let both = intersection(&a.calls, &b.calls);
                let most = a.calls.len().max(b.calls.len());
                if !share(both.len(), most) {
                    continue;
                }
                let joined = Candidate {
                    script: a.script,
                    tokens,
                    calls: both,
                };
                let (hi, lo) = (i.max(j), i.min(j));
                out.remove(hi);
                out.remove(lo);
                out.push(joined);
                continue 'again;
            }
        }
        break;
    }
    // A phrase containing a broader phrase (clearly more calls, else it would have been
    // absorbed) is a special case of it: keep the broader one.
    let keep: Vec<bool> = out
        .iter()
        .map(|a| {
            !out.iter().any(|b| {
                b.script == a.script
                    && b.tokens.len() < a.tokens.len()
                    && position(&a.tokens, &b.tokens).is_some()
            })
        })
        .collect();
    let mut kept: Vec<Candidate> = out
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect();
    kept.sort_by(|a, b| {
        b.calls
            .len()
            .cmp(&a.calls.len())
            .then_with(|| a.tokens.cmp(&b.tokens))
    });
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn han(text: &str, calls: std::ops::Range<u64>) -> Candidate {
        Candidate {
            script: Script::Han,
            tokens: text.chars().map(String::from).collect(),
            calls: calls.collect(),
        }
    }

    fn texts(c: &[Candidate]) -> Vec<(String, usize)> {
        c.iter().map(|c| (c.text(), c.calls.len())).collect()
    }

    #[test]
    fn pieces_with_the_same_calls_are_absorbed_by_the_phrase() {
        let c = vec![
            han("登录", 0..32),
            han("登录不", 0..30),
            han("录不了", 0..30),
            han("登录不了", 0..30),
        ];
        assert_eq!(texts(&merge(c, 0.8)), vec![("登录不了".into(), 30)]);
    }

    #[test]
    fn a_piece_said_in_many_other_calls_stays_its_own_candidate() {
        // 登录 in 60 calls, 登录不了 in 30 of them: both are news, the broader is kept.
        let c = vec![han("登录", 0..60), han("登录不了", 0..30)];
        assert_eq!(texts(&merge(c, 0.8)), vec![("登录".into(), 60)]);
    }

    #[test]
    fn overlapping_grams_of_a_longer_phrase_are_joined() {
        let c = vec![
            han("手机银行登录", 0..12),
            han("机银行登录不", 0..12),
            han("银行登录不了", 1..12),
        ];
        assert_eq!(texts(&merge(c, 0.8)), vec![("手机银行登录不了".into(), 11)]);
    }

    #[test]
    fn unrelated_or_weakly_shared_grams_stay_apart() {
        let c = vec![
            han("扣款两次", 0..20),
            han("登录不了", 100..130),
            // Overlaps 登录不了 in text, but in other calls.
            han("不了了之", 200..220),
        ];
        let got = texts(&merge(c, 0.8));
        assert_eq!(got.len(), 3, "{got:?}");
    }

    #[test]
    fn english_word_grams_join_on_words() {
        let w = |t: &str, calls: std::ops::Range<u64>| Candidate {
            script: Script::Word,
            tokens: t.split(' ').map(String::from).collect(),
            calls: calls.collect(),
        };
        let c = vec![
            w("double charged", 0..15),
            w("charged twice", 0..15),
            w("charged", 0..16),
        ];
        assert_eq!(
            texts(&merge(c, 0.8)),
            vec![("double charged twice".into(), 15)]
        );
    }
}
