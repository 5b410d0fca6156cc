//! Pairing a mobile key: the portal opens a session, the app claims it with its new key, the
//! citizen compares the confirmation code and decides in the browser, the app learns the outcome.

use std::time::Duration;

use civkey_proto::device::DeviceKind;
use civkey_proto::ids::{ClaimToken, DeviceId, PairingSecret, ServerNonce, SessionId};
use civkey_proto::pair::{
    ConfirmationCode, PairClaimRequest, PairClaimResponse, PairOutcome, PairStatus,
    PairingPageEvent, PairingUri, PAIRING_TTL_SECS,
};
use civkey_proto::sign::PairingProof;
use civkey_proto::ErrorCode;
use subtle::ConstantTimeEq;

use super::secrets::token_hash;
use super::{verify_signature, ServiceError, Services};
use crate::domain::{CitizenId, PairingState};
use crate::store::{Claim, NewDevice, PairingRecord};

/// A new pairing session, for the portal to show.
pub struct NewPairing {
    /// What the QR code and the same-device link carry.
    pub uri: PairingUri,
    /// When it expires.
    pub expires_at: u64,
}

fn key(session_id: &SessionId) -> String {
    format!("pairing:{session_id}")
}

/// The pairing session named by `text` (a page's path): text that is no session id is
/// `pairing_unknown`, the same answer as an id the store does not know.
pub fn pairing_session_id(text: &str) -> Result<SessionId, ServiceError> {
    SessionId::parse(text).map_err(|_| unknown())
}

fn secret_hash(secret: &PairingSecret) -> String {
    token_hash(&secret.expose_text())
}

/// The status a record is in at `now` (waiting or claimed sessions past their expiry are expired).
fn status(record: &PairingRecord, now: u64) -> PairStatus {
    match record.state {
        PairingState::Confirmed => PairStatus::Confirmed,
        PairingState::Refused => PairStatus::Refused,
        _ if now >= record.expires_at => PairStatus::Expired,
        PairingState::Claimed => PairStatus::Claimed,
        PairingState::Waiting => PairStatus::Waiting,
    }
}

fn kind_text(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Phone => "phone",
        DeviceKind::Tablet => "tablet",
        DeviceKind::Desktop => "desktop",
    }
}

impl Services {
    /// Opens a pairing session for `citizen_id` (valid 4 minutes, single use).
    pub async fn start_pairing(&self, citizen_id: &CitizenId) -> Result<NewPairing, ServiceError> {
        let mut rng = rand::rngs::OsRng;
        let uri = PairingUri {
            origin: self.origin.clone(),
            session_id: SessionId::generate(&mut rng),
            secret: PairingSecret::generate(&mut rng),
        };
        let now = self.clock.now();
        let expires_at = now + PAIRING_TTL_SECS;
        self.store
            .insert_pairing(
                &uri.session_id,
                citizen_id,
                &secret_hash(&uri.secret),
                now,
                expires_at,
            )
            .await?;
        Ok(NewPairing { uri, expires_at })
    }

    /// The app claims a session: checks the secret and the proof of possession, and the first
    /// valid claim wins. Returns the confirmation code, the server's nonce it was derived with,
    /// and the claim token.
    ///
    /// The claim is the device's commitment to its key; only after it is checked does the server
    /// draw its nonce, fresh for every claim, so a device cannot pick a key that gives a code it
    /// chose (from the key alone, about 10⁶ key generations would match any code).
    pub async fn claim_pairing(
        &self,
        session_id: &SessionId,
        request: &PairClaimRequest,
    ) -> Result<PairClaimResponse, ServiceError> {
        let id = *session_id;
        let now = self.clock.now();
        let record = self.known_session(&id, &request.secret).await?;
        match status(&record, now) {
            PairStatus::Waiting => {}
            other => return Err(refusal_for(other)),
        }
        let proof = PairingProof {
            origin: &self.origin,
            session_id,
            secret: &request.secret,
            public_key: &request.public_key,
            device_name: request.device_name.as_str(),
        };
        verify_signature(&request.public_key, &proof.signed_bytes(), &request.proof)?;

        let server_nonce = ServerNonce::generate(&mut rand::rngs::OsRng);
        let code = ConfirmationCode::derive(
            session_id,
            &request.secret,
            &request.public_key,
            &server_nonce,
        );
        let claim_token = ClaimToken::generate(&mut rand::rngs::OsRng);
        let claim = Claim {
            public_key: request.public_key.to_text(),
            device_name: request.device_name.as_str().to_string(),
            device_model: request.device_model.as_str().to_string(),
            device_kind: kind_text(request.device_kind).to_string(),
            confirmation_code: code.digits(),
            server_nonce: server_nonce.to_text(),
            claim_token_hash: token_hash(&claim_token.expose_text()),
        };
        if !self.store.claim_pairing(&id, now, &claim).await? {
            // Lost a race, or it expired in between: say precisely which.
            let record = self.store.pairing(&id).await?.ok_or_else(unknown)?;
            return Err(refusal_for(status(&record, self.clock.now())));
        }
        self.signal.notify(&key(&id));
        Ok(PairClaimResponse {
            confirmation_code: code,
            server_nonce,
            claim_token,
            expires_at: record.expires_at,
        })
    }

    /// The app waits for the citizen's decision: answers at once when it is known, else when the
    /// session changes or after `wait`, with status `claimed`.
    pub async fn pairing_outcome(
        &self,
        session_id: &SessionId,
        claim_token: &ClaimToken,
        wait: Duration,
    ) -> Result<PairOutcome, ServiceError> {
        let id = *session_id;
        let mut subscription = self.signal.subscribe(&key(&id));
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let record = self.store.pairing(&id).await?.ok_or_else(unknown)?;
            let expected = record
                .claim_token_hash
                .as_deref()
                .unwrap_or_default()
                .as_bytes();
            if !bool::from(expected.ct_eq(token_hash(&claim_token.expose_text()).as_bytes())) {
                return Err(unknown());
            }
            let now = self.clock.now();
            let status = status(&record, now);
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            // At shutdown the app hears where things stand now, and asks again elsewhere.
            if status.is_final() || remaining.is_zero() || self.shutdown.has_begun() {
                let account_name = match status {
                    PairStatus::Confirmed => self
                        .store
                        .citizen_by_id(&record.citizen_id)
                        .await?
                        .map(|c| c.full_name),
                    _ => None,
                };
                return Ok(PairOutcome {
                    status,
                    device_id: record.device_id,
                    account_name,
                    expires_at: record.expires_at,
                });
            }
            // Wake on a change, at the latest at expiry or the deadline.
            let until_expiry = Duration::from_secs(record.expires_at.saturating_sub(now).max(1));
            tokio::select! {
                () = subscription.changed(remaining.min(until_expiry)) => {}
                () = self.shutdown.begun() => {}
            }
        }
    }

    /// The citizen decides in the browser. Confirming creates the device.
    pub async fn decide_pairing(
        &self,
        citizen_id: &CitizenId,
        session_id: &SessionId,
        confirm: bool,
    ) -> Result<PairStatus, ServiceError> {
        let now = self.clock.now();
        let record = self
            .store
            .pairing(session_id)
            .await?
            .filter(|r| r.citizen_id == *citizen_id)
            .ok_or_else(unknown)?;
        let decided = if confirm {
            match status(&record, now) {
                PairStatus::Claimed => {}
                other => return Err(refusal_for(other)),
            }
            let device = NewDevice {
                id: DeviceId::generate(&mut rand::rngs::OsRng),
                citizen_id: citizen_id.clone(),
                public_key: record.public_key.clone().ok_or_else(unknown)?,
                name: record.device_name.clone().unwrap_or_default(),
                model: record.device_model.clone().unwrap_or_default(),
                kind: record.device_kind.clone().unwrap_or_default(),
                paired_at: now,
            };
            let done = self
                .store
                .confirm_pairing(session_id, citizen_id, now, &device)
                .await?;
            if done {
                let what = super::notify::Informative::DeviceConnected {
                    device_name: device.name.clone(),
                };
                self.notify_informative(citizen_id, &what).await;
            }
            done
        } else {
            match status(&record, now) {
                PairStatus::Waiting | PairStatus::Claimed => {}
                other => return Err(refusal_for(other)),
            }
            self.store
                .refuse_pairing(session_id, citizen_id, now)
                .await?
        };
        self.signal.notify(&key(session_id));
        if !decided {
            let record = self.store.pairing(session_id).await?.ok_or_else(unknown)?;
            return Err(refusal_for(status(&record, self.clock.now())));
        }
        Ok(if confirm {
            PairStatus::Confirmed
        } else {
            PairStatus::Refused
        })
    }

    /// What the portal page shows for the session now; `None` when it is not this citizen's.
    pub async fn pairing_page_event(
        &self,
        citizen_id: &CitizenId,
        session_id: &SessionId,
    ) -> Result<Option<PairingPageEvent>, ServiceError> {
        let Some(record) = self
            .store
            .pairing(session_id)
            .await?
            .filter(|r| r.citizen_id == *citizen_id)
        else {
            return Ok(None);
        };
        Ok(Some(match status(&record, self.clock.now()) {
            PairStatus::Waiting => PairingPageEvent::Waiting,
            PairStatus::Claimed => PairingPageEvent::Claimed {
                confirmation_code: record
                    .confirmation_code
                    .as_deref()
                    .and_then(|c| ConfirmationCode::parse(c).ok())
                    .ok_or_else(|| {
                        ServiceError::Internal("claimed session without a code".into())
                    })?,
                device_name: record.device_name.unwrap_or_default(),
            },
            PairStatus::Confirmed => PairingPageEvent::Confirmed,
            PairStatus::Refused => PairingPageEvent::Refused,
            PairStatus::Expired => PairingPageEvent::Expired,
        }))
    }

    /// Subscribes to changes of a pairing session (for the portal's event stream).
    pub fn watch_pairing(&self, session_id: &SessionId) -> crate::signal::Subscription {
        self.signal.subscribe(&key(session_id))
    }

    /// The session, if it exists and `secret` is its secret (a wrong secret reads as unknown).
    async fn known_session(
        &self,
        id: &SessionId,
        secret: &PairingSecret,
    ) -> Result<PairingRecord, ServiceError> {
        let record = self.store.pairing(id).await?.ok_or_else(unknown)?;
        if bool::from(
            record
                .secret_hash
                .as_bytes()
                .ct_eq(secret_hash(secret).as_bytes()),
        ) {
            Ok(record)
        } else {
            Err(unknown())
        }
    }
}

fn unknown() -> ServiceError {
    ServiceError::refused(ErrorCode::PairingUnknown, "no such pairing session")
}

fn refusal_for(status: PairStatus) -> ServiceError {
    match status {
        PairStatus::Expired => ServiceError::refused(
            ErrorCode::PairingExpired,
            "the pairing QR code has expired; start again on the computer",
        ),
        PairStatus::Claimed => ServiceError::refused(
            ErrorCode::PairingTaken,
            "another app has already scanned this QR code",
        ),
        PairStatus::Confirmed => ServiceError::refused(
            ErrorCode::PairingUsed,
            "this pairing QR code was already used",
        ),
        PairStatus::Refused => ServiceError::refused(
            ErrorCode::PairingRefused,
            "the citizen said a different code was shown; nothing was paired",
        ),
        PairStatus::Waiting => ServiceError::refused(
            ErrorCode::PairingUnknown,
            "no app has scanned this QR code yet",
        ),
    }
}

#[cfg(test)]
mod tests;
