//! Test support for civkey, a dev-dependency only (never linked into the app or the server):
//!
//! - [`frames`]: camera-like frames drawn from a text ([`frames::SyntheticFrames`] is a
//!   `FrameSource` the scanning tests use instead of a camera);
//! - [`corpus`]: the committed fixture corpus of such frames in `tests/fixtures/qr/`;
//! - [`ManualClock`]: the one clock tests move by hand, for the app's and the server's flows;
//! - [`wait`]: waiting for a condition with a deadline, instead of sleeping and then asserting.
//!
//! The end-to-end fixtures that boot the real server and drive browsers are in `tests/src`
//! (crate `civkey-tests`), which builds on this crate.

mod clock;
pub mod corpus;
pub mod frames;
pub mod wait;

pub use clock::ManualClock;
pub use wait::{wait_until, wait_until_blocking};
