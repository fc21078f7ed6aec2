//! The audio archive: each leg's audio as Opus in Ogg under `<data_dir>/audio`, written while
//! the call runs with redacted speech silenced, and the stereo mix a reviewer replays.
//!
//! Files are named from digests of the call id and leg name, never from the ids themselves:
//! ids come from peers (SIP Call-IDs, Twilio parameters) and must not choose paths.

pub mod mix;
pub mod ogg_opus;
pub mod recorder;

pub use recorder::{LegRecorder, RecordingSummary};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// What went wrong with archived audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("audio file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("audio stream: {0}")]
    Ogg(#[from] std::io::Error),
    #[error("Opus codec: {0}")]
    Codec(String),
    #[error("not a readable Ogg Opus file: {0}")]
    Format(String),
    #[error("the recording stopped after an earlier write error")]
    Stopped,
    #[error("the recording is longer than a mix holds (12 hours); replay its legs one by one")]
    TooLong,
}

impl AudioError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> AudioError {
        AudioError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where and how leg audio is kept.
#[derive(Debug, Clone)]
pub struct AudioArchive {
    root: PathBuf,
    bitrate: i32,
    max_hold_ms: u64,
}

impl AudioArchive {
    /// Audio under `root` at `bitrate` bits per second; transcription may lag the audio by
    /// up to `max_hold_ms` before held audio is written as silence.
    pub fn new(root: PathBuf, bitrate: i32, max_hold_ms: u64) -> AudioArchive {
        AudioArchive {
            root,
            bitrate,
            max_hold_ms,
        }
    }

    /// The folder under which every call's audio lies.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A call's folder, relative to [`Self::root`].
    pub fn call_dir(call_id: &str) -> PathBuf {
        PathBuf::from(hex_digest(call_id, 16))
    }

    /// A leg's file, relative to [`Self::root`].
    pub fn leg_file(call_id: &str, leg: &str) -> PathBuf {
        Self::call_dir(call_id).join(format!("leg-{}.ogg", hex_digest(leg, 8)))
    }

    /// Starts recording a leg. A leg recorded before (a restarted process reopening it) gets
    /// a numbered second file rather than overwriting the first.
    pub fn record_leg(
        &self,
        call_id: &str,
        leg: &str,
    ) -> Result<(PathBuf, LegRecorder), AudioError> {
        let base = Self::leg_file(call_id, leg);
        let mut rel = base.clone();
        for n in 2..100 {
            if !self.root.join(&rel).exists() {
                break;
            }
            rel = base.with_file_name(format!(
                "{}-{n}.ogg",
                base.file_stem().unwrap_or_default().to_string_lossy()
            ));
        }
        let r = LegRecorder::create(self.root.join(&rel), self.bitrate, self.max_hold_ms)?;
        Ok((rel, r))
    }

    /// The full path of a recording's relative `file` as archived, if it has the shape this
    /// archive writes (`<hex>/leg-<hex>[-n].ogg` or `<hex>/mix.ogg`): a row is never trusted
    /// to name a path outside `root`.
    pub fn resolve(root: &Path, file: &str) -> Option<PathBuf> {
        let (dir, name) = file.split_once('/')?;
        let hex = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit());
        let stem = name.strip_suffix(".ogg")?;
        let ok_name = stem == "mix"
            || stem.strip_prefix("leg-").is_some_and(|rest| {
                let (h, n) = rest.split_once('-').unwrap_or((rest, "2"));
                hex(h) && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
            });
        (hex(dir) && ok_name).then(|| root.join(dir).join(name))
    }

    /// The full path of an archived recording (see [`Self::resolve`]).
    pub fn path_of(&self, file: &str) -> Option<PathBuf> {
        Self::resolve(&self.root, file)
    }

    /// Bit rate of recordings.
    pub fn bitrate(&self) -> i32 {
        self.bitrate
    }
}

fn hex_digest(s: &str, bytes: usize) -> String {
    Sha256::digest(s.as_bytes())[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_never_choose_paths() {
        for id in ["../../etc/passwd", "/abs", "a\0b", "普通 id", ""] {
            let p = AudioArchive::leg_file(id, id);
            assert_eq!(p.components().count(), 2, "{p:?}");
            assert!(p
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_hexdigit() || "/-.leg".contains(c) || c == 'o' || c == 'g'));
        }
        assert_ne!(
            AudioArchive::leg_file("a", "x"),
            AudioArchive::leg_file("b", "x")
        );
    }

    #[test]
    fn archived_file_names_resolve_only_to_our_shape() {
        let root = Path::new("/r");
        let (rel, _) = (AudioArchive::leg_file("c", "l"), ());
        let rel = rel.to_string_lossy().into_owned();
        assert_eq!(AudioArchive::resolve(root, &rel), Some(root.join(&rel)));
        assert!(AudioArchive::resolve(root, "abcd/leg-12ef-2.ogg").is_some());
        assert!(AudioArchive::resolve(root, "abcd/mix.ogg").is_some());
        for bad in [
            "../x/leg-12.ogg",
            "/etc/leg-12.ogg",
            "abcd/../../x.ogg",
            "abcd/leg-zz.ogg",
            "abcd",
            "abcd/leg-12.ogg/x",
            "",
        ] {
            assert!(AudioArchive::resolve(root, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_second_recording_of_a_leg_gets_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = AudioArchive::new(dir.path().into(), 20_000, 1000);
        let (p1, r1) = a.record_leg("c", "l").unwrap();
        let (p2, r2) = a.record_leg("c", "l").unwrap();
        assert_ne!(p1, p2);
        r1.finish().unwrap();
        r2.finish().unwrap();
    }
}
