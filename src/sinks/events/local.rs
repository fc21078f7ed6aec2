//! The in-process bus: a broadcast channel, and the last `capacity` events kept for
//! subscribers that resume.
//!
//! Backpressure policy: drop-oldest per subscriber. The bus never waits for a slow subscriber;
//! one that falls more than `capacity` events behind loses the oldest ones and is told so with
//! an explicit `events.lagged` message carrying the count.

use super::bus::{BusHealth, Delivery, EventBackend, Published, Subscription};
use super::event::Event;
use crate::call::CallScope;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

pub struct LocalBus {
    tx: broadcast::Sender<Arc<Published>>,
    capacity: usize,
    state: Mutex<State>,
}

struct State {
    /// Id of the next event; ids start at 1, so `after=0` means from the first one kept.
    next_id: u64,
    kept: VecDeque<Arc<Published>>,
}

impl LocalBus {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(16);
        let (tx, _) = broadcast::channel(capacity);
        LocalBus {
            tx,
            capacity,
            state: Mutex::new(State {
                next_id: 1,
                kept: VecDeque::with_capacity(capacity),
            }),
        }
    }
}

impl EventBackend for LocalBus {
    fn publish(&self, event: Event, scope: Option<CallScope>) {
        let body = serde_json::to_string(&event).unwrap_or_else(|e| {
            tracing::error!(error = %e, "event not serialisable");
            String::from("{}")
        });
        // Ids are given and sent under one lock, so the kept events and the broadcast agree
        // on the order.
        let mut st = self.state.lock().expect("event bus lock");
        let p = Arc::new(Published::new(st.next_id, event, &body, scope));
        st.next_id += 1;
        if st.kept.len() == self.capacity {
            st.kept.pop_front();
        }
        st.kept.push_back(p.clone());
        let _ = self.tx.send(p);
    }

    fn subscribe(&self, after: Option<u64>) -> Subscription {
        let st = self.state.lock().expect("event bus lock");
        let rx = self.tx.subscribe();
        let mut sub = LocalSubscription {
            rx,
            backlog: VecDeque::new(),
            missed: 0,
            // Live events up to here are in the backlog (or were asked to be skipped).
            seen: st.next_id - 1,
        };
        if let Some(after) = after {
            let first_kept = st.kept.front().map_or(st.next_id, |p| p.id);
            sub.missed = first_kept.saturating_sub(after.saturating_add(1));
            sub.backlog = st.kept.iter().filter(|p| p.id > after).cloned().collect();
        }
        Subscription::local(sub)
    }

    fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    fn health(&self) -> BusHealth {
        BusHealth::Local
    }
}

/// A subscriber of the in-process bus.
pub struct LocalSubscription {
    rx: broadcast::Receiver<Arc<Published>>,
    backlog: VecDeque<Arc<Published>>,
    /// Events asked for that were no longer kept, reported before the backlog.
    missed: u64,
    /// The highest id already delivered through the backlog.
    seen: u64,
}

impl LocalSubscription {
    /// A subscriber of `rx` from now on.
    pub(super) fn live(rx: broadcast::Receiver<Arc<Published>>) -> Self {
        LocalSubscription {
            rx,
            backlog: VecDeque::new(),
            missed: 0,
            seen: 0,
        }
    }

    pub async fn next(&mut self) -> Delivery {
        if self.missed > 0 {
            return Delivery::Lagged(std::mem::take(&mut self.missed));
        }
        if let Some(p) = self.backlog.pop_front() {
            return Delivery::Event(p);
        }
        loop {
            match self.rx.recv().await {
                // Published between taking the backlog and subscribing: already delivered.
                Ok(p) if p.id <= self.seen => continue,
                Ok(p) => return Delivery::Event(p),
                Err(broadcast::error::RecvError::Lagged(n)) => return Delivery::Lagged(n),
                Err(broadcast::error::RecvError::Closed) => return Delivery::Closed,
            }
        }
    }
}
