//! What every media-fork protocol session yields, and how it fails.
//!
//! The protocol sessions ([`crate::sources::twilio`], [`crate::sources::audio_fork`]) are
//! sans-IO: the WebSocket handler feeds them frames and forwards their outputs, so the
//! same code runs under tests, fuzzers and the server.

use crate::call::{CallInfo, LegInfo};
use thiserror::Error;

/// One thing a fork session learned from the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum ForkOutput {
    /// The call and its legs are known; emitted once, before any audio.
    Start {
        call: CallInfo,
        legs: Vec<LegInfo>,
        /// Sample rate of every leg's [`ForkOutput::Audio`] samples, in Hz.
        sample_rate: u32,
    },
    /// Linear 16-bit PCM for one leg, mono, at the `sample_rate` announced in `Start`.
    Audio {
        leg: String,
        /// Media time of the first sample, in milliseconds from the start of the stream.
        media_ms: u64,
        samples: Vec<i16>,
    },
    /// The stream ended (protocol stop message or socket close); emitted at most once.
    Stop,
}

/// Why a fork session rejected a frame. Each variant suggests a WebSocket close code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ForkError {
    #[error("invalid JSON in text frame ({0}); send one JSON object per text frame")]
    InvalidJson(String),
    #[error("malformed `{event}` message: {detail}")]
    Malformed { event: String, detail: String },
    #[error("unsupported media format {encoding} at {sample_rate} Hz, {channels} channel(s); only audio/x-mulaw, 8000 Hz, mono is supported")]
    UnsupportedFormat {
        encoding: String,
        sample_rate: u64,
        channels: u64,
    },
    #[error(
        "unsupported sample rate {0} Hz; use 8000, 16000 or another multiple of 8000 up to 48000"
    )]
    UnsupportedSampleRate(u64),
    #[error("unsupported mix type `{0}`; use mono, mixed or stereo")]
    UnsupportedMixType(String),
    #[error(
        "sample rate unknown; set `sampleRate` in the fork metadata or `rate` in the URL query"
    )]
    SampleRateUnknown,
    #[error(
        "media payload is not valid base64 ({0}); send mu-law bytes encoded as standard base64"
    )]
    BadBase64(String),
    #[error("`{0}` received before `start`; the stream must begin with a start message")]
    BeforeStart(String),
    #[error("second `start` on the same stream; open a new connection per stream")]
    DuplicateStart,
    #[error("`{0}` received after the stream stopped")]
    AfterStop(String),
    #[error("media for unknown track `{track}`; the start message announced {announced:?}")]
    UnknownTrack {
        track: String,
        announced: Vec<String>,
    },
    #[error("binary frame received; this protocol carries media in JSON text frames only")]
    UnexpectedBinary,
    #[error("fork metadata must be a JSON object, got {0}")]
    MetadataNotObject(String),
}

/// WebSocket close code: the peer sent a data type the endpoint cannot accept.
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
/// WebSocket close code: the message content is inconsistent with its type.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// WebSocket close code: the message violates the protocol's rules.
pub const CLOSE_POLICY_VIOLATION: u16 = 1008;

impl ForkError {
    /// The WebSocket close code to send when closing the stream because of this error.
    pub fn close_code(&self) -> u16 {
        match self {
            ForkError::UnsupportedFormat { .. }
            | ForkError::UnsupportedSampleRate(_)
            | ForkError::UnsupportedMixType(_)
            | ForkError::UnexpectedBinary => CLOSE_UNSUPPORTED_DATA,
            ForkError::InvalidJson(_)
            | ForkError::Malformed { .. }
            | ForkError::BadBase64(_)
            | ForkError::UnknownTrack { .. }
            | ForkError::MetadataNotObject(_) => CLOSE_INVALID_PAYLOAD,
            ForkError::SampleRateUnknown
            | ForkError::BeforeStart(_)
            | ForkError::DuplicateStart
            | ForkError::AfterStop(_) => CLOSE_POLICY_VIOLATION,
        }
    }
}

/// A sans-IO media-fork protocol session: one per WebSocket connection.
///
/// The handler calls `on_text`/`on_binary` per frame and `on_close` when the socket
/// ends. An `Err` means the handler should close with [`ForkError::close_code`].
pub trait ForkSession {
    /// Feeds one text frame.
    fn on_text(&mut self, text: &str) -> Result<Vec<ForkOutput>, ForkError>;
    /// Feeds one binary frame.
    fn on_binary(&mut self, data: &[u8]) -> Result<Vec<ForkOutput>, ForkError>;
    /// The socket closed; yields `Stop` unless one was already emitted (or nothing started).
    fn on_close(&mut self) -> Vec<ForkOutput>;
}
