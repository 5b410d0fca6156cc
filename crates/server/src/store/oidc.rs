//! OpenID Connect clients (the services citizens log in to) and the ID-token signing keys.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{get_id, get_opt_u64, get_u64, to_db, unique, Store, StoreError};
use crate::domain::ClientId;

/// A registered service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    /// The client id.
    pub id: ClientId,
    /// The name citizens see.
    pub name: String,
    /// SHA-256 (hex) of the client secret.
    pub secret_hash: String,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// A logo to show on the login page.
    pub logo_url: Option<String>,
    /// The sector its pairwise subject identifiers are derived for.
    pub sector: String,
    /// When registered.
    pub created_at: u64,
}

/// An ES256 signing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key id (`kid`).
    pub id: String,
    /// The private key, PKCS#8 DER in base64url (stored sealed under the key-encryption key).
    pub private_pkcs8: String,
    /// The public key, SEC1 uncompressed in base64url.
    pub public_key: String,
    /// When made.
    pub created_at: u64,
    /// When it stopped signing (`None`: the active key).
    pub retired_at: Option<u64>,
    /// When it leaves the JWKS.
    pub forget_after: Option<u64>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("id", &self.id)
            .field("private_pkcs8", &"***")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

fn read_client(row: &AnyRow) -> Result<ClientRecord, StoreError> {
    let uris: String = row.try_get("redirect_uris")?;
    Ok(ClientRecord {
        id: get_id(row, "id")?,
        name: row.try_get("name")?,
        secret_hash: row.try_get("secret_hash")?,
        redirect_uris: serde_json::from_str(&uris)
            .map_err(|_| StoreError::Corrupt("oidc_clients.redirect_uris"))?,
        logo_url: row.try_get("logo_url")?,
        sector: row.try_get("sector")?,
        created_at: get_u64(row, "created_at")?,
    })
}

fn read_key(store: &Store, row: &AnyRow) -> Result<SigningKeyRecord, StoreError> {
    let id: String = row.try_get("id")?;
    Ok(SigningKeyRecord {
        private_pkcs8: store.unseal(
            "signing_keys.private_pkcs8",
            &id,
            &row.try_get::<String, _>("private_pkcs8")?,
        )?,
        id,
        public_key: row.try_get("public_key")?,
        created_at: get_u64(row, "created_at")?,
        retired_at: get_opt_u64(row, "retired_at")?,
        forget_after: get_opt_u64(row, "forget_after")?,
    })
}

const CLIENT_COLUMNS: &str = "id, name, secret_hash, redirect_uris, logo_url, sector, created_at";
const KEY_COLUMNS: &str = "id, private_pkcs8, public_key, created_at, retired_at, forget_after";

impl Store {
    /// Registers a client.
    pub async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let uris = serde_json::to_string(&client.redirect_uris)
            .map_err(|_| StoreError::Corrupt("oidc_clients.redirect_uris"))?;
        sqlx::query(
            "INSERT INTO oidc_clients (id, name, secret_hash, redirect_uris, logo_url, sector, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(client.id.as_str())
        .bind(&client.name)
        .bind(&client.secret_hash)
        .bind(uris)
        .bind(&client.logo_url)
        .bind(&client.sector)
        .bind(to_db(client.created_at))
        .execute(self.pool())
        .await
        .map_err(unique("client id"))?;
        Ok(())
    }

    /// The client `id`.
    pub async fn client(&self, id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(read_client)
        .transpose()
    }

    /// Every client, oldest first.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE id <> 'civkey-portal' \
             ORDER BY created_at, id"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(read_client)
        .collect()
    }

    /// The keys still published (the active one and retired ones not yet forgotten at `now`):
    /// the active key first, then retired ones, newest first. (Keys made within one second share
    /// `created_at`, so the active key is put first explicitly, not by its time.)
    pub async fn signing_keys(&self, now: u64) -> Result<Vec<SigningKeyRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM signing_keys \
             WHERE forget_after IS NULL OR forget_after > $1 \
             ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id"
        ))
        .bind(to_db(now))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| read_key(self, row))
        .collect()
    }

    /// Makes `key` the active key: the previous active key is retired at `key.created_at` and
    /// kept published until `forget_after`. One transaction, so there is always exactly one
    /// active key.
    pub async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        forget_after: u64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, forget_after = $2 WHERE retired_at IS NULL",
        )
        .bind(to_db(key.created_at))
        .bind(to_db(forget_after))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO signing_keys (id, private_pkcs8, public_key, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.id)
        .bind(self.seal("signing_keys.private_pkcs8", &key.id, &key.private_pkcs8)?)
        .bind(&key.public_key)
        .bind(to_db(key.created_at))
        .execute(&mut *tx)
        .await
        .map_err(unique("signing key id"))?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes keys whose tokens have all expired by `now`; returns how many.
    pub async fn forget_signing_keys(&self, now: u64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE forget_after <= $1")
            .bind(to_db(now))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
