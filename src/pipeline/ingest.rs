//! The one door from a source into the pipeline: a source opens its legs here, feeds each
//! through the [`LegSender`] it gets back, and ends it with a typed [`EndReason`] (or by
//! dropping the sender, which ends it as a hangup). Sources see this handle, the shutdown
//! signal and the clock; the rest of the pipeline stays behind it.

use super::leg::{spawn_leg, LegInput, LegSummary};
use super::{RegistryError, Shared};
use crate::call::{CallInfo, EndReason, LegInfo};
use crate::clock::SharedClock;
use crate::shutdown::Shutdown;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a source holds to open legs on the live pipeline. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    shared: Arc<Shared>,
}

/// The leg has ended (its task stopped); further audio has nowhere to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the leg has ended")]
pub struct LegGone;

/// Feeds one open leg. Dropping it ends the leg as [`EndReason::Hangup`]; the leg then
/// transcribes and archives its last utterance, and the call ends with its last leg.
#[derive(Debug)]
pub struct LegSender {
    tx: mpsc::Sender<LegInput>,
    task: Option<JoinHandle<LegSummary>>,
}

impl Ingest {
    pub fn new(shared: Arc<Shared>) -> Self {
        Ingest { shared }
    }

    /// Opens one leg of `call` with input at `input_rate` Hz, as the credential `opened_by`
    /// (`None`: an internal source). The call's first leg announces the call.
    pub fn open(
        &self,
        call: &CallInfo,
        leg: LegInfo,
        input_rate: u32,
        opened_by: Option<&str>,
    ) -> Result<LegSender, RegistryError> {
        let mut legs = self.open_all(call, vec![(leg, input_rate)], opened_by)?;
        Ok(legs.pop().expect("one leg asked, one opened"))
    }

    /// Opens every leg of `legs` or none: when one is refused, those opened before it are
    /// closed as [`EndReason::Rejected`] before any audio reached them.
    pub fn open_all(
        &self,
        call: &CallInfo,
        legs: Vec<(LegInfo, u32)>,
        opened_by: Option<&str>,
    ) -> Result<Vec<LegSender>, RegistryError> {
        let registry = &self.shared.registry;
        for (opened, (info, _)) in legs.iter().enumerate() {
            if let Err(e) = registry.open_leg_as(call, info, opened_by) {
                for _ in 0..opened {
                    registry.close_leg(&call.call_id, 0, EndReason::Rejected);
                }
                return Err(e);
            }
        }
        Ok(legs
            .into_iter()
            .map(|(info, rate)| {
                let (tx, task) = spawn_leg(self.shared.clone(), info, rate);
                LegSender {
                    tx,
                    task: Some(task),
                }
            })
            .collect())
    }

    /// The pipeline's clock, for sources that time sessions.
    pub fn clock(&self) -> SharedClock {
        self.shared.clock.clone()
    }

    /// A subscription to the service's shutdown signal; hold it while work is in flight so
    /// shutdown waits for it. `None` when the service runs without one (tests, offline) or
    /// is already shutting down.
    pub fn shutdown_guard(&self) -> Option<Shutdown> {
        self.shared.shutdown_guard()
    }

    /// Whether the service has a shutdown signal at all (so `None` from
    /// [`shutdown_guard`](Self::shutdown_guard) means it is shutting down).
    pub fn has_shutdown(&self) -> bool {
        self.shared.shutdown.is_some()
    }
}

impl LegSender {
    /// Sends PCM at the leg's input rate, in pieces of at most [`MAX_AUDIO_MESSAGE`](super::MAX_AUDIO_MESSAGE), waiting
    /// while the leg is behind (backpressure: block; no audio is dropped).
    pub async fn audio(&self, samples: Vec<i16>) -> Result<(), LegGone> {
        super::leg::send_audio(&self.tx, samples)
            .await
            .map_err(|_| LegGone)
    }

    /// Ends the leg for `reason` and returns without waiting for its last utterance.
    pub async fn end(self, reason: EndReason) {
        let _ = self.tx.send(LegInput::End(reason)).await;
    }

    /// Ends the leg for `reason` and waits until it has transcribed and archived its last
    /// utterance.
    pub async fn end_and_wait(mut self, reason: EndReason) -> LegSummary {
        let _ = self.tx.send(LegInput::End(reason)).await;
        let task = self.task.take();
        drop(self);
        match task {
            Some(t) => t.await.unwrap_or_default(),
            None => LegSummary::default(),
        }
    }

    /// A sender whose leg is the returned receiver, not a pipeline task: lets a source's own
    /// tests see what it hands its leg.
    #[cfg(test)]
    pub(crate) fn channel(capacity: usize) -> (LegSender, mpsc::Receiver<LegInput>) {
        let (tx, rx) = mpsc::channel(capacity);
        (LegSender { tx, task: None }, rx)
    }

    /// Splits off the leg's task, to wait for its summary elsewhere; the sender still ends
    /// the leg when dropped.
    pub fn take_task(&mut self) -> Option<JoinHandle<LegSummary>> {
        self.task.take()
    }
}

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
