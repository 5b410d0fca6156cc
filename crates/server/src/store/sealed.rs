//! The columns sealed under the key-encryption key ([`Kek`]), sealing and opening them, the
//! migration of rows written before sealing (at every start) and re-sealing everything under a
//! new key (`civkey-server key rotate`).
//!
//! Sealed: the citizens' and clerks' TOTP seeds, the citizens' BOK hashes (an Argon2id hash of a
//! 4–10 digit BOK cracks offline in minutes; sealed, it cannot even be tried without the key), the
//! ID-token signing keys and the server secrets (the pairwise-subject key).

use sqlx::Row;
use zeroize::Zeroizing;

use super::kek::{place, sealed_key_id, Kek, KekError};
use super::{Store, StoreError};

/// Every sealed column: table, column, the column that names the row, and `table.column` (the
/// row's place, bound into the seal, starts with it).
pub(crate) const SEALED: &[(&str, &str, &str, &str)] = &[
    ("citizens", "totp_secret", "id", "citizens.totp_secret"),
    ("citizens", "bok_hash", "id", "citizens.bok_hash"),
    ("clerks", "totp_secret", "id", "clerks.totp_secret"),
    (
        "signing_keys",
        "private_pkcs8",
        "id",
        "signing_keys.private_pkcs8",
    ),
    ("server_secrets", "value", "name", "server_secrets.value"),
];

/// The server secret whose sealed value tells at start whether the key given is the database's.
const KEY_CHECK: &str = "kek_check";
const KEY_CHECK_VALUE: &str = "civkey key check v1";

impl Store {
    /// `plain` sealed for `table_column` (`"citizens.totp_secret"`) of the row `row`.
    pub(crate) fn seal(
        &self,
        table_column: &str,
        row: &str,
        plain: &str,
    ) -> Result<String, StoreError> {
        Ok(self.kek.seal(&place(table_column, row), plain.as_bytes())?)
    }

    /// The value stored at `table_column` of `row`, opened.
    pub(crate) fn unseal(
        &self,
        table_column: &'static str,
        row: &str,
        stored: &str,
    ) -> Result<String, StoreError> {
        opened(&self.kek, table_column, row, stored)
    }

    /// [`Store::unseal`] of a value that may be absent.
    pub(crate) fn unseal_opt(
        &self,
        table_column: &'static str,
        row: &str,
        stored: Option<String>,
    ) -> Result<Option<String>, StoreError> {
        stored
            .map(|s| self.unseal(table_column, row, &s))
            .transpose()
    }

    /// At start: refuses a key that is not the database's (before changing anything), then seals,
    /// in one transaction, every value still stored in clear (rows written before sealing) and
    /// records the key check. Returns how many values it sealed.
    pub(super) async fn seal_rows_in_clear(&self) -> Result<u64, StoreError> {
        let check = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(KEY_CHECK)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = check {
            let value: String = row.try_get("value")?;
            self.unseal("server_secrets.value", KEY_CHECK, &value)?;
        } else {
            // No check value (lost, or never written): one sealed value of each column tells.
            for (table, column, _, _) in SEALED {
                let row = sqlx::query(&format!(
                    "SELECT {column} AS value FROM {table} WHERE {column} LIKE 'kek1:%' LIMIT 1"
                ))
                .fetch_optional(self.pool())
                .await?;
                let value: Option<String> = row.map(|row| row.try_get("value")).transpose()?;
                match value.as_deref().and_then(sealed_key_id) {
                    Some(found) if found != self.kek.id() => {
                        return Err(StoreError::WrongKey {
                            found: found.to_string(),
                            given: self.kek.id().to_string(),
                        })
                    }
                    _ => {}
                }
            }
        }
        let mut tx = self.begin_writing().await?;
        let sealed = self.reseal(&mut tx, &self.kek, true).await?;
        let check = self.seal("server_secrets.value", KEY_CHECK, KEY_CHECK_VALUE)?;
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(KEY_CHECK)
        .bind(check)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(sealed)
    }

    /// Re-seals every sealed value under `new`, in one transaction: afterwards the database opens
    /// with `new` only. Returns how many values it re-sealed. Every server using this database
    /// must be stopped first and started with `new` afterwards (one still running would go on
    /// writing under the old key).
    pub async fn rotate_kek(&self, new: &Kek) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let resealed = self.reseal(&mut tx, new, false).await?;
        tx.commit().await?;
        Ok(resealed)
    }

    /// Seals under `new` every value of the sealed columns (`only_clear`: only those in clear),
    /// opening sealed ones with this store's key first. Returns how many it wrote.
    async fn reseal(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        new: &Kek,
        only_clear: bool,
    ) -> Result<u64, StoreError> {
        let mut written = 0;
        for (table, column, key, table_column) in SEALED {
            let filter = if only_clear {
                format!(" AND {column} NOT LIKE 'kek1:%'")
            } else {
                String::new()
            };
            let rows = sqlx::query(&format!(
                "SELECT {key} AS row_key, {column} AS value FROM {table} \
                 WHERE {column} IS NOT NULL{filter}"
            ))
            .fetch_all(&mut **tx)
            .await?;
            for row in rows {
                let row_key: String = row.try_get("row_key")?;
                let value: String = row.try_get("value")?;
                let here = place(table_column, &row_key);
                let plain = match sealed_key_id(&value) {
                    Some(_) => self
                        .kek
                        .open(&here, &value)
                        .map_err(|e| key_error(e, &self.kek, table_column))?,
                    None => Zeroizing::new(value.clone().into_bytes()),
                };
                sqlx::query(&format!(
                    "UPDATE {table} SET {column} = $1 WHERE {key} = $2 AND {column} = $3"
                ))
                .bind(new.seal(&here, &plain)?)
                .bind(&row_key)
                .bind(&value)
                .execute(&mut **tx)
                .await?;
                written += 1;
            }
        }
        Ok(written)
    }
}

/// Opens `stored` with `kek`: another key's value is [`StoreError::WrongKey`], a broken one
/// [`StoreError::Corrupt`].
fn opened(
    kek: &Kek,
    table_column: &'static str,
    row: &str,
    stored: &str,
) -> Result<String, StoreError> {
    let text = kek
        .open_text(&place(table_column, row), stored)
        .map_err(|e| key_error(e, kek, table_column))?;
    Ok(text.as_str().to_owned())
}

fn key_error(e: KekError, kek: &Kek, column: &'static str) -> StoreError {
    match e {
        KekError::OtherKey { found, .. } => StoreError::WrongKey {
            found,
            given: kek.id().to_string(),
        },
        KekError::Broken => StoreError::Corrupt(column),
        other => StoreError::Key(other),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{temp_store, test_kek, TempDir};
    use super::super::{NewCitizen, NewClerk, SigningKeyRecord};
    use super::*;
    use crate::domain::{CitizenId, ClerkId};

    const SEED: &str = "JBSWY3DPEHPK3PXP";
    const CLERK_SEED: &str = "KRSXG5CTMVRXEZLU";
    const BOK_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

    /// A store with one of each sealed value, made through the store.
    async fn store_with_secrets() -> (Store, TempDir) {
        let (store, dir) = temp_store().await;
        store
            .insert_citizen(
                &NewCitizen {
                    id: CitizenId::from_stored("c1"),
                    username: "jana".into(),
                    full_name: "Jana".into(),
                    email: None,
                    password_hash: "x".into(),
                    totp_secret: Some(SEED.into()),
                    totp_deletion_hash: None,
                },
                0,
            )
            .await
            .unwrap();
        assert!(store.set_citizen_bok("jana", BOK_HASH).await.unwrap());
        store
            .insert_clerk(
                &NewClerk {
                    id: ClerkId::from_stored("k1"),
                    username: "eva".into(),
                    full_name: "Eva".into(),
                    office_name: "Office".into(),
                    password_hash: "x".into(),
                    totp_secret: CLERK_SEED.into(),
                },
                0,
            )
            .await
            .unwrap();
        let key = SigningKeyRecord {
            id: "kid1".into(),
            private_pkcs8: "PKCS8".into(),
            public_key: "PUB".into(),
            created_at: 0,
            retired_at: None,
            forget_after: None,
        };
        store.rotate_signing_key(&key, 0).await.unwrap();
        store
            .server_secret("pairwise_sub_key", "PAIRWISE")
            .await
            .unwrap();
        (store, dir)
    }

    /// Every sealed column's values as stored, by plain SQL.
    async fn raw_values(store: &Store) -> Vec<String> {
        let mut values = Vec::new();
        for (table, column, _, _) in SEALED {
            for row in sqlx::query(&format!(
                "SELECT {column} AS value FROM {table} WHERE {column} IS NOT NULL"
            ))
            .fetch_all(store.pool())
            .await
            .unwrap()
            {
                values.push(row.try_get::<String, _>("value").unwrap());
            }
        }
        values
    }

    /// The secrets as the store reads them.
    async fn read_back(store: &Store) -> (String, String, String, String, String) {
        let citizen = store.citizen_by_username("jana").await.unwrap().unwrap();
        let bok = store.bok_citizen(&citizen.id).await.unwrap().unwrap();
        let clerk = store.clerk_by_username("eva").await.unwrap().unwrap();
        let key = store.signing_keys(0).await.unwrap().remove(0);
        let pairwise = store
            .server_secret("pairwise_sub_key", "other")
            .await
            .unwrap();
        (
            citizen.totp_secret.unwrap(),
            bok.bok_hash.unwrap(),
            clerk.totp_secret.unwrap(),
            key.private_pkcs8,
            pairwise,
        )
    }

    fn expected() -> (String, String, String, String, String) {
        (
            SEED.into(),
            BOK_HASH.into(),
            CLERK_SEED.into(),
            "PKCS8".into(),
            "PAIRWISE".into(),
        )
    }

    async fn reopen(dir: &TempDir, kek: Kek) -> Result<Store, StoreError> {
        Store::open(&format!("sqlite://{}/civkey.db", dir.0.display()), kek).await
    }

    #[tokio::test]
    async fn every_secret_is_stored_sealed_and_read_back_in_clear() {
        let (store, _dir) = store_with_secrets().await;
        let raw = raw_values(&store).await;
        assert_eq!(raw.len(), 6, "five secrets and the key check: {raw:?}");
        for value in &raw {
            assert_eq!(sealed_key_id(value), Some(store.key_id()), "{value}");
            for secret in [SEED, CLERK_SEED, BOK_HASH, "PKCS8", "PAIRWISE"] {
                assert!(!value.contains(secret));
            }
        }
        assert_eq!(read_back(&store).await, expected());
    }

    #[tokio::test]
    async fn values_written_in_clear_before_sealing_are_sealed_at_the_next_start() {
        let (store, dir) = store_with_secrets().await;
        // As a database from before sealing: every value in clear, no key check.
        sqlx::query("DELETE FROM server_secrets WHERE name = 'kek_check'")
            .execute(store.pool())
            .await
            .unwrap();
        let (seed, bok, clerk, key, pairwise) = expected();
        for (sql, value) in [
            ("UPDATE citizens SET totp_secret = $1", seed),
            ("UPDATE citizens SET bok_hash = $1", bok),
            ("UPDATE clerks SET totp_secret = $1", clerk),
            ("UPDATE signing_keys SET private_pkcs8 = $1", key),
            ("UPDATE server_secrets SET value = $1", pairwise),
        ] {
            sqlx::query(sql)
                .bind(value)
                .execute(store.pool())
                .await
                .unwrap();
        }
        drop(store);
        let store = reopen(&dir, test_kek()).await.unwrap();
        let raw = raw_values(&store).await;
        assert_eq!(raw.len(), 6);
        assert!(
            raw.iter().all(|v| sealed_key_id(v) == Some(store.key_id())),
            "{raw:?}"
        );
        assert_eq!(read_back(&store).await, expected());
    }

    #[tokio::test]
    async fn another_key_at_start_is_refused_and_changes_nothing() {
        let (store, dir) = store_with_secrets().await;
        // One value still in clear, which a start with the right key would seal.
        sqlx::query("UPDATE citizens SET totp_secret = $1")
            .bind(SEED)
            .execute(store.pool())
            .await
            .unwrap();
        let before = raw_values(&store).await;
        drop(store);
        let err = reopen(&dir, Kek::from_bytes(&[9; 32])).await.unwrap_err();
        assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains("nothing was changed"), "{err}");
        let store = reopen(&dir, test_kek()).await.unwrap();
        // Only the value in clear changed, and only by the start with the right key.
        let after = raw_values(&store).await;
        assert_eq!(before.len(), after.len());
        assert_eq!(before.iter().zip(&after).filter(|(b, a)| b != a).count(), 1);
        assert_eq!(read_back(&store).await, expected());
    }

    #[tokio::test]
    async fn rotation_reseals_everything_and_the_old_key_opens_nothing() {
        let (store, dir) = store_with_secrets().await;
        let new = Kek::from_bytes(&[7; 32]);
        assert_eq!(store.rotate_kek(&new).await.unwrap(), 6);
        let raw = raw_values(&store).await;
        assert!(
            raw.iter().all(|v| sealed_key_id(v) == Some(new.id())),
            "{raw:?}"
        );
        let old = test_kek();
        for value in &raw {
            assert!(matches!(
                old.open("any", value),
                Err(KekError::OtherKey { .. })
            ));
        }
        drop(store);
        assert!(matches!(
            reopen(&dir, test_kek()).await.unwrap_err(),
            StoreError::WrongKey { .. }
        ));
        let store = reopen(&dir, Kek::from_bytes(&[7; 32])).await.unwrap();
        assert_eq!(read_back(&store).await, expected());
    }

    #[tokio::test]
    async fn a_sealed_value_moved_to_another_row_does_not_open() {
        let (store, _dir) = store_with_secrets().await;
        store
            .insert_citizen(
                &NewCitizen {
                    id: CitizenId::from_stored("c2"),
                    username: "petr".into(),
                    full_name: "Petr".into(),
                    email: None,
                    password_hash: "x".into(),
                    totp_secret: None,
                    totp_deletion_hash: None,
                },
                0,
            )
            .await
            .unwrap();
        // Jana's sealed BOK hash copied to Petr, whose BOK the attacker does not know.
        sqlx::query(
            "UPDATE citizens SET bok_hash = (SELECT bok_hash FROM citizens WHERE id = 'c1') \
             WHERE id = 'c2'",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let err = store
            .bok_citizen(&CitizenId::from_stored("c2"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt("citizens.bok_hash")),
            "{err}"
        );
    }
}
