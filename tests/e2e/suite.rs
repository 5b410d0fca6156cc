// The end-to-end suite's modules, included by both of its test binaries: e2e/main.rs (on SQLite)
// and e2e_postgres.rs (on PostgreSQL); see civkey_tests::postgres::this_binary_runs_on_postgres.

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
mod postgres_tls;
mod server;
mod stolen_database;
mod totp;
mod two_instances;
