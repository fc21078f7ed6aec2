//! Call-surge detection (话务浪涌) and inquiry-topic trends.
//!
//! Call arrivals per queue, inquiry topics per distinct call and phrase-hit categories per
//! distinct call are counted per minute. Every minute the window that just closed is compared
//! with a learned baseline (see [`BaselineKind`]) by a Poisson upper-tail test; a key whose
//! count is both improbable and well above the baseline raises one [`SurgeAlert`], and one
//! all-clear follows when the count has been unremarkable for a while. Phrases no topic file
//! lists are found by n-gram clustering ([`EmergingTracker`]) and judged the same way as
//! [`Metric::Emerging`] keys. The detector is pure (time is passed in); [`SurgeHub`] shares it
//! between legs and the ticker.

mod alert;
mod cluster;
mod config;
mod detector;
mod emerging;
#[cfg(test)]
mod emerging_tests;
pub mod feed;
mod hub;
pub mod ngram;
pub mod poisson;
mod series;
pub mod sim;
pub mod sim_emerging;
#[cfg(test)]
mod tests;
mod topics;

pub use alert::{Metric, SurgeAlert, SurgeState};
pub use config::{BaselineKind, EmergingConfig, SurgeConfig};
pub use detector::{HistoryPoint, KeyHistory, KeyStatus, SurgeDetector};
pub use emerging::EmergingTracker;
pub use feed::{ClusterLink, Observation};
pub use hub::SurgeHub;
pub use topics::{Topic, TopicSet};
