//! Text normalisation shared by lexicon terms and transcripts, with a map back to the original.
//!
//! Recognisers are inconsistent about width, case, script and punctuation: the same phrase can
//! come out as `保證收益`, `保证收益` or `保，证收益`. Terms and transcripts are both passed through
//! [`normalize`] so a single automaton over the normalised forms finds every variant, and the map
//! kept alongside lets a hit be reported on the text the reviewer actually sees.

use std::ops::Range;
use zhconv::{get_builtin_converter, Variant, ZhConverter};

/// A normalised text and, for each of its chars, the byte range of the original text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The normalised text: half-width, lower-case, Simplified Chinese, no punctuation or
    /// whitespace except a single space between two words of a space-separated script.
    pub text: String,
    /// One entry per char of `text`, in order.
    map: Vec<CharOrigin>,
    original_len: usize,
    /// The same text before numeral runs became digits, when any did: a term that begins
    /// or ends with a numeral (零风险) must still match when the transcript runs a number
    /// into it (一一零风险 folds to 110风险).
    pub(crate) unfolded: Option<Box<Normalized>>,
}

/// Where one normalised char came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CharOrigin {
    /// Byte offset of the char in the normalised text.
    norm: usize,
    /// Byte range in the original text; always on original char boundaries.
    orig_start: usize,
    orig_end: usize,
}

impl Normalized {
    /// Maps a byte range of [`Normalized::text`] back to the byte range of the original text that
    /// produced it.
    ///
    /// The result always lies inside the original text and on its char boundaries. Offsets that are
    /// not on a char boundary of the normalised text are widened to the chars containing them; an
    /// empty or inverted range maps to an empty range at the corresponding original position.
    pub fn original_range(&self, norm_byte_start: usize, norm_byte_end: usize) -> Range<usize> {
        if self.map.is_empty() {
            return self.original_len..self.original_len;
        }
        // Index of the normalised char containing `norm_byte_start`.
        let first = self
            .map
            .partition_point(|c| c.norm <= norm_byte_start)
            .saturating_sub(1);
        if norm_byte_end <= norm_byte_start || norm_byte_start >= self.text.len() {
            let at = if norm_byte_start >= self.text.len() {
                self.map[self.map.len() - 1].orig_end
            } else {
                self.map[first].orig_start
            };
            return at..at;
        }
        // Index of the last normalised char starting before `norm_byte_end`.
        let last = self
            .map
            .partition_point(|c| c.norm < norm_byte_end)
            .saturating_sub(1)
            .max(first);
        self.map[first].orig_start..self.map[last].orig_end
    }

    /// Number of chars in the normalised text.
    pub fn char_len(&self) -> usize {
        self.map.len()
    }
}

/// Normalises `text` for matching and keeps a map back to the original.
///
/// In order: full-width forms and the ideographic space become their ASCII equivalents; letters
/// are lower-cased; everything that is not a letter or digit (punctuation, symbols, whitespace,
/// marks) is dropped, except that a gap between two words of a space-separated script (Latin,
/// digits, Cyrillic, ...) becomes a single space so English terms still match whole words only;
/// then Traditional Chinese is converted to Simplified with the MediaWiki `zh-Hans` tables,
/// phrase rules included; finally digit strings spoken as Chinese numerals (一二三七八, with
/// 幺 for 1 as on phone lines) become Arabic digits, so 12378 matches however it was written.
pub fn normalize(text: &str) -> Normalized {
    let converter = get_builtin_converter(Variant::ZhHans);
    let mut n = to_simplified(fold(text), converter, text.len());
    // A few table entries map to a character that is itself converted again (戱 -> 戯 -> 戏);
    // converting until nothing changes keeps normalisation idempotent, which matching a
    // normalised term against a normalised transcript relies on. Two passes settle every
    // entry seen; the bound only guards against a cyclic table.
    for _ in 0..3 {
        let again = to_simplified(
            Folded {
                text: n.text.clone(),
                map: n.map.clone(),
            },
            converter,
            text.len(),
        );
        if again.text == n.text {
            break;
        }
        n = again;
    }
    fold_numerals(n)
}

/// The digit a Chinese numeral stands for when digits are read out one by one.
fn numeral_digit(c: char) -> Option<char> {
    Some(match c {
        '零' | '〇' => '0',
        '一' | '幺' => '1',
        '二' => '2',
        '三' => '3',
        '四' => '4',
        '五' => '5',
        '六' => '6',
        '七' => '7',
        '八' => '8',
        '九' => '9',
        _ => return None,
    })
}

/// Runs shorter than this stay as words: 一下, 三八 and 九五 are ordinary vocabulary, while
/// numbers read digit by digit (hotlines, card and phone numbers, codes) are longer.
const MIN_NUMERAL_RUN: usize = 3;

fn fold_numerals(n: Normalized) -> Normalized {
    let chars: Vec<char> = n.text.chars().collect();
    let mut digit = vec![false; chars.len()];
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| numeral_digit(**c).is_some())
            .count();
        if run >= MIN_NUMERAL_RUN {
            digit[i..i + run].iter_mut().for_each(|d| *d = true);
        }
        i += run.max(1);
    }
    if !digit.contains(&true) {
        return n;
    }
    let mut text = String::with_capacity(n.text.len());
    let mut map = Vec::with_capacity(n.map.len());
    for ((c, origin), is_digit) in chars.iter().zip(&n.map).zip(&digit) {
        let out = if *is_digit {
            numeral_digit(*c).unwrap_or(*c)
        } else {
            *c
        };
        map.push(CharOrigin {
            norm: text.len(),
            ..*origin
        });
        text.push(out);
    }
    Normalized {
        text,
        map,
        original_len: n.original_len,
        unfolded: Some(Box::new(n)),
    }
}

/// Output of the first pass, before script conversion.
struct Folded {
    text: String,
    map: Vec<CharOrigin>,
}

fn fold(text: &str) -> Folded {
    let mut out = String::with_capacity(text.len());
    let mut map = Vec::with_capacity(text.len());
    // Byte range of the dropped run since the last kept char, if any.
    let mut gap: Option<Range<usize>> = None;
    let mut last_was_word = false;
    for (start, raw) in text.char_indices() {
        let end = start + raw.len_utf8();
        let mut kept_any = false;
        for c in to_half_width(raw).to_lowercase() {
            // Lower-casing can emit combining marks (`İ` -> `i̇`); they are dropped like any
            // other mark so that normalising the output again changes nothing.
            if !c.is_alphanumeric() {
                continue;
            }
            let word = is_word_char(c);
            if let Some(g) = gap.take() {
                if word && last_was_word {
                    map.push(CharOrigin {
                        norm: out.len(),
                        orig_start: g.start,
                        orig_end: g.end,
                    });
                    out.push(' ');
                }
            }
            map.push(CharOrigin {
                norm: out.len(),
                orig_start: start,
                orig_end: end,
            });
            out.push(c);
            last_was_word = word;
            kept_any = true;
        }
        if !kept_any {
            gap = Some(match gap {
                Some(g) => g.start..end,
                None => start..end,
            });
        }
    }
    Folded { text: out, map }
}

fn to_simplified(folded: Folded, converter: &ZhConverter, original_len: usize) -> Normalized {
    let Folded { text, map } = folded;
    let mut out = String::with_capacity(text.len());
    let mut out_map = Vec::with_capacity(map.len());
    // Index into `map` of the first char not yet copied.
    let mut next = 0;
    let char_at = |byte: usize| map.partition_point(|c| c.norm < byte);
    for (s, e, to) in converter.search(&text) {
        let from = &text[s..e];
        if from == to {
            continue;
        }
        let (i0, i1) = (char_at(s), char_at(e));
        for c in &map[next..i0] {
            push_char(&mut out, &mut out_map, &text, *c);
        }
        let same_len = to.chars().count() == i1 - i0;
        for (k, c) in to.chars().enumerate() {
            // Table entries are all CJK, but dropping anything else keeps the output idempotent
            // should a future table carry punctuation.
            if !c.is_alphanumeric() {
                continue;
            }
            // A phrase rule that changes length has no char-to-char correspondence, so every
            // output char points at the whole source phrase.
            let (orig_start, orig_end) = if same_len {
                (map[i0 + k].orig_start, map[i0 + k].orig_end)
            } else {
                (map[i0].orig_start, map[i1 - 1].orig_end)
            };
            out_map.push(CharOrigin {
                norm: out.len(),
                orig_start,
                orig_end,
            });
            out.push(c);
        }
        next = i1;
    }
    if next == 0 {
        // Nothing to convert: the common case for Simplified or English transcripts.
        return Normalized {
            unfolded: None,
            text,
            map,
            original_len,
        };
    }
    for c in &map[next..] {
        push_char(&mut out, &mut out_map, &text, *c);
    }
    Normalized {
        unfolded: None,
        text: out,
        map: out_map,
        original_len,
    }
}

fn push_char(out: &mut String, out_map: &mut Vec<CharOrigin>, folded: &str, c: CharOrigin) {
    let ch = folded[c.norm..]
        .chars()
        .next()
        .expect("map entries point at chars of the folded text");
    out_map.push(CharOrigin {
        norm: out.len(),
        ..c
    });
    out.push(ch);
}

/// Full-width ASCII variants (`ＡＢＣ１２３！`) and the ideographic space to their ASCII forms.
fn to_half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// True for letters and digits of scripts written with spaces between words.
///
/// English terms must match whole words (`complaint` must not fire inside `complaints`), which
/// needs word boundaries; Chinese, Japanese, Korean and Thai are written without spaces, so their
/// chars never form or need a boundary.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() && !is_unspaced_script(c)
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF     // Thai, Lao
        | 0x1000..=0x109F   // Myanmar
        | 0x1100..=0x11FF   // Hangul Jamo
        | 0x1780..=0x17FF   // Khmer
        | 0x2E80..=0x2FDF   // CJK and Kangxi radicals
        | 0x3005..=0x3007   // 々 〆 〇
        | 0x3021..=0x3029   // Hangzhou numerals
        | 0x3038..=0x303C
        | 0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3100..=0x31FF   // Bopomofo, Hangul compatibility, Katakana extensions
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xA960..=0xA97F   // Hangul Jamo extended A
        | 0xAC00..=0xD7FF   // Hangul syllables, Jamo extended B
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0xFF66..=0xFFDC   // half-width Katakana and Hangul
        | 0x20000..=0x3FFFF // CJK extensions B and later
    )
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn chained_conversions_settle_in_one_normalisation() {
        // Regression: 戱 converted to 戯, which the next normalisation turned into 戏.
        let once = normalize("戱");
        assert_eq!(once.text, "戏");
        assert_eq!(once.text, normalize(&once.text).text);
        assert_eq!(once.original_range(0, once.text.len()), 0..3);
    }

    #[test]
    fn converts_traditional_bank_vocabulary() {
        for (input, want) in [
            ("保證收益", "保证收益"),
            ("投訴", "投诉"),
            ("驗證碼", "验证码"),
            ("銀保監會", "银保监会"),
            ("穩賺不賠", "稳赚不赔"),
            ("剛性兌付", "刚性兑付"),
            ("詐騙", "诈骗"),
        ] {
            assert_eq!(normalize(input).text, want, "input {input}");
        }
    }

    #[test]
    fn folds_width_case_and_punctuation() {
        for (input, want) in [
            ("ＡＢＣ", "abc"),
            ("１２３７８", "12378"),
            ("保，本\u{3000}保息！", "保本保息"),
            ("GUARANTEED   Return", "guaranteed return"),
            ("risk-free", "risk free"),
            ("can’t lose", "can t lose"),
            ("打12378投诉", "打12378投诉"),
            ("abc 投诉 def", "abc投诉def"),
            ("  ", ""),
            ("", ""),
        ] {
            assert_eq!(normalize(input).text, want, "input {input:?}");
        }
    }

    #[test]
    fn maps_back_to_original_bytes() {
        let original = "我要，投訴你們";
        let n = normalize(original);
        assert_eq!(n.text, "我要投诉你们");
        let s = n.text.find("投诉").unwrap();
        let r = n.original_range(s, s + "投诉".len());
        assert_eq!(&original[r], "投訴");
        let s = n.text.find("要投").unwrap();
        let r = n.original_range(s, s + "要投".len());
        assert_eq!(&original[r], "要，投");
    }

    #[test]
    fn empty_and_out_of_range_requests_stay_inside_the_text() {
        let n = normalize("，，");
        assert_eq!(n.original_range(0, 0), 6..6);
        let n = normalize("ab");
        assert_eq!(n.original_range(5, 9), 2..2);
        assert_eq!(n.original_range(1, 1), 1..1);
        assert_eq!(n.original_range(0, 100), 0..2);
    }
}
