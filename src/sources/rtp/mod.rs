//! RTP media reception (RFC 3550): packet and RTCP parsing, payload formats, a jitter buffer,
//! per-stream decoding to PCM and source latching ([`latch`]) are sans-IO ([`RtpStream`]);
//! the UDP port pool and the receiver task in [`net`] are the socket edge, shared by every
//! RTP-based source (plain RTP sessions, SIPREC).

pub mod decode;
pub mod jitter;
pub mod latch;
pub mod net;
pub mod opus;
pub mod packet;
pub mod payload;
pub mod rtcp;
pub mod sessions;
pub mod srtp;
pub mod stream;

pub use jitter::{JitterBuffer, JitterConfig, JitterStats};
pub use net::{PortError, PortPair, ReceiverHandle, ReceiverOptions, RtpPortPool};
pub use packet::{RtpError, RtpPacket};
pub use payload::{Codec, PayloadError, PayloadFormat, PayloadMap};
pub use rtcp::{is_rtcp, parse_rtcp, RtcpError};
pub use stream::{RtpStream, StreamConfig, StreamError, StreamStats};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_latch;
