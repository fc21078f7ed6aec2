//! Streaming conversion of one leg's linear PCM to 16 kHz mono f32, the rate the VAD and
//! Whisper run at.

use super::g711::i16_to_f32;
use rubato::{FftFixedInOut, Resampler};
use thiserror::Error;

/// The rate every leg is converted to.
pub const TARGET_RATE: u32 = 16_000;

/// Lowest and highest input rates accepted; telephony sources stay well inside this.
pub const MIN_INPUT_RATE: u32 = 4_000;
pub const MAX_INPUT_RATE: u32 = 192_000;

/// Why a [`LegDecoder`] could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("input sample rate {0} Hz is out of range; use {MIN_INPUT_RATE}..={MAX_INPUT_RATE} Hz (8000 or 16000 for telephony)")]
    RateOutOfRange(u32),
    #[error("cannot build a resampler from {rate} Hz to 16000 Hz: {detail}")]
    Resampler { rate: u32, detail: String },
}

/// Converts one leg's 16-bit PCM at its native rate into 16 kHz mono f32, chunk by chunk.
///
/// Input is resampled in 20 ms blocks; samples short of a block are carried to the next
/// [`LegDecoder::push`]. The resampler's group delay is trimmed from the front, so output
/// sample `n` lines up with input time `n / 16000` s, and after [`LegDecoder::flush`] the
/// total output is exactly `input_samples * 16000 / input_rate` (rounded down).
pub struct LegDecoder {
    input_rate: u32,
    inner: Option<Resampling>,
    /// Input samples pushed so far.
    samples_in: u64,
    /// Output samples returned so far.
    samples_out: u64,
    flushed: bool,
}

struct Resampling {
    resampler: FftFixedInOut<f32>,
    pending: Vec<f32>,
    out_buf: Vec<Vec<f32>>,
    /// Output samples still to discard to cancel the resampler's delay.
    skip: usize,
}

impl LegDecoder {
    /// Builds a decoder for input at `input_rate` Hz. 16 kHz input passes straight through.
    pub fn new(input_rate: u32) -> Result<Self, DecodeError> {
        if !(MIN_INPUT_RATE..=MAX_INPUT_RATE).contains(&input_rate) {
            return Err(DecodeError::RateOutOfRange(input_rate));
        }
        let inner = if input_rate == TARGET_RATE {
            None
        } else {
            let chunk = (input_rate / 50) as usize;
            let resampler =
                FftFixedInOut::<f32>::new(input_rate as usize, TARGET_RATE as usize, chunk, 1)
                    .map_err(|e| DecodeError::Resampler {
                        rate: input_rate,
                        detail: e.to_string(),
                    })?;
            let out_buf = resampler.output_buffer_allocate(true);
            let skip = resampler.output_delay();
            Some(Resampling {
                pending: Vec::with_capacity(resampler.input_frames_max() * 2),
                resampler,
                out_buf,
                skip,
            })
        };
        Ok(LegDecoder {
            input_rate,
            inner,
            samples_in: 0,
            samples_out: 0,
            flushed: false,
        })
    }

    /// The input rate this decoder was built for.
    pub fn input_rate(&self) -> u32 {
        self.input_rate
    }

    /// Converts the next input samples; returns whatever 16 kHz output is ready.
    ///
    /// Samples pushed after [`LegDecoder::flush`] are ignored: a flushed leg has ended.
    pub fn push(&mut self, samples: &[i16]) -> Vec<f32> {
        if self.flushed {
            return Vec::new();
        }
        self.samples_in += samples.len() as u64;
        let out = match &mut self.inner {
            None => i16_to_f32(samples),
            Some(r) => {
                r.pending
                    .extend(samples.iter().map(|&s| s as f32 / 32768.0));
                r.drain_full_chunks()
            }
        };
        self.samples_out += out.len() as u64;
        out
    }

    /// Ends the leg: pushes the carried samples and the resampler's tail through.
    pub fn flush(&mut self) -> Vec<f32> {
        if self.flushed {
            return Vec::new();
        }
        self.flushed = true;
        let expected = self.samples_in * TARGET_RATE as u64 / self.input_rate as u64;
        let Some(r) = &mut self.inner else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let chunk = r.resampler.input_frames_next();
        // Zero-pad until everything pushed, plus the delay, has come out.
        while self.samples_out + (out.len() as u64) < expected {
            let fill = chunk - r.pending.len() % chunk;
            if fill != chunk || r.pending.is_empty() {
                r.pending.resize(r.pending.len() + fill, 0.0);
            }
            out.extend(r.drain_full_chunks());
        }
        let keep = (expected - self.samples_out) as usize;
        out.truncate(keep);
        self.samples_out += out.len() as u64;
        out
    }
}

impl Resampling {
    fn drain_full_chunks(&mut self) -> Vec<f32> {
        let chunk = self.resampler.input_frames_next();
        let mut out = Vec::new();
        let mut consumed = 0;
        while self.pending.len() - consumed >= chunk {
            let input = [&self.pending[consumed..consumed + chunk]];
            // Buffers are sized by the resampler itself, so this cannot fail.
            let (used, produced) = self
                .resampler
                .process_into_buffer(&input, &mut self.out_buf, None)
                .expect("resampler buffers sized from the resampler");
            consumed += used;
            let produced = &self.out_buf[0][..produced];
            let skip = self.skip.min(produced.len());
            self.skip -= skip;
            out.extend_from_slice(&produced[skip..]);
        }
        self.pending.drain(..consumed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::f32::consts::PI;

    fn sine(rate: u32, freq: f32, amp: f32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (amp * (2.0 * PI * freq * i as f32 / rate as f32).sin() * 32767.0) as i16)
            .collect()
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
    }

    fn zero_crossings(x: &[f32]) -> usize {
        x.windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count()
    }

    /// Pushes `input` in uneven pieces so chunk carrying is exercised.
    fn run(rate: u32, input: &[i16]) -> Vec<f32> {
        let mut dec = LegDecoder::new(rate).unwrap();
        let mut out = Vec::new();
        let sizes = [1usize, 7, 160, 33, 500, 2];
        let mut i = 0;
        let mut k = 0;
        while i < input.len() {
            let n = sizes[k % sizes.len()].min(input.len() - i);
            out.extend(dec.push(&input[i..i + n]));
            i += n;
            k += 1;
        }
        out.extend(dec.flush());
        out
    }

    #[test]
    fn sine_keeps_frequency_and_amplitude() {
        for rate in [8_000u32, 16_000, 24_000, 32_000, 48_000] {
            let n = rate as usize; // one second
            let input = sine(rate, 1000.0, 0.5, n);
            let out = run(rate, &input);
            assert_eq!(out.len(), 16_000, "rate {rate}: output length");
            // Ignore the edges where the filter rings against the zero padding.
            let body = &out[800..15_200];
            let crossings = zero_crossings(body) as f32;
            let seconds = body.len() as f32 / 16_000.0;
            let freq = crossings / 2.0 / seconds;
            assert!((freq - 1000.0).abs() < 5.0, "rate {rate}: frequency {freq}");
            let level = rms(body);
            let want = 0.5 / 2f32.sqrt();
            assert!(
                (level - want).abs() < 0.01,
                "rate {rate}: rms {level} want {want}"
            );
        }
    }

    #[test]
    fn output_is_aligned_with_input_time() {
        // A click at input sample 4000 (0.5 s at 8 kHz) must come out at 0.5 s.
        let mut input = vec![0i16; 8000];
        input[4000] = 20_000;
        let out = run(8000, &input);
        let peak = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
            .0;
        assert!((peak as i64 - 8000).abs() <= 2, "peak at {peak}");
    }

    #[test]
    fn sixteen_khz_passes_through_unchanged() {
        let input: Vec<i16> = (0..1000).map(|i| (i * 37 % 2000 - 1000) as i16).collect();
        let out = run(16_000, &input);
        assert_eq!(out, i16_to_f32(&input));
    }

    #[test]
    fn streaming_output_never_runs_ahead_or_far_behind() {
        let mut dec = LegDecoder::new(8000).unwrap();
        let mut total = 0usize;
        for i in 1..=100 {
            total += dec.push(&[100i16; 160]).len();
            let expected = i * 320;
            assert!(total <= expected, "{total} > {expected}");
            // Only the 20 ms block in flight plus the group delay may be held back.
            assert!(expected - total <= 320, "held back {}", expected - total);
        }
        total += dec.flush().len();
        assert_eq!(total, 32_000);
    }

    #[test]
    fn push_after_flush_is_ignored() {
        let mut dec = LegDecoder::new(8000).unwrap();
        dec.push(&[1; 100]);
        dec.flush();
        assert!(dec.push(&[1; 1000]).is_empty());
        assert!(dec.flush().is_empty());
    }

    #[test]
    fn rejects_out_of_range_rates() {
        for rate in [0u32, 1, 3_999, 192_001] {
            assert_eq!(
                LegDecoder::new(rate).err(),
                Some(DecodeError::RateOutOfRange(rate))
            );
        }
    }

    proptest! {
        #[test]
        fn any_input_any_split_gives_exact_length(
            rate in prop::sample::select(vec![8_000u32, 11_025, 16_000, 22_050, 44_100, 48_000]),
            pieces in prop::collection::vec(prop::collection::vec(any::<i16>(), 0..700), 0..12),
        ) {
            let mut dec = LegDecoder::new(rate).unwrap();
            let mut n_in = 0u64;
            let mut n_out = 0u64;
            for p in &pieces {
                n_in += p.len() as u64;
                let out = dec.push(p);
                prop_assert!(out.iter().all(|v| v.is_finite()));
                n_out += out.len() as u64;
            }
            n_out += dec.flush().len() as u64;
            prop_assert_eq!(n_out, n_in * 16_000 / rate as u64);
        }
    }
}
