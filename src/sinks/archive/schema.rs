//! Table layout of the archive and the connection settings every connection shares.
//!
//! The schema is versioned with `PRAGMA user_version`: `MIGRATIONS[i]` takes a file
//! from version `i` to `i + 1`, so a new release appends a step and never edits an old one.

use super::error::ArchiveError;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Ordered migration steps; the schema version of a file is how many have been applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE calls (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL DEFAULT '',
    agent_id      TEXT,
    queue         TEXT,
    started_at    TEXT NOT NULL,
    -- started_at as Unix milliseconds: RFC 3339 strings with different offsets or
    -- precisions do not sort as text, so filters and ordering use this column.
    started_at_ms INTEGER NOT NULL,
    ended_at      TEXT,
    end_reason    TEXT,
    duration_ms   INTEGER,
    metadata      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX calls_by_start ON calls(started_at_ms DESC, id DESC);
CREATE INDEX calls_by_agent ON calls(agent_id, started_at_ms);

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
    -- An INTEGER PRIMARY KEY is the rowid the FTS index points at; an implicit
    -- rowid could be renumbered by VACUUM and silently break the index.
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    call_id       TEXT NOT NULL,
    leg           TEXT NOT NULL,
    speaker       TEXT NOT NULL,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    language      TEXT NOT NULL,
    text          TEXT NOT NULL,
    segments      TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    FOREIGN KEY (call_id, leg) REFERENCES legs(call_id, leg) ON DELETE CASCADE
);
CREATE INDEX utterances_by_call ON utterances(call_id, leg, start_ms);
CREATE INDEX utterances_by_created ON utterances(created_at_ms);

CREATE TABLE hits (
    id           TEXT PRIMARY KEY,
    call_id      TEXT NOT NULL,
    leg          TEXT NOT NULL,
    speaker      TEXT NOT NULL,
    -- No foreign key: a hit may reach the archive before its utterance does.
    utterance_id TEXT NOT NULL,
    term         TEXT NOT NULL,
    category     TEXT NOT NULL,
    severity     TEXT NOT NULL,
    matched      TEXT NOT NULL,
    span_start   INTEGER NOT NULL,
    span_end     INTEGER NOT NULL,
    start_ms     INTEGER NOT NULL,
    end_ms       INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    FOREIGN KEY (call_id, leg) REFERENCES legs(call_id, leg) ON DELETE CASCADE
);
CREATE INDEX hits_by_call ON hits(call_id, start_ms);
CREATE INDEX hits_by_category ON hits(category, call_id);
CREATE INDEX hits_by_speaker ON hits(speaker, category, call_id);
CREATE INDEX hits_by_utterance ON hits(utterance_id);

-- Substring index over transcripts. Trigrams work for Chinese, which has no word
-- boundaries, as well as for English; queries shorter than three characters
-- cannot use it (see query.rs).
CREATE VIRTUAL TABLE utterances_fts USING fts5(
    text, content='utterances', content_rowid='seq', tokenize='trigram'
);
CREATE TRIGGER utterances_fts_insert AFTER INSERT ON utterances BEGIN
    INSERT INTO utterances_fts(rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER utterances_fts_delete AFTER DELETE ON utterances BEGIN
    INSERT INTO utterances_fts(utterances_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER utterances_fts_update AFTER UPDATE OF text ON utterances BEGIN
    INSERT INTO utterances_fts(utterances_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO utterances_fts(rowid, text) VALUES (new.seq, new.text);
END;

-- Ops SQLite refused for good (not a transient lock or I/O error) are kept here
-- with the reason instead of being dropped or retried forever.
CREATE TABLE rejected_ops (
    seq         INTEGER PRIMARY KEY,
    op          TEXT NOT NULL,
    error       TEXT NOT NULL,
    rejected_at TEXT NOT NULL
);
"#,
    r#"
-- QA scores: one per call (a re-score replaces it), and the failed items apart so
-- `failed_item=` filters use an index instead of scanning report JSON.
CREATE TABLE scores (
    call_id      TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    scorecard_id TEXT NOT NULL,
    score        REAL NOT NULL,
    passed       INTEGER NOT NULL,
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
    -- No foreign key to legs: a rule spans the legs of its call.
    call_id     TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    rule_id     TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL,
    severity    TEXT NOT NULL,
    actions     TEXT NOT NULL DEFAULT '[]',
    tags        TEXT NOT NULL DEFAULT '[]',
    at_ms       INTEGER NOT NULL,
    evidence    TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL
);
CREATE INDEX rule_firings_by_call ON rule_firings(call_id, at_ms);
CREATE INDEX rule_firings_by_rule ON rule_firings(rule_id, call_id);

CREATE TABLE call_tags (
    call_id TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    -- The rule that added the tag.
    rule_id TEXT NOT NULL,
    PRIMARY KEY (call_id, tag)
);
CREATE INDEX call_tags_by_tag ON call_tags(tag, call_id);
"#,
    // 3: surge alerts and complaint early warnings (their tags go to call_tags).
    r#"
CREATE TABLE surges (
    seq           INTEGER PRIMARY KEY,
    surge_id      TEXT NOT NULL,
    metric        TEXT NOT NULL,
    key           TEXT NOT NULL,
    state         TEXT NOT NULL,
    window_s      INTEGER NOT NULL,
    observed      INTEGER NOT NULL,
    expected      REAL NOT NULL,
    ratio         REAL NOT NULL,
    p_value       REAL NOT NULL,
    window_end    TEXT NOT NULL,
    window_end_ms INTEGER NOT NULL,
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
"#,
    // 4: whether a hit came from homophone matching (the text only sounds like the term).
    r#"
ALTER TABLE hits ADD COLUMN homophone INTEGER NOT NULL DEFAULT 0;
"#,
    // 5: utterances that produced no transcript are kept, with why (NULL: transcribed).
    r#"
ALTER TABLE utterances ADD COLUMN dropped TEXT;
"#,
    // 6: how far each spill journal has been replayed, written with the ops it applies.
    r#"
CREATE TABLE journal_replay (
    journal TEXT PRIMARY KEY,
    line    INTEGER NOT NULL
);
"#,
    // 7: users, API tokens, browser sessions and the audit trail (see `crate::auth`).
    r#"
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    -- JSON array of queue names; NULL: every queue.
    queues        TEXT,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    -- Failed logins in a row; at the lockout threshold `locked` is set until an admin lifts it.
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked        INTEGER NOT NULL DEFAULT 0,
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
    expires_at_ms INTEGER,
    revoked_at    TEXT
);
CREATE TABLE sessions (
    digest        TEXT PRIMARY KEY,
    user          TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user);
CREATE TABLE audit (
    seq     INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
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
CREATE TRIGGER audit_append_only BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
"#,
    // 8: supervisors' acknowledgements of surge alerts (the first one stands).
    r#"
CREATE TABLE surge_acks (
    surge_id TEXT PRIMARY KEY,
    acked_by TEXT NOT NULL,
    role     TEXT,
    acked_at TEXT NOT NULL,
    note     TEXT
);
"#,
    // 9: each leg's archived audio, and the media ranges of an utterance silenced in it.
    r#"
CREATE TABLE audio (
    call_id     TEXT NOT NULL,
    leg         TEXT NOT NULL,
    speaker     TEXT NOT NULL,
    -- Relative to the audio folder; named from digests, never from peer-chosen ids.
    file        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    -- NULL while recording (or when the process died mid-call: the file holds what was written).
    duration_ms INTEGER,
    bytes       INTEGER,
    masked_ms   INTEGER,
    -- Set when retention deleted the file.
    purged_at   TEXT,
    PRIMARY KEY (call_id, file)
);
CREATE INDEX audio_by_call ON audio(call_id, leg);
ALTER TABLE utterances ADD COLUMN audio_masked TEXT;
"#,
    // 10: reviewers' judgements (latest per hit, item and call; history is in the audit
    // trail) and acknowledgements of call alerts.
    r#"
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
    // 11: how a hit matched (exact, homophone, near, loose); `homophone` stays for older readers.
    r#"
ALTER TABLE hits ADD COLUMN match_mode TEXT NOT NULL DEFAULT 'exact';
UPDATE hits SET match_mode = 'homophone' WHERE homophone = 1;
"#,
    // 12: each utterance's sound key (see `sound`), indexed so reviewers can search by pinyin
    // and near-homophones. `sound_key()` is registered on the writer's connection.
    r#"
ALTER TABLE utterances ADD COLUMN sound TEXT NOT NULL DEFAULT '|';
UPDATE utterances SET sound = sound_key(text);
CREATE VIRTUAL TABLE utterances_sound USING fts5(
    sound, content='utterances', content_rowid='seq', tokenize='trigram'
);
INSERT INTO utterances_sound(utterances_sound) VALUES ('rebuild');
CREATE TRIGGER utterances_sound_insert AFTER INSERT ON utterances BEGIN
    INSERT INTO utterances_sound(rowid, sound) VALUES (new.seq, new.sound);
END;
CREATE TRIGGER utterances_sound_delete AFTER DELETE ON utterances BEGIN
    INSERT INTO utterances_sound(utterances_sound, rowid, sound) VALUES ('delete', old.seq, old.sound);
END;
CREATE TRIGGER utterances_sound_update AFTER UPDATE OF sound ON utterances BEGIN
    INSERT INTO utterances_sound(utterances_sound, rowid, sound) VALUES ('delete', old.seq, old.sound);
    INSERT INTO utterances_sound(rowid, sound) VALUES (new.seq, new.sound);
END;
"#,
];

/// Schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the read-write connection the writer owns, creating and migrating the file as needed.
pub(crate) fn open_writer(path: &Path, busy_timeout: Duration) -> Result<Connection, ArchiveError> {
    let open_err = |source| ArchiveError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    // WAL lets the HTTP readers query while the writer commits; FULL sync keeps a
    // committed transcript across power loss, and batching keeps the fsync count low.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )
    .map_err(open_err)?;
    register_sound_key(&conn).map_err(open_err)?;
    migrate(&mut conn, path)?;
    Ok(conn)
}

/// Opens a connection that can only read, and checks the schema is one this build understands.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, ArchiveError> {
    let open_err = |source| ArchiveError::Open {
        path: path.to_path_buf(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(open_err)?;
    let found = user_version(&conn).map_err(open_err)?;
    super::alerts::register(&conn).map_err(open_err)?;
    match found {
        v if v == SCHEMA_VERSION => Ok(conn),
        v if v > SCHEMA_VERSION => Err(ArchiveError::SchemaTooNew {
            path: path.to_path_buf(),
            found: v,
            known: SCHEMA_VERSION,
        }),
        v => Err(ArchiveError::SchemaMissing {
            path: path.to_path_buf(),
            found: v,
        }),
    }
}

/// `sound_key(text)` in SQL, for the migration that keys utterances archived before it.
fn register_sound_key(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "sound_key",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(super::sound::key(&ctx.get::<String>(0)?)),
    )
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), ArchiveError> {
    let found = user_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(ArchiveError::SchemaTooNew {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    // One transaction per step, so a crash mid-migration leaves the previous version intact.
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", from as i64 + 1)?;
        tx.commit()?;
        tracing::info!(version = from + 1, path = %path.display(), "archive schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_file_is_migrated_to_current_version_and_reopening_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = open_writer(&path, Duration::from_millis(100)).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        let conn = open_writer(&path, Duration::from_millis(100)).unwrap();
        assert_eq!(user_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn bundled_sqlite_has_fts5_trigram() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='trigram');
             INSERT INTO t VALUES ('我们保证保本保息');",
        )
        .unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM t WHERE t MATCH '\"保本保息\"'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn newer_schema_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(conn);
        let err = open_writer(&path, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, ArchiveError::SchemaTooNew { .. }), "{err}");
        let err = open_reader(&path).unwrap_err();
        assert!(matches!(err, ArchiveError::SchemaTooNew { .. }), "{err}");
    }

    #[test]
    fn reader_on_an_empty_file_says_to_start_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db");
        Connection::open(&path).unwrap();
        let err = open_reader(&path).unwrap_err();
        assert!(matches!(err, ArchiveError::SchemaMissing { .. }), "{err}");
    }
}
