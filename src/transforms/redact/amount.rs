//! Amounts of money: a number (digits or Chinese numerals, 三千五百 included) with a currency
//! sign, a currency word or unit (元, 块, 万, RMB, dollars), or after 金额 / amount.

/// Chars that may start an amount's number.
fn starts_number(c: char) -> bool {
    c.is_ascii_digit()
        || ('０'..='９').contains(&c)
        || "零〇一二三四五六七八九十两幺壹贰叁肆伍陆柒捌玖拾".contains(c)
}

/// Chars that may continue it (positional numerals and decimal points included).
fn continues_number(c: char) -> bool {
    starts_number(c) || "百千万亿佰仟萬点".contains(c)
}

const PREFIXES: &[&str] = &["¥", "￥", "$", "＄", "rmb", "cny", "usd", "人民币"];
const SUFFIXES: &[&str] = &[
    "万元",
    "美元",
    "人民币",
    "元",
    "块",
    "圆",
    "rmb",
    "cny",
    "usd",
    "yuan",
    "dollars",
    "dollar",
    "bucks",
];
const KEYWORDS: &[&str] = &["金额", "amount"];
/// A keyword starts at most this many chars before the number (金额是, the amount of).
const KEYWORD_WINDOW: usize = 12;

/// Lower-cased `chars[at..]` starts with `word` (and, for a Latin word, does not run on into
/// more letters).
fn word_at(chars: &[char], at: usize, word: &str) -> bool {
    let n = word.chars().count();
    if at + n > chars.len() {
        return false;
    }
    let matches = chars[at..at + n]
        .iter()
        .zip(word.chars())
        .all(|(a, b)| a.to_lowercase().eq(std::iter::once(b)));
    let latin = word.chars().all(|c| c.is_ascii_alphabetic());
    matches && !(latin && chars.get(at + n).is_some_and(|c| c.is_ascii_alphabetic()))
}

/// Lower-cased `chars[..end]` ends with `word`.
fn word_before(chars: &[char], end: usize, word: &str) -> bool {
    let n = word.chars().count();
    end >= n
        && word_at(chars, end - n, word)
        && !(word.chars().all(|c| c.is_ascii_alphabetic())
            && end > n
            && chars[end - n - 1].is_ascii_alphabetic())
}

/// Char ranges of every amount in `chars`, each covering its currency sign or unit.
/// Chars marked in `in_label` (labels an earlier pass wrote, such as `[金额]`) never count
/// as the 金额 / amount keyword, so redacting twice changes nothing.
pub fn amount_spans(chars: &[char], in_label: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !starts_number(chars[i]) || (i > 0 && chars[i - 1].is_ascii_alphabetic()) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() {
            let c = chars[j];
            // 5,000.50: a comma or point only inside a written number.
            let decimal = matches!(c, ',' | '.')
                && chars[j - 1].is_ascii_digit()
                && chars.get(j + 1).is_some_and(|n| n.is_ascii_digit());
            if continues_number(c) || decimal {
                j += 1;
            } else {
                break;
            }
        }
        while j > i + 1 && chars[j - 1] == '点' {
            j -= 1;
        }
        let (mut start, mut end) = (i, j);
        let skip_space = |k: usize| if chars.get(k) == Some(&' ') { k + 1 } else { k };
        let mut amount = false;
        let after = skip_space(j);
        if let Some(s) = SUFFIXES.iter().find(|s| word_at(chars, after, s)) {
            end = after + s.chars().count();
            amount = true;
        }
        let before = if i > 0 && chars[i - 1] == ' ' {
            i - 1
        } else {
            i
        };
        if let Some(p) = PREFIXES.iter().find(|p| word_before(chars, before, p)) {
            start = before - p.chars().count();
            amount = true;
        }
        if !amount && j - i > 1 && matches!(chars[j - 1], '万' | '亿' | '萬') {
            amount = true;
        }
        if !amount {
            let lo = i.saturating_sub(KEYWORD_WINDOW);
            amount = (lo..i).any(|k| {
                !in_label.get(k).copied().unwrap_or(false)
                    && KEYWORDS.iter().any(|w| word_at(chars, k, w))
            });
        }
        if amount {
            out.push((start, end));
        }
        i = j.max(i + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(s: &str) -> Vec<String> {
        let chars: Vec<char> = s.chars().collect();
        amount_spans(&chars, &[])
            .into_iter()
            .map(|(a, b)| chars[a..b].iter().collect())
            .collect()
    }

    #[test]
    fn amount_forms() {
        for (text, want) in [
            ("转账5000元", vec!["5000元"]),
            ("转账 5,000.50 元", vec!["5,000.50 元"]),
            ("借了五万块", vec!["五万块"]),
            ("三千五百元", vec!["三千五百元"]),
            ("大概五万", vec!["五万"]),
            ("金额是 8800", vec!["8800"]),
            ("¥300", vec!["¥300"]),
            ("RMB 300", vec!["RMB 300"]),
            ("300 dollars", vec!["300 dollars"]),
            ("$45.99 fee", vec!["$45.99"]),
            ("三点开会", vec![]),
            ("2 个", vec![]),
            ("第一", vec![]),
            ("2024年", vec![]),
            ("万一", vec![]),
            ("the amount of 5", vec!["5"]),
            ("300 dollarsign", vec![]),
        ] {
            assert_eq!(found(text), want, "{text}");
        }
    }
}
