//! Payload bytes -> 16-bit PCM for one stream's audio codec, and concealment of lost audio.

use super::payload::Codec;
use crate::transforms::decode::{decode_alaw, decode_ulaw};
use thiserror::Error;

/// Why a payload could not be decoded. The packet is skipped; the gap it leaves is concealed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PayloadDecodeError {
    #[error("L16 payload of {0} bytes is not a whole number of 16-bit samples")]
    OddL16(usize),
    #[error("Opus packet rejected by the decoder: {0}")]
    Opus(String),
    #[error("cannot create an Opus decoder: {0}")]
    OpusInit(String),
}

/// Decoder for one audio codec; keeps codec state (Opus) across packets.
pub(crate) enum AudioDecoder {
    Pcmu,
    Pcma,
    L16,
    Opus(super::opus::OpusStream),
}

impl AudioDecoder {
    pub(crate) fn new(codec: Codec) -> Result<Option<AudioDecoder>, PayloadDecodeError> {
        Ok(match codec {
            Codec::Pcmu => Some(AudioDecoder::Pcmu),
            Codec::Pcma => Some(AudioDecoder::Pcma),
            Codec::L16 => Some(AudioDecoder::L16),
            Codec::Opus => Some(AudioDecoder::Opus(super::opus::OpusStream::new()?)),
            Codec::TelephoneEvent | Codec::ComfortNoise => None,
        })
    }

    pub(crate) fn decode(&mut self, payload: &[u8]) -> Result<Vec<i16>, PayloadDecodeError> {
        match self {
            AudioDecoder::Pcmu => Ok(decode_ulaw(payload)),
            AudioDecoder::Pcma => Ok(decode_alaw(payload)),
            AudioDecoder::L16 => {
                if !payload.len().is_multiple_of(2) {
                    return Err(PayloadDecodeError::OddL16(payload.len()));
                }
                Ok(payload
                    .chunks_exact(2)
                    .map(|b| i16::from_be_bytes([b[0], b[1]]))
                    .collect())
            }
            AudioDecoder::Opus(d) => d.decode(payload),
        }
    }

    /// `samples` of audio standing in for what was lost: silence, or Opus's concealment.
    pub(crate) fn conceal(&mut self, samples: usize) -> Vec<i16> {
        match self {
            AudioDecoder::Opus(d) => d.conceal(samples),
            _ => vec![0; samples],
        }
    }
}
