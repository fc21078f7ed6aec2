//! `callwatch user …`, `callwatch token …` and `callwatch audit`: credentials and the audit
//! trail, managed on the archive database directly (they work while `serve` runs).

use anyhow::{bail, Context, Result};
use callwatch::auth::{parse_queues, AuditEntry, AuditFilter, AuthStore, Role};
use clap::{Args, Subcommand};
use std::io::{BufRead, IsTerminal};

/// `callwatch user …`
#[derive(Subcommand)]
pub enum UserCmd {
    /// Add a user; the password comes from CALLWATCH_PASSWORD or the first line of stdin.
    Add {
        name: String,
        #[arg(long)]
        role: Role,
        /// Limit the user to these queues (comma-separated); default: every queue.
        #[arg(long)]
        queues: Option<String>,
        #[command(flatten)]
        common: super::Common,
    },
    /// List users (never their passwords).
    List {
        #[command(flatten)]
        common: super::Common,
    },
    /// Set a new password (CALLWATCH_PASSWORD or stdin); ends the user's sessions and lifts
    /// a lockout.
    Passwd {
        name: String,
        #[command(flatten)]
        common: super::Common,
    },
    /// Disable a user and end its sessions.
    Disable {
        name: String,
        #[command(flatten)]
        common: super::Common,
    },
    /// Enable a disabled user.
    Enable {
        name: String,
        #[command(flatten)]
        common: super::Common,
    },
    /// Lift the lockout after too many failed logins.
    Unlock {
        name: String,
        #[command(flatten)]
        common: super::Common,
    },
}

/// `callwatch token …`
#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create an API token and print it (only it) on stdout. It is shown this once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: Role,
        /// Limit the token to these queues (comma-separated); default: every queue.
        #[arg(long)]
        queues: Option<String>,
        /// Days until the token stops working; default: until revoked.
        #[arg(long)]
        expires_days: Option<u32>,
        #[command(flatten)]
        common: super::Common,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[command(flatten)]
        common: super::Common,
    },
    /// Revoke a token; it stops working within seconds, also in a running service.
    Revoke {
        name: String,
        #[command(flatten)]
        common: super::Common,
    },
}

/// `callwatch audit`
#[derive(Args)]
pub struct AuditArgs {
    #[command(flatten)]
    common: super::Common,
    /// Only this user or token.
    #[arg(long)]
    who: Option<String>,
    /// Only this action (login, login.failed, call.read, search, reload, user.add, ...).
    #[arg(long)]
    action: Option<String>,
    /// Only this call.
    #[arg(long)]
    call: Option<String>,
    /// At or after (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Before (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

fn open(common: &super::Common) -> Result<AuthStore> {
    let cfg = super::load_config(common)?;
    if let Some(url) = cfg.archive.postgres_url() {
        let pg = callwatch::sinks::archive::PgArchive::open_with(url, cfg.archive.ca_file())?;
        return Ok(AuthStore::postgres(std::sync::Arc::new(pg)));
    }
    std::fs::create_dir_all(&cfg.server.data_dir)
        .with_context(|| format!("creating data dir {}", cfg.server.data_dir.display()))?;
    Ok(AuthStore::open(&cfg.archive_path())?)
}

fn queues(list: Option<&str>) -> Result<Option<Vec<String>>> {
    list.map(parse_queues)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--queues: {e}"))
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Who ran a CLI command, for the audit trail.
fn cli_entry(action: &str, detail: String) -> AuditEntry {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    AuditEntry {
        who: format!("cli:{user}"),
        role: Some("admin".into()),
        action: action.into(),
        outcome: "ok".into(),
        detail: Some(detail),
        address: Some("cli".into()),
        call_id: None,
    }
}

/// The new password: `CALLWATCH_PASSWORD`, else the first line of stdin (asked for on a
/// terminal).
fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("CALLWATCH_PASSWORD") {
        return Ok(p);
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password (echoed; prefer CALLWATCH_PASSWORD or a pipe): ");
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.is_empty() {
        bail!("no password given: set CALLWATCH_PASSWORD or pipe it on stdin");
    }
    Ok(p)
}

/// Runs a `user` command.
pub fn user(cmd: UserCmd) -> Result<()> {
    match cmd {
        UserCmd::Add {
            name,
            role,
            queues: q,
            common,
        } => {
            let store = open(&common)?;
            let q = queues(q.as_deref())?;
            let password = read_password()?;
            store.add_user(&name, role, q.as_deref(), &password, now())?;
            store.audit(&cli_entry("user.add", format!("{name} as {role}")), now())?;
            eprintln!("user `{name}` added as {role}");
        }
        UserCmd::List { common } => {
            for u in open(&common)?.users()? {
                println!("{}", serde_json::to_string(&u)?);
            }
        }
        UserCmd::Passwd { name, common } => {
            let store = open(&common)?;
            let password = read_password()?;
            store.set_password(&name, &password, now())?;
            store.audit(&cli_entry("user.passwd", name.clone()), now())?;
            eprintln!("password of `{name}` changed; its sessions ended");
        }
        UserCmd::Disable { name, common } => {
            let store = open(&common)?;
            store.disable_user(&name, now())?;
            store.audit(&cli_entry("user.disable", name.clone()), now())?;
            eprintln!("user `{name}` disabled; its sessions ended");
        }
        UserCmd::Enable { name, common } => {
            let store = open(&common)?;
            store.enable_user(&name, now())?;
            store.audit(&cli_entry("user.enable", name.clone()), now())?;
            eprintln!("user `{name}` enabled");
        }
        UserCmd::Unlock { name, common } => {
            let store = open(&common)?;
            store.unlock_user(&name, now())?;
            store.audit(&cli_entry("user.unlock", name.clone()), now())?;
            eprintln!("user `{name}` unlocked");
        }
    }
    Ok(())
}

/// Runs a `token` command.
pub fn token(cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Create {
            name,
            role,
            queues: q,
            expires_days,
            common,
        } => {
            let store = open(&common)?;
            let q = queues(q.as_deref())?;
            let token = store.create_token(&name, role, q.as_deref(), expires_days, now())?;
            store.audit(
                &cli_entry("token.create", format!("{name} as {role}")),
                now(),
            )?;
            println!("{token}");
        }
        TokenCmd::List { common } => {
            for t in open(&common)?.tokens()? {
                println!("{}", serde_json::to_string(&t)?);
            }
        }
        TokenCmd::Revoke { name, common } => {
            let store = open(&common)?;
            store.revoke_token(&name, now())?;
            store.audit(&cli_entry("token.revoke", name.clone()), now())?;
            eprintln!("token `{name}` revoked");
        }
    }
    Ok(())
}

/// Prints the audit trail as JSON lines, newest first.
pub fn audit(a: AuditArgs) -> Result<()> {
    let store = open(&a.common)?;
    let page = store
        .audit_page(&AuditFilter {
            who: a.who,
            action: a.action,
            call_id: a.call,
            from: a.from,
            to: a.to,
            before: None,
            limit: Some(a.limit),
        })
        .map_err(|e| anyhow::anyhow!(e))?;
    for row in page.items {
        println!("{}", serde_json::to_string(&row)?);
    }
    Ok(())
}
