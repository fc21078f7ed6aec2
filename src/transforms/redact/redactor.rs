//! The stateless core: one text in, the redacted text and what was removed out.

use super::amount::amount_spans;
use super::checks::{luhn_valid, mobile_valid, resident_id_valid};
use super::config::{LabelLanguage, RedactConfig, RedactConfigError};
use super::display::{decorate, decorated_len, CardDisplay};
use super::scan::{digit_runs_after, only_fillers, DigitRun};
use super::Category;
use std::collections::BTreeMap;

/// One removed piece of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    pub category: Category,
    /// Char range of the label in the redacted text.
    pub start: usize,
    pub end: usize,
    /// Char range of the removed text in the input.
    pub source_start: usize,
    pub source_end: usize,
}

/// A redacted text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redacted {
    pub text: String,
    /// In text order, never overlapping.
    pub redactions: Vec<Redaction>,
}

/// What a leg's earlier final leaves for its next utterance (see [`super::LegRedactor`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Carry {
    /// Digits of the number the last final ended with, if it ended with one.
    pub digits: String,
    /// Those digits already validate as a whole card, ID or mobile number.
    pub complete: bool,
    /// The last final ended with a code keyword (验证码是…), the code may follow.
    pub code_pending: bool,
    /// The other side just asked for this kind of number (see [`super::requested`]).
    pub asked: Option<Category>,
}

/// Trailing runs this long are masked when the text may continue (partials, and finals whose
/// speaker may go on in the next utterance). Five-digit service numbers (12378, 95588) stay
/// readable for the matcher; at most five leading digits of a longer number ever show.
pub const TAIL_DIGITS: usize = 6;

/// Code keywords; Latin ones match whole words only, case-insensitively.
pub(super) const CODE_KEYWORDS: &[&str] = &[
    "验证码",
    "校验码",
    "动态码",
    "动态密码",
    "短信码",
    "密码",
    "code",
    "verification",
    "otp",
    "passcode",
    "pin",
];
/// A code follows its keyword within this many chars (验证码是：…, code is …).
const CODE_AFTER: usize = 12;
/// Or precedes it within this many (…是您的验证码).
const CODE_BEFORE: usize = 6;
/// After a card, ID or phone number was asked for, groups this long are masked.
const ASKED_GROUP: usize = 3;
/// Code lengths.
const CODE_LEN: std::ops::RangeInclusive<usize> = 4..=8;

/// Removes bank card numbers, resident IDs, mobile numbers, verification codes and (when
/// configured) amounts from transcripts, leaving a label of the category in their place.
#[derive(Debug, Clone)]
pub struct Redactor {
    enabled: bool,
    categories: [bool; Category::ALL.len()],
    labels: LabelLanguage,
    custom: BTreeMap<Category, String>,
    /// Every label this redactor may write, so a second pass leaves them alone.
    all_labels: Vec<Vec<char>>,
    /// [`CODE_KEYWORDS`] as chars, built once.
    code_keywords: Vec<Vec<char>>,
    /// Metadata keys whose values are kept as sent.
    pub(super) metadata_keep: std::collections::HashSet<String>,
    card_display: CardDisplay,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&RedactConfig::default()).expect("the default configuration is valid")
    }
}

impl Redactor {
    /// Builds a redactor from its configuration.
    pub fn new(cfg: &RedactConfig) -> Result<Redactor, RedactConfigError> {
        cfg.validate()?;
        let mut categories = [false; Category::ALL.len()];
        for c in &cfg.categories {
            categories[*c as usize] = true;
        }
        let mut all_labels: Vec<Vec<char>> = Category::ALL
            .iter()
            .flat_map(|c| [c.zh_label(), c.en_label()])
            .chain(cfg.custom_labels.values().map(String::as_str))
            .map(|l| l.chars().collect())
            .collect();
        // Longest first, so `[身份证号]` is not read as something shorter.
        all_labels.sort_by_key(|l| std::cmp::Reverse(l.len()));
        Ok(Redactor {
            enabled: cfg.enabled,
            categories,
            labels: cfg.labels,
            custom: cfg.custom_labels.clone(),
            all_labels,
            code_keywords: CODE_KEYWORDS.iter().map(|k| k.chars().collect()).collect(),
            metadata_keep: cfg.metadata_keep.iter().cloned().collect(),
            card_display: cfg.card_display,
        })
    }

    /// A redactor that changes nothing.
    pub fn disabled() -> Redactor {
        Redactor::new(&RedactConfig {
            enabled: false,
            ..RedactConfig::default()
        })
        .expect("the default configuration is valid")
    }

    /// Whether redaction is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether `category` is redacted.
    pub fn redacts(&self, category: Category) -> bool {
        self.enabled && self.categories[category as usize]
    }

    /// Redacts one complete text. `language` (`zh`, `en`, or empty for unknown) picks the
    /// label table when it is `auto`.
    pub fn redact(&self, text: &str, language: &str) -> Redacted {
        self.pass(text, language, &Carry::default(), false).0
    }

    /// Whether the characters `char_start..char_end` of `text` lie inside a label this redactor
    /// writes. A phrase matcher run on redacted text must not count its own labels as speech:
    /// `[验证码]` would otherwise be a hit on the fraud term 验证码.
    pub fn within_label(&self, text: &str, char_start: usize, char_end: usize) -> bool {
        if !self.enabled || char_start >= char_end {
            return false;
        }
        let chars: Vec<char> = text.chars().collect();
        if char_end > chars.len() {
            return false;
        }
        self.label_spans(&chars)
            .iter()
            .any(|&(s, e)| s <= char_start && char_end <= e)
    }

    /// The label written for `category` in text of `language`.
    pub fn label(&self, category: Category, language: &str, text: &str) -> &str {
        if let Some(l) = self.custom.get(&category) {
            return l;
        }
        let zh = match self.labels {
            LabelLanguage::Zh => true,
            LabelLanguage::En => false,
            LabelLanguage::Auto => match language {
                "zh" => true,
                "en" => false,
                _ => text.chars().any(is_cjk),
            },
        };
        if zh {
            category.zh_label()
        } else {
            category.en_label()
        }
    }

    /// One pass with what earlier text left behind; returns the carry for the next text.
    /// `mask_tail`: the text may continue, so a long trailing digit run is masked even
    /// though it does not validate yet.
    pub(crate) fn pass(
        &self,
        text: &str,
        language: &str,
        carry: &Carry,
        mask_tail: bool,
    ) -> (Redacted, Carry) {
        if !self.enabled {
            return (
                Redacted {
                    text: text.to_string(),
                    redactions: Vec::new(),
                },
                Carry::default(),
            );
        }
        let chars: Vec<char> = text.chars().collect();
        let in_label = self.label_mask(&chars);
        // Punctuation and filler words ("um", 对) before or after a number do not count as text.
        let leading = |r: &DigitRun| only_fillers(&chars[..r.start]);
        // Carried digits only count when this text opens with the number's continuation.
        let mut raw = digit_runs_after(&chars, carry.digits.len());
        if !carry.digits.is_empty() && raw.first().is_some_and(|r| !leading(r)) {
            raw = digit_runs_after(&chars, 0);
        }
        let runs: Vec<DigitRun> = raw.into_iter().filter(|r| !in_label[r.start]).collect();
        let keywords = code_keywords(&chars, &in_label, &self.code_keywords);
        let trailing = |r: &DigitRun| only_fillers(&chars[r.end..]);

        let mut spans: Vec<(usize, usize, Category)> = Vec::new();
        let mut joined_first: Option<(String, Option<Category>)> = None;
        // An answer to a request holds one number: once a whole one is masked (here, or
        // completed by the previous utterance), later numbers are ordinary speech again.
        let mut asked = carry.asked.filter(|_| !carry.complete);
        // Card labels that show some digits, by span start.
        let mut shown: BTreeMap<usize, String> = BTreeMap::new();
        for (i, run) in runs.iter().enumerate() {
            let mut cat = None;
            // The card number this run ends, and whether all of it is in this text.
            let mut card: Option<(String, bool)> = None;
            // How long the number is so far: with the carried digits when this run continues
            // them, so a number read across utterances shows no more than one of them alone.
            let continues = i == 0 && !carry.digits.is_empty() && leading(run);
            let so_far = run.len() + if continues { carry.digits.len() } else { 0 };
            if continues {
                let joined = format!("{}{}", carry.digits, run.digits);
                let c = classify(&joined)
                    .filter(|c| !carry.complete || *c != Category::Number)
                    .filter(|c| self.redacts(*c));
                if c == Some(Category::Card) {
                    card = Some((joined.clone(), false));
                }
                joined_first = Some((joined, c));
                cat = c;
            }
            if cat.is_none() {
                cat = classify(&run.digits).filter(|c| self.redacts(*c));
                if cat == Some(Category::Card) {
                    card = Some((run.digits.clone(), true));
                }
            }
            if cat.is_none() && self.redacts(Category::Code) {
                let after_pending =
                    i == 0 && carry.code_pending && run.start <= CODE_AFTER && leading(run);
                let in_code_context = after_pending
                    || near_code_keyword(&runs, i, &keywords, &in_label)
                    || asked == Some(Category::Code);
                // A code read in pieces: the first piece, still open at the end of the text,
                // and the piece that completes it are masked as the code they are part of.
                let piece =
                    mask_tail && trailing(run) && run.len() >= 2 && so_far <= *CODE_LEN.end();
                let whole =
                    CODE_LEN.contains(&run.len()) || (continues && CODE_LEN.contains(&so_far));
                if in_code_context && (whole || piece) {
                    cat = Some(Category::Code);
                }
            }
            // Asked for a card, ID or phone number: its groups need no keyword of their own
            // (an asked-for code is a code context above).
            if cat.is_none()
                && matches!(
                    asked,
                    Some(Category::Card | Category::IdNumber | Category::Mobile)
                )
                && run.len() >= ASKED_GROUP
                && self.redacts(Category::Number)
            {
                cat = Some(Category::Number);
            }
            if cat.is_none()
                && mask_tail
                && so_far >= TAIL_DIGITS
                && trailing(run)
                && self.redacts(Category::Number)
            {
                cat = Some(Category::Number);
            }
            if let Some(c) = cat {
                spans.push((run.start, run.end, c));
                // A card that ends the text may go on in the next utterance (its last four
                // digits not yet said, or not a card at all but the start of an ID): bare.
                let ended = !(mask_tail && trailing(run));
                if let Some((digits, whole)) = card.filter(|_| c == Category::Card && ended) {
                    if let Some(s) = self.card_display.shown(&digits, whole, run.len()) {
                        shown.insert(run.start, s);
                    }
                }
                if c != Category::Number && !(c == Category::Code && trailing(run) && mask_tail) {
                    asked = None;
                }
            }
        }
        if self.redacts(Category::Amount) {
            for (s, e) in amount_spans(&chars, &in_label) {
                let free = !spans.iter().any(|(a, b, _)| s < *b && *a < e)
                    && !in_label[s..e].iter().any(|x| *x);
                if free {
                    spans.push((s, e, Category::Amount));
                }
            }
            spans.sort();
        }

        let next = self.next_carry(&chars, &runs, &spans, joined_first, &keywords, carry);
        (self.render(&chars, text, language, &spans, &shown), next)
    }

    /// What this text leaves for the next utterance of the leg.
    fn next_carry(
        &self,
        chars: &[char],
        runs: &[DigitRun],
        spans: &[(usize, usize, Category)],
        joined_first: Option<(String, Option<Category>)>,
        keywords: &[(usize, usize)],
        carry: &Carry,
    ) -> Carry {
        // An utterance of nothing but fillers ("嗯", "okay") between two groups of a number
        // leaves the number open.
        if runs.is_empty() && only_fillers(chars) {
            return carry.clone();
        }
        let tail_start = chars
            .iter()
            .rposition(|c| !is_filler(*c))
            .map_or(0, |p| p + 1);
        let mut next = Carry::default();
        if let Some(last) = runs.last().filter(|r| only_fillers(&chars[r.end..])) {
            let whole = runs.len() == 1 && only_fillers(&chars[..last.start]);
            let (digits, cat) = match joined_first {
                // The utterance is nothing but the continuation of the previous one's number.
                Some((joined, cat)) if whole => (joined, cat),
                _ => (
                    last.digits.clone(),
                    spans.iter().find(|(s, _, _)| *s == last.start).map(|x| x.2),
                ),
            };
            let skip = digits.len().saturating_sub(CARRY_MAX);
            next.digits = digits[skip..].to_string();
            next.complete = matches!(
                cat,
                Some(Category::Card | Category::IdNumber | Category::Mobile)
            );
            // A code still being read: its next piece completes it.
            next.code_pending = cat == Some(Category::Code) && next.digits.len() < *CODE_LEN.end();
        } else {
            // "验证码是", "the code is": the keyword ends the text but for a short verb.
            next.code_pending = keywords
                .iter()
                .any(|(_, e)| tail_start.saturating_sub(*e) <= 4);
        }
        next
    }

    /// Marks the chars that belong to a label an earlier pass wrote.
    fn label_mask(&self, chars: &[char]) -> Vec<bool> {
        let mut mask = vec![false; chars.len() + 1];
        for (s, e) in self.label_spans(chars) {
            mask[s..e].iter_mut().for_each(|m| *m = true);
        }
        mask
    }

    /// Char ranges of the labels an earlier pass wrote, bare or showing card digits.
    pub(super) fn label_spans(&self, chars: &[char]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '[' {
                let len = self.all_labels.iter().find_map(|l| {
                    if chars[i..].starts_with(l) {
                        Some(l.len())
                    } else {
                        decorated_len(&chars[i..], l)
                    }
                });
                if let Some(n) = len {
                    out.push((i, i + n));
                    i += n;
                    continue;
                }
            }
            i += 1;
        }
        out
    }

    fn render(
        &self,
        chars: &[char],
        text: &str,
        language: &str,
        spans: &[(usize, usize, Category)],
        shown: &BTreeMap<usize, String>,
    ) -> Redacted {
        if spans.is_empty() {
            return Redacted {
                text: text.to_string(),
                redactions: Vec::new(),
            };
        }
        let mut out = String::with_capacity(text.len());
        let mut out_chars = 0;
        let mut redactions = Vec::with_capacity(spans.len());
        let mut at = 0;
        for &(s, e, category) in spans {
            out.extend(&chars[at..s]);
            out_chars += s - at;
            let label = decorate(
                self.label(category, language, text),
                shown.get(&s).map(String::as_str),
            );
            let n = label.chars().count();
            out.push_str(&label);
            redactions.push(Redaction {
                category,
                start: out_chars,
                end: out_chars + n,
                source_start: s,
                source_end: e,
            });
            out_chars += n;
            at = e;
        }
        out.extend(&chars[at..]);
        Redacted {
            text: out,
            redactions,
        }
    }
}

/// Longest digit string kept between utterances: the longest card is 19 digits.
const CARRY_MAX: usize = 19;

/// The category a digit run validates as, if any; runs of 11 or more digits that validate as
/// nothing are [`Category::Number`], since one misheard digit must not let the others through.
pub(crate) fn classify(digits: &str) -> Option<Category> {
    let n = digits.len();
    // An X after 17 digits is an ID even when a misheard digit breaks its checksum.
    if n == 18 && (digits.ends_with('X') || resident_id_valid(digits)) {
        return Some(Category::IdNumber);
    }
    if mobile_valid(digits) {
        return Some(Category::Mobile);
    }
    if (13..=19).contains(&n) && luhn_valid(digits) {
        return Some(Category::Card);
    }
    (n >= 11).then_some(Category::Number)
}

/// A 4–8 digit run that is the first number after a code keyword, or the last before one.
fn near_code_keyword(
    runs: &[DigitRun],
    i: usize,
    keywords: &[(usize, usize)],
    in_label: &[bool],
) -> bool {
    let run = &runs[i];
    let nothing_between = |a: usize, b: usize| {
        !runs.iter().any(|r| r.start >= a && r.end <= b) && !in_label[a..b].iter().any(|x| *x)
    };
    keywords.iter().any(|&(ks, ke)| {
        (ke <= run.start && run.start - ke <= CODE_AFTER && nothing_between(ke, run.start))
            || (run.end <= ks && ks - run.end <= CODE_BEFORE && nothing_between(run.end, ks))
    })
}

/// Char ranges of the code keywords outside labels.
fn code_keywords(chars: &[char], in_label: &[bool], keywords: &[Vec<char>]) -> Vec<(usize, usize)> {
    let lower: Vec<char> = chars.iter().map(|c| c.to_ascii_lowercase()).collect();
    let mut out = Vec::new();
    for i in 0..lower.len() {
        if in_label[i] {
            continue;
        }
        for kc in keywords {
            if lower[i] != kc[0] || !lower[i..].starts_with(kc) {
                continue;
            }
            let latin = kc[0].is_ascii_alphabetic();
            let end = i + kc.len();
            let bounded = !latin
                || ((i == 0 || !lower[i - 1].is_ascii_alphabetic())
                    && lower.get(end).is_none_or(|c| !c.is_ascii_alphabetic()));
            if bounded {
                out.push((i, end));
            }
        }
    }
    out
}

/// Whitespace and punctuation: what may stand before a leading or after a trailing number.
fn is_filler(c: char) -> bool {
    !c.is_alphanumeric()
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}')
}
