//! BYE and CANCEL: the two ways the recording client ends what it started. Both must come
//! from the dialog's peer with its tags; anything else gets 481 and the recording goes on.

use super::reply::reply;
use super::{send, Output, Peer, Srs};
use crate::sources::siprec::message::SipMessage;

impl Srs {
    pub(super) fn on_bye(&mut self, msg: &SipMessage, from: Peer, out: &mut Vec<Output>) {
        let call_id = msg.call_id().to_string();
        if let Some(r) = self.answer_retransmitted_bye(msg, from) {
            send(out, from, r);
            return;
        }
        let Some(s) = self.sessions.get(&call_id) else {
            send(out, from, Self::no_dialog(msg));
            return;
        };
        if let Err(m) = s.check(msg, from) {
            tracing::warn!(call_id, peer = %from.addr, mismatch = m.as_str(), "BYE that does not match the recording dialog refused with 481; recording goes on");
            send(out, from, Self::no_dialog(msg));
            return;
        }
        let r = reply(msg, 200, None);
        send(out, from, r.clone());
        self.end(&call_id, crate::call::EndReason::Bye, out);
        if let Some(e) = self.ended.get_mut(&call_id) {
            e.bye_cseq = msg.cseq().map(|c| c.0).ok();
            e.response = Some(r);
        }
    }

    pub(super) fn on_cancel(&mut self, msg: &SipMessage, from: Peer, out: &mut Vec<Output>) {
        let call_id = msg.call_id().to_string();
        let cseq = msg.cseq().map(|c| c.0).unwrap_or(0);
        let Some(s) = self.sessions.get_mut(&call_id) else {
            send(out, from, Self::no_dialog(msg));
            return;
        };
        if let Err(m) = s.check(msg, from) {
            tracing::warn!(call_id, peer = %from.addr, mismatch = m.as_str(), "CANCEL that does not match the recording dialog refused with 481");
            send(out, from, Self::no_dialog(msg));
            return;
        }
        let pending_matches = s.pending.as_ref().is_some_and(|p| {
            p.request.branch() == msg.branch() && p.request.cseq().map(|c| c.0).ok() == Some(cseq)
        });
        let answered_matches = s
            .last_invite
            .as_ref()
            .is_some_and(|(c, b, _)| *c == cseq && b == msg.branch());
        if !pending_matches {
            let code = if answered_matches { 200 } else { 481 };
            send(out, from, reply(msg, code, None));
            return;
        }
        send(out, from, reply(msg, 200, None));
        let p = s.pending.take().expect("pending_matches");
        let tag = s.local_tag.clone();
        let established = s.established;
        send(out, s.peer, reply(&p.request, 487, Some(&tag)));
        if !established {
            self.end(&call_id, crate::call::EndReason::Cancelled, out);
        }
    }
}
