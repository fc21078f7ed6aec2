//! QA scoring wiring: a live call is scored from the ledger its legs filled when it ends, and an
//! archived call from what the archive kept; both go through the same pure scorer.

use super::ArchiveSink;
use crate::sinks::archive::{ArchiveOp, CallDetail, ScoreRecord};
use crate::sinks::events::{Event, EventBus, Payload};
use crate::transforms::matcher::Severity;
use crate::transforms::scorecard::{
    score, CallLedger, LedgerHit, LedgerUtterance, ScoreReport, Scorecard,
};

/// Scores a finished call, archives the score and publishes `qa.scored`.
pub fn publish_score(
    events: &EventBus,
    archive: &ArchiveSink,
    card: &Scorecard,
    ledger: &CallLedger,
    now: &str,
) -> ScoreReport {
    let report = score(card, ledger);
    tracing::info!(call_id = %ledger.call_id, score = report.score, passed = report.passed, failed = ?report.failed_items, "call scored");
    archive.send(ArchiveOp::Score(record(&ledger.call_id, &report, now)));
    events.publish(Event::of_call(
        Payload::QaScored {
            scorecard_id: report.scorecard_id.clone(),
            score: report.score,
            passed: report.passed,
            failed_items: report.failed_items.clone(),
            items: report.items.clone(),
        },
        ledger.call_id.clone(),
        now.to_string(),
    ));
    report
}

/// The archive row of a score.
pub fn record(call_id: &str, report: &ScoreReport, now: &str) -> ScoreRecord {
    ScoreRecord {
        call_id: call_id.to_string(),
        scorecard_id: report.scorecard_id.clone(),
        score: report.score,
        passed: report.passed,
        failed_items: report.failed_items.clone(),
        report: serde_json::to_value(report).unwrap_or_default(),
        scored_at: now.to_string(),
    }
}

/// The ledger of an archived call, as the live path would have built it.
pub fn ledger_of(call: &CallDetail) -> CallLedger {
    CallLedger {
        call_id: call.call.id.clone(),
        duration_ms: call.call.duration_ms.unwrap_or(0),
        utterances: call
            .utterances
            .iter()
            .map(|u| LedgerUtterance {
                id: u.id.clone(),
                speaker: u.speaker,
                start_ms: u.start_ms,
                end_ms: u.end_ms,
                language: u.language.clone(),
                text: u.text.clone(),
            })
            .collect(),
        hits: call
            .hits
            .iter()
            .map(|h| LedgerHit {
                speaker: h.speaker,
                term: h.term.clone(),
                category: h.category.clone(),
                severity: Severity::parse(&h.severity).unwrap_or(Severity::Low),
                start_ms: h.start_ms,
            })
            .collect(),
    }
}
