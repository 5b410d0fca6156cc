//! Citizens and their existing means of logging in.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{get_id, get_opt_u64, get_u64, to_db, unique, Store, StoreError};
use crate::domain::CitizenId;

/// A citizen to create.
#[derive(Debug, Clone)]
pub struct NewCitizen {
    /// Random id (base64url).
    pub id: CitizenId,
    /// Login name, unique.
    pub username: String,
    /// Full name, shown in the portal and to services.
    pub full_name: String,
    /// E-mail address for codes and notifications.
    pub email: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// TOTP secret in base32, when enrolled.
    pub totp_secret: Option<String>,
    /// SHA-256 (hex) of the one-time deletion code that removes the TOTP enrolment.
    pub totp_deletion_hash: Option<String>,
}

/// A citizen as stored.
#[derive(Clone)]
pub struct CitizenRecord {
    /// Random id (base64url).
    pub id: CitizenId,
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// TOTP secret in base32, when enrolled.
    pub totp_secret: Option<String>,
    /// The last TOTP time step accepted (a code is accepted once).
    pub totp_last_step: Option<u64>,
    /// SHA-256 (hex) of the deletion code.
    pub totp_deletion_hash: Option<String>,
    /// When the citizen was created.
    pub created_at: u64,
}

impl std::fmt::Debug for CitizenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CitizenRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("totp_enrolled", &self.totp_secret.is_some())
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str =
    "id, username, full_name, email, password_hash, totp_secret, totp_last_step, \
                       totp_deletion_hash, created_at";

fn read(store: &Store, row: &AnyRow) -> Result<CitizenRecord, StoreError> {
    let id: CitizenId = get_id(row, "id")?;
    Ok(CitizenRecord {
        totp_secret: store.unseal_opt(
            "citizens.totp_secret",
            id.as_str(),
            row.try_get("totp_secret")?,
        )?,
        id,
        username: row.try_get("username")?,
        full_name: row.try_get("full_name")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        totp_last_step: get_opt_u64(row, "totp_last_step")?,
        totp_deletion_hash: row.try_get("totp_deletion_hash")?,
        created_at: get_u64(row, "created_at")?,
    })
}

impl Store {
    /// Creates a citizen; [`StoreError::Duplicate`] when the username is taken.
    pub async fn insert_citizen(&self, c: &NewCitizen, now: u64) -> Result<(), StoreError> {
        let totp_secret = c
            .totp_secret
            .as_deref()
            .map(|secret| self.seal("citizens.totp_secret", c.id.as_str(), secret))
            .transpose()?;
        sqlx::query(
            "INSERT INTO citizens (id, username, full_name, email, phone, password_hash, totp_secret, \
             totp_last_step, totp_deletion_hash, created_at) \
             VALUES ($1, $2, $3, $4, NULL, $5, $6, NULL, $7, $8)",
        )
        .bind(c.id.as_str())
        .bind(&c.username)
        .bind(&c.full_name)
        .bind(&c.email)
        .bind(&c.password_hash)
        .bind(totp_secret)
        .bind(&c.totp_deletion_hash)
        .bind(to_db(now))
        .execute(self.pool())
        .await
        .map_err(unique("username"))?;
        Ok(())
    }

    /// The citizen with `username`.
    pub async fn citizen_by_username(
        &self,
        username: &str,
    ) -> Result<Option<CitizenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM citizens WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(|row| read(self, row)).transpose()
    }

    /// The citizen with `id`.
    pub async fn citizen_by_id(&self, id: &CitizenId) -> Result<Option<CitizenRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM citizens WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(|row| read(self, row)).transpose()
    }

    /// Every citizen, by username.
    pub async fn list_citizens(&self) -> Result<Vec<CitizenRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM citizens ORDER BY username"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| read(self, row)).collect()
    }

    /// Records that the TOTP code of time step `step` was used. False when that step (or a later
    /// one) was already used: a code is accepted once, and never after a newer one.
    pub async fn use_totp_step(
        &self,
        citizen_id: &CitizenId,
        step: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE citizens SET totp_last_step = $2 \
             WHERE id = $1 AND totp_secret IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(citizen_id.as_str())
        .bind(to_db(step))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes the TOTP enrolment if `deletion_hash` matches. True when removed.
    pub async fn remove_totp(
        &self,
        citizen_id: &CitizenId,
        deletion_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE citizens SET totp_secret = NULL, totp_last_step = NULL, totp_deletion_hash = NULL \
             WHERE id = $1 AND totp_deletion_hash = $2",
        )
        .bind(citizen_id.as_str())
        .bind(deletion_hash)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::temp_store;
    use super::*;

    fn c1() -> CitizenId {
        CitizenId::from_stored("c1")
    }

    fn jana() -> NewCitizen {
        NewCitizen {
            id: c1(),
            username: "jana".into(),
            full_name: "Jana Nováková".into(),
            email: Some("jana@example.cz".into()),
            password_hash: "$argon2id$…".into(),
            totp_secret: Some("JBSWY3DPEHPK3PXP".into()),
            totp_deletion_hash: Some("abc".into()),
        }
    }

    #[tokio::test]
    async fn a_citizen_is_stored_and_found_by_name_and_id() {
        let (store, _dir) = temp_store().await;
        store.insert_citizen(&jana(), 100).await.unwrap();
        let by_name = store.citizen_by_username("jana").await.unwrap().unwrap();
        assert_eq!(by_name.full_name, "Jana Nováková");
        assert_eq!(by_name.created_at, 100);
        assert!(store.citizen_by_id(&c1()).await.unwrap().is_some());
        assert!(store.citizen_by_username("petr").await.unwrap().is_none());
        assert_eq!(store.list_citizens().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_taken_username_is_refused() {
        let (store, _dir) = temp_store().await;
        store.insert_citizen(&jana(), 100).await.unwrap();
        let mut again = jana();
        again.id = CitizenId::from_stored("c2");
        assert!(matches!(
            store.insert_citizen(&again, 100).await,
            Err(StoreError::Duplicate("username"))
        ));
    }

    #[tokio::test]
    async fn a_totp_step_is_accepted_once_and_never_after_a_newer_one() {
        let (store, _dir) = temp_store().await;
        store.insert_citizen(&jana(), 100).await.unwrap();
        assert!(store.use_totp_step(&c1(), 10).await.unwrap());
        assert!(!store.use_totp_step(&c1(), 10).await.unwrap());
        assert!(!store.use_totp_step(&c1(), 9).await.unwrap());
        assert!(store.use_totp_step(&c1(), 11).await.unwrap());
    }

    #[tokio::test]
    async fn totp_is_removed_only_with_the_right_deletion_code() {
        let (store, _dir) = temp_store().await;
        store.insert_citizen(&jana(), 100).await.unwrap();
        assert!(!store.remove_totp(&c1(), "wrong").await.unwrap());
        assert!(store.remove_totp(&c1(), "abc").await.unwrap());
        assert!(store
            .citizen_by_id(&c1())
            .await
            .unwrap()
            .unwrap()
            .totp_secret
            .is_none());
    }
}
