//! What a card label may still show: PCI DSS allows at most the first six and the last four
//! digits of a card number on screen, which lets a reviewer tell which card a customer read
//! out (`[CARD 622848******1234]`) without the number being in clear.

use serde::{Deserialize, Serialize};

/// `[redact] card_display`: the digits of a card number its label keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardDisplay {
    /// The first six (the issuer) and the last four digits: `[CARD 622848******1234]`.
    #[default]
    First6Last4,
    /// The last four digits only: `[CARD ************1234]`.
    Last4,
    /// No digit at all: `[CARD]`.
    None,
}

/// Digits kept at the end of a card.
const LAST: usize = 4;
/// Digits kept at the start.
const FIRST: usize = 6;

impl CardDisplay {
    /// The shown form of card number `digits`, or `None` for a bare label. `whole`: every
    /// digit of the card is in the text being redacted; when an earlier utterance held its
    /// start, only the end may show (that start was masked there).
    pub(super) fn shown(self, digits: &str, whole: bool, digits_here: usize) -> Option<String> {
        let n = digits.len();
        if self == CardDisplay::None || !(13..=19).contains(&n) || digits_here < LAST {
            return None;
        }
        let first = if self == CardDisplay::First6Last4 && whole {
            FIRST
        } else {
            0
        };
        let mut out = String::with_capacity(n);
        out.push_str(&digits[..first]);
        out.extend(std::iter::repeat_n('*', n - first - LAST));
        out.push_str(&digits[n - LAST..]);
        Some(out)
    }
}

/// `label` with `shown` inside its brackets; labels not in brackets stay bare, so what a
/// second pass reads as a label is always bracketed.
pub(super) fn decorate(label: &str, shown: Option<&str>) -> String {
    match (
        shown,
        label.strip_prefix('[').and_then(|l| l.strip_suffix(']')),
    ) {
        (Some(s), Some(inner)) => format!("[{inner} {s}]"),
        _ => label.to_string(),
    }
}

/// Length in chars of a decorated label of `label` at the start of `chars`, if one is there.
/// Only the shape [`CardDisplay::shown`] writes counts (up to six digits, at least three
/// stars, four digits, 13–19 in all), so text dressed as a label cannot hide a card number.
pub(super) fn decorated_len(chars: &[char], label: &[char]) -> Option<usize> {
    let (&close, open) = label.split_last()?;
    if close != ']' || open.first() != Some(&'[') || !chars.starts_with(open) {
        return None;
    }
    let rest = &chars[open.len()..];
    if rest.first() != Some(&' ') {
        return None;
    }
    let body_len = rest[1..].iter().position(|c| *c == ']')?;
    let body = &rest[1..1 + body_len];
    let lead = body.iter().take_while(|c| c.is_ascii_digit()).count();
    let stars = body[lead..].iter().take_while(|c| **c == '*').count();
    let tail = &body[lead + stars..];
    let shaped = (lead == 0 || lead == FIRST)
        && stars >= 3
        && tail.len() == LAST
        && tail.iter().all(|c| c.is_ascii_digit())
        && (13..=19).contains(&body.len());
    shaped.then_some(open.len() + 1 + body_len + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_forms() {
        let card = "6228480402564890018";
        let table = [
            (
                CardDisplay::First6Last4,
                true,
                19,
                Some("622848*********0018"),
            ),
            (
                CardDisplay::First6Last4,
                false,
                8,
                Some("***************0018"),
            ),
            (CardDisplay::First6Last4, false, 3, None),
            (CardDisplay::Last4, true, 19, Some("***************0018")),
            (CardDisplay::None, true, 19, None),
        ];
        for (mode, whole, here, want) in table {
            assert_eq!(
                mode.shown(card, whole, here).as_deref(),
                want,
                "{mode:?} {whole}"
            );
        }
        assert_eq!(CardDisplay::First6Last4.shown("12345", true, 5), None);
    }

    #[test]
    fn decorated_labels_are_recognised_only_in_their_shape() {
        let label: Vec<char> = "[CARD]".chars().collect();
        let len = |s: &str| decorated_len(&s.chars().collect::<Vec<_>>(), &label);
        assert_eq!(len("[CARD 622848*********0018] ok"), Some(26));
        assert_eq!(len("[CARD ***************0018]"), Some(26));
        // A full number dressed as a label is not a label.
        assert_eq!(len("[CARD 6228480402564890018]"), None);
        assert_eq!(len("[CARD 62284*********0018]"), None);
        assert_eq!(len("[CARD 622848**0018]"), None);
        assert_eq!(len("[CARD]"), None);
        assert_eq!(
            decorate("[卡号]", Some("622848*********0018")),
            "[卡号 622848*********0018]"
        );
        assert_eq!(decorate("<card>", Some("622848*********0018")), "<card>");
        assert_eq!(decorate("[卡号]", None), "[卡号]");
    }
}
