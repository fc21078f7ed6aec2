//! Twilio Media Streams source: JSON text frames carrying base64 mu-law at 8 kHz.
mod messages;
pub mod session;

pub use session::{TwilioSession, TWILIO_ENCODING, TWILIO_RATE};

#[cfg(test)]
mod tests;
