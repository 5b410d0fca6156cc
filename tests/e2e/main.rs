//! civkey's end-to-end suite: one test binary that boots real parts and drives them.
//!
//! The modules under [`http`] need nothing but the real server over HTTP and in-process clients
//! (no Chromium, no app window, no keyring, no built binary) and run alone in seconds:
//! `cargo test --workspace --test e2e -- http::`. The rest drive real browsers, the app, the
//! Secret Service and the built commands (run them through scripts/test).

// Test-only code: fixtures outside #[test] functions fail loudly on broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// HTTP only: the real server on loopback, its API and pages, in-process clients.
mod http {
    mod abuse;
    mod operations;
    mod pairing_api;
    mod portal_http;
    mod proxy;
    mod push_endpoints;
}

mod app_webdriver;
mod app_window;
mod bok_counter;
mod client_flows;
mod notifications;
mod oidc_login;
mod oidc_rp;
mod onboarding;
mod operations;
mod portal_browser;
mod server;
mod stolen_database;
mod totp;
mod two_instances;
