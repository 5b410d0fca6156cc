//! What an operator runs the server with, around every route: a request id on every request
//! (and on every log line logged within it), the metrics' request counts, event streams that end
//! at shutdown, a panic answered with a 500 instead of a dropped connection, and the readiness
//! check (`/readyz`) a load balancer asks before sending traffic.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use civkey_proto::ErrorCode;
use futures_util::FutureExt;
use tracing::Instrument;

use crate::AppState;

/// The header a request's id comes in (from a trusted proxy) and goes back in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a proxy; longer ones are replaced by our own.
const MAX_REQUEST_ID_LEN: usize = 64;

/// How long `/readyz` waits for the database before saying it does not answer.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `routes` (and their fallback) with the layers every server request passes through, outermost
/// first: the request id and its log span, the metrics, the panic guard, the event streams'
/// shutdown. The test harness wraps its own routes with this same function.
pub fn with_layers(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .layer(from_fn_with_state(
            state.clone(),
            crate::shutdown::end_streams,
        ))
        .layer(from_fn(catch_panic))
        .layer(from_fn_with_state(
            state.clone(),
            crate::metrics::count_requests,
        ))
        .layer(from_fn_with_state(state.clone(), request_id))
        .with_state(state)
}

/// Middleware: a panic in the handler answers 500 — the API's `{code, message}` under `/api/`,
/// the translated error page elsewhere — and the process goes on serving. The panic itself is
/// logged by the panic hook `main` installs (inside the request's span, so with its id).
pub async fn catch_panic(request: Request, next: Next) -> Response {
    let uri = request.uri().clone();
    let headers = request.headers().clone();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(path = %uri.path(), "the request's handler panicked: answered 500");
            if uri.path().starts_with("/api/") {
                crate::api::Failure::new(ErrorCode::Internal, "internal error").into_response()
            } else {
                crate::web::internal_error_page(&uri, &headers)
            }
        }
    }
}

/// Middleware: gives the request an id — the `X-Request-Id` a trusted proxy sent (see
/// [`crate::client_addr`]), when it is a short token, else a new random one — logs everything
/// within the request in a span carrying it, and sends it back in the response's
/// `X-Request-Id`. A client that is not a trusted proxy cannot choose the id its lines are
/// logged under.
pub async fn request_id(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let from_proxy = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| state.trusted_proxies().contains(peer.ip()));
    let id = from_proxy
        .then(|| request.headers().get(&REQUEST_ID))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_request_id(v))
        .map_or_else(new_request_id, str::to_string);
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Whether `id` is usable as a request id: 1 to 64 of `A-Z a-z 0-9 - _ . :` (nothing that could
/// break a log line).
fn is_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// 16 random hex digits.
fn new_request_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// `GET /readyz`: 200 when the database answers within 2 s and every migration of this build
/// is applied (none newer), else 503 with the reason: what a load balancer's health check asks.
/// (`/healthz` says only that the process serves.)
pub async fn readyz(State(state): State<AppState>) -> Response {
    // The answer is public: a short reason; the cause goes to the log.
    let not_ready = |reason: &str, detail: String| {
        tracing::warn!(%detail, "not ready: {reason}");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not_ready", "reason": reason })),
        )
            .into_response()
    };
    if state.services().shutdown.has_begun() {
        return not_ready("shutting down", "the process is stopping".into());
    }
    match tokio::time::timeout(READY_TIMEOUT, state.store().schema_current()).await {
        Err(_) => not_ready(
            "database unavailable",
            format!("no answer within {} s", READY_TIMEOUT.as_secs()),
        ),
        Ok(Err(e)) => not_ready("database unavailable", e.to_string()),
        Ok(Ok(false)) => {
            let version = state.store().schema_version().await;
            not_ready(
                "database schema not current",
                format!(
                    "the database's schema version is {version:?}; this server's is {} \
                     (migrations pending, or a newer server migrated it)",
                    crate::store::SCHEMA_VERSION
                ),
            )
        }
        Ok(Ok(true)) => Json(serde_json::json!({ "status": "ready" })).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_tokens_are_taken_as_request_ids() {
        for good in [
            "abc",
            "0123456789abcdef",
            "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "a.b_c:d",
        ] {
            assert!(is_request_id(good), "{good}");
        }
        let long = "a".repeat(65);
        for bad in ["", "a b", "a\"b", "line\nbreak", "ä", long.as_str()] {
            assert!(!is_request_id(bad), "{bad:?}");
        }
        let id = new_request_id();
        assert!(id.len() == 16 && is_request_id(&id));
    }
}
