//! `[sip]`: the recording server's settings, owned here and parsed once into typed rules.

use super::srs::peers::AllowList;
use super::{QueueSource, RoleRule};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The parsed rules of `[sip]`.
#[derive(Debug, Clone)]
pub struct SipRules {
    pub roles: RoleRule,
    pub queue_from: Option<QueueSource>,
    pub allow: AllowList,
}

/// `[sip]`: the SIPREC recording server (RFC 7866).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Listen for recording sessions (also turned on by `serve --sip ADDR`).
    pub enabled: bool,
    /// SIP listen address, UDP and TCP.
    pub listen: SocketAddr,
    /// Address put in SDP answers and Contact (where the SBC sends RTP); empty = the listen
    /// address, or 127.0.0.1 when that is unspecified.
    pub advertise: String,
    /// Concurrent recording sessions; more are refused with 503 and Retry-After.
    pub max_sessions: usize,
    /// Which stream is the agent: `first`, `second` or `aor:REGEX` (matched on the sender's AOR).
    pub agent: String,
    /// Where the queue label comes from: `header:NAME`, `metadata:ELEMENT` or empty.
    pub queue_from: String,
    /// Largest session interval granted (RFC 4028 Session-Expires), seconds.
    pub session_expires_s: u32,
    /// Smallest session interval accepted (Min-SE), seconds.
    pub min_se_s: u32,
    /// No RTP for this long ends the session (BYE sent, everything received archived).
    pub rtp_timeout_s: u32,
    /// A SIP TCP connection with no message (keep-alive CRLFs count) for this long is
    /// closed. Longer than `session_expires_s`, so a healthy SBC's refreshes keep it open.
    pub tcp_idle_timeout_s: u64,
    /// Addresses or CIDRs of the recording clients (SBCs, PBXs); requests from others get 403.
    pub allow: Vec<String>,
    /// Digest credentials new recording sessions must present (both set, or neither).
    pub digest_user: String,
    pub digest_password: Secret,
    pub digest_realm: String,
    /// SIP over TLS: `HOST` or `HOST:PORT` (port 5061 when left out); empty: off.
    pub tls_listen: String,
    /// PEM certificate and key for SIP over TLS; empty: the `[http]` ones.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            enabled: false,
            listen: "0.0.0.0:5060".parse().unwrap(),
            advertise: String::new(),
            max_sessions: 200,
            agent: "second".into(),
            queue_from: String::new(),
            session_expires_s: 1800,
            min_se_s: 90,
            rtp_timeout_s: 30,
            tcp_idle_timeout_s: 1900,
            allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
            digest_user: String::new(),
            digest_password: Secret::default(),
            digest_realm: "callwatch".into(),
            tls_listen: String::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
        }
    }
}

impl SipConfig {
    /// The role rule, queue source and allow list, parsed once; `Err` names the key.
    pub fn rules(&self) -> Result<SipRules, String> {
        Ok(SipRules {
            roles: RoleRule::parse(&self.agent).map_err(|e| e.to_string())?,
            queue_from: QueueSource::parse(&self.queue_from)?,
            allow: AllowList::parse(&self.allow)?,
        })
    }

    /// Checks the rules and ranges; `Err` says which key is wrong and how.
    pub fn validate(&self) -> Result<(), String> {
        self.rules()?;
        if self.digest_user.is_empty() != self.digest_password.is_empty() {
            return Err(
                "sip.digest_user and sip.digest_password go together: set both, or neither".into(),
            );
        }
        self.tls_addr()?;
        if self.max_sessions == 0 || self.min_se_s < 90 || self.session_expires_s < self.min_se_s {
            return Err(
                "sip: max_sessions must be at least 1, min_se_s at least 90 (RFC 4028) and session_expires_s at least min_se_s".into(),
            );
        }
        Ok(())
    }

    /// The SIP over TLS listen address, `None` when off.
    pub fn tls_addr(&self) -> Result<Option<SocketAddr>, String> {
        let t = self.tls_listen.trim();
        if t.is_empty() {
            return Ok(None);
        }
        let with_port = if t.parse::<std::net::IpAddr>().is_ok() {
            SocketAddr::new(t.parse().expect("checked"), 5061).to_string()
        } else {
            t.to_string()
        };
        with_port.parse().map(Some).map_err(|_| {
            format!("sip.tls_listen `{t}` is not HOST or HOST:PORT, e.g. 0.0.0.0:5061")
        })
    }

    /// The address written into SDP and Contact.
    pub fn advertised(&self) -> String {
        if !self.advertise.is_empty() {
            self.advertise.clone()
        } else if self.listen.ip().is_unspecified() {
            "127.0.0.1".into()
        } else {
            self.listen.ip().to_string()
        }
    }
}
