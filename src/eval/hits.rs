//! Term recall and precision of hits on recognised speech against the hits a perfect transcript
//! would give: each expected hit is one reference line's term, each found hit is the matcher's
//! on a final transcript; they pair up on the same leg, in the same category, overlapping in time.

use serde::Serialize;

/// A term the reference line said (what exact matching finds on the reference text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefHit {
    pub leg: String,
    pub term: String,
    pub category: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A hit the matcher raised on a final transcript, timed as its utterance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HypHit {
    pub leg: String,
    pub term: String,
    pub category: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// The transcript it was found in, for the report.
    pub text: String,
}

/// How found hits compare with expected ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HitScore {
    pub expected: usize,
    /// Expected hits found (same leg and category, overlapping in time).
    pub found: usize,
    /// Found hits that pair with no expected hit: what a reviewer would be sent for nothing.
    pub false_hits: Vec<HypHit>,
    /// Found hits of a category already found on that stretch of the leg (another term of the
    /// same line, say 投诉 beside 我要投诉): neither found nor false.
    pub extra: usize,
    pub missed: Vec<RefHit>,
}

impl HitScore {
    /// Adds another call's score.
    pub fn add(&mut self, other: &HitScore) {
        self.expected += other.expected;
        self.found += other.found;
        self.false_hits.extend(other.false_hits.iter().cloned());
        self.extra += other.extra;
        self.missed.extend(other.missed.iter().cloned());
    }

    /// Found over expected; 1 when nothing was expected.
    pub fn recall(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.found as f64 / self.expected as f64
        }
    }

    /// Found over found plus false; 1 when nothing was raised.
    pub fn precision(&self) -> f64 {
        let raised = self.found + self.false_hits.len();
        if raised == 0 {
            1.0
        } else {
            self.found as f64 / raised as f64
        }
    }
}

/// Pairs found hits with expected ones. A found hit overlapping (within `slack_ms`) an unpaired
/// expected hit of its leg and category pairs with it, the same term first; the segmenter may
/// merge or split lines, so time decides, not line numbers.
pub fn score_hits(expected: &[RefHit], found: &[HypHit], slack_ms: u64) -> HitScore {
    let overlaps = |r: &RefHit, h: &HypHit| {
        h.start_ms <= r.end_ms + slack_ms && r.start_ms <= h.end_ms + slack_ms
    };
    let mut paired = vec![false; expected.len()];
    let mut score = HitScore {
        expected: expected.len(),
        ..HitScore::default()
    };
    let mut order: Vec<&HypHit> = found.iter().collect();
    order.sort_by_key(|h| (h.start_ms, h.end_ms));
    for h in order {
        let candidates = || {
            expected
                .iter()
                .enumerate()
                .filter(|(_, r)| r.leg == h.leg && r.category == h.category && overlaps(r, h))
        };
        let open = candidates()
            .filter(|(i, _)| !paired[*i])
            .min_by_key(|(_, r)| (r.term != h.term, r.start_ms));
        if let Some((i, _)) = open {
            paired[i] = true;
            score.found += 1;
        } else if candidates().next().is_some() {
            score.extra += 1;
        } else {
            score.false_hits.push(h.clone());
        }
    }
    score.missed = expected
        .iter()
        .zip(&paired)
        .filter(|(_, p)| !**p)
        .map(|(r, _)| r.clone())
        .collect();
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(leg: &str, term: &str, cat: &str, a: u64, b: u64) -> RefHit {
        RefHit {
            leg: leg.into(),
            term: term.into(),
            category: cat.into(),
            start_ms: a,
            end_ms: b,
        }
    }

    fn h(leg: &str, term: &str, cat: &str, a: u64, b: u64) -> HypHit {
        HypHit {
            leg: leg.into(),
            term: term.into(),
            category: cat.into(),
            start_ms: a,
            end_ms: b,
            text: String::new(),
        }
    }

    #[test]
    fn pairs_by_leg_category_and_time() {
        let expected = [
            r("agent", "保本保息", "sales_promise", 1000, 3000),
            r("agent", "稳赚不赔", "sales_promise", 5000, 7000),
            r("customer", "我要投诉", "complaint", 4000, 6000),
        ];
        let found = [
            // Same line, timed by the segmenter a little off.
            h("agent", "保本保息", "sales_promise", 900, 3200),
            // The second term of that line's category: extra, not false.
            h("agent", "保本", "sales_promise", 900, 3200),
            // Right words, wrong leg: false, and the customer's complaint is missed.
            h("agent", "我要投诉", "complaint", 4000, 6000),
            // A hit in a gap between lines: false.
            h("agent", "零风险", "sales_promise", 8000, 9000),
        ];
        let s = score_hits(&expected, &found, 200);
        assert_eq!((s.expected, s.found, s.extra), (3, 1, 1));
        assert_eq!(s.false_hits.len(), 2);
        let missed: Vec<&str> = s.missed.iter().map(|m| m.term.as_str()).collect();
        assert_eq!(missed, ["稳赚不赔", "我要投诉"]);
        assert!((s.recall() - 1.0 / 3.0).abs() < 1e-9);
        assert!((s.precision() - 1.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn a_merged_utterance_pairs_each_line_once() {
        // The segmenter joined two lines into one final holding both terms.
        let expected = [
            r("customer", "他说是警察", "fraud", 1000, 2500),
            r("customer", "安全账户", "fraud", 2600, 4000),
        ];
        let found = [
            h("customer", "安全账户", "fraud", 1000, 4000),
            h("customer", "他说是警察", "fraud", 1000, 4000),
        ];
        let s = score_hits(&expected, &found, 0);
        assert_eq!((s.found, s.extra, s.false_hits.len()), (2, 0, 0));
        assert!(s.missed.is_empty());
    }

    #[test]
    fn nothing_expected_nothing_raised_is_perfect() {
        let s = score_hits(&[], &[], 0);
        assert_eq!((s.recall(), s.precision()), (1.0, 1.0));
        let mut total = s.clone();
        total.add(&score_hits(&[r("a", "x", "c", 0, 1)], &[], 0));
        assert_eq!((total.expected, total.recall()), (1, 0.0));
    }
}
