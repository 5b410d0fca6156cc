//! Paired devices, and the nonces of their calls.

use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use super::{get_id, get_opt_u64, get_u64, to_db, Store, StoreError};
use crate::domain::CitizenId;
use civkey_proto::ids::DeviceId;

/// A device to create when pairing is confirmed.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Device id (base64url).
    pub id: DeviceId,
    /// Owner.
    pub citizen_id: CitizenId,
    /// Public key (base64url SEC1).
    pub public_key: String,
    /// Name.
    pub name: String,
    /// Model.
    pub model: String,
    /// `phone`, `tablet` or `desktop`.
    pub kind: String,
    /// When paired.
    pub paired_at: u64,
}

/// A device as stored.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    /// Device id.
    pub id: DeviceId,
    /// Owner.
    pub citizen_id: CitizenId,
    /// Public key (base64url SEC1).
    pub public_key: String,
    /// Name.
    pub name: String,
    /// Model.
    pub model: String,
    /// Kind.
    pub kind: String,
    /// When paired.
    pub paired_at: u64,
    /// When last used.
    pub last_used_at: Option<u64>,
    /// When disconnected (a disconnected device is refused at once).
    pub disconnected_at: Option<u64>,
    /// Whether the citizen uses this device as a BOK-pad (on from pairing).
    pub bok_pad: bool,
    /// Informative notifications on (from pairing).
    pub notify_informative: bool,
    /// Login notifications on (from pairing).
    pub notify_login: bool,
    /// The push endpoint the device registered, if any.
    pub push_endpoint: Option<String>,
    /// The keys its pushes are encrypted to (RFC 8291), if it registered them.
    pub push_keys: Option<StoredPushKeys>,
}

/// A device's push keys as stored (base64url, checked when registered; read them again with
/// `civkey_proto::device::PushKeys` before use). `Debug` does not show the auth secret.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredPushKeys {
    /// The device's P-256 public key (`p256dh`).
    pub p256dh: String,
    /// The authentication secret (`auth`).
    pub auth: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for StoredPushKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPushKeys")
            .field("p256dh", &self.p256dh)
            .field("auth", &"…")
            .finish()
    }
}

const COLUMNS: &str = "id, citizen_id, public_key, name, model, kind, paired_at, last_used_at, \
    disconnected_at, bok_pad, notify_informative, notify_login, push_endpoint, \
    push_p256dh, push_auth";

fn read(row: &AnyRow) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        id: get_id(row, "id")?,
        citizen_id: get_id(row, "citizen_id")?,
        public_key: row.try_get("public_key")?,
        name: row.try_get("name")?,
        model: row.try_get("model")?,
        kind: row.try_get("kind")?,
        paired_at: get_u64(row, "paired_at")?,
        last_used_at: get_opt_u64(row, "last_used_at")?,
        disconnected_at: get_opt_u64(row, "disconnected_at")?,
        bok_pad: row.try_get::<i64, _>("bok_pad")? != 0,
        notify_informative: row.try_get::<i64, _>("notify_informative")? != 0,
        notify_login: row.try_get::<i64, _>("notify_login")? != 0,
        push_endpoint: row.try_get("push_endpoint")?,
        push_keys: read_push_keys(row)?,
    })
}

/// Both key columns, or neither. One without the other (not written by this server) reads as keys
/// that will not parse, so the device gets no push rather than a clear-text wake-up.
fn read_push_keys(row: &AnyRow) -> Result<Option<StoredPushKeys>, StoreError> {
    let p256dh: Option<String> = row.try_get("push_p256dh")?;
    let auth: Option<String> = row.try_get("push_auth")?;
    Ok(match (p256dh, auth) {
        (None, None) => None,
        (p256dh, auth) => Some(StoredPushKeys {
            p256dh: p256dh.unwrap_or_default(),
            auth: zeroize::Zeroizing::new(auth.unwrap_or_default()),
        }),
    })
}

pub(super) async fn insert_device<'e, E: sqlx::Executor<'e, Database = Any>>(
    executor: E,
    d: &NewDevice,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO devices (id, citizen_id, public_key, name, model, kind, paired_at, \
         notify_informative, notify_login, bok_pad) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 1, 1)",
    )
    .bind(d.id.to_text())
    .bind(d.citizen_id.as_str())
    .bind(&d.public_key)
    .bind(&d.name)
    .bind(&d.model)
    .bind(&d.kind)
    .bind(to_db(d.paired_at))
    .execute(executor)
    .await?;
    Ok(())
}

impl Store {
    /// Creates a device directly (pairing creates devices through `confirm_pairing`).
    pub async fn insert_device(&self, device: &NewDevice) -> Result<(), StoreError> {
        insert_device(self.pool(), device)
            .await
            .map_err(super::unique("device key"))
    }

    /// The device `id`, connected or not.
    pub async fn device(&self, id: &DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM devices WHERE id = $1"))
            .bind(id.to_text())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(read).transpose()
    }

    /// The citizen's connected devices, most recently paired first.
    pub async fn active_devices(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Vec<DeviceRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM devices WHERE citizen_id = $1 AND disconnected_at IS NULL \
             ORDER BY paired_at DESC, id"
        ))
        .bind(citizen_id.as_str())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(read).collect()
    }

    /// Renames a connected device of the citizen. False when there is none.
    pub async fn rename_device(
        &self,
        citizen_id: &CitizenId,
        id: &DeviceId,
        name: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE devices SET name = $3 WHERE id = $2 AND citizen_id = $1 AND disconnected_at IS NULL",
        )
        .bind(citizen_id.as_str())
        .bind(id.to_text())
        .bind(name)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Disconnects a connected device of the citizen. False when there is none.
    pub async fn disconnect_device(
        &self,
        citizen_id: &CitizenId,
        id: &DeviceId,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE devices SET disconnected_at = $3 \
             WHERE id = $2 AND citizen_id = $1 AND disconnected_at IS NULL",
        )
        .bind(citizen_id.as_str())
        .bind(id.to_text())
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records that the device was used now.
    pub async fn touch_device(&self, id: &DeviceId, now: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE devices SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_text())
            .bind(to_db(now))
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Remembers a device call's nonce. False when the device already used it (a replay).
    pub async fn record_nonce(
        &self,
        device_id: &DeviceId,
        nonce: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO device_nonces (device_id, nonce, seen_at) VALUES ($1, $2, $3) \
             ON CONFLICT (device_id, nonce) DO NOTHING",
        )
        .bind(device_id.to_text())
        .bind(nonce)
        .bind(to_db(now))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets nonces seen before `before` (they are past the allowed clock skew anyway).
    pub async fn prune_nonces(&self, before: u64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM device_nonces WHERE seen_at < $1")
            .bind(to_db(before))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use super::*;

    #[tokio::test]
    async fn a_stored_device_id_that_is_no_device_id_is_corrupt_not_a_panic() {
        let (store, _dir) = temp_store().await;
        let citizen = CitizenId::from_stored("c1");
        sqlx::query(
            "INSERT INTO citizens (id, username, full_name, password_hash, created_at) \
             VALUES ($1, 'jana', 'Jana', 'x', 0)",
        )
        .bind(citizen.as_str())
        .execute(store.pool())
        .await
        .unwrap();
        let device = NewDevice {
            id: DeviceId::from_bytes([1; 16]),
            citizen_id: citizen.clone(),
            public_key: "key".into(),
            name: "Phone".into(),
            model: "Pixel".into(),
            kind: "phone".into(),
            paired_at: 0,
        };
        store.insert_device(&device).await.unwrap();
        assert_eq!(
            store.active_devices(&citizen).await.unwrap()[0].id,
            device.id
        );
        sqlx::query("UPDATE devices SET id = 'not a device id'")
            .execute(store.pool())
            .await
            .unwrap();
        assert!(matches!(
            store.active_devices(&citizen).await,
            Err(StoreError::Corrupt("id"))
        ));
    }
}
