//! Time as a parameter: flows ask a [`Clock`], so tests pin time instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use civkey_proto::UnixSeconds;

/// Where the server reads the time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in whole seconds since the Unix epoch.
    fn now(&self) -> UnixSeconds;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixSeconds {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn at(start: UnixSeconds) -> Self {
        ManualClock(Arc::new(AtomicU64::new(start)))
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
