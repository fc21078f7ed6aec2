//! Transcript accuracy against a fixture's reference text, for the benchmarks that report it:
//! character error rate for Mandarin, word error rate for English, after the same
//! normalisation as `fixtures/gen/check_whisper.py`
//! (which wrote the `whisper_base_error_rate` of every sidecar): Mandarin loses punctuation and
//! spaces and spells digits as characters; English is lower-cased words.

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

/// Edits and reference length, to be summed over files before dividing.
pub fn count(reference: &str, hypothesis: &str, language: &str) -> (usize, usize) {
    let r = units(reference, language);
    (edits(&r, &units(hypothesis, language)), r.len())
}

#[cfg(test)]
mod tests {
    use super::*;

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
