//! The pool's promises, with a scripted recogniser: finals are never dropped and keep their
//! order, partials are shed when the inbox is full or stale, finals go before partials, and a
//! recogniser that panics or fails is replaced without stopping recognition.

use super::*;
use std::sync::{Condvar, Mutex};

/// What the scripted recogniser does with an utterance, chosen by its first sample.
const PANIC: f32 = -1.0;
const FAIL: f32 = -2.0;
/// Panics on the first recogniser that sees it, succeeds on the next.
const PANIC_ONCE: f32 = -3.0;
/// While held, polls the pre-emption flag like whisper.cpp and stops when it is raised.
const PREEMPTIBLE: f32 = -4.0;

#[derive(Default)]
struct Script {
    /// Ids (second sample) in the order the recognisers took them.
    seen: Mutex<Vec<u32>>,
    /// While true, every transcription waits.
    held: Mutex<bool>,
    released: Condvar,
    makes: AtomicUsize,
    /// Transcriptions begun (counted before waiting while held).
    taken: AtomicUsize,
    /// `make` fails once this many recognisers exist.
    make_limit: Option<usize>,
}

impl Script {
    fn hold(&self) {
        *self.held.lock().unwrap() = true;
    }
    fn release(&self) {
        *self.held.lock().unwrap() = false;
        self.released.notify_all();
    }
    fn seen(&self) -> Vec<u32> {
        self.seen.lock().unwrap().clone()
    }
}

struct Scripted {
    script: Arc<Script>,
    generation: usize,
    abort: Option<AbortFlag>,
}

impl Recognizer for Scripted {
    fn set_abort_flag(&mut self, flag: AbortFlag) {
        self.abort = Some(flag);
    }

    fn transcribe(&mut self, audio: &[f32], _: &LanguagePolicy) -> Result<Transcript, AsrError> {
        self.script.taken.fetch_add(1, Ordering::SeqCst);
        if audio[0] == PREEMPTIBLE {
            while *self.script.held.lock().unwrap() {
                if self.abort.as_ref().is_some_and(|a| a.requested()) {
                    return Err(AsrError::Preempted);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let mut held = self.script.held.lock().unwrap();
        while *held {
            held = self.script.released.wait(held).unwrap();
        }
        drop(held);
        let id = audio[1] as u32;
        self.script.seen.lock().unwrap().push(id);
        match audio[0] {
            PANIC => panic!("scripted panic"),
            PANIC_ONCE if self.generation == 1 => panic!("scripted panic"),
            FAIL => Err(AsrError::Inference {
                secs: 0.0,
                reason: "scripted failure".into(),
            }),
            _ => Ok(Transcript {
                text: format!("u{id}"),
                language: "en".into(),
                segments: Vec::new(),
                dropped: None,
                language_share: None,
                looped: false,
            }),
        }
    }
}

impl RecognizerFactory for Arc<Script> {
    fn make(&self) -> Result<Box<dyn Recognizer>, AsrError> {
        let generation = self.makes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.make_limit.is_some_and(|n| generation > n) {
            return Err(AsrError::Load {
                path: "<scripted>".into(),
                reason: "no memory left".into(),
            });
        }
        Ok(Box::new(Scripted {
            script: self.clone(),
            generation,
            abort: None,
        }))
    }
    fn is_multilingual(&self) -> bool {
        true
    }
}

fn audio(kind: f32, id: u32) -> Arc<[f32]> {
    vec![kind, id as f32, 0.0, 0.0].into()
}

fn policy() -> LanguagePolicy {
    LanguagePolicy::new(vec!["en".into()], None)
}

fn pool(script: &Arc<Script>, cfg: PoolConfig) -> AsrPool {
    AsrPool::start_with(Arc::new(script.clone()), cfg).unwrap()
}

fn small() -> PoolConfig {
    PoolConfig {
        workers: 1,
        final_inbox: 2,
        partial_inbox: 2,
        partial_max_wait: Duration::from_secs(3600),
        decode: DecodeOptions::default(),
    }
}

/// Waits (without a deadline that could fire on a slow machine) until the worker has taken
/// `n` jobs.
async fn until_taken(script: &Script, n: usize) {
    while script.taken.load(Ordering::SeqCst) < n {
        tokio::task::yield_now().await;
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[tokio::test]
async fn finals_are_never_dropped_and_keep_their_order() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    script.hold();
    // Far more finals than the inbox holds: submitters wait instead of losing any.
    let submitter = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut replies = Vec::new();
            for id in 0..40 {
                replies.push(pool.submit_final(audio(0.0, id), policy()).await.unwrap());
            }
            replies
        })
    };
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    assert!(
        !submitter.is_finished(),
        "the inbox holds 2, so the submitter must wait"
    );
    script.release();
    let replies = submitter.await.unwrap();
    for (id, rx) in replies.into_iter().enumerate() {
        assert_eq!(rx.await.unwrap().unwrap().text, format!("u{id}"));
    }
    assert_eq!(script.seen(), (0..40).collect::<Vec<_>>());
    let s = pool.stats();
    assert_eq!((s.finals_done, s.failures, s.partials_shed), (40, 0, 0));
}

#[tokio::test]
async fn partials_beyond_the_inbox_are_shed_at_once_and_counted() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    script.hold();
    // The worker takes the first partial and waits on it; two more fill the inbox.
    let first = pool.try_submit_partial(audio(0.0, 1), policy()).unwrap();
    until_taken(&script, 1).await;
    let queued: Vec<_> = (2..4)
        .map(|id| pool.try_submit_partial(audio(0.0, id), policy()).unwrap())
        .collect();
    for id in 4..7 {
        let shed = pool.try_submit_partial(audio(0.0, id), policy());
        assert!(matches!(shed, Err(AsrError::Shed)), "partial {id}");
    }
    assert_eq!(pool.stats().partials_shed, 3);
    // Finals are not subject to that: this one is accepted and answered first.
    let fin = pool.submit_final(audio(0.0, 7), policy()).await.unwrap();
    script.release();
    assert_eq!(first.await.unwrap().unwrap().text, "u1");
    assert_eq!(fin.await.unwrap().unwrap().text, "u7");
    for (rx, id) in queued.into_iter().zip(2..) {
        assert_eq!(rx.await.unwrap().unwrap().text, format!("u{id}"));
    }
    assert_eq!(script.seen(), [1, 7, 2, 3]);
}

#[tokio::test]
async fn stale_partials_are_shed_and_finals_go_first() {
    let script = Arc::new(Script::default());
    let cfg = PoolConfig {
        partial_max_wait: Duration::from_millis(10),
        ..small()
    };
    let pool = pool(&script, cfg);
    script.hold();
    let busy = pool.submit_final(audio(0.0, 1), policy()).await.unwrap();
    until_taken(&script, 1).await;
    let partial = pool.try_submit_partial(audio(0.0, 2), policy()).unwrap();
    let fin = pool.submit_final(audio(0.0, 3), policy()).await.unwrap();
    // Longer than partial_max_wait: by the time the worker is free the partial is stale.
    std::thread::sleep(Duration::from_millis(30));
    script.release();
    assert_eq!(busy.await.unwrap().unwrap().text, "u1");
    assert_eq!(fin.await.unwrap().unwrap().text, "u3");
    assert!(matches!(partial.await.unwrap(), Err(AsrError::Shed)));
    assert_eq!(
        script.seen(),
        [1, 3],
        "the stale partial never reached the recogniser"
    );
    assert_eq!(pool.stats().partials_shed, 1);
}

#[tokio::test]
async fn finals_waiting_go_before_partials_waiting() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    script.hold();
    let busy = pool.submit_final(audio(0.0, 1), policy()).await.unwrap();
    until_taken(&script, 1).await;
    let partial = pool.try_submit_partial(audio(0.0, 2), policy()).unwrap();
    let fin = pool.submit_final(audio(0.0, 3), policy()).await.unwrap();
    script.release();
    for rx in [busy, fin, partial] {
        rx.await.unwrap().unwrap();
    }
    assert_eq!(script.seen(), [1, 3, 2]);
}

#[tokio::test]
async fn a_panicking_recogniser_is_replaced_and_the_final_retried() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    // Panics on the first recogniser, succeeds on its replacement.
    let rx = pool
        .submit_final(audio(PANIC_ONCE, 1), policy())
        .await
        .unwrap();
    assert_eq!(rx.await.unwrap().unwrap().text, "u1");
    let s = pool.stats();
    assert_eq!(
        (s.restarts, s.retries, s.failures, s.finals_done),
        (1, 1, 0, 1)
    );
    assert_eq!(script.makes.load(Ordering::SeqCst), 2);

    // An utterance that breaks every recogniser: tried twice, then reported, not lost.
    let rx = pool.submit_final(audio(PANIC, 2), policy()).await.unwrap();
    let err = rx.await.unwrap().unwrap_err();
    assert!(matches!(err, AsrError::Panicked { .. }), "{err}");
    assert!(err.to_string().contains("scripted panic"), "{err}");
    let s = pool.stats();
    assert_eq!((s.restarts, s.retries, s.failures), (3, 2, 1));

    // Recognition goes on.
    let rx = pool.submit_final(audio(0.0, 3), policy()).await.unwrap();
    assert_eq!(rx.await.unwrap().unwrap().text, "u3");
    assert_eq!(
        pool.health(),
        PoolHealth {
            workers: 1,
            alive: 1,
            ready: 1
        }
    );
}

#[tokio::test]
async fn errors_are_retried_once_and_partials_are_not() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    let rx = pool.submit_final(audio(FAIL, 1), policy()).await.unwrap();
    assert!(matches!(rx.await.unwrap(), Err(AsrError::Inference { .. })));
    assert_eq!(script.seen(), [1, 1]);
    let rx = pool.try_submit_partial(audio(FAIL, 2), policy()).unwrap();
    assert!(rx.await.unwrap().is_err());
    assert_eq!(script.seen(), [1, 1, 2]);
    let s = pool.stats();
    assert_eq!((s.failures, s.partials_failed, s.retries), (1, 1, 1));
}

#[tokio::test]
async fn a_worker_that_cannot_make_a_recogniser_is_not_ready_but_keeps_answering() {
    let script = Arc::new(Script {
        make_limit: Some(1),
        ..Script::default()
    });
    let pool = pool(&script, small());
    assert_eq!(pool.health().ready, 1);
    let rx = pool.submit_final(audio(PANIC, 1), policy()).await.unwrap();
    assert!(matches!(rx.await.unwrap(), Err(AsrError::Load { .. })));
    assert_eq!(
        pool.health(),
        PoolHealth {
            workers: 1,
            alive: 1,
            ready: 0
        }
    );
    // Each later final is answered with the reason instead of waiting forever.
    let rx = pool.submit_final(audio(0.0, 2), policy()).await.unwrap();
    assert!(rx.await.unwrap().is_err());
    assert_eq!(pool.stats().failures, 2);
}

#[test]
fn workers_leave_the_health_count_when_the_pool_is_joined() {
    let script = Arc::new(Script::default());
    let pool = pool(
        &script,
        PoolConfig {
            workers: 3,
            ..small()
        },
    );
    let probe = pool.inner.stats.clone();
    assert_eq!(pool.health().alive, 3);
    pool.join();
    assert_eq!(probe.workers_alive.load(Ordering::Relaxed), 0);
    assert_eq!(probe.workers_ready.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_final_preempts_the_partial_in_flight_and_the_recogniser_is_kept() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    script.hold();
    let partial = pool
        .try_submit_partial(audio(PREEMPTIBLE, 1), policy())
        .unwrap();
    until_taken(&script, 1).await;
    let fin = pool.submit_final(audio(0.0, 2), policy()).await.unwrap();
    // Stopped while still held: only the pre-emption can have ended it.
    assert!(matches!(partial.await.unwrap(), Err(AsrError::Preempted)));
    script.release();
    assert_eq!(fin.await.unwrap().unwrap().text, "u2");
    let s = pool.stats();
    assert_eq!(
        (
            s.partials_preempted,
            s.partials_failed,
            s.restarts,
            s.finals_done
        ),
        (1, 0, 0, 1)
    );
    assert_eq!(script.makes.load(Ordering::SeqCst), 1, "recogniser reused");
}

#[tokio::test]
async fn a_final_is_never_preempted() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    script.hold();
    let mut first = pool
        .submit_final(audio(PREEMPTIBLE, 1), policy())
        .await
        .unwrap();
    until_taken(&script, 1).await;
    let partial = pool.try_submit_partial(audio(0.0, 3), policy()).unwrap();
    let second = pool.submit_final(audio(0.0, 2), policy()).await.unwrap();
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        first.try_recv().is_err(),
        "the first final must still be running"
    );
    script.release();
    assert_eq!(first.await.unwrap().unwrap().text, "u1");
    assert_eq!(second.await.unwrap().unwrap().text, "u2");
    assert_eq!(partial.await.unwrap().unwrap().text, "u3");
    assert_eq!(pool.stats().partials_preempted, 0);
}

#[tokio::test]
async fn no_preemption_while_a_worker_is_idle() {
    let script = Arc::new(Script::default());
    let pool = pool(
        &script,
        PoolConfig {
            workers: 2,
            ..small()
        },
    );
    script.hold();
    let mut partial = pool
        .try_submit_partial(audio(PREEMPTIBLE, 1), policy())
        .unwrap();
    until_taken(&script, 1).await;
    while pool.inner.stats.workers_idle.load(Ordering::SeqCst) != 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let fin = pool.submit_final(audio(0.0, 2), policy()).await.unwrap();
    until_taken(&script, 2).await;
    std::thread::sleep(Duration::from_millis(30));
    assert!(
        partial.try_recv().is_err(),
        "the partial must still be running"
    );
    script.release();
    assert_eq!(partial.await.unwrap().unwrap().text, "u1");
    assert_eq!(fin.await.unwrap().unwrap().text, "u2");
    assert_eq!(pool.stats().partials_preempted, 0);
}

#[tokio::test]
async fn a_promoted_speculation_is_neither_preempted_nor_shed() {
    let script = Arc::new(Script::default());
    let cfg = PoolConfig {
        partial_max_wait: Duration::from_millis(10),
        ..small()
    };
    let pool = pool(&script, cfg);
    script.hold();
    // Running: once promoted, a final no longer stops it.
    let (running, ticket) = pool
        .try_submit_speculative(audio(PREEMPTIBLE, 1), policy())
        .unwrap();
    until_taken(&script, 1).await;
    assert!(ticket.started());
    ticket.promote();
    // Queued past partial_max_wait, but promoted: still transcribed.
    let (queued, queued_ticket) = pool
        .try_submit_speculative(audio(0.0, 2), policy())
        .unwrap();
    assert!(!queued_ticket.started());
    queued_ticket.promote();
    let fin = pool.submit_final(audio(0.0, 3), policy()).await.unwrap();
    std::thread::sleep(Duration::from_millis(30));
    script.release();
    assert_eq!(running.await.unwrap().unwrap().text, "u1");
    assert_eq!(fin.await.unwrap().unwrap().text, "u3");
    assert_eq!(queued.await.unwrap().unwrap().text, "u2");
    let s = pool.stats();
    assert_eq!(
        (s.partials_preempted, s.partials_shed, s.speculations_done),
        (0, 0, 2)
    );
}

#[tokio::test]
async fn an_unpromoted_speculation_is_preempted_like_a_partial() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    script.hold();
    let (spec, ticket) = pool
        .try_submit_speculative(audio(PREEMPTIBLE, 1), policy())
        .unwrap();
    until_taken(&script, 1).await;
    assert!(ticket.started());
    let fin = pool.submit_final(audio(0.0, 2), policy()).await.unwrap();
    assert!(matches!(spec.await.unwrap(), Err(AsrError::Preempted)));
    script.release();
    assert_eq!(fin.await.unwrap().unwrap().text, "u2");
}

#[tokio::test]
async fn no_partial_is_taken_while_a_final_waits() {
    let script = Arc::new(Script::default());
    let pool = pool(&script, small());
    script.hold();
    let busy = pool.submit_final(audio(0.0, 1), policy()).await.unwrap();
    until_taken(&script, 1).await;
    let waiting = pool.submit_final(audio(0.0, 2), policy()).await.unwrap();
    assert!(matches!(
        pool.try_submit_partial(audio(0.0, 3), policy()),
        Err(AsrError::Shed)
    ));
    // Speculations still queue: one may become that leg's final.
    let (spec, _) = pool
        .try_submit_speculative(audio(0.0, 4), policy())
        .unwrap();
    script.release();
    for rx in [busy, waiting, spec] {
        rx.await.unwrap().unwrap();
    }
    assert_eq!(pool.stats().partials_shed, 1);
    // Once the finals are done, partials are taken again.
    let later = pool.try_submit_partial(audio(0.0, 5), policy()).unwrap();
    assert_eq!(later.await.unwrap().unwrap().text, "u5");
}
