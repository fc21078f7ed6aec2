//! Wire shapes of Twilio Media Streams messages, as far as callwatch reads them.
//!
//! Twilio sends numbers as strings in some fields (`sequenceNumber`, `timestamp`, `chunk`)
//! and as JSON numbers in others (`sampleRate`); both are accepted everywhere.

use serde::Deserialize;
use serde_json::{Map, Value};

/// The `start` message body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartBody {
    pub call_sid: Option<String>,
    pub stream_sid: Option<String>,
    pub account_sid: Option<String>,
    #[serde(default)]
    pub tracks: Vec<String>,
    pub media_format: Option<MediaFormat>,
    #[serde(default)]
    pub custom_parameters: Map<String, Value>,
}

/// `start.mediaFormat`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MediaFormat {
    pub encoding: Option<String>,
    pub sample_rate: Option<Value>,
    pub channels: Option<Value>,
}

/// The `media` message body.
#[derive(Debug, Deserialize)]
pub(crate) struct MediaBody {
    pub track: Option<String>,
    pub timestamp: Option<Value>,
    pub payload: Option<String>,
}

/// Reads a non-negative integer sent either as a JSON number or as a decimal string.
pub(crate) fn loose_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Renders a custom parameter as text; Twilio sends strings, other JSON is kept verbatim.
pub(crate) fn param_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_string()),
        other => Some(other.to_string()),
    }
}

/// Twilio names tracks `inbound`/`outbound` in messages and `inbound_track`/`outbound_track`
/// in TwiML; both mean the same leg.
pub(crate) fn normalise_track(track: &str) -> String {
    let t = track.trim().to_ascii_lowercase();
    t.strip_suffix("_track").map(str::to_string).unwrap_or(t)
}
