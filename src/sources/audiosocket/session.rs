//! AudioSocket framing: every message is a 1-byte type, a 2-byte big-endian payload length and
//! the payload. The session buffers whatever bytes arrive (split or coalesced reads) and yields
//! whole messages.

use uuid::Uuid;

/// Sample rate of the original AudioSocket audio type (0x10, signed linear, mono).
pub const AUDIOSOCKET_RATE: u32 = 8000;

/// Largest audio payload accepted: one second at 8 kHz, 40 ms at 192 kHz. Asterisk sends 20 ms
/// frames (320 bytes at 8 kHz); a peer sending far more is not an AudioSocket peer.
pub const MAX_AUDIO_PAYLOAD: usize = 16_000;

const HEADER: usize = 3;
const TYPE_HANGUP: u8 = 0x00;
const TYPE_UUID: u8 = 0x01;
const TYPE_DTMF: u8 = 0x03;
const TYPE_AUDIO: u8 = 0x10;
const TYPE_ERROR: u8 = 0xff;

/// Sample rate of each audio message type: 0x10 is the original 8 kHz signed linear; newer
/// Asterisk (`res_audiosocket`, `AST_AUDIOSOCKET_KIND_AUDIO_SLIN12` .. `_SLIN192`) sends the
/// channel's own signed-linear rate as 0x11-0x18.
pub fn audio_rate(kind: u8) -> Option<u32> {
    Some(match kind {
        TYPE_AUDIO => AUDIOSOCKET_RATE,
        0x11 => 12_000,
        0x12 => 16_000,
        0x13 => 24_000,
        0x14 => 32_000,
        0x15 => 44_100,
        0x16 => 48_000,
        0x17 => 96_000,
        0x18 => 192_000,
        _ => return None,
    })
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSocketOutput {
    /// The call UUID that opens the stream.
    Start { uuid: Uuid },
    /// Mono samples at `rate` Hz (one rate per connection).
    Audio { rate: u32, samples: Vec<i16> },
    /// A DTMF digit (`0`-`9`, `*`, `#`, `A`-`D`).
    Dtmf(char),
    /// The peer hung up; nothing follows.
    Hangup,
    /// The peer reported an error (Asterisk's error code byte; 0 when it sent none).
    Error(u8),
}

/// Why a stream is not valid AudioSocket; the connection should be closed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AudioSocketError {
    #[error("{kind} message before the UUID message; an AudioSocket stream must start with its call UUID (type 0x01)")]
    BeforeUuid { kind: &'static str },
    #[error(
        "UUID message carries {0} bytes; it must carry exactly the 16 raw bytes of the call UUID"
    )]
    UuidLength(usize),
    #[error("second UUID message on one connection; open one connection per leg")]
    DuplicateUuid,
    #[error("unknown message type 0x{0:02x}; expected hangup (0x00), UUID (0x01), DTMF (0x03), audio (0x10, or 0x11-0x18 for 12-192 kHz) or error (0xff)")]
    UnknownType(u8),
    #[error("audio at {to} Hz after audio at {from} Hz on one connection; keep the channel's signed-linear format fixed while AudioSocket runs")]
    RateChanged { from: u32, to: u32 },
    #[error(
        "audio payload of {0} bytes has an odd length; samples are 16-bit, so it must be even"
    )]
    OddAudio(usize),
    #[error("audio payload of {len} bytes exceeds the {MAX_AUDIO_PAYLOAD}-byte limit; send 20 ms frames (320 bytes)")]
    OversizeAudio { len: usize },
    #[error("DTMF message carries {0} bytes; it must carry exactly one ASCII digit")]
    DtmfLength(usize),
    #[error("DTMF byte 0x{0:02x} is not a digit (0-9, *, #, A-D)")]
    DtmfDigit(u8),
}

/// Sans-IO AudioSocket reader: [`feed`](Self::feed) bytes as they arrive, then
/// [`poll`](Self::poll) until it returns `Ok(None)`.
#[derive(Debug, Default)]
pub struct AudioSocketSession {
    buf: Vec<u8>,
    /// Read position in `buf`; consumed bytes are dropped lazily on the next feed.
    pos: usize,
    uuid: Option<Uuid>,
    /// Rate of the first audio message; later ones must match.
    rate: Option<u32>,
    hung_up: bool,
    failed: bool,
}

impl AudioSocketSession {
    pub fn new() -> Self {
        Self::default()
    }

    /// The call UUID, once its message arrived.
    pub fn uuid(&self) -> Option<Uuid> {
        self.uuid
    }

    /// The audio sample rate, once the first audio message arrived.
    pub fn rate(&self) -> Option<u32> {
        self.rate
    }

    /// Whether the peer hung up (bytes after that are ignored).
    pub fn hung_up(&self) -> bool {
        self.hung_up
    }

    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.hung_up || self.failed {
            return;
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a whole message (a truncated tail at end of stream).
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next whole message, `Ok(None)` when more bytes are needed. After an error the
    /// session stays failed and yields nothing more.
    pub fn poll(&mut self) -> Result<Option<AudioSocketOutput>, AudioSocketError> {
        if self.hung_up || self.failed {
            return Ok(None);
        }
        let r = self.next_message();
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    fn next_message(&mut self) -> Result<Option<AudioSocketOutput>, AudioSocketError> {
        let avail = &self.buf[self.pos..];
        if avail.len() < HEADER {
            return Ok(None);
        }
        let kind = avail[0];
        let len = u16::from_be_bytes([avail[1], avail[2]]) as usize;
        let rate = audio_rate(kind);
        // Judge the header before waiting for the payload, so a bad peer is refused at once.
        if let Some(to) = rate {
            if self.uuid.is_none() {
                return Err(AudioSocketError::BeforeUuid { kind: "audio" });
            }
            if len > MAX_AUDIO_PAYLOAD {
                return Err(AudioSocketError::OversizeAudio { len });
            }
            if len % 2 == 1 {
                return Err(AudioSocketError::OddAudio(len));
            }
            if let Some(from) = self.rate.filter(|r| *r != to) {
                return Err(AudioSocketError::RateChanged { from, to });
            }
        }
        match kind {
            TYPE_UUID if self.uuid.is_some() => return Err(AudioSocketError::DuplicateUuid),
            TYPE_UUID if len != 16 => return Err(AudioSocketError::UuidLength(len)),
            TYPE_DTMF if self.uuid.is_none() => {
                return Err(AudioSocketError::BeforeUuid { kind: "DTMF" })
            }
            TYPE_DTMF if len != 1 => return Err(AudioSocketError::DtmfLength(len)),
            TYPE_HANGUP | TYPE_UUID | TYPE_DTMF | TYPE_ERROR => {}
            _ if rate.is_some() => {}
            other => return Err(AudioSocketError::UnknownType(other)),
        }
        if avail.len() < HEADER + len {
            return Ok(None);
        }
        let payload = &avail[HEADER..HEADER + len];
        let out = match kind {
            _ if rate.is_some() => {
                self.rate = rate;
                AudioSocketOutput::Audio {
                    rate: rate.expect("checked by the guard"),
                    samples: payload
                        .chunks_exact(2)
                        .map(|b| i16::from_le_bytes([b[0], b[1]]))
                        .collect(),
                }
            }
            TYPE_UUID => {
                let bytes: [u8; 16] = payload.try_into().expect("length checked above");
                let uuid = Uuid::from_bytes(bytes);
                self.uuid = Some(uuid);
                AudioSocketOutput::Start { uuid }
            }
            TYPE_DTMF => {
                let d = payload[0];
                if !(d.is_ascii_digit() || matches!(d, b'*' | b'#' | b'A'..=b'D')) {
                    return Err(AudioSocketError::DtmfDigit(d));
                }
                AudioSocketOutput::Dtmf(d as char)
            }
            // Asterisk sends a one-byte code; a bare error message is still an error.
            TYPE_ERROR => AudioSocketOutput::Error(payload.first().copied().unwrap_or(0)),
            _ => {
                self.hung_up = true;
                self.buf.clear();
                self.pos = 0;
                return Ok(Some(AudioSocketOutput::Hangup));
            }
        };
        self.pos += HEADER + len;
        Ok(Some(out))
    }
}

/// Encodes one message (for tests, fuzz seeds and tools that speak to AudioSocket peers).
pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("AudioSocket payloads are at most 65535 bytes");
    let mut v = Vec::with_capacity(HEADER + payload.len());
    v.push(kind);
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(payload);
    v
}
