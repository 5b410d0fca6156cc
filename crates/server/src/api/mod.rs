//! The app-facing API (`/api/v1/…`): JSON in, JSON out, every error as `{ "code", "message" }`.
//! Handlers are thin: read the body or the device call, call one service, map the result.

mod bok;
mod device;
mod login;
mod notify;
mod onboarding;
mod pairing;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use civkey_proto::device::DeviceCallAuth;
use civkey_proto::{paths, ApiError, ErrorCode};
use serde::de::DeserializeOwned;

use crate::services::ServiceError;
use crate::store::DeviceRecord;
use crate::AppState;

/// The largest request body the API reads (16 KiB; the largest real body is under 1 KiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::PAIR_CLAIM, post(pairing::claim))
        .route(paths::PAIR_OUTCOME, post(pairing::outcome))
        .route(paths::ONBOARD_START, post(onboarding::start))
        .route(paths::ONBOARD_OUTCOME, post(onboarding::outcome))
        .route(paths::LOGIN_OPEN, post(login::open))
        .route(paths::LOGIN_DECISION, post(login::decision))
        .route(paths::DEVICE_LIST, get(device::list))
        .route(paths::DEVICE_RENAME, post(device::rename))
        .route(paths::DEVICE_SELF, delete(device::disconnect))
        .route(paths::BOK_PENDING, get(bok::pending))
        .route(paths::BOK_ANSWER, post(bok::answer))
        .route(paths::EVENTS, get(notify::events))
        .route(paths::DEVICE_PUSH, post(notify::register_push))
        .route(
            paths::NOTIFICATIONS,
            get(notify::settings).put(notify::replace_settings),
        )
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> Response {
    Failure::new(
        ErrorCode::MethodNotAllowed,
        "this method is not allowed here",
    )
    .into_response()
}

/// An API error answer, with the seconds to wait before trying again where there are any (sent
/// as `Retry-After`).
#[derive(Debug)]
pub struct Failure(ApiError, Option<u64>);

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Failure(ApiError::new(code, message), None)
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Refused { code, message } => Failure::new(code, message),
            ServiceError::RateLimited { retry_after } | ServiceError::Busy { retry_after } => {
                let message = e.to_string();
                Failure(
                    ApiError::new(ErrorCode::RateLimited, message),
                    Some(retry_after),
                )
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Failure::new(ErrorCode::Internal, "internal error")
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.0)).into_response();
        if let Some(seconds) = self.1 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Reads a whole body, refusing one over [`MAX_BODY_BYTES`] without reading further.
async fn read_body(request: Request) -> Result<(axum::http::request::Parts, Bytes), Failure> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| match crate::serving::body_timed_out(&e) {
            Some(late) => Failure::new(ErrorCode::BadRequest, late.to_string()),
            None => too_large(),
        })?;
    Ok((parts, bytes))
}

fn too_large() -> Failure {
    Failure::new(
        ErrorCode::BodyTooLarge,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Parses a JSON body after checking its `Content-Type`: unknown fields, wrong types and invalid
/// values are each a `bad_request` naming the problem.
fn parse_json<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, Failure> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Failure::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| Failure::new(ErrorCode::BadRequest, format!("invalid body: {e}")))
}

/// A JSON request body (content type, size limit and strict parsing as above).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Failure;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Failure> {
        let (parts, bytes) = read_body(request).await?;
        parse_json(&parts.headers, &bytes).map(Body)
    }
}

/// An authenticated device call: the device, and the body it signed (parse it with [`Self::json`]).
pub struct DeviceCaller {
    /// The calling device.
    pub device: DeviceRecord,
    headers: HeaderMap,
    body: Bytes,
}

impl DeviceCaller {
    /// The signed body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        parse_json(&self.headers, &self.body)
    }
}

impl FromRequest<AppState> for DeviceCaller {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Failure> {
        let (parts, body) = read_body(request).await?;
        let auth = DeviceCallAuth::from_headers(|name| {
            parts.headers.get(name).and_then(|v| v.to_str().ok())
        })
        .map_err(|e| {
            Failure::new(
                ErrorCode::Unauthorized,
                format!("device authentication: {e}"),
            )
        })?;
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_else(|| parts.uri.path());
        let device = state
            .services()
            .authenticate_device_call(parts.method.as_str(), path_and_query, &body, &auth)
            .await?;
        Ok(DeviceCaller {
            device,
            headers: parts.headers,
            body,
        })
    }
}
