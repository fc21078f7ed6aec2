//! One recording dialog (RFC 3261 12): its identity (Call-ID, both tags, the peer that
//! opened it), its sequence numbers and route, and the streams it records. An in-dialog
//! request that does not match all of these is not from the recording client.

use super::negotiation::Chosen;
use super::transaction::Unacked;
use super::Peer;
use crate::sources::siprec::message::SipMessage;
use crate::sources::siprec::metadata::Metadata;
use crate::sources::siprec::sdp::{Codec, SdpOffer};

#[derive(Debug, Clone)]
pub struct StreamState {
    pub label: String,
    pub pt: u8,
    pub codec: Codec,
    pub port: u16,
    pub paused: bool,
    /// The SRC's SDES key of a secure stream; a re-INVITE may not change it.
    pub key: Option<crate::sources::siprec::sdp::CryptoOffer>,
}

/// A request waiting for the media side before it can be answered.
#[derive(Debug, Clone)]
pub struct Pending {
    pub request: SipMessage,
    pub offer: SdpOffer,
    /// Offer m-lines sent to the media side, in the order of their ports.
    pub opening: Vec<Chosen>,
}

#[derive(Debug)]
pub struct Session {
    pub call_id: String,
    pub peer: Peer,
    pub local_tag: String,
    /// The SRC's From tag (RFC 3261 12.1.1: the remote tag).
    pub remote_tag: Option<String>,
    /// The SRC's From (with its tag): our To on requests we send.
    pub remote_from: String,
    /// The SRC's To with our tag: our From on requests we send.
    pub local_to: String,
    pub remote_target: String,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    /// The INVITE (or UPDATE) being answered; set until media answers.
    pub pending: Option<Pending>,
    /// The last final response to the initial INVITE or a re-INVITE, for retransmissions.
    pub last_invite: Option<(u32, String, SipMessage)>,
    pub unacked: Option<Unacked>,
    pub established: bool,
    pub streams: Vec<StreamState>,
    pub metadata: Metadata,
    pub sdp_version: u64,
    pub session_id: u64,
    pub expires_s: u32,
    pub expires_at_ms: Option<i64>,
}

/// Why an in-dialog request was not taken as the recording client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// The From tag is not the one the dialog was opened with.
    RemoteTag,
    /// The To tag is not ours (CANCEL, which has none, is exempt).
    LocalTag,
    /// Sent from another IP address than the dialog's peer, or over another transport (a
    /// dialog set up over TLS takes nothing over UDP).
    Peer,
}

impl Mismatch {
    pub fn as_str(self) -> &'static str {
        match self {
            Mismatch::RemoteTag => "from_tag",
            Mismatch::LocalTag => "to_tag",
            Mismatch::Peer => "peer_address",
        }
    }
}

impl Session {
    /// Whether `msg` (same Call-ID) belongs to this dialog: both tags, the peer's address and
    /// transport. The port is not compared: a TCP client reconnects from a new one.
    pub fn check(&self, msg: &SipMessage, from: Peer) -> Result<(), Mismatch> {
        if msg.tag("From") != self.remote_tag.as_deref() {
            return Err(Mismatch::RemoteTag);
        }
        if msg.method() != "CANCEL" && msg.tag("To") != Some(self.local_tag.as_str()) {
            return Err(Mismatch::LocalTag);
        }
        if from.addr.ip() != self.peer.addr.ip() || from.transport != self.peer.transport {
            return Err(Mismatch::Peer);
        }
        Ok(())
    }
}
