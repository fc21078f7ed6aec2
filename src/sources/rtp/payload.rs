//! Payload type -> media format, from the static RFC 3551 table or a negotiated `a=rtpmap`.

use thiserror::Error;

/// Audio codecs (and the non-audio formats a stream may interleave with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 mu-law, 8 kHz.
    Pcmu,
    /// G.711 A-law, 8 kHz.
    Pcma,
    /// Linear 16-bit big-endian PCM, mono, at the payload's clock rate.
    L16,
    /// Opus (RFC 7587): 48 kHz RTP clock whatever the coded bandwidth.
    Opus,
    /// RFC 4733 DTMF events: ignored, the audio timeline continues from the audio packets.
    TelephoneEvent,
    /// RFC 3389 comfort noise: stands for silence until the next audio packet.
    ComfortNoise,
}

impl Codec {
    /// Parses a codec name as given in the sessions API or an rtpmap (case-insensitive).
    pub fn parse(name: &str) -> Option<Codec> {
        match name.trim().to_ascii_lowercase().as_str() {
            "pcmu" | "g711u" | "ulaw" => Some(Codec::Pcmu),
            "pcma" | "g711a" | "alaw" => Some(Codec::Pcma),
            "l16" => Some(Codec::L16),
            "opus" => Some(Codec::Opus),
            "telephone-event" => Some(Codec::TelephoneEvent),
            "cn" => Some(Codec::ComfortNoise),
            _ => None,
        }
    }

    /// True for codecs that carry the leg's audio.
    pub fn is_audio(self) -> bool {
        !matches!(self, Codec::TelephoneEvent | Codec::ComfortNoise)
    }

    /// The payload type RFC 3551 assigns statically, if any.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Codec::Pcmu => Some(0),
            Codec::Pcma => Some(8),
            Codec::ComfortNoise => Some(13),
            _ => None,
        }
    }
}

/// One payload type's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadFormat {
    pub codec: Codec,
    /// RTP timestamp units per second.
    pub clock_rate: u32,
}

/// Why a payload mapping was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PayloadError {
    #[error("payload type {0} is outside 0..=127")]
    OutOfRange(u16),
    #[error("payload type {0} lies in 72..=76, which collides with RTCP on a muxed port (RFC 5761); pick a dynamic type in 96..=127")]
    CollidesWithRtcp(u8),
    #[error("rtpmap `{0}` is malformed; expected `encoding/clock_rate[/channels]`")]
    BadRtpmap(String),
    #[error("codec `{0}` is not supported; use PCMU, PCMA, L16, opus, telephone-event or CN")]
    UnknownCodec(String),
    #[error("{codec:?} at {rate} Hz is not supported; {hint}")]
    BadRate {
        codec: Codec,
        rate: u32,
        hint: &'static str,
    },
    #[error("{channels} channels of L16 are not supported; send mono (one leg per RTP stream)")]
    NotMono { channels: u32 },
}

/// The payload types a stream may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadMap {
    formats: Vec<(u8, PayloadFormat)>,
}

impl Default for PayloadMap {
    /// The static assignments of RFC 3551 this service decodes: 0 PCMU, 8 PCMA, 13 CN.
    fn default() -> Self {
        let mut m = PayloadMap {
            formats: Vec::new(),
        };
        for (pt, codec) in [
            (0, Codec::Pcmu),
            (8, Codec::Pcma),
            (13, Codec::ComfortNoise),
        ] {
            m.formats.push((
                pt,
                PayloadFormat {
                    codec,
                    clock_rate: 8000,
                },
            ));
        }
        m
    }
}

impl PayloadMap {
    /// An empty map (nothing decodes until formats are inserted).
    pub fn empty() -> Self {
        PayloadMap {
            formats: Vec::new(),
        }
    }

    /// Maps `payload_type` to `codec` at `clock_rate`, replacing any earlier mapping.
    pub fn insert(
        &mut self,
        payload_type: u16,
        codec: Codec,
        clock_rate: u32,
    ) -> Result<(), PayloadError> {
        let pt = u8::try_from(payload_type)
            .ok()
            .filter(|p| *p < 128)
            .ok_or(PayloadError::OutOfRange(payload_type))?;
        if (72..=76).contains(&pt) {
            return Err(PayloadError::CollidesWithRtcp(pt));
        }
        check_rate(codec, clock_rate)?;
        self.formats.retain(|(p, _)| *p != pt);
        self.formats.push((pt, PayloadFormat { codec, clock_rate }));
        Ok(())
    }

    /// Adds an SDP `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]` mapping.
    pub fn insert_rtpmap(&mut self, payload_type: u16, rtpmap: &str) -> Result<(), PayloadError> {
        let bad = || PayloadError::BadRtpmap(rtpmap.to_string());
        let mut parts = rtpmap.trim().split('/');
        let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
        let clock: u32 = parts
            .next()
            .and_then(|c| c.trim().parse().ok())
            .ok_or_else(bad)?;
        let channels: u32 = match parts.next() {
            Some(c) => c.trim().parse().map_err(|_| bad())?,
            None => 1,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        let codec = Codec::parse(name).ok_or_else(|| PayloadError::UnknownCodec(name.into()))?;
        // Opus always announces 2 channels in SDP (RFC 7587); the decoder downmixes to mono.
        if codec == Codec::L16 && channels != 1 {
            return Err(PayloadError::NotMono { channels });
        }
        self.insert(payload_type, codec, clock)
    }

    /// The format of a payload type, if mapped.
    pub fn get(&self, payload_type: u8) -> Option<PayloadFormat> {
        self.formats
            .iter()
            .find(|(p, _)| *p == payload_type)
            .map(|(_, f)| *f)
    }

    /// Every mapping, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, PayloadFormat)> + '_ {
        self.formats.iter().copied()
    }
}

fn check_rate(codec: Codec, rate: u32) -> Result<(), PayloadError> {
    let (ok, hint) = match codec {
        Codec::Pcmu | Codec::Pcma => (rate == 8000, "G.711 runs at 8000 Hz"),
        Codec::Opus => (
            rate == 48000,
            "Opus RTP always uses a 48000 Hz clock (RFC 7587)",
        ),
        Codec::L16 => (
            (crate::transforms::decode::leg_decoder::MIN_INPUT_RATE
                ..=crate::transforms::decode::leg_decoder::MAX_INPUT_RATE)
                .contains(&rate),
            "use 4000..=192000 Hz",
        ),
        Codec::TelephoneEvent | Codec::ComfortNoise => (
            (1000..=192_000).contains(&rate),
            "use the audio codec's clock rate",
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(PayloadError::BadRate { codec, rate, hint })
    }
}
