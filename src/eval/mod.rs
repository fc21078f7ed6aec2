//! Transcript accuracy against a fixture's reference text, for the benchmarks that report it
//! (hit recall and precision are in [`hits`]):
//! character error rate for Mandarin, word error rate for English, after the same
//! normalisation as `fixtures/gen/check_whisper.py`
//! (which wrote the `whisper_base_error_rate` of every sidecar): Mandarin loses punctuation and
//! spaces and spells digits as characters; English is lower-cased words.

pub mod hits;
pub mod noise;

pub use hits::{score_hits, HitScore, HypHit, RefHit};

/// Comparable units of `text`: characters (zh) or words (other languages).
pub fn units(text: &str, language: &str) -> Vec<String> {
    if language == "zh" {
        const DIGITS: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];
        text.chars()
            .map(|c| c.to_digit(10).map_or(c, |d| DIGITS[d as usize]))
            .filter(|c| c.is_alphanumeric())
            .map(String::from)
            .collect()
    } else {
        text.to_lowercase()
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect()
    }
}

/// Edit distance between two unit sequences.
pub fn edits(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            cur.push(
                (prev[j + 1] + 1)
                    .min(cur[j] + 1)
                    .min(prev[j] + usize::from(r != h)),
            );
        }
        prev = cur;
    }
    prev[hypothesis.len()]
}

/// The substituted pairs `(reference unit, hypothesis unit)` of one minimal alignment, in order:
/// what the recogniser wrote in place of what was said. Ties prefer a substitution over an
/// insertion plus a deletion, so a misheard character lines up with the one it replaced.
pub fn substitutions(reference: &[String], hypothesis: &[String]) -> Vec<(String, String)> {
    let (n, m) = (reference.len(), hypothesis.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[i - 1][j - 1] + usize::from(reference[i - 1] != hypothesis[j - 1]);
            d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 && j > 0 {
        let same = reference[i - 1] == hypothesis[j - 1];
        if d[i][j] == d[i - 1][j - 1] + usize::from(!same) {
            if !same {
                out.push((reference[i - 1].clone(), hypothesis[j - 1].clone()));
            }
            i -= 1;
            j -= 1;
        } else if d[i][j] == d[i - 1][j] + 1 {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    out.reverse();
    out
}

/// Edits and reference length, to be summed over files before dividing.
pub fn count(reference: &str, hypothesis: &str, language: &str) -> (usize, usize) {
    let r = units(reference, language);
    (edits(&r, &units(hypothesis, language)), r.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutions_line_up_misheard_characters() {
        let u = |s: &str| units(s, "zh");
        assert_eq!(
            substitutions(&u("这款理财产品保本保息"), &u("这款里财产品保本保锡")),
            [("理".into(), "里".into()), ("息".into(), "锡".into())]
        );
        // A dropped character is not a substitution; the rest still lines up.
        assert_eq!(
            substitutions(&u("验证码告诉他"), &u("验重码告他")),
            [("证".into(), "重".into())]
        );
        assert!(substitutions(&u("您好"), &u("")).is_empty());
    }

    #[test]
    fn as_the_fixture_generator_counts() {
        // Cases of fixtures/gen/test_text.py.
        for (reference, hypothesis, language, want) in [
            ("我要打一二三七八投诉。", "我要打12378投诉。", "zh", (0, 10)),
            (
                "这款理财产品保本保息",
                "这款离财产品保本保锡",
                "zh",
                (2, 10),
            ),
            ("您好", "", "zh", (2, 2)),
            (
                "请问还有什么可以帮您？",
                "请问还有什么可以帮你。",
                "zh",
                (1, 10),
            ),
            (
                "Thank you for calling, how can I help?",
                "thank you for calling. How can I help",
                "en",
                (0, 8),
            ),
            (
                "I want to file a complaint",
                "I want to file a complain",
                "en",
                (1, 6),
            ),
            (
                "I want to file a complaint.",
                "i want to file complaint",
                "en",
                (1, 6),
            ),
            ("", "anything", "en", (1, 0)),
        ] {
            assert_eq!(
                count(reference, hypothesis, language),
                want,
                "{reference} / {hypothesis}"
            );
        }
    }
}
