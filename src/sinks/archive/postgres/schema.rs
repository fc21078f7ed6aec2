//! The archive's tables in PostgreSQL: the same tables and columns as the SQLite file (so the
//! statements in `store` and `search` run on both), with `pg_trgm` GIN indexes where SQLite has
//! FTS5 trigram tables, and `grams` (every 1- and 2-character substring) for shorter terms.
//!
//! Versioned like the SQLite file: `MIGRATIONS[i]` takes the database from version `i` to
//! `i + 1`, recorded in `callwatch_schema`; a new release appends a step. Two nodes starting
//! together migrate one after the other (a transaction-scoped advisory lock).

use super::super::error::ArchiveError;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Every 1- and 2-character substring of t, ASCII letters lower-cased (as SQLite's LIKE
-- compares them): terms too short for trigrams are found through these. PL/pgSQL, whose
-- plans are cached: a SQL function here is planned again for every row written.
CREATE FUNCTION callwatch_grams(t text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    s text := translate(t, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
    n int := length(s);
    g text[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        g := g || substr(s, i, 1);
        IF i < n THEN
            g := g || substr(s, i, 2);
        END IF;
    END LOOP;
    RETURN g;
END
$$;

CREATE TABLE calls (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL DEFAULT '',
    agent_id      TEXT,
    queue         TEXT,
    started_at    TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    ended_at      TEXT,
    end_reason    TEXT,
    duration_ms   BIGINT,
    metadata      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX calls_by_start ON calls(started_at_ms DESC, id DESC);
CREATE INDEX calls_by_agent ON calls(agent_id, started_at_ms);
CREATE INDEX calls_by_queue ON calls(queue);

CREATE TABLE legs (
    call_id     TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    leg         TEXT NOT NULL,
    speaker     TEXT NOT NULL,
    participant TEXT,
    started_at  TEXT NOT NULL,
    PRIMARY KEY (call_id, leg)
);
CREATE INDEX legs_by_participant ON legs(participant, call_id);
CREATE INDEX legs_by_speaker ON legs(speaker, call_id);

CREATE TABLE utterances (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    call_id       TEXT NOT NULL,
    leg           TEXT NOT NULL,
    speaker       TEXT NOT NULL,
    start_ms      BIGINT NOT NULL,
    end_ms        BIGINT NOT NULL,
    language      TEXT NOT NULL,
    text          TEXT NOT NULL,
    segments      TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    dropped       TEXT,
    audio_masked  TEXT,
    sound         TEXT NOT NULL DEFAULT '|',
    grams         TEXT[] GENERATED ALWAYS AS (callwatch_grams(text)) STORED,
    FOREIGN KEY (call_id, leg) REFERENCES legs(call_id, leg) ON DELETE CASCADE
);
CREATE INDEX utterances_by_call ON utterances(call_id, leg, start_ms);
CREATE INDEX utterances_by_created ON utterances(created_at_ms);
CREATE INDEX utterances_text_trgm ON utterances USING gin (text gin_trgm_ops);
CREATE INDEX utterances_sound_trgm ON utterances USING gin (sound gin_trgm_ops);
CREATE INDEX utterances_grams ON utterances USING gin (grams);

CREATE TABLE hits (
    id           TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL,
    leg          TEXT NOT NULL,
    speaker      TEXT NOT NULL,
    utterance_id TEXT NOT NULL,
    term         TEXT NOT NULL,
    category     TEXT NOT NULL,
    severity     TEXT NOT NULL,
    matched      TEXT NOT NULL,
    span_start   BIGINT NOT NULL,
    span_end     BIGINT NOT NULL,
    start_ms     BIGINT NOT NULL,
    end_ms       BIGINT NOT NULL,
    created_at   TEXT NOT NULL,
    homophone    BIGINT NOT NULL DEFAULT 0,
    match_mode   TEXT NOT NULL DEFAULT 'exact',
    FOREIGN KEY (call_id, leg) REFERENCES legs(call_id, leg) ON DELETE CASCADE
);
CREATE INDEX hits_by_call ON hits(call_id, start_ms);
CREATE INDEX hits_by_category ON hits(category, call_id);
CREATE INDEX hits_by_speaker ON hits(speaker, category, call_id);
CREATE INDEX hits_by_utterance ON hits(utterance_id);

CREATE TABLE rejected_ops (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    op          TEXT NOT NULL,
    error       TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);

CREATE TABLE scores (
    call_id      TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    scorecard_id TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    passed       BIGINT NOT NULL,
    report       TEXT NOT NULL,
    scored_at    TEXT NOT NULL
);
CREATE INDEX scores_by_score ON scores(score);
CREATE TABLE score_failures (
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    PRIMARY KEY (call_id, item_id)
);
CREATE INDEX score_failures_by_item ON score_failures(item_id, call_id);
CREATE TABLE rule_firings (
    id          TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    rule_id     TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL,
    severity    TEXT NOT NULL,
    actions     TEXT NOT NULL DEFAULT '[]',
    tags        TEXT NOT NULL DEFAULT '[]',
    at_ms       BIGINT NOT NULL,
    evidence    TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL
);
CREATE INDEX rule_firings_by_call ON rule_firings(call_id, at_ms);
CREATE INDEX rule_firings_by_rule ON rule_firings(rule_id, call_id);
CREATE TABLE call_tags (
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    PRIMARY KEY (call_id, tag)
);
CREATE INDEX call_tags_by_tag ON call_tags(tag, call_id);

CREATE TABLE surges (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    surge_id      TEXT NOT NULL,
    metric        TEXT NOT NULL,
    key           TEXT NOT NULL,
    state         TEXT NOT NULL,
    window_s      BIGINT NOT NULL,
    observed      BIGINT NOT NULL,
    expected      DOUBLE PRECISION NOT NULL,
    ratio         DOUBLE PRECISION NOT NULL,
    p_value       DOUBLE PRECISION NOT NULL,
    window_end    TEXT NOT NULL,
    window_end_ms BIGINT NOT NULL,
    raised_at     TEXT NOT NULL,
    UNIQUE (surge_id, state)
);
CREATE INDEX surges_by_time ON surges(window_end_ms DESC, seq DESC);
CREATE INDEX surges_by_key ON surges(metric, key, window_end_ms);
CREATE TABLE call_warnings (
    call_id   TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    tag       TEXT NOT NULL,
    level     TEXT NOT NULL,
    reason    TEXT NOT NULL,
    evidence  TEXT NOT NULL DEFAULT '[]',
    tagged_at TEXT NOT NULL,
    PRIMARY KEY (call_id, tag)
);
CREATE TABLE surge_acks (
    surge_id TEXT PRIMARY KEY,
    acked_by TEXT NOT NULL,
    role     TEXT,
    acked_at TEXT NOT NULL,
    note     TEXT
);

CREATE TABLE audio (
    call_id     TEXT NOT NULL,
    leg         TEXT NOT NULL,
    speaker     TEXT NOT NULL,
    file        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    duration_ms BIGINT,
    bytes       BIGINT,
    masked_ms   BIGINT,
    purged_at   TEXT,
    PRIMARY KEY (call_id, file)
);
CREATE INDEX audio_by_call ON audio(call_id, leg);

CREATE TABLE hit_reviews (
    hit_id      TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('confirmed', 'rejected')),
    comment     TEXT,
    reviewer    TEXT NOT NULL,
    reviewed_at TEXT NOT NULL
);
CREATE INDEX hit_reviews_by_call ON hit_reviews(call_id, verdict);
CREATE TABLE score_overrides (
    call_id     TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('pass', 'fail')),
    comment     TEXT NOT NULL,
    reviewer    TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    PRIMARY KEY (call_id, item_id)
);
CREATE TABLE call_reviews (
    call_id     TEXT PRIMARY KEY,
    reviewer    TEXT NOT NULL,
    reviewed_at TEXT NOT NULL,
    comment     TEXT
);
CREATE TABLE alert_acks (
    alert_id TEXT PRIMARY KEY,
    call_id  TEXT NOT NULL,
    acked_by TEXT NOT NULL,
    role     TEXT,
    acked_at TEXT NOT NULL,
    note     TEXT
);
CREATE INDEX alert_acks_by_call ON alert_acks(call_id);
"#,
    r#"
-- The id of a call alert, as `alerts::alert_id` computes it: the first 8 bytes of
-- SHA-256("{kind}\0{call_id}\0{key}") in hex. The reader joins alerts to their
-- acknowledgements by it (SQLite registers the Rust function under the same name).
CREATE FUNCTION alert_id(call_id TEXT, kind TEXT, key TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT substr(encode(sha256(
      convert_to(kind, 'UTF8') || '\x00'::bytea || convert_to(call_id, 'UTF8')
      || '\x00'::bytea || convert_to(key, 'UTF8')), 'hex'), 1, 16)
$$;

-- How far each node's spill journal was replayed, recorded in the replaying transaction so
-- a crash mid-replay neither loses nor repeats ops.
CREATE TABLE journal_replay (
    journal TEXT PRIMARY KEY,
    line    BIGINT NOT NULL
);

-- Users, tokens, sessions and the audit trail, shared by the nodes of a cluster: a user logs
-- in on any node, and one trail records what was done on all of them.
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    queues        TEXT,
    password_hash TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked        BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
-- Tokens and sessions are kept as SHA-256 digests of the secret, never the secret.
CREATE TABLE tokens (
    name          TEXT PRIMARY KEY,
    digest        TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    queues        TEXT,
    created_at    TEXT NOT NULL,
    expires_at_ms BIGINT,
    revoked_at    TEXT
);
CREATE TABLE sessions (
    digest        TEXT PRIMARY KEY,
    "user"        TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions("user");
CREATE TABLE audit (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    who     TEXT NOT NULL,
    role    TEXT,
    action  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    call_id TEXT,
    detail  TEXT,
    address TEXT
);
CREATE INDEX audit_by_time ON audit(at_ms);
CREATE INDEX audit_by_call ON audit(call_id, at_ms);
-- Append-only: rows are never changed; only retention deletes the oldest.
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
"#,
];

/// Schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Any value: the advisory lock key callwatch migrations take.
const MIGRATION_LOCK: i64 = 0x6361_6c6c_7761_7463;

/// Brings the database to [`SCHEMA_VERSION`], refusing one written by a newer build or one
/// whose character classes hide Chinese from trigrams.
pub(super) fn migrate(client: &mut postgres::Client, url: &str) -> Result<(), ArchiveError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS callwatch_schema (version BIGINT NOT NULL)")?;
    let found: i64 = tx
        .query_opt("SELECT version FROM callwatch_schema", &[])?
        .map_or(0, |r| r.get(0));
    if found > SCHEMA_VERSION {
        return Err(ArchiveError::PostgresSchemaTooNew {
            url: super::redacted(url),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.batch_execute(step)?;
        tx.execute("DELETE FROM callwatch_schema", &[])?;
        tx.execute(
            "INSERT INTO callwatch_schema (version) VALUES ($1)",
            &[&(from as i64 + 1)],
        )?;
        tracing::info!(version = from + 1, "PostgreSQL archive schema migrated");
    }
    // pg_trgm keeps only letters and digits of the database's LC_CTYPE: under the C locale
    // Chinese characters are neither, and no Chinese search would ever match.
    let trigrams: i64 = tx
        .query_one(
            "SELECT coalesce(array_length(show_trgm('保本保息'), 1), 0)::BIGINT",
            &[],
        )?
        .get(0);
    if trigrams == 0 {
        return Err(ArchiveError::PostgresSetup(
            "the database's LC_CTYPE does not count Chinese characters as letters, so pg_trgm \
             cannot index Chinese transcripts; create the database with a UTF-8 locale, e.g. \
             CREATE DATABASE callwatch ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' \
             TEMPLATE template0"
                .into(),
        ));
    }
    tx.commit()?;
    Ok(())
}
