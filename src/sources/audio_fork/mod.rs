//! FreeSWITCH mod_audio_fork source (`audio.drachtio.org`): JSON metadata, then raw
//! 16-bit little-endian PCM in binary frames.
pub mod config;
pub mod session;

pub use config::{ForkConfig, MixType};
pub use session::{AudioForkSession, AUDIO_FORK_SUBPROTOCOL};

#[cfg(test)]
mod tests;
