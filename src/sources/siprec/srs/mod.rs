//! The recording server's state machine (RFC 7866 SRS side of RFC 3261 dialogs), sans-IO.
//!
//! Fed whole SIP messages, media-plane results and the passing of time (read from the
//! injected [`Clock`](crate::clock::Clock)); returns messages to send and media commands.
//! Sockets, RTP and timers live in the edge (`server.rs`), which calls [`Srs::tick`]
//! regularly.
//!
//! - `peers`: who may send requests (address allow-list, digest authentication);
//! - `transaction`: retransmissions and timers;
//! - `dialog`: one recording dialog and the identity in-dialog requests must match;
//! - `negotiation`: offer/answer and the other choices, as pure functions;
//! - `invite`, `modify`, `teardown`: the session's life;
//! - `reply`: how every response is built.

mod dialog;
mod invite;
mod modify;
mod negotiation;
pub mod peers;
mod reply;
mod teardown;
pub mod transaction;

use super::message::{SipMessage, StartLine};
use super::roles::RoleRule;
use super::sdp::Codec;
use crate::call::{CallInfo, LegInfo};
use crate::clock::SharedClock;
use dialog::Session;
use peers::{AllowList, DigestAuth};
use reply::{bracket, reply};
use std::collections::HashMap;
use std::net::SocketAddr;
use transaction::Ended;
pub use transaction::{ACK_WAIT_MS, T1_MS, T2_MS};

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO";
const SUPPORTED: [&str; 3] = ["siprec", "timer", "replaces"];
const ACCEPT: &str = "application/sdp, application/rs-metadata+xml, multipart/mixed";

/// Transport a message came over (and its answer goes back over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// The other end of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// Settings of the state machine.
#[derive(Debug, Clone)]
pub struct SrsConfig {
    /// Address written into SDP `c=`, Contact and Via (what the SRC sends media to).
    pub advertise: String,
    /// SIP port written into Contact and Via.
    pub sip_port: u16,
    /// SIP over TLS port, when that listener is on (Contact `sips:` for TLS peers).
    pub tls_port: Option<u16>,
    /// Addresses requests are taken from; others get 403.
    pub allow: AllowList,
    /// When set, a new recording session must authenticate (401 challenge).
    pub digest: Option<DigestAuth>,
    /// Sessions beyond this are refused with 503 and Retry-After.
    pub max_sessions: usize,
    pub roles: RoleRule,
    /// `header:NAME` or `metadata:ELEMENT`: where the call's queue label comes from.
    pub queue_from: Option<QueueSource>,
    /// Session interval offered when the SRC asks for none, and the largest accepted.
    pub session_expires_s: u32,
    /// Smallest session interval accepted (RFC 4028 Min-SE).
    pub min_se_s: u32,
    /// Codecs the media side decodes, in our preference (the offer's order wins).
    pub codecs: Vec<Codec>,
    /// Retry-After seconds sent with 503 at capacity.
    pub retry_after_s: u32,
}

/// Where the queue label of a call is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSource {
    /// A header of the recording INVITE (e.g. `X-Queue`).
    Header(String),
    /// The text of a metadata element with this local name (e.g. vendor extension data).
    Metadata(String),
}

impl QueueSource {
    /// Parses `header:NAME` or `metadata:ELEMENT`; empty means none.
    pub fn parse(s: &str) -> Result<Option<QueueSource>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        match s.split_once(':') {
            Some(("header", n)) if !n.is_empty() => Ok(Some(QueueSource::Header(n.into()))),
            Some(("metadata", n)) if !n.is_empty() => Ok(Some(QueueSource::Metadata(n.into()))),
            _ => Err(format!(
                "sip.queue_from `{s}` is not understood; use `header:NAME` or `metadata:ELEMENT`"
            )),
        }
    }
}

/// One stream the media side must receive.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaStream {
    /// SDP label (or the m-line index when the SRC gave none).
    pub label: String,
    /// Payload type negotiated for it, and its codec.
    pub pt: u8,
    pub codec: Codec,
    /// Where the SRC sends from, per the offer (informational; symmetric RTP is not assumed).
    pub remote: Option<String>,
    /// The leg this stream feeds.
    pub leg: LegInfo,
    /// Offered `inactive`: open it paused.
    pub paused: bool,
    /// SDES keys the SRC encrypts this stream with (RTP/SAVP), when it does.
    pub srtp: Option<super::sdp::CryptoOffer>,
}

/// What the media side must do. Answers come back through [`Srs::media_opened`].
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// Reserve ports for these streams (consecutive even pairs, one per stream, in order),
    /// start receiving, and report the ports with [`Srs::media_opened`]. A session opens
    /// with one `Open`; a re-INVITE adding streams sends another for the new ones.
    Open {
        session: String,
        call: CallInfo,
        streams: Vec<MediaStream>,
    },
    /// Hold: the stream's audio reaches its leg as silence of the same length (music on hold
    /// is not transcribed, media time is kept) and its silence is not inactivity.
    Pause { session: String, label: String },
    /// Forward again.
    Resume { session: String, label: String },
    /// The stream was removed: end its leg and free its ports.
    Stop { session: String, label: String },
    /// The session ended: end every leg (their last utterances are archived) and free ports.
    Close {
        session: String,
        reason: crate::call::EndReason,
    },
}

/// What the state machine wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send { to: Peer, message: SipMessage },
    Media(MediaCommand),
}

/// The recording server.
pub struct Srs {
    cfg: SrsConfig,
    clock: SharedClock,
    sessions: HashMap<String, Session>,
    ended: HashMap<String, Ended>,
    counter: u64,
}

impl SrsConfig {
    /// The SIP port of a transport (TLS has its own listener).
    fn port_for(&self, t: Transport) -> Option<u16> {
        match t {
            Transport::Tls => self.tls_port,
            _ => Some(self.sip_port),
        }
    }
}

impl Srs {
    pub fn new(cfg: SrsConfig, clock: SharedClock) -> Srs {
        Srs {
            cfg,
            clock,
            sessions: HashMap::new(),
            ended: HashMap::new(),
            counter: 0,
        }
    }

    /// Live recording sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    fn now_ms(&self) -> i64 {
        (self.clock.now().unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// A tag or branch: 64 random bits. Dialog tags are part of what proves an in-dialog
    /// request comes from the recording client, so they must not be guessable.
    fn next_token(&mut self) -> String {
        self.counter += 1;
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).expect("the OS random source");
        format!("{:016x}", u64::from_be_bytes(r))
    }

    /// Whether requests from `ip` are taken at all (the edge refuses other TCP/TLS
    /// connections before they take a slot).
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.cfg.allow.allows(ip)
    }

    /// Feeds one received message (a datagram or a framed stream message). Bytes that are not
    /// SIP are dropped: without parsable Via/Call-ID/CSeq there is nobody to answer.
    pub fn on_message(&mut self, bytes: &[u8], from: Peer) -> Vec<Output> {
        let msg = match SipMessage::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(peer = %from.addr, error = %e, "unparsable SIP message dropped");
                return Vec::new();
            }
        };
        let allowed = self.cfg.allow.allows(from.addr.ip());
        let StartLine::Request { method, .. } = &msg.start else {
            // The only requests we send are BYEs; their responses stop the retransmissions.
            if allowed {
                self.on_response(&msg);
            }
            return Vec::new();
        };
        let method = method.clone();
        let mut out = Vec::new();
        if !allowed {
            tracing::warn!(peer = %from.addr, method, "SIP request from an address outside [sip] allow refused with 403");
            // An ACK is never answered (RFC 3261 17.2.1).
            if method != "ACK" {
                let tag = self.next_token();
                send(
                    &mut out,
                    from,
                    reply::refuse(
                        &msg,
                        403,
                        Some(&tag),
                        "this address may not send recording sessions here; add it to [sip] allow",
                    ),
                );
            }
            return out;
        }
        match method.as_str() {
            "INVITE" => {
                if let Some(r) = self.authenticate(&msg, from.addr.ip()) {
                    send(&mut out, from, r);
                } else {
                    self.on_invite(msg, from, &mut out)
                }
            }
            "ACK" => self.on_ack(&msg, from),
            "BYE" => self.on_bye(&msg, from, &mut out),
            "CANCEL" => self.on_cancel(&msg, from, &mut out),
            "OPTIONS" => {
                let tag = self.next_token();
                let mut r = reply(&msg, 200, Some(&tag));
                self.capabilities(&mut r);
                send(&mut out, from, r);
            }
            "UPDATE" => self.on_update(msg, from, &mut out),
            "INFO" | "NOTIFY" => match self.sessions.get(msg.call_id()) {
                Some(s) if s.check(&msg, from).is_ok() => {
                    send(&mut out, from, reply(&msg, 200, None))
                }
                _ => send(&mut out, from, Self::no_dialog(&msg)),
            },
            _ => {
                let tag = self.next_token();
                let mut r = reply(&msg, 405, Some(&tag));
                r.push("Allow", ALLOW);
                send(&mut out, from, r);
            }
        }
        out
    }

    /// The 401 for a new session without valid credentials, when digest is on. In-dialog
    /// requests (re-INVITEs) are tied to the authenticated dialog by its tags and peer.
    fn authenticate(&mut self, msg: &SipMessage, from_ip: std::net::IpAddr) -> Option<SipMessage> {
        if self.cfg.digest.is_none()
            || msg.tag("To").is_some()
            || self.sessions.contains_key(msg.call_id())
        {
            return None;
        }
        let (tag, now_s) = (self.next_token(), self.now_ms() / 1000);
        let r = self.cfg.digest.as_ref()?.check(msg, &tag, now_s, from_ip)?;
        tracing::info!(
            call_id = msg.call_id(),
            "recording INVITE challenged for digest credentials"
        );
        Some(r)
    }

    fn capabilities(&self, r: &mut SipMessage) {
        r.push("Allow", ALLOW);
        r.push("Accept", ACCEPT);
        r.push("Supported", SUPPORTED.join(", "));
    }

    /// Our Contact for a peer on `transport`: `sips:` over TLS (RFC 3261 19.1).
    fn contact(&self, transport: Transport) -> String {
        let adv = bracket(&self.cfg.advertise);
        match (transport, self.cfg.tls_port) {
            (Transport::Tls, Some(p)) => format!("<sips:srs@{adv}:{p}>;+sip.srs"),
            _ => format!("<sip:srs@{adv}:{}>;+sip.srs", self.cfg.sip_port),
        }
    }

    /// The media side saw no RTP for its inactivity timeout: end the session with a BYE.
    pub fn media_inactive(&mut self, session: &str) -> Vec<Output> {
        let mut out = Vec::new();
        if self.sessions.contains_key(session) {
            self.bye_and_end(session, crate::call::EndReason::RtpTimeout, &mut out);
        }
        out
    }
}

fn send(out: &mut Vec<Output>, to: Peer, message: SipMessage) {
    out.push(Output::Send { to, message });
}
