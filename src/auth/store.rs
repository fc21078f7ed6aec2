//! Users, API tokens and browser sessions, kept in the archive database (schema 7).
//!
//! The CLI and the running service open the same file; SQLite's WAL lets `callwatch user add`
//! run beside `serve`. Every method takes the current time, so expiry is tested without
//! waiting.

use super::role::{CredentialKind, Principal, Role};
use super::secret;
use crate::sinks::archive::rows::{Exec, Read, SqliteRead};
use crate::sinks::archive::sql::args;
use crate::sinks::archive::PgArchive;
use rusqlite::Connection;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Failed logins in a row after which a user is locked until an admin unlocks it.
pub const LOCKOUT_AFTER: u32 = 10;

/// Longest user or token name.
const MAX_NAME_CHARS: usize = 64;

/// What went wrong with a user, token or session operation.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("opening the credential store: {0}")]
    Archive(#[from] crate::sinks::archive::ArchiveError),
    #[error("credential store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{kind} `{name}` already exists; pick another name or {hint}")]
    Exists {
        kind: &'static str,
        name: String,
        hint: &'static str,
    },
    #[error("no {kind} named `{name}`; `callwatch {kind} list` shows them")]
    Missing { kind: &'static str, name: String },
    #[error("bad name {0:?}: use 1 to 64 letters, digits, `.`, `_`, `-` or `@`")]
    BadName(String),
    #[error(transparent)]
    Password(#[from] secret::PasswordError),
    #[error("--expires-days must be between 1 and 3650")]
    BadExpiry,
}

/// Why a login was refused. The HTTP answer is the same for all of them (no enumeration);
/// the audit trail keeps which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Unknown user or wrong password.
    Invalid,
    /// Too many failed logins in a row; an admin must unlock the user.
    Locked,
    Disabled,
}

impl LoginRefusal {
    /// The audit outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginRefusal::Invalid => "invalid_credentials",
            LoginRefusal::Locked => "locked",
            LoginRefusal::Disabled => "disabled",
        }
    }
}

/// A user as listed (never its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub name: String,
    pub role: Role,
    pub queues: Option<Vec<String>>,
    pub disabled: bool,
    pub locked: bool,
    pub created_at: String,
}

/// A token as listed (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenView {
    pub name: String,
    pub role: Role,
    pub queues: Option<Vec<String>>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked: bool,
}

/// The credential store: in the node's SQLite archive file, or in the cluster's PostgreSQL
/// archive so users, tokens, sessions and the audit trail are shared by every node.
pub struct AuthStore {
    db: Store,
}

enum Store {
    Sqlite(Mutex<Connection>),
    Postgres(Arc<PgArchive>),
}

impl AuthStore {
    /// Opens (creating and migrating as needed) the store in the archive database `db`.
    pub fn open(db: &Path) -> Result<AuthStore, AuthError> {
        let conn =
            crate::sinks::archive::schema::open_writer(db, std::time::Duration::from_secs(5))?;
        Ok(AuthStore {
            db: Store::Sqlite(Mutex::new(conn)),
        })
    }

    /// The store in the PostgreSQL archive `archive` (its schema holds the tables).
    pub fn postgres(archive: Arc<PgArchive>) -> AuthStore {
        AuthStore {
            db: Store::Postgres(archive),
        }
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`.
    fn with<T: Send>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, AuthError> + Send,
    ) -> Result<T, AuthError> {
        match &self.db {
            Store::Sqlite(conn) => {
                let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                let tx = conn.unchecked_transaction()?;
                let out = f(&mut SqliteRead(&tx))?;
                tx.commit()?;
                Ok(out)
            }
            Store::Postgres(pg) => pg.transaction(f),
        }
    }

    /// Adds a user with an argon2id hash of `password`.
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        queues: Option<&[String]>,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        check_name(name)?;
        secret::check_password(password)?;
        let hash = secret::hash_password(password);
        let at = crate::clock::rfc3339(now);
        let n = self.with(|db| {
            Ok(db.exec(
                "INSERT OR IGNORE INTO users (name, role, queues, password_hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                &args![name, role.as_str(), queues_json(queues), hash, at],
            )?)
        })?;
        if n == 0 {
            return Err(AuthError::Exists {
                kind: "user",
                name: name.into(),
                hint: "change its password with `callwatch user passwd`",
            });
        }
        Ok(())
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserView>, AuthError> {
        self.with(|db| {
            let rows = db.rows(
                "SELECT name, role, queues, disabled, locked, created_at FROM users ORDER BY name",
                &[],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(UserView {
                        name: r.get(0)?,
                        role: role_of(r.get(1)?),
                        queues: queues_of(r.get(2)?),
                        disabled: r.get(3)?,
                        locked: r.get(4)?,
                        created_at: r.get(5)?,
                    })
                })
                .collect()
        })
    }

    /// Sets a new password; ends the user's sessions and lifts a lockout.
    pub fn set_password(
        &self,
        name: &str,
        password: &str,
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        secret::check_password(password)?;
        let hash = secret::hash_password(password);
        self.update_user(
            name,
            "UPDATE users SET password_hash = ?2, failed_logins = 0, locked = 0, updated_at = ?3 WHERE name = ?1",
            &hash,
            now,
        )
    }

    /// Disables a user and ends its sessions.
    pub fn disable_user(&self, name: &str, now: OffsetDateTime) -> Result<(), AuthError> {
        self.update_user(
            name,
            "UPDATE users SET disabled = 1, updated_at = ?3 WHERE name = ?1 AND ?2 = ?2",
            "",
            now,
        )
    }

    /// Enables a disabled user again.
    pub fn enable_user(&self, name: &str, now: OffsetDateTime) -> Result<(), AuthError> {
        self.update_user(
            name,
            "UPDATE users SET disabled = 0, updated_at = ?3 WHERE name = ?1 AND ?2 = ?2",
            "",
            now,
        )
    }

    /// Lifts a lockout after too many failed logins.
    pub fn unlock_user(&self, name: &str, now: OffsetDateTime) -> Result<(), AuthError> {
        self.update_user(
            name,
            "UPDATE users SET locked = 0, failed_logins = 0, updated_at = ?3 WHERE name = ?1 AND ?2 = ?2",
            "",
            now,
        )
    }

    fn update_user(
        &self,
        name: &str,
        sql: &str,
        arg: &str,
        now: OffsetDateTime,
    ) -> Result<(), AuthError> {
        self.with(|db| {
            let n = db.exec(sql, &args![name, arg, crate::clock::rfc3339(now)])?;
            if n == 0 {
                return Err(AuthError::Missing {
                    kind: "user",
                    name: name.into(),
                });
            }
            db.exec("DELETE FROM sessions WHERE \"user\" = ?1", &args![name])?;
            Ok(())
        })
    }

    /// Whether an enabled admin user exists.
    pub fn has_admin(&self) -> Result<bool, AuthError> {
        self.with(|db| {
            let db: &mut dyn Read = db;
            Ok(db
                .value(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND disabled = 0)",
                    &[],
                )?
                .unwrap_or(false))
        })
    }

    /// Checks a user's password. A wrong one counts towards the lockout.
    pub fn check_login(&self, name: &str, password: &str) -> Result<Principal, LoginRefusal> {
        type UserRow = (String, Option<String>, String, bool, bool);
        let row: Option<UserRow> = self
            .with(|db| {
                let db: &mut dyn Read = db;
                Ok(db.one(
                    "SELECT role, queues, password_hash, disabled, locked FROM users WHERE name = ?1",
                    &args![name],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )?)
            })
            .unwrap_or(None);
        let Some((role, queues, hash, disabled, locked)) = row else {
            // As slow as a wrong password, so a missing user does not show by timing.
            secret::verify_password(password, secret::dummy_hash());
            return Err(LoginRefusal::Invalid);
        };
        // Verified outside the lock: argon2 takes tens of milliseconds.
        let ok = secret::verify_password(password, &hash);
        if locked {
            return Err(LoginRefusal::Locked);
        }
        if !ok {
            let _ = self.with(|db| {
                Ok(db.exec(
                    "UPDATE users SET failed_logins = failed_logins + 1,
                            locked = CASE WHEN failed_logins + 1 >= ?2 THEN 1 ELSE 0 END
                     WHERE name = ?1",
                    &args![name, LOCKOUT_AFTER],
                )?)
            });
            return Err(LoginRefusal::Invalid);
        }
        if disabled {
            return Err(LoginRefusal::Disabled);
        }
        let _ = self.with(|db| {
            Ok(db.exec(
                "UPDATE users SET failed_logins = 0 WHERE name = ?1 AND failed_logins > 0",
                &args![name],
            )?)
        });
        Ok(Principal {
            name: name.into(),
            role: role_of(role),
            queues: queues_of(queues),
            kind: CredentialKind::Session,
        })
    }

    /// Starts a session for `user`; returns its id (the cookie value), stored as a digest.
    pub fn create_session(
        &self,
        user: &str,
        now: OffsetDateTime,
        ttl: std::time::Duration,
    ) -> Result<String, AuthError> {
        let id = secret::new_session_id();
        let now_ms = ms(now);
        let digest = secret::digest(&id);
        self.with(|db| {
            // Expired sessions go when new ones come, so the table stays small.
            db.exec(
                "DELETE FROM sessions WHERE expires_at_ms <= ?1",
                &args![now_ms],
            )?;
            db.exec(
                "INSERT INTO sessions (digest, \"user\", created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                &args![digest, user, now_ms, now_ms + ttl.as_millis() as i64],
            )?;
            Ok(())
        })?;
        Ok(id)
    }

    /// The user behind a session id, while the session lasts and the user is enabled.
    pub fn session(&self, id: &str, now: OffsetDateTime) -> Result<Option<Principal>, AuthError> {
        self.principal(
            "SELECT u.name, u.role, u.queues FROM sessions s JOIN users u ON u.name = s.\"user\"
             WHERE s.digest = ?1 AND s.expires_at_ms > ?2 AND u.disabled = 0 AND u.locked = 0",
            id,
            now,
            CredentialKind::Session,
        )
    }

    /// Ends a session (logout).
    pub fn end_session(&self, id: &str) -> Result<(), AuthError> {
        let digest = secret::digest(id);
        self.with(|db| Ok(db.exec("DELETE FROM sessions WHERE digest = ?1", &args![digest])?))?;
        Ok(())
    }

    /// Creates a token and returns it; only its digest is kept.
    pub fn create_token(
        &self,
        name: &str,
        role: Role,
        queues: Option<&[String]>,
        expires_days: Option<u32>,
        now: OffsetDateTime,
    ) -> Result<String, AuthError> {
        check_name(name)?;
        if expires_days.is_some_and(|d| d == 0 || d > 3650) {
            return Err(AuthError::BadExpiry);
        }
        let token = secret::new_token();
        let expires = expires_days.map(|d| ms(now) + i64::from(d) * 86_400_000);
        let row = args![
            name,
            secret::digest(&token),
            role.as_str(),
            queues_json(queues),
            crate::clock::rfc3339(now),
            expires
        ];
        let n = self.with(|db| {
            Ok(db.exec(
                "INSERT OR IGNORE INTO tokens (name, digest, role, queues, created_at, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                &row,
            )?)
        })?;
        if n == 0 {
            return Err(AuthError::Exists {
                kind: "token",
                name: name.into(),
                hint: "revoke it first with `callwatch token revoke`",
            });
        }
        Ok(token)
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<TokenView>, AuthError> {
        self.with(|db| {
            let rows = db.rows(
                "SELECT name, role, queues, created_at, expires_at_ms, revoked_at IS NOT NULL
                 FROM tokens ORDER BY name",
                &[],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(TokenView {
                        name: r.get(0)?,
                        role: role_of(r.get(1)?),
                        queues: queues_of(r.get(2)?),
                        created_at: r.get(3)?,
                        expires_at: r
                            .get::<Option<i64>>(4)?
                            .and_then(|m| OffsetDateTime::from_unix_timestamp(m / 1000).ok())
                            .map(crate::clock::rfc3339),
                        revoked: r.get(5)?,
                    })
                })
                .collect()
        })
    }

    /// Revokes a token; its name stays taken so the audit trail keeps meaning one token.
    pub fn revoke_token(&self, name: &str, now: OffsetDateTime) -> Result<(), AuthError> {
        let n = self.with(|db| {
            Ok(db.exec(
                "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                &args![name, crate::clock::rfc3339(now)],
            )?)
        })?;
        if n == 0 {
            return Err(AuthError::Missing {
                kind: "token",
                name: name.into(),
            });
        }
        Ok(())
    }

    /// The principal behind an API token, while it is neither revoked nor expired.
    pub fn token(&self, token: &str, now: OffsetDateTime) -> Result<Option<Principal>, AuthError> {
        self.principal(
            "SELECT name, role, queues FROM tokens WHERE digest = ?1 AND revoked_at IS NULL
             AND (expires_at_ms IS NULL OR expires_at_ms > ?2)",
            token,
            now,
            CredentialKind::Token,
        )
    }

    /// The principal `sql` finds for the digest of `secret` at `now` (name, role, queues).
    fn principal(
        &self,
        sql: &str,
        secret: &str,
        now: OffsetDateTime,
        kind: CredentialKind,
    ) -> Result<Option<Principal>, AuthError> {
        let digest = secret::digest(secret);
        let row: Option<(String, String, Option<String>)> = self.with(|db| {
            let db: &mut dyn Read = db;
            Ok(db.one(sql, &args![digest, ms(now)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?)
        })?;
        Ok(row.map(|(name, role, queues)| Principal {
            name,
            role: role_of(role),
            queues: queues_of(queues),
            kind,
        }))
    }

    /// Runs `f` in one transaction of the store (the audit trail shares it).
    pub(super) fn with_db<T: Send>(
        &self,
        f: impl FnOnce(&mut dyn Exec) -> Result<T, AuthError> + Send,
    ) -> Result<T, AuthError> {
        self.with(f)
    }
}

/// Milliseconds since the Unix epoch.
pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn check_name(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::BadName(name.into()))
    }
}

fn queues_json(queues: Option<&[String]>) -> Option<String> {
    queues.map(|q| serde_json::to_string(q).expect("a list of strings serialises"))
}

fn queues_of(json: Option<String>) -> Option<Vec<String>> {
    // A row that does not parse limits to no queue at all rather than to every queue.
    json.map(|j| serde_json::from_str(&j).unwrap_or_default())
}

fn role_of(s: String) -> Role {
    // Rows are only written from `Role`; an edited row that names no role gets the least.
    s.parse().unwrap_or(Role::Agent)
}
