//! How each [`ArchiveOp`] becomes rows. Every statement is idempotent (insert-or-ignore or
//! upsert by id) so a batch replayed after a failed commit cannot duplicate anything.

use super::record::{
    ArchiveOp, CallWarning, HitRecord, RuleFiringRecord, ScoreRecord, SurgeAck, UtteranceRecord,
};
use crate::call::Speaker;
use crate::transforms::matcher::MatchMode;
use crate::transforms::surge::SurgeAlert;
use rusqlite::{params, Connection};
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

/// Writes one op on `conn` (which the caller holds inside a transaction).
pub(crate) fn apply(conn: &Connection, op: &ArchiveOp) -> rusqlite::Result<()> {
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
            conn.prepare_cached(
                "INSERT INTO calls (id, source, agent_id, queue, started_at, started_at_ms, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET
                    source = excluded.source, agent_id = excluded.agent_id, queue = excluded.queue,
                    started_at = excluded.started_at, started_at_ms = excluded.started_at_ms,
                    metadata = excluded.metadata
                 WHERE calls.ended_at IS NULL",
            )?
            .execute(params![
                call_id,
                source,
                agent_id,
                queue,
                started_at,
                unix_ms_or_now(started_at, "started_at"),
                metadata.to_string()
            ])?;
        }
        ArchiveOp::LegStarted {
            call_id,
            leg,
            speaker,
            participant,
            started_at,
        } => {
            ensure_call(conn, call_id, started_at)?;
            conn.prepare_cached(
                "INSERT INTO legs (call_id, leg, speaker, participant, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(call_id, leg) DO UPDATE SET
                    speaker = excluded.speaker, participant = excluded.participant,
                    started_at = excluded.started_at",
            )?
            .execute(params![
                call_id,
                leg,
                speaker.as_str(),
                participant,
                started_at
            ])?;
        }
        ArchiveOp::Utterance(u) => insert_utterance(conn, u)?,
        ArchiveOp::Hit(h) => insert_hit(conn, h)?,
        ArchiveOp::RuleFired(r) => insert_rule_firing(conn, r)?,
        ArchiveOp::CallEnded {
            call_id,
            ended_at,
            reason,
            duration_ms,
        } => {
            ensure_call(conn, call_id, ended_at)?;
            conn.prepare_cached(
                "UPDATE calls SET ended_at = ?2, end_reason = ?3, duration_ms = ?4 WHERE id = ?1",
            )?
            .execute(params![call_id, ended_at, reason.as_str(), duration_ms])?;
        }
        ArchiveOp::Surge(a) => insert_surge(conn, a)?,
        ArchiveOp::CallWarning(t) => insert_warning(conn, t)?,
        ArchiveOp::SurgeAck(a) => insert_surge_ack(conn, a)?,
        ArchiveOp::Score(r) => insert_score(conn, r)?,
        ArchiveOp::Audio(a) => super::audio_rows::upsert_audio(conn, a)?,
        ArchiveOp::AudioPurged {
            call_id,
            file,
            purged_at,
        } => super::audio_rows::mark_purged(conn, call_id, file, purged_at)?,
        ArchiveOp::CallPurged { call_id } => super::audio_rows::purge_call(conn, call_id)?,
        ArchiveOp::RejectedPurged { before } => super::audio_rows::purge_rejected(conn, before)?,
        ArchiveOp::HitReview(r) => super::review::upsert_hit_review(conn, r)?,
        ArchiveOp::ScoreOverride(o) => super::review::upsert_override(conn, o)?,
        ArchiveOp::CallReviewed(r) => super::review::upsert_call_review(conn, r)?,
        ArchiveOp::AlertAck(a) => super::alerts::insert_ack(conn, a)?,
    }
    Ok(())
}

fn insert_score(conn: &Connection, r: &ScoreRecord) -> rusqlite::Result<()> {
    ensure_call(conn, &r.call_id, &r.scored_at)?;
    conn.prepare_cached(
        "INSERT INTO scores (call_id, scorecard_id, score, passed, report, scored_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(call_id) DO UPDATE SET
            scorecard_id = excluded.scorecard_id, score = excluded.score,
            passed = excluded.passed, report = excluded.report, scored_at = excluded.scored_at",
    )?
    .execute(params![
        r.call_id,
        r.scorecard_id,
        r.score,
        r.passed,
        r.report.to_string(),
        r.scored_at
    ])?;
    conn.prepare_cached("DELETE FROM score_failures WHERE call_id = ?1")?
        .execute([&r.call_id])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO score_failures (call_id, item_id) VALUES (?1, ?2)",
    )?;
    for item in &r.failed_items {
        insert.execute([&r.call_id, item])?;
    }
    Ok(())
}

/// Creates a placeholder call row when a later op arrives before `CallStarted`;
/// `seen_at` stands in for the start time until the real one is written.
pub(super) fn ensure_call(conn: &Connection, call_id: &str, seen_at: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO calls (id, started_at, started_at_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![
        call_id,
        seen_at,
        unix_ms_or_now(seen_at, "started_at")
    ])?;
    Ok(())
}

/// Like [`ensure_call`], for the leg an utterance or hit belongs to.
fn ensure_leg(
    conn: &Connection,
    call_id: &str,
    leg: &str,
    speaker: Speaker,
    seen_at: &str,
) -> rusqlite::Result<()> {
    ensure_call(conn, call_id, seen_at)?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO legs (call_id, leg, speaker, started_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![call_id, leg, speaker.as_str(), seen_at])?;
    Ok(())
}

fn insert_utterance(conn: &Connection, u: &UtteranceRecord) -> rusqlite::Result<()> {
    ensure_leg(conn, &u.call_id, &u.leg, u.speaker, &u.created_at)?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO utterances
            (id, call_id, leg, speaker, start_ms, end_ms, language, text, segments, created_at,
             created_at_ms, dropped, audio_masked, sound)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
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
        super::sound::key(&u.text),
    ])?;
    Ok(())
}

fn insert_hit(conn: &Connection, h: &HitRecord) -> rusqlite::Result<()> {
    ensure_leg(conn, &h.call_id, &h.leg, h.speaker, &h.created_at)?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO hits
            (id, call_id, leg, speaker, utterance_id, term, category, severity, matched,
             span_start, span_end, start_ms, end_ms, created_at, homophone, match_mode)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
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
        h.how.as_str(),
    ])?;
    Ok(())
}

fn insert_rule_firing(conn: &Connection, r: &RuleFiringRecord) -> rusqlite::Result<()> {
    ensure_call(conn, &r.call_id, &r.created_at)?;
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT OR IGNORE INTO rule_firings
            (id, call_id, rule_id, description, category, severity, actions, tags, at_ms, evidence,
             created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
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
        r.created_at,
    ])?;
    for tag in &r.tags {
        conn.prepare_cached(
            "INSERT OR IGNORE INTO call_tags (call_id, tag, rule_id) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![r.call_id, tag, r.rule_id])?;
    }
    Ok(())
}

/// Keeps an op SQLite refused for good, with the reason, so it is never silently lost.
pub(crate) fn reject(conn: &Connection, op: &ArchiveOp, error: &str) -> rusqlite::Result<()> {
    let json = serde_json::to_string(op).unwrap_or_else(|e| format!("{op:?} (not JSON: {e})"));
    conn.prepare_cached("INSERT INTO rejected_ops (op, error, rejected_at) VALUES (?1, ?2, ?3)")?
        .execute(params![
            json,
            error,
            crate::clock::rfc3339(OffsetDateTime::now_utc())
        ])?;
    Ok(())
}

fn insert_surge(conn: &Connection, a: &SurgeAlert) -> rusqlite::Result<()> {
    let end_ms = unix_ms(&a.window_end).unwrap_or(0);
    conn.prepare_cached(
        "INSERT OR IGNORE INTO surges (surge_id, metric, key, state, window_s, observed, expected,
            ratio, p_value, window_end, window_end_ms, raised_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
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
        a.raised_at,
    ])?;
    Ok(())
}

fn insert_warning(conn: &Connection, t: &CallWarning) -> rusqlite::Result<()> {
    ensure_call(conn, &t.call_id, &t.tagged_at)?;
    conn.prepare_cached(
        "INSERT OR IGNORE INTO call_tags (call_id, tag, rule_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![t.call_id, t.tag, "assist"])?;
    // A call keeps the first evidence for a warning: that is when it was raised.
    conn.prepare_cached(
        "INSERT OR IGNORE INTO call_warnings (call_id, tag, level, reason, evidence, tagged_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        t.call_id,
        t.tag,
        t.level,
        t.reason,
        t.evidence.to_string(),
        t.tagged_at
    ])?;
    Ok(())
}

fn insert_surge_ack(conn: &Connection, a: &SurgeAck) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO surge_acks (surge_id, acked_by, role, acked_at, note)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![a.surge_id, a.acked_by, a.role, a.acked_at, a.note])?;
    Ok(())
}
