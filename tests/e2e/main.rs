//! civkey's end-to-end suite: one test binary that boots real parts and drives them, its test
//! servers on SQLite (the modules are in suite.rs; ../e2e_postgres.rs runs them on PostgreSQL).
//!
//! The modules under [`http`] need nothing but the real server over HTTP and in-process clients
//! (no Chromium, no app window, no keyring, no built binary) and run alone in seconds:
//! `cargo test --workspace --test e2e -- http::`. The rest drive real browsers, the app, the
//! Secret Service and the built commands (run them through scripts/test).

// Test-only code: fixtures outside #[test] functions fail loudly on broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

include!("suite.rs");
