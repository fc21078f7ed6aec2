//! Pipeline stages between a decoded leg and the sinks.
pub mod asr;
pub mod assist;
pub mod decode;
pub mod matcher;
pub mod phrasebook;
pub mod redact;
pub mod rules;
pub mod scorecard;
pub mod segment;
pub mod surge;
pub mod toml_source;
