//! The cluster's surge detector: every node publishes its observations (call arrivals,
//! customer finals, phrase hits) to the event stream, reads all of them back in stream order
//! into its own detector, and ticks it; only the elected leader's ticks produce alerts.

use crate::sinks::events::NatsBus;
use crate::transforms::surge::{ClusterLink, Observation, SurgeHub};
use async_nats::jetstream::consumer;
use futures_util::StreamExt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

const RETRY: Duration = Duration::from_millis(500);

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

/// Reads every observation kept in the stream, then new ones, into `hub`.
async fn count(bus: std::sync::Weak<NatsBus>, hub: SurgeHub) {
    let mut next: Option<u64> = None;
    loop {
        let Some(b) = bus.upgrade() else { return };
        let (stream, filter) = match b.stream().await {
            Ok(s) => (s, b.observations_filter()),
            Err(_) => {
                drop(b);
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        drop(b);
        let policy = match next {
            // From what the stream still keeps: the detector's recent history.
            None => consumer::DeliverPolicy::All,
            Some(seq) => consumer::DeliverPolicy::ByStartSequence {
                start_sequence: seq,
            },
        };
        let mut messages = match crate::sinks::events::nats::ordered(&stream, policy, filter).await
        {
            Ok(m) => m,
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        loop {
            let m = tokio::select! {
                m = messages.next() => m,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if bus.strong_count() == 0 { return }
                    continue;
                }
            };
            match m {
                Some(Ok(m)) => {
                    if let Ok(info) = m.info() {
                        next = Some(info.stream_sequence + 1);
                    }
                    apply_payload(&hub, &m.payload);
                }
                Some(Err(_)) | None => break,
            }
        }
        tokio::time::sleep(RETRY).await;
    }
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
