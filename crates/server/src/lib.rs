//! The civkey companion identity server.
//!
//! It serves the citizen portal, the office counter page (BOK verification), the app API
//! (pairing, signed device calls, BOK answers), the OpenID Connect provider (`services::oidc`) and
//! a health check. Layering, as in DESIGN.md:
//! routes → handlers → services → store, with [`router`] as the one entry point that `main` and
//! the tests share.

pub mod api;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod domain;
pub mod metrics;
pub mod operations;
pub mod services;
pub mod serving;
pub mod shutdown;
pub mod signal;
pub mod store;
pub mod web;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use civkey_proto::{ApiError, ErrorCode, Origin, PROTOCOL_VERSION};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    services: services::Services,
    trusted_proxies: civkey_proto::forwarded::TrustedProxies,
}

impl AppState {
    /// State for a server reachable at `public_origin`, backed by `store`, on the system clock.
    pub fn new(public_origin: Origin, store: store::Store) -> Self {
        Self::with_clock(public_origin, store, Arc::new(clock::SystemClock))
    }

    /// The same with another clock (tests pin time).
    pub fn with_clock(
        public_origin: Origin,
        store: store::Store,
        clock: Arc<dyn clock::Clock>,
    ) -> Self {
        let services = services::Services::new(store, clock, public_origin);
        Self::from_services(services)
    }

    /// State around flows already set up (with the operator's BOK-pad settings, say).
    pub fn from_services(services: services::Services) -> Self {
        AppState {
            inner: Arc::new(Inner {
                services,
                trusted_proxies: Default::default(),
            }),
        }
    }

    /// The same, believing the forwarding headers of the proxies in `proxies` (see
    /// [`client_addr::ClientAddr`]).
    pub fn with_trusted_proxies(self, proxies: civkey_proto::forwarded::TrustedProxies) -> Self {
        AppState {
            inner: Arc::new(Inner {
                services: self.inner.services.clone(),
                trusted_proxies: proxies,
            }),
        }
    }

    /// The proxies whose forwarding headers are believed.
    pub fn trusted_proxies(&self) -> &civkey_proto::forwarded::TrustedProxies {
        &self.inner.trusted_proxies
    }

    /// The flows.
    pub fn services(&self) -> &services::Services {
        &self.inner.services
    }

    /// The database.
    pub fn store(&self) -> &store::Store {
        &self.inner.services.store
    }

    /// Where citizens and apps reach this server.
    pub fn public_origin(&self) -> &Origin {
        &self.inner.services.origin
    }
}

/// The whole HTTP interface: [`routes`] with [`operations::with_layers`].
pub fn router(state: AppState) -> Router {
    operations::with_layers(routes(), state)
}

/// Every route and the fallback, without the layers around them.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/readyz", get(operations::readyz))
        .merge(api::routes())
        .merge(web::routes())
        .fallback(not_found)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": PROTOCOL_VERSION,
    }))
}

async fn not_found() -> Response {
    let body = ApiError::new(ErrorCode::NotFound, "no such page or endpoint");
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
