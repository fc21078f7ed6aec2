//! How each [`ArchiveOp`] becomes rows. Every statement is idempotent (insert-or-ignore or
//! upsert by id) so a batch replayed after a failed commit cannot duplicate anything.

use super::record::{
    ArchiveOp, CallWarning, HitRecord, RuleFiringRecord, ScoreRecord, SurgeAck, UtteranceRecord,
};
use super::sql::{args, Db};
use crate::call::Speaker;
use crate::transforms::matcher::MatchMode;
use crate::transforms::surge::SurgeAlert;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Unix milliseconds of an RFC 3339 time, or `None` when it does not parse.
pub(crate) fn unix_ms(rfc3339: &str) -> Option<i64> {
    OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Unix milliseconds for a timestamp the pipeline produced. A malformed one must not
/// cost the row, so it is logged and replaced by the time of writing.
fn unix_ms_or_now(rfc3339: &str, what: &str) -> i64 {
    unix_ms(rfc3339).unwrap_or_else(|| {
        tracing::warn!(
            value = rfc3339,
            field = what,
            "archive got a malformed RFC 3339 time; storing the write time instead"
        );
        (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    })
}

/// Writes one op on `db` (which the caller holds inside a transaction).
pub(crate) fn apply<D: Db>(db: &mut D, op: &ArchiveOp) -> Result<(), D::Error> {
    match op {
        ArchiveOp::CallStarted {
            call_id,
            source,
            agent_id,
            queue,
            started_at,
            metadata,
        } => {
            // The row may already exist, made on demand by an utterance that arrived
            // first; the announced start is authoritative, so it overwrites. An ended call
            // is never rewritten (the registry refuses its id; this holds if it did not).
            db.exec(
        "INSERT INTO calls (id, source, agent_id, queue, started_at, started_at_ms, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET
                    source = excluded.source, agent_id = excluded.agent_id, queue = excluded.queue,
                    started_at = excluded.started_at, started_at_ms = excluded.started_at_ms,
                    metadata = excluded.metadata
                 WHERE calls.ended_at IS NULL",
        &args![call_id,
                source,
                agent_id,
                queue,
                started_at,
                unix_ms_or_now(started_at, "started_at"),
                metadata.to_string()],
    )?;
        }
        ArchiveOp::LegStarted {
            call_id,
            leg,
            speaker,
            participant,
            started_at,
        } => {
            ensure_call(db, call_id, started_at)?;
            db.exec(
                "INSERT INTO legs (call_id, leg, speaker, participant, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(call_id, leg) DO UPDATE SET
                    speaker = excluded.speaker, participant = excluded.participant,
                    started_at = excluded.started_at",
                &args![call_id, leg, speaker.as_str(), participant, started_at],
            )?;
        }
        ArchiveOp::Utterance(u) => insert_utterance(db, u)?,
        ArchiveOp::Hit(h) => insert_hit(db, h)?,
        ArchiveOp::RuleFired(r) => insert_rule_firing(db, r)?,
        ArchiveOp::CallEnded {
            call_id,
            ended_at,
            reason,
            duration_ms,
        } => {
            ensure_call(db, call_id, ended_at)?;
            db.exec(
                "UPDATE calls SET ended_at = ?2, end_reason = ?3, duration_ms = ?4 WHERE id = ?1",
                &args![call_id, ended_at, reason.as_str(), duration_ms],
            )?;
        }
        ArchiveOp::Surge(a) => insert_surge(db, a)?,
        ArchiveOp::CallWarning(t) => insert_warning(db, t)?,
        ArchiveOp::SurgeAck(a) => insert_surge_ack(db, a)?,
        ArchiveOp::Score(r) => insert_score(db, r)?,
        ArchiveOp::Audio(a) => super::audio_rows::upsert_audio(db, a)?,
        ArchiveOp::AudioPurged {
            call_id,
            file,
            purged_at,
        } => super::audio_rows::mark_purged(db, call_id, file, purged_at)?,
        ArchiveOp::CallPurged { call_id } => super::audio_rows::purge_call(db, call_id)?,
        ArchiveOp::RejectedPurged { before } => super::audio_rows::purge_rejected(db, before)?,
        ArchiveOp::HitReview(r) => super::review::upsert_hit_review(db, r)?,
        ArchiveOp::ScoreOverride(o) => super::review::upsert_override(db, o)?,
        ArchiveOp::CallReviewed(r) => super::review::upsert_call_review(db, r)?,
        ArchiveOp::AlertAck(a) => super::alerts::insert_ack(db, a)?,
    }
    Ok(())
}

fn insert_score<D: Db>(db: &mut D, r: &ScoreRecord) -> Result<(), D::Error> {
    ensure_call(db, &r.call_id, &r.scored_at)?;
    db.exec(
        "INSERT INTO scores (call_id, scorecard_id, score, passed, report, scored_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(call_id) DO UPDATE SET
            scorecard_id = excluded.scorecard_id, score = excluded.score,
            passed = excluded.passed, report = excluded.report, scored_at = excluded.scored_at",
        &args![
            r.call_id,
            r.scorecard_id,
            r.score,
            r.passed,
            r.report.to_string(),
            r.scored_at
        ],
    )?;
    db.exec(
        "DELETE FROM score_failures WHERE call_id = ?1",
        &args![&r.call_id],
    )?;
    for item in &r.failed_items {
        db.exec(
            "INSERT OR IGNORE INTO score_failures (call_id, item_id) VALUES (?1, ?2)",
            &args![&r.call_id, item],
        )?;
    }
    Ok(())
}

/// Creates a placeholder call row when a later op arrives before `CallStarted`;
/// `seen_at` stands in for the start time until the real one is written.
pub(super) fn ensure_call<D: Db>(db: &mut D, call_id: &str, seen_at: &str) -> Result<(), D::Error> {
    db.exec(
        "INSERT OR IGNORE INTO calls (id, started_at, started_at_ms) VALUES (?1, ?2, ?3)",
        &args![call_id, seen_at, unix_ms_or_now(seen_at, "started_at")],
    )?;
    Ok(())
}

/// Like [`ensure_call`], for the leg an utterance or hit belongs to.
fn ensure_leg<D: Db>(
    db: &mut D,
    call_id: &str,
    leg: &str,
    speaker: Speaker,
    seen_at: &str,
) -> Result<(), D::Error> {
    ensure_call(db, call_id, seen_at)?;
    db.exec(
        "INSERT OR IGNORE INTO legs (call_id, leg, speaker, started_at) VALUES (?1, ?2, ?3, ?4)",
        &args![call_id, leg, speaker.as_str(), seen_at],
    )?;
    Ok(())
}

fn insert_utterance<D: Db>(db: &mut D, u: &UtteranceRecord) -> Result<(), D::Error> {
    ensure_leg(db, &u.call_id, &u.leg, u.speaker, &u.created_at)?;
    db.exec(
        "INSERT OR IGNORE INTO utterances
            (id, call_id, leg, speaker, start_ms, end_ms, language, text, segments, created_at,
             created_at_ms, dropped, audio_masked, sound)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        &args![
            u.id,
            u.call_id,
            u.leg,
            u.speaker.as_str(),
            u.start_ms,
            u.end_ms,
            u.language,
            u.text,
            u.segments.to_string(),
            u.created_at,
            unix_ms_or_now(&u.created_at, "created_at"),
            u.dropped.map(|r| r.as_str()),
            (!u.audio_masked.is_empty())
                .then(|| serde_json::to_string(&u.audio_masked).unwrap_or_default()),
            super::sound::key(&u.text)
        ],
    )?;
    Ok(())
}

fn insert_hit<D: Db>(db: &mut D, h: &HitRecord) -> Result<(), D::Error> {
    ensure_leg(db, &h.call_id, &h.leg, h.speaker, &h.created_at)?;
    db.exec(
        "INSERT OR IGNORE INTO hits
            (id, call_id, leg, speaker, utterance_id, term, category, severity, matched,
             span_start, span_end, start_ms, end_ms, created_at, homophone, match_mode)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        &args![
            h.id,
            h.call_id,
            h.leg,
            h.speaker.as_str(),
            h.utterance_id,
            h.term,
            h.category,
            h.severity,
            h.matched,
            h.span_start,
            h.span_end,
            h.start_ms,
            h.end_ms,
            h.created_at,
            h.homophone || h.how != MatchMode::Exact,
            h.how.as_str()
        ],
    )?;
    Ok(())
}

fn insert_rule_firing<D: Db>(db: &mut D, r: &RuleFiringRecord) -> Result<(), D::Error> {
    ensure_call(db, &r.call_id, &r.created_at)?;
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    db.exec(
        "INSERT OR IGNORE INTO rule_firings
            (id, call_id, rule_id, description, category, severity, actions, tags, at_ms, evidence,
             created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        &args![
            r.id,
            r.call_id,
            r.rule_id,
            r.description,
            r.category,
            r.severity,
            json(&r.actions),
            json(&r.tags),
            r.at_ms,
            r.evidence.to_string(),
            r.created_at
        ],
    )?;
    for tag in &r.tags {
        db.exec(
            "INSERT OR IGNORE INTO call_tags (call_id, tag, rule_id) VALUES (?1, ?2, ?3)",
            &args![r.call_id, tag, r.rule_id],
        )?;
    }
    Ok(())
}

/// Keeps an op SQLite refused for good, with the reason, so it is never silently lost.
pub(crate) fn reject<D: Db>(db: &mut D, op: &ArchiveOp, error: &str) -> Result<(), D::Error> {
    let json = serde_json::to_string(op).unwrap_or_else(|e| format!("{op:?} (not JSON: {e})"));
    db.exec(
        "INSERT INTO rejected_ops (op, error, rejected_at) VALUES (?1, ?2, ?3)",
        &args![
            json,
            error,
            crate::clock::rfc3339(OffsetDateTime::now_utc())
        ],
    )?;
    Ok(())
}

fn insert_surge<D: Db>(db: &mut D, a: &SurgeAlert) -> Result<(), D::Error> {
    let end_ms = unix_ms(&a.window_end).unwrap_or(0);
    db.exec(
        "INSERT OR IGNORE INTO surges (surge_id, metric, key, state, window_s, observed, expected,
            ratio, p_value, window_end, window_end_ms, raised_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        &args![
            a.surge_id,
            a.metric.as_str(),
            a.key,
            a.state.as_str(),
            a.window_s,
            a.observed,
            a.expected,
            a.ratio,
            a.p_value,
            a.window_end,
            end_ms,
            a.raised_at
        ],
    )?;
    Ok(())
}

fn insert_warning<D: Db>(db: &mut D, t: &CallWarning) -> Result<(), D::Error> {
    ensure_call(db, &t.call_id, &t.tagged_at)?;
    db.exec(
        "INSERT OR IGNORE INTO call_tags (call_id, tag, rule_id) VALUES (?1, ?2, ?3)",
        &args![t.call_id, t.tag, "assist"],
    )?;
    // A call keeps the first evidence for a warning: that is when it was raised.
    db.exec(
        "INSERT OR IGNORE INTO call_warnings (call_id, tag, level, reason, evidence, tagged_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &args![
            t.call_id,
            t.tag,
            t.level,
            t.reason,
            t.evidence.to_string(),
            t.tagged_at
        ],
    )?;
    Ok(())
}

fn insert_surge_ack<D: Db>(db: &mut D, a: &SurgeAck) -> Result<(), D::Error> {
    db.exec(
        "INSERT OR IGNORE INTO surge_acks (surge_id, acked_by, role, acked_at, note)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &args![a.surge_id, a.acked_by, a.role, a.acked_at, a.note],
    )?;
    Ok(())
}
