//! Opus in Ogg (RFC 7845): the archived audio's file format, written page by page while a
//! call runs (so a crash keeps every page written) and read back for the stereo mix.

use super::AudioError;
use ogg::{PacketReader, PacketWriteEndInfo, PacketWriter};
use std::io::{Read, Seek, Write};

/// Sample rate of archived audio (the pipeline's rate).
pub const RATE: u32 = 16_000;
/// Samples per channel in one Opus frame: 20 ms.
pub const FRAME: usize = (RATE / 50) as usize;
/// Ogg Opus granule positions count 48 kHz samples whatever the input rate.
const GRANULE_PER_SAMPLE: u64 = (48_000 / RATE) as u64;
/// Frames per Ogg page: a page (about one second) is the unit a crash can lose.
const FRAMES_PER_PAGE: usize = 50;

/// Encodes 16 kHz PCM into an Ogg Opus stream.
pub struct OggOpusWriter<W: Write> {
    pages: PacketWriter<'static, W>,
    serial: u32,
    encoder: opus::Encoder,
    channels: usize,
    pre_skip: u64,
    /// Frames encoded so far.
    frames: u64,
    /// The last encoded packet, held back one frame so the stream's last page can carry the
    /// exact end (RFC 7845 §4.4 end trimming).
    held: Option<Vec<u8>>,
    in_page: usize,
    buf: Vec<u8>,
}

impl<W: Write> OggOpusWriter<W> {
    /// Starts a stream of `channels` (1 or 2) at `bitrate` bits per second and writes its
    /// two header pages.
    pub fn new(out: W, channels: usize, bitrate: i32, serial: u32) -> Result<Self, AudioError> {
        let ch = match channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => return Err(AudioError::Codec(format!("{n} channels: only 1 or 2"))),
        };
        let mut encoder = opus::Encoder::new(RATE, ch, opus::Application::Voip).map_err(codec)?;
        encoder
            .set_bitrate(opus::Bitrate::Bits(bitrate))
            .map_err(codec)?;
        let pre_skip = encoder.get_lookahead().map_err(codec)?.max(0) as u64 * GRANULE_PER_SAMPLE;
        let mut pages = PacketWriter::new(out);
        let mut head = b"OpusHead".to_vec();
        head.push(1);
        head.push(channels as u8);
        head.extend_from_slice(&(pre_skip as u16).to_le_bytes());
        head.extend_from_slice(&RATE.to_le_bytes());
        head.extend_from_slice(&0i16.to_le_bytes());
        head.push(0);
        pages.write_packet(head, serial, PacketWriteEndInfo::EndPage, 0)?;
        let vendor = concat!("callwatch ", env!("CARGO_PKG_VERSION"));
        let mut tags = b"OpusTags".to_vec();
        tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
        tags.extend_from_slice(vendor.as_bytes());
        tags.extend_from_slice(&0u32.to_le_bytes());
        pages.write_packet(tags, serial, PacketWriteEndInfo::EndPage, 0)?;
        Ok(OggOpusWriter {
            pages,
            serial,
            encoder,
            channels,
            pre_skip,
            frames: 0,
            held: None,
            in_page: 0,
            buf: vec![0; 4000],
        })
    }

    /// Encodes one 20 ms frame: [`FRAME`] samples per channel, interleaved.
    pub fn frame(&mut self, pcm: &[i16]) -> Result<(), AudioError> {
        debug_assert_eq!(pcm.len(), FRAME * self.channels);
        let n = self.encoder.encode(pcm, &mut self.buf).map_err(codec)?;
        let packet = self.buf[..n].to_vec();
        if let Some(prev) = self.held.replace(packet) {
            self.in_page += 1;
            let end = if self.in_page >= FRAMES_PER_PAGE {
                self.in_page = 0;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            // `self.frames` counts the frames before the held one: `prev` ends there.
            let granule = self.pre_skip + self.frames * FRAME as u64 * GRANULE_PER_SAMPLE;
            self.pages.write_packet(prev, self.serial, end, granule)?;
        }
        self.frames += 1;
        Ok(())
    }

    /// Ends the stream; `samples` (per channel) is how much real audio it holds, so the
    /// padding of the last frame is trimmed by players. Returns the writer.
    pub fn finish(mut self, samples: u64) -> Result<W, AudioError> {
        // The encoder's lookahead delays its output by the pre-skip: feed silence until every
        // real sample has come out (and at least one packet exists).
        let needed = samples + self.pre_skip / GRANULE_PER_SAMPLE;
        while self.held.is_none() || self.frames * (FRAME as u64) < needed {
            self.frame(&vec![0; FRAME * self.channels])?;
        }
        let last = self.held.take().unwrap_or_default();
        let full = self.pre_skip + self.frames * FRAME as u64 * GRANULE_PER_SAMPLE;
        let previous = full - FRAME as u64 * GRANULE_PER_SAMPLE;
        let granule = (self.pre_skip + samples * GRANULE_PER_SAMPLE).clamp(previous, full);
        self.pages
            .write_packet(last, self.serial, PacketWriteEndInfo::EndStream, granule)?;
        Ok(self.pages.into_inner())
    }

    /// The output, e.g. to flush it.
    pub fn inner_mut(&mut self) -> &mut W {
        self.pages.inner_mut()
    }
}

/// Decoded audio of an Ogg Opus stream at 16 kHz.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub channels: usize,
    /// Interleaved samples.
    pub pcm: Vec<i16>,
}

/// Decodes a whole Ogg Opus stream (one we wrote, or any mono/stereo one) at 16 kHz into
/// memory. A stream cut off by a crash decodes up to its last whole page.
pub fn decode<R: Read + Seek>(input: R) -> Result<Decoded, AudioError> {
    let mut reader = OpusPcmReader::new(input)?;
    let channels = reader.channels();
    let mut pcm = Vec::new();
    while let Some(chunk) = reader.next_pcm()? {
        pcm.extend_from_slice(chunk);
    }
    Ok(Decoded { channels, pcm })
}

/// Reads an Ogg Opus stream packet by packet as 16 kHz PCM, with the pre-skip dropped and the
/// end trimmed as the last page says, so long recordings are never held whole in memory.
pub struct OpusPcmReader<R: Read + Seek> {
    packets: PacketReader<R>,
    decoder: opus::Decoder,
    channels: usize,
    /// 48 kHz granules of encoder delay at the start (from OpusHead).
    pre_skip_granules: u64,
    /// Interleaved samples still to drop for the pre-skip.
    skip: usize,
    /// Samples per channel handed out so far.
    produced: u64,
    tags_read: bool,
    ended: bool,
    out: Vec<i16>,
}

impl<R: Read + Seek> OpusPcmReader<R> {
    /// Reads and checks the stream's OpusHead.
    pub fn new(input: R) -> Result<Self, AudioError> {
        let mut packets = PacketReader::new(input);
        let head = match packets.read_packet() {
            Ok(Some(p)) => p,
            Ok(None) => return Err(AudioError::Format("empty file".into())),
            Err(e) => return Err(AudioError::Format(e.to_string())),
        };
        if head.data.len() < 19 || &head.data[..8] != b"OpusHead" {
            return Err(AudioError::Format("not an Ogg Opus stream".into()));
        }
        let channels = head.data[9] as usize;
        let ch = match channels {
            1 => opus::Channels::Mono,
            2 => opus::Channels::Stereo,
            n => return Err(AudioError::Format(format!("{n} channels"))),
        };
        let pre_skip_granules = u16::from_le_bytes([head.data[10], head.data[11]]) as u64;
        Ok(OpusPcmReader {
            packets,
            decoder: opus::Decoder::new(RATE, ch).map_err(codec)?,
            channels,
            pre_skip_granules,
            skip: (pre_skip_granules / GRANULE_PER_SAMPLE) as usize * channels,
            produced: 0,
            tags_read: false,
            ended: false,
            out: vec![0i16; 5760 * channels],
        })
    }

    /// Channels of the stream (1 or 2).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The next decoded stretch (interleaved), or `None` at the end of the stream. A page cut
    /// off by a crash ends the stream there.
    pub fn next_pcm(&mut self) -> Result<Option<&[i16]>, AudioError> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let p = match self.packets.read_packet() {
                Ok(Some(p)) => p,
                Ok(None) | Err(_) => {
                    self.ended = true;
                    return Ok(None);
                }
            };
            if !self.tags_read {
                self.tags_read = true; // OpusTags
                continue;
            }
            let ch = self.channels;
            let n = self
                .decoder
                .decode(&p.data, &mut self.out, false)
                .map_err(codec)?
                * ch;
            let start = self.skip.min(n);
            self.skip -= start;
            let mut end = n;
            if p.last_in_stream() {
                self.ended = true;
                let total =
                    p.absgp_page().saturating_sub(self.pre_skip_granules) / GRANULE_PER_SAMPLE;
                let left = total.saturating_sub(self.produced) as usize * ch;
                end = end.min(start + left);
            }
            self.produced += ((end - start) / ch) as u64;
            if end > start {
                return Ok(Some(&self.out[start..end]));
            }
        }
    }
}

fn codec(e: opus::Error) -> AudioError {
    AudioError::Codec(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tone(samples: usize) -> Vec<i16> {
        (0..samples)
            .map(|i| {
                ((i as f32 * 440.0 * std::f32::consts::TAU / RATE as f32).sin() * 8000.0) as i16
            })
            .collect()
    }

    #[test]
    fn round_trip_keeps_the_exact_length_and_the_signal() {
        let samples = 16_000 * 3 + 123; // not a whole number of frames
        let pcm = tone(samples);
        let mut w = OggOpusWriter::new(Cursor::new(Vec::new()), 1, 20_000, 7).unwrap();
        let mut padded = pcm.clone();
        padded.resize(samples.div_ceil(FRAME) * FRAME, 0);
        for f in padded.chunks(FRAME) {
            w.frame(f).unwrap();
        }
        let bytes = w.finish(samples as u64).unwrap().into_inner();
        let d = decode(Cursor::new(&bytes)).unwrap();
        assert_eq!(d.channels, 1);
        assert_eq!(d.pcm.len(), samples);
        let rms = |x: &[i16]| {
            (x.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
        };
        let mid = &d.pcm[16_000..32_000];
        assert!(
            (rms(mid) / rms(&pcm[16_000..32_000]) - 1.0).abs() < 0.2,
            "{}",
            rms(mid)
        );
        // About 20 kbit/s: three seconds in well under 12 KB.
        assert!(bytes.len() < 12_000, "{}", bytes.len());
    }

    #[test]
    fn a_stream_cut_off_mid_page_decodes_what_was_whole() {
        let mut w = OggOpusWriter::new(Cursor::new(Vec::new()), 1, 20_000, 1).unwrap();
        for f in tone(FRAME * 160).chunks(FRAME) {
            w.frame(f).unwrap();
        }
        let mut bytes = w.inner_mut().get_ref().clone();
        bytes.truncate(bytes.len() - 10);
        let d = decode(Cursor::new(&bytes)).unwrap();
        // Pages of 50 frames: the cut breaks the third, so two survive (less the pre-skip).
        assert!(d.pcm.len() >= FRAME * 100 - 320, "{}", d.pcm.len());
    }

    #[test]
    fn garbage_is_a_format_error() {
        for input in [&b""[..], b"OggS not really", &[0u8; 300]] {
            assert!(decode(Cursor::new(input)).is_err());
        }
    }
}
