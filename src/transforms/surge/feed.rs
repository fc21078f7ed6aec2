//! What one node of a cluster saw that the cluster's surge detector counts. Every node
//! publishes its observations instead of counting them itself, and every node's detector
//! counts all of them in the same order, so each holds the cluster's counts; only the
//! elected leader announces the surges it finds. No call is counted twice (a call is
//! observed once, by the node that took it) and none is missed (every node reads them all).

use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use time::OffsetDateTime;

/// One observation, with its time in Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    CallStarted {
        call_id: String,
        queue: Option<String>,
        at_ms: i64,
    },
    /// A customer's final utterance (redacted), for topics and emerging phrases.
    CustomerFinal {
        call_id: String,
        text: String,
        at_ms: i64,
    },
    PhraseHits {
        call_id: String,
        categories: Vec<String>,
        at_ms: i64,
    },
}

/// Unix milliseconds of `t`.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The time of Unix milliseconds `ms` (the epoch for one out of range).
pub fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Hands an observation to the cluster; never blocks.
pub type Publish = Arc<dyn Fn(Observation) + Send + Sync>;

/// How a hub takes part in a cluster.
#[derive(Clone)]
pub struct ClusterLink {
    pub publish: Publish,
    /// Whether this node is the one that announces surges now.
    pub leader: Arc<AtomicBool>,
}
