//! Per-leg redaction state: numbers read out across a pause or cut off by a partial.

use super::redactor::{Carry, Redacted, Redactor};
use crate::transforms::asr::Transcript;
use std::sync::Arc;

/// Redacts the transcripts of one leg in order.
///
/// A partial is the whole utterance so far and may end in the first digits of a number that
/// cannot be validated yet, and a speaker may pause in the middle of a card number so that it
/// spans two utterances. So a text that ends in six or more unvalidated digits has them masked
/// as `[号码]`, and the digits a final ends with are joined to the number the next utterance of
/// the leg starts with: if together they make a card, ID or mobile number (or, when the first
/// part did not validate on its own, any run of 11 or more digits), the continuation is
/// redacted too.
#[derive(Debug, Clone)]
pub struct LegRedactor {
    redactor: Arc<Redactor>,
    carry: Carry,
}

impl LegRedactor {
    /// State for a new leg.
    pub fn new(redactor: Arc<Redactor>) -> LegRedactor {
        LegRedactor {
            redactor,
            carry: Carry::default(),
        }
    }

    /// Reads the next texts as answers to a request for `asked` (the other side asked for a
    /// code, card, ID or phone number), or as ordinary speech with `None`. Set before each
    /// text: the call decides how long an answer lasts.
    pub fn set_asked(&mut self, asked: Option<super::Category>) {
        self.carry.asked = asked;
    }

    /// Redacts a partial transcript text (the utterance so far); the state is unchanged.
    pub fn partial(&self, text: &str, language: &str) -> Redacted {
        self.redactor.pass(text, language, &self.carry, true).0
    }

    /// Redacts a final transcript text and remembers how it ended for the next utterance.
    pub fn finish(&mut self, text: &str, language: &str) -> Redacted {
        let (out, carry) = self.redactor.pass(text, language, &self.carry, true);
        self.carry = carry;
        out
    }

    /// A partial [`Transcript`] with its text and segments redacted.
    pub fn partial_transcript(&self, t: Transcript) -> Transcript {
        let text = self.partial(&t.text, &t.language).text;
        let segments = self.segments(&t, &text);
        Transcript {
            text,
            segments,
            ..t
        }
    }

    /// A final [`Transcript`] with its text and segments redacted; moves the state on.
    pub fn final_transcript(&mut self, t: Transcript) -> Transcript {
        let segments_from = self.carry.clone();
        let text = self.finish(&t.text, &t.language).text;
        let before = std::mem::replace(&mut self.carry, segments_from);
        let segments = self.segments(&t, &text);
        self.carry = before;
        Transcript {
            text,
            segments,
            ..t
        }
    }

    /// Segment texts: a lone segment is the text itself; several are redacted in order as
    /// consecutive pieces of one utterance, so a number split between them is still caught.
    fn segments(
        &self,
        t: &Transcript,
        redacted_text: &str,
    ) -> Vec<crate::transforms::asr::TimedText> {
        if !self.redactor.is_enabled() {
            return t.segments.clone();
        }
        let mut carry = self.carry.clone();
        t.segments
            .iter()
            .map(|s| {
                let text = if t.segments.len() == 1 && s.text.trim() == t.text.trim() {
                    redacted_text.to_string()
                } else {
                    let (r, next) = self.redactor.pass(&s.text, &t.language, &carry, true);
                    carry = next;
                    r.text
                };
                crate::transforms::asr::TimedText { text, ..s.clone() }
            })
            .collect()
    }
}
