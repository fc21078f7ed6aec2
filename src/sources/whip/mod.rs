//! WebRTC-HTTP Ingestion (WHIP, RFC 9725): a browser or an SFU publishes each participant's
//! audio to callwatch.
//!
//! [`offer`] reads what an SDP offer asks for, [`session`] wraps one str0m `Rtc` as a sans-IO
//! state machine (datagrams and time in; datagrams, PCM and its end out), [`track`] turns Opus
//! frames into PCM with concealment of gaps, and [`edge`] is the only I/O: a UDP socket per
//! candidate address and one task per session feeding a pipeline leg.

pub mod edge;
pub mod error;
pub mod offer;
pub mod params;
pub mod session;
pub mod track;

pub use edge::{LegFactory, WhipSessions, WhipSettings};
pub use error::WhipError;
pub use offer::OfferSummary;
pub use params::PublishParams;
pub use session::{EndReason, SessionOutput, WhipSession};
pub use track::OpusTrack;

#[cfg(test)]
mod tests;
