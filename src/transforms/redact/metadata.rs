//! Call metadata (fork metadata, Twilio `customParameters`, SIPREC participants and
//! recording metadata) goes to the archive and to `call.started`, so it is redacted too: a
//! caller's number in a SIP URI or a custom parameter is as sensitive as one spoken.

use super::Redactor;
use serde_json::Value;

/// What replaces a value whose key names a person.
pub const HIDDEN: &str = "[redacted]";

impl Redactor {
    /// `metadata` with every value redacted, except those under a key of `metadata_keep`;
    /// values under a key naming a person (containing `name`) are replaced by [`HIDDEN`].
    /// Numbers are redacted as text. Unchanged when redaction is off.
    pub fn redact_metadata(&self, metadata: &Value) -> Value {
        if !self.is_enabled() {
            return metadata.clone();
        }
        self.value(metadata, false)
    }

    /// A participant's address or name as it may be shown (`sip:[手机号]@pstn.example`).
    pub fn redact_participant(&self, participant: &str) -> String {
        if !self.is_enabled() {
            return participant.to_string();
        }
        self.redact(participant, "").text
    }

    fn value(&self, v: &Value, names_a_person: bool) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let out = if self.metadata_keep.contains(k) {
                            v.clone()
                        } else {
                            self.value(v, names_a_person || k.to_ascii_lowercase().contains("name"))
                        };
                        (k.clone(), out)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.value(v, names_a_person))
                    .collect(),
            ),
            Value::String(_) | Value::Number(_) if names_a_person => Value::String(HIDDEN.into()),
            Value::String(s) => Value::String(self.redact_participant(s)),
            Value::Number(n) => {
                let text = n.to_string();
                let redacted = self.redact_participant(&text);
                if redacted == text {
                    v.clone()
                } else {
                    Value::String(redacted)
                }
            }
            Value::Bool(_) | Value::Null => v.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::redact::RedactConfig;
    use serde_json::json;

    #[test]
    fn customer_numbers_and_names_go_routing_facts_stay() {
        let r = Redactor::default();
        let meta = json!({
            "participants": ["sip:13800138000@pstn.example", "sip:8001@cc.example"],
            "sip_from": "sip:+8613800138000@pstn.example",
            "recording": {"participants": [{"name": "Zhang San", "aor": "sip:13912345678@pstn.example"}]},
            "customParameters": {
                "queue": "cards",
                "agent_id": "A1001",
                "caller": 13800138000u64,
                "card": "4532 0151 1283 0366",
                "CustomerName": "Li Si",
                "note": "VIP",
            },
            "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
        });
        let out = r.redact_metadata(&meta);
        let text = out.to_string();
        for secret in [
            "13800138000",
            "13912345678",
            "0151",
            "1283",
            "Zhang San",
            "Li Si",
        ] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert_eq!(out["participants"][1], "sip:8001@cc.example");
        assert_eq!(out["customParameters"]["queue"], "cards");
        assert_eq!(out["customParameters"]["agent_id"], "A1001");
        assert_eq!(out["customParameters"]["note"], "VIP");
        assert_eq!(out["customParameters"]["card"], "[CARD 453201******0366]");
        assert_eq!(out["customParameters"]["CustomerName"], HIDDEN);
        assert_eq!(out["recording"]["participants"][0]["name"], HIDDEN);
        assert_eq!(out["streamSid"], meta["streamSid"]);
        assert!(out["participants"][0]
            .as_str()
            .unwrap()
            .starts_with("sip:["));
        // Redacting again changes nothing.
        assert_eq!(r.redact_metadata(&out), out);
    }

    #[test]
    fn keys_can_be_kept_and_redaction_turned_off() {
        let cfg = RedactConfig {
            metadata_keep: vec!["caller".into()],
            ..RedactConfig::default()
        };
        let meta = json!({"caller": "13800138000", "queue": "13800138000"});
        let out = Redactor::new(&cfg).unwrap().redact_metadata(&meta);
        assert_eq!(out["caller"], "13800138000");
        assert_ne!(out["queue"], "13800138000");
        assert_eq!(Redactor::disabled().redact_metadata(&meta), meta);
    }
}
