//! re-INVITE and UPDATE inside a recording dialog: hold and resume, streams added or
//! removed, metadata updates, session refresh.

use super::dialog::Pending;
use super::negotiation::{
    call_info, keys_need_tls, label_of, media_streams, parse_body, session_timer, Chosen,
};
use super::reply::{refuse, reply};
use super::transaction::Unacked;
use super::{send, MediaCommand, Output, Peer, Srs};
use crate::sources::siprec::message::SipMessage;
use crate::sources::siprec::sdp::Direction;

impl Srs {
    pub(super) fn on_update(&mut self, msg: SipMessage, from: Peer, out: &mut Vec<Output>) {
        if !self.sessions.contains_key(msg.call_id()) {
            send(out, from, Self::no_dialog(&msg));
            return;
        }
        self.on_modify(msg, from, out)
    }

    pub(super) fn on_modify(&mut self, msg: SipMessage, from: Peer, out: &mut Vec<Output>) {
        let call_id = msg.call_id().to_string();
        let now = self.now_ms();
        let (cseq, method) = msg.cseq().unwrap_or((0, String::new()));
        let session_timer = session_timer(&self.cfg, &msg, "");
        let codecs = self.cfg.codecs.clone();
        let s = self.sessions.get_mut(&call_id).expect("checked by caller");
        if let Err(m) = s.check(&msg, from) {
            tracing::warn!(call_id, peer = %from.addr, mismatch = m.as_str(), method, "in-dialog request that does not match the recording dialog refused with 481");
            send(out, from, Self::no_dialog(&msg));
            return;
        }
        // An offer while ours is still open (unanswered or unacknowledged) is glare.
        if s.pending.is_some() || (method == "INVITE" && s.unacked.is_some()) {
            let mut r = reply(&msg, 491, None);
            r.push("Retry-After", "1");
            send(out, from, r);
            return;
        }
        if cseq <= s.remote_cseq && method == "INVITE" {
            send(out, from, reply(&msg, 500, None));
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
                send(out, from, refuse(&msg, e.code(), None, &e.to_string()));
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
            let mut r = reply(&msg, 200, None);
            r.push("Contact", self.contact(from.transport));
            let s = self.sessions.get_mut(&call_id).expect("present above");
            if s.expires_s > 0 {
                r.push("Session-Expires", format!("{};refresher=uac", s.expires_s));
            }
            if method == "INVITE" {
                s.last_invite = Some((cseq, msg.branch().to_string(), r.clone()));
                s.unacked = Some(Unacked::new(r.clone(), cseq, now));
            }
            send(out, from, r);
            return;
        };
        if let Some(r) = keys_need_tls(&msg, &offer, from.transport, None) {
            send(out, from, r);
            return;
        }
        // A kept stream's SRTP key (or its being secure at all) cannot change under a running
        // receiver: refuse the offer and keep recording with what was agreed.
        let rekeyed = (0..offer.media.len()).any(|i| {
            let label = label_of(&offer, i);
            s.streams.iter().any(|st| {
                st.label == label && offer.media[i].port != 0 && st.key != offer.media[i].crypto
            })
        });
        if rekeyed {
            send(out, from, refuse(&msg, 488, None, "changing a recorded stream's SRTP keys is not supported; keep the keys, or remove the stream and offer it under a new label"));
            return;
        }
        let session = call_id.clone();
        // Existing streams: hold, resume or removal by label.
        let offered: Vec<(String, Direction, u16)> = (0..offer.media.len())
            .map(|i| {
                (
                    label_of(&offer, i),
                    offer.media[i].direction,
                    offer.media[i].port,
                )
            })
            .collect();
        let mut kept = Vec::new();
        for mut st in std::mem::take(&mut s.streams) {
            let label = st.label.clone();
            let command = match offered.iter().find(|(l, _, _)| *l == st.label) {
                Some((_, _, 0)) | None => Some(MediaCommand::Stop {
                    session: session.clone(),
                    label,
                }),
                Some((_, dir, _)) => {
                    let hold = *dir == Direction::Inactive || *dir == Direction::RecvOnly;
                    let change = (hold != st.paused).then(|| match hold {
                        true => MediaCommand::Pause {
                            session: session.clone(),
                            label,
                        },
                        false => MediaCommand::Resume {
                            session: session.clone(),
                            label,
                        },
                    });
                    st.paused = hold;
                    kept.push(st);
                    change
                }
            };
            out.extend(command.map(Output::Media));
        }
        s.streams = kept;
        let opening: Vec<Chosen> = (0..offer.media.len())
            .filter(|&i| {
                let l = label_of(&offer, i);
                offer.media[i].port != 0 && !s.streams.iter().any(|st| st.label == l)
            })
            .filter_map(|i| {
                let m = &offer.media[i];
                let (pt, codec) = m.choose_codec(&codecs)?;
                Some((i, pt, codec, m.direction == Direction::Inactive))
            })
            .collect();
        if opening.is_empty() {
            s.pending = Some(Pending {
                request: msg,
                offer,
                opening: Vec::new(),
            });
            out.extend(self.media_opened(&session, Ok(Vec::new())));
            return;
        }
        let s = &self.sessions[&call_id];
        let streams = media_streams(&self.cfg, s, &offer, &opening);
        let call = call_info(&self.cfg, s, &msg, &offer, &opening);
        let s = self.sessions.get_mut(&call_id).expect("present above");
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
}
