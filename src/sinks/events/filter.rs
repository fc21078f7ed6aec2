//! Which events one `/v1/events` subscriber asked for.

use super::event::{Event, Payload};
use crate::call::Speaker;
use std::collections::HashMap;

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
}
