//! Per-Sandbox exponential backoff for what the controller retries on its own
//! schedule: creating a Pod the API server refused, recreating a Pod that failed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Delays that double from `first` up to `cap`, per Sandbox key.
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    state: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Self {
        Self { first, cap, state: Mutex::default() }
    }

    /// Records one more failure of `key`; returns how long to wait before the next try.
    pub fn failed(&self, key: &str) -> Duration {
        let mut state = self.state.lock().expect("backoff lock");
        let attempts = state.get(key).map_or(0, |(n, _)| *n).saturating_add(1);
        let delay = self.first.saturating_mul(1 << (attempts - 1).min(16)).min(self.cap);
        state.insert(key.to_string(), (attempts, Instant::now() + delay));
        delay
    }

    /// How long `key` must still wait, if at all.
    pub fn remaining(&self, key: &str) -> Option<Duration> {
        let state = self.state.lock().expect("backoff lock");
        let (_, not_before) = state.get(key)?;
        not_before.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    /// `key` succeeded: the next failure starts from `first` again.
    pub fn reset(&self, key: &str) {
        self.state.lock().expect("backoff lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
        let delays: Vec<u64> = (0..7).map(|_| backoff.failed("ns/a").as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 60, 60]);
        assert!(backoff.remaining("ns/a").is_some_and(|d| d > Duration::from_secs(50)));
        assert_eq!(backoff.remaining("ns/b"), None, "per key");
        assert_eq!(backoff.failed("ns/b").as_secs(), 2, "per key: another key starts from the first delay");
        backoff.reset("ns/a");
        assert_eq!((backoff.remaining("ns/a"), backoff.failed("ns/a").as_secs()), (None, 2));
    }
}
