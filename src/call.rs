//! Identity of calls and legs, shared by every stage from source to archive.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who is speaking on a leg. Fixed when the leg starts and carried to the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    Agent,
    Customer,
    #[default]
    Unknown,
}

impl Speaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Agent => "agent",
            Speaker::Customer => "customer",
            Speaker::Unknown => "unknown",
        }
    }

    /// Parses the role names used in fork metadata and query strings.
    pub fn parse(s: &str) -> Option<Speaker> {
        match s.trim().to_ascii_lowercase().as_str() {
            "agent" | "坐席" => Some(Speaker::Agent),
            "customer" | "caller" | "客户" => Some(Speaker::Customer),
            "unknown" => Some(Speaker::Unknown),
            _ => None,
        }
    }
}

impl fmt::Display for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the pipeline needs to know about one leg (one speaker's audio track).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegInfo {
    pub call_id: String,
    /// Leg name, unique within the call (e.g. `inbound`, `outbound`, `left`, `right`, `ch0`).
    pub leg: String,
    pub speaker: Speaker,
    /// Agent id, participant AOR or similar identity, when the source tells it.
    pub participant: Option<String>,
    /// Language forced for this leg (`zh`, `en`); `None` lets the recogniser choose within the configured set.
    pub language: Option<String>,
}

/// Metadata of a call as announced by its source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallInfo {
    pub call_id: String,
    /// `twilio`, `audio_fork`, `file`, ...
    pub source: String,
    /// Agent id, when the source tells it (fork metadata, custom parameters).
    pub agent_id: Option<String>,
    /// Queue/line label, when the source tells it.
    pub queue: Option<String>,
    /// Free-form metadata from the source, kept for the archive.
    pub metadata: serde_json::Value,
}

impl CallInfo {
    /// Participants named in `metadata.participants` (strings), as SIPREC sessions record them.
    pub fn participants(&self) -> Vec<String> {
        self.metadata
            .get("participants")
            .and_then(|p| p.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A call's agent id and queue: who may watch it live.
pub type CallScope = (Option<String>, Option<String>);

/// Why a leg ended. The reason of a call's last leg to end is archived as the call's end reason
/// and sent with `call.ended`, spelled as [`EndReason::as_str`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The source ended the stream in the ordinary way: a fork's stop message or closed
    /// socket, an AudioSocket hangup, the end of a file, a source that said nothing.
    #[default]
    Hangup,
    /// SIPREC: the recording client sent BYE.
    Bye,
    /// SIPREC: the recording client cancelled the INVITE.
    Cancelled,
    /// SIPREC: no ACK came for our 2xx.
    NoAck,
    /// SIPREC: the session timer ran out without a refresh (RFC 4028).
    SessionExpired,
    /// SIPREC: the media ports could not be opened.
    MediaUnavailable,
    /// No RTP arrived for the configured time.
    RtpTimeout,
    /// WHIP: no audio for the configured media timeout.
    MediaTimeout,
    /// The peer vanished: ICE lost it, or its connection broke.
    Disconnected,
    /// No data came for the idle timeout (AudioSocket).
    Idle,
    /// The session was deleted through the API (WHIP or RTP `DELETE`).
    Deleted,
    /// The media stack failed (DTLS refused, a protocol error).
    Failed,
    /// A socket error stopped reception.
    SocketError,
    /// Another leg of the same request was refused, so this one was never streamed.
    Rejected,
    /// The service is shutting down.
    Shutdown,
    /// The service stopped without ending the call; found open at the next start.
    Interrupted,
}

impl EndReason {
    /// The archived spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndReason::Hangup => "hangup",
            EndReason::Bye => "bye",
            EndReason::Cancelled => "cancelled",
            EndReason::NoAck => "no_ack",
            EndReason::SessionExpired => "session_expired",
            EndReason::MediaUnavailable => "media_unavailable",
            EndReason::RtpTimeout => "rtp_timeout",
            EndReason::MediaTimeout => "media_timeout",
            EndReason::Disconnected => "disconnected",
            EndReason::Idle => "idle",
            EndReason::Deleted => "deleted",
            EndReason::Failed => "failed",
            EndReason::SocketError => "socket_error",
            EndReason::Rejected => "rejected",
            EndReason::Shutdown => "shutdown",
            EndReason::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod end_reason_tests {
    use super::EndReason;

    /// Every reason, so a new variant must be added here (the match has no wildcard).
    fn all() -> Vec<EndReason> {
        use EndReason::*;
        let all = vec![
            Hangup,
            Bye,
            Cancelled,
            NoAck,
            SessionExpired,
            MediaUnavailable,
            RtpTimeout,
            MediaTimeout,
            Disconnected,
            Idle,
            Deleted,
            Failed,
            SocketError,
            Rejected,
            Shutdown,
            Interrupted,
        ];
        for r in &all {
            match r {
                Hangup | Bye | Cancelled | NoAck | SessionExpired | MediaUnavailable
                | RtpTimeout | MediaTimeout | Disconnected | Idle | Deleted | Failed
                | SocketError | Rejected | Shutdown | Interrupted => {}
            }
        }
        all
    }

    #[test]
    fn the_archived_spelling_is_the_wire_spelling_and_reads_back() {
        for r in all() {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<EndReason>(&json).unwrap(), r);
        }
    }

    /// Journals written before the reasons were typed hold these spellings; they must replay.
    #[test]
    fn spellings_archived_before_reasons_were_typed_still_read() {
        for s in [
            "hangup",
            "bye",
            "cancelled",
            "no_ack",
            "session_expired",
            "media_unavailable",
            "rtp_timeout",
            "media_timeout",
            "disconnected",
            "failed",
            "shutdown",
            "socket_error",
            "rejected",
            "deleted",
        ] {
            let r: EndReason = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(r.as_str(), s);
        }
    }
}
