//! In-process fan-out of live events to every subscriber.
//!
//! Backpressure policy: drop-oldest per subscriber. The bus never waits for a slow subscriber;
//! one that falls more than `capacity` events behind loses the oldest ones and is told so with
//! an explicit `events.lagged` message carrying the count.

use super::event::{Event, Payload};
use crate::call::Speaker;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

/// An event with its JSON rendered once for all subscribers.
#[derive(Debug)]
pub struct Published {
    pub event: Event,
    pub json: String,
}

/// Cheap-to-clone handle to the bus.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Published>>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        EventBus { tx }
    }

    /// Publishes an event; never blocks. Events with no subscriber are simply not delivered.
    pub fn publish(&self, event: Event) {
        tracing::debug!(
            r#type = event.payload.type_name(),
            call_id = %event.call_id,
            leg = event.leg.as_deref().unwrap_or(""),
            "event"
        );
        let json = serde_json::to_string(&event).unwrap_or_else(|e| {
            tracing::error!(error = %e, "event not serialisable");
            String::new()
        });
        let _ = self.tx.send(Arc::new(Published { event, json }));
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
        }
    }

    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// One subscriber's view of the bus.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Published>>,
}

/// What a subscriber receives next.
#[derive(Debug)]
pub enum Delivery {
    Event(Arc<Published>),
    /// The subscriber fell behind and `missed` events were dropped for it.
    Lagged(u64),
    Closed,
}

impl Subscription {
    pub async fn next(&mut self) -> Delivery {
        match self.rx.recv().await {
            Ok(e) => Delivery::Event(e),
            Err(broadcast::error::RecvError::Lagged(n)) => Delivery::Lagged(n),
            Err(broadcast::error::RecvError::Closed) => Delivery::Closed,
        }
    }
}

/// A subscriber's filter, from `/v1/events` query parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub call_id: Option<String>,
    pub leg: Option<String>,
    pub speaker: Option<Speaker>,
    pub types: Option<Vec<String>>,
}

/// Every type a subscriber may ask for (`events.lagged` is always sent).
pub const KNOWN_TYPES: &[&str] = &[
    "call.started",
    "transcript.partial",
    "transcript.final",
    "utterance.dropped",
    "phrase.hit",
    "rule.fired",
    "qa.scored",
    "call.ended",
    "surge.alert",
    "assist.suggestion",
    "alert",
];

impl EventFilter {
    /// Parses `call_id`, `leg`, `speaker` and `type` (comma-separated list) query parameters.
    pub fn from_query(q: &HashMap<String, String>) -> Result<Self, String> {
        let speaker = match q.get("speaker").map(String::as_str) {
            None | Some("") | Some("any") => None,
            Some(s) => Some(
                Speaker::parse(s)
                    .ok_or_else(|| format!("unknown speaker `{s}` (use agent or customer)"))?,
            ),
        };
        let types = match q.get("type").map(String::as_str) {
            None | Some("") => None,
            Some(s) => {
                let list: Vec<String> = s.split(',').map(|t| t.trim().to_string()).collect();
                for t in &list {
                    if !KNOWN_TYPES.contains(&t.as_str()) {
                        return Err(format!(
                            "unknown event type `{t}` (known: {})",
                            KNOWN_TYPES.join(", ")
                        ));
                    }
                }
                Some(list)
            }
        };
        Ok(EventFilter {
            call_id: q.get("call_id").filter(|s| !s.is_empty()).cloned(),
            leg: q.get("leg").filter(|s| !s.is_empty()).cloned(),
            speaker,
            types,
        })
    }

    pub fn accepts(&self, e: &Event) -> bool {
        if matches!(e.payload, Payload::Lagged { .. }) {
            return true;
        }
        if self.call_id.as_ref().is_some_and(|c| *c != e.call_id) {
            return false;
        }
        if self.leg.is_some() && self.leg != e.leg {
            return false;
        }
        // Call-level events (no speaker) reach speaker-filtered subscribers too.
        if let (Some(want), Some(got)) = (self.speaker, e.speaker) {
            if want != got {
                return false;
            }
        }
        if let Some(types) = &self.types {
            if !types.iter().any(|t| t == e.payload.type_name()) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn filter_table() {
        let hit = || Payload::CallEnded {
            reason: crate::call::EndReason::Hangup,
            duration_ms: 1,
        };
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let f = EventFilter::from_query(&q(&[("call_id", "c1"), ("speaker", "agent")])).unwrap();
        assert!(f.accepts(&ev(hit(), "c1", Some(Speaker::Agent))));
        assert!(!f.accepts(&ev(hit(), "c1", Some(Speaker::Customer))));
        assert!(!f.accepts(&ev(hit(), "c2", Some(Speaker::Agent))));
        assert!(f.accepts(&ev(hit(), "c1", None)));
        let f = EventFilter::from_query(&q(&[("type", "phrase.hit,call.started")])).unwrap();
        assert!(!f.accepts(&ev(hit(), "c1", None)));
        assert!(EventFilter::from_query(&q(&[("type", "nope")])).is_err());
        assert!(EventFilter::from_query(&q(&[("speaker", "robot")])).is_err());
    }

    #[tokio::test]
    async fn slow_subscriber_is_told_it_lagged() {
        let bus = EventBus::new(16);
        let mut sub = bus.subscribe();
        for i in 0..40 {
            bus.publish(ev(
                Payload::CallEnded {
                    reason: crate::call::EndReason::Hangup,
                    duration_ms: i,
                },
                "c",
                None,
            ));
        }
        match sub.next().await {
            Delivery::Lagged(n) => assert_eq!(n, 24),
            other => panic!("expected lag, got {other:?}"),
        }
        assert!(matches!(sub.next().await, Delivery::Event(_)));
    }
}
