//! Why a WHIP request was refused; each variant maps to one HTTP status.

use thiserror::Error;

/// A refused WHIP request.
#[derive(Debug, Error)]
pub enum WhipError {
    /// The body is not an SDP offer str0m can read.
    #[error("the body is not a valid SDP offer ({0}); send the RTCPeerConnection's offer as application/sdp")]
    MalformedSdp(String),
    /// The offer has no audio section callwatch can receive.
    #[error("the offer has no sendable audio (m=audio with a non-zero port and send or sendrecv direction); add an audio track before publishing")]
    NoAudio,
    /// The offer's audio does not include Opus.
    #[error("the offer's audio does not include Opus (offered: {offered}); publish Opus, which every WebRTC stack supports")]
    NoOpus { offered: String },
    /// Call id, participant or role missing or invalid.
    #[error("{0}")]
    BadParams(String),
    /// No session at that resource.
    #[error("no WHIP session `{0}`; it ended or never existed (publish with POST /v1/whip)")]
    NotFound(String),
    /// The participant's leg is already publishing in that call.
    #[error("{0}")]
    Conflict(String),
    /// No UDP port could be bound for the session.
    #[error("cannot bind a UDP port for media on {addr}: {source}; widen [whip] port_min..port_max or free ports")]
    Socket {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// Every port of the configured range is taken.
    #[error("all UDP ports in [whip] {min}..={max} are in use; end sessions or widen the range")]
    PortsExhausted { min: u16, max: u16 },
    /// Too many live sessions.
    #[error("{0} WHIP sessions are live, the configured maximum; retry later or raise [whip] max_sessions")]
    TooMany(usize),
    /// The WebRTC stack refused the offer.
    #[error("the WebRTC stack refused the offer: {0}")]
    Rtc(String),
    /// The server is stopping.
    #[error("the server is shutting down; no new sessions")]
    ShuttingDown,
}
