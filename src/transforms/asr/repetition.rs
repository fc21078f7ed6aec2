//! Repetition loops: greedy Whisper sometimes writes one phrase over and over until its token
//! limit (`我想问一下我想问一下我想问一下…`), most often on narrowband, noisy audio. On the 8 kHz
//! accuracy fixtures such loops were most of the Mandarin character errors and a whole English
//! call's. This finds them so the recogniser can decode the utterance again another way, and
//! collapses what remains to one copy of the phrase.

/// A unit of text said this many times back to back is a loop, not speech ("好的好的" and
/// "对对对" are said; four copies of a phrase of two or more characters, covering
/// [`MIN_SPAN`] characters, are not).
const MIN_REPEATS: usize = 4;
/// Characters a loop of multi-character units covers at least.
const MIN_SPAN: usize = 12;
/// One character repeated this often is a loop ("嗯嗯嗯…").
const MIN_REPEATS_ONE_CHAR: usize = 10;
/// Longest unit looked for, in characters (a whole English sentence loops too: "Someone called
/// me and asked for my verification code. Someone called me…").
const MAX_UNIT: usize = 160;

/// One loop: `count` copies of `text[start..start + unit_len]` (byte offsets), back to back,
/// possibly followed by a cut-off copy (a prefix of the unit) of `tail` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    pub start: usize,
    pub unit_len: usize,
    pub count: usize,
    pub tail: usize,
}

impl Loop {
    /// The repeated phrase.
    pub fn unit<'a>(&self, text: &'a str) -> &'a str {
        &text[self.start..self.start + self.unit_len]
    }

    /// Bytes the loop covers, cut-off copy included.
    pub fn span(&self) -> usize {
        self.unit_len * self.count + self.tail
    }
}

/// Digits, numerals and separators: a card or account number read out repeats these
/// legitimately ("零零零零"), and redaction must see every one of them.
fn is_number_like(c: char) -> bool {
    c.is_ascii_digit()
        || c.is_whitespace()
        || "零〇一二三四五六七八九十百千万幺两-,，、.。".contains(c)
}

/// The first repetition loop in `text`, if any.
pub fn find_loop(text: &str) -> Option<Loop> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let byte_at = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    for i in 0..n {
        for len in 1..=MAX_UNIT.min((n - i) / 2) {
            let unit = &chars[i..i + len];
            if unit.iter().all(|&(_, c)| is_number_like(c)) {
                continue;
            }
            if len == 1 && unit[0].1.is_whitespace() {
                continue;
            }
            let mut count = 1;
            while i + (count + 1) * len <= n
                && chars[i + count * len..i + (count + 1) * len]
                    .iter()
                    .zip(unit)
                    .all(|(a, b)| a.1 == b.1)
            {
                count += 1;
            }
            let is_loop = if len == 1 {
                count >= MIN_REPEATS_ONE_CHAR
            } else {
                count >= MIN_REPEATS && count * len >= MIN_SPAN
            };
            if !is_loop {
                continue;
            }
            let end = i + count * len;
            let tail = (0..len)
                .take_while(|&k| end + k < n && chars[end + k].1 == unit[k].1)
                .count();
            let start = byte_at(i);
            return Some(Loop {
                start,
                unit_len: byte_at(i + len) - start,
                count,
                tail: byte_at(end + tail) - byte_at(end),
            });
        }
    }
    None
}

/// `text` with every repetition loop kept once, and whether any was found.
pub fn collapse(text: &str) -> (String, bool) {
    let mut out = text.to_string();
    let mut found = false;
    while let Some(lp) = find_loop(&out) {
        found = true;
        let keep_to = lp.start + lp.unit_len;
        out.replace_range(keep_to..lp.start + lp.span(), "");
    }
    (out, found)
}

/// Tokens one utterance of `secs` seconds may take: fast Mandarin is about 7 characters a
/// second, some of them two tokens, so this never cuts speech; a loop stops here instead of
/// at Whisper's 220 tokens.
pub fn max_tokens_for(secs: f32) -> i32 {
    16 + (secs.max(0.0) * 16.0).ceil() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_are_found_and_kept_once() {
        // (transcript, after collapsing, loop found)
        let cases: &[(&str, &str, bool)] = &[
            (
                "我想问一下我想问一下我想问一下我想问一下我想问一下",
                "我想问一下",
                true,
            ),
            (
                "您好，请问理财产品，理财产品，理财产品，理财产品，理财",
                "您好，请问理财产品，",
                true,
            ),
            (
                "I want to I want to I want to I want to I want to",
                "I want to ",
                true,
            ),
            ("嗯嗯嗯嗯嗯嗯嗯嗯嗯嗯嗯嗯", "嗯", true),
            // Said, not looped.
            ("好的好的，没问题", "好的好的，没问题", false),
            ("对对对，是的", "对对对，是的", false),
            ("好的好的好的", "好的好的好的", false),
            ("嗯嗯嗯嗯", "嗯嗯嗯嗯", false),
            ("thank you thank you", "thank you thank you", false),
            // Numbers read out keep every digit.
            (
                "卡号是六二二二零零零零零零零零零零零零",
                "卡号是六二二二零零零零零零零零零零零零",
                false,
            ),
            ("1111 1111 1111 1111", "1111 1111 1111 1111", false),
            ("一二一二一二一二一二", "一二一二一二一二一二", false),
            ("", "", false),
        ];
        for &(text, want, found) in cases {
            assert_eq!(collapse(text), (want.to_string(), found), "{text}");
        }
    }

    #[test]
    fn a_sentence_looped_is_kept_once() {
        let sentence = "Someone called me and asked for my meditation code. ";
        let text = format!("{}Someone called me and", sentence.repeat(6));
        assert_eq!(collapse(&text), (sentence.to_string(), true));
    }

    #[test]
    fn two_loops_are_both_collapsed() {
        let text = "请问请问请问请问请问请问还有吗还有吗还有吗还有吗还有吗";
        assert_eq!(collapse(text).0, "请问还有吗");
    }

    #[test]
    fn a_loop_reports_its_unit_and_span() {
        let text = "开头保本保息保本保息保本保息保本保息保本";
        let lp = find_loop(text).unwrap();
        assert_eq!(lp.unit(text), "保本保息");
        assert_eq!(lp.count, 4);
        assert_eq!(
            &text[lp.start..lp.start + lp.span()],
            "保本保息保本保息保本保息保本保息保本"
        );
    }

    #[test]
    fn the_token_budget_grows_with_the_audio() {
        assert_eq!(max_tokens_for(0.0), 16);
        assert_eq!(max_tokens_for(3.0), 64);
        // 7 characters a second at up to two tokens each fits.
        for secs in [1.0f32, 2.5, 10.0, 30.0] {
            assert!(max_tokens_for(secs) as f32 >= secs * 14.0);
        }
    }

    proptest::proptest! {
        #[test]
        fn collapsing_never_grows_text_and_is_idempotent(s in "\\PC{0,60}") {
            let (once, _) = collapse(&s);
            proptest::prop_assert!(once.len() <= s.len());
            let (twice, again) = collapse(&once);
            proptest::prop_assert_eq!(&twice, &once);
            proptest::prop_assert!(!again);
        }

        #[test]
        fn a_phrase_looped_is_found(unit in "[\\u4e00-\\u9fa5a-z]{2,8}", n in 6usize..12) {
            let text = unit.repeat(n);
            let (out, found) = collapse(&text);
            proptest::prop_assert!(found);
            // The smallest period of the unit stays, so it may be shorter than `unit`.
            proptest::prop_assert!(unit.starts_with(&out) || out.len() <= unit.len());
        }
    }
}
