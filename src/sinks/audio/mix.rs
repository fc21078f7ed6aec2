//! The stereo mix a reviewer replays: customer legs on the left, agent legs on the right,
//! each placed at its offset from the call's start.

use super::ogg_opus::{decode_up_to, OggOpusWriter, FRAME, RATE};
use super::AudioError;
use std::fs::File;
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

/// Longest mix made (about 230 MB of samples while it is made); longer calls are replayed
/// leg by leg.
pub const MAX_MIX_MS: u64 = 3600 * 1000;

static MIXING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The lock held while a mix is made (or removed): one at a time, as each decodes every leg.
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

/// Writes the stereo mix of `inputs` to `dest` (through a temporary file and a rename, so a
/// reader never sees half a mix). Returns the mix's duration in milliseconds.
pub fn write_mix(inputs: &[MixInput], dest: &Path, bitrate: i32) -> Result<u64, AudioError> {
    let per_ms = (RATE / 1000) as usize;
    let mut pcm: Vec<i16> = Vec::new();
    for input in inputs {
        let file = File::open(&input.path).map_err(|e| AudioError::io(&input.path, e))?;
        let leg = decode_up_to(file, (MAX_MIX_MS * RATE as u64 / 1000) as usize)?;
        if leg.channels != 1 {
            return Err(AudioError::Format(format!(
                "{}: a leg recording has one channel, not {}",
                input.path.display(),
                leg.channels
            )));
        }
        let start = input.offset_ms.min(MAX_MIX_MS) as usize * per_ms;
        let end = (start + leg.pcm.len()).min(MAX_MIX_MS as usize * per_ms);
        if pcm.len() < end * 2 {
            pcm.resize(end * 2, 0);
        }
        let side = match input.side {
            Side::Left => 0,
            Side::Right => 1,
        };
        for (i, s) in leg.pcm[..end - start].iter().enumerate() {
            let at = &mut pcm[(start + i) * 2 + side];
            *at = at.saturating_add(*s);
        }
    }
    let samples = (pcm.len() / 2) as u64;
    pcm.resize(pcm.len().div_ceil(FRAME * 2) * FRAME * 2, 0);
    let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
    let out = File::create(&tmp).map_err(|e| AudioError::io(&tmp, e))?;
    let result = (|| {
        let mut w = OggOpusWriter::new(out, 2, bitrate, 1)?;
        for frame in pcm.chunks_exact(FRAME * 2) {
            w.frame(frame)?;
        }
        let f = w.finish(samples)?;
        f.sync_all().map_err(|e| AudioError::io(&tmp, e))?;
        std::fs::rename(&tmp, dest).map_err(|e| AudioError::io(dest, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    Ok(samples / per_ms as u64)
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
}
