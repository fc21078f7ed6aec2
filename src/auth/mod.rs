//! Who may do what: users with argon2id passwords, API tokens, browser sessions, the
//! route-by-role table and the audit trail.
//!
//! Credentials live in the archive database (tables `users`, `tokens`, `sessions`,
//! `audit`), so the CLI can manage them while `serve` runs. The service resolves a token or
//! session on each request through a short-lived cache: a revoked token or disabled user
//! stops working within [`CACHE_TTL`].

pub mod audit;
pub mod policy;
pub mod role;
pub mod secret;
pub mod store;
pub mod throttle;

pub use audit::{AuditEntry, AuditFilter, AuditPage, AuditRow};
pub use policy::Access;
pub use role::{parse_queues, CredentialKind, Principal, Role};
pub use store::{AuthError, AuthStore, LoginRefusal, TokenView, UserView};

use crate::clock::SharedClock;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a resolved token or session is trusted before the store is asked again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);

/// Most cached credentials; the cache is emptied when it fills.
const CACHE_MAX: usize = 10_000;

/// Name of the browser session cookie.
pub const SESSION_COOKIE: &str = "callwatch_session";

/// The file the first admin's password goes to, in the data dir.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Authentication settings of the running service.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Failed logins per user or per address within `throttle_window` before 429.
    pub throttle_failures: usize,
    pub throttle_window: Duration,
    /// Whether cookies get `Secure` (served over TLS).
    pub secure_cookies: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            session_ttl: Duration::from_secs(8 * 3600),
            throttle_failures: 5,
            throttle_window: Duration::from_secs(300),
            secure_cookies: false,
        }
    }
}

/// The service's authenticator: the store, a cache of resolved credentials, the login
/// throttle and the clock.
#[derive(Clone)]
pub struct Auth {
    pub store: Arc<AuthStore>,
    pub settings: AuthSettings,
    pub clock: SharedClock,
    pub throttle: Arc<throttle::Throttle>,
    cache: Arc<Mutex<HashMap<String, (Principal, Instant)>>>,
}

impl Auth {
    /// An authenticator over `store`.
    pub fn new(store: AuthStore, settings: AuthSettings, clock: SharedClock) -> Auth {
        let throttle = throttle::Throttle::new(
            settings.throttle_failures,
            settings.throttle_window.as_millis() as i64,
        );
        Auth {
            store: Arc::new(store),
            settings,
            clock,
            throttle: Arc::new(throttle),
            cache: Arc::default(),
        }
    }

    /// The principal behind an API token or a session id (`kind` says which).
    pub fn resolve(&self, secret: &str, kind: CredentialKind) -> Option<Principal> {
        let key = format!("{}{}", kind_tag(kind), secret::digest(secret));
        if let Some((p, at)) = self.cache_get(&key) {
            if at.elapsed() < CACHE_TTL {
                return Some(p);
            }
        }
        let now = self.clock.now();
        let found = match kind {
            CredentialKind::Token => self.store.token(secret, now),
            CredentialKind::Session => self.store.session(secret, now),
        };
        match found {
            Ok(Some(p)) => {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(key, (p.clone(), Instant::now()));
                Some(p)
            }
            Ok(None) => {
                self.forget_key(&key);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "credential lookup failed");
                None
            }
        }
    }

    /// Drops a session from the cache (logout), so it stops working at once.
    pub fn forget(&self, secret: &str, kind: CredentialKind) {
        self.forget_key(&format!("{}{}", kind_tag(kind), secret::digest(secret)));
    }

    fn forget_key(&self, key: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    fn cache_get(&self, key: &str) -> Option<(Principal, Instant)> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Appends to the audit trail off the async workers (the insert syncs to disk); a
    /// failure is logged, never lost silently.
    pub async fn audit(&self, entry: AuditEntry) {
        let (store, now) = (self.store.clone(), self.clock.now());
        let action = entry.action.clone();
        let written = tokio::task::spawn_blocking(move || store.audit(&entry, now)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, action, "could not write the audit trail")
            }
            Err(e) => tracing::error!(error = %e, action, "audit write did not finish"),
        }
    }
}

fn kind_tag(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Token => "t:",
        CredentialKind::Session => "s:",
    }
}

/// On a first start (no enabled admin user), creates user `admin` with a random password
/// written to `DATA_DIR/initial-admin-password` (mode 0600). Returns that file's path when
/// it made one.
pub fn ensure_initial_admin(
    store: &AuthStore,
    data_dir: &Path,
    now: time::OffsetDateTime,
) -> Result<Option<PathBuf>, InitError> {
    if store.has_admin()? {
        return Ok(None);
    }
    let password = secret::new_password();
    let path = data_dir.join(INITIAL_PASSWORD_FILE);
    write_private(&path, &format!("{password}\n")).map_err(|source| InitError::Write {
        path: path.clone(),
        source,
    })?;
    match store.add_user("admin", Role::Admin, None, &password, now) {
        Ok(()) => {}
        // A disabled `admin` exists: re-enable it with the new password.
        Err(AuthError::Exists { .. }) => {
            store.set_password("admin", &password, now)?;
            store.enable_user("admin", now)?;
        }
        Err(e) => return Err(e.into()),
    }
    store.audit(
        &AuditEntry {
            who: "-".into(),
            role: None,
            action: "user.add".into(),
            outcome: "ok".into(),
            detail: Some("first start: user `admin` created".into()),
            address: Some("serve".into()),
            call_id: None,
        },
        now,
    )?;
    Ok(Some(path))
}

/// Why the first admin could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Store(#[from] AuthError),
    #[error(
        "writing the initial admin password to {path}: {source}; check the data dir's permissions"
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests;
