//! Sound with no words in it, for ghost finals: what the recogniser writes (and the matcher
//! hits) when the line carries sound that is not speech. Time-reversed speech has speech's
//! spectrum and rhythm and no words (it opens the segmenter like a voice); bursts of pink and
//! white noise between silences are a bad line. Seeded, so every run plays the same sound.

use crate::call::Speaker;

/// xorshift64*: enough for repeatable noise; not for anything secret.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (self.unit() + 1.0) / 2.0 * (hi - lo)
    }
}

/// Pink noise by Paul Kellet's filter over white noise, roughly unit peak.
fn pink(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut b = [0f32; 7];
    (0..n)
        .map(|_| {
            let w = rng.unit();
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.153_852;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let out = b.iter().sum::<f32>() + w * 0.5362;
            b[6] = w * 0.115926;
            out * 0.11
        })
        .collect()
}

/// `secs` of bursts at `rate`: 1 to 3 s of pink or white noise at speech-like loudness,
/// then 1 to 2 s of silence.
pub fn bursts(rate: u32, secs: f32, seed: u64) -> Vec<i16> {
    let mut rng = Rng(seed.max(1));
    let total = (secs * rate as f32) as usize;
    let mut out = Vec::with_capacity(total);
    let mut white = false;
    while out.len() < total {
        let n = (rng.range(1.0, 3.0) * rate as f32) as usize;
        let level = rng.range(0.05, 0.2);
        let burst: Vec<f32> = if white {
            (0..n).map(|_| rng.unit() * 0.5).collect()
        } else {
            pink(&mut rng, n)
        };
        white = !white;
        out.extend(burst.iter().map(|s| (s * level * 32767.0) as i16));
        let gap = (rng.range(1.0, 2.0) * rate as f32) as usize;
        out.extend(std::iter::repeat_n(0, gap));
    }
    out.truncate(total);
    out
}

/// `speech` played backwards.
pub fn reversed(speech: &[i16]) -> Vec<i16> {
    speech.iter().rev().copied().collect()
}

/// The accuracy report's call with no words: `speech` (a call's two legs one after the other,
/// at `rate`) time-reversed on the customer's leg, and as long a stretch of noise bursts on the
/// agent's, as (side, speaker, samples).
pub fn wordless_call(speech: &[i16], rate: u32) -> Vec<(String, Speaker, Vec<i16>)> {
    let secs = speech.len() as f32 / rate as f32;
    vec![
        ("left".to_string(), Speaker::Customer, reversed(speech)),
        ("right".to_string(), Speaker::Agent, bursts(rate, secs, 15)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_repeatable_loud_and_broken_by_silence() {
        let a = bursts(8000, 20.0, 15);
        assert_eq!(a, bursts(8000, 20.0, 15));
        assert_ne!(a, bursts(8000, 20.0, 16));
        assert_eq!(a.len(), 160_000);
        let silent = a.iter().filter(|&&s| s == 0).count();
        assert!(
            (0.2..0.6).contains(&(silent as f64 / a.len() as f64)),
            "{silent}"
        );
        let peak = a.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak > 1000, "{peak}");
    }

    #[test]
    fn reversed_speech_is_the_same_samples_backwards() {
        assert_eq!(reversed(&[1, 2, 3]), [3, 2, 1]);
    }
}
