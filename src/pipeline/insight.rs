//! What a final transcript feeds besides the archive and the hit events: the surge detector
//! (inquiry topics of customers, phrase categories of everyone) and the assistant (article
//! suggestions to the agent, escalation warnings to supervisors).

use super::Shared;
use crate::call::{LegInfo, Speaker};
use crate::clock::rfc3339;
use crate::facts::FinalUtterance;
use crate::sinks::archive::{ArchiveOp, CallWarning};
use crate::sinks::events::{Event, Payload};
use crate::transforms::assist::Heard;

/// Feeds one final utterance of `leg`, with the categories of its phrase hits, to the
/// detectors and publishes what they find.
pub(crate) fn on_final(shared: &Shared, leg: &LegInfo, u: &FinalUtterance, categories: Vec<&str>) {
    let now = shared.clock.now();
    shared
        .surge
        .phrase_hits(&leg.call_id, categories.iter().copied(), now);
    if leg.speaker != Speaker::Customer {
        return;
    }
    shared.surge.customer_final(&leg.call_id, &u.text, now);
    let Some(assist) = &shared.assist else {
        return;
    };
    let heard = Heard {
        utterance_id: &u.id,
        text: &u.text,
        start_ms: u.start_ms,
        end_ms: u.end_ms,
        at: now,
    };
    let (suggestions, warnings) = assist.on_customer(&leg.call_id, heard);
    let at = rfc3339(now);
    let event = |payload, leg_name: Option<String>, speaker| Event {
        payload,
        call_id: leg.call_id.clone(),
        leg: leg_name,
        speaker: Some(speaker),
        start_ms: Some(u.start_ms),
        end_ms: Some(u.end_ms),
        at: at.clone(),
    };
    if !suggestions.is_empty() {
        // Suggestions go to the agent's leg so an agent desktop subscribed to its own leg sees them.
        let agent_leg = shared.registry.agent_leg(&leg.call_id);
        for s in suggestions {
            tracing::info!(intent = %s.intent, article = %s.article_id, confidence = s.confidence, "assist suggestion");
            shared.events.publish(event(
                Payload::AssistSuggestion {
                    intent: s.intent,
                    article_id: s.article_id,
                    title: s.title,
                    answer: s.answer,
                    confidence: s.confidence,
                    triggers: s.triggers,
                    utterance_id: u.id.clone(),
                    customer_leg: leg.leg.clone(),
                },
                agent_leg.clone(),
                Speaker::Agent,
            ));
        }
    }
    for w in warnings {
        tracing::warn!(signal = %w.signal, level = %w.level, "complaint early warning");
        let tag = format!("complaint_escalation:{}", w.signal);
        let alert_id = crate::sinks::archive::alerts::alert_id(&leg.call_id, "warning", &tag);
        shared.archive.send(ArchiveOp::CallWarning(CallWarning {
            call_id: leg.call_id.clone(),
            tag,
            level: w.level.clone(),
            reason: w.reason.clone(),
            evidence: serde_json::to_value(&w.evidence).unwrap_or_default(),
            tagged_at: at.clone(),
        }));
        shared.events.publish(event(
            Payload::Alert {
                alert_id,
                kind: "complaint_escalation".into(),
                signal: w.signal,
                level: w.level,
                reason: w.reason,
                evidence: w.evidence,
            },
            Some(leg.leg.clone()),
            Speaker::Customer,
        ));
    }
}
