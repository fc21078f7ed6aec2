//! The stereo mix a reviewer replays: customer legs on the left, agent legs on the right,
//! each placed at its offset from the call's start.

use super::ogg_opus::{OggOpusWriter, OpusPcmReader, FRAME, RATE};
use super::AudioError;
use std::collections::VecDeque;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// Which side of the mix a leg goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// One leg's recording in a mix.
#[derive(Debug, Clone)]
pub struct MixInput {
    pub path: PathBuf,
    pub side: Side,
    /// Where the leg starts, from the call's start.
    pub offset_ms: u64,
}

/// Longest mix made: a working day. The mix is streamed (a packet of each leg in memory at a
/// time), so this bounds the work of one request, not memory; longer calls are replayed leg
/// by leg.
pub const MAX_MIX_MS: u64 = 12 * 3600 * 1000;

static MIXING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The lock held while a mix is made (or removed): one at a time, as each decodes every leg
/// and encodes the whole call again.
pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    MIXING.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lock if no mix is being made now.
pub fn try_lock() -> Option<std::sync::MutexGuard<'static, ()>> {
    match MIXING.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// One leg being read into the mix.
struct LegStream {
    reader: OpusPcmReader<BufReader<File>>,
    side: usize,
    /// Where the leg starts in the mix, in samples.
    start: u64,
    /// Decoded samples not yet mixed.
    pending: VecDeque<i16>,
    /// Samples mixed so far.
    used: u64,
    done: bool,
}

impl LegStream {
    fn open(input: &MixInput) -> Result<LegStream, AudioError> {
        let file = File::open(&input.path).map_err(|e| AudioError::io(&input.path, e))?;
        let reader = OpusPcmReader::new(BufReader::new(file))?;
        if reader.channels() != 1 {
            return Err(AudioError::Format(format!(
                "{}: a leg recording has one channel, not {}",
                input.path.display(),
                reader.channels()
            )));
        }
        Ok(LegStream {
            reader,
            side: match input.side {
                Side::Left => 0,
                Side::Right => 1,
            },
            start: input.offset_ms.min(MAX_MIX_MS) * (RATE / 1000) as u64,
            pending: VecDeque::new(),
            used: 0,
            done: false,
        })
    }

    /// Decodes until a sample is pending or the leg has ended.
    fn prime(&mut self) -> Result<(), AudioError> {
        while self.pending.is_empty() && !self.done {
            match self.reader.next_pcm()? {
                Some(chunk) => self.pending.extend(chunk),
                None => self.done = true,
            }
        }
        Ok(())
    }

    /// Adds this leg's samples for mix positions `[t, t + FRAME)` onto its side of `frame`.
    fn add_to(&mut self, t: u64, frame: &mut [i16]) -> Result<(), AudioError> {
        for i in 0..FRAME {
            if t + (i as u64) < self.start {
                continue;
            }
            self.prime()?;
            let Some(s) = self.pending.pop_front() else {
                break;
            };
            self.used += 1;
            let at = &mut frame[i * 2 + self.side];
            *at = at.saturating_add(s);
        }
        Ok(())
    }

    fn end(&self) -> u64 {
        self.start + self.used
    }
}

/// Writes the stereo mix of `inputs` to `dest` (through a temporary file and a rename, so a
/// reader never sees half a mix). Returns the mix's duration in milliseconds.
pub fn write_mix(inputs: &[MixInput], dest: &Path, bitrate: i32) -> Result<u64, AudioError> {
    let per_ms = (RATE / 1000) as u64;
    let mut legs = inputs
        .iter()
        .map(LegStream::open)
        .collect::<Result<Vec<_>, _>>()?;
    let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
    let out = File::create(&tmp).map_err(|e| AudioError::io(&tmp, e))?;
    let result = (|| {
        let mut w = OggOpusWriter::new(out, 2, bitrate, 1)?;
        let mut frame = vec![0i16; FRAME * 2];
        let mut t = 0u64;
        loop {
            for leg in &mut legs {
                leg.prime()?;
            }
            if legs.iter().all(|l| l.done && l.pending.is_empty()) {
                break;
            }
            if t >= MAX_MIX_MS * per_ms {
                return Err(AudioError::TooLong);
            }
            frame.fill(0);
            for leg in &mut legs {
                leg.add_to(t, &mut frame)?;
            }
            w.frame(&frame)?;
            t += FRAME as u64;
        }
        let samples = legs.iter().map(LegStream::end).max().unwrap_or(0);
        let f = w.finish(samples)?;
        f.sync_all().map_err(|e| AudioError::io(&tmp, e))?;
        std::fs::rename(&tmp, dest).map_err(|e| AudioError::io(dest, e))?;
        Ok(samples / per_ms)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::super::ogg_opus::decode;
    use super::super::recorder::LegRecorder;
    use super::*;

    fn record(path: &Path, ms: u64, level: f32) {
        let mut r = LegRecorder::create(path.to_path_buf(), 20_000, 60_000).unwrap();
        let n = ms * 16;
        let audio: Vec<f32> = (0..n).map(|i| (i as f32 * 0.2).sin() * level).collect();
        r.push(&audio).unwrap();
        r.finish().unwrap();
    }

    #[test]
    fn legs_land_on_their_side_at_their_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.ogg"), dir.path().join("b.ogg"));
        record(&a, 2000, 0.5);
        record(&b, 1000, 0.5);
        let dest = dir.path().join("mix.ogg");
        let inputs = [
            MixInput {
                path: a,
                side: Side::Left,
                offset_ms: 0,
            },
            MixInput {
                path: b,
                side: Side::Right,
                offset_ms: 1500,
            },
        ];
        assert_eq!(write_mix(&inputs, &dest, 32_000).unwrap(), 2500);
        let d = decode(File::open(&dest).unwrap()).unwrap();
        assert_eq!(d.channels, 2);
        assert_eq!(d.pcm.len(), 2500 * 16 * 2);
        let energy = |from_ms: usize, to_ms: usize, ch: usize| -> f64 {
            let v: Vec<f64> = d.pcm[from_ms * 32..to_ms * 32]
                .chunks(2)
                .map(|c| (c[ch] as f64).abs())
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(energy(200, 1200, 0) > 3000.0);
        assert!(
            energy(200, 1200, 1) < 300.0,
            "right is silent before its leg starts"
        );
        assert!(energy(1700, 2400, 1) > 3000.0);
        assert!(!dir.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("tmp")));
    }

    #[test]
    fn a_leg_after_a_gap_and_two_legs_on_one_side() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n);
        record(&path("a.ogg"), 1000, 0.3);
        record(&path("b.ogg"), 500, 0.3);
        record(&path("c.ogg"), 700, 0.3);
        let input = |n: &str, side, offset_ms| MixInput {
            path: path(n),
            side,
            offset_ms,
        };
        let inputs = [
            input("a.ogg", Side::Left, 0),
            input("b.ogg", Side::Right, 3000),
            // A second customer leg (a transfer) later on the same side.
            input("c.ogg", Side::Left, 2000),
        ];
        let dest = path("mix.ogg");
        assert_eq!(write_mix(&inputs, &dest, 32_000).unwrap(), 3500);
        let d = decode(File::open(&dest).unwrap()).unwrap();
        assert_eq!(d.pcm.len(), 3500 * 16 * 2);
        let loud = |from_ms: usize, to_ms: usize, ch: usize| -> bool {
            let v = &d.pcm[from_ms * 32..to_ms * 32];
            v.chunks(2).map(|c| (c[ch] as f64).abs()).sum::<f64>() / (v.len() / 2) as f64 > 1000.0
        };
        assert!(loud(100, 900, 0) && !loud(100, 900, 1));
        assert!(
            !loud(1200, 1900, 0) && !loud(1200, 2900, 1),
            "the gap is silent"
        );
        assert!(loud(2100, 2600, 0) && !loud(2100, 2900, 1));
        assert!(loud(3100, 3400, 1) && !loud(2800, 3400, 0));
    }
}
