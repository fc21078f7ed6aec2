//! Glue between the legs of a call and its [`CallRules`] state: legs report observations and
//! media progress, the registry reports the call's end, and firings become `rule.fired` events
//! and archive rows here.

use super::ArchiveSink;
use crate::call::Speaker;
use crate::clock::{rfc3339, SharedClock};
use crate::sinks::archive::{ArchiveOp, RuleFiringRecord};
use crate::sinks::events::{Event, EventBus, Payload};
use crate::transforms::rules::{CallRules, Firing, Inspection, InspectionHandle, Observation};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Rule state of every live call. Cheap to clone.
#[derive(Clone)]
pub struct RulesHub {
    calls: Arc<Mutex<HashMap<String, Arc<Mutex<CallRules>>>>>,
    inspection: InspectionHandle,
    events: EventBus,
    archive: ArchiveSink,
    clock: SharedClock,
}

impl RulesHub {
    /// A hub evaluating the rules of the inspection set in force in `inspection`.
    pub fn new(
        inspection: InspectionHandle,
        events: EventBus,
        archive: ArchiveSink,
        clock: SharedClock,
    ) -> RulesHub {
        RulesHub {
            calls: Arc::default(),
            inspection,
            events,
            archive,
            clock,
        }
    }

    fn call(&self, call_id: &str) -> Arc<Mutex<CallRules>> {
        self.calls
            .lock()
            .unwrap()
            .entry(call_id.to_string())
            .or_default()
            .clone()
    }

    /// A leg joined the call.
    pub fn open_leg(&self, call_id: &str, leg: &str, speaker: Speaker) {
        self.call(call_id).lock().unwrap().open_leg(leg, speaker);
    }

    /// A partial or final transcript was matched on a leg.
    pub fn observe(&self, call_id: &str, obs: &Observation<'_>) {
        let current = self.inspection.load_full();
        let fired = self.call(call_id).lock().unwrap().observe(&current, obs);
        self.publish(call_id, fired);
    }

    /// A leg's media is settled (heard and transcribed) up to `settled_ms`.
    pub fn advance(&self, call_id: &str, leg: &str, settled_ms: u64) {
        let current = self.inspection.load_full();
        let fired = self
            .call(call_id)
            .lock()
            .unwrap()
            .advance(&current, leg, settled_ms);
        self.publish(call_id, fired);
    }

    /// A leg ended; deadlines stop waiting for it.
    pub fn close_leg(&self, call_id: &str, leg: &str) {
        let current = self.inspection.load_full();
        let fired = self.call(call_id).lock().unwrap().close_leg(&current, leg);
        self.publish(call_id, fired);
    }

    /// The call ended after `duration_ms` of media; decides the remaining rules and forgets it.
    pub fn end_call(&self, call_id: &str, duration_ms: u64) {
        let Some(call) = self.calls.lock().unwrap().remove(call_id) else {
            return;
        };
        let current: Arc<Inspection> = self.inspection.load_full();
        let fired = call.lock().unwrap().end(&current, duration_ms);
        self.publish(call_id, fired);
    }

    fn publish(&self, call_id: &str, fired: Vec<Firing>) {
        if fired.is_empty() {
            return;
        }
        let now = rfc3339(self.clock.now());
        for f in fired {
            let actions: Vec<String> = f.actions.iter().map(|a| a.as_str().to_string()).collect();
            tracing::info!(rule = %f.rule_id, category = %f.category, at_ms = f.at_ms, "rule fired");
            let start_ms = f
                .evidence
                .iter()
                .map(|e| e.start_ms)
                .min()
                .unwrap_or(f.at_ms);
            self.archive.send(ArchiveOp::RuleFired(RuleFiringRecord {
                id: uuid::Uuid::new_v4().to_string(),
                call_id: call_id.to_string(),
                rule_id: f.rule_id.clone(),
                description: f.description.clone(),
                category: f.category.clone(),
                severity: f.severity.as_str().to_string(),
                actions: actions.clone(),
                tags: f.tags.clone(),
                at_ms: f.at_ms,
                evidence: serde_json::to_value(&f.evidence).unwrap_or_default(),
                created_at: now.clone(),
            }));
            self.events.publish(Event {
                payload: Payload::RuleFired {
                    alert_id: crate::sinks::archive::alerts::alert_id(call_id, "rule", &f.rule_id),
                    rule_id: f.rule_id,
                    description: f.description,
                    category: f.category,
                    severity: f.severity.as_str().to_string(),
                    actions,
                    tags: f.tags,
                    at_ms: f.at_ms,
                    evidence: f.evidence,
                },
                call_id: call_id.to_string(),
                leg: None,
                speaker: None,
                start_ms: Some(start_ms.min(f.at_ms)),
                end_ms: Some(f.at_ms),
                at: now.clone(),
            });
        }
    }
}
