//! Card labels that keep some digits (`[CARD 453201******0366]`), told apart from speech.

/// `text` with the digits shown inside card labels taken out, and those shown forms.
pub fn split_card_labels(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut shown = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(close) = after.find(']') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let inner = &after[1..close];
        match inner.rsplit_once(' ') {
            Some((name, s))
                if s.contains('*') && s.chars().all(|c| c.is_ascii_digit() || c == '*') =>
            {
                out.push('[');
                out.push_str(name);
                out.push(']');
                shown.push(s.to_string());
            }
            _ => out.push_str(&after[..=close]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    (out, shown)
}

/// Whether `shown` keeps no more of `card` than its first six and last four digits.
pub fn within_display_rule(shown: &str, card: &str) -> bool {
    shown.len() == card.len()
        && shown
            .chars()
            .zip(card.chars())
            .enumerate()
            .all(|(i, (s, c))| s == '*' || (s == c && (i < 6 || i >= card.len() - 4)))
}
