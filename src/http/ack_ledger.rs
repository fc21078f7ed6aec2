//! Acknowledgements given since start (of surges, of call alerts): the first one stands, and
//! the answer to a second one, or a list, must not depend on the archive writer having caught
//! up with the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many acknowledgements a ledger holds before it starts over; by then the writer has
/// long archived the earlier ones.
pub const MAX_HELD: usize = 4096;

/// Acknowledgements by what they acknowledge (at most [`MAX_HELD`]; the archive has them all).
#[derive(Debug)]
pub struct AckLedger<T>(Arc<Mutex<HashMap<String, T>>>);

impl<T> Clone for AckLedger<T> {
    fn clone(&self) -> Self {
        AckLedger(self.0.clone())
    }
}

impl<T> Default for AckLedger<T> {
    fn default() -> Self {
        AckLedger(Arc::default())
    }
}

impl<T: Clone> AckLedger<T> {
    /// Claims the first acknowledgement of `id` for `record`, or answers the one given
    /// earlier since start. Check and claim happen under one lock, so two supervisors
    /// acknowledging at once cannot both be first.
    pub fn claim(&self, id: &str, record: &T) -> Option<T> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = held.get(id) {
            return Some(p.clone());
        }
        if held.len() >= MAX_HELD {
            held.clear();
        }
        held.insert(id.to_string(), record.clone());
        None
    }

    /// What has been acknowledged since start (at most [`MAX_HELD`] ids).
    pub fn ids(&self) -> Vec<String> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.keys().cloned().collect()
    }

    /// The acknowledgement of `id` given since start, if any.
    pub fn get(&self, id: &str) -> Option<T> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

/// Longest acknowledgement note, in characters.
pub const MAX_NOTE_CHARS: usize = 500;

/// An acknowledgement's note, trimmed (`None` when empty); a 400 when it is too long.
#[allow(clippy::result_large_err)] // the error is the response itself, once per request
pub fn note(n: Option<String>) -> Result<Option<String>, axum::response::Response> {
    let n = n.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
    if n.as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(super::json_error(
            axum::http::StatusCode::BAD_REQUEST,
            "note_too_long",
            &format!("the note is longer than {MAX_NOTE_CHARS} characters; shorten it"),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: the second acknowledgement was answered from the archive alone, so it
    /// could be taken as first while the writer still held the first one.
    #[test]
    fn concurrent_acknowledgements_have_one_first() {
        let ledger = AckLedger::<String>::default();
        let winners: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|n| {
                    let ledger = &ledger;
                    s.spawn(move || (n, ledger.claim("s-1", &format!("sup-{n}"))))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let firsts: Vec<_> = winners.iter().filter(|(_, p)| p.is_none()).collect();
        assert_eq!(firsts.len(), 1, "{winners:?}");
        let first = format!("sup-{}", firsts[0].0);
        for (_, p) in winners.iter().filter(|(_, p)| p.is_some()) {
            assert_eq!(p.as_deref(), Some(first.as_str()));
        }
        assert_eq!(ledger.get("s-1").as_deref(), Some(first.as_str()));
        assert_eq!(ledger.get("s-2"), None);
    }
}
