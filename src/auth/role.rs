//! Roles and the principal a request acts as.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a user or token may do. See the route table in [`super::policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users, tokens, reload and audit.
    Admin,
    /// Live events and calls of its queues, alert acknowledgement, archive reads of its queues.
    Supervisor,
    /// Archive list, search, detail, audio, QA review and export; no live stream.
    Reviewer,
    /// Only the live events of calls whose `agent_id` is its own name.
    Agent,
    /// A machine credential for media forks, WHIP publishing and the RTP session API.
    Ingest,
    /// A Prometheus scraper: `GET /metrics` and nothing else.
    Metrics,
}

impl Role {
    /// Every role, in the order the route table lists them.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Supervisor,
        Role::Reviewer,
        Role::Agent,
        Role::Ingest,
        Role::Metrics,
    ];

    /// The name used in configuration, the CLI and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Reviewer => "reviewer",
            Role::Agent => "agent",
            Role::Ingest => "ingest",
            Role::Metrics => "metrics",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role `{s}`; use one of admin, supervisor, reviewer, agent, ingest, metrics")
            })
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    /// A user's session cookie (after `POST /v1/login`).
    Session,
    /// An API token.
    Token,
}

/// Who a request acts as: resolved from a session or a token on every request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The user or token name (for an agent: its agent id).
    pub name: String,
    pub role: Role,
    /// The queues it is limited to; `None` when it sees every queue.
    pub queues: Option<Vec<String>>,
    pub kind: CredentialKind,
}

impl Principal {
    /// Whether a call in `queue` is visible to this principal. A queue-limited principal
    /// never sees a call without a queue.
    pub fn sees_queue(&self, queue: Option<&str>) -> bool {
        match (&self.queues, queue) {
            (None, _) => true,
            (Some(qs), Some(q)) => qs.iter().any(|x| x == q),
            (Some(_), None) => false,
        }
    }

    /// Whether the live events of a call with `agent_id` in `queue` may reach this principal.
    pub fn sees_live_call(&self, agent_id: Option<&str>, queue: Option<&str>) -> bool {
        match self.role {
            Role::Agent => agent_id == Some(self.name.as_str()) && self.sees_queue(queue),
            Role::Admin | Role::Supervisor => self.sees_queue(queue),
            Role::Reviewer | Role::Ingest | Role::Metrics => false,
        }
    }
}

/// Parses a `--queues a,b` list: trimmed, non-empty names of at most 64 characters.
pub fn parse_queues(list: &str) -> Result<Vec<String>, String> {
    let queues: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_string)
        .collect();
    if queues.is_empty() {
        return Err(
            "an empty queue list would hide every call; leave --queues out to see all queues"
                .into(),
        );
    }
    if let Some(q) = queues
        .iter()
        .find(|q| q.chars().count() > 64 || q.chars().any(char::is_control))
    {
        return Err(format!(
            "queue name {q:?} is over 64 characters or has control characters"
        ));
    }
    Ok(queues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, queues: Option<&[&str]>) -> Principal {
        Principal {
            name: "a1".into(),
            role,
            queues: queues.map(|q| q.iter().map(|s| s.to_string()).collect()),
            kind: CredentialKind::Token,
        }
    }

    #[test]
    fn roles_round_trip_and_unknown_ones_say_what_exists() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .contains("admin, supervisor"));
    }

    #[test]
    fn queue_limits_hide_other_queues_and_calls_without_one() {
        let card = who(Role::Reviewer, Some(&["card"]));
        assert!(card.sees_queue(Some("card")));
        assert!(!card.sees_queue(Some("wealth")));
        assert!(!card.sees_queue(None));
        assert!(who(Role::Reviewer, None).sees_queue(None));
    }

    #[test]
    fn live_calls_reach_supervisors_of_the_queue_and_the_calls_own_agent() {
        let table = [
            (
                who(Role::Supervisor, Some(&["card"])),
                Some("x"),
                Some("card"),
                true,
            ),
            (
                who(Role::Supervisor, Some(&["card"])),
                Some("x"),
                Some("wealth"),
                false,
            ),
            (who(Role::Agent, None), Some("a1"), Some("card"), true),
            (who(Role::Agent, None), Some("a2"), Some("card"), false),
            (who(Role::Agent, None), None, None, false),
            (who(Role::Reviewer, None), Some("a1"), None, false),
            (who(Role::Ingest, None), Some("a1"), None, false),
            (who(Role::Admin, None), None, None, true),
        ];
        for (p, agent, queue, want) in table {
            assert_eq!(
                p.sees_live_call(agent, queue),
                want,
                "{p:?} {agent:?} {queue:?}"
            );
        }
    }

    #[test]
    fn queue_lists_are_trimmed_and_never_empty() {
        assert_eq!(parse_queues(" card, wealth ,").unwrap(), ["card", "wealth"]);
        assert!(parse_queues(" , ").is_err());
        assert!(parse_queues(&"q".repeat(65)).is_err());
    }
}
