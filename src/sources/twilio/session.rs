//! Sans-IO state machine for one Twilio Media Streams WebSocket.

use super::messages::{loose_u64, normalise_track, param_text, MediaBody, StartBody};
use crate::call::{CallInfo, LegInfo, Speaker};
use crate::sources::fork::{ForkError, ForkOutput, ForkSession};
use crate::transforms::decode::decode_ulaw;
use base64::Engine;
use serde_json::{json, Map, Value};

/// The only media format Twilio Media Streams sends.
pub const TWILIO_ENCODING: &str = "audio/x-mulaw";
/// Sample rate of Twilio media.
pub const TWILIO_RATE: u32 = 8_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    AwaitingStart,
    Streaming { legs: Vec<String> },
    Stopped,
}

/// One Twilio Media Streams connection.
///
/// Feed every text frame to [`ForkSession::on_text`]. `connected`, `mark`, `dtmf` and
/// unknown events produce nothing; `start` yields [`ForkOutput::Start`], each `media`
/// yields [`ForkOutput::Audio`] with mu-law already decoded, and `stop` yields
/// [`ForkOutput::Stop`].
///
/// Speakers: the `inbound` track is the customer and `outbound` the agent, unless the
/// `<Stream>`'s custom parameters say otherwise with `inbound_role` / `outbound_role`
/// (`agent`, `customer`; anything else makes the leg's speaker unknown). Custom
/// parameters `agent_id`, `queue` and `language` (or `inbound_language` /
/// `outbound_language`) fill the call and leg metadata.
#[derive(Debug)]
pub struct TwilioSession {
    state: State,
    last_sequence: Option<u64>,
    sequence_gaps: u64,
    stream_sid: Option<String>,
}

impl Default for TwilioSession {
    fn default() -> Self {
        Self::new()
    }
}

impl TwilioSession {
    /// A session waiting for its `start` message.
    pub fn new() -> Self {
        TwilioSession {
            state: State::AwaitingStart,
            last_sequence: None,
            sequence_gaps: 0,
            stream_sid: None,
        }
    }

    /// Messages missing according to `sequenceNumber` (Twilio numbers every message).
    pub fn sequence_gaps(&self) -> u64 {
        self.sequence_gaps
    }

    /// The stream's `streamSid`, once `start` arrived.
    pub fn stream_sid(&self) -> Option<&str> {
        self.stream_sid.as_deref()
    }

    fn note_sequence(&mut self, msg: &Map<String, Value>) {
        let Some(seq) = msg.get("sequenceNumber").and_then(loose_u64) else {
            return;
        };
        if let Some(last) = self.last_sequence {
            // Peers control these numbers, so nothing here may overflow.
            if seq > last.saturating_add(1) {
                self.sequence_gaps = self.sequence_gaps.saturating_add(seq - last - 1);
            }
        }
        self.last_sequence = Some(seq);
    }

    fn on_start(&mut self, msg: &Map<String, Value>) -> Result<Vec<ForkOutput>, ForkError> {
        match self.state {
            State::AwaitingStart => {}
            State::Streaming { .. } => return Err(ForkError::DuplicateStart),
            State::Stopped => return Err(ForkError::AfterStop("start".into())),
        }
        let body: StartBody = body_of(msg, "start")?;
        check_format(&body)?;
        let call_id = body.call_sid.clone().ok_or_else(|| ForkError::Malformed {
            event: "start".into(),
            detail: "start.callSid is missing".into(),
        })?;
        let stream_sid = body
            .stream_sid
            .clone()
            .or_else(|| msg.get("streamSid").and_then(param_text));
        let params = &body.custom_parameters;
        let param = |k: &str| params.get(k).and_then(param_text);

        let mut tracks: Vec<String> = Vec::new();
        for t in &body.tracks {
            let t = normalise_track(t);
            if t != "inbound" && t != "outbound" {
                return Err(ForkError::Malformed {
                    event: "start".into(),
                    detail: format!(
                        "start.tracks lists `{t}`; Twilio tracks are inbound and outbound"
                    ),
                });
            }
            if !tracks.contains(&t) {
                tracks.push(t);
            }
        }
        if tracks.is_empty() {
            // Twilio's default `<Stream track>` is inbound only.
            tracks.push("inbound".into());
        }

        let agent_id = param("agent_id");
        let legs = tracks
            .iter()
            .map(|track| {
                let default = if track == "inbound" {
                    Speaker::Customer
                } else {
                    Speaker::Agent
                };
                let speaker = match param(&format!("{track}_role")) {
                    Some(role) => Speaker::parse(&role).unwrap_or(Speaker::Unknown),
                    None => default,
                };
                let participant = match speaker {
                    Speaker::Agent => agent_id.clone(),
                    _ => None,
                };
                LegInfo {
                    call_id: call_id.clone(),
                    leg: track.clone(),
                    speaker,
                    participant,
                    language: param(&format!("{track}_language")).or_else(|| param("language")),
                }
            })
            .collect();

        let call = CallInfo {
            call_id: call_id.clone(),
            source: "twilio".into(),
            agent_id,
            queue: param("queue"),
            metadata: json!({
                "streamSid": stream_sid,
                "accountSid": body.account_sid,
                "tracks": tracks,
                "customParameters": Value::Object(params.clone()),
            }),
        };
        self.stream_sid = stream_sid;
        self.state = State::Streaming {
            legs: tracks.clone(),
        };
        Ok(vec![ForkOutput::Start {
            call,
            legs,
            sample_rate: TWILIO_RATE,
        }])
    }

    fn on_media(&mut self, msg: &Map<String, Value>) -> Result<Vec<ForkOutput>, ForkError> {
        let legs = match &self.state {
            State::AwaitingStart => return Err(ForkError::BeforeStart("media".into())),
            State::Stopped => return Err(ForkError::AfterStop("media".into())),
            State::Streaming { legs } => legs,
        };
        let body: MediaBody = body_of(msg, "media")?;
        let malformed = |detail: &str| ForkError::Malformed {
            event: "media".into(),
            detail: detail.into(),
        };
        // Twilio omits `track` only on inbound-only streams.
        let track = normalise_track(body.track.as_deref().unwrap_or("inbound"));
        if !legs.contains(&track) {
            return Err(ForkError::UnknownTrack {
                track,
                announced: legs.clone(),
            });
        }
        let media_ms = body
            .timestamp
            .as_ref()
            .map(|t| {
                loose_u64(t).ok_or_else(|| malformed("media.timestamp is not a millisecond count"))
            })
            .transpose()?
            .unwrap_or(0);
        let payload = body
            .payload
            .ok_or_else(|| malformed("media.payload is missing"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|e| ForkError::BadBase64(e.to_string()))?;
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![ForkOutput::Audio {
            leg: track,
            media_ms,
            samples: decode_ulaw(&bytes),
        }])
    }

    fn on_stop(&mut self) -> Result<Vec<ForkOutput>, ForkError> {
        match self.state {
            State::AwaitingStart => Err(ForkError::BeforeStart("stop".into())),
            State::Stopped => Ok(Vec::new()),
            State::Streaming { .. } => {
                self.state = State::Stopped;
                Ok(vec![ForkOutput::Stop])
            }
        }
    }
}

fn body_of<T: serde::de::DeserializeOwned>(
    msg: &Map<String, Value>,
    event: &str,
) -> Result<T, ForkError> {
    let body = msg
        .get(event)
        .cloned()
        .ok_or_else(|| ForkError::Malformed {
            event: event.into(),
            detail: format!("the `{event}` object is missing"),
        })?;
    serde_json::from_value(body).map_err(|e| ForkError::Malformed {
        event: event.into(),
        detail: e.to_string(),
    })
}

fn check_format(body: &StartBody) -> Result<(), ForkError> {
    let Some(format) = &body.media_format else {
        // Older streams omit mediaFormat; Twilio media is always 8 kHz mu-law.
        return Ok(());
    };
    let encoding = format
        .encoding
        .clone()
        .unwrap_or_else(|| TWILIO_ENCODING.into());
    let sample_rate = format
        .sample_rate
        .as_ref()
        .map(|v| loose_u64(v).unwrap_or(0))
        .unwrap_or(TWILIO_RATE as u64);
    let channels = format
        .channels
        .as_ref()
        .map(|v| loose_u64(v).unwrap_or(0))
        .unwrap_or(1);
    if !encoding.eq_ignore_ascii_case(TWILIO_ENCODING)
        || sample_rate != TWILIO_RATE as u64
        || channels != 1
    {
        return Err(ForkError::UnsupportedFormat {
            encoding,
            sample_rate,
            channels,
        });
    }
    Ok(())
}

impl ForkSession for TwilioSession {
    fn on_text(&mut self, text: &str) -> Result<Vec<ForkOutput>, ForkError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ForkError::InvalidJson(e.to_string()))?;
        let Value::Object(msg) = value else {
            return Err(ForkError::InvalidJson(
                "the frame is JSON but not an object".into(),
            ));
        };
        let event = match msg.get("event") {
            Some(Value::String(e)) => e.clone(),
            _ => {
                return Err(ForkError::Malformed {
                    event: "?".into(),
                    detail: "the `event` field is missing or not a string".into(),
                })
            }
        };
        self.note_sequence(&msg);
        match event.as_str() {
            "start" => self.on_start(&msg),
            "media" => self.on_media(&msg),
            "stop" => self.on_stop(),
            // connected, mark, dtmf and events added later carry nothing the pipeline uses.
            _ => Ok(Vec::new()),
        }
    }

    fn on_binary(&mut self, _data: &[u8]) -> Result<Vec<ForkOutput>, ForkError> {
        Err(ForkError::UnexpectedBinary)
    }

    fn on_close(&mut self) -> Vec<ForkOutput> {
        match self.state {
            State::Streaming { .. } => {
                self.state = State::Stopped;
                vec![ForkOutput::Stop]
            }
            _ => Vec::new(),
        }
    }
}
