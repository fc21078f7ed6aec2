//! Errors of the archive, worded for the operator or API client who has to act on them.

use std::path::PathBuf;

/// Everything that can go wrong writing to or reading from the archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The database file could not be opened or prepared.
    #[error("cannot open the archive database at {path}: {source}; check that the directory exists and is writable by the service user")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The file holds a schema written by a newer build.
    #[error("the archive database at {path} has schema version {found}, newer than the {known} this build understands; upgrade callwatch or point it at another archive file")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A reader was opened on a file that was never initialised by a writer.
    #[error("the archive database at {path} has no callwatch schema (version {found}); start the service once against it so the writer creates the tables")]
    SchemaMissing { path: PathBuf, found: i64 },
    /// A query or filter given by a user is not acceptable; the message says what to change.
    #[error("bad query: {0}")]
    BadQuery(String),
    /// The writer thread has stopped, so the op or flush cannot be served.
    #[error("the archive writer has stopped, so nothing more can be written; this happens after shutdown, or if the writer thread panicked (see the log)")]
    Closed,
    /// The spill journal beside the database could not be opened.
    #[error("cannot open the archive's spill journal at {path}: {source}; it holds ops a previous run could not write, so do not delete it: fix its permissions or the disk and start again")]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the archive writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// A read query ran past the reader's time limit and was stopped.
    #[error("the query ran longer than {0:?} and was stopped; narrow it (from/to, call_id, speaker, longer search terms) or page with cursor, and try again")]
    QueryTimeout(std::time::Duration),
    /// PostgreSQL (`[archive] url`) reported an error, or could not be reached.
    #[error("PostgreSQL archive error: {}; check that the server is up and reachable and that the archive's user may write its tables", postgres_detail(.0))]
    Postgres(#[from] postgres::Error),
    /// No connection to the PostgreSQL archive could be made; `reason` carries the causes
    /// (refused, TLS certificate not trusted, authentication failed...).
    #[error("cannot connect to the PostgreSQL archive at {url}: {reason}; check the server, the URL, and for TLS the CA file")]
    PostgresConnect { url: String, reason: String },
    /// No pooled PostgreSQL connection could be had in time.
    #[error("cannot get a PostgreSQL connection: {0}; check that the server is up, reachable and accepts more connections")]
    PostgresPool(#[from] r2d2::Error),
    /// The PostgreSQL archive is not set up as callwatch needs; the message says what to do.
    #[error("{0}")]
    PostgresSetup(String),
    /// The PostgreSQL database holds a schema written by a newer build.
    #[error("the PostgreSQL archive at {url} has schema version {found}, newer than the {known} this build understands; upgrade callwatch on every node")]
    PostgresSchemaTooNew { url: String, found: i64, known: i64 },
    /// A column read back did not hold what the reader expects: the archive was changed by
    /// hand or by another program.
    #[error("archive row unreadable: {0}; the archive may have been edited outside callwatch")]
    Column(String),
    /// SQLite reported an error while running a query.
    #[error("archive database error: {0}; if it persists check disk space and file permissions")]
    Sqlite(#[from] rusqlite::Error),
}

/// A PostgreSQL error with what the server said (`postgres::Error` alone shows "db error").
fn postgres_detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

impl ArchiveError {
    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        ArchiveError::BadQuery(msg.into())
    }
}
