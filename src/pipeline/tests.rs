//! A leg through the whole pipeline with a scripted recogniser: every utterance the segmenter
//! closes ends as a `transcript.final` or as a counted, archived `utterance.dropped`, and a
//! recogniser that panics stops nothing.

use super::*;
use crate::call::{CallInfo, EndReason, LegInfo, Speaker};
use crate::sinks::archive::{ArchiveReader, ArchiveWriter};
use crate::sinks::events::{Delivery, Payload};
use crate::transforms::asr::gate::DropReason;
use crate::transforms::asr::{
    AsrError, AsrPool, PoolConfig, Recognizer, RecognizerFactory, Transcript,
};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Call 1 and its retry panic, call 2 comes back as a known hallucination, the rest is text.
struct Script {
    calls: Arc<AtomicUsize>,
}

impl Recognizer for Script {
    fn transcribe(&mut self, _: &[f32], _: &LanguagePolicy) -> Result<Transcript, AsrError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match n {
            1 | 2 => panic!("scripted panic on utterance one"),
            3 => Ok(Transcript {
                language: "en".into(),
                dropped: Some(DropReason::Hallucination),
                ..Transcript::default()
            }),
            _ => Ok(Transcript {
                text: format!("words of call {n}"),
                language: "en".into(),
                ..Transcript::default()
            }),
        }
    }
}

struct Factory(Arc<AtomicUsize>);

impl RecognizerFactory for Factory {
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError> {
        Ok(Box::new(Script {
            calls: self.0.clone(),
        }))
    }
    fn is_multilingual(&self) -> bool {
        false
    }
}

/// A call of `call_id` with one agent leg.
fn agent_call(call_id: &str) -> (CallInfo, LegInfo) {
    let call = CallInfo {
        call_id: call_id.into(),
        source: "test".into(),
        ..CallInfo::default()
    };
    let leg = LegInfo {
        call_id: call_id.into(),
        leg: "agent".into(),
        speaker: Speaker::Agent,
        participant: None,
        language: None,
    };
    (call, leg)
}

/// The agent channel of the English two-leg fixture call (three utterances, 16 kHz).
fn agent_channel() -> Vec<i16> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/calls/call_en.wav");
    let mut r = hound::WavReader::open(path).unwrap();
    let samples: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    samples.chunks(2).map(|f| f[1]).collect()
}

/// A pipeline over `factory` with the default configuration (no partials), archiving to `db`.
fn pipeline(
    factory: Arc<dyn RecognizerFactory>,
    db: &std::path::Path,
    language_memory: bool,
) -> (
    Arc<Shared>,
    AsrPool,
    crate::sinks::archive::ArchiveWriterHandle,
) {
    let (sender, writer) = ArchiveWriter::spawn(db).unwrap();
    let pool = AsrPool::start_with(factory, PoolConfig::default()).unwrap();
    let mut cfg = crate::config::Config::default();
    cfg.asr.language_memory = language_memory;
    let inspection = Inspection::load(&cfg.lexicons.source()).unwrap();
    let shared = Arc::new(Shared::new(
        &cfg,
        pool.clone(),
        inspection,
        EventBus::new(4096),
        ArchiveSink::new(sender),
        Arc::new(crate::clock::SystemClock),
        false,
        None,
    ));
    (shared, pool, writer)
}

/// Streams the fixture's agent leg (three utterances) as call `call_id`; returns once it ended.
async fn stream_agent_leg(shared: &Arc<Shared>, call_id: &str) {
    let (call, leg) = agent_call(call_id);
    let tx = Ingest::new(shared.clone())
        .open(&call, leg, 16_000, None)
        .unwrap();
    for chunk in agent_channel().chunks(1600) {
        tx.audio(chunk.to_vec()).await.unwrap();
        // Paced a little, as a live leg is: a final's result is back (and learnt from)
        // before the next utterance closes, which the language-memory test relies on.
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    tx.end_and_wait(EndReason::Hangup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_utterance_ends_as_a_final_or_a_counted_archived_drop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let calls = Arc::new(AtomicUsize::new(0));
    let (shared, pool, writer) = pipeline(Arc::new(Factory(calls.clone())), &db, true);
    let mut sub = shared.events.subscribe();
    stream_agent_leg(&shared, "scripted").await;

    let (mut finals, mut drops) = (Vec::new(), Vec::new());
    loop {
        let Delivery::Event(p) = sub.next().await else {
            panic!("the bus closed or lagged before the call ended");
        };
        match &p.event.payload {
            Payload::TranscriptFinal { utterance_id, .. } => finals.push(utterance_id.clone()),
            Payload::UtteranceDropped {
                utterance_id,
                reason,
                detail,
            } => drops.push((utterance_id.clone(), *reason, detail.clone())),
            Payload::CallEnded { .. } => break,
            _ => {}
        }
    }
    let made = calls.load(Ordering::SeqCst);
    assert!(
        made >= 4,
        "the fixture leg has three utterances; recogniser called {made} times"
    );
    // Calls 1-2: one utterance lost to the panics; call 3: one hallucination; the rest final.
    assert_eq!(finals.len(), made - 3, "{finals:?} {drops:?}");
    let of = |r: DropReason| drops.iter().filter(|d| d.1 == r).count();
    assert_eq!(of(DropReason::RecognitionFailed), 1, "{drops:?}");
    assert_eq!(of(DropReason::Hallucination), 1, "{drops:?}");
    let failed = drops.iter().find(|d| d.1 == DropReason::RecognitionFailed);
    let detail = failed.and_then(|d| d.2.clone()).unwrap_or_default();
    assert!(detail.contains("scripted panic"), "{detail}");
    // Counted in /v1/stats, per reason, exactly as announced.
    let counted = shared.drops.snapshot();
    for r in DropReason::ALL {
        assert_eq!(counted[r.as_str()], of(r) as u64, "{}", r.as_str());
    }
    let s = pool.stats();
    assert_eq!((s.restarts, s.retries, s.failures), (2, 1, 1));
    assert_eq!(pool.health().ready, 1, "the worker made a new recogniser");

    // Archived: the finals with their text, the drops as rows with empty text and the reason.
    writer.flush().unwrap();
    let detail = ArchiveReader::open(&db)
        .unwrap()
        .get_call("scripted")
        .unwrap()
        .unwrap();
    assert_eq!(detail.call.utterance_count as usize, finals.len());
    assert_eq!(detail.call.dropped_count as usize, drops.len());
    for (id, reason, _) in &drops {
        let row = detail.utterances.iter().find(|u| &u.id == id).unwrap();
        assert_eq!((row.dropped, row.text.as_str()), (Some(*reason), ""));
    }
    for id in &finals {
        let row = detail.utterances.iter().find(|u| &u.id == id).unwrap();
        assert!(row.dropped.is_none() && row.text.starts_with("words of call"));
    }
}

#[test]
fn a_request_for_a_number_is_answered_by_the_next_customer_turns_only() {
    use crate::transforms::redact::Category;
    let registry = CallRegistry::new(
        EventBus::new(16),
        ArchiveSink::disabled(),
        Arc::new(crate::clock::SystemClock),
    );
    let (call, leg) = agent_call("ask");
    registry.open_leg(&call, &leg).unwrap();
    assert_eq!(
        registry.asked("ask", 5_000, false),
        None,
        "nothing asked yet"
    );
    registry.note_asked("ask", Category::Code, 10_000);
    // An answer may start a little before the request ends (the legs' clocks differ).
    assert_eq!(registry.asked("ask", 9_000, false), Some(Category::Code));
    assert_eq!(
        registry.asked("ask", 45_000, false),
        None,
        "too late to be the answer"
    );
    assert_eq!(
        registry.asked("ask", 2_000, false),
        None,
        "said before the request"
    );
    // Partials peek; three customer finals use the request up.
    for _ in 0..3 {
        assert_eq!(registry.asked("ask", 12_000, false), Some(Category::Code));
        assert_eq!(registry.asked("ask", 12_000, true), Some(Category::Code));
    }
    assert_eq!(registry.asked("ask", 12_000, true), None);
    assert_eq!(registry.asked("no-such-call", 12_000, true), None);
}

#[tokio::test]
async fn audio_reaches_a_leg_in_bounded_messages() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(super::LEG_INBOX);
    // One 64 KiB fork frame's worth and more, and an empty frame that sends nothing.
    let samples: Vec<i16> = (0..40_000).map(|i| (i % 3000) as i16).collect();
    super::leg::send_audio(&tx, samples.clone()).await.unwrap();
    super::leg::send_audio(&tx, Vec::new()).await.unwrap();
    drop(tx);
    let mut got = Vec::new();
    while let Some(m) = rx.recv().await {
        let LegInput::Audio(a) = m else {
            panic!("only audio was sent")
        };
        assert!(
            !a.is_empty() && a.len() <= super::MAX_AUDIO_MESSAGE,
            "{}",
            a.len()
        );
        got.extend(a);
    }
    assert_eq!(got, samples);
}

/// Answers like Whisper would about language: detects English (clearly) when no language is
/// given, and records what each call was given.
struct Detecting(Arc<std::sync::Mutex<Vec<Option<String>>>>);

impl Recognizer for Detecting {
    fn transcribe(&mut self, _: &[f32], policy: &LanguagePolicy) -> Result<Transcript, AsrError> {
        let given = policy.forced().map(str::to_string);
        self.0.lock().unwrap().push(given.clone());
        Ok(Transcript {
            text: "hello there".into(),
            language: given.clone().unwrap_or_else(|| "en".into()),
            language_share: given.is_none().then_some(0.95),
            ..Transcript::default()
        })
    }
}

struct DetectingFactory(Arc<std::sync::Mutex<Vec<Option<String>>>>);

impl RecognizerFactory for DetectingFactory {
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError> {
        Ok(Box::new(Detecting(self.0.clone())))
    }
    fn is_multilingual(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_stops_detecting_its_language_once_two_detections_agree() {
    for (memory, want) in [
        (true, vec![None, None, Some("en".to_string())]),
        (false, vec![None, None, None]),
    ] {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let dir = tempfile::tempdir().unwrap();
        let factory = Arc::new(DetectingFactory(seen.clone()));
        let (shared, _pool, _writer) = pipeline(factory, &dir.path().join("a.db"), memory);
        stream_agent_leg(&shared, "language").await;
        assert_eq!(*seen.lock().unwrap(), want, "language_memory = {memory}");
    }
}

/// Records the Mandarin prompt each utterance was recognised with.
struct Prompted(Arc<std::sync::Mutex<Vec<Option<String>>>>);

impl Recognizer for Prompted {
    fn transcribe(&mut self, _: &[f32], policy: &LanguagePolicy) -> Result<Transcript, AsrError> {
        self.0
            .lock()
            .unwrap()
            .push(policy.bias_prompt("zh").map(str::to_string));
        Ok(Transcript {
            text: "好的".into(),
            language: "zh".into(),
            ..Transcript::default()
        })
    }
}

struct PromptedFactory(Arc<std::sync::Mutex<Vec<Option<String>>>>);

impl RecognizerFactory for PromptedFactory {
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError> {
        Ok(Box::new(Prompted(self.0.clone())))
    }
    fn is_multilingual(&self) -> bool {
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_biased_leg_is_prompted_with_its_queues_terms_and_the_agent_script() {
    for enabled in [true, false] {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let pool = AsrPool::start_with(
            Arc::new(PromptedFactory(seen.clone())),
            PoolConfig::default(),
        )
        .unwrap();
        let mut cfg = crate::config::Config::default();
        cfg.asr.bias.enabled = enabled;
        cfg.asr
            .bias
            .queues
            .insert("wealth".into(), vec!["sales_promise".into()]);
        let shared = Arc::new(Shared::new(
            &cfg,
            pool.clone(),
            Inspection::load(&cfg.lexicons.source()).unwrap(),
            EventBus::new(4096),
            ArchiveSink::disabled(),
            Arc::new(crate::clock::SystemClock),
            false,
            None,
        ));
        let (mut call, leg) = agent_call("biased");
        call.queue = Some("wealth".into());
        let tx = Ingest::new(shared.clone())
            .open(&call, leg, 16_000, None)
            .unwrap();
        for chunk in agent_channel().chunks(1600) {
            tx.audio(chunk.to_vec()).await.unwrap();
        }
        tx.end_and_wait(EndReason::Hangup).await;
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty());
        for prompt in seen.iter() {
            if !enabled {
                assert_eq!(prompt, &None);
                continue;
            }
            let p = prompt.as_deref().expect("a biased leg has a prompt");
            assert!(p.starts_with(&cfg.asr.zh_prompt), "{p}");
            // The wealth queue's category, most severe first; no other category's terms.
            assert!(p.contains("保本保息、刚性兑付、稳赚不赔"), "{p}");
            assert!(!p.contains("验证码、") && !p.contains("投诉"), "{p}");
            // The agent script from lexicons/scripts/default.txt.
            assert!(p.contains("。您好，请问有什么可以帮您？"), "{p}");
            assert!(crate::transforms::asr::bias::estimate_tokens(p) <= cfg.asr.bias.max_tokens);
        }
    }
}
