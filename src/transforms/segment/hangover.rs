//! The hangover that closes an utterance, adapted to the speaker: a fixed 600 ms waits out
//! pauses most speakers never make, and every final and every hit from a final waits with it.
//! With `adaptive_hangover`, a leg's hangover is the longest pause its speaker made and then
//! went on speaking after, among the last [`PAUSES_KEPT`], plus [`MARGIN_MS`], between
//! `min_hangover_ms` and `hangover_ms`. Pauses are measured from the end of speech to the next
//! speech whether or not the segmenter closed in between, so a pause the shorter hangover
//! cut is still seen and the hangover grows back at once.

use std::collections::VecDeque;

/// Pauses remembered per leg: about the last half minute of speech.
pub const PAUSES_KEPT: usize = 24;
/// Pauses seen before the hangover adapts; until then it is `hangover_ms`.
pub const WARM_UP_PAUSES: usize = 6;
/// Added to the longest recent pause: a VAD frame or two of jitter.
pub const MARGIN_MS: u64 = 100;

/// Pause lengths of one leg, in samples, and the hangover they call for.
#[derive(Debug, Clone)]
pub(super) struct Hangover {
    adaptive: bool,
    min: u64,
    max: u64,
    margin: u64,
    pauses: VecDeque<u64>,
    /// Sample index just past the last speech frame, across utterances.
    speech_end: Option<u64>,
}

impl Hangover {
    /// `min` and `max` in samples; `samples_per_ms` for the margin.
    pub(super) fn new(adaptive: bool, min: u64, max: u64, samples_per_ms: u64) -> Self {
        Hangover {
            adaptive,
            min: min.min(max),
            max,
            margin: MARGIN_MS * samples_per_ms,
            pauses: VecDeque::with_capacity(PAUSES_KEPT + 1),
            speech_end: None,
        }
    }

    /// Notes one VAD frame ending at sample `end`, `len` samples long.
    pub(super) fn frame(&mut self, speech: bool, end: u64, len: u64) {
        if !speech {
            return;
        }
        if let Some(last) = self.speech_end {
            // 0 when the frame before was speech too; longer than the longest hangover when
            // the speaker's turn was over.
            let pause = end - len - last;
            if pause > 0 && pause <= self.max {
                self.pauses.push_back(pause);
                if self.pauses.len() > PAUSES_KEPT {
                    self.pauses.pop_front();
                }
            }
        }
        self.speech_end = Some(end);
    }

    /// Silence that closes an utterance now, in samples.
    pub(super) fn samples(&self) -> u64 {
        if !self.adaptive || self.pauses.len() < WARM_UP_PAUSES {
            return self.max;
        }
        let longest = self.pauses.iter().copied().max().unwrap_or(self.max);
        (longest + self.margin).clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 16;
    const FRAME: u64 = 20 * MS;

    /// Feeds frames: `pattern` is a run list of (speech, ms).
    fn feed(h: &mut Hangover, pos: &mut u64, pattern: &[(bool, u64)]) {
        for &(speech, ms) in pattern {
            for _ in 0..ms / 20 {
                *pos += FRAME;
                h.frame(speech, *pos, FRAME);
            }
        }
    }

    #[test]
    fn fixed_until_warm_then_longest_pause_plus_margin() {
        let mut h = Hangover::new(true, 300 * MS, 600 * MS, MS);
        let mut pos = 0;
        assert_eq!(h.samples(), 600 * MS);
        for _ in 0..WARM_UP_PAUSES - 1 {
            feed(&mut h, &mut pos, &[(true, 400), (false, 200)]);
        }
        feed(&mut h, &mut pos, &[(true, 400)]);
        // Five pauses seen: still fixed.
        assert_eq!(h.samples(), 600 * MS);
        feed(&mut h, &mut pos, &[(false, 240), (true, 400)]);
        assert_eq!(h.samples(), (240 + MARGIN_MS) * MS);
        // A longer pause the short hangover would have cut raises it at once.
        feed(&mut h, &mut pos, &[(false, 460), (true, 400)]);
        assert_eq!(h.samples(), 560 * MS);
        // Silence longer than the most a hangover waits is a turn's end, not a pause.
        feed(&mut h, &mut pos, &[(false, 2000), (true, 400)]);
        assert_eq!(h.samples(), 560 * MS);
    }

    #[test]
    fn stays_within_bounds_and_forgets_old_pauses() {
        let mut h = Hangover::new(true, 300 * MS, 600 * MS, MS);
        let mut pos = 0;
        feed(&mut h, &mut pos, &[(true, 400), (false, 580), (true, 400)]);
        for _ in 0..PAUSES_KEPT {
            feed(&mut h, &mut pos, &[(false, 60), (true, 300)]);
        }
        // The 580 ms pause has aged out; 60 + 100 is below the floor.
        assert_eq!(h.samples(), 300 * MS);
    }

    #[test]
    fn off_means_fixed() {
        let mut h = Hangover::new(false, 300 * MS, 600 * MS, MS);
        let mut pos = 0;
        for _ in 0..PAUSES_KEPT {
            feed(&mut h, &mut pos, &[(true, 300), (false, 100)]);
        }
        assert_eq!(h.samples(), 600 * MS);
    }
}
