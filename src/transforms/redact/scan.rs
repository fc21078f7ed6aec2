//! Finds digit runs however they were written: Arabic or full-width digits, Chinese numerals
//! read digit by digit (六二二二, 幺, 两 and 洞 included), English digit words (`six two`,
//! `oh`, `double five`), in groups separated by spaces, dashes, commas or the filler words
//! people say between groups (`um`, `yes`, `okay`, 嗯, 对, 然后).

/// A number read out or written in a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitRun {
    /// The digits as ASCII; an 18th character `X` when a resident ID's check character follows 17 digits.
    pub digits: String,
    /// Char range in the text, covering a leading `+` and everything up to the last digit.
    pub start: usize,
    pub end: usize,
}

impl DigitRun {
    /// Number of digits (an `X` check character counts).
    pub fn len(&self) -> usize {
        self.digits.len()
    }
}

/// The digit a single char stands for.
fn char_digit(c: char) -> Option<char> {
    Some(match c {
        '0'..='9' => c,
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32)?,
        '零' | '〇' | '洞' => '0',
        '一' | '幺' => '1',
        '二' | '两' => '2',
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

/// The digit an English word stands for when digits are read out.
fn word_digit(w: &str) -> Option<char> {
    Some(match w.to_ascii_lowercase().as_str() {
        "zero" | "oh" | "o" => '0',
        "one" => '1',
        "two" => '2',
        "three" => '3',
        "four" => '4',
        "five" => '5',
        "six" => '6',
        "seven" => '7',
        "eight" => '8',
        "nine" => '9',
        _ => return None,
    })
}

/// Words said between the groups of a number read out ("four five three two, um, zero one…").
const FILLERS_EN: &[&str] = &[
    "um", "uh", "er", "erm", "ah", "hmm", "mm", "yes", "yeah", "yep", "ok", "okay", "right",
    "alright", "sure", "then", "and",
    // What the recogniser writes for "two" and "four" inside a number read out ("4 8 to 916"):
    // they bridge the groups; the digit itself is lost either way.
    "to", "too", "for",
];
/// The same in Chinese; matched as they are written, longest first.
const FILLERS_ZH: &[&str] = &[
    "然后", "好的", "就是", "那个", "对的", "是的", "对", "嗯", "是", "好", "呃", "啊", "额",
];
/// At most this many filler words between two groups; more and the number has ended.
const MAX_FILLERS: usize = 2;

/// Chars allowed between two groups of one number.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '－' | '–' | '—' | ',' | '，' | '、' | '\u{3000}')
}

/// How many separator chars may stand between two groups of one number (", " is two).
const MAX_GAP: usize = 3;

/// One token: a digit (or `X`, or a filler word when `digit` is `'~'`) and its char range.
#[derive(Debug, Clone, Copy)]
struct Token {
    digit: char,
    start: usize,
    end: usize,
}

/// Marks a filler word in [`Token::digit`].
const FILLER: char = '~';

/// Splits `chars` into digit and filler tokens and the positions where a number must end.
fn tokens(chars: &[char]) -> Vec<Option<Token>> {
    // `None` entries are hard breaks (any other non-separator, non-digit text).
    let mut out = Vec::new();
    let mut i = 0;
    // "double five": the next digit counts this many times.
    let mut repeat = 1;
    let push = |out: &mut Vec<Option<Token>>, repeat: &mut usize, digit, start, end| {
        let times = if digit == FILLER {
            1
        } else {
            std::mem::replace(repeat, 1)
        };
        for _ in 0..times {
            out.push(Some(Token { digit, start, end }));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if let Some(n) = FILLERS_ZH
            .iter()
            .find(|f| starts_with(&chars[i..], f))
            .map(|f| f.chars().count())
        {
            push(&mut out, &mut repeat, FILLER, i, i + n);
            i += n;
        } else if let Some(d) = char_digit(c) {
            push(&mut out, &mut repeat, d, i, i + 1);
            i += 1;
        } else if c.is_ascii_alphabetic() {
            let j = i + chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            let word: String = chars[i..j].iter().collect::<String>().to_ascii_lowercase();
            match word_digit(&word) {
                Some(d) => push(&mut out, &mut repeat, d, i, j),
                // Part of the number, so it bridges like a filler word.
                None if word == "double" || word == "triple" => {
                    push(&mut out, &mut repeat, FILLER, i, j);
                    repeat = if word == "double" { 2 } else { 3 };
                }
                None if FILLERS_EN.contains(&word.as_str()) => {
                    push(&mut out, &mut repeat, FILLER, i, j)
                }
                None if j - i == 1 && word == "x" => push(&mut out, &mut repeat, 'X', i, j),
                None => out.push(None),
            }
            i = j;
        } else if matches!(c, 'Ｘ' | 'ｘ' | '叉') {
            push(&mut out, &mut repeat, 'X', i, i + 1);
            i += 1;
        } else if is_separator(c) {
            i += 1;
        } else {
            out.push(None);
            i += 1;
        }
    }
    out
}

/// `chars` begins with `word`.
fn starts_with(chars: &[char], word: &str) -> bool {
    let mut it = chars.iter();
    word.chars().all(|c| it.next() == Some(&c))
}

/// Every digit run in `chars`, in order.
#[cfg(test)]
pub fn digit_runs(chars: &[char]) -> Vec<DigitRun> {
    digit_runs_after(chars, 0)
}

/// Every digit run in `chars`, in order, when the text continues a number whose first
/// `carried` digits came earlier (the previous utterance). Those digits count towards
/// the 17 that let a trailing `X` close a resident ID, so an ID cut between utterances
/// keeps its check character.
pub fn digit_runs_after(chars: &[char], carried: usize) -> Vec<DigitRun> {
    let mut runs: Vec<DigitRun> = Vec::new();
    let mut cur: Option<DigitRun> = None;
    // Where the current run may go on from: its last digit, or a filler word after it.
    let mut reach = 0;
    let mut fillers = 0;
    let close = |cur: &mut Option<DigitRun>, runs: &mut Vec<DigitRun>| {
        if let Some(r) = cur.take() {
            runs.push(r);
        }
    };
    for t in tokens(chars) {
        let Some(t) = t else {
            close(&mut cur, &mut runs);
            continue;
        };
        let near = t.start.saturating_sub(reach) <= MAX_GAP;
        if t.digit == FILLER {
            if cur.is_some() && near && fillers < MAX_FILLERS {
                reach = t.end;
                fillers += 1;
            } else {
                close(&mut cur, &mut runs);
            }
            continue;
        }
        if t.digit == 'X' {
            // Only a resident ID's 18th character; anywhere else it is an ordinary letter.
            match cur.as_mut() {
                Some(r)
                    if r.digits.len() + if runs.is_empty() { carried } else { 0 } == 17 && near =>
                {
                    r.digits.push('X');
                    r.end = t.end;
                }
                _ => {}
            }
            close(&mut cur, &mut runs);
            continue;
        }
        fillers = 0;
        reach = t.end;
        match cur.as_mut() {
            Some(r) if near && !r.digits.ends_with('X') => {
                r.digits.push(t.digit);
                r.end = t.end;
            }
            _ => {
                close(&mut cur, &mut runs);
                let start = if t.start > 0 && matches!(chars[t.start - 1], '+' | '＋') {
                    t.start - 1
                } else {
                    t.start
                };
                cur = Some(DigitRun {
                    digits: t.digit.to_string(),
                    start,
                    end: t.end,
                });
            }
        }
    }
    close(&mut cur, &mut runs);
    runs
}

/// Whether `chars` holds nothing but separators, punctuation and filler words: the text
/// before a number that continues the previous utterance's ("um, 0151…", "对，六二二二…").
pub fn only_fillers(chars: &[char]) -> bool {
    // Punctuation is a hard break for numbers but not text here: read it as a space.
    let spaced: Vec<char> = chars
        .iter()
        .map(|c| if c.is_alphanumeric() { *c } else { ' ' })
        .collect();
    tokens(&spaced)
        .iter()
        .all(|t| matches!(t, Some(t) if t.digit == FILLER))
}

/// Whether `text` holds anything that reads as a digit.
pub fn has_number_token(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    tokens(&chars)
        .iter()
        .flatten()
        .any(|t| t.digit != 'X' && t.digit != FILLER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(s: &str) -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        digit_runs(&chars).into_iter().map(|r| r.digits).collect()
    }

    #[test]
    fn forms_of_one_number() {
        for (text, want) in [
            ("6222 0212 3456", vec!["622202123456"]),
            ("六二二二，零二一二", vec!["62220212"]),
            ("幺三八-两二", vec!["13822"]),
            ("６２２２ 0212", vec!["62220212"]),
            ("six two two two oh one", vec!["622201"]),
            ("+86 138", vec!["86138"]),
            ("11010519491231002X", vec!["11010519491231002X"]),
            ("1101051949123100叉", vec!["1101051949123100"]),
            ("3 个 5 个", vec!["3", "5"]),
            ("text Oxford", vec![]),
            ("box 4", vec!["4"]),
        ] {
            assert_eq!(runs(text), want, "{text}");
        }
    }

    #[test]
    fn spans_cover_the_plus_and_the_words() {
        let chars: Vec<char> = "call +86 one".chars().collect();
        let r = &digit_runs(&chars)[0];
        assert_eq!((r.start, r.end, r.digits.as_str()), (5, 12, "861"));
    }
}
