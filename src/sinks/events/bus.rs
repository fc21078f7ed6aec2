//! Live events from publishers (legs, the call registry, surge, assist) to subscribers
//! (`/v1/events`, the supervisors' board), through one of two backends:
//! - [`LocalBus`](super::local::LocalBus), in process: the embedded default;
//! - [`NatsBus`](super::nats::NatsBus), a NATS JetStream stream that every node of a cluster
//!   publishes to and reads from, so each node serves the events of all of them.
//!
//! Every event gets an id, ascending in the order subscribers see events; a subscriber that
//! reconnects asks to resume after the last id it saw.

use super::event::Event;
use crate::call::CallScope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// An event as subscribers receive it, with its JSON rendered once for all of them.
#[derive(Debug)]
pub struct Published {
    /// Position in the event stream; resume with `?after=ID`.
    pub id: u64,
    pub event: Event,
    /// The event's JSON object, `id` first.
    pub json: String,
    /// The call's agent and queue, as the node that published the event knew them (`None`
    /// for events about no call, or about a call that node never saw start).
    pub scope: Option<CallScope>,
}

impl Published {
    /// Renders `event` (serialised as `body`, a JSON object) as event `id`.
    pub(super) fn new(id: u64, event: Event, body: &str, scope: Option<CallScope>) -> Self {
        let json = match body.strip_prefix('{') {
            Some(rest) if rest.starts_with('}') => format!("{{\"id\":{id}}}"),
            Some(rest) => format!("{{\"id\":{id},{rest}"),
            None => format!("{{\"id\":{id}}}"),
        };
        Published {
            id,
            event,
            json,
            scope,
        }
    }
}

/// How the bus stands, for readiness and `/v1/stats`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum BusHealth {
    /// In process; nothing can be down.
    Local,
    /// Connected to NATS with nothing waiting to be published.
    Connected,
    /// NATS is unreachable or behind: events wait in the outbox and are published once it
    /// is back.
    Degraded { waiting: usize, reason: String },
}

/// What a bus backend does. Publishing never blocks the caller; each backend states what it
/// does with events it cannot deliver at once.
pub trait EventBackend: Send + Sync + 'static {
    /// Takes one event for delivery, with the scope of its call.
    fn publish(&self, event: Event, scope: Option<CallScope>);
    /// A subscription to the events published from now on, or (with `after`) to those after
    /// that id that are still kept, then the live ones.
    fn subscribe(&self, after: Option<u64>) -> Subscription;
    fn subscriber_count(&self) -> usize;
    fn health(&self) -> BusHealth;
    /// Waits, for at most `limit`, until every event published so far has left this node;
    /// returns how many still wait.
    fn flush(&self, limit: std::time::Duration) -> FlushFuture<'_> {
        let _ = limit;
        Box::pin(std::future::ready(0))
    }
}

/// What [`EventBackend::flush`] returns.
pub type FlushFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = usize> + Send + 'a>>;

/// Cheap-to-clone handle to the bus.
#[derive(Clone)]
pub struct EventBus {
    backend: Arc<dyn EventBackend>,
    scopes: Arc<Mutex<ScopeBook>>,
}

impl EventBus {
    /// An in-process bus; a subscriber more than `capacity` events behind loses the oldest.
    pub fn new(capacity: usize) -> Self {
        EventBus::with_backend(Arc::new(super::local::LocalBus::new(capacity)))
    }

    pub fn with_backend(backend: Arc<dyn EventBackend>) -> Self {
        EventBus {
            backend,
            scopes: Arc::default(),
        }
    }

    /// Publishes an event; never blocks.
    pub fn publish(&self, event: Event) {
        tracing::debug!(
            r#type = event.payload.type_name(),
            call_id = %event.call_id,
            leg = event.leg.as_deref().unwrap_or(""),
            "event"
        );
        let scope = self.scopes.lock().expect("scope book lock").note(&event);
        self.backend.publish(event, scope);
    }

    /// The events published from now on.
    pub fn subscribe(&self) -> Subscription {
        self.backend.subscribe(None)
    }

    /// The events after id `after` that the bus still keeps, then the live ones. Events
    /// older than what is kept are reported as [`Delivery::Lagged`] first.
    pub fn subscribe_after(&self, after: u64) -> Subscription {
        self.backend.subscribe(Some(after))
    }

    pub fn subscriber_count(&self) -> usize {
        self.backend.subscriber_count()
    }

    pub fn health(&self) -> BusHealth {
        self.backend.health()
    }

    /// Before the process exits: waits up to `limit` for events still on their way out
    /// (to NATS); returns how many never left.
    pub async fn flush(&self, limit: std::time::Duration) -> usize {
        self.backend.flush(limit).await
    }
}

/// Most live calls whose scope the bus remembers; a call beyond it is published unscoped
/// (subscribers then ask the call registry, as for a call they never saw start).
const SCOPES_MAX: usize = 100_000;

/// The agent and queue of the calls this node announced, from their `call.started` to their
/// `call.ended`, so every event of a call carries its scope to other nodes.
#[derive(Default)]
struct ScopeBook(HashMap<String, CallScope>);

impl ScopeBook {
    fn note(&mut self, e: &Event) -> Option<CallScope> {
        use super::event::Payload;
        match &e.payload {
            Payload::CallStarted {
                agent_id, queue, ..
            } if self.0.len() < SCOPES_MAX => {
                let scope = (agent_id.clone(), queue.clone());
                self.0.insert(e.call_id.clone(), scope.clone());
                Some(scope)
            }
            Payload::CallEnded { .. } => self.0.remove(&e.call_id),
            _ => self.0.get(&e.call_id).cloned(),
        }
    }
}

/// One subscriber's view of the bus.
pub struct Subscription {
    inner: Inner,
}

enum Inner {
    /// In process: events kept for resuming first, then the live broadcast.
    Local(super::local::LocalSubscription),
    /// Fed by a task reading the backend (a JetStream consumer).
    Channel {
        rx: mpsc::Receiver<Delivery>,
        /// Decrements the backend's subscriber count when dropped.
        _count: super::nats::SubscriberCount,
    },
}

/// What a subscriber receives next.
#[derive(Debug)]
pub enum Delivery {
    Event(Arc<Published>),
    /// The subscriber fell behind (or asked to resume from events no longer kept) and
    /// `missed` events were dropped for it.
    Lagged(u64),
    Closed,
}

impl Subscription {
    pub(super) fn local(s: super::local::LocalSubscription) -> Self {
        Subscription {
            inner: Inner::Local(s),
        }
    }

    pub(super) fn channel(
        rx: mpsc::Receiver<Delivery>,
        count: super::nats::SubscriberCount,
    ) -> Self {
        Subscription {
            inner: Inner::Channel { rx, _count: count },
        }
    }

    pub async fn next(&mut self) -> Delivery {
        match &mut self.inner {
            Inner::Local(s) => s.next().await,
            Inner::Channel { rx, .. } => rx.recv().await.unwrap_or(Delivery::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::event::Payload;
    use super::*;
    use crate::call::Speaker;

    fn ev(payload: Payload, call: &str, speaker: Option<Speaker>) -> Event {
        Event {
            payload,
            call_id: call.into(),
            leg: speaker.map(|s| s.to_string()),
            speaker,
            start_ms: None,
            end_ms: None,
            at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn ended(i: u64) -> Payload {
        Payload::CallEnded {
            reason: crate::call::EndReason::Hangup,
            duration_ms: i,
        }
    }

    #[tokio::test]
    async fn slow_subscriber_is_told_it_lagged() {
        let bus = EventBus::new(16);
        let mut sub = bus.subscribe();
        for i in 0..40 {
            bus.publish(ev(ended(i), "c", None));
        }
        match sub.next().await {
            Delivery::Lagged(n) => assert_eq!(n, 24),
            other => panic!("expected lag, got {other:?}"),
        }
        assert!(matches!(sub.next().await, Delivery::Event(_)));
    }

    #[tokio::test]
    async fn a_subscriber_resumes_after_the_last_id_it_saw() {
        let bus = EventBus::new(16);
        for i in 0..10 {
            bus.publish(ev(ended(i), "c", None));
        }
        let mut sub = bus.subscribe_after(7);
        bus.publish(ev(ended(10), "c", None));
        let mut ids = Vec::new();
        for _ in 0..3 {
            match sub.next().await {
                Delivery::Event(p) => {
                    assert!(
                        p.json.starts_with(&format!("{{\"id\":{},", p.id)),
                        "{}",
                        p.json
                    );
                    ids.push(p.id);
                }
                other => panic!("expected an event, got {other:?}"),
            }
        }
        assert_eq!(ids, [8, 9, 10]);
        // Resuming from before what is kept says how much was lost, then goes on.
        for i in 11..40 {
            bus.publish(ev(ended(i), "c", None));
        }
        let mut sub = bus.subscribe_after(2);
        match sub.next().await {
            Delivery::Lagged(n) => assert_eq!(n, 40 - 16 - 2),
            other => panic!("expected lag, got {other:?}"),
        }
        match sub.next().await {
            Delivery::Event(p) => assert_eq!(p.id, 40 - 16 + 1),
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn every_event_of_a_call_carries_the_scope_it_started_with() {
        let mut book = ScopeBook::default();
        let started = ev(
            Payload::CallStarted {
                source: "t".into(),
                agent_id: Some("a1".into()),
                queue: Some("wealth".into()),
                participants: vec![],
            },
            "c",
            None,
        );
        let scope = Some((Some("a1".to_string()), Some("wealth".to_string())));
        assert_eq!(book.note(&started), scope);
        assert_eq!(book.note(&ev(ended(0), "other", None)), None);
        assert_eq!(book.note(&ev(ended(0), "c", None)), scope);
        assert_eq!(
            book.note(&ev(ended(0), "c", None)),
            None,
            "forgotten at its end"
        );
    }
}
