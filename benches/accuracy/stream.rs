//! Plays one call through the live pipeline, as a media fork would deliver it but without
//! waiting for the clock: each leg's 20 ms frames go in as fast as the leg accepts them (its
//! inbox blocks; finals are never dropped), so the transcripts are the live path's own.

use callwatch::call::{CallInfo, LegInfo, Speaker};
use callwatch::eval::HypHit;
use callwatch::pipeline::{Ingest, Shared};
use callwatch::sinks::events::{Delivery, Payload};
use std::sync::Arc;

/// One final transcript.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Final {
    pub leg: String,
    /// Absent from reports written before it was recorded; the call's sidecar tells.
    #[serde(default)]
    pub speaker: Speaker,
    pub start_ms: u64,
    pub end_ms: u64,
    pub text: String,
    pub language: String,
}

/// What the pipeline said about a call.
pub struct Heard {
    pub finals: Vec<Final>,
    /// Hits the live matcher raised on finals (the shipped modes).
    pub live_hits: Vec<HypHit>,
}

/// Streams `legs` (name, speaker, PCM at `rate`) as one call and gathers its finals and hits.
pub async fn play(
    shared: Arc<Shared>,
    name: &str,
    rate: u32,
    legs: Vec<(String, Speaker, Vec<i16>)>,
    queue: Option<String>,
) -> Heard {
    let call_id = uuid::Uuid::new_v4().to_string();
    let info = CallInfo {
        call_id: call_id.clone(),
        source: "bench".into(),
        agent_id: None,
        queue,
        metadata: serde_json::json!({ "fixture": name }),
    };
    let mut sub = shared.events.subscribe();
    let collector = tokio::spawn({
        let call_id = call_id.clone();
        async move {
            let (mut finals, mut hits) = (Vec::new(), Vec::new());
            loop {
                let p = match sub.next().await {
                    Delivery::Event(p) => p,
                    Delivery::Lagged(n) => panic!("accuracy bench lost {n} events"),
                    Delivery::Closed => break,
                };
                let e = &p.event;
                if e.call_id != call_id {
                    continue;
                }
                let leg = e.leg.clone().unwrap_or_default();
                let (start_ms, end_ms) = (e.start_ms.unwrap_or(0), e.end_ms.unwrap_or(0));
                match &e.payload {
                    Payload::TranscriptFinal { text, language, .. } => finals.push(Final {
                        leg,
                        speaker: Speaker::Unknown,
                        start_ms,
                        end_ms,
                        text: text.clone(),
                        language: language.clone(),
                    }),
                    Payload::PhraseHit {
                        term,
                        category,
                        utterance,
                        partial: false,
                        ..
                    } => hits.push(HypHit {
                        leg,
                        term: term.clone(),
                        category: category.clone(),
                        start_ms,
                        end_ms,
                        text: utterance.clone(),
                    }),
                    Payload::CallEnded { .. } => break,
                    _ => {}
                }
            }
            (finals, hits)
        }
    });
    let mut feeders = Vec::new();
    let speakers: Vec<(String, Speaker)> = legs.iter().map(|(n, s, _)| (n.clone(), *s)).collect();
    for (leg_name, speaker, pcm) in legs {
        let leg = LegInfo {
            call_id: call_id.clone(),
            leg: leg_name,
            speaker,
            participant: None,
            language: None,
        };
        let tx = Ingest::new(shared.clone())
            .open(&info, leg, rate, None)
            .unwrap_or_else(|e| panic!("leg not opened: {e}"));
        let frame = rate as usize / 50;
        feeders.push(tokio::spawn(async move {
            for c in pcm.chunks(frame) {
                if tx.audio(c.to_vec()).await.is_err() {
                    break;
                }
            }
            tx.end_and_wait(callwatch::call::EndReason::Hangup).await;
        }));
    }
    for f in feeders {
        f.await.expect("feeder task");
    }
    let (mut finals, live_hits) = collector.await.expect("collector task");
    for f in &mut finals {
        f.speaker = speakers
            .iter()
            .find(|(n, _)| *n == f.leg)
            .map_or(Speaker::Unknown, |(_, s)| *s);
    }
    finals.sort_by_key(|f| (f.leg.clone(), f.start_ms));
    Heard { finals, live_hits }
}
