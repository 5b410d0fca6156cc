//! civkey's end-to-end suite: one test binary that boots real parts and drives them.

// Test-only code: fixtures outside #[test] functions fail loudly on broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app_webdriver;
mod app_window;
mod bok_counter;
mod client_flows;
mod notifications;
mod oidc_login;
mod oidc_rp;
mod onboarding;
mod pairing_api;
mod portal_browser;
mod portal_http;
mod server;
mod totp;
