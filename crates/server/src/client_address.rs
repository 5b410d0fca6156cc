//! The client address the per-address rate limits count under: today the TCP peer's IP address.
//! Every extractor that needs it (the pages' `Visitor`, the app API's onboarding start) asks
//! [`client_address`], so how it is computed (a reverse proxy's forwarding headers from trusted
//! peers) changes in this one place.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

/// The address of the client that sent the request of `parts`, as text; `unknown` when the server
/// was started without connection info (in-process routers in tests).
pub(crate) fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}
