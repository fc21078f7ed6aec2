//! Opus frames with their RTP media time -> continuous 48 kHz PCM: gaps in media time (lost
//! packets, DTX) are filled by libopus's concealment or silence, so the leg's media clock
//! keeps pace with the sender's.

use crate::sources::rtp::opus::{OpusStream, OPUS_RATE};

/// A gap longer than this is the sender pausing (muted track, DTX), not loss: it becomes
/// silence capped at this length, so a long mute does not feed minutes of zeros to the leg.
const MAX_GAP: u64 = OPUS_RATE as u64 * 5;

/// One received Opus track.
pub struct OpusTrack {
    decoder: OpusStream,
    /// Media time (48 kHz ticks) of the next expected sample.
    next: Option<u64>,
    /// Frames the decoder refused.
    pub bad_frames: u64,
    /// Samples produced so far.
    pub samples: u64,
}

impl OpusTrack {
    /// A track with a fresh decoder.
    pub fn new() -> Result<OpusTrack, crate::sources::rtp::decode::PayloadDecodeError> {
        Ok(OpusTrack {
            decoder: OpusStream::new()?,
            next: None,
            bad_frames: 0,
            samples: 0,
        })
    }

    /// The output sample rate.
    pub fn rate(&self) -> u32 {
        OPUS_RATE
    }

    /// Decodes one frame stamped `time` (48 kHz ticks, extended past wrap-around). A frame
    /// older than what was already played out is dropped: the leg's audio only moves forward.
    pub fn push(&mut self, time: u64, frame: &[u8]) -> Vec<i16> {
        let mut out = Vec::new();
        if let Some(next) = self.next {
            if time < next {
                return out;
            }
            let gap = time - next;
            if gap > 0 {
                out = self.decoder.conceal(gap.min(MAX_GAP) as usize);
            }
        }
        match self.decoder.decode(frame) {
            Ok(pcm) => {
                self.next = Some(time + pcm.len() as u64);
                out.extend(pcm);
            }
            Err(_) => {
                // The timestamp gap before the next good frame is concealed.
                self.bad_frames += 1;
                if self.next.is_none() {
                    self.next = Some(time);
                }
            }
        }
        self.samples += out.len() as u64;
        out
    }
}
