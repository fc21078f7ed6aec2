//! SIPREC recording server (SRS, RFC 7865/7866): an SBC or PBX (the recording client) opens a
//! SIP session per recorded call, offers one RTP stream per participant and describes who
//! sends what in XML metadata. Each stream becomes one leg of the pipeline.
//!
//! Everything here except `server.rs` is sans-IO: parsers, the SDP answerer and the [`Srs`]
//! state machine take bytes and time and return messages and media commands.

mod config;
pub mod media;
pub mod message;
pub mod metadata;
pub mod multipart;
pub mod roles;
pub mod sdp;
pub mod server;
pub mod srs;

pub use config::{SipConfig, SipRules};
pub use message::{SipMessage, SipParseError, StreamFramer};
pub use metadata::{DataMode, Metadata, MetadataError, Participant};
pub use roles::{RoleRule, RoleRuleError};
pub use sdp::{Codec, Direction, SdpOffer};
pub use srs::{MediaCommand, MediaStream, Output, Peer, QueueSource, Srs, SrsConfig, Transport};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_peers;
