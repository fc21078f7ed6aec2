//! One shutdown signal fanned out to every task; completion is observed when every guard is dropped.

use tokio::sync::{broadcast, mpsc};

/// Sends the shutdown signal and waits for all [`Shutdown`] holders to finish.
pub struct ShutdownController {
    notify: broadcast::Sender<()>,
    done_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
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
