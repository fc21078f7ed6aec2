//! Who is publishing: call id, participant and speaker role, from the query string or headers.

use super::WhipError;
use crate::call::Speaker;
use std::collections::HashMap;

/// Header names that may carry the parameters instead of the query string.
pub const HEADERS: [(&str, &str); 6] = [
    ("call_id", "x-call-id"),
    ("participant", "x-participant-id"),
    ("role", "x-speaker-role"),
    ("queue", "x-queue"),
    ("agent_id", "x-agent-id"),
    ("language", "x-language"),
];

/// The identity of one publishing participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishParams {
    pub call_id: String,
    /// Unique within the call; becomes the leg name.
    pub participant: String,
    pub speaker: Speaker,
    /// Queue label of the call (surge detection counts arrivals per queue).
    pub queue: Option<String>,
    pub agent_id: Option<String>,
    /// Forced recognition language (`zh`, `en`).
    pub language: Option<String>,
    /// The credential publishing (set by the HTTP edge, never from the request): a live
    /// call takes legs only from the credential that opened it.
    pub opened_by: Option<String>,
}

impl PublishParams {
    /// Reads the parameters; a query value wins over the header of the same meaning.
    pub fn from_parts(
        query: &HashMap<String, String>,
        header: impl Fn(&str) -> Option<String>,
    ) -> Result<PublishParams, WhipError> {
        let get = |key: &str| -> Option<String> {
            let alias = match key {
                "participant" => Some("participant_id"),
                "role" => Some("speaker"),
                _ => None,
            };
            let from_query = query
                .get(key)
                .or_else(|| alias.and_then(|a| query.get(a)))
                .cloned();
            let header_name = HEADERS.iter().find(|(k, _)| *k == key).map(|(_, h)| *h)?;
            from_query
                .or_else(|| header(header_name))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let bad = |m: String| Err(WhipError::BadParams(m));
        let Some(call_id) = get("call_id") else {
            return bad("missing call id; pass ?call_id=… or an X-Call-Id header".into());
        };
        let Some(participant) = get("participant") else {
            return bad(
                "missing participant id; pass ?participant=… or an X-Participant-Id header".into(),
            );
        };
        let valid = |s: &str| {
            s.len() <= 128
                && s.chars()
                    .all(|c| c.is_alphanumeric() || "-_.:@+".contains(c))
        };
        if !valid(&call_id) || !valid(&participant) {
            return bad(
                "call id and participant id may hold up to 128 letters, digits and - _ . : @ +"
                    .into(),
            );
        }
        let speaker = match get("role") {
            None => Speaker::Unknown,
            Some(r) => match Speaker::parse(&r) {
                Some(s) => s,
                None => {
                    return bad(format!(
                        "unknown speaker role `{r}`; use customer, agent or unknown"
                    ))
                }
            },
        };
        let language = get("language");
        if let Some(l) = &language {
            crate::transforms::asr::language::validate_codes(std::slice::from_ref(l))
                .map_err(WhipError::BadParams)?;
        }
        Ok(PublishParams {
            call_id,
            participant,
            speaker,
            queue: get("queue"),
            agent_id: get("agent_id"),
            language,
            opened_by: None,
        })
    }
}
