//! Opus (RFC 7587) to mono 48 kHz PCM, with libopus's packet loss concealment for gaps.

use super::decode::PayloadDecodeError;

/// Opus RTP always counts time at 48 kHz.
pub const OPUS_RATE: u32 = 48_000;

/// Largest Opus packet duration (120 ms at 48 kHz).
const MAX_FRAME: usize = 5760;

/// Concealment beyond this much is plain silence: libopus fades to silence anyway, and a long
/// gap is a pause in sending (DTX, hold), not loss.
const MAX_PLC: usize = 4800;

/// One Opus stream's decoder state.
pub struct OpusStream {
    decoder: opus::Decoder,
    buf: Vec<i16>,
}

impl OpusStream {
    pub fn new() -> Result<Self, PayloadDecodeError> {
        let decoder = opus::Decoder::new(OPUS_RATE, opus::Channels::Mono)
            .map_err(|e| PayloadDecodeError::OpusInit(e.to_string()))?;
        Ok(OpusStream {
            decoder,
            buf: vec![0; MAX_FRAME],
        })
    }

    /// Decodes one packet (stereo packets are downmixed by libopus).
    pub fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, PayloadDecodeError> {
        if payload.is_empty() {
            // An empty payload is how some senders mark DTX; the timestamp gap fills it.
            return Ok(Vec::new());
        }
        let n = self
            .decoder
            .decode(payload, &mut self.buf, false)
            .map_err(|e| PayloadDecodeError::Opus(e.to_string()))?;
        Ok(self.buf[..n].to_vec())
    }

    /// Concealment audio for `samples` lost samples.
    pub fn conceal(&mut self, samples: usize) -> Vec<i16> {
        let mut out = Vec::with_capacity(samples);
        while out.len() < samples.min(MAX_PLC) {
            // libopus conceals in multiples of 2.5 ms; ask for at most what is missing.
            let want = (samples.min(MAX_PLC) - out.len()).min(MAX_FRAME);
            let want = (want / 120 * 120).max(120);
            match self.decoder.decode(&[], &mut self.buf[..want], false) {
                Ok(n) if n > 0 => out.extend_from_slice(&self.buf[..n]),
                _ => break,
            }
        }
        out.truncate(samples);
        out.resize(samples, 0);
        out
    }
}
