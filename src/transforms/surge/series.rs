//! One counted key: per-minute counts, its learned baseline and its alert phase.

use super::config::{BaselineKind, SurgeConfig};
use std::collections::VecDeque;

/// Per-minute counts, newest last; minutes before the first bucket count as zero.
#[derive(Debug, Clone, Default)]
pub(crate) struct Buckets {
    counts: VecDeque<u32>,
    /// Minute index one past the newest bucket.
    end: i64,
}

impl Buckets {
    /// Adds one to minute `m`; minutes older than the kept history are ignored.
    pub fn add(&mut self, m: i64, keep: usize) {
        self.pad_to(m + 1, keep);
        let start = self.end - self.counts.len() as i64;
        if m >= start {
            self.counts[(m - start) as usize] += 1;
        }
    }

    /// Extends the buckets with zeros so the newest is minute `end - 1`, keeping `keep` of them.
    pub fn pad_to(&mut self, end: i64, keep: usize) {
        if self.counts.is_empty() || end - self.end > keep as i64 {
            // Nothing worth keeping: restart with one (zero) bucket, minute `end - 1`.
            self.counts.clear();
            self.end = end - 1;
        }
        while self.end < end {
            self.counts.push_back(0);
            self.end += 1;
        }
        while self.counts.len() > keep {
            self.counts.pop_front();
        }
    }

    /// Sum over minutes `[from, to)`.
    pub fn sum(&self, from: i64, to: i64) -> u64 {
        let start = self.end - self.counts.len() as i64;
        let (a, b) = (from.max(start), to.min(self.end));
        if a >= b {
            return 0;
        }
        self.counts
            .range((a - start) as usize..(b - start) as usize)
            .map(|&c| c as u64)
            .sum()
    }
}

/// An EWMA with the number of observations it has absorbed and how uncertain it still is.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ewma {
    pub value: f64,
    pub n: u32,
    /// Variance of `value` as a multiple of the Poisson variance of one observation:
    /// 1 after the first, falling towards `alpha / (2 - alpha)`.
    pub var_factor: f64,
}

impl Ewma {
    fn update(&mut self, x: f64, alpha: f64) {
        // The first observation is the estimate; averaging it with an arbitrary zero would
        // take days to forget.
        if self.n == 0 {
            self.value = x;
            self.var_factor = 1.0;
        } else {
            self.value += alpha * (x - self.value);
            self.var_factor = (1.0 - alpha).powi(2) * self.var_factor + alpha * alpha;
        }
        self.n = self.n.saturating_add(1);
    }
}

/// Expected count per slot.
#[derive(Debug, Clone)]
pub(crate) struct Baseline {
    kind: BaselineKind,
    /// One per slot of the day (`seasonal`) or a single one (`ewma`).
    slots: Vec<Ewma>,
}

impl Baseline {
    pub fn new(kind: BaselineKind, slots_per_day: usize) -> Baseline {
        let n = match kind {
            BaselineKind::Seasonal => slots_per_day,
            BaselineKind::Ewma => 1,
        };
        Baseline {
            kind,
            slots: vec![Ewma::default(); n],
        }
    }

    /// A baseline that has watched zero counts for as long as the detector has run, so a key
    /// first seen today is compared with the quiet it had before, not left unlearned.
    pub fn quiet_since_start(kind: BaselineKind, seen: &[u32]) -> Baseline {
        let mut b = Baseline::new(kind, seen.len());
        match kind {
            BaselineKind::Seasonal => {
                for (s, &n) in b.slots.iter_mut().zip(seen) {
                    s.n = n;
                }
            }
            BaselineKind::Ewma => b.slots[0].n = seen.iter().sum(),
        }
        b
    }

    /// Like [`quiet_since_start`](Self::quiet_since_start), but the detector is known to have
    /// seen about `per_slot` in every slot: a phrase found late that was already said now and
    /// then (its long-run rate is known) is not compared with silence. The estimate counts as
    /// one observation's worth of uncertainty, since it was not learned slot by slot.
    pub fn flat_since_start(kind: BaselineKind, seen: &[u32], per_slot: f64) -> Baseline {
        let mut b = Baseline::quiet_since_start(kind, seen);
        for s in &mut b.slots {
            s.value = per_slot.max(0.0);
            s.var_factor = 1.0;
        }
        b
    }

    fn index(&self, slot_of_day: usize) -> usize {
        match self.kind {
            BaselineKind::Seasonal => slot_of_day,
            BaselineKind::Ewma => 0,
        }
    }

    /// Expected count of one whole slot (as learned, unsmoothed; used to cap surge slots).
    pub fn expected(&self, slot_of_day: usize) -> f64 {
        self.slots[self.index(slot_of_day)].value
    }

    /// Expected count of one whole slot and the variance of that estimate.
    ///
    /// Seasonal slots are smoothed with their neighbours (weights 1-2-1): one day's count of
    /// a 15-minute slot is too noisy to judge the next day by, and the daily curve is smooth
    /// enough over 45 minutes that the smoothing bias at a peak stays near 1 %.
    pub fn estimate(&self, slot_of_day: usize) -> (f64, f64) {
        match self.kind {
            BaselineKind::Ewma => {
                let e = self.slots[0];
                (e.value, e.value * e.var_factor)
            }
            BaselineKind::Seasonal => {
                let n = self.slots.len();
                let mut sum_w = 0.0;
                let mut value = 0.0;
                let mut var = 0.0;
                for (d, w) in [(n - 1, 1.0), (0, 2.0), (1, 1.0)] {
                    let e = self.slots[(slot_of_day + d) % n];
                    // Neighbours that never saw a full slot know nothing; leave them out.
                    if e.n == 0 && d != 0 {
                        continue;
                    }
                    sum_w += w;
                    value += w * e.value;
                    var += w * w * e.value * e.var_factor;
                }
                (value / sum_w, var / (sum_w * sum_w))
            }
        }
    }

    /// Whether the slot has watched `warmup_days` days.
    pub fn learned(&self, slot_of_day: usize, warmup_days: u32, slots_per_day: u32) -> bool {
        let needed = match self.kind {
            BaselineKind::Seasonal => warmup_days,
            BaselineKind::Ewma => warmup_days.saturating_mul(slots_per_day),
        };
        self.slots[self.index(slot_of_day)].n >= needed
    }

    pub fn update(&mut self, slot_of_day: usize, count: f64, alpha: f64) {
        let i = self.index(slot_of_day);
        self.slots[i].update(count, alpha);
    }
}

/// Where a key stands.
#[derive(Debug, Clone)]
pub(crate) enum Phase {
    Normal {
        /// No new alert before this minute.
        quiet_until: i64,
    },
    Raised {
        surge_id: String,
        raised_at: String,
        /// Consecutive evaluations at or above `p_clear`.
        calm: u32,
    },
}

/// One counted key.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub buckets: Buckets,
    pub baseline: Baseline,
    pub phase: Phase,
    /// Whether the key was raised at any time during the slot being counted now.
    pub raised_in_slot: bool,
    /// Minute of the last record; the key heard from longest ago is evicted first.
    pub last_seen: i64,
}

impl Series {
    pub fn new(cfg: &SurgeConfig, seen: &[u32]) -> Series {
        Series::with_baseline(Baseline::quiet_since_start(cfg.baseline, seen))
    }

    pub fn with_baseline(baseline: Baseline) -> Series {
        Series {
            buckets: Buckets::default(),
            baseline,
            phase: Phase::Normal { quiet_until: 0 },
            raised_in_slot: false,
            last_seen: i64::MIN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_count_pad_and_forget() {
        let mut b = Buckets::default();
        b.add(10, 5);
        b.add(10, 5);
        b.add(12, 5);
        assert_eq!(b.sum(10, 13), 3);
        assert_eq!(b.sum(11, 13), 1);
        b.pad_to(16, 5); // keeps minutes 11..16
        assert_eq!(b.sum(0, 100), 1);
        b.add(3, 5); // too old
        assert_eq!(b.sum(0, 100), 1);
        b.pad_to(1000, 5); // a jump longer than the history starts afresh
        assert_eq!(b.sum(0, 1000), 0);
    }

    #[test]
    fn ewma_starts_at_the_first_observation() {
        let mut b = Baseline::new(BaselineKind::Seasonal, 4);
        b.update(1, 10.0, 0.5);
        assert_eq!(b.expected(1), 10.0);
        b.update(1, 20.0, 0.5);
        assert_eq!(b.expected(1), 15.0);
        assert_eq!(b.expected(2), 0.0);
        assert!(b.learned(1, 2, 4) && !b.learned(2, 1, 4));
        let mut e = Baseline::new(BaselineKind::Ewma, 4);
        e.update(3, 8.0, 0.5);
        assert_eq!(e.expected(0), 8.0);
        assert!(e.learned(2, 0, 4) && !e.learned(2, 1, 4));
    }
}
