//! Recorded calls from files (wav, mp3, flac, ogg/vorbis) decoded with symphonia.
//! A stereo file is two legs: left = customer, right = agent (the FreeSWITCH convention).

mod call;
pub use call::{FileCall, FileLegs, Progress};

use std::fs::File;
use std::path::Path;
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Why a file could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: cannot open: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a supported audio file (wav, mp3, flac, ogg/vorbis): {reason}")]
    Format { path: String, reason: String },
    #[error("{path}: corrupt audio after {decoded_ms} ms: {reason}")]
    Corrupt {
        path: String,
        decoded_ms: u64,
        reason: String,
    },
    #[error("{path}: {channels} channels; callwatch takes mono (one leg) or stereo (customer left, agent right)")]
    Channels { path: String, channels: usize },
    #[error("{path}: contains no audio")]
    Empty { path: String },
}

/// A decoded file: one `Vec<i16>` per channel at `sample_rate`.
#[derive(Debug, Clone)]
pub struct DecodedFile {
    pub sample_rate: u32,
    pub channels: Vec<Vec<i16>>,
}

impl DecodedFile {
    pub fn duration_ms(&self) -> u64 {
        self.channels.first().map_or(0, |c| c.len() as u64) * 1000 / self.sample_rate.max(1) as u64
    }
}

/// Decodes a whole file into memory.
pub fn decode_file(path: &Path) -> Result<DecodedFile, FileError> {
    let p = path.display().to_string();
    let file = File::open(path).map_err(|source| FileError::Open {
        path: p.clone(),
        source,
    })?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format_err = |e: SymError| FileError::Format {
        path: p.clone(),
        reason: e.to_string(),
    };
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(format_err)?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| FileError::Format {
            path: p.clone(),
            reason: "no audio track".into(),
        })?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(format_err)?;
    let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
    let mut channels: Vec<Vec<i16>> = Vec::new();
    let mut buf: Option<SampleBuffer<i16>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                return Err(corrupt(&p, &channels, sample_rate, e));
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet in a lossy stream: skip it, as players do.
            Err(SymError::DecodeError(e)) => {
                tracing::warn!(path = %p, error = e, "skipping undecodable packet");
                continue;
            }
            Err(e) => return Err(corrupt(&p, &channels, sample_rate, e)),
        };
        let spec = *decoded.spec();
        sample_rate = spec.rate;
        let n_ch = spec.channels.count();
        if n_ch == 0 || n_ch > 2 {
            return Err(FileError::Channels {
                path: p,
                channels: n_ch,
            });
        }
        if channels.is_empty() {
            channels = vec![Vec::new(); n_ch];
        }
        let b = buf.get_or_insert_with(|| SampleBuffer::new(decoded.capacity() as u64, spec));
        if b.capacity() < decoded.capacity() * n_ch {
            *b = SampleBuffer::new(decoded.capacity() as u64, spec);
        }
        b.copy_interleaved_ref(decoded);
        let frames = b.samples().len() / n_ch;
        let skip_start = (packet.trim_start() as usize).min(frames);
        let keep_end = frames
            .saturating_sub(packet.trim_end() as usize)
            .max(skip_start);
        for frame in b.samples()[skip_start * n_ch..keep_end * n_ch].chunks_exact(n_ch) {
            for (c, s) in frame.iter().enumerate() {
                channels[c].push(*s);
            }
        }
    }
    if channels.is_empty() || channels[0].is_empty() || sample_rate == 0 {
        return Err(FileError::Empty { path: p });
    }
    Ok(DecodedFile {
        sample_rate,
        channels,
    })
}

fn corrupt(path: &str, channels: &[Vec<i16>], rate: u32, e: SymError) -> FileError {
    FileError::Corrupt {
        path: path.to_string(),
        decoded_ms: channels.first().map_or(0, |c| c.len() as u64) * 1000 / rate.max(1) as u64,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, channels: u16, frames: usize) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames {
            for c in 0..channels {
                w.write_sample(((i as i32 * (c as i32 + 1)) % 1000) as i16)
                    .unwrap();
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn stereo_wav_splits_into_two_channels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.wav");
        write_wav(&p, 8000, 2, 8000);
        let d = decode_file(&p).unwrap();
        assert_eq!(d.sample_rate, 8000);
        assert_eq!(d.channels.len(), 2);
        assert_eq!(d.channels[0].len(), 8000);
        assert_eq!(d.channels[1][3], 6);
        assert_eq!(d.duration_ms(), 1000);
    }

    #[test]
    fn compressed_formats_decode_to_the_same_duration() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let wav = decode_file(&root.join("en/agent_greeting.wav")).unwrap();
        for name in [
            "agent_greeting.flac",
            "agent_greeting.mp3",
            "agent_greeting.ogg",
        ] {
            let d = decode_file(&root.join("formats").join(name)).unwrap();
            assert_eq!(d.channels.len(), 1, "{name}");
            assert_eq!(d.sample_rate, 16_000, "{name}");
            // Lossy codecs pad to whole frames (MP3: 1152 samples, 72 ms here) and add encoder
            // delay where the file carries no gapless information.
            let diff = d.duration_ms().abs_diff(wav.duration_ms());
            assert!(
                diff <= 150,
                "{name}: {} ms vs {} ms",
                d.duration_ms(),
                wav.duration_ms()
            );
            let energy =
                |c: &[i16]| c.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / c.len() as f64;
            let ratio = energy(&d.channels[0]) / energy(&wav.channels[0]);
            assert!((0.7..1.3).contains(&ratio), "{name}: energy ratio {ratio}");
        }
    }

    #[test]
    fn garbage_and_truncated_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.wav");
        std::fs::write(&p, b"this is not audio at all, just text pretending").unwrap();
        let e = decode_file(&p).unwrap_err().to_string();
        assert!(e.contains("not a supported audio file"), "{e}");

        let good = dir.path().join("t.wav");
        write_wav(&good, 16000, 1, 16000);
        let bytes = std::fs::read(&good).unwrap();
        let cut = dir.path().join("cut.wav");
        std::fs::write(&cut, &bytes[..30]).unwrap();
        assert!(decode_file(&cut).is_err());

        let missing = decode_file(Path::new("no/such/file.wav"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot open"), "{missing}");
    }
}
