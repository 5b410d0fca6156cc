//! Time as a parameter: flows on both sides ask a [`Clock`], so tests pin time instead of sleeping.
//!
//! The trait and the system's clock live here because the app and the server both need them and
//! both depend on this crate; reading the time is not I/O in the sense this crate avoids (no
//! files, no network). The manual clock that tests move by hand is `civkey_testkit::ManualClock`.

use crate::UnixSeconds;

/// Where a flow reads the time.
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
