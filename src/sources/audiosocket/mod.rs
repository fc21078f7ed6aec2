//! Asterisk AudioSocket source (`app_audiosocket` / `res_audiosocket`): one TCP connection per
//! call leg carrying type-length-value messages. [`AudioSocketSession`] is the sans-IO framing;
//! [`listener`] is the TCP edge that turns connections into legs.

pub mod listener;
pub mod session;

pub use listener::{serve, AudioSocketRoles, RoleError};
pub use session::{
    AudioSocketError, AudioSocketOutput, AudioSocketSession, AUDIOSOCKET_RATE, MAX_AUDIO_PAYLOAD,
};

#[cfg(test)]
mod tests;
