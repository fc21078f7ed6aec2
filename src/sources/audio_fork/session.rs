//! Sans-IO state machine for one FreeSWITCH mod_audio_fork WebSocket.

use super::config::{ForkConfig, MixType};
use crate::sources::fork::{ForkError, ForkOutput, ForkSession};
use serde_json::Value;
use std::collections::HashMap;

/// The WebSocket subprotocol mod_audio_fork asks for.
pub const AUDIO_FORK_SUBPROTOCOL: &str = "audio.drachtio.org";

#[derive(Debug)]
enum State {
    AwaitingMetadata,
    Streaming(Streaming),
    Stopped,
}

#[derive(Debug)]
struct Streaming {
    mix: MixType,
    sample_rate: u32,
    leg_names: Vec<String>,
    /// Bytes of a sample frame cut off at the end of the previous binary frame.
    carry: Vec<u8>,
    /// Sample frames (per channel) delivered so far; media time is derived from it.
    frames_seen: u64,
}

/// One mod_audio_fork connection.
///
/// The first text frame is the dialplan's JSON metadata and yields
/// [`ForkOutput::Start`]; later text frames are metadata updates and are ignored.
/// Binary frames carry 16-bit little-endian PCM, interleaved for stereo, cut at
/// arbitrary byte boundaries; a partial sample is carried to the next frame. If audio
/// arrives before any metadata, the URL query alone describes the stream.
///
/// Legs: `mono` (the caller, speaker customer unless `speaker` says otherwise), `mixed`
/// (both parties, speaker unknown unless `speaker` says otherwise), or for stereo `left`
/// (customer) and `right` (agent), swappable with `roles`.
#[derive(Debug)]
pub struct AudioForkSession {
    query: HashMap<String, String>,
    state: State,
}

impl AudioForkSession {
    /// A session for a connection whose URL carried `query` (already percent-decoded).
    pub fn new(query: &HashMap<String, String>) -> Self {
        AudioForkSession {
            query: query.clone(),
            state: State::AwaitingMetadata,
        }
    }

    fn start(
        &mut self,
        metadata: Option<&serde_json::Map<String, Value>>,
    ) -> Result<ForkOutput, ForkError> {
        let config = ForkConfig::resolve(&self.query, metadata)?;
        self.state = State::Streaming(Streaming {
            mix: config.mix,
            sample_rate: config.sample_rate,
            leg_names: config.legs.iter().map(|l| l.leg.clone()).collect(),
            carry: Vec::new(),
            frames_seen: 0,
        });
        Ok(ForkOutput::Start {
            call: config.call,
            legs: config.legs,
            sample_rate: config.sample_rate,
        })
    }
}

impl Streaming {
    fn audio(&mut self, data: &[u8]) -> Vec<ForkOutput> {
        let channels = self.mix.channels();
        let frame_bytes = 2 * channels;
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(data);
        let whole = bytes.len() / frame_bytes * frame_bytes;
        self.carry = bytes[whole..].to_vec();
        let frames = whole / frame_bytes;
        if frames == 0 {
            return Vec::new();
        }
        let media_ms = self.frames_seen * 1000 / self.sample_rate as u64;
        self.frames_seen += frames as u64;
        let mut per_channel = vec![Vec::with_capacity(frames); channels];
        for (i, pair) in bytes[..whole].chunks_exact(2).enumerate() {
            per_channel[i % channels].push(i16::from_le_bytes([pair[0], pair[1]]));
        }
        self.leg_names
            .iter()
            .zip(per_channel)
            .map(|(leg, samples)| ForkOutput::Audio {
                leg: leg.clone(),
                media_ms,
                samples,
            })
            .collect()
    }
}

impl ForkSession for AudioForkSession {
    fn on_text(&mut self, text: &str) -> Result<Vec<ForkOutput>, ForkError> {
        match self.state {
            State::AwaitingMetadata => {}
            State::Stopped => return Err(ForkError::AfterStop("metadata".into())),
            State::Streaming(_) => {
                tracing::debug!(len = text.len(), "audio_fork metadata update ignored");
                return Ok(Vec::new());
            }
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| ForkError::InvalidJson(e.to_string()))?;
        let Value::Object(metadata) = value else {
            return Err(ForkError::MetadataNotObject(value.to_string()));
        };
        Ok(vec![self.start(Some(&metadata))?])
    }

    fn on_binary(&mut self, data: &[u8]) -> Result<Vec<ForkOutput>, ForkError> {
        let mut out = Vec::new();
        if let State::AwaitingMetadata = self.state {
            out.push(self.start(None)?);
        }
        match &mut self.state {
            State::Streaming(s) => {
                out.extend(s.audio(data));
                Ok(out)
            }
            _ => Err(ForkError::AfterStop("audio".into())),
        }
    }

    fn on_close(&mut self) -> Vec<ForkOutput> {
        // A trailing partial sample cannot be decoded and is dropped with the stream.
        match std::mem::replace(&mut self.state, State::Stopped) {
            State::Streaming(_) => vec![ForkOutput::Stop],
            _ => Vec::new(),
        }
    }
}
