//! In-person onboardings and the record of who onboarded a citizen. Completing one creates the
//! citizen and the device and marks the onboarding used in one transaction, so two counters
//! typing the same code cannot both win, and nothing is left half-made.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::devices::NewDevice;
use super::{get_id, get_opt_id, get_stored, get_u64, to_db, Store, StoreError};
use crate::domain::{CitizenId, ClerkId, OnboardingState};
use civkey_proto::ids::{DeviceId, OnboardingId};

/// An onboarding the app started.
#[derive(Debug, Clone)]
pub struct NewOnboarding {
    /// Onboarding id.
    pub id: OnboardingId,
    /// SHA-256 (hex) of the tagged identification code.
    pub code_hash: String,
    /// SHA-256 (hex) of the claim token.
    pub claim_token_hash: String,
    /// The device's public key (base64url SEC1).
    pub public_key: String,
    /// Proposed device name.
    pub device_name: String,
    /// Device model.
    pub device_model: String,
    /// `phone`, `tablet` or `desktop`.
    pub device_kind: String,
    /// When it was started.
    pub created_at: u64,
    /// When its code expires.
    pub expires_at: u64,
}

/// An onboarding as stored.
#[derive(Debug, Clone)]
pub struct OnboardingRecord {
    /// Onboarding id.
    pub id: OnboardingId,
    /// SHA-256 (hex) of the claim token.
    pub claim_token_hash: String,
    /// The device's public key (base64url SEC1).
    pub public_key: String,
    /// Proposed device name.
    pub device_name: String,
    /// Device model.
    pub device_model: String,
    /// Device kind.
    pub device_kind: String,
    /// Waiting for the clerk, or completed (expiry is read from `expires_at`).
    pub state: OnboardingState,
    /// When its code expires.
    pub expires_at: u64,
    /// The new citizen, once completed.
    pub citizen_id: Option<CitizenId>,
    /// The new device, once completed.
    pub device_id: Option<DeviceId>,
}

/// What completing an onboarding creates: the citizen, and the record of the counter visit.
#[derive(Debug, Clone)]
pub struct OnboardedCitizen {
    /// Random id (base64url).
    pub id: CitizenId,
    /// Login name, unique.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// E-mail address.
    pub email: String,
    /// Phone number, if given.
    pub phone: Option<String>,
    /// An Argon2id hash of a random password nobody knows (the mobile key is their means).
    pub password_hash: String,
    /// The clerk who checked the document.
    pub clerk_id: ClerkId,
    /// The clerk's username, kept even if the clerk is removed later.
    pub clerk_username: String,
    /// The office.
    pub office_name: String,
    /// The identity document's type (`id_card`, `passport`, …).
    pub document_type: String,
    /// The last 4 characters of the document number; never more.
    pub document_last4: String,
}

const COLUMNS: &str = "id, claim_token_hash, public_key, device_name, device_model, device_kind, \
    state, expires_at, citizen_id, device_id";

fn read(row: &AnyRow) -> Result<OnboardingRecord, StoreError> {
    Ok(OnboardingRecord {
        id: get_id(row, "id")?,
        claim_token_hash: row.try_get("claim_token_hash")?,
        public_key: row.try_get("public_key")?,
        device_name: row.try_get("device_name")?,
        device_model: row.try_get("device_model")?,
        device_kind: row.try_get("device_kind")?,
        state: get_stored(row, "state")?,
        expires_at: get_u64(row, "expires_at")?,
        citizen_id: get_opt_id(row, "citizen_id")?,
        device_id: get_opt_id(row, "device_id")?,
    })
}

impl Store {
    /// Stores a started onboarding; [`StoreError::Duplicate`] if its code hash collides.
    pub async fn insert_onboarding(&self, o: &NewOnboarding) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO onboardings (id, code_hash, claim_token_hash, public_key, device_name, \
             device_model, device_kind, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'waiting', $8, $9)",
        )
        .bind(o.id.to_text())
        .bind(&o.code_hash)
        .bind(&o.claim_token_hash)
        .bind(&o.public_key)
        .bind(&o.device_name)
        .bind(&o.device_model)
        .bind(&o.device_kind)
        .bind(to_db(o.created_at))
        .bind(to_db(o.expires_at))
        .execute(self.pool())
        .await
        .map_err(super::unique("identification code"))?;
        Ok(())
    }

    /// The onboarding `id`.
    pub async fn onboarding(
        &self,
        id: &OnboardingId,
    ) -> Result<Option<OnboardingRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM onboardings WHERE id = $1"))
            .bind(id.to_text())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(read).transpose()
    }

    /// The onboarding whose identification code hashes to `code_hash`.
    pub async fn onboarding_by_code(
        &self,
        code_hash: &str,
    ) -> Result<Option<OnboardingRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM onboardings WHERE code_hash = $1"
        ))
        .bind(code_hash)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(read).transpose()
    }

    /// Whether `public_key` is already some device's key.
    pub async fn device_key_in_use(&self, public_key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT id FROM devices WHERE public_key = $1")
            .bind(public_key)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    /// Completes a waiting, unexpired onboarding: creates the citizen, the device and the record,
    /// and marks the onboarding completed, all or nothing. False when it is no longer waiting (or
    /// expired); [`StoreError::Duplicate`]`("username")` when the username is taken.
    pub async fn complete_onboarding(
        &self,
        id: &OnboardingId,
        now: u64,
        citizen: &OnboardedCitizen,
        device: &NewDevice,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO citizens (id, username, full_name, email, phone, password_hash, \
             totp_secret, totp_last_step, totp_deletion_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL, $7)",
        )
        .bind(citizen.id.as_str())
        .bind(&citizen.username)
        .bind(&citizen.full_name)
        .bind(&citizen.email)
        .bind(&citizen.phone)
        .bind(&citizen.password_hash)
        .bind(to_db(now))
        .execute(&mut *tx)
        .await
        .map_err(super::unique("username"))?;
        super::devices::insert_device(&mut *tx, device)
            .await
            .map_err(super::unique("device key"))?;
        sqlx::query(
            "INSERT INTO citizen_onboardings (citizen_id, onboarding_id, clerk_id, clerk_username, \
             office_name, document_type, document_last4, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(citizen.id.as_str())
        .bind(id.to_text())
        .bind(citizen.clerk_id.as_str())
        .bind(&citizen.clerk_username)
        .bind(&citizen.office_name)
        .bind(&citizen.document_type)
        .bind(&citizen.document_last4)
        .bind(to_db(now))
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query(
            "UPDATE onboardings SET state = 'completed', citizen_id = $3, device_id = $4, \
             completed_at = $2 WHERE id = $1 AND state = 'waiting' AND expires_at > $2",
        )
        .bind(id.to_text())
        .bind(to_db(now))
        .bind(citizen.id.as_str())
        .bind(device.id.to_text())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            // Dropping the transaction rolls the citizen and the device back.
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Who onboarded the citizen: (clerk username, office, document type, last 4, when).
    pub async fn citizen_onboarding(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Option<(String, String, String, String, u64)>, StoreError> {
        let row = sqlx::query(
            "SELECT clerk_username, office_name, document_type, document_last4, at \
             FROM citizen_onboardings WHERE citizen_id = $1",
        )
        .bind(citizen_id.as_str())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("clerk_username")?,
                r.try_get("office_name")?,
                r.try_get("document_type")?,
                r.try_get("document_last4")?,
                get_u64(&r, "at")?,
            ))
        })
        .transpose()
    }

    /// Forgets onboardings that expired unused before `before`.
    pub async fn prune_onboardings(&self, before: u64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM onboardings WHERE state = 'waiting' AND expires_at < $1")
                .bind(to_db(before))
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected())
    }
}
