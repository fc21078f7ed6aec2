//! Live agent assist and complaint early warning.
//!
//! Customer utterances are matched against a knowledge base (`knowledge/*.toml`): an intent
//! whose trigger phrases were heard pushes its article to the agent (once per intent per
//! call, highest confidence first), and escalation signals (complaint, regulator, media,
//! legal threats, repeated dissatisfaction) raise one warning per signal per call for
//! supervisors.

mod assistant;
mod config;
mod knowledge;
#[cfg(test)]
mod tests;

pub use assistant::{AlertEvidence, Assistant, Heard, Suggestion, Warning};
pub use config::AssistConfig;
pub use knowledge::{Article, Knowledge, Signal, STRONG_WEIGHT, TRIGGER_WEIGHT};
