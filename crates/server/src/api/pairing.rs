//! `POST /api/v1/pairing/{session_id}/claim` and `…/outcome`.

use std::time::Duration;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use civkey_proto::ids::SessionId;
use civkey_proto::pair::{
    PairClaimRequest, PairClaimResponse, PairOutcome, PairOutcomeRequest, OUTCOME_POLL_MAX_SECS,
};
use civkey_proto::ErrorCode;

use super::{Body, Failure};
use crate::AppState;

/// The `{session_id}` path segment, checked before any body is read.
pub(super) struct Session(SessionId);

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let unknown = || Failure::new(ErrorCode::PairingUnknown, "no such pairing session");
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| unknown())?;
        SessionId::parse(&id).map(Session).map_err(|_| unknown())
    }
}

pub(super) async fn claim(
    State(state): State<AppState>,
    Session(session_id): Session,
    Body(request): Body<PairClaimRequest>,
) -> Result<Json<PairClaimResponse>, Failure> {
    Ok(Json(
        state
            .services()
            .claim_pairing(&session_id, &request)
            .await?,
    ))
}

pub(super) async fn outcome(
    State(state): State<AppState>,
    Session(session_id): Session,
    Body(request): Body<PairOutcomeRequest>,
) -> Result<Json<PairOutcome>, Failure> {
    let wait = Duration::from_secs(OUTCOME_POLL_MAX_SECS);
    Ok(Json(
        state
            .services()
            .pairing_outcome(&session_id, &request.claim_token, wait)
            .await?,
    ))
}
