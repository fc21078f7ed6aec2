//! Which recorded stream is the agent: a configured rule over the streams' senders.

use super::metadata::Participant;
use crate::call::Speaker;
use regex::Regex;
use thiserror::Error;

/// A rule that is not understood.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RoleRuleError {
    #[error("sip.agent `{0}` is not understood; use `first`, `second` or `aor:REGEX`")]
    Unknown(String),
    #[error("sip.agent regex `{pattern}` is invalid: {message}")]
    BadRegex { pattern: String, message: String },
}

/// Decides the agent among a session's streams.
#[derive(Debug, Clone)]
pub enum RoleRule {
    /// The first offered stream is the agent, the others customers.
    First,
    /// The second offered stream is the agent (a contact center's inbound calls: the SBC's
    /// first stream is the caller).
    Second,
    /// Streams whose sending participant's AOR matches are the agent; the others customers.
    /// Streams without a known sender are `unknown`.
    Aor(Regex),
}

impl RoleRule {
    /// Parses `first`, `second` or `aor:REGEX`.
    pub fn parse(s: &str) -> Result<RoleRule, RoleRuleError> {
        let t = s.trim();
        if let Some(pattern) = t.strip_prefix("aor:") {
            return Regex::new(pattern)
                .map(RoleRule::Aor)
                .map_err(|e| RoleRuleError::BadRegex {
                    pattern: pattern.to_string(),
                    message: e.to_string(),
                });
        }
        match t.to_ascii_lowercase().as_str() {
            "first" => Ok(RoleRule::First),
            "second" => Ok(RoleRule::Second),
            _ => Err(RoleRuleError::Unknown(s.to_string())),
        }
    }

    /// Speaker of the stream at `index` (offer order) sent by `sender`.
    pub fn speaker(&self, index: usize, sender: Option<&Participant>) -> Speaker {
        match self {
            RoleRule::First if index == 0 => Speaker::Agent,
            RoleRule::Second if index == 1 => Speaker::Agent,
            RoleRule::First | RoleRule::Second => Speaker::Customer,
            RoleRule::Aor(re) => match sender.and_then(|p| p.aor.as_deref()) {
                Some(aor) if re.is_match(aor) => Speaker::Agent,
                Some(_) => Speaker::Customer,
                None => Speaker::Unknown,
            },
        }
    }
}
