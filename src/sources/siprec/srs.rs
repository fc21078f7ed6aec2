//! The recording server's state machine (RFC 7866 SRS side of RFC 3261 dialogs), sans-IO.
//!
//! Fed whole SIP messages, media-plane results and the passing of time (read from the
//! injected [`Clock`]); returns messages to send and media commands. Sockets, RTP and timers
//! live in the edge (`server.rs`), which calls [`Srs::tick`] regularly.

use super::message::{has_flag, param, uri_of, SipMessage, StartLine};
use super::metadata::{Metadata, MetadataError};
use super::multipart::{recording_body, BodyError};
use super::roles::RoleRule;
use super::sdp::{answer, parse_offer, Codec, Direction, SdpError, SdpOffer, StreamAnswer};
use crate::call::{CallInfo, LegInfo};
use crate::clock::SharedClock;
use std::collections::HashMap;
use std::net::SocketAddr;

/// RFC 3261 timer T1 (round-trip estimate) and T2 (retransmission cap), milliseconds.
pub const T1_MS: i64 = 500;
pub const T2_MS: i64 = 4000;
/// How long an unacknowledged 2xx is retransmitted before the session is given up (64*T1).
pub const ACK_WAIT_MS: i64 = 64 * T1_MS;

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO";
const SUPPORTED: [&str; 3] = ["siprec", "timer", "replaces"];
const ACCEPT: &str = "application/sdp, application/rs-metadata+xml, multipart/mixed";

/// Transport a message came over (and its answer goes back over).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn via(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
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
    Close { session: String, reason: String },
}

/// What the state machine wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send { to: Peer, message: SipMessage },
    Media(MediaCommand),
}

#[derive(Debug, Clone)]
struct StreamState {
    label: String,
    pt: u8,
    codec: Codec,
    port: u16,
    paused: bool,
}

/// A request waiting for the media side before it can be answered.
#[derive(Debug, Clone)]
struct Pending {
    request: SipMessage,
    offer: SdpOffer,
    /// Offer m-line indexes sent to the media side, in the order of their ports.
    opening: Vec<(usize, u8, Codec, bool)>,
}

#[derive(Debug, Clone)]
struct Unacked {
    response: SipMessage,
    cseq: u32,
    next_ms: i64,
    interval_ms: i64,
    give_up_ms: i64,
}

#[derive(Debug)]
struct Session {
    call_id: String,
    peer: Peer,
    local_tag: String,
    /// The SRC's From (with its tag): our To on requests we send.
    remote_from: String,
    /// The SRC's To with our tag: our From on requests we send.
    local_to: String,
    remote_target: String,
    local_cseq: u32,
    remote_cseq: u32,
    /// The INVITE (or UPDATE) being answered; set until media answers.
    pending: Option<Pending>,
    /// The last final response to the initial INVITE or a re-INVITE, for retransmissions.
    last_invite: Option<(u32, String, SipMessage)>,
    unacked: Option<Unacked>,
    established: bool,
    streams: Vec<StreamState>,
    metadata: Metadata,
    sdp_version: u64,
    session_id: u64,
    expires_s: u32,
    expires_at_ms: Option<i64>,
}

/// A recently ended session, kept to answer retransmitted BYEs.
#[derive(Debug)]
struct Ended {
    until_ms: i64,
    bye_cseq: Option<u32>,
    response: Option<SipMessage>,
    /// Our own BYE while it is unanswered over UDP (RFC 3261 17.1.2: Timer E, Timer F).
    our_bye: Option<OutgoingBye>,
}

/// A BYE we sent, retransmitted until a response arrives or 64*T1 has passed.
#[derive(Debug)]
struct OutgoingBye {
    message: SipMessage,
    peer: Peer,
    cseq: u32,
    next_ms: i64,
    interval_ms: i64,
}

/// The recording server.
pub struct Srs {
    cfg: SrsConfig,
    clock: SharedClock,
    sessions: HashMap<String, Session>,
    ended: HashMap<String, Ended>,
    counter: u64,
}

/// Why a recording INVITE was refused (mapped to a status code).
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("{0}")]
    Body(#[from] BodyError),
    #[error("{0}")]
    Sdp(#[from] SdpError),
    #[error("{0}")]
    Metadata(#[from] MetadataError),
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

    fn next_token(&mut self) -> String {
        self.counter += 1;
        format!("{:x}{:x}", self.now_ms(), self.counter)
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
        let StartLine::Request { method, .. } = &msg.start else {
            // The only requests we send are BYEs; their responses stop the retransmissions.
            self.on_response(&msg);
            return Vec::new();
        };
        let method = method.clone();
        let mut out = Vec::new();
        match method.as_str() {
            "INVITE" => self.on_invite(msg, from, &mut out),
            "ACK" => self.on_ack(&msg),
            "BYE" => self.on_bye(&msg, from, &mut out),
            "CANCEL" => self.on_cancel(&msg, from, &mut out),
            "OPTIONS" => {
                let mut r = msg.response(200, "OK", Some(&self.next_token()));
                self.capabilities(&mut r);
                send(&mut out, from, r);
            }
            "UPDATE" => self.on_update(msg, from, &mut out),
            "INFO" | "NOTIFY" if self.sessions.contains_key(msg.call_id()) => {
                send(&mut out, from, msg.response(200, "OK", None))
            }
            _ => {
                let mut r = msg.response(405, "Method Not Allowed", Some(&self.next_token()));
                r.push("Allow", ALLOW);
                send(&mut out, from, r);
            }
        }
        out
    }

    /// A response to our BYE: a final one ends its retransmissions, a provisional one slows
    /// them to T2 (RFC 3261 17.1.2.2).
    fn on_response(&mut self, msg: &SipMessage) {
        let (Some(code), Ok((cseq, method))) = (msg.code(), msg.cseq()) else {
            return;
        };
        if method != "BYE" {
            return;
        }
        let Some(e) = self.ended.get_mut(msg.call_id()) else {
            return;
        };
        if e.our_bye.as_ref().is_some_and(|b| b.cseq == cseq) {
            if code >= 200 {
                e.our_bye = None;
            } else if let Some(b) = e.our_bye.as_mut() {
                b.interval_ms = T2_MS;
            }
        }
    }

    fn capabilities(&self, r: &mut SipMessage) {
        r.push("Allow", ALLOW);
        r.push("Accept", ACCEPT);
        r.push("Supported", SUPPORTED.join(", "));
    }

    fn contact(&self) -> String {
        format!(
            "<sip:srs@{}:{}>;+sip.srs",
            bracket(&self.cfg.advertise),
            self.cfg.sip_port
        )
    }

    fn on_invite(&mut self, msg: SipMessage, from: Peer, out: &mut Vec<Output>) {
        let call_id = msg.call_id().to_string();
        let (cseq, _) = msg.cseq().unwrap_or((0, String::new()));
        if let Some(s) = self.sessions.get(&call_id) {
            // A retransmission of the INVITE being (or last) answered gets the same answer.
            if let Some(p) = &s.pending {
                if p.request.branch() == msg.branch() && p.request.cseq().ok() == msg.cseq().ok() {
                    send(out, from, msg.response(100, "Trying", None));
                    return;
                }
            }
            if let Some((c, branch, resp)) = &s.last_invite {
                if *c == cseq && branch == msg.branch() {
                    send(out, from, resp.clone());
                    return;
                }
            }
            if msg.tag("To").is_some() {
                return self.on_reinvite(msg, from, out);
            }
        }
        if msg.tag("To").is_some() {
            send(
                out,
                from,
                msg.response(481, "Call/Transaction Does Not Exist", None),
            );
            return;
        }
        if let Some(r) = self.check_require(&msg) {
            send(out, from, r);
            return;
        }
        let contact = msg.header("Contact").unwrap_or("");
        let is_siprec = msg
            .header_values("Require")
            .any(|v| v.eq_ignore_ascii_case("siprec"))
            || has_flag(contact, "+sip.src")
            || has_flag(contact, "src");
        let tag = self.next_token();
        if !is_siprec {
            let mut r = msg.response(403, "Forbidden (recording sessions only)", Some(&tag));
            r.push(
                "Warning",
                "399 callwatch \"this is a SIPREC recording server; send Require: siprec and a Contact with +sip.src\"",
            );
            send(out, from, r);
            return;
        }
        if self.sessions.len() >= self.cfg.max_sessions {
            let mut r = msg.response(503, "Service Unavailable", Some(&tag));
            r.push("Retry-After", self.cfg.retry_after_s.to_string());
            send(out, from, r);
            return;
        }
        let expires = match self.session_timer(&msg, &tag) {
            Ok(e) => e,
            Err(r) => {
                send(out, from, r);
                return;
            }
        };
        let (offer, metadata) = match parse_body(&msg) {
            Ok(v) => v,
            Err(r) => {
                let code = match r {
                    Refusal::Body(BodyError::NotUtf8) | Refusal::Metadata(_) => 400,
                    Refusal::Sdp(SdpError::NoMedia) => 488,
                    _ => 400,
                };
                let reason = if code == 400 {
                    "Bad Request"
                } else {
                    "Not Acceptable Here"
                };
                let mut resp = msg.response(code, reason, Some(&tag));
                resp.push("Warning", warning(&r.to_string()));
                send(out, from, resp);
                return;
            }
        };
        let Some(offer) = offer else {
            let mut r = msg.response(488, "Not Acceptable Here", Some(&tag));
            r.push(
                "Warning",
                warning(
                    "the recording INVITE carries no SDP offer; send application/sdp in the INVITE",
                ),
            );
            send(out, from, r);
            return;
        };
        let opening = self.choose(&offer, 0..offer.media.len());
        if opening.is_empty() {
            let mut r = msg.response(488, "Not Acceptable Here", Some(&tag));
            r.push(
                "Warning",
                "305 callwatch \"no offered audio stream uses a codec we take (PCMU, PCMA or opus)\"",
            );
            send(out, from, r);
            return;
        }
        send(out, from, msg.response(100, "Trying", None));
        let metadata = metadata.unwrap_or_default();
        let mut to = msg.header("To").unwrap_or("").to_string();
        if param(&to, "tag").is_none() {
            to.push_str(";tag=");
            to.push_str(&tag);
        }
        self.counter += 1;
        let session_id = (self.now_ms() as u64) ^ (self.counter << 40);
        let mut session = Session {
            call_id: call_id.clone(),
            peer: from,
            local_tag: tag,
            remote_from: msg.header("From").unwrap_or("").to_string(),
            local_to: to,
            remote_target: uri_of(contact).to_string(),
            local_cseq: 0,
            remote_cseq: cseq,
            pending: None,
            last_invite: None,
            unacked: None,
            established: false,
            streams: Vec::new(),
            metadata,
            sdp_version: 1,
            session_id,
            expires_s: expires,
            expires_at_ms: None,
        };
        let call = self.call_info(&session, &msg, &offer, &opening);
        let streams = self.media_streams(&session, &offer, &opening);
        session.pending = Some(Pending {
            request: msg,
            offer,
            opening,
        });
        self.sessions.insert(call_id.clone(), session);
        out.push(Output::Media(MediaCommand::Open {
            session: call_id,
            call,
            streams,
        }));
    }

    /// Offer m-lines (among `range`) we can receive: (index, pt, codec, inactive).
    fn choose(
        &self,
        offer: &SdpOffer,
        range: impl Iterator<Item = usize>,
    ) -> Vec<(usize, u8, Codec, bool)> {
        range
            .filter_map(|i| {
                let m = &offer.media[i];
                let (pt, codec) = m.choose_codec(&self.cfg.codecs)?;
                Some((i, pt, codec, m.direction == Direction::Inactive))
            })
            .collect()
    }

    fn check_require(&self, msg: &SipMessage) -> Option<SipMessage> {
        let unknown: Vec<&str> = msg
            .header_values("Require")
            .filter(|v| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(v)))
            .collect();
        if unknown.is_empty() {
            return None;
        }
        let mut r = msg.response(420, "Bad Extension", None);
        r.push("Unsupported", unknown.join(", "));
        Some(r)
    }

    /// The session interval to use (RFC 4028), or a 422 when the SRC's is too short.
    fn session_timer(&self, msg: &SipMessage, tag: &str) -> Result<u32, SipMessage> {
        let Some(se) = msg.header("Session-Expires") else {
            return Ok(0);
        };
        let asked: u32 = se
            .split(';')
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(self.cfg.session_expires_s);
        if asked < self.cfg.min_se_s {
            let mut r = msg.response(422, "Session Interval Too Small", Some(tag));
            r.push("Min-SE", self.cfg.min_se_s.to_string());
            return Err(r);
        }
        Ok(asked.min(self.cfg.session_expires_s.max(self.cfg.min_se_s)))
    }

    fn label_of(offer: &SdpOffer, i: usize) -> String {
        offer.media[i]
            .label
            .clone()
            .unwrap_or_else(|| (i + 1).to_string())
    }

    fn media_streams(
        &self,
        s: &Session,
        offer: &SdpOffer,
        opening: &[(usize, u8, Codec, bool)],
    ) -> Vec<MediaStream> {
        opening
            .iter()
            .map(|&(i, pt, codec, inactive)| {
                let label = Self::label_of(offer, i);
                let sender = s.metadata.sender_of_label(&label);
                let speaker = self.cfg.roles.speaker(i, sender);
                let participant = sender.and_then(|p| p.aor.clone().or_else(|| p.name.clone()));
                let m = &offer.media[i];
                MediaStream {
                    leg: LegInfo {
                        call_id: s.call_id.clone(),
                        leg: format!("label-{label}"),
                        speaker,
                        participant,
                        language: None,
                    },
                    label,
                    pt,
                    codec,
                    remote: m.connection.as_ref().map(|c| format!("{c}:{}", m.port)),
                    paused: inactive,
                }
            })
            .collect()
    }

    fn call_info(
        &self,
        s: &Session,
        msg: &SipMessage,
        offer: &SdpOffer,
        opening: &[(usize, u8, Codec, bool)],
    ) -> CallInfo {
        let queue = match &self.cfg.queue_from {
            Some(QueueSource::Header(h)) => msg.header(h).map(str::to_string),
            Some(QueueSource::Metadata(e)) => s.metadata.extra_value(e).map(str::to_string),
            None => None,
        };
        let mut agent_id = None;
        let mut participants = Vec::new();
        for &(i, _, _, _) in opening {
            let label = Self::label_of(offer, i);
            let sender = s.metadata.sender_of_label(&label);
            if let Some(p) = sender.and_then(|p| p.aor.clone().or_else(|| p.name.clone())) {
                if self.cfg.roles.speaker(i, sender) == crate::call::Speaker::Agent
                    && agent_id.is_none()
                {
                    agent_id = Some(p.clone());
                }
                participants.push(p);
            }
        }
        CallInfo {
            call_id: s.call_id.clone(),
            source: "siprec".into(),
            agent_id,
            queue,
            metadata: serde_json::json!({
                "participants": participants,
                "sip_from": uri_of(msg.header("From").unwrap_or("")),
                "sip_to": uri_of(msg.header("To").unwrap_or("")),
                "recording": s.metadata,
            }),
        }
    }

    /// The media side opened (or failed to open) the streams of the last `Open` for
    /// `session`; `ports` holds one RTP port per stream, in order.
    pub fn media_opened(&mut self, session: &str, ports: Result<Vec<u16>, String>) -> Vec<Output> {
        let mut out = Vec::new();
        let now = self.now_ms();
        let contact = self.contact();
        let Some(s) = self.sessions.get_mut(session) else {
            return out;
        };
        let Some(p) = s.pending.take() else {
            return out;
        };
        let ports = match ports {
            Ok(ports) if ports.len() == p.opening.len() => ports,
            other => {
                let why = match other {
                    Err(e) => e,
                    Ok(_) => "media side returned the wrong number of ports".into(),
                };
                tracing::error!(call_id = session, error = %why, "cannot receive media");
                let mut r = p
                    .request
                    .response(503, "Service Unavailable", Some(&s.local_tag));
                r.push("Retry-After", self.cfg.retry_after_s.to_string());
                r.push(
                    "Warning",
                    warning(&format!("media ports unavailable: {why}")),
                );
                send(&mut out, s.peer, r);
                if !s.established {
                    self.end(session, "media unavailable", &mut out);
                }
                return out;
            }
        };
        for (&(i, pt, codec, inactive), port) in p.opening.iter().zip(&ports) {
            s.streams.push(StreamState {
                label: Self::label_of(&p.offer, i),
                pt,
                codec,
                port: *port,
                paused: inactive,
            });
        }
        let answers: Vec<StreamAnswer> = (0..p.offer.media.len())
            .map(|i| {
                let label = Self::label_of(&p.offer, i);
                match s.streams.iter().find(|st| st.label == label) {
                    Some(st) if p.offer.media[i].port != 0 => StreamAnswer::Accept {
                        port: st.port,
                        pt: st.pt,
                        codec: st.codec,
                    },
                    _ => StreamAnswer::Decline,
                }
            })
            .collect();
        let sdp = answer(
            &p.offer,
            &answers,
            &self.cfg.advertise,
            s.session_id,
            s.sdp_version,
        );
        s.sdp_version += 1;
        let mut r = p.request.response(200, "OK", Some(&s.local_tag));
        r.push("Contact", contact);
        r.push("Allow", ALLOW);
        r.push("Supported", SUPPORTED.join(", "));
        if s.expires_s > 0 {
            // The SRC refreshes; the SRS only watches (RFC 4028 §9).
            r.push("Session-Expires", format!("{};refresher=uac", s.expires_s));
            r.push("Require", "timer");
            s.expires_at_ms = Some(now + s.expires_s as i64 * 1000);
        }
        r.push("Content-Type", "application/sdp");
        r.body = sdp.into_bytes();
        let (cseq, method) = p.request.cseq().unwrap_or((0, String::new()));
        if method == "INVITE" {
            s.last_invite = Some((cseq, p.request.branch().to_string(), r.clone()));
            s.unacked = Some(Unacked {
                response: r.clone(),
                cseq,
                next_ms: now + T1_MS,
                interval_ms: T1_MS,
                give_up_ms: now + ACK_WAIT_MS,
            });
        }
        send(&mut out, s.peer, r);
        out
    }

    fn on_ack(&mut self, msg: &SipMessage) {
        let Some(s) = self.sessions.get_mut(msg.call_id()) else {
            return;
        };
        let cseq = msg.cseq().map(|c| c.0).unwrap_or(0);
        if s.unacked.as_ref().is_some_and(|u| u.cseq == cseq) {
            s.unacked = None;
            s.established = true;
        }
    }

    fn on_bye(&mut self, msg: &SipMessage, from: Peer, out: &mut Vec<Output>) {
        let call_id = msg.call_id().to_string();
        let cseq = msg.cseq().map(|c| c.0).ok();
        if let Some(e) = self.ended.get(&call_id) {
            if e.bye_cseq == cseq {
                if let Some(r) = &e.response {
                    send(out, from, r.clone());
                    return;
                }
            }
        }
        if !self.sessions.contains_key(&call_id) {
            send(
                out,
                from,
                msg.response(481, "Call/Transaction Does Not Exist", None),
            );
            return;
        }
        let r = msg.response(200, "OK", None);
        send(out, from, r.clone());
        self.end(&call_id, "bye", out);
        if let Some(e) = self.ended.get_mut(&call_id) {
            e.bye_cseq = cseq;
            e.response = Some(r);
        }
    }

    fn on_cancel(&mut self, msg: &SipMessage, from: Peer, out: &mut Vec<Output>) {
        let call_id = msg.call_id().to_string();
        let cseq = msg.cseq().map(|c| c.0).unwrap_or(0);
        let Some(s) = self.sessions.get_mut(&call_id) else {
            send(
                out,
                from,
                msg.response(481, "Call/Transaction Does Not Exist", None),
            );
            return;
        };
        let pending_matches = s.pending.as_ref().is_some_and(|p| {
            p.request.branch() == msg.branch() && p.request.cseq().map(|c| c.0).ok() == Some(cseq)
        });
        let answered_matches = s
            .last_invite
            .as_ref()
            .is_some_and(|(c, b, _)| *c == cseq && b == msg.branch());
        if !pending_matches {
            let code = if answered_matches { 200 } else { 481 };
            let reason = if code == 200 {
                "OK"
            } else {
                "Call/Transaction Does Not Exist"
            };
            send(out, from, msg.response(code, reason, None));
            return;
        }
        send(out, from, msg.response(200, "OK", None));
        let p = s.pending.take().unwrap();
        let tag = s.local_tag.clone();
        let established = s.established;
        send(
            out,
            s.peer,
            p.request.response(487, "Request Terminated", Some(&tag)),
        );
        if !established {
            self.end(&call_id, "cancelled", out);
        }
    }

    fn on_reinvite(&mut self, msg: SipMessage, from: Peer, out: &mut Vec<Output>) {
        self.on_modify(msg, from, out)
    }

    fn on_update(&mut self, msg: SipMessage, from: Peer, out: &mut Vec<Output>) {
        if !self.sessions.contains_key(msg.call_id()) {
            send(
                out,
                from,
                msg.response(481, "Call/Transaction Does Not Exist", None),
            );
            return;
        }
        self.on_modify(msg, from, out)
    }

    /// re-INVITE or UPDATE inside a session: hold/resume, streams added or removed, metadata
    /// updates, session refresh.
    fn on_modify(&mut self, msg: SipMessage, from: Peer, out: &mut Vec<Output>) {
        let call_id = msg.call_id().to_string();
        let now = self.now_ms();
        let (cseq, method) = msg.cseq().unwrap_or((0, String::new()));
        let session_timer = self.session_timer(&msg, "");
        let codecs = self.cfg.codecs.clone();
        let s = self.sessions.get_mut(&call_id).expect("checked by caller");
        if msg.tag("To") != Some(s.local_tag.as_str()) {
            send(
                out,
                from,
                msg.response(481, "Call/Transaction Does Not Exist", None),
            );
            return;
        }
        // An offer while ours is still open (unanswered or unacknowledged) is glare.
        if s.pending.is_some() || (method == "INVITE" && s.unacked.is_some()) {
            let mut r = msg.response(491, "Request Pending", None);
            r.push("Retry-After", "1");
            send(out, from, r);
            return;
        }
        if cseq <= s.remote_cseq && method == "INVITE" {
            send(out, from, msg.response(500, "Server Internal Error", None));
            return;
        }
        s.remote_cseq = s.remote_cseq.max(cseq);
        match session_timer {
            Ok(e) if e > 0 => s.expires_s = e,
            Ok(_) => {}
            Err(r) => {
                send(out, from, r);
                return;
            }
        }
        let (offer, metadata) = match parse_body(&msg) {
            Ok(v) => v,
            Err(e) => {
                let mut r = msg.response(400, "Bad Request", None);
                r.push("Warning", warning(&e.to_string()));
                send(out, from, r);
                return;
            }
        };
        if let Some(md) = metadata {
            s.metadata.apply(md);
        }
        if s.expires_s > 0 {
            s.expires_at_ms = Some(now + s.expires_s as i64 * 1000);
        }
        let Some(offer) = offer else {
            // A refresh or metadata update without SDP: answer with the current media.
            let mut r = msg.response(200, "OK", None);
            r.push("Contact", self.contact());
            let s = self.sessions.get_mut(&call_id).unwrap();
            if s.expires_s > 0 {
                r.push("Session-Expires", format!("{};refresher=uac", s.expires_s));
            }
            if method == "INVITE" {
                s.last_invite = Some((cseq, msg.branch().to_string(), r.clone()));
                s.unacked = Some(Unacked {
                    response: r.clone(),
                    cseq,
                    next_ms: now + T1_MS,
                    interval_ms: T1_MS,
                    give_up_ms: now + ACK_WAIT_MS,
                });
            }
            send(out, from, r);
            return;
        };
        let session = call_id.clone();
        // Existing streams: hold, resume or removal by label.
        let offered: Vec<(String, Direction, u16)> = (0..offer.media.len())
            .map(|i| {
                (
                    Self::label_of(&offer, i),
                    offer.media[i].direction,
                    offer.media[i].port,
                )
            })
            .collect();
        let mut kept = Vec::new();
        for st in std::mem::take(&mut s.streams) {
            match offered.iter().find(|(l, _, _)| *l == st.label) {
                Some((_, _, 0)) | None => out.push(Output::Media(MediaCommand::Stop {
                    session: session.clone(),
                    label: st.label.clone(),
                })),
                Some((_, dir, _)) => {
                    let hold = *dir == Direction::Inactive || *dir == Direction::RecvOnly;
                    let mut st = st;
                    if hold && !st.paused {
                        st.paused = true;
                        out.push(Output::Media(MediaCommand::Pause {
                            session: session.clone(),
                            label: st.label.clone(),
                        }));
                    } else if !hold && st.paused {
                        st.paused = false;
                        out.push(Output::Media(MediaCommand::Resume {
                            session: session.clone(),
                            label: st.label.clone(),
                        }));
                    }
                    kept.push(st);
                }
            }
        }
        s.streams = kept;
        let new_idx: Vec<usize> = (0..offer.media.len())
            .filter(|&i| {
                let l = Self::label_of(&offer, i);
                offer.media[i].port != 0 && !s.streams.iter().any(|st| st.label == l)
            })
            .collect();
        let opening: Vec<(usize, u8, Codec, bool)> = new_idx
            .into_iter()
            .filter_map(|i| {
                let m = &offer.media[i];
                let (pt, codec) = m.choose_codec(&codecs)?;
                Some((i, pt, codec, m.direction == Direction::Inactive))
            })
            .collect();
        let peer = s.peer;
        if opening.is_empty() {
            s.pending = Some(Pending {
                request: msg,
                offer,
                opening: Vec::new(),
            });
            out.extend(self.media_opened(&session, Ok(Vec::new())));
            return;
        }
        let _ = peer;
        let s = self.sessions.get(&call_id).unwrap();
        let streams = self.media_streams(s, &offer, &opening);
        let call = self.call_info(s, &msg, &offer, &opening);
        let s = self.sessions.get_mut(&call_id).unwrap();
        s.pending = Some(Pending {
            request: msg,
            offer,
            opening,
        });
        out.push(Output::Media(MediaCommand::Open {
            session,
            call,
            streams,
        }));
    }

    /// The media side saw no RTP for its inactivity timeout: end the session with a BYE.
    pub fn media_inactive(&mut self, session: &str) -> Vec<Output> {
        let mut out = Vec::new();
        if self.sessions.contains_key(session) {
            self.bye_and_end(session, "rtp timeout", &mut out);
        }
        out
    }

    /// Advances timers: 2xx retransmission until ACK, give-up, session expiry.
    pub fn tick(&mut self) -> Vec<Output> {
        let now = self.now_ms();
        let mut out = Vec::new();
        self.ended.retain(|_, e| e.until_ms > now);
        for e in self.ended.values_mut() {
            if let Some(b) = e.our_bye.as_mut().filter(|b| now >= b.next_ms) {
                out.push(Output::Send {
                    to: b.peer,
                    message: b.message.clone(),
                });
                b.interval_ms = (b.interval_ms * 2).min(T2_MS);
                b.next_ms = now + b.interval_ms;
            }
        }
        let mut give_up = Vec::new();
        let mut expired = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            if let Some(u) = s.unacked.as_mut() {
                if now >= u.give_up_ms {
                    give_up.push(id.clone());
                    continue;
                } else if now >= u.next_ms {
                    out.push(Output::Send {
                        to: s.peer,
                        message: u.response.clone(),
                    });
                    u.interval_ms = (u.interval_ms * 2).min(T2_MS);
                    u.next_ms = now + u.interval_ms;
                }
            }
            if s.expires_at_ms.is_some_and(|t| now >= t) {
                expired.push(id.clone());
            }
        }
        for id in give_up {
            tracing::warn!(
                call_id = id,
                "no ACK for the 2xx within 64*T1; ending the session"
            );
            self.bye_and_end(&id, "no ack", &mut out);
        }
        for id in expired {
            tracing::info!(call_id = id, "session not refreshed in time; ending it");
            self.bye_and_end(&id, "session expired", &mut out);
        }
        out
    }

    /// Sends our BYE, ends the session, and keeps the BYE for retransmission over UDP.
    fn bye_and_end(&mut self, id: &str, reason: &str, out: &mut Vec<Output>) {
        let bye = self.send_bye(id, out);
        self.end(id, reason, out);
        let now = self.now_ms();
        if let (Some((message, peer, cseq)), Some(e)) = (bye, self.ended.get_mut(id)) {
            // Reliable transports carry the BYE themselves (RFC 3261 17.1.2.2: no Timer E).
            if peer.transport == Transport::Udp {
                e.our_bye = Some(OutgoingBye {
                    message,
                    peer,
                    cseq,
                    next_ms: now + T1_MS,
                    interval_ms: T1_MS,
                });
            }
        }
    }

    fn send_bye(&mut self, id: &str, out: &mut Vec<Output>) -> Option<(SipMessage, Peer, u32)> {
        let branch = format!("z9hG4bK{}", self.next_token());
        let (adv, port) = (bracket(&self.cfg.advertise), self.cfg.sip_port);
        let s = self.sessions.get_mut(id)?;
        s.local_cseq += 1;
        let mut bye = SipMessage {
            start: StartLine::Request {
                method: "BYE".into(),
                uri: if s.remote_target.is_empty() {
                    uri_of(&s.remote_from).to_string()
                } else {
                    s.remote_target.clone()
                },
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        bye.push(
            "Via",
            format!(
                "SIP/2.0/{} {adv}:{port};branch={branch}",
                s.peer.transport.via()
            ),
        );
        bye.push("Max-Forwards", "70");
        bye.push("From", s.local_to.clone());
        bye.push("To", s.remote_from.clone());
        bye.push("Call-ID", s.call_id.clone());
        bye.push("CSeq", format!("{} BYE", s.local_cseq));
        send(out, s.peer, bye.clone());
        Some((bye, s.peer, s.local_cseq))
    }

    /// Removes a session and tells the media side.
    fn end(&mut self, id: &str, reason: &str, out: &mut Vec<Output>) {
        if self.sessions.remove(id).is_some() {
            out.push(Output::Media(MediaCommand::Close {
                session: id.to_string(),
                reason: reason.to_string(),
            }));
            self.ended.insert(
                id.to_string(),
                Ended {
                    until_ms: self.now_ms() + ACK_WAIT_MS,
                    bye_cseq: None,
                    response: None,
                    our_bye: None,
                },
            );
        }
    }
}

fn parse_body(msg: &SipMessage) -> Result<(Option<SdpOffer>, Option<Metadata>), Refusal> {
    if msg.body.is_empty() {
        return Ok((None, None));
    }
    let ct = msg.header("Content-Type").unwrap_or("application/sdp");
    let body = recording_body(ct, &msg.body)?;
    let offer = body.sdp.as_deref().map(parse_offer).transpose()?;
    let md = body.metadata.as_deref().map(Metadata::parse).transpose()?;
    Ok((offer, md))
}

fn send(out: &mut Vec<Output>, to: Peer, message: SipMessage) {
    out.push(Output::Send { to, message });
}

fn warning(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| *c != '"' && *c != '\r' && *c != '\n')
        .take(200)
        .collect();
    format!("399 callwatch \"{clean}\"")
}

fn bracket(addr: &str) -> String {
    if addr.contains(':') && !addr.starts_with('[') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    }
}
