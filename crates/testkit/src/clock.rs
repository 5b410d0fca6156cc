//! The manual clock: a [`Clock`] that moves only when a test tells it to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use civkey_proto::clock::Clock;
use civkey_proto::UnixSeconds;

/// A clock that moves only when told to. Clones share the same time, so a test keeps one and
/// hands another to the flows (as `Arc<dyn Clock>`).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn at(start: UnixSeconds) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start)))
    }

    /// A clock showing the system's time now (and then standing still).
    pub fn at_system_time() -> Self {
        Self::at(civkey_proto::clock::SystemClock.now())
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: UnixSeconds) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixSeconds {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_time_that_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        assert_eq!(shared.now(), 1_000);
        clock.advance(30);
        assert_eq!(shared.now(), 1_030);
        clock.set(5);
        assert_eq!(shared.now(), 5);
    }
}
