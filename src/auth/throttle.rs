//! Failed-login throttling per user name and per address: after `max_failures` failures in
//! `window`, further attempts from that key are refused (429 with `Retry-After`) until the
//! oldest failure leaves the window. In memory and bounded; the persistent lockout after
//! [`super::store::LOCKOUT_AFTER`] failures in a row lives in the store.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Most keys tracked; past this the ones whose failures are all old are forgotten first,
/// then the least recently failed.
const MAX_KEYS: usize = 10_000;

/// Failed-login counters.
pub struct Throttle {
    max_failures: usize,
    window_ms: i64,
    keys: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl Throttle {
    /// Refuses a key after `max_failures` failures within `window_ms`.
    pub fn new(max_failures: usize, window_ms: i64) -> Throttle {
        Throttle {
            max_failures: max_failures.max(1),
            window_ms,
            keys: Mutex::default(),
        }
    }

    /// Milliseconds until `key` may try again; `None` when it may now.
    pub fn retry_after(&self, key: &str, now_ms: i64) -> Option<i64> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let q = keys.get(key)?;
        let recent: Vec<i64> = q
            .iter()
            .copied()
            .filter(|t| now_ms - t < self.window_ms)
            .collect();
        (recent.len() >= self.max_failures)
            .then(|| recent[recent.len() - self.max_failures] + self.window_ms - now_ms)
    }

    /// Counts a failure of `key`.
    pub fn failed(&self, key: &str, now_ms: i64) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.len() >= MAX_KEYS && !keys.contains_key(key) {
            let window = self.window_ms;
            keys.retain(|_, q| q.back().is_some_and(|t| now_ms - t < window));
            if keys.len() >= MAX_KEYS {
                let oldest = keys
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied().unwrap_or(i64::MIN))
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    keys.remove(&k);
                }
            }
        }
        let q = keys.entry(key.to_string()).or_default();
        q.push_back(now_ms);
        while q.len() > self.max_failures {
            q.pop_front();
        }
    }

    /// Forgets `key`'s failures (after a good login).
    pub fn succeeded(&self, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Keys tracked (for the bound's test).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_the_failures_and_freed_when_they_age_out() {
        let t = Throttle::new(3, 60_000);
        for at in [0, 1_000, 2_000] {
            assert_eq!(t.retry_after("u", at), None);
            t.failed("u", at);
        }
        assert_eq!(t.retry_after("u", 3_000), Some(57_000));
        assert_eq!(t.retry_after("other", 3_000), None);
        assert_eq!(t.retry_after("u", 60_000), None);
        t.failed("u", 60_000);
        assert_eq!(t.retry_after("u", 60_001), Some(1_000 + 60_000 - 60_001));
        t.succeeded("u");
        assert_eq!(t.retry_after("u", 60_001), None);
    }

    #[test]
    fn keys_are_bounded() {
        let t = Throttle::new(2, 1_000);
        for i in 0..(MAX_KEYS + 50) {
            t.failed(&format!("addr-{i}"), i as i64);
        }
        assert!(t.tracked() <= MAX_KEYS);
    }
}
