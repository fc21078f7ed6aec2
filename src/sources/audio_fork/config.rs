//! How a mod_audio_fork stream describes itself: URL query parameters plus the JSON
//! metadata the dialplan sends as the first text frame. Metadata wins over the query.

use crate::call::{CallInfo, LegInfo, Speaker};
use crate::sources::fork::ForkError;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// How the fork mixes the call's audio (mod_audio_fork's `mix-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixType {
    /// One channel with the caller's audio only.
    Mono,
    /// One channel with both parties mixed together.
    Mixed,
    /// Two interleaved channels: left = caller, right = callee.
    Stereo,
}

impl MixType {
    fn parse(v: &Value) -> Result<MixType, ForkError> {
        let text = match v {
            Value::String(s) => s.trim().to_ascii_lowercase(),
            other => other.to_string(),
        };
        match text.as_str() {
            "mono" | "1" => Ok(MixType::Mono),
            "mixed" => Ok(MixType::Mixed),
            "stereo" | "2" => Ok(MixType::Stereo),
            _ => Err(ForkError::UnsupportedMixType(text)),
        }
    }

    /// Interleaved channels per sample frame.
    pub fn channels(self) -> usize {
        match self {
            MixType::Stereo => 2,
            _ => 1,
        }
    }
}

/// Everything resolved about one fork stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ForkConfig {
    pub call: CallInfo,
    pub legs: Vec<LegInfo>,
    pub sample_rate: u32,
    pub mix: MixType,
}

const CALL_ID_KEYS: &[&str] = &["callId", "call_id", "uuid", "callSid", "call_sid"];
const RATE_KEYS: &[&str] = &[
    "sampleRate",
    "sample_rate",
    "samplingRate",
    "sampling_rate",
    "rate",
];
const MIX_KEYS: &[&str] = &["mixType", "mix_type", "mix", "channels"];

/// Looks keys up in the metadata first, then in the URL query.
struct Lookup<'a> {
    metadata: &'a Map<String, Value>,
    query: &'a HashMap<String, String>,
}

impl Lookup<'_> {
    fn value(&self, keys: &[&str]) -> Option<Value> {
        let meta = keys
            .iter()
            .filter_map(|k| self.metadata.get(*k))
            .find(|v| !v.is_null());
        if let Some(v) = meta {
            return Some(v.clone());
        }
        keys.iter()
            .filter_map(|k| self.query.get(*k))
            .find(|v| !v.trim().is_empty())
            .map(|v| Value::String(v.clone()))
    }

    fn text(&self, keys: &[&str]) -> Option<String> {
        match self.value(keys)? {
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(s.trim().to_string()),
            other => Some(other.to_string()),
        }
    }
}

/// Parses `8000`, `"16000"`, `"8k"`, `"16 kHz"`.
fn parse_rate(v: &Value) -> Result<u32, ForkError> {
    let raw = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            let s = s.trim_end_matches("hz").trim();
            match s.strip_suffix('k') {
                Some(k) => k
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .and_then(|k| k.checked_mul(1000)),
                None => s.parse::<u64>().ok(),
            }
        }
        _ => None,
    };
    match raw {
        Some(r) if r % 8000 == 0 && (8000..=48000).contains(&r) => Ok(r as u32),
        Some(r) => Err(ForkError::UnsupportedSampleRate(r)),
        None => Err(ForkError::Malformed {
            event: "metadata".into(),
            detail: format!("sample rate {v} is not a number of Hz"),
        }),
    }
}

/// Reads `roles` for a stereo fork: `{"left":"agent","right":"customer"}`,
/// `["agent","customer"]` or `"agent,customer"`. Missing entries keep their defaults.
fn stereo_roles(v: Option<Value>) -> (Speaker, Speaker) {
    let mut roles = (Speaker::Customer, Speaker::Agent);
    let parse = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(|s| Speaker::parse(s).unwrap_or(Speaker::Unknown))
    };
    let (left, right) = match &v {
        Some(Value::Object(m)) => (parse(m.get("left")), parse(m.get("right"))),
        Some(Value::Array(a)) => (parse(a.first()), parse(a.get(1))),
        Some(Value::String(s)) => {
            let mut parts = s.split(',').map(|p| Value::String(p.to_string()));
            let l = parts.next();
            let r = parts.next();
            (parse(l.as_ref()), parse(r.as_ref()))
        }
        _ => (None, None),
    };
    if let Some(l) = left {
        roles.0 = l;
    }
    if let Some(r) = right {
        roles.1 = r;
    }
    roles
}

impl ForkConfig {
    /// Resolves the stream from its URL query and (when one arrived) its metadata object.
    ///
    /// Without a call id a random one is made, so audio is never dropped for want of a
    /// label. Without a sample rate the stream is refused: guessing wrong turns speech
    /// into noise silently.
    pub fn resolve(
        query: &HashMap<String, String>,
        metadata: Option<&Map<String, Value>>,
    ) -> Result<ForkConfig, ForkError> {
        let empty = Map::new();
        let metadata = metadata.unwrap_or(&empty);
        let look = Lookup { metadata, query };

        let sample_rate = match look.value(RATE_KEYS) {
            Some(v) => parse_rate(&v)?,
            None => return Err(ForkError::SampleRateUnknown),
        };
        let mix = match look.value(MIX_KEYS) {
            Some(v) => MixType::parse(&v)?,
            None => MixType::Mono,
        };
        let call_id = look
            .text(CALL_ID_KEYS)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let agent_id = look.text(&["agent_id", "agentId"]);
        let language = look.text(&["language", "lang"]);
        let speaker_override = look
            .text(&["speaker", "role"])
            .map(|s| Speaker::parse(&s).unwrap_or(Speaker::Unknown));

        let leg = |name: &str, speaker: Speaker| LegInfo {
            call_id: call_id.clone(),
            leg: name.to_string(),
            speaker,
            participant: if speaker == Speaker::Agent {
                agent_id.clone()
            } else {
                None
            },
            language: language.clone(),
        };
        let legs = match mix {
            MixType::Mono => vec![leg("mono", speaker_override.unwrap_or(Speaker::Customer))],
            MixType::Mixed => vec![leg("mixed", speaker_override.unwrap_or(Speaker::Unknown))],
            MixType::Stereo => {
                let (l, r) = stereo_roles(look.value(&["roles"]));
                vec![leg("left", l), leg("right", r)]
            }
        };
        let mut meta = metadata.clone();
        for (k, v) in query {
            meta.entry(format!("query.{k}"))
                .or_insert_with(|| Value::String(v.clone()));
        }
        let call = CallInfo {
            call_id,
            source: "audio_fork".into(),
            agent_id,
            queue: look.text(&["queue"]),
            metadata: Value::Object(meta),
        };
        Ok(ForkConfig {
            call,
            legs,
            sample_rate,
            mix,
        })
    }
}
