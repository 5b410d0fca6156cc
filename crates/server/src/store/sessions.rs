//! Portal sessions, e-mail codes and failed-attempt counters.

use sqlx::Row;

use super::{get_u64, to_db, NewEvent, PushRows, Store, StoreError};

/// How a citizen proved who they are: the mobile key, or a means the portal knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Means {
    /// A paired device's signed approval.
    MobileKey,
    /// Password and a TOTP code from an authenticator app.
    PasswordTotp,
    /// A one-time code sent to the account's e-mail address.
    EmailCode,
}

impl Means {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Means::MobileKey => "mobile_key",
            Means::PasswordTotp => "password_totp",
            Means::EmailCode => "email_code",
        }
    }

    /// From the stored text.
    pub fn parse(text: &str) -> Result<Means, StoreError> {
        match text {
            "mobile_key" => Ok(Means::MobileKey),
            "password_totp" => Ok(Means::PasswordTotp),
            "email_code" => Ok(Means::EmailCode),
            _ => Err(StoreError::Corrupt("means")),
        }
    }
}

/// A live portal session.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// The citizen.
    pub citizen_id: String,
    /// How the session was opened.
    pub means: Means,
    /// When the citizen authenticated with that means (the session's start): an ID token's
    /// `auth_time` for a login this session approves.
    pub authenticated_at: u64,
    /// For a session opened with the mobile key: the device that approved it.
    pub device_id: Option<String>,
    /// The session's anti-forgery token.
    pub csrf_token: String,
    /// When it expires.
    pub expires_at: u64,
}

impl Store {
    /// Starts a portal session (the token is stored only as its hash), with its login
    /// notification in the same transaction: a session is never opened unannounced. Returns how
    /// many pushes the notification queued.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_web_session(
        &self,
        token_hash: &str,
        citizen_id: &str,
        means: Means,
        csrf_token: &str,
        now: u64,
        expires_at: u64,
        notification: Option<(NewEvent<'_>, PushRows<'_>)>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, citizen_id, means, csrf_token, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(citizen_id)
        .bind(means.as_str())
        .bind(csrf_token)
        .bind(to_db(now))
        .bind(to_db(expires_at))
        .execute(&mut *tx)
        .await?;
        let mut queued = 0;
        if let Some((event, pushes)) = &notification {
            queued = super::notify::insert_event_in(&mut tx, event, pushes)
                .await?
                .1;
        }
        tx.commit().await?;
        Ok(queued)
    }

    /// The unexpired session with this token hash.
    pub async fn web_session(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<WebSession>, StoreError> {
        let row = sqlx::query(
            "SELECT citizen_id, means, csrf_token, created_at, expires_at, device_id \
             FROM web_sessions \
             WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_db(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(WebSession {
                citizen_id: r.try_get("citizen_id")?,
                means: Means::parse(&r.try_get::<String, _>("means")?)?,
                csrf_token: r.try_get("csrf_token")?,
                authenticated_at: get_u64(&r, "created_at")?,
                device_id: r.try_get("device_id")?,
                expires_at: get_u64(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    /// Records the device whose approval opened the session `token_hash`.
    pub async fn set_session_device(
        &self,
        token_hash: &str,
        device_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET device_id = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(device_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends a session (log out).
    pub async fn delete_web_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Failures counted in `bucket` in its current window (one that started after `window_start`).
    pub async fn failures(
        &self,
        bucket: &str,
        window_start: u64,
    ) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query("SELECT window_start, failures FROM rate_limits WHERE bucket = $1")
            .bind(bucket)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => {
                let started = get_u64(&r, "window_start")?;
                let count = get_u64(&r, "failures")?;
                Ok(if started > window_start {
                    (count, started)
                } else {
                    (0, started)
                })
            }
            None => Ok((0, 0)),
        }
    }

    /// Counts one failure in `bucket`; a window that started at or before `window_start` is over, and
    /// a new one starts at `now`.
    pub async fn record_failure(
        &self,
        bucket: &str,
        now: u64,
        window_start: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO rate_limits (bucket, window_start, failures) VALUES ($1, $2, 1) \
             ON CONFLICT (bucket) DO UPDATE SET \
               failures = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.failures + 1 ELSE 1 END, \
               window_start = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.window_start ELSE $2 END",
        )
        .bind(bucket)
        .bind(to_db(now))
        .bind(to_db(window_start))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets the failures of `bucket` (after a successful login).
    pub async fn clear_failures(&self, bucket: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM rate_limits WHERE bucket = $1")
            .bind(bucket)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
