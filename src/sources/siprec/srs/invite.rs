//! A new recording session: the initial INVITE is checked, its offer chosen from, the media
//! side asked for ports, and the answer sent once they are known.

use super::dialog::{Pending, Session, StreamState};
use super::negotiation::{
    body_refusal, call_info, check_require, choose, keys_need_tls, label_of, media_streams,
    parse_body, session_timer,
};
use super::reply::{refuse, reply, warning};
use super::transaction::Unacked;
use super::{send, MediaCommand, Output, Peer, Srs, ALLOW, SUPPORTED};
use crate::sources::siprec::message::{has_flag, param, uri_of, SipMessage};
use crate::sources::siprec::sdp::{answer, CryptoOffer, StreamAnswer, SDES_KEY_LEN};

/// Our `a=crypto` for an SDES offer: the same tag and suite, a fresh key. The recorder sends
/// no media, but an RTP/SAVP answer must carry a key (RFC 4568 6.1).
fn answer_key(offer: &CryptoOffer) -> String {
    use base64::Engine;
    let mut key = [0u8; SDES_KEY_LEN];
    getrandom::fill(&mut key).expect("the OS random source");
    format!(
        "{} {} inline:{}",
        offer.tag,
        offer.suite.name(),
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

impl Srs {
    pub(super) fn on_invite(&mut self, msg: SipMessage, from: Peer, out: &mut Vec<Output>) {
        let call_id = msg.call_id().to_string();
        let (cseq, _) = msg.cseq().unwrap_or((0, String::new()));
        if let Some(s) = self.sessions.get(&call_id) {
            // A retransmission of the INVITE being (or last) answered gets the same answer.
            if s.peer.addr.ip() == from.addr.ip() {
                if let Some(p) = &s.pending {
                    if p.request.branch() == msg.branch()
                        && p.request.cseq().ok() == msg.cseq().ok()
                    {
                        send(out, from, reply(&msg, 100, None));
                        return;
                    }
                }
                if let Some((c, branch, resp)) = &s.last_invite {
                    if *c == cseq && branch == msg.branch() {
                        send(out, from, resp.clone());
                        return;
                    }
                }
            }
            if msg.tag("To").is_some() {
                return self.on_modify(msg, from, out);
            }
            // The same Call-ID without a To tag and not a retransmission: another client
            // cannot take over (or fork) a live recording.
            tracing::warn!(call_id, peer = %from.addr, "INVITE reusing the Call-ID of a live recording refused");
            send(out, from, Self::no_dialog(&msg));
            return;
        }
        if msg.tag("To").is_some() {
            send(out, from, Self::no_dialog(&msg));
            return;
        }
        if let Some(r) = check_require(&msg) {
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
            send(out, from, refuse(&msg, 403, Some(&tag), "this is a SIPREC recording server; send Require: siprec and a Contact with +sip.src"));
            return;
        }
        if self.sessions.len() >= self.cfg.max_sessions {
            let mut r = reply(&msg, 503, Some(&tag));
            r.push("Retry-After", self.cfg.retry_after_s.to_string());
            send(out, from, r);
            return;
        }
        let expires = match session_timer(&self.cfg, &msg, &tag) {
            Ok(e) => e,
            Err(r) => {
                send(out, from, r);
                return;
            }
        };
        let (offer, metadata) = match parse_body(&msg) {
            Ok(v) => v,
            Err(r) => {
                send(out, from, body_refusal(&msg, Some(&tag), &r));
                return;
            }
        };
        let Some(offer) = offer else {
            send(
                out,
                from,
                refuse(
                    &msg,
                    488,
                    Some(&tag),
                    "the recording INVITE carries no SDP offer; send application/sdp in the INVITE",
                ),
            );
            return;
        };
        if let Some(r) = keys_need_tls(&msg, &offer, from.transport, Some(&tag)) {
            send(out, from, r);
            return;
        }
        let opening = choose(&self.cfg, &offer, 0..offer.media.len());
        if opening.is_empty() {
            let mut r = reply(&msg, 488, Some(&tag));
            r.push(
                "Warning",
                warning(
                    305,
                    "no offered audio stream uses a codec we take (PCMU, PCMA or opus)",
                ),
            );
            send(out, from, r);
            return;
        }
        send(out, from, reply(&msg, 100, None));
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
            remote_tag: msg.tag("From").map(str::to_string),
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
            metadata: metadata.unwrap_or_default(),
            sdp_version: 1,
            session_id,
            expires_s: expires,
            expires_at_ms: None,
        };
        let call = call_info(&self.cfg, &session, &msg, &offer, &opening);
        let streams = media_streams(&self.cfg, &session, &offer, &opening);
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

    /// The media side opened (or failed to open) the streams of the last `Open` for
    /// `session`; `ports` holds one RTP port per stream, in order.
    pub fn media_opened(&mut self, session: &str, ports: Result<Vec<u16>, String>) -> Vec<Output> {
        let mut out = Vec::new();
        let now = self.now_ms();
        let Some(transport) = self.sessions.get(session).map(|s| s.peer.transport) else {
            return out;
        };
        let contact = self.contact(transport);
        let s = self.sessions.get_mut(session).expect("present above");
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
                let mut r = refuse(
                    &p.request,
                    503,
                    Some(&s.local_tag),
                    &format!("media ports unavailable: {why}"),
                );
                r.push("Retry-After", self.cfg.retry_after_s.to_string());
                send(&mut out, s.peer, r);
                if !s.established {
                    self.end(session, crate::call::EndReason::MediaUnavailable, &mut out);
                }
                return out;
            }
        };
        for (&(i, pt, codec, inactive), port) in p.opening.iter().zip(&ports) {
            s.streams.push(StreamState {
                label: label_of(&p.offer, i),
                pt,
                codec,
                port: *port,
                paused: inactive,
                key: p.offer.media[i].crypto.clone(),
            });
        }
        let answers: Vec<StreamAnswer> = (0..p.offer.media.len())
            .map(|i| {
                let label = label_of(&p.offer, i);
                match s.streams.iter().find(|st| st.label == label) {
                    Some(st) if p.offer.media[i].port != 0 => StreamAnswer::Accept {
                        port: st.port,
                        pt: st.pt,
                        codec: st.codec,
                        crypto: p.offer.media[i].crypto.as_ref().map(answer_key),
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
        let mut r = reply(&p.request, 200, Some(&s.local_tag));
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
            s.unacked = Some(Unacked::new(r.clone(), cseq, now));
        }
        send(&mut out, s.peer, r);
        out
    }
}
