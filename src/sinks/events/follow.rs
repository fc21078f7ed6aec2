//! Reading a JetStream subject in stream order for as long as a node runs: the one loop behind
//! the event fan-out, the cluster's surge counting and its lexicon sets. An interrupted
//! consumer (NATS restarted, the connection dropped) is made again from the message after the
//! last one handled, so nothing is skipped or handled twice.

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use std::future::Future;
use std::time::Duration;

/// Backoff between attempts while NATS is unreachable.
const RETRY: Duration = Duration::from_millis(500);
/// How often a quiet follower checks whether it is still wanted.
const CHECK: Duration = Duration::from_secs(1);

/// Where a follower starts the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every message the stream still keeps.
    All,
    /// The last message of each subject.
    LastPerSubject,
    /// Only messages published from now on.
    New,
}

/// What a follower reads and for how long.
pub trait Source: Send + 'static {
    /// The stream, created when missing; `None` when NATS cannot be reached now.
    fn stream(&self) -> impl Future<Output = Option<stream::Stream>> + Send;
    /// The subject filter.
    fn filter(&self) -> String;
    /// Whether the node still wants the messages; the follower ends once it does not.
    fn wanted(&self) -> bool;
    /// Told whether a consumer is reading now (for readiness).
    fn reading(&self, _now: bool) {}
}

/// Hands every message of `source` to `handle`, in stream order, from `start` on.
pub async fn follow<S, H, F>(source: S, start: Start, mut handle: H)
where
    S: Source,
    H: FnMut(jetstream::Message) -> F + Send,
    F: Future<Output = ()> + Send,
{
    let mut next: Option<u64> = None;
    while source.wanted() {
        let Some(stream) = source.stream().await else {
            tokio::time::sleep(RETRY).await;
            continue;
        };
        let policy = match (next, start) {
            (Some(start_sequence), _) => {
                consumer::DeliverPolicy::ByStartSequence { start_sequence }
            }
            (None, Start::All) => consumer::DeliverPolicy::All,
            (None, Start::LastPerSubject) => consumer::DeliverPolicy::LastPerSubject,
            // Pinned to a sequence, so a consumer made again later resumes there.
            (None, Start::New) => {
                let start_sequence = stream.cached_info().state.last_sequence + 1;
                next = Some(start_sequence);
                consumer::DeliverPolicy::ByStartSequence { start_sequence }
            }
        };
        let mut messages = match ordered(&stream, policy, source.filter()).await {
            Ok(m) => m,
            Err(e) => {
                source.reading(false);
                tracing::debug!(error = %e, "stream consumer not created; retrying");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        source.reading(true);
        loop {
            let m = tokio::select! {
                m = messages.next() => m,
                _ = tokio::time::sleep(CHECK) => {
                    if !source.wanted() { return }
                    continue;
                }
            };
            match m {
                Some(Ok(m)) => {
                    if let Ok(info) = m.info() {
                        next = Some(info.stream_sequence + 1);
                    }
                    handle(m).await;
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "stream consumer interrupted; making it again");
                    break;
                }
                None => break,
            }
        }
        source.reading(false);
        tokio::time::sleep(RETRY).await;
    }
}

/// An ordered consumer's messages on `filter` from `policy`.
pub(crate) async fn ordered(
    stream: &stream::Stream,
    policy: consumer::DeliverPolicy,
    filter: String,
) -> Result<consumer::pull::Ordered, String> {
    let c = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: policy,
            filter_subject: filter,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    c.messages().await.map_err(|e| e.to_string())
}
