//! Leader election on JetStream: the leader holds a lease message it renews; the lease
//! expires `LEASE` after its last renewal, and then any node may claim it and lead. A node
//! that cannot renew (NATS unreachable, another node took over) stops leading at once.

use async_nats::jetstream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a leader's claim lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often the leader renews, and others try to take over.
const RENEW: Duration = Duration::from_millis(2500);

/// Runs the election for `role` among the nodes sharing `stream`, setting `leader` while this
/// node (`node`) leads. Ends when `leader` is the only reference left (the node stopped).
///
/// The lease is one message on `<stream>.<role>` in a memory stream keeping one message per
/// subject for `LEASE`: a node claims it by publishing where the subject holds none
/// (`Nats-Expected-Last-Subject-Sequence: 0`) and renews it by publishing on top of its own
/// last one; JetStream refuses every other write, so at most one node holds it.
pub async fn elect(
    js: jetstream::Context,
    stream: String,
    role: &'static str,
    node: String,
    leader: Arc<AtomicBool>,
) {
    let subject = format!("{stream}.{role}");
    let mut ready = false;
    let mut held: Option<u64> = None;
    while Arc::strong_count(&leader) > 1 {
        if !ready {
            ready = open(&js, &stream).await;
        }
        let won = if ready {
            let mut headers = async_nats::HeaderMap::new();
            let expected = held.unwrap_or(0).to_string();
            headers.insert("Nats-Expected-Last-Subject-Sequence", expected.as_str());
            match js
                .publish_with_headers(subject.clone(), headers, node.clone().into_bytes().into())
                .await
            {
                Ok(ack) => ack.await.map(|a| a.sequence).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        } else {
            Err("lease stream not ready".to_string())
        };
        match won {
            Ok(seq) => {
                if held.is_none() {
                    tracing::info!(role, node = %node, "this node now leads the cluster's {role}");
                }
                held = Some(seq);
                leader.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                if held.take().is_some() {
                    tracing::warn!(role, error = %e, "this node no longer leads the cluster's {role}");
                }
                leader.store(false, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(RENEW).await;
    }
}

async fn open(js: &jetstream::Context, stream: &str) -> bool {
    js.get_or_create_stream(jetstream::stream::Config {
        name: stream.to_string(),
        description: Some("callwatch: which node leads what".into()),
        subjects: vec![format!("{stream}.>")],
        max_messages_per_subject: 1,
        max_age: LEASE,
        storage: jetstream::stream::StorageType::Memory,
        ..Default::default()
    })
    .await
    .map_err(|e| tracing::debug!(error = %e, "lease stream not ready; retrying"))
    .is_ok()
}
