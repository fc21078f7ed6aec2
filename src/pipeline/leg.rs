//! One leg's journey: decoded PCM -> VAD utterances -> Whisper partials/finals -> matcher ->
//! events and archive. Runs as one async task per leg; inference happens on the ASR pool.

use super::Shared;
use crate::call::{EndReason, LegInfo, Speaker};
use crate::clock::rfc3339;
use crate::facts::FinalUtterance;
use crate::sinks::archive::{ArchiveOp, HitRecord, UtteranceRecord};
use crate::sinks::events::{Event, Payload, SegmentTiming};
use crate::transforms::asr::gate::{self, DropReason};
use crate::transforms::asr::language::LanguageMemory;
use crate::transforms::asr::{AsrError, LanguagePolicy, Transcript};
use crate::transforms::decode::LegDecoder;
use crate::transforms::matcher::{normalize, HitTracker, Match, MatchMode, Matcher, Normalized};
use crate::transforms::redact::LegRedactor;
use crate::transforms::rules::{Inspection, Observation};
use crate::transforms::scorecard::{LedgerHit, LedgerUtterance};
use crate::transforms::segment::{SegmentEvent, Segmenter};
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::Instrument;

#[path = "leg_speculation.rs"]
mod speculation;
use speculation::Speculation;

/// What a source feeds into a leg.
#[derive(Debug)]
pub enum LegInput {
    /// 16-bit PCM at the leg's input rate, in media order.
    Audio(Vec<i16>),
    /// Why the source ends the leg, sent just before it drops its sender. When this is the
    /// call's last leg to end, it becomes the archived end reason; a leg whose source says
    /// nothing ended by [`EndReason::Hangup`].
    End(EndReason),
}

/// What a finished leg reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegSummary {
    pub media_ms: u64,
    pub utterances: usize,
    pub hits: usize,
    /// The reason the source gave with [`LegInput::End`], if any.
    pub end_reason: Option<EndReason>,
}

/// Longest a final waits for its archive commit before it is announced anyway.
const COMMIT_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Inbox of a leg, in messages. Backpressure policy: block — a source that outruns
/// recognition waits here (its socket reads stop), so no audio is dropped. Sources send audio
/// through [`send_audio`], so the inbox holds at most `LEG_INBOX * MAX_AUDIO_MESSAGE` samples
/// (512 KiB) however large the frames a peer sends.
pub const LEG_INBOX: usize = 64;

/// Most samples in one [`LegInput::Audio`] (256 ms at 16 kHz).
pub const MAX_AUDIO_MESSAGE: usize = 4096;

/// Sends `samples` to a leg in pieces of at most [`MAX_AUDIO_MESSAGE`], waiting while the
/// leg is behind. Errs when the leg has ended.
pub(crate) async fn send_audio(
    tx: &mpsc::Sender<LegInput>,
    mut samples: Vec<i16>,
) -> Result<(), mpsc::error::SendError<LegInput>> {
    while samples.len() > MAX_AUDIO_MESSAGE {
        let rest = samples.split_off(MAX_AUDIO_MESSAGE);
        tx.send(LegInput::Audio(samples)).await?;
        samples = rest;
    }
    if samples.is_empty() {
        return Ok(());
    }
    tx.send(LegInput::Audio(samples)).await
}

struct Utterance {
    id: String,
    start_ms: u64,
    tracker: HitTracker,
    finalized: bool,
    /// Where the utterance ended (media ms) and when the segmenter closed it, once it has.
    closed: Option<(u64, std::time::Instant)>,
}

type FinalFuture =
    Pin<Box<dyn Future<Output = (u64, u64, u64, Result<Transcript, AsrError>)> + Send>>;
type PartialFuture = Pin<Box<dyn Future<Output = (u64, u64, Result<Transcript, AsrError>)> + Send>>;

/// Spawns the leg task of a leg the registry has opened; the returned sender feeds it, and
/// dropping the sender ends the leg. Sources open legs through [`super::Ingest`] instead.
pub(crate) fn spawn_leg(
    shared: Arc<Shared>,
    leg: LegInfo,
    input_rate: u32,
) -> (mpsc::Sender<LegInput>, tokio::task::JoinHandle<LegSummary>) {
    let (tx, rx) = mpsc::channel(LEG_INBOX);
    let span =
        tracing::info_span!("leg", call_id = %leg.call_id, leg = %leg.leg, speaker = %leg.speaker);
    let guard = shared.shutdown_guard();
    let handle = tokio::spawn(
        async move {
            let _guard = guard;
            let summary = run_leg(&shared, &leg, input_rate, rx).await;
            let reason = summary.end_reason.unwrap_or_default();
            shared
                .registry
                .close_leg(&leg.call_id, summary.media_ms, reason);
            summary
        }
        .instrument(span),
    );
    (tx, handle)
}

/// Runs a leg to completion on the current task.
pub async fn run_leg(
    shared: &Shared,
    leg: &LegInfo,
    input_rate: u32,
    mut rx: mpsc::Receiver<LegInput>,
) -> LegSummary {
    let mut decoder = match LegDecoder::new(input_rate) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot decode leg");
            return LegSummary::default();
        }
    };
    let mut segmenter = match Segmenter::new(shared.segmenter.clone()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot segment leg");
            return LegSummary::default();
        }
    };
    let policy = shared
        .language
        .with_override(leg.language.as_deref())
        .with_bias(leg_bias(shared, leg));
    let mut state = LegState {
        shared,
        leg,
        policy,
        language: LanguageMemory::default(),
        utterances: HashMap::new(),
        summary: LegSummary::default(),
        samples_16k: 0,
        redact: LegRedactor::new(shared.redactor.clone()),
        settled_ms: 0,
        undecided_ms: 0,
        lag: crate::metrics::metrics().lag_gauge(&leg.call_id, &leg.leg),
        audio: super::leg_audio::LegAudio::start(shared, leg),
        speculation: None,
    };
    let mut finals: FuturesOrdered<FinalFuture> = FuturesOrdered::new();
    let mut partial: Option<PartialFuture> = None;
    let mut speculating: Option<PartialFuture> = None;
    let mut input_open = true;
    loop {
        tokio::select! {
            biased;
            Some((n, start_ms, end_ms, result)) = finals.next(), if !finals.is_empty() => {
                state.on_final(n, start_ms, end_ms, result).await;
            }
            (n, end_ms, result) = async { partial.as_mut().unwrap().await }, if partial.is_some() => {
                partial = None;
                state.on_partial(n, end_ms, result);
            }
            (n, end_ms, result) = async { speculating.as_mut().unwrap().await }, if speculating.is_some() => {
                speculating = None;
                state.on_speculation(n, end_ms, result);
            }
            msg = rx.recv(), if input_open => {
                let events = match msg {
                    Some(LegInput::Audio(pcm)) => {
                        let audio = decoder.push(&pcm);
                        state.samples_16k += audio.len() as u64;
                        if let Some(a) = state.audio.as_mut() {
                            a.push(&audio);
                        }
                        segmenter.push(&audio)
                    }
                    Some(LegInput::End(reason)) => {
                        state.summary.end_reason = Some(reason);
                        Vec::new()
                    }
                    None => {
                        input_open = false;
                        let audio = decoder.flush();
                        state.samples_16k += audio.len() as u64;
                        if let Some(a) = state.audio.as_mut() {
                            a.push(&audio);
                        }
                        let mut ev = segmenter.push(&audio);
                        ev.extend(segmenter.finish());
                        ev
                    }
                };
                for ev in events {
                    state.on_segment(ev, &mut finals, &mut partial, &mut speculating).await;
                }
            }
            else => break,
        }
        state.report_settled(segmenter.open_start_ms());
        state.undecided_ms = segmenter.undecided_from_ms();
        state.release_audio(state.undecided_ms);
        if !input_open && finals.is_empty() {
            break;
        }
    }
    shared.rules.close_leg(&leg.call_id, &leg.leg);
    crate::metrics::metrics().leg_ended(&leg.call_id, &leg.leg);
    if let Some(a) = state.audio.take() {
        a.finish(shared);
    }
    state.summary.media_ms = state.samples_16k / 16;
    state.summary
}

struct LegState<'a> {
    shared: &'a Shared,
    leg: &'a LegInfo,
    policy: LanguagePolicy,
    /// The leg's language as learned from its finals (when `[asr] language_memory` is on).
    language: LanguageMemory,
    utterances: HashMap<u64, Utterance>,
    summary: LegSummary,
    samples_16k: u64,
    /// Personal data leaves each transcript here, before events, archive, matcher and logs.
    redact: LegRedactor,
    /// Media time up to which this leg's audio is heard and transcribed, last reported.
    settled_ms: u64,
    /// The leg's recording; audio is written once it is settled (and silenced if redacted).
    audio: Option<super::leg_audio::LegAudio>,
    /// Media time from which the segmenter may still open an utterance, last seen.
    undecided_ms: u64,
    /// This leg's recognition-lag gauge (set on every turn of the loop: no label lookup).
    lag: prometheus::Gauge,
    /// The open utterance's speculative recognition, if one is under way.
    speculation: Option<Speculation>,
}

impl LegState<'_> {
    /// Tells the call's rules how far this leg is settled: up to the start of the earliest
    /// utterance still open or awaiting its final, else everything heard. Deadlines ("greeting
    /// within 15 s") wait for this, not for the audio clock, so transcription lag cannot fire them.
    fn report_settled(&mut self, open_start_ms: Option<u64>) {
        let heard = self.samples_16k / 16;
        let waiting = self
            .utterances
            .values()
            .filter_map(|u| u.closed)
            .map(|c| c.0)
            .min();
        let lag_ms = waiting.map_or(0, |end| heard.saturating_sub(end));
        self.lag.set(lag_ms as f64 / 1000.0);
        let pending = self.utterances.values().map(|u| u.start_ms).min();
        let settled = [Some(heard), open_start_ms, pending]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(heard);
        if settled > self.settled_ms {
            self.settled_ms = settled;
            if self.leg.speaker == Speaker::Agent {
                self.shared
                    .registry
                    .note_agent_settled(&self.leg.call_id, settled);
            }
            self.shared
                .rules
                .advance(&self.leg.call_id, &self.leg.leg, settled);
        }
    }

    /// Writes the recorded audio no transcript can still claim: before the earliest
    /// utterance awaiting its final and before what the segmenter may still open
    /// (`undecided_ms`), so redaction can silence it first.
    fn release_audio(&mut self, undecided_ms: u64) {
        let Some(a) = self.audio.as_mut() else {
            return;
        };
        let pending = self.utterances.values().map(|u| u.start_ms).min();
        let until = pending.map_or(undecided_ms, |p| p.min(undecided_ms));
        a.release(until);
    }

    /// Hands a matched transcript to the call's rules.
    #[allow(clippy::too_many_arguments)] // the fields of one observation
    fn observe_rules(
        &self,
        insp: &Inspection,
        utterance_id: &str,
        text: &str,
        normalized: &crate::transforms::matcher::Normalized,
        hits: &[Match],
        start_ms: u64,
        end_ms: u64,
        partial: bool,
    ) {
        self.shared.rules.observe(
            &self.leg.call_id,
            &Observation {
                leg: &self.leg.leg,
                speaker: self.leg.speaker,
                utterance_id,
                text,
                normalized,
                hits,
                generation: insp.generation,
                start_ms,
                end_ms,
                partial,
            },
        );
    }

    async fn on_segment(
        &mut self,
        ev: SegmentEvent,
        finals: &mut FuturesOrdered<FinalFuture>,
        partial: &mut Option<PartialFuture>,
        speculating: &mut Option<PartialFuture>,
    ) {
        match ev {
            SegmentEvent::Partial {
                utterance,
                start_ms,
                end_ms,
                audio_so_far,
            } => {
                self.utterance(utterance, start_ms);
                if partial.is_some() || !self.shared.partials {
                    return;
                }
                match self
                    .shared
                    .asr
                    .try_submit_partial(audio_so_far, self.partial_policy())
                {
                    Ok(rx) => {
                        *partial = Some(Box::pin(async move {
                            let r = rx.await.unwrap_or(Err(AsrError::Stopped));
                            (utterance, end_ms, r)
                        }));
                    }
                    Err(AsrError::Shed) => tracing::debug!("partial shed: recogniser busy"),
                    Err(e) => tracing::warn!(error = %e, "partial not submitted"),
                }
            }
            SegmentEvent::Speculative {
                utterance,
                start_ms,
                end_ms,
                audio,
                speech_ratio,
            } => {
                self.speculate(
                    utterance,
                    start_ms,
                    end_ms,
                    audio,
                    speech_ratio,
                    speculating,
                );
            }
            SegmentEvent::Final {
                utterance,
                start_ms,
                end_ms,
                audio,
                speech_ratio,
            } => {
                let u = self.utterance(utterance, start_ms);
                u.finalized = true;
                u.closed = Some((end_ms, std::time::Instant::now()));
                let speculation = self.speculation.take();
                if gate::too_little_speech(speech_ratio, self.shared.min_speech_ratio) {
                    tracing::debug!(speech_ratio, "utterance dropped: too little speech");
                    self.drop_utterance(utterance, end_ms, DropReason::TooLittleSpeech, None);
                    return;
                }
                let audio: Arc<[f32]> = audio.into();
                let policy = self.final_policy();
                let Some((audio, policy)) = self.final_from_speculation(
                    speculation,
                    (utterance, start_ms, end_ms),
                    audio,
                    policy,
                    finals,
                    speculating,
                ) else {
                    return;
                };
                match self.shared.asr.submit_final(audio, policy).await {
                    Ok(rx) => finals.push_back(Box::pin(async move {
                        let r = rx.await.unwrap_or(Err(AsrError::Stopped));
                        (utterance, start_ms, end_ms, r)
                    })),
                    Err(e) => {
                        tracing::error!(error = %e, "final not transcribed");
                        let detail = Some(e.to_string());
                        self.drop_utterance(
                            utterance,
                            end_ms,
                            DropReason::RecognitionFailed,
                            detail,
                        );
                    }
                }
            }
        }
    }

    /// The language policy of the leg's next final.
    fn final_policy(&mut self) -> LanguagePolicy {
        if self.shared.language_memory {
            self.language.for_final(&self.policy)
        } else {
            self.policy.clone()
        }
    }

    /// The language policy of a partial.
    fn partial_policy(&self) -> LanguagePolicy {
        if self.shared.language_memory {
            self.language.for_partial(&self.policy)
        } else {
            self.policy.clone()
        }
    }

    /// On the customer's leg, reads the next text as the answer to what the agent just asked
    /// for (a code, card, ID or phone number), so its digits are masked in that light.
    fn read_as_answer(&mut self, start_ms: u64, consume: bool) {
        if self.leg.speaker == Speaker::Customer {
            let asked = self
                .shared
                .registry
                .asked(&self.leg.call_id, start_ms, consume);
            self.redact.set_asked(asked);
        }
    }

    /// Accounts for an utterance that ends without a final: counted, announced and archived
    /// as a row with empty text and the reason, so a reviewer sees that speech was there.
    fn drop_utterance(&mut self, n: u64, end_ms: u64, reason: DropReason, detail: Option<String>) {
        let Some(u) = self.utterances.remove(&n) else {
            return;
        };
        self.shared.drops.add(reason);
        // What the recogniser could not read may have held a card number: fail closed.
        let audio_masked = if reason == DropReason::RecognitionFailed {
            vec![[u.start_ms, end_ms]]
        } else {
            Vec::new()
        };
        if let Some(a) = self.audio.as_mut() {
            a.mask(&audio_masked);
        }
        let now = rfc3339(self.shared.clock.now());
        self.shared
            .archive
            .send(ArchiveOp::Utterance(UtteranceRecord {
                dropped: Some(reason),
                audio_masked,
                ..self.record(&u.id, u.start_ms, end_ms, now)
            }));
        self.shared.events.publish(self.event(
            Payload::UtteranceDropped {
                utterance_id: u.id,
                reason,
                detail,
            },
            u.start_ms,
            end_ms,
        ));
    }

    /// An archive row for an utterance of this leg, with no text yet.
    fn record(&self, id: &str, start_ms: u64, end_ms: u64, created_at: String) -> UtteranceRecord {
        UtteranceRecord {
            id: id.to_string(),
            call_id: self.leg.call_id.clone(),
            leg: self.leg.leg.clone(),
            speaker: self.leg.speaker,
            start_ms,
            end_ms,
            language: String::new(),
            text: String::new(),
            segments: serde_json::Value::Array(Vec::new()),
            created_at,
            dropped: None,
            audio_masked: Vec::new(),
        }
    }

    fn utterance(&mut self, n: u64, start_ms: u64) -> &mut Utterance {
        self.utterances.entry(n).or_insert_with(|| Utterance {
            id: uuid::Uuid::new_v4().to_string(),
            start_ms,
            tracker: HitTracker::new(),
            finalized: false,
            closed: None,
        })
    }

    fn event(&self, payload: Payload, start_ms: u64, end_ms: u64) -> Event {
        Event {
            payload,
            call_id: self.leg.call_id.clone(),
            leg: Some(self.leg.leg.clone()),
            speaker: Some(self.leg.speaker),
            start_ms: Some(start_ms),
            end_ms: Some(end_ms),
            at: rfc3339(self.shared.clock.now()),
        }
    }

    /// Lexicon hits in a (redacted) transcript; a redaction label is not speech, so hits
    /// inside one are left out.
    fn find_matches(&self, matcher: &Matcher, text: &str, norm: &Normalized) -> Vec<Match> {
        let mut matches = matcher.find_normalized(text, norm, self.leg.speaker);
        matches.retain(|m| {
            !self
                .shared
                .redactor
                .within_label(text, m.char_start, m.char_end)
        });
        matches
    }

    fn on_partial(&mut self, n: u64, end_ms: u64, result: Result<Transcript, AsrError>) {
        let Some(u) = self.utterances.get(&n) else {
            return;
        };
        if u.finalized {
            return; // the final is on its way; a late partial would only confuse subscribers
        }
        let (id, start_ms) = (u.id.clone(), u.start_ms);
        let back = std::time::Instant::now();
        self.read_as_answer(start_ms, false);
        let t = match result {
            Ok(t) if !t.text.is_empty() => self.redact.partial_transcript(t),
            Ok(_) | Err(AsrError::Shed | AsrError::Preempted) => return,
            Err(e) => {
                tracing::warn!(error = %e, "partial failed");
                return;
            }
        };
        self.shared.events.publish(self.event(
            Payload::TranscriptPartial {
                utterance_id: id.clone(),
                text: t.text.clone(),
                language: t.language.clone(),
            },
            start_ms,
            end_ms,
        ));
        let insp = self.shared.inspection.load_full();
        let norm = normalize(&t.text);
        let matches = self.find_matches(&insp.matcher, &t.text, &norm);
        for m in &matches {
            if self.utterances.get_mut(&n).unwrap().tracker.admit(m) {
                self.publish_hit(&insp.matcher, &id, &t.text, m, start_ms, end_ms, true);
                let metrics = crate::metrics::metrics();
                metrics
                    .transcript_to_hit
                    .with_label_values(&["partial"])
                    .observe(back.elapsed().as_secs_f64());
                // Found while the speaker was still talking: no wait after the turn.
                metrics.turn_end_to_hit.observe(0.0);
            }
        }
        self.observe_rules(&insp, &id, &t.text, &norm, &matches, start_ms, end_ms, true);
    }

    async fn on_final(
        &mut self,
        n: u64,
        start_ms: u64,
        end_ms: u64,
        result: Result<Transcript, AsrError>,
    ) {
        let back = std::time::Instant::now();
        self.read_as_answer(start_ms, true);
        let (t, masked) = match result {
            Ok(t) => {
                if self.shared.language_memory {
                    let empty = t.text.trim().is_empty();
                    self.language.observe(&t.language, t.language_share, empty);
                }
                let redacted = self.redact.final_transcript(t.clone());
                let mut masked = super::leg_audio::masked_ranges(&t, &redacted, start_ms, end_ms);
                if masked.is_empty()
                    && self.audio.is_some()
                    && self.leg.speaker == Speaker::Customer
                    && super::leg_audio::unsure_digits(
                        &t.text,
                        start_ms,
                        self.shared.registry.agent_settled(&self.leg.call_id),
                    )
                {
                    tracing::debug!(
                        "digits heard before the agent's leg caught up: audio silenced"
                    );
                    masked = vec![[start_ms, end_ms]];
                }
                if let Some(a) = self.audio.as_mut() {
                    a.mask(&masked);
                }
                (redacted, masked)
            }
            Err(e) => {
                tracing::error!(error = %e, start_ms, end_ms, "final transcription failed");
                let detail = Some(e.to_string());
                self.drop_utterance(n, end_ms, DropReason::RecognitionFailed, detail);
                return;
            }
        };
        if t.text.trim().is_empty() {
            let reason = t.dropped.unwrap_or(DropReason::Empty);
            tracing::debug!(reason = reason.as_str(), "utterance dropped");
            self.drop_utterance(n, end_ms, reason, None);
            return;
        }
        let Some(mut u) = self.utterances.remove(&n) else {
            return;
        };
        if self.leg.speaker == Speaker::Agent {
            if let Some(category) = crate::transforms::redact::requested(&t.text) {
                self.shared
                    .registry
                    .note_asked(&self.leg.call_id, category, end_ms);
            }
        }
        self.summary.utterances += 1;
        let fact = FinalUtterance {
            id: u.id.clone(),
            call_id: self.leg.call_id.clone(),
            leg: self.leg.leg.clone(),
            speaker: self.leg.speaker,
            start_ms,
            end_ms,
            language: t.language.clone(),
            text: t.text.clone(),
            segments: t
                .segments
                .iter()
                .map(|s| SegmentTiming {
                    start_ms: start_ms + s.start_ms,
                    end_ms: (start_ms + s.end_ms).min(end_ms.max(start_ms + s.start_ms)),
                    text: s.text.clone(),
                })
                .collect(),
            audio_masked: masked,
            at: self.shared.clock.now(),
        };
        let now = rfc3339(fact.at);
        self.shared
            .archive
            .send(ArchiveOp::Utterance(UtteranceRecord::from(&fact)));
        let insp = self.shared.inspection.load_full();
        let norm = normalize(&t.text);
        let matches = self.find_matches(&insp.matcher, &t.text, &norm);
        let mut ledger_hits = Vec::new();
        let mut announce = Vec::new();
        for m in &matches {
            self.archive_hit(&insp.matcher, &u.id, m, start_ms, end_ms, &now);
            let term = insp.matcher.term(m.term_id);
            ledger_hits.push(LedgerHit {
                speaker: self.leg.speaker,
                term: term.text.clone(),
                category: term.category.clone(),
                severity: term.severity,
                start_ms,
            });
            if u.tracker.admit(m) {
                announce.push(m);
            }
        }
        // What subscribers are told is kept: a crash after this cannot lose it, nor the audio
        // it settled (written before the final is announced, not on the next turn of the loop).
        self.release_audio(self.undecided_ms);
        self.shared.archive.committed(COMMIT_WAIT).await;
        self.shared.events.publish(Event::from(&fact));
        let metrics = crate::metrics::metrics();
        let closed = u.closed.map(|c| c.1);
        if let Some(c) = closed {
            metrics
                .utterance_to_final
                .observe(c.elapsed().as_secs_f64());
        }
        for m in announce {
            self.publish_hit(&insp.matcher, &u.id, &t.text, m, start_ms, end_ms, false);
            metrics
                .transcript_to_hit
                .with_label_values(&["final"])
                .observe(back.elapsed().as_secs_f64());
            if let Some(c) = closed {
                metrics.turn_end_to_hit.observe(c.elapsed().as_secs_f64());
            }
        }
        self.shared.registry.record_final(
            &self.leg.call_id,
            LedgerUtterance::from(&fact),
            ledger_hits,
        );
        self.observe_rules(
            &insp, &u.id, &t.text, &norm, &matches, start_ms, end_ms, false,
        );
        let categories = matches
            .iter()
            .map(|m| insp.matcher.term(m.term_id).category.as_str())
            .collect();
        super::insight::on_final(self.shared, self.leg, &fact, categories);
    }

    fn archive_hit(
        &mut self,
        matcher: &Matcher,
        utterance_id: &str,
        m: &Match,
        start_ms: u64,
        end_ms: u64,
        now: &str,
    ) {
        self.summary.hits += 1;
        let term = matcher.term(m.term_id);
        self.shared.archive.send(ArchiveOp::Hit(HitRecord {
            id: uuid::Uuid::new_v4().to_string(),
            call_id: self.leg.call_id.clone(),
            leg: self.leg.leg.clone(),
            speaker: self.leg.speaker,
            utterance_id: utterance_id.to_string(),
            term: term.text.clone(),
            category: term.category.clone(),
            severity: term.severity.as_str().to_string(),
            matched: m.matched.clone(),
            span_start: m.char_start,
            span_end: m.char_end,
            start_ms,
            end_ms,
            created_at: now.to_string(),
            homophone: m.how != MatchMode::Exact,
            how: m.how,
        }));
    }

    #[allow(clippy::too_many_arguments)] // one hit's fields plus the matcher that found it
    fn publish_hit(
        &self,
        matcher: &Matcher,
        utterance_id: &str,
        text: &str,
        m: &Match,
        start_ms: u64,
        end_ms: u64,
        partial: bool,
    ) {
        let term = matcher.term(m.term_id);
        tracing::info!(term = %term.text, category = %term.category, partial, "phrase hit");
        self.shared.events.publish(self.event(
            Payload::PhraseHit {
                utterance_id: utterance_id.to_string(),
                term: term.text.clone(),
                category: term.category.clone(),
                severity: term.severity.as_str().to_string(),
                matched: m.matched.clone(),
                span_start: m.char_start,
                span_end: m.char_end,
                utterance: text.to_string(),
                partial,
                homophone: m.how != MatchMode::Exact,
                how: m.how,
            },
            start_ms,
            end_ms,
        ));
    }
}

/// The leg's prompts toward its lexicon terms (and, for agents, their queue's script), when
/// `[asr.bias]` is on; from the lexicons in force when the leg opens.
fn leg_bias(shared: &Shared, leg: &LegInfo) -> Option<crate::transforms::asr::Bias> {
    use crate::transforms::asr::bias;
    if !shared.bias.enabled {
        return None;
    }
    let queue = shared
        .registry
        .call_scope(&leg.call_id)
        .and_then(|(_, q)| q);
    let script = if leg.speaker == crate::call::Speaker::Agent {
        shared.bias_scripts.phrases(queue.as_deref())
    } else {
        &[]
    };
    let insp = shared.inspection.load_full();
    bias::leg_bias(
        &shared.bias,
        &shared.zh_prompt,
        insp.matcher.terms(),
        leg.speaker,
        queue.as_deref(),
        script,
    )
}
