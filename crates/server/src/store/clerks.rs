//! Office clerks and their counter sessions: a role of its own, in tables of its own, so a clerk's
//! session can never be read as a citizen's or the reverse.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{get_id, get_u64, to_db, unique, Store, StoreError};
use crate::domain::ClerkId;

/// A clerk to create.
#[derive(Clone)]
pub struct NewClerk {
    /// Random id (base64url).
    pub id: ClerkId,
    /// Login name, unique among clerks.
    pub username: String,
    /// Full name, shown on the counter page.
    pub full_name: String,
    /// The office the clerk works at, shown on the citizen's BOK-pad.
    pub office_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The TOTP secret (base32): a secret, never logged or in `Debug`.
    pub totp_secret: String,
}

impl std::fmt::Debug for NewClerk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewClerk")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("office_name", &self.office_name)
            .finish_non_exhaustive()
    }
}

/// A clerk as stored.
#[derive(Clone)]
pub struct ClerkRecord {
    /// Random id.
    pub id: ClerkId,
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Office name.
    pub office_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The TOTP secret (base32); `None` for clerks added before version 13, who cannot log in
    /// until `civkey-server clerk totp-reset`. A secret, never logged or in `Debug`.
    pub totp_secret: Option<String>,
    /// When the clerk was added.
    pub created_at: u64,
}

impl std::fmt::Debug for ClerkRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("office_name", &self.office_name)
            .finish_non_exhaustive()
    }
}

/// A live counter session, with the clerk it belongs to.
#[derive(Debug, Clone)]
pub struct ClerkSession {
    /// The clerk.
    pub clerk_id: ClerkId,
    /// The clerk's login name.
    pub username: String,
    /// The clerk's full name.
    pub full_name: String,
    /// The clerk's office.
    pub office_name: String,
    /// The session's anti-forgery token.
    pub csrf_token: String,
    /// When it expires.
    pub expires_at: u64,
}

const COLUMNS: &str =
    "id, username, full_name, office_name, password_hash, totp_secret, created_at";

fn read(store: &Store, row: &AnyRow) -> Result<ClerkRecord, StoreError> {
    let id: ClerkId = get_id(row, "id")?;
    Ok(ClerkRecord {
        totp_secret: store.unseal_opt(
            "clerks.totp_secret",
            id.as_str(),
            row.try_get("totp_secret")?,
        )?,
        id,
        username: row.try_get("username")?,
        full_name: row.try_get("full_name")?,
        office_name: row.try_get("office_name")?,
        password_hash: row.try_get("password_hash")?,
        created_at: get_u64(row, "created_at")?,
    })
}

impl Store {
    /// Creates a clerk; [`StoreError::Duplicate`] when the username is taken.
    pub async fn insert_clerk(&self, c: &NewClerk, now: u64) -> Result<(), StoreError> {
        let totp_secret = self.seal("clerks.totp_secret", c.id.as_str(), &c.totp_secret)?;
        sqlx::query(
            "INSERT INTO clerks \
             (id, username, full_name, office_name, password_hash, totp_secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.id.as_str())
        .bind(&c.username)
        .bind(&c.full_name)
        .bind(&c.office_name)
        .bind(&c.password_hash)
        .bind(totp_secret)
        .bind(to_db(now))
        .execute(self.pool())
        .await
        .map_err(unique("username"))?;
        Ok(())
    }

    /// The clerk with `username`.
    pub async fn clerk_by_username(
        &self,
        username: &str,
    ) -> Result<Option<ClerkRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM clerks WHERE username = $1"))
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(|row| read(self, row)).transpose()
    }

    /// Marks the TOTP time step `step` used by the clerk: true if it is later than every step
    /// used before (so each code counts once), false otherwise.
    pub async fn use_clerk_totp_step(
        &self,
        clerk_id: &ClerkId,
        step: u64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE clerks SET totp_last_step = $2 \
             WHERE id = $1 AND totp_secret IS NOT NULL \
             AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(clerk_id.as_str())
        .bind(to_db(step))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives the clerk `username` a new TOTP secret (the old authenticator stops working) and
    /// ends the clerk's counter sessions. False when there is no such clerk.
    pub async fn reset_clerk_totp(
        &self,
        username: &str,
        totp_secret: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query("SELECT id FROM clerks WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let id: String = row.try_get("id")?;
        sqlx::query("UPDATE clerks SET totp_secret = $2, totp_last_step = NULL WHERE id = $1")
            .bind(&id)
            .bind(self.seal("clerks.totp_secret", &id, totp_secret)?)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM clerk_sessions WHERE clerk_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every clerk, by username.
    pub async fn list_clerks(&self) -> Result<Vec<ClerkRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM clerks ORDER BY username"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| read(self, row)).collect()
    }

    /// Starts a counter session (the token is stored only as its hash).
    pub async fn insert_clerk_session(
        &self,
        token_hash: &str,
        clerk_id: &ClerkId,
        csrf_token: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO clerk_sessions (token_hash, clerk_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(clerk_id.as_str())
        .bind(csrf_token)
        .bind(to_db(now))
        .bind(to_db(expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The unexpired counter session with this token hash.
    pub async fn clerk_session(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<ClerkSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.clerk_id, s.csrf_token, s.expires_at, c.username, c.full_name, c.office_name \
             FROM clerk_sessions s JOIN clerks c ON c.id = s.clerk_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_db(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(ClerkSession {
                clerk_id: get_id(&r, "clerk_id")?,
                username: r.try_get("username")?,
                full_name: r.try_get("full_name")?,
                office_name: r.try_get("office_name")?,
                csrf_token: r.try_get("csrf_token")?,
                expires_at: get_u64(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    /// Ends a counter session (log out), and forgets every expired one.
    pub async fn delete_clerk_session(&self, token_hash: &str, now: u64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM clerk_sessions WHERE token_hash = $1 OR expires_at <= $2")
            .bind(token_hash)
            .bind(to_db(now))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
