//! Offer/answer and the other choices a recording INVITE asks for, as pure functions of the
//! configuration and the message: which streams to take, with which codec, which leg each
//! feeds, the session interval, unsupported extensions.

use super::dialog::Session;
use super::reply::{refuse, reply};
use super::{MediaStream, QueueSource, SrsConfig, Transport, SUPPORTED};
use crate::call::{CallInfo, LegInfo};
use crate::sources::siprec::message::{uri_of, SipMessage};
use crate::sources::siprec::metadata::{Metadata, MetadataError};
use crate::sources::siprec::multipart::{recording_body, BodyError};
use crate::sources::siprec::sdp::{parse_offer, Codec, Direction, SdpError, SdpOffer};

/// One offered m-line we take: its index, payload type, codec, and whether it was offered
/// `inactive`.
pub type Chosen = (usize, u8, Codec, bool);

/// Why a recording INVITE's body was refused (mapped to a status code).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Body(#[from] BodyError),
    #[error("{0}")]
    Sdp(#[from] SdpError),
    #[error("{0}")]
    Metadata(#[from] MetadataError),
}

impl Refusal {
    /// 488 when the media cannot be taken, 400 when the body is malformed.
    pub fn code(&self) -> u16 {
        match self {
            Refusal::Sdp(SdpError::NoMedia) | Refusal::Sdp(SdpError::Crypto(_)) => 488,
            _ => 400,
        }
    }
}

/// The SDP offer and recording metadata of a body (either may be absent).
pub fn parse_body(msg: &SipMessage) -> Result<(Option<SdpOffer>, Option<Metadata>), Refusal> {
    if msg.body.is_empty() {
        return Ok((None, None));
    }
    let ct = msg.header("Content-Type").unwrap_or("application/sdp");
    let body = recording_body(ct, &msg.body)?;
    let offer = body.sdp.as_deref().map(parse_offer).transpose()?;
    let md = body.metadata.as_deref().map(Metadata::parse).transpose()?;
    Ok((offer, md))
}

/// Offer m-lines (among `range`) we can receive.
pub fn choose(
    cfg: &SrsConfig,
    offer: &SdpOffer,
    range: impl Iterator<Item = usize>,
) -> Vec<Chosen> {
    range
        .filter_map(|i| {
            let m = &offer.media[i];
            let (pt, codec) = m.choose_codec(&cfg.codecs)?;
            Some((i, pt, codec, m.direction == Direction::Inactive))
        })
        .collect()
}

/// A 420 naming the `Require`d extensions we do not support, if any.
pub fn check_require(msg: &SipMessage) -> Option<SipMessage> {
    let unknown: Vec<&str> = msg
        .header_values("Require")
        .filter(|v| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(v)))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let mut r = reply(msg, 420, None);
    r.push("Unsupported", unknown.join(", "));
    Some(r)
}

/// The session interval to use (RFC 4028; 0 when the SRC asks for none), or a 422 when the
/// SRC's is too short.
pub fn session_timer(cfg: &SrsConfig, msg: &SipMessage, tag: &str) -> Result<u32, SipMessage> {
    let Some(se) = msg.header("Session-Expires") else {
        return Ok(0);
    };
    let asked: u32 = se
        .split(';')
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(cfg.session_expires_s);
    if asked < cfg.min_se_s {
        let mut r = reply(msg, 422, Some(tag));
        r.push("Min-SE", cfg.min_se_s.to_string());
        return Err(r);
    }
    Ok(asked.min(cfg.session_expires_s.max(cfg.min_se_s)))
}

/// The refusal of an INVITE whose body cannot be used.
pub fn body_refusal(msg: &SipMessage, tag: Option<&str>, r: &Refusal) -> SipMessage {
    refuse(msg, r.code(), tag, &r.to_string())
}

/// A 488 when the offer carries SDES keys (RTP/SAVP) over a transport that is not TLS:
/// keys sent in clear protect nothing (RFC 4568 8.3 requires a secure signalling channel).
pub fn keys_need_tls(
    msg: &SipMessage,
    offer: &SdpOffer,
    transport: Transport,
    tag: Option<&str>,
) -> Option<SipMessage> {
    let secure = offer.media.iter().any(|m| m.is_secure() && m.port != 0);
    (secure && transport != Transport::Tls).then(|| {
        refuse(
            msg,
            488,
            tag,
            "RTP/SAVP with SDES keys is taken only over SIP TLS (keys sent in clear protect nothing); send it to [sip] tls_listen",
        )
    })
}

/// The SDP label of m-line `i` (its 1-based index when the SRC gave none).
pub fn label_of(offer: &SdpOffer, i: usize) -> String {
    offer.media[i]
        .label
        .clone()
        .unwrap_or_else(|| (i + 1).to_string())
}

/// The streams the media side opens for `opening`, each with its leg.
pub fn media_streams(
    cfg: &SrsConfig,
    s: &Session,
    offer: &SdpOffer,
    opening: &[Chosen],
) -> Vec<MediaStream> {
    opening
        .iter()
        .map(|&(i, pt, codec, inactive)| {
            let label = label_of(offer, i);
            let sender = s.metadata.sender_of_label(&label);
            let speaker = cfg.roles.speaker(i, sender);
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
                srtp: m.crypto.clone(),
            }
        })
        .collect()
}

/// The call the session records: agent, queue and participants from the metadata.
pub fn call_info(
    cfg: &SrsConfig,
    s: &Session,
    msg: &SipMessage,
    offer: &SdpOffer,
    opening: &[Chosen],
) -> CallInfo {
    let queue = match &cfg.queue_from {
        Some(QueueSource::Header(h)) => msg.header(h).map(str::to_string),
        Some(QueueSource::Metadata(e)) => s.metadata.extra_value(e).map(str::to_string),
        None => None,
    };
    let mut agent_id = None;
    let mut participants = Vec::new();
    for &(i, _, _, _) in opening {
        let label = label_of(offer, i);
        let sender = s.metadata.sender_of_label(&label);
        if let Some(p) = sender.and_then(|p| p.aor.clone().or_else(|| p.name.clone())) {
            if cfg.roles.speaker(i, sender) == crate::call::Speaker::Agent && agent_id.is_none() {
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
