//! Speculative recognition on a leg: an utterance is recognised once `tail_ms` of silence
//! follows its speech (the segmenter's
//! [`crate::transforms::segment::SegmentEvent::Speculative`]), and that transcript
//! becomes its final if it closes with no more speech, so the hangover is spent recognising
//! instead of waiting. Its hits are published as soon as it is back, before the close.

use super::{FinalFuture, LegState, PartialFuture};
use crate::transforms::asr::gate;
use crate::transforms::asr::{AsrError, LanguagePolicy, SpeculationTicket, Transcript};
use futures_util::stream::FuturesOrdered;
use std::sync::Arc;

/// A recognition started at the first silence of an utterance; used as its final if it
/// closes with the same audio.
pub(super) struct Speculation {
    utterance: u64,
    samples: usize,
    policy: LanguagePolicy,
    /// Its transcript once back (also published as a partial, hits and all, right away).
    result: Option<Transcript>,
    ticket: Arc<SpeculationTicket>,
}

/// Counts what became of a speculation (`callwatch_asr_speculations_total{outcome}`).
fn outcome(outcome: &str) {
    crate::metrics::metrics()
        .speculations
        .with_label_values(&[outcome])
        .inc();
}

impl LegState<'_> {
    /// Starts recognising an utterance at its first silence (the segmenter sends these only
    /// when `Shared::segmenter.speculative`); any earlier speculation of the leg has been
    /// overtaken by speech and is dropped (a worker skips a job whose caller has gone).
    pub(super) fn speculate(
        &mut self,
        utterance: u64,
        start_ms: u64,
        end_ms: u64,
        audio: Arc<[f32]>,
        speech_ratio: f32,
        speculating: &mut Option<PartialFuture>,
    ) {
        self.utterance(utterance, start_ms);
        *speculating = None;
        if self.speculation.take().is_some() {
            outcome("overtaken");
        }
        if gate::too_little_speech(speech_ratio, self.shared.min_speech_ratio) {
            return;
        }
        let policy = self.peek_final_policy();
        let samples = audio.len();
        match self
            .shared
            .asr
            .try_submit_speculative(audio, policy.clone())
        {
            Ok((rx, ticket)) => {
                self.speculation = Some(Speculation {
                    utterance,
                    samples,
                    policy,
                    result: None,
                    ticket,
                });
                *speculating = Some(Box::pin(async move {
                    let r = rx.await.unwrap_or(Err(AsrError::Stopped));
                    (utterance, end_ms, r)
                }));
            }
            Err(AsrError::Shed) => tracing::debug!("speculation shed: recogniser busy"),
            Err(e) => tracing::warn!(error = %e, "speculation not submitted"),
        }
    }

    /// A speculative recognition is back: kept for the final, and published as a partial so
    /// its hits reach supervisors before the utterance has even closed.
    pub(super) fn on_speculation(
        &mut self,
        n: u64,
        end_ms: u64,
        result: Result<Transcript, AsrError>,
    ) {
        if let (Some(s), Ok(t)) = (self.speculation.as_mut(), &result) {
            if s.utterance == n {
                s.result = Some(t.clone());
            }
        }
        self.on_partial(n, end_ms, result);
    }

    /// At an utterance's close: queues its final from the speculation when that recognised
    /// the same audio under the same language policy, and gives the audio and policy back
    /// when the final must be recognised as usual.
    pub(super) fn final_from_speculation(
        &mut self,
        speculation: Option<Speculation>,
        (utterance, start_ms, end_ms): (u64, u64, u64),
        audio: Arc<[f32]>,
        policy: LanguagePolicy,
        finals: &mut FuturesOrdered<FinalFuture>,
        speculating: &mut Option<PartialFuture>,
    ) -> Option<(Arc<[f32]>, LanguagePolicy)> {
        let Some(spec) = speculation else {
            return Some((audio, policy));
        };
        // Same utterance, same length: the same samples (both are prefixes of the one open
        // buffer), so the same transcript.
        if spec.utterance != utterance || spec.samples != audio.len() || spec.policy != policy {
            outcome("overtaken");
            return Some((audio, policy));
        }
        if let Some(t) = spec.result {
            outcome("used");
            finals.push_back(Box::pin(
                async move { (utterance, start_ms, end_ms, Ok(t)) },
            ));
            return None;
        }
        let Some(pending) = speculating.take().filter(|_| spec.ticket.started()) else {
            // Still queued (dropped here, so a worker skips it: a final goes ahead of every
            // queued partial), or lost.
            outcome("redone");
            return Some((audio, policy));
        };
        // Being recognised: wait for it, as a final now (not shed, not pre-empted once
        // promoted); should it fail after all, recognise the final as usual.
        spec.ticket.promote();
        let asr = self.shared.asr.clone();
        finals.push_back(Box::pin(async move {
            let r = match pending.await.2 {
                Ok(t) => {
                    outcome("used");
                    Ok(t)
                }
                Err(_) => {
                    outcome("redone");
                    match asr.submit_final(audio, policy).await {
                        Ok(rx) => rx.await.unwrap_or(Err(AsrError::Stopped)),
                        Err(e) => Err(e),
                    }
                }
            };
            (utterance, start_ms, end_ms, r)
        }));
        None
    }

    /// The policy `final_policy` would give now, without counting a final.
    fn peek_final_policy(&self) -> LanguagePolicy {
        if self.shared.language_memory {
            self.language.clone().for_final(&self.policy)
        } else {
            self.policy.clone()
        }
    }
}
