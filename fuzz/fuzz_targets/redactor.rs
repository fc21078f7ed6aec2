//! Arbitrary text through the redactor, alone and as consecutive utterances of one leg:
//! never panics, redacting twice changes nothing, and no Luhn-valid 13-19 digit run and no
//! valid resident ID number is left in the output.
#![no_main]

use callwatch::transforms::redact::{luhn_valid, resident_id_valid, LegRedactor, Redactor};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

/// Maximal runs of ASCII digits (an ID's trailing X included) in `text`.
fn runs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || (matches!(c, 'X' | 'x') && cur.len() == 17) {
            cur.push(c.to_ascii_uppercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn assert_clean(out: &str) {
    for r in runs(out) {
        let card = (13..=19).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_digit()) && luhn_valid(&r);
        assert!(!card, "card number left in {out:?}");
        assert!(!(r.len() == 18 && resident_id_valid(&r)), "ID number left in {out:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let r = Redactor::default();
    let once = r.redact(&text, "").text;
    assert_clean(&once);
    assert_eq!(r.redact(&once, "").text, once, "not idempotent on {text:?}");
    // Newlines split the input into utterances of one leg.
    let mut leg = LegRedactor::new(Arc::new(Redactor::default()));
    for part in text.split('\n') {
        let _ = leg.partial(part, "zh");
        assert_clean(&leg.finish(part, "zh").text);
    }
});
