//! Raising each hit once per utterance although partial transcripts repeat it.

use super::matcher::Match;
use std::collections::HashSet;

/// Remembers which hits of one utterance were already raised.
///
/// Partial transcripts are re-decoded as audio arrives and the final transcript is decoded once
/// more, so the same spoken phrase is found again and again, usually at a different offset: an
/// earlier word is corrected, punctuation appears, a Traditional char becomes Simplified. Byte or
/// char spans are therefore no identity for a hit. What stays stable is "the n-th occurrence of
/// term t in this utterance", so hits are keyed by (term id, occurrence ordinal). A second
/// occurrence of the same term later in the utterance is a new hit; the cost is that if a later
/// decode inserts an occurrence before one already raised, the shifted one is not raised again,
/// which errs on the side of fewer duplicate alerts.
#[derive(Debug, Clone, Default)]
pub struct HitTracker {
    raised: HashSet<(usize, usize)>,
}

impl HitTracker {
    /// A tracker for a new utterance.
    pub fn new() -> HitTracker {
        HitTracker::default()
    }

    /// Returns true the first time a hit for this term and occurrence is seen in the utterance,
    /// false on every later partial or final transcript that finds it again.
    pub fn admit(&mut self, m: &Match) -> bool {
        self.raised.insert((m.term_id, m.occurrence))
    }

    /// Forgets every hit, for reuse on the next utterance.
    pub fn clear(&mut self) {
        self.raised.clear();
    }

    /// Number of distinct hits raised so far.
    pub fn len(&self) -> usize {
        self.raised.len()
    }

    /// True when nothing was raised yet.
    pub fn is_empty(&self) -> bool {
        self.raised.is_empty()
    }
}
