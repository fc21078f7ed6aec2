//! Pipeline stages between a decoded leg and the sinks.
pub mod asr;
pub mod decode;
pub mod matcher;
pub mod scorecard;
pub mod segment;
