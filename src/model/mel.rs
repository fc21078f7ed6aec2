//! Mel filterbank stored in GGML Whisper files.
//!
//! whisper.cpp computes the log-mel spectrogram with the filterbank embedded
//! in the model file, so it must be the one Whisper was trained with:
//! `librosa.filters.mel(sr=16000, n_fft=400, n_mels=N)`, i.e. the Slaney mel
//! scale with Slaney area normalisation. This reproduces librosa's arithmetic
//! (float64, then float32 storage) so the output matches to float32 rounding.

/// Whisper's audio sample rate.
pub const SAMPLE_RATE: u32 = 16_000;
/// Whisper's STFT size.
pub const N_FFT: usize = 400;
/// Frequency bins of a real FFT of size [`N_FFT`].
pub const N_FREQS: usize = N_FFT / 2 + 1;

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn logstep() -> f64 {
    6.4f64.ln() / 27.0
}

/// Slaney mel scale: linear below 1 kHz, logarithmic above.
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / logstep()
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (logstep() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// numpy.linspace(start, stop, num) with its exact arithmetic.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let step = (stop - start) / div;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

/// The `n_mels x 201` filterbank, row-major, for 16 kHz audio and a 400-point FFT.
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    let sr = SAMPLE_RATE as f64;
    // numpy.fft.rfftfreq(n_fft, 1/sr)
    let bin_hz = 1.0 / (N_FFT as f64 * (1.0 / sr));
    let fftfreqs: Vec<f64> = (0..N_FREQS).map(|k| k as f64 * bin_hz).collect();
    let mels = linspace(hz_to_mel(0.0), hz_to_mel(sr / 2.0), n_mels + 2);
    let mel_f: Vec<f64> = mels.into_iter().map(mel_to_hz).collect();
    let fdiff: Vec<f64> = mel_f.windows(2).map(|w| w[1] - w[0]).collect();

    let mut weights = vec![0f32; n_mels * N_FREQS];
    for i in 0..n_mels {
        // Slaney normalisation: each triangle has unit area in Hz.
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fftfreqs.iter().enumerate() {
            let lower = -(mel_f[i] - f) / fdiff[i];
            let upper = (mel_f[i + 2] - f) / fdiff[i + 1];
            // librosa stores the triangle in a float32 array, then scales it
            // in place by the float64 norm: two roundings, reproduced here.
            let tri = 0f64.max(lower.min(upper)) as f32;
            weights[i * N_FREQS + k] = (tri as f64 * enorm) as f32;
        }
    }
    weights
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (mel row, fft bin, value) from librosa 0.x as shipped in openai-whisper's
    /// `assets/mel_filters.npz` (`mel_80`).
    const LIBROSA_MEL80: &[(usize, usize, f64)] = &[
        (0, 1, 0.024_862_595),
        (0, 2, 0.0),
        (1, 1, 0.001_990_821_9),
        (1, 2, 0.022_871_772),
        (10, 10, 0.019_908_218),
        (10, 11, 0.004_954_375),
        (25, 24, 0.020_874_01),
        (25, 25, 0.004_040_425_6),
        (40, 42, 0.005_411_105),
        (40, 43, 0.014_735_566),
        (40, 44, 0.006_518_19),
        (55, 74, 0.000_924_591_1),
        (55, 76, 0.006_817_032_6),
        (70, 132, 0.000_848_341_5),
        (70, 134, 0.002_710_158),
        (79, 186, 0.000_366_741_67),
        (79, 188, 0.001_299_398_4),
        (79, 199, 0.000_448_759),
        (79, 200, 0.0),
    ];

    #[test]
    fn matches_librosa_reference_values() {
        let m = mel_filters(80);
        assert_eq!(m.len(), 80 * 201);
        for &(i, k, want) in LIBROSA_MEL80 {
            let got = m[i * N_FREQS + k];
            assert!(
                (got as f64 - want).abs() <= 2e-9,
                "mel[{i}][{k}] = {got}, librosa {want}"
            );
        }
        let total: f64 = m.iter().map(|&x| x as f64).sum();
        assert!((total - 1.999_024_152_755_737_3).abs() < 1e-6, "{total}");
    }

    #[test]
    fn scale_breakpoints() {
        assert_eq!(hz_to_mel(0.0), 0.0);
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((mel_to_hz(15.0) - 1000.0).abs() < 1e-9);
        assert!((hz_to_mel(6400.0) - 42.0).abs() < 1e-9, "6.4x = 27 mels");
    }

    #[test]
    fn every_filter_is_a_single_nonnegative_triangle() {
        let m = mel_filters(128);
        for row in m.chunks(N_FREQS) {
            assert!(row.iter().all(|&x| x >= 0.0));
            let nz: Vec<usize> = (0..N_FREQS).filter(|&k| row[k] > 0.0).collect();
            assert!(!nz.is_empty());
            assert_eq!(
                nz.last().unwrap() - nz[0] + 1,
                nz.len(),
                "contiguous support"
            );
        }
    }

    proptest! {
        #[test]
        fn mel_scale_round_trips(hz in 0.0f64..20_000.0) {
            let back = mel_to_hz(hz_to_mel(hz));
            prop_assert!((back - hz).abs() <= 1e-9 * hz.max(1.0));
        }

        #[test]
        fn mel_scale_is_monotonic(a in 0.0f64..20_000.0, d in 0.001f64..1000.0) {
            prop_assert!(hz_to_mel(a + d) > hz_to_mel(a));
        }
    }
}
