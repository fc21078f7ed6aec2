//! The cluster's surge detector: every node publishes its observations (call arrivals,
//! customer finals, phrase hits) to the event stream, reads all of them back in stream order
//! into its own detector, and ticks it; only the elected leader's ticks produce alerts.

use crate::sinks::events::follow::{follow, Start};
use crate::sinks::events::nats::BusStream;
use crate::sinks::events::NatsBus;
use crate::transforms::surge::{ClusterLink, Observation, SurgeHub};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Makes `hub` count the whole cluster's calls through `bus`, and announce surges only while
/// this node leads. Returns whether this node leads now (it changes over time).
pub fn join(bus: &Arc<NatsBus>, hub: &SurgeHub) -> Result<Arc<AtomicBool>, &'static str> {
    let leader = Arc::new(AtomicBool::new(false));
    let publisher = Arc::downgrade(bus);
    let link = ClusterLink {
        publish: Arc::new(move |obs: Observation| {
            if let Some(bus) = publisher.upgrade() {
                bus.publish_observation(&obs);
            }
        }),
        leader: leader.clone(),
    };
    hub.join_cluster(link)?;
    tokio::spawn(super::leader::elect(
        bus.jetstream(),
        format!("{}_LEADER", bus.stream_name()),
        "surge",
        bus.node_id().to_string(),
        leader.clone(),
    ));
    tokio::spawn(count(Arc::downgrade(bus), hub.clone()));
    Ok(leader)
}

/// Reads every observation kept in the stream (the detector's recent history), then new ones,
/// into `hub`.
async fn count(bus: std::sync::Weak<NatsBus>, hub: SurgeHub) {
    let handle = move |m: async_nats::jetstream::Message| {
        apply_payload(&hub, &m.payload);
        std::future::ready(())
    };
    follow(BusStream::observations(bus), Start::All, handle).await;
}

/// Largest observation read from the stream; a customer final is a few hundred bytes.
pub const MAX_OBSERVATION_BYTES: usize = 64 * 1024;

/// Counts one stream message's observation into `hub`; a body this version cannot read, or
/// an oversized one, is logged and skipped. Read as untrusted input (anyone who may publish to
/// the subjects writes these).
pub fn apply_payload(hub: &SurgeHub, payload: &[u8]) {
    if payload.len() > MAX_OBSERVATION_BYTES {
        tracing::warn!(
            bytes = payload.len(),
            "oversized surge observation; skipped"
        );
        return;
    }
    match serde_json::from_slice::<Observation>(payload) {
        Ok(obs) => hub.apply(obs),
        Err(e) => tracing::warn!(error = %e, "unreadable surge observation; skipped"),
    }
}
