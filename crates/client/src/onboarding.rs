//! In-person onboarding: a citizen with no account yet gets one at an office counter (Czech POINT),
//! and this device becomes its mobile key.
//!
//! 1. Make the device key in the keystore; it is deleted again unless the flow ends with the
//!    identity stored (also when the [`PendingOnboarding`] is simply dropped).
//! 2. Start onboarding at the server with the public key and a proof of possession; show the
//!    identification code it answers, large and grouped (`K7QM-X2PD-9R`).
//! 3. A clerk checks the citizen's identity document and types the code with their details.
//! 4. Wait for that (long polls) and store the identity exactly as after pairing, so logging in,
//!    the BOK-pad and everything else work the same.
//!
//! For an app: [`Profile::begin_onboarding`] gives the code to show at once; keep the
//! [`PendingOnboarding`] and call [`PendingOnboarding::finish`], which returns the stored
//! [`Identity`] once the clerk is done (or [`ClientError::OnboardingExpired`]). Dropping it, or
//! the future, abandons the onboarding and deletes the new key.

use civkey_proto::ids::OnboardingId;
use civkey_proto::onboard::{IdentificationCode, OnboardStartResponse, OnboardStatus};
use civkey_proto::{ErrorCode, Origin};
use serde::Serialize;

use crate::pairing::{NewKey, EXPIRY_GRACE_SECS};
use crate::profile::{Identity, Profile};
use crate::server_api::{ApiFailure, DeviceDescription, ServerApi};
use crate::ClientError;

/// What the app shows while it waits for the clerk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnboardingStarted {
    /// The server.
    pub origin: Origin,
    /// The code to show at the counter (serialised grouped, `K7QM-X2PD-9R`).
    pub identification_code: IdentificationCode,
    /// When the code expires (Unix seconds).
    pub expires_at: u64,
}

/// A started onboarding: the code is known, no clerk has entered it yet. Dropping it abandons the
/// onboarding and deletes the new key. It holds its own handle on the profile (a cheap clone), so
/// an app can keep it between two of its commands.
pub struct PendingOnboarding {
    api: ServerApi,
    onboarding_id: OnboardingId,
    response: OnboardStartResponse,
    new_key: NewKey,
    device_name: String,
    /// What to show the citizen.
    pub started: OnboardingStarted,
}

impl Profile {
    /// Onboards this device at `origin`: calls `on_code` with the identification code to show at
    /// the office counter, then waits for the clerk and returns the stored identity. On any error,
    /// nothing is stored and the new key is deleted again.
    pub async fn onboard(
        &self,
        origin: &Origin,
        device: &DeviceDescription,
        on_code: impl FnOnce(&OnboardingStarted),
    ) -> Result<Identity, ClientError> {
        let pending = self.begin_onboarding(origin, device).await?;
        on_code(&pending.started);
        pending.finish().await
    }

    /// The first half of [`Profile::onboard`]: makes the key and starts onboarding at `origin`.
    pub async fn begin_onboarding(
        &self,
        origin: &Origin,
        device: &DeviceDescription,
    ) -> Result<PendingOnboarding, ClientError> {
        let api = self.server(origin)?;
        let new_key = NewKey::create(self)?;
        let response = api
            .start_onboarding(&new_key.stored(), device, self.clock().now())
            .await
            .map_err(onboarding_error)?;
        let started = OnboardingStarted {
            origin: origin.clone(),
            identification_code: response.identification_code.clone(),
            expires_at: response.expires_at,
        };
        Ok(PendingOnboarding {
            api,
            onboarding_id: response.onboarding_id,
            response,
            new_key,
            device_name: device.name.as_str().to_string(),
            started,
        })
    }
}

impl PendingOnboarding {
    /// The second half of [`Profile::onboard`]: waits for the clerk and stores the identity.
    pub async fn finish(self) -> Result<Identity, ClientError> {
        let PendingOnboarding {
            api,
            onboarding_id,
            response,
            new_key,
            device_name,
            started,
        } = self;
        let profile = new_key.profile();
        let outcome = loop {
            let outcome = api
                .onboarding_outcome(&onboarding_id, &response.claim_token)
                .await
                .map_err(onboarding_error)?;
            match outcome.status {
                OnboardStatus::Completed => break outcome,
                OnboardStatus::Expired => return Err(ClientError::OnboardingExpired),
                OnboardStatus::Waiting => {
                    let deadline = response.expires_at.max(outcome.expires_at);
                    if profile.clock().now() > deadline.saturating_add(EXPIRY_GRACE_SECS) {
                        return Err(ClientError::OnboardingExpired);
                    }
                }
            }
        };
        new_key
            .into_identity(
                started.origin,
                outcome.device_id,
                device_name,
                outcome.account_name,
                "a completed onboarding",
            )
            .await
    }
}

/// The server's onboarding refusals as the app names them.
fn onboarding_error(failure: ApiFailure) -> ClientError {
    match failure.code() {
        Some(ErrorCode::OnboardingExpired) => ClientError::OnboardingExpired,
        _ => ClientError::from(failure),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::KeyStoreError;

    #[tokio::test]
    async fn a_refusing_keystore_stops_onboarding_before_the_server_hears_of_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let origin = Origin::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let profile = Profile::open(
            tmp.path().join("profile"),
            std::sync::Arc::new(crate::keystore::RefusingKeyStore),
        )
        .unwrap();
        let err = profile
            .onboard(&origin, &crate::this_computer().unwrap(), |_| {
                panic!("no code")
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::KeyStore(KeyStoreError::Refused(_))),
            "{err:?}"
        );
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
        assert!(accepted.is_err(), "the server was contacted");
        assert!(profile.identities().unwrap().is_empty());
    }

    #[test]
    fn an_expired_code_is_described_with_what_to_do() {
        let text = ClientError::OnboardingExpired.describe(civkey_i18n::Locale::En);
        assert!(text.contains("civkey onboard SERVER"), "{text}");
        assert_eq!(ClientError::OnboardingExpired.code(), "onboarding_expired");
    }
}
