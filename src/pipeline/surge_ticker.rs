//! The task that drives the surge detector: every `tick_s` seconds it asks the [`Clock`] for
//! the time, lets the detector judge the minutes that closed, and publishes what changed.
//!
//! [`Clock`]: crate::clock::Clock

use super::Shared;
use crate::clock::rfc3339;
use crate::sinks::archive::ArchiveOp;
use crate::sinks::events::{Event, Payload};
use crate::transforms::surge::SurgeAlert;
use std::sync::Arc;
use std::time::Duration;

/// Judges the closed minutes up to the clock's now and publishes each alert as a
/// `surge.alert` event and an archive row. Returns how many alerts there were.
pub fn tick_once(shared: &Shared) -> usize {
    let alerts = shared.surge.tick(shared.clock.now());
    for a in &alerts {
        publish(shared, a);
    }
    alerts.len()
}

fn publish(shared: &Shared, a: &SurgeAlert) {
    tracing::info!(
        metric = %a.metric, key = %a.key, state = a.state.as_str(), observed = a.observed,
        expected = a.expected, p_value = a.p_value, "surge"
    );
    shared.archive.send(ArchiveOp::Surge(a.clone()));
    shared.events.publish(Event::of_call(
        Payload::SurgeAlert(a.clone()),
        String::new(),
        rfc3339(shared.clock.now()),
    ));
}

/// Spawns the ticker; it ends at shutdown. `None` when the detector is disabled.
pub fn spawn_surge_ticker(
    shared: Arc<Shared>,
    period: Duration,
) -> Option<tokio::task::JoinHandle<()>> {
    if !shared.surge.enabled() {
        return None;
    }
    let mut guard = shared.shutdown_guard();
    Some(tokio::spawn(async move {
        let mut every = tokio::time::interval(period);
        // A stalled runtime catches up by judging every missed minute in one tick, not by
        // bursting ticks.
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => { tick_once(&shared); }
                _ = async { match guard.as_mut() { Some(g) => g.recv().await, None => std::future::pending().await } } => break,
            }
        }
    }))
}
