//! Recognition jobs and their results as NATS messages. A job is its metadata in headers and
//! the audio as 16-bit PCM (16 kHz mono) in the body; a result is JSON. Both are decoded with
//! size limits and checks, as anything read off the network.

use crate::transforms::asr::{LanguagePolicy, Transcript};
use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};

/// Largest job body: 30 s of 16 kHz 16-bit audio, whisper's whole window, fits NATS's default
/// 1 MiB message limit with room for the headers.
pub const MAX_JOB_AUDIO_BYTES: usize = 30 * 16_000 * 2;
/// Largest result message.
pub const MAX_RESULT_BYTES: usize = 256 * 1024;

const H_JOB: &str = "Cw-Job";
const H_NODE: &str = "Cw-Node";
const H_KIND: &str = "Cw-Kind";
const H_POLICY: &str = "Cw-Policy";
const H_SENT: &str = "Cw-Sent-Ms";

/// Now, in Unix milliseconds (jobs carry when they were sent).
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// What a job is: finals are never dropped; partials may be shed when workers are busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Final,
    Partial,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Final => "final",
            JobKind::Partial => "partial",
        }
    }
}

/// One utterance to transcribe.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Unique; also the message id, so a retried publish is stored once.
    pub id: String,
    /// The ingest node waiting for the result (results go to its subject).
    pub node: String,
    pub kind: JobKind,
    pub policy: LanguagePolicy,
    /// When the ingest node sent it (Unix ms): a partial that waited too long is not worth
    /// transcribing.
    pub sent_ms: i64,
    /// 16 kHz mono samples.
    pub audio: Vec<f32>,
}

/// Why a message is not a job or a result.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    #[error("header {0} is missing")]
    Missing(&'static str),
    #[error("header {0} is unreadable: {1}")]
    Bad(&'static str, String),
    #[error("audio of {0} bytes: want an even count of at most {MAX_JOB_AUDIO_BYTES}")]
    Audio(usize),
    #[error("result of {0} bytes is over {MAX_RESULT_BYTES}")]
    TooLarge(usize),
    #[error("result unreadable: {0}")]
    Result(String),
}

impl Job {
    /// Headers and body of the job's message.
    pub fn encode(&self) -> Result<(HeaderMap, Vec<u8>), WireError> {
        let bytes = self.audio.len() * 2;
        if bytes > MAX_JOB_AUDIO_BYTES {
            return Err(WireError::Audio(bytes));
        }
        let mut h = HeaderMap::new();
        h.insert(H_JOB, self.id.as_str());
        h.insert("Nats-Msg-Id", self.id.as_str());
        h.insert(H_NODE, self.node.as_str());
        h.insert(H_KIND, self.kind.as_str());
        let policy = serde_json::to_string(&self.policy)
            .map_err(|e| WireError::Bad(H_POLICY, e.to_string()))?;
        h.insert(H_POLICY, policy.as_str());
        h.insert(H_SENT, self.sent_ms.to_string().as_str());
        let mut body = Vec::with_capacity(bytes);
        for s in &self.audio {
            let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
            body.extend_from_slice(&v.to_le_bytes());
        }
        Ok((h, body))
    }

    /// The job in a message's headers and body.
    pub fn decode(headers: Option<&HeaderMap>, body: &[u8]) -> Result<Job, WireError> {
        let get = |name: &'static str| -> Result<String, WireError> {
            let v = headers
                .and_then(|h| h.get(name))
                .ok_or(WireError::Missing(name))?;
            let s = v.as_str();
            if s.is_empty() || s.len() > 16 * 1024 {
                return Err(WireError::Bad(name, format!("{} bytes", s.len())));
            }
            Ok(s.to_string())
        };
        if !body.len().is_multiple_of(2) || body.len() > MAX_JOB_AUDIO_BYTES {
            return Err(WireError::Audio(body.len()));
        }
        let id = get(H_JOB)?;
        let node = get(H_NODE)?;
        for (name, v) in [(H_JOB, &id), (H_NODE, &node)] {
            if v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return Err(WireError::Bad(name, "want letters, digits and '-'".into()));
            }
        }
        let kind = match get(H_KIND)?.as_str() {
            "final" => JobKind::Final,
            "partial" => JobKind::Partial,
            other => return Err(WireError::Bad(H_KIND, format!("{other:?}"))),
        };
        let policy: LanguagePolicy = serde_json::from_str(&get(H_POLICY)?)
            .map_err(|e| WireError::Bad(H_POLICY, e.to_string()))?;
        policy.validate().map_err(|e| WireError::Bad(H_POLICY, e))?;
        let sent_ms = get(H_SENT)?
            .parse()
            .map_err(|e: std::num::ParseIntError| WireError::Bad(H_SENT, e.to_string()))?;
        let audio = body
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        Ok(Job {
            id,
            node,
            kind,
            policy,
            sent_ms,
            audio,
        })
    }
}

/// A worker's answer to a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub job: String,
    /// The worker that transcribed it, for logs.
    pub worker: String,
    pub outcome: Outcome,
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Transcript(Transcript),
    /// A partial the worker did not get to (busy, or too old).
    Shed,
    /// Recognition failed on this audio; the message says how.
    Failed(String),
}

impl JobResult {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn decode(body: &[u8]) -> Result<JobResult, WireError> {
        if body.len() > MAX_RESULT_BYTES {
            return Err(WireError::TooLarge(body.len()));
        }
        serde_json::from_slice(body).map_err(|e| WireError::Result(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            id: "0f1e2d".into(),
            node: "node-1".into(),
            kind: JobKind::Final,
            policy: LanguagePolicy::new(vec!["zh".into(), "en".into()], None)
                .with_bias(Some(crate::transforms::asr::Bias {
                    zh: "保本保息".into(),
                    en: String::new(),
                }))
                .assuming("zh"),
            sent_ms: 1_700_000_000_000,
            audio: (0..1600)
                .map(|i| ((i as f32) / 100.0).sin() * 0.5)
                .collect(),
        }
    }

    #[test]
    fn a_job_comes_back_as_sent_within_16_bit_precision() {
        let j = job();
        let (h, body) = j.encode().unwrap();
        assert_eq!(body.len(), 3200);
        let back = Job::decode(Some(&h), &body).unwrap();
        assert_eq!(
            (&back.id, &back.node, back.kind, &back.policy, back.sent_ms),
            (&j.id, &j.node, j.kind, &j.policy, j.sent_ms)
        );
        for (a, b) in j.audio.iter().zip(&back.audio) {
            assert!((a - b).abs() < 1.0 / 16_000.0, "{a} {b}");
        }
    }

    #[test]
    fn bad_jobs_are_refused_with_the_reason() {
        let (h, body) = job().encode().unwrap();
        assert_eq!(Job::decode(None, &body), Err(WireError::Missing("Cw-Job")));
        assert_eq!(
            Job::decode(Some(&h), &body[1..]),
            Err(WireError::Audio(3199))
        );
        let big = vec![0u8; MAX_JOB_AUDIO_BYTES + 2];
        assert!(matches!(
            Job::decode(Some(&h), &big),
            Err(WireError::Audio(_))
        ));
        let table: [(&str, &str, &str); 5] = [
            ("Cw-Kind", "sometimes", "Cw-Kind"),
            ("Cw-Policy", "{", "Cw-Policy"),
            (
                "Cw-Policy",
                r#"{"allowed":["xx"],"forced":null,"assumed":null,"bias":null}"#,
                "unknown language code",
            ),
            ("Cw-Job", "../../etc", "letters, digits"),
            ("Cw-Sent-Ms", "soon", "Cw-Sent-Ms"),
        ];
        for (name, value, says) in table {
            let mut bad = h.clone();
            bad.insert(name, value);
            let e = Job::decode(Some(&bad), &body).unwrap_err().to_string();
            assert!(e.contains(says), "{name}={value}: {e}");
        }
        let mut long = job();
        long.audio = vec![0.0; MAX_JOB_AUDIO_BYTES / 2 + 1];
        assert!(long.encode().is_err());
    }

    #[test]
    fn the_fuzz_seeds_are_a_readable_job_and_result() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/bus_message");
        let job = std::fs::read(seeds.join("asr_job_final")).unwrap();
        let nul = job.iter().position(|b| *b == 0).unwrap();
        let mut h = HeaderMap::new();
        for line in std::str::from_utf8(&job[..nul]).unwrap().lines() {
            let (k, v) = line.split_once(": ").unwrap();
            h.insert(k, v);
        }
        let decoded = Job::decode(Some(&h), &job[nul + 1..]).unwrap();
        assert_eq!((decoded.kind, decoded.audio.len()), (JobKind::Final, 800));
        let result = std::fs::read(seeds.join("asr_result")).unwrap();
        assert!(matches!(
            JobResult::decode(&result).unwrap().outcome,
            Outcome::Transcript(_)
        ));
    }

    #[test]
    fn results_round_trip_and_garbage_is_refused() {
        let r = JobResult {
            job: "j1".into(),
            worker: "w1".into(),
            outcome: Outcome::Transcript(Transcript {
                text: "保本保息".into(),
                language: "zh".into(),
                ..Default::default()
            }),
        };
        assert_eq!(JobResult::decode(&r.encode()).unwrap(), r);
        assert!(JobResult::decode(b"{\"job\":1}").is_err());
        assert!(JobResult::decode(&vec![b' '; MAX_RESULT_BYTES + 1]).is_err());
    }
}
