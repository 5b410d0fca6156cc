//! `POST /api/v1/onboarding` and `POST /api/v1/onboarding/{onboarding_id}/outcome`.

use std::time::Duration;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::Json;
use civkey_proto::ids::OnboardingId;
use civkey_proto::onboard::{
    OnboardOutcome, OnboardOutcomeRequest, OnboardStartRequest, OnboardStartResponse,
};
use civkey_proto::pair::OUTCOME_POLL_MAX_SECS;
use civkey_proto::ErrorCode;

use super::{Body, Failure};
use crate::AppState;

/// The `{onboarding_id}` path segment, checked before any body is read.
pub(super) struct Onboarding(OnboardingId);

impl<S: Send + Sync> FromRequestParts<S> for Onboarding {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let unknown = || Failure::new(ErrorCode::OnboardingUnknown, "no such onboarding");
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| unknown())?;
        OnboardingId::parse(&id)
            .map(Onboarding)
            .map_err(|_| unknown())
    }
}

/// The client's address, for the per-address limit on starts.
pub(super) struct ClientAddress(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Failure> {
        Ok(ClientAddress(crate::client_address::client_address(parts)))
    }
}

pub(super) async fn start(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    Body(request): Body<OnboardStartRequest>,
) -> Result<Json<OnboardStartResponse>, Failure> {
    Ok(Json(
        state
            .services()
            .start_onboarding(&request, &address)
            .await?,
    ))
}

pub(super) async fn outcome(
    State(state): State<AppState>,
    Onboarding(id): Onboarding,
    Body(request): Body<OnboardOutcomeRequest>,
) -> Result<Json<OnboardOutcome>, Failure> {
    let wait = Duration::from_secs(OUTCOME_POLL_MAX_SECS);
    Ok(Json(
        state
            .services()
            .onboarding_outcome(&id, &request.claim_token, wait)
            .await?,
    ))
}
