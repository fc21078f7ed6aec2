//! The transaction layer's timers (RFC 3261 17): our 2xx to an INVITE resent until ACKed
//! (13.3.1.4), our BYE resent over UDP until answered (17.1.2), answers kept for
//! retransmitted requests, and ended sessions remembered for a while.

use super::reply::{bracket, reply};
use super::{send, MediaCommand, Output, Peer, Srs, Transport};
use crate::call::EndReason;
use crate::sources::siprec::message::{uri_of, SipMessage, StartLine};

/// RFC 3261 timer T1 (round-trip estimate) and T2 (retransmission cap), milliseconds.
pub const T1_MS: i64 = 500;
pub const T2_MS: i64 = 4000;
/// How long an unacknowledged 2xx is retransmitted before the session is given up (64*T1).
pub const ACK_WAIT_MS: i64 = 64 * T1_MS;

/// A 2xx to an INVITE waiting for its ACK.
#[derive(Debug, Clone)]
pub struct Unacked {
    pub response: SipMessage,
    pub cseq: u32,
    pub next_ms: i64,
    pub interval_ms: i64,
    pub give_up_ms: i64,
}

impl Unacked {
    pub fn new(response: SipMessage, cseq: u32, now: i64) -> Unacked {
        Unacked {
            response,
            cseq,
            next_ms: now + T1_MS,
            interval_ms: T1_MS,
            give_up_ms: now + ACK_WAIT_MS,
        }
    }
}

/// A recently ended session, kept to answer retransmitted BYEs.
#[derive(Debug)]
pub struct Ended {
    pub until_ms: i64,
    /// The peer of the dialog; only it gets the kept answer.
    pub peer: Peer,
    pub bye_cseq: Option<u32>,
    pub response: Option<SipMessage>,
    /// Our own BYE while it is unanswered over UDP (RFC 3261 17.1.2: Timer E, Timer F).
    pub our_bye: Option<OutgoingBye>,
}

/// A BYE we sent, retransmitted until a response arrives or 64*T1 has passed.
#[derive(Debug)]
pub struct OutgoingBye {
    pub message: SipMessage,
    pub peer: Peer,
    pub cseq: u32,
    pub next_ms: i64,
    pub interval_ms: i64,
}

impl Srs {
    /// A response to our BYE: a final one ends its retransmissions, a provisional one slows
    /// them to T2 (RFC 3261 17.1.2.2).
    pub(super) fn on_response(&mut self, msg: &SipMessage) {
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

    /// An ACK ends the 2xx retransmissions it acknowledges; one not of the dialog is ignored
    /// (ACKs are never answered).
    pub(super) fn on_ack(&mut self, msg: &SipMessage, from: Peer) {
        let Some(s) = self.sessions.get_mut(msg.call_id()) else {
            return;
        };
        if s.check(msg, from).is_err() {
            return;
        }
        let cseq = msg.cseq().map(|c| c.0).unwrap_or(0);
        if s.unacked.as_ref().is_some_and(|u| u.cseq == cseq) {
            s.unacked = None;
            s.established = true;
        }
    }

    /// Advances timers: 2xx retransmission until ACK, give-up, session expiry.
    pub fn tick(&mut self) -> Vec<Output> {
        let now = self.now_ms();
        let mut out = Vec::new();
        self.ended.retain(|_, e| e.until_ms > now);
        for e in self.ended.values_mut() {
            if let Some(b) = e.our_bye.as_mut().filter(|b| now >= b.next_ms) {
                send(&mut out, b.peer, b.message.clone());
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
                    send(&mut out, s.peer, u.response.clone());
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
            self.bye_and_end(&id, EndReason::NoAck, &mut out);
        }
        for id in expired {
            tracing::info!(call_id = id, "session not refreshed in time; ending it");
            self.bye_and_end(&id, EndReason::SessionExpired, &mut out);
        }
        out
    }

    /// Sends our BYE, ends the session, and keeps the BYE for retransmission over UDP.
    pub(super) fn bye_and_end(&mut self, id: &str, reason: EndReason, out: &mut Vec<Output>) {
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
        let port = self.cfg.port_for(s.peer.transport).unwrap_or(port);
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
    pub(super) fn end(&mut self, id: &str, reason: EndReason, out: &mut Vec<Output>) {
        if let Some(s) = self.sessions.remove(id) {
            out.push(Output::Media(MediaCommand::Close {
                session: id.to_string(),
                reason,
            }));
            self.ended.insert(
                id.to_string(),
                Ended {
                    until_ms: self.now_ms() + ACK_WAIT_MS,
                    peer: s.peer,
                    bye_cseq: None,
                    response: None,
                    our_bye: None,
                },
            );
        }
    }

    /// A retransmitted BYE of a session that already ended gets the answer it got first.
    pub(super) fn answer_retransmitted_bye(
        &self,
        msg: &SipMessage,
        from: Peer,
    ) -> Option<SipMessage> {
        let e = self.ended.get(msg.call_id())?;
        let cseq = msg.cseq().map(|c| c.0).ok();
        (e.bye_cseq == cseq && e.peer.addr.ip() == from.addr.ip())
            .then(|| e.response.clone())
            .flatten()
    }

    /// 481: the request names no dialog of ours.
    pub(super) fn no_dialog(msg: &SipMessage) -> SipMessage {
        reply(msg, 481, None)
    }
}
