//! `POST /api/v1/login/{request_id}/open` (a device call) and `…/decision` (signed inside).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use civkey_proto::ids::LoginRequestId;
use civkey_proto::login::{
    LoginDecisionRequest, LoginDecisionResponse, LoginOpenRequest, LoginRequestInfo,
};
use civkey_proto::ErrorCode;

use super::{Body, DeviceCaller, Failure};
use crate::AppState;

/// The `{request_id}` path segment, checked before any body is read.
pub(super) struct Request(LoginRequestId);

impl<S: Send + Sync> FromRequestParts<S> for Request {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let unknown = || Failure::new(ErrorCode::LoginUnknown, "no such login request");
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| unknown())?;
        LoginRequestId::parse(&id)
            .map(Request)
            .map_err(|_| unknown())
    }
}

pub(super) async fn open(
    State(state): State<AppState>,
    Request(id): Request,
    caller: DeviceCaller,
) -> Result<Json<LoginRequestInfo>, Failure> {
    let request: LoginOpenRequest = caller.json()?;
    Ok(Json(
        state
            .services()
            .open_login(&caller.device, &id, &request)
            .await?,
    ))
}

pub(super) async fn decision(
    State(state): State<AppState>,
    Request(id): Request,
    Body(request): Body<LoginDecisionRequest>,
) -> Result<Json<LoginDecisionResponse>, Failure> {
    Ok(Json(state.services().decide_login(&id, &request).await?))
}
