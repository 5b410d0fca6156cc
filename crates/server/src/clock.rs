//! Time as a parameter: flows ask a [`Clock`], so tests pin time instead of sleeping. The trait
//! and the system's clock are `civkey_proto`'s, shared with the app; tests use
//! `civkey_testkit::ManualClock`.

pub use civkey_proto::clock::{Clock, SystemClock};

#[cfg(test)]
pub(crate) use civkey_testkit::ManualClock;
