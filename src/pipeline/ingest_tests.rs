//! The door's contract: typed end reasons reach `call.ended`, a dropped sender is a hangup,
//! and a request's legs open all or none. Only silence is streamed, so no recogniser runs.

use super::*;
use crate::call::Speaker;
use crate::sinks::events::{Delivery, EventBus, Payload};
use crate::transforms::asr::{
    AsrError, AsrPool, LanguagePolicy, PoolConfig, Recognizer, RecognizerFactory, Transcript,
};
use crate::transforms::rules::Inspection;

/// Silence has no utterance, so a call here never reaches recognition.
struct NoSpeech;

impl Recognizer for NoSpeech {
    fn transcribe(&mut self, _: &[f32], _: &LanguagePolicy) -> Result<Transcript, AsrError> {
        panic!("silence was sent to the recogniser")
    }
}

impl RecognizerFactory for NoSpeech {
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError> {
        Ok(Box::new(NoSpeech))
    }
    fn is_multilingual(&self) -> bool {
        false
    }
}

fn ingest() -> (Ingest, Arc<Shared>) {
    let cfg = crate::config::Config::default();
    let pool = AsrPool::start_with(Arc::new(NoSpeech), PoolConfig::default()).unwrap();
    let shared = Arc::new(Shared::new(
        &cfg,
        pool,
        Inspection::load(&cfg.lexicons.source()).unwrap(),
        EventBus::new(256),
        super::super::ArchiveSink::disabled(),
        Arc::new(crate::clock::SystemClock),
        false,
        None,
    ));
    (Ingest::new(shared.clone()), shared)
}

fn call(id: &str) -> CallInfo {
    CallInfo {
        call_id: id.into(),
        source: "test".into(),
        ..CallInfo::default()
    }
}

fn leg(call_id: &str, name: &str, speaker: Speaker) -> LegInfo {
    LegInfo {
        call_id: call_id.into(),
        leg: name.into(),
        speaker,
        participant: None,
        language: None,
    }
}

/// The types of `call_id`'s events until its `call.ended`, and the reason it gave. The
/// default rules' findings at call end (a missing greeting, ...) are left out.
async fn until_ended(
    sub: &mut crate::sinks::events::Subscription,
    call_id: &str,
) -> (Vec<&'static str>, EndReason) {
    let mut types = Vec::new();
    loop {
        let Delivery::Event(p) = sub.next().await else {
            panic!("the bus closed or lagged before the call ended")
        };
        if p.event.call_id != call_id {
            continue;
        }
        if p.event.payload.type_name() != "rule.fired" {
            types.push(p.event.payload.type_name());
        }
        if let Payload::CallEnded { reason, .. } = p.event.payload {
            return (types, reason);
        }
    }
}

#[tokio::test]
async fn the_reason_a_source_gives_is_the_calls_end_reason() {
    let (ingest, shared) = ingest();
    let mut sub = shared.events.subscribe();
    let tx = ingest
        .open(&call("c1"), leg("c1", "agent", Speaker::Agent), 8000, None)
        .unwrap();
    tx.audio(vec![0; 8000]).await.unwrap();
    let summary = tx.end_and_wait(EndReason::Bye).await;
    assert_eq!(summary.end_reason, Some(EndReason::Bye));
    assert_eq!(summary.media_ms, 1000);
    let (types, reason) = until_ended(&mut sub, "c1").await;
    assert_eq!(reason, EndReason::Bye);
    assert_eq!(types, ["call.started", "call.ended"]);
    assert_eq!(shared.registry.live_calls(), 0);
}

#[tokio::test]
async fn a_dropped_sender_ends_its_leg_as_a_hangup_and_the_last_leg_ends_the_call() {
    let (ingest, shared) = ingest();
    let mut sub = shared.events.subscribe();
    let c = call("c2");
    let mut legs = ingest
        .open_all(
            &c,
            vec![
                (leg("c2", "agent", Speaker::Agent), 16_000),
                (leg("c2", "customer", Speaker::Customer), 8000),
            ],
            Some("pbx"),
        )
        .unwrap();
    let customer = legs.pop().unwrap();
    let mut agent = legs.pop().unwrap();
    let agent_task = agent.take_task().unwrap();
    agent.audio(vec![0; 3200]).await.unwrap();
    drop(agent);
    let summary = agent_task.await.unwrap();
    assert_eq!(summary.end_reason, None, "the source said nothing");
    assert_eq!(
        shared.registry.live_calls(),
        1,
        "the customer leg is still open"
    );
    // Another credential may not add a leg to the live call.
    let e = ingest
        .open(
            &c,
            leg("c2", "third", Speaker::Unknown),
            8000,
            Some("other"),
        )
        .unwrap_err();
    assert!(matches!(e, RegistryError::NotYours { .. }), "{e}");
    drop(customer);
    let (_, reason) = until_ended(&mut sub, "c2").await;
    assert_eq!(reason, EndReason::Hangup);
}

#[tokio::test]
async fn a_request_whose_leg_is_refused_opens_none_of_its_legs() {
    let (ingest, shared) = ingest();
    let mut sub = shared.events.subscribe();
    let e = ingest
        .open_all(
            &call("c3"),
            vec![
                (leg("c3", "agent", Speaker::Agent), 8000),
                (leg("c3", "agent", Speaker::Customer), 8000),
            ],
            None,
        )
        .unwrap_err();
    assert!(matches!(e, RegistryError::DuplicateLeg { .. }), "{e}");
    let (types, reason) = until_ended(&mut sub, "c3").await;
    assert_eq!(types, ["call.started", "call.ended"]);
    assert_eq!(reason, EndReason::Rejected);
    assert_eq!(shared.registry.live_calls(), 0);
}
