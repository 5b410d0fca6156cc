//! Pairing sessions and their state changes. Every change is one conditional `UPDATE`, so two
//! apps (or two server instances) racing for one session cannot both win.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::devices::NewDevice;
use super::{get_id, get_opt_id, get_stored, get_u64, to_db, unique, Store, StoreError};
use crate::domain::{CitizenId, PairingState};
use civkey_proto::ids::{DeviceId, SessionId};

/// A pairing session as stored.
#[derive(Debug, Clone)]
pub struct PairingRecord {
    /// Session id.
    pub id: SessionId,
    /// The citizen who opened "Connect mobile key".
    pub citizen_id: CitizenId,
    /// SHA-256 (hex) of the pairing secret.
    pub secret_hash: String,
    /// Where it stands (expiry is read from `expires_at`).
    pub state: PairingState,
    /// When it was created.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
    /// The claiming device's public key (base64url SEC1), once claimed.
    pub public_key: Option<String>,
    /// The claiming device's proposed name.
    pub device_name: Option<String>,
    /// The claiming device's model.
    pub device_model: Option<String>,
    /// The claiming device's kind.
    pub device_kind: Option<String>,
    /// The confirmation code's six digits, once claimed.
    pub confirmation_code: Option<String>,
    /// The server's nonce (base64url) mixed into the code, drawn when the claim was accepted.
    pub server_nonce: Option<String>,
    /// SHA-256 (hex) of the claim token given to the winning app.
    pub claim_token_hash: Option<String>,
    /// The new device's id, once confirmed.
    pub device_id: Option<DeviceId>,
}

/// What a winning claim stores.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Public key (base64url SEC1).
    pub public_key: String,
    /// Proposed device name.
    pub device_name: String,
    /// Device model.
    pub device_model: String,
    /// Device kind.
    pub device_kind: String,
    /// Confirmation code digits.
    pub confirmation_code: String,
    /// The server's nonce (base64url) the code was derived with.
    pub server_nonce: String,
    /// SHA-256 (hex) of the claim token.
    pub claim_token_hash: String,
}

const COLUMNS: &str = "id, citizen_id, secret_hash, state, created_at, expires_at, public_key, \
    device_name, device_model, device_kind, confirmation_code, server_nonce, claim_token_hash, \
    device_id";

fn read(row: &AnyRow) -> Result<PairingRecord, StoreError> {
    Ok(PairingRecord {
        id: get_id(row, "id")?,
        citizen_id: get_id(row, "citizen_id")?,
        secret_hash: row.try_get("secret_hash")?,
        state: get_stored(row, "state")?,
        created_at: get_u64(row, "created_at")?,
        expires_at: get_u64(row, "expires_at")?,
        public_key: row.try_get("public_key")?,
        device_name: row.try_get("device_name")?,
        device_model: row.try_get("device_model")?,
        device_kind: row.try_get("device_kind")?,
        confirmation_code: row.try_get("confirmation_code")?,
        server_nonce: row.try_get("server_nonce")?,
        claim_token_hash: row.try_get("claim_token_hash")?,
        device_id: get_opt_id(row, "device_id")?,
    })
}

impl Store {
    /// Opens a pairing session.
    pub async fn insert_pairing(
        &self,
        id: &SessionId,
        citizen_id: &CitizenId,
        secret_hash: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pairing_sessions (id, citizen_id, secret_hash, state, created_at, expires_at) \
             VALUES ($1, $2, $3, 'waiting', $4, $5)",
        )
        .bind(id.to_text())
        .bind(citizen_id.as_str())
        .bind(secret_hash)
        .bind(to_db(now))
        .bind(to_db(expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The pairing session `id`.
    pub async fn pairing(&self, id: &SessionId) -> Result<Option<PairingRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM pairing_sessions WHERE id = $1"
        ))
        .bind(id.to_text())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(read).transpose()
    }

    /// Claims a waiting, unexpired session. False when another claim won, or it expired.
    pub async fn claim_pairing(
        &self,
        id: &SessionId,
        now: u64,
        claim: &Claim,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE pairing_sessions SET state = 'claimed', public_key = $3, device_name = $4, \
             device_model = $5, device_kind = $6, confirmation_code = $7, claim_token_hash = $8, \
             server_nonce = $9 WHERE id = $1 AND state = 'waiting' AND expires_at > $2",
        )
        .bind(id.to_text())
        .bind(to_db(now))
        .bind(&claim.public_key)
        .bind(&claim.device_name)
        .bind(&claim.device_model)
        .bind(&claim.device_kind)
        .bind(&claim.confirmation_code)
        .bind(&claim.claim_token_hash)
        .bind(&claim.server_nonce)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The citizen confirms a claimed, unexpired session: the device is created in the same
    /// transaction. False when the session is not (or no longer) claimed by this citizen.
    pub async fn confirm_pairing(
        &self,
        id: &SessionId,
        citizen_id: &CitizenId,
        now: u64,
        device: &NewDevice,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE pairing_sessions SET state = 'confirmed', device_id = $4, decided_at = $3 \
             WHERE id = $1 AND citizen_id = $2 AND state = 'claimed' AND expires_at > $3",
        )
        .bind(id.to_text())
        .bind(citizen_id.as_str())
        .bind(to_db(now))
        .bind(device.id.to_text())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::devices::insert_device(&mut *tx, device)
            .await
            .map_err(unique("device key"))?;
        tx.commit().await?;
        Ok(true)
    }

    /// The citizen refuses a claimed (or still waiting) session. False when already decided.
    pub async fn refuse_pairing(
        &self,
        id: &SessionId,
        citizen_id: &CitizenId,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE pairing_sessions SET state = 'refused', decided_at = $3 \
             WHERE id = $1 AND citizen_id = $2 AND state IN ('waiting', 'claimed')",
        )
        .bind(id.to_text())
        .bind(citizen_id.as_str())
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
