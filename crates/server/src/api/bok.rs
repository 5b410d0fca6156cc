//! The BOK-pad's device calls: `GET /api/v1/bok/pending` and `POST /api/v1/bok/{request_id}/answer`.
//! The BOK travels only inside the answer's signed body; nothing here logs a body.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use civkey_proto::bok::{BokAnswerRequest, BokAnswerResponse, BokRequest};
use civkey_proto::ids::BokRequestId;
use civkey_proto::ErrorCode;

use super::{DeviceCaller, Failure};
use crate::AppState;

/// The `{request_id}` path segment, checked before any body is read.
pub(super) struct Request(BokRequestId);

impl<S: Send + Sync> FromRequestParts<S> for Request {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let unknown = || Failure::new(ErrorCode::BokUnknown, "no such BOK request");
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| unknown())?;
        BokRequestId::parse(&id).map(Request).map_err(|_| unknown())
    }
}

pub(super) async fn pending(
    State(state): State<AppState>,
    caller: DeviceCaller,
) -> Result<Json<Vec<BokRequest>>, Failure> {
    Ok(Json(
        state
            .services()
            .pending_bok_requests(&caller.device)
            .await?,
    ))
}

pub(super) async fn answer(
    State(state): State<AppState>,
    Request(id): Request,
    caller: DeviceCaller,
) -> Result<Json<BokAnswerResponse>, Failure> {
    let request: BokAnswerRequest = caller.json().map_err(|failure| {
        // A BOK that breaks the rules gets its own code; the reason never holds the digits.
        match BokAnswerRequest::invalid_bok(&caller.body) {
            Some(reason) if failure.0.code == ErrorCode::BadRequest => {
                Failure::new(ErrorCode::BokInvalidFormat, reason.to_string())
            }
            _ => failure,
        }
    })?;
    Ok(Json(
        state
            .services()
            .answer_bok(&caller.device, &id, &request)
            .await?,
    ))
}
