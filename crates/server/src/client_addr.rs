//! The one place that says who the client is: the TCP peer, or — when the peer is a trusted
//! reverse proxy — the client its `Forwarded` / `X-Forwarded-For` header names
//! ([`civkey_proto::forwarded::client_address`]). Every per-address rate limit counts under
//! [`ClientAddr::bucket`].

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{HeaderMap, HeaderName, FORWARDED};
use axum::http::request::Parts;
use civkey_proto::forwarded;

use crate::AppState;

/// The client's address; `None` when the request came without a TCP peer (in-process calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The name per-address rate limits count this client under: an IPv4 address, the /64 of an
    /// IPv6 address, or `unknown`.
    pub fn bucket(&self) -> String {
        self.0
            .map_or_else(|| "unknown".to_string(), forwarded::rate_limit_key)
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

fn lines<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Vec<&'a [u8]> {
    headers.get_all(name).iter().map(|v| v.as_bytes()).collect()
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(ClientAddr(None));
        };
        Ok(ClientAddr(Some(forwarded::client_address(
            peer.ip(),
            state.trusted_proxies(),
            &lines(&parts.headers, &FORWARDED),
            &lines(&parts.headers, &X_FORWARDED_FOR),
        ))))
    }
}
