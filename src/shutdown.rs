//! One shutdown signal fanned out to every task; completion is observed when every guard is dropped.

use tokio::sync::{broadcast, mpsc};

/// Owned by `main`: sends the shutdown signal and waits for every [`Shutdown`] guard to drop.
pub struct ShutdownController {
    notify: broadcast::Sender<()>,
    done_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

/// Cloneable factory of guards, handed to whatever spawns tasks. It does not keep shutdown
/// from completing; once shutdown has begun it hands out no more guards.
#[derive(Clone)]
pub struct ShutdownHandle {
    notify: broadcast::Sender<()>,
    done: mpsc::WeakSender<()>,
}

/// Held by a task: tells it when to stop; dropping it reports completion.
pub struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
    _done: mpsc::Sender<()>,
}

impl Default for ShutdownController {
    fn default() -> Self {
        Self::new()
    }
}

impl ShutdownController {
    pub fn new() -> Self {
        let (notify, _) = broadcast::channel(1);
        let (done_tx, done_rx) = mpsc::channel(1);
        ShutdownController {
            notify,
            done_tx,
            done_rx,
        }
    }

    pub fn handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            notify: self.notify.clone(),
            done: self.done_tx.downgrade(),
        }
    }

    /// A new guard for a task.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            is_shutdown: false,
            notify: self.notify.subscribe(),
            _done: self.done_tx.clone(),
        }
    }

    /// Signals every guard and waits until all of them are dropped.
    pub async fn shutdown(mut self) {
        let _ = self.notify.send(());
        drop(self.done_tx);
        let _ = self.done_rx.recv().await;
    }
}

impl ShutdownHandle {
    /// A guard, or `None` once shutdown is under way.
    pub fn subscribe(&self) -> Option<Shutdown> {
        let done = self.done.upgrade()?;
        Some(Shutdown {
            is_shutdown: false,
            notify: self.notify.subscribe(),
            _done: done,
        })
    }
}

impl Shutdown {
    pub fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Resolves once shutdown was signalled.
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waits_for_guards_and_refuses_new_ones() {
        let ctl = ShutdownController::new();
        let handle = ctl.handle();
        let mut guard = handle.subscribe().unwrap();
        let task = tokio::spawn(async move {
            guard.recv().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(guard);
            true
        });
        ctl.shutdown().await;
        assert!(task.is_finished() || task.await.unwrap());
        assert!(handle.subscribe().is_none());
    }
}
