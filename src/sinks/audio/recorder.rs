//! One leg's audio on its way to disk: held back until the leg's transcripts have settled, so
//! spoken card numbers and codes are silenced before a byte of them is written.

use super::ogg_opus::{OggOpusWriter, FRAME, RATE};
use super::AudioError;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

const SAMPLES_PER_MS: u64 = RATE as u64 / 1000;

/// What a finished recording holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordingSummary {
    pub duration_ms: u64,
    pub bytes: u64,
    /// Milliseconds replaced by silence (redacted speech, or audio held past the limit).
    pub masked_ms: u64,
}

/// Writes one leg's 16 kHz audio as Ogg Opus.
///
/// Audio is kept in memory until [`LegRecorder::release`] says the transcripts up to that
/// point are final, so [`LegRecorder::mask`] can still silence what they redacted. Held audio
/// past `max_hold` is written as silence rather than unchecked (a recogniser that falls that
/// far behind must not leak what it has not read).
pub struct LegRecorder {
    path: PathBuf,
    writer: Option<OggOpusWriter<File>>,
    held: Vec<i16>,
    /// Sample index of `held[0]` (all before it is written).
    held_from: u64,
    max_hold: usize,
    masked_samples: u64,
    overflowed: bool,
}

impl LegRecorder {
    /// Creates the file (and its folder) and writes the stream headers.
    pub fn create(
        path: PathBuf,
        bitrate: i32,
        max_hold_ms: u64,
    ) -> Result<LegRecorder, AudioError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AudioError::io(dir, e))?;
        }
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| AudioError::io(&path, e))?;
        let serial = getrandom::u32().unwrap_or(1);
        let writer = OggOpusWriter::new(file, 1, bitrate, serial)?;
        Ok(LegRecorder {
            path,
            writer: Some(writer),
            held: Vec::new(),
            held_from: 0,
            max_hold: (max_hold_ms * SAMPLES_PER_MS) as usize,
            masked_samples: 0,
            overflowed: false,
        })
    }

    /// Appends decoded audio (f32 in [-1, 1]).
    pub fn push(&mut self, audio: &[f32]) -> Result<(), AudioError> {
        self.held
            .extend(audio.iter().map(|&s| (s.clamp(-1.0, 1.0) * 32767.0) as i16));
        if self.held.len() > self.max_hold + FRAME {
            let excess = (self.held.len() - self.max_hold) / FRAME * FRAME;
            if !self.overflowed {
                self.overflowed = true;
                tracing::warn!(
                    held_ms = self.held.len() as u64 / SAMPLES_PER_MS,
                    "transcription is far behind; audio past the hold limit is archived as silence"
                );
            }
            self.held[..excess].fill(0);
            self.masked_samples += excess as u64;
            self.write_frames(excess)?;
        }
        Ok(())
    }

    /// Silences media time `[start_ms, end_ms)`. Returns false when part of it was already
    /// written (it was released before its transcript came).
    pub fn mask(&mut self, start_ms: u64, end_ms: u64) -> bool {
        let (start, end) = (start_ms * SAMPLES_PER_MS, end_ms * SAMPLES_PER_MS);
        let held_to = self.held_from + self.held.len() as u64;
        let (a, b) = (start.max(self.held_from), end.min(held_to));
        if a < b {
            self.held[(a - self.held_from) as usize..(b - self.held_from) as usize].fill(0);
            self.masked_samples += b - a;
        }
        start >= self.held_from
    }

    /// Writes the held audio before media time `until_ms`, in whole frames.
    pub fn release(&mut self, until_ms: u64) -> Result<(), AudioError> {
        let until = until_ms * SAMPLES_PER_MS;
        let n = until
            .saturating_sub(self.held_from)
            .min(self.held.len() as u64) as usize;
        self.write_frames(n / FRAME * FRAME)
    }

    /// Writes everything held and ends the stream.
    pub fn finish(mut self) -> Result<RecordingSummary, AudioError> {
        let total = self.held_from + self.held.len() as u64;
        let whole = self.held.len() / FRAME * FRAME;
        self.write_frames(whole)?;
        if !self.held.is_empty() {
            self.held.resize(FRAME, 0);
            self.write_frames(FRAME)?;
        }
        let Some(writer) = self.writer.take() else {
            return Err(AudioError::Stopped);
        };
        let mut file = writer.finish(total)?;
        file.flush().map_err(|e| AudioError::io(&self.path, e))?;
        let bytes = file
            .metadata()
            .map_err(|e| AudioError::io(&self.path, e))?
            .len();
        Ok(RecordingSummary {
            duration_ms: total / SAMPLES_PER_MS,
            bytes,
            masked_ms: self.masked_samples / SAMPLES_PER_MS,
        })
    }

    fn write_frames(&mut self, n: usize) -> Result<(), AudioError> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(AudioError::Stopped);
        };
        for frame in self.held[..n].chunks_exact(FRAME) {
            if let Err(e) = writer.frame(frame) {
                // A write that failed once (disk full) leaves the file as it was: stop here.
                self.writer = None;
                return Err(e);
            }
        }
        self.held.drain(..n);
        self.held_from += n as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ogg_opus::decode;
    use super::*;

    fn loud(ms: u64) -> Vec<f32> {
        (0..ms * SAMPLES_PER_MS)
            .map(|i| (i as f32 * 0.3).sin() * 0.5)
            .collect()
    }

    fn dbfs(x: &[i16]) -> f64 {
        let ms = x.iter().map(|&s| (s as f64 / 32768.0).powi(2)).sum::<f64>() / x.len() as f64;
        10.0 * ms.max(1e-20).log10()
    }

    #[test]
    fn a_range_masked_before_release_is_silent_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/leg.ogg");
        let mut r = LegRecorder::create(path.clone(), 20_000, 60_000).unwrap();
        r.push(&loud(3000)).unwrap();
        r.release(500).unwrap();
        assert!(r.mask(1000, 2000));
        r.release(2500).unwrap();
        // Too late: already written.
        assert!(!r.mask(200, 400));
        let s = r.finish().unwrap();
        assert_eq!(s.duration_ms, 3000);
        assert_eq!(s.masked_ms, 1000);
        let d = decode(File::open(&path).unwrap()).unwrap();
        assert_eq!(d.pcm.len(), 48_000);
        let at = |ms: u64| (ms * SAMPLES_PER_MS) as usize;
        assert!(dbfs(&d.pcm[at(1050)..at(1950)]) < -60.0);
        assert!(dbfs(&d.pcm[at(2100)..at(2900)]) > -20.0);
        assert!(dbfs(&d.pcm[at(100)..at(900)]) > -20.0);
    }

    #[test]
    fn audio_held_past_the_limit_is_written_as_silence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leg.ogg");
        let mut r = LegRecorder::create(path.clone(), 20_000, 1000).unwrap();
        r.push(&loud(3000)).unwrap();
        let s = r.finish().unwrap();
        assert!(s.masked_ms >= 1900, "{s:?}");
        let d = decode(File::open(&path).unwrap()).unwrap();
        assert!(dbfs(&d.pcm[..(1800 * SAMPLES_PER_MS) as usize]) < -60.0);
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leg.ogg");
        std::fs::write(&path, b"kept").unwrap();
        assert!(LegRecorder::create(path.clone(), 20_000, 1000).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
    }
}
