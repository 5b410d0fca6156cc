//! In-person onboarding (the Czech POINT path): the app starts an onboarding with its new key and
//! shows the identification code; a clerk who checked the citizen's identity document types the
//! code and the citizen's details at the counter, which creates the account and the device at once;
//! the app learns the outcome by long polls.
//!
//! The code is safe to say aloud: it names a pending device, never an account. Binding it takes a
//! clerk's session; an unknown code counts towards the clerk's failed-attempt limit; a code works
//! once and expires (see docs/protocol.md and docs/threat-model.md).

use std::time::Duration;

use civkey_proto::device::DEVICE_CALL_MAX_SKEW_SECS;
use civkey_proto::ids::{ClaimToken, DeviceId, OnboardingId};
use civkey_proto::onboard::{
    IdentificationCode, OnboardOutcome, OnboardStartRequest, OnboardStartResponse, OnboardStatus,
};
use civkey_proto::sign::OnboardingProof;
use civkey_proto::ErrorCode;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::citizens::{check_username, looks_like_email};
use super::secrets::{hash_secret, random_token, token_hash};
use super::{verify_signature, ServiceError, Services};
use crate::domain::{CitizenId, OnboardingState};
use crate::store::{
    ClerkSession, NewDevice, NewOnboarding, OnboardedCitizen, OnboardingRecord, StoreError,
};

/// Onboardings one client address may start within the failed-attempt window (15 minutes).
pub const MAX_STARTS_PER_ADDRESS: u64 = 20;
/// The fixed window in which onboarding starts are counted per address.
pub const START_WINDOW_SECS: u64 = 15 * 60;

/// The identity documents a clerk may check, as stored.
pub const DOCUMENT_TYPES: &[&str] = &["id_card", "passport", "residence_permit"];

fn key(id: &OnboardingId) -> String {
    format!("onboarding:{id}")
}

fn code_hash(code: &IdentificationCode) -> String {
    code.lookup_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The status of a record at `now`.
fn status(record: &OnboardingRecord, now: u64) -> OnboardStatus {
    match record.state {
        OnboardingState::Completed => OnboardStatus::Completed,
        OnboardingState::Waiting if now >= record.expires_at => OnboardStatus::Expired,
        OnboardingState::Waiting => OnboardStatus::Waiting,
    }
}

/// What the clerk typed on the counter's "Onboard a new citizen" form, as typed. `Debug` leaves
/// out the code and the document number.
#[derive(Clone, Default)]
pub struct OnboardInput {
    /// The identification code the app shows.
    pub code: String,
    /// The citizen's full name, as on the document.
    pub full_name: String,
    /// The username the citizen chose.
    pub username: String,
    /// The citizen's e-mail address.
    pub email: String,
    /// The citizen's phone number (may be empty).
    pub phone: String,
    /// One of [`DOCUMENT_TYPES`].
    pub document_type: String,
    /// The document's number (only its last 4 characters are kept).
    pub document_number: String,
}

impl std::fmt::Debug for OnboardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnboardInput")
            .field("username", &self.username)
            .field("document_type", &self.document_type)
            .finish_non_exhaustive()
    }
}

/// A field of [`OnboardInput`] that is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnboardField {
    /// Not 10 characters of an identification code.
    Code,
    /// Empty, longer than 100 characters, or with control characters.
    FullName,
    /// Not 3–32 of `a-z 0-9 . _ -`.
    Username,
    /// Not an e-mail address.
    Email,
    /// Not 6–15 digits with an optional leading `+`.
    Phone,
    /// Not one of [`DOCUMENT_TYPES`].
    DocumentType,
    /// Not 4–20 letters and digits.
    DocumentNumber,
}

/// Why onboarding at the counter did not happen. Nothing was created in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    /// A field is not valid.
    #[error("the field {0:?} is not valid")]
    Invalid(OnboardField),
    /// No pending onboarding has this code (counts towards the clerk's limit).
    #[error("no onboarding has this identification code")]
    CodeUnknown,
    /// The code expired before the clerk entered it.
    #[error("the identification code has expired")]
    CodeExpired,
    /// The code was already used.
    #[error("the identification code was already used")]
    CodeUsed,
    /// Another citizen has the username.
    #[error("that username is already taken")]
    UsernameTaken,
    /// The app's key became another device's key meanwhile.
    #[error("the app's key is already connected to an account")]
    DeviceTaken,
    /// Too many unknown codes: wait `retry_after` seconds.
    #[error("too many wrong identification codes; try again in {retry_after} seconds")]
    RateLimited {
        /// Seconds until the clerk may try again.
        retry_after: u64,
    },
    /// The server failed.
    #[error(transparent)]
    Failed(#[from] ServiceError),
}

impl OnboardError {
    /// The wire code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            OnboardError::Invalid(_) | OnboardError::DeviceTaken => ErrorCode::BadRequest,
            OnboardError::CodeUnknown => ErrorCode::OnboardingUnknown,
            OnboardError::CodeExpired => ErrorCode::OnboardingExpired,
            OnboardError::CodeUsed => ErrorCode::OnboardingUsed,
            OnboardError::UsernameTaken => ErrorCode::UsernameTaken,
            OnboardError::RateLimited { .. } => ErrorCode::RateLimited,
            OnboardError::Failed(e) => e.code(),
        }
    }
}

/// Onboarding done: what the counter shows.
#[derive(Debug, Clone)]
pub struct Onboarded {
    /// The new citizen's id.
    pub citizen_id: CitizenId,
    /// Full name.
    pub full_name: String,
    /// Username.
    pub username: String,
    /// The mobile key's name.
    pub device_name: String,
}

/// The checked form: every field valid and normalised.
struct Checked {
    code: IdentificationCode,
    full_name: String,
    username: String,
    email: String,
    phone: Option<String>,
    document_type: String,
    document_last4: String,
}

fn check(input: &OnboardInput) -> Result<Checked, OnboardError> {
    let code = IdentificationCode::parse(&input.code)
        .map_err(|_| OnboardError::Invalid(OnboardField::Code))?;
    let full_name = input.full_name.trim();
    if full_name.is_empty()
        || full_name.chars().count() > 100
        || full_name.chars().any(char::is_control)
    {
        return Err(OnboardError::Invalid(OnboardField::FullName));
    }
    let username = input.username.trim().to_lowercase();
    check_username(&username).map_err(|_| OnboardError::Invalid(OnboardField::Username))?;
    let email = input.email.trim();
    if !looks_like_email(email) {
        return Err(OnboardError::Invalid(OnboardField::Email));
    }
    let phone = input.phone.trim();
    let phone = if phone.is_empty() {
        None
    } else {
        let compact: String = phone.chars().filter(|c| *c != ' ').collect();
        let digits = compact.strip_prefix('+').unwrap_or(&compact);
        if !(6..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OnboardError::Invalid(OnboardField::Phone));
        }
        Some(compact)
    };
    let document_type = input.document_type.trim();
    if !DOCUMENT_TYPES.contains(&document_type) {
        return Err(OnboardError::Invalid(OnboardField::DocumentType));
    }
    let number: String = input
        .document_number
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(4..=20).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(OnboardError::Invalid(OnboardField::DocumentNumber));
    }
    Ok(Checked {
        code,
        full_name: full_name.to_string(),
        username,
        email: email.to_string(),
        phone,
        document_type: document_type.to_string(),
        document_last4: number[number.len() - 4..].to_string(),
    })
}

impl Services {
    /// The app starts onboarding: checks the proof of possession and its time, and answers the
    /// identification code and the claim token. Each start counts towards the client address's
    /// limit, so codes cannot be minted without end.
    pub async fn start_onboarding(
        &self,
        request: &OnboardStartRequest,
        address: &str,
    ) -> Result<OnboardStartResponse, ServiceError> {
        self.count_request(
            &format!("onboard-start:{address}"),
            MAX_STARTS_PER_ADDRESS,
            START_WINDOW_SECS,
        )
        .await?;
        let now = self.clock.now();
        if now.abs_diff(request.timestamp) > DEVICE_CALL_MAX_SKEW_SECS {
            return Err(ServiceError::refused(
                ErrorCode::Replayed,
                "the proof's time is too far from the server's clock; check the device's clock",
            ));
        }
        let proof = OnboardingProof {
            origin: &self.origin,
            public_key: &request.public_key,
            device_name: request.device_name.as_str(),
            device_model: request.device_model.as_str(),
            device_kind: request.device_kind.as_str(),
            timestamp: request.timestamp,
        };
        verify_signature(&request.public_key, &proof.signed_bytes(), &request.proof)?;
        let public_key = request.public_key.to_text();
        if self.store.device_key_in_use(&public_key).await? {
            return Err(ServiceError::refused(
                ErrorCode::BadRequest,
                "this key is already connected to an account; make a new one",
            ));
        }
        let mut rng = rand::rngs::OsRng;
        let claim_token = ClaimToken::generate(&mut rng);
        let expires_at = now + self.onboarding_ttl_secs;
        // A new code hash colliding with a stored one is a 2^-50 event; try again rather than fail.
        for _ in 0..3 {
            let id = OnboardingId::generate(&mut rng);
            let code = IdentificationCode::generate(&mut rng);
            let row = NewOnboarding {
                id,
                code_hash: code_hash(&code),
                claim_token_hash: token_hash(&claim_token.expose_text()),
                public_key: public_key.clone(),
                device_name: request.device_name.as_str().to_string(),
                device_model: request.device_model.as_str().to_string(),
                device_kind: request.device_kind.as_str().to_string(),
                created_at: now,
                expires_at,
            };
            match self.store.insert_onboarding(&row).await {
                Ok(()) => {
                    return Ok(OnboardStartResponse {
                        onboarding_id: id,
                        identification_code: code,
                        claim_token,
                        expires_at,
                    })
                }
                Err(StoreError::Duplicate(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Internal(
            "could not find a free identification code".into(),
        ))
    }

    /// The app waits for the clerk: answers at once when the onboarding is final, else when it
    /// changes or after `wait`, with status `waiting`. A wrong claim token reads as unknown.
    pub async fn onboarding_outcome(
        &self,
        id: &OnboardingId,
        claim_token: &ClaimToken,
        wait: Duration,
    ) -> Result<OnboardOutcome, ServiceError> {
        let id = *id;
        let mut subscription = self.signal.subscribe(&key(&id));
        let deadline = tokio::time::Instant::now() + wait;
        let presented = token_hash(&claim_token.expose_text());
        loop {
            let record = self.store.onboarding(&id).await?.ok_or_else(unknown)?;
            if !bool::from(
                record
                    .claim_token_hash
                    .as_bytes()
                    .ct_eq(presented.as_bytes()),
            ) {
                return Err(unknown());
            }
            let now = self.clock.now();
            let status = status(&record, now);
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            // At shutdown the app hears where things stand now, and asks again elsewhere.
            if status.is_final() || remaining.is_zero() || self.shutdown.has_begun() {
                let account_name = match (&status, &record.citizen_id) {
                    (OnboardStatus::Completed, Some(citizen)) => self
                        .store
                        .citizen_by_id(citizen)
                        .await?
                        .map(|c| c.full_name),
                    _ => None,
                };
                return Ok(OnboardOutcome {
                    status,
                    device_id: record.device_id,
                    account_name,
                    expires_at: record.expires_at,
                });
            }
            let until_expiry = Duration::from_secs(record.expires_at.saturating_sub(now).max(1));
            tokio::select! {
                () = subscription.changed(remaining.min(until_expiry)) => {}
                () = self.shutdown.begun() => {}
            }
        }
    }

    /// The clerk onboards a citizen: checks the form, finds the pending onboarding by its code and
    /// creates the citizen (no password: the mobile key is their means) and the device (BOK-pad
    /// and notifications on, as after pairing) in one transaction. An unknown code counts towards
    /// the clerk's failed-attempt limit (per clerk and per address, as for logins).
    pub async fn onboard_citizen(
        &self,
        clerk: &ClerkSession,
        input: &OnboardInput,
        address: &str,
    ) -> Result<Onboarded, OnboardError> {
        // The attempt is counted before the code is looked up (parallel guesses cannot all pass
        // one check), and given back unless the code was unknown.
        let buckets =
            super::portal_signin::login_buckets("onboard", clerk.clerk_id.as_str(), address);
        match self.reserve_attempt(&buckets).await {
            Ok(()) => {}
            Err(ServiceError::RateLimited { retry_after }) => {
                return Err(OnboardError::RateLimited { retry_after })
            }
            Err(e) => return Err(e.into()),
        }
        let result = self.onboard_reserved(clerk, input).await;
        if !matches!(result, Err(OnboardError::CodeUnknown)) {
            self.refund_attempt(&buckets).await?;
        }
        result
    }

    async fn onboard_reserved(
        &self,
        clerk: &ClerkSession,
        input: &OnboardInput,
    ) -> Result<Onboarded, OnboardError> {
        let checked = check(input)?;
        let record = self
            .store
            .onboarding_by_code(&code_hash(&checked.code))
            .await
            .map_err(ServiceError::from)?;
        let Some(record) = record else {
            return Err(OnboardError::CodeUnknown);
        };
        let now = self.clock.now();
        match status(&record, now) {
            OnboardStatus::Waiting => {}
            OnboardStatus::Completed => return Err(OnboardError::CodeUsed),
            OnboardStatus::Expired => return Err(OnboardError::CodeExpired),
        }
        if self
            .store
            .citizen_by_username(&checked.username)
            .await
            .map_err(ServiceError::from)?
            .is_some()
        {
            return Err(OnboardError::UsernameTaken);
        }
        // A password nobody knows, hashed like any other: the account opens with the mobile key,
        // and a password login attempt against it costs the same time as against any account.
        let unusable = Zeroizing::new(random_token());
        let citizen = OnboardedCitizen {
            id: CitizenId::new_random(),
            username: checked.username,
            full_name: checked.full_name,
            email: checked.email,
            phone: checked.phone,
            password_hash: hash_secret(&unusable).await?,
            clerk_id: clerk.clerk_id.clone(),
            clerk_username: clerk.username.clone(),
            office_name: clerk.office_name.clone(),
            document_type: checked.document_type,
            document_last4: checked.document_last4,
        };
        let device = NewDevice {
            id: DeviceId::generate(&mut rand::rngs::OsRng),
            citizen_id: citizen.id.clone(),
            public_key: record.public_key.clone(),
            name: record.device_name.clone(),
            model: record.device_model.clone(),
            kind: record.device_kind.clone(),
            paired_at: now,
        };
        let done = match self
            .store
            .complete_onboarding(&record.id, now, &citizen, &device)
            .await
        {
            Ok(done) => done,
            Err(StoreError::Duplicate("username")) => return Err(OnboardError::UsernameTaken),
            Err(StoreError::Duplicate(_)) => return Err(OnboardError::DeviceTaken),
            Err(e) => return Err(ServiceError::from(e).into()),
        };
        if !done {
            // Another counter won the race, or it expired in between: say which.
            let record = self
                .store
                .onboarding(&record.id)
                .await
                .map_err(ServiceError::from)?;
            return Err(match record.map(|r| status(&r, self.clock.now())) {
                Some(OnboardStatus::Completed) => OnboardError::CodeUsed,
                Some(OnboardStatus::Expired) => OnboardError::CodeExpired,
                _ => OnboardError::CodeUnknown,
            });
        }
        self.signal.notify(&key(&record.id));
        tracing::info!(
            citizen = %citizen.id,
            clerk = %clerk.username,
            office = %clerk.office_name,
            "citizen onboarded at the counter"
        );
        Ok(Onboarded {
            citizen_id: citizen.id,
            full_name: citizen.full_name,
            username: citizen.username,
            device_name: record.device_name,
        })
    }
}

impl Services {
    /// Forgets onboardings that expired unused more than [`KEEP_EXPIRED_SECS`] ago (until then the
    /// app still hears `expired` rather than `onboarding_unknown`). Completed ones stay: the
    /// record of the counter visit refers to them.
    pub async fn prune_onboardings(&self) -> Result<u64, ServiceError> {
        let before = self.clock.now().saturating_sub(KEEP_EXPIRED_SECS);
        Ok(self.store.prune_onboardings(before).await?)
    }
}

/// How long an expired onboarding is kept before housekeeping forgets it (a day).
pub const KEEP_EXPIRED_SECS: u64 = 24 * 60 * 60;

fn unknown() -> ServiceError {
    ServiceError::refused(ErrorCode::OnboardingUnknown, "no such onboarding")
}

#[cfg(test)]
mod tests;
