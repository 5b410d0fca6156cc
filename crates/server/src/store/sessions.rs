//! Portal sessions, e-mail codes, attempt limits and the fixed-window counters of onboarding starts.

use sqlx::Row;

use super::{get_id, get_opt_id, get_u64, to_db, NewEvent, PushRows, Store, StoreError};
use crate::domain::CitizenId;
use civkey_proto::ids::DeviceId;

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
    pub citizen_id: CitizenId,
    /// How the session was opened.
    pub means: Means,
    /// When the citizen authenticated with that means (the session's start): an ID token's
    /// `auth_time` for a login this session approves.
    pub authenticated_at: u64,
    /// For a session opened with the mobile key: the device that approved it.
    pub device_id: Option<DeviceId>,
    /// The session's anti-forgery token.
    pub csrf_token: String,
    /// When it expires.
    pub expires_at: u64,
}

/// How the attempts of one bucket are limited: the first `free` come at once; after that each
/// must wait `first_wait` seconds after the last one, doubling with every attempt up to
/// `max_wait`. A bucket quiet for `memory` seconds starts again from nothing. Nothing is ever
/// blocked for longer than `max_wait`, so whoever makes attempts in someone else's name can slow
/// them down, never lock them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimit {
    /// Attempts without any wait.
    pub free: u64,
    /// The wait after the last free attempt, in seconds (at least 1).
    pub first_wait: u64,
    /// The longest wait, in seconds.
    pub max_wait: u64,
    /// After this many quiet seconds the count starts again.
    pub memory: u64,
}

impl AttemptLimit {
    /// How long after the last of `attempts` attempts the next one may be made.
    pub fn wait_after(&self, attempts: u64) -> u64 {
        if attempts < self.free {
            return 0;
        }
        let doublings = attempts - self.free;
        if doublings >= self.doublings_to_max() {
            self.max_wait
        } else {
            self.first_wait << doublings
        }
    }

    /// How many doublings of the first wait reach the longest (below that, no doubled wait is
    /// longer than `max_wait`; the SQL uses it so that it never has to shift far).
    fn doublings_to_max(&self) -> u64 {
        let mut wait = self.first_wait.max(1);
        let mut doublings = 0;
        while wait < self.max_wait && doublings < 62 {
            wait <<= 1;
            doublings += 1;
        }
        doublings
    }
}

/// What reserving an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Counted; go ahead and verify.
    Granted,
    /// Not counted, and nothing may be verified: wait this many seconds.
    Wait(u64),
}

/// Reserves one attempt in a bucket, counting and deciding in one statement: a new bucket starts
/// at one; a bucket quiet since $3 starts again at one; otherwise the attempt is counted only if
/// fewer than $4 were made or the last one was long enough ago ($5 seconds after the last free
/// one, doubling, at most $7 from $6 doublings on). A refused attempt changes nothing (no row is
/// returned), so refused requests never lengthen anyone's wait.
const RESERVE_ATTEMPT: &str = "INSERT INTO attempt_limits (bucket, attempts, last_at) VALUES ($1, 1, $2) \
     ON CONFLICT (bucket) DO UPDATE SET \
       attempts = CASE WHEN attempt_limits.last_at <= $3 THEN 1 ELSE attempt_limits.attempts + 1 END, \
       last_at = $2 \
     WHERE attempt_limits.last_at <= $3 \
        OR attempt_limits.attempts < $4 \
        OR attempt_limits.last_at + CASE WHEN attempt_limits.attempts - $4 >= $6 THEN $7 \
             ELSE $5 << CAST(attempt_limits.attempts - $4 AS INTEGER) END <= $2 \
     RETURNING attempts";

impl Store {
    /// Starts a portal session (the token is stored only as its hash), with its login
    /// notification in the same transaction: a session is never opened unannounced. Returns how
    /// many pushes the notification queued.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_web_session(
        &self,
        token_hash: &str,
        citizen_id: &CitizenId,
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
        .bind(citizen_id.as_str())
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
                citizen_id: get_id(&r, "citizen_id")?,
                means: Means::parse(&r.try_get::<String, _>("means")?)?,
                csrf_token: r.try_get("csrf_token")?,
                authenticated_at: get_u64(&r, "created_at")?,
                device_id: get_opt_id(&r, "device_id")?,
                expires_at: get_u64(&r, "expires_at")?,
            })
        })
        .transpose()
    }

    /// Records the device whose approval opened the session `token_hash`.
    pub async fn set_session_device(
        &self,
        token_hash: &str,
        device_id: &DeviceId,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE web_sessions SET device_id = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(device_id.to_text())
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

    /// Reserves one attempt in `bucket` under `limit` at `now`, before anything is verified: either
    /// it is counted (and the caller may verify), or nothing changes and the answer says how long
    /// to wait. Two instances on one database cannot both take the last free attempt.
    pub async fn reserve_attempt(
        &self,
        bucket: &str,
        limit: &AttemptLimit,
        now: u64,
    ) -> Result<Reservation, StoreError> {
        let granted = sqlx::query(RESERVE_ATTEMPT)
            .bind(bucket)
            .bind(to_db(now))
            .bind(to_db(now.saturating_sub(limit.memory)))
            .bind(to_db(limit.free))
            .bind(to_db(limit.first_wait.max(1)))
            .bind(to_db(limit.doublings_to_max()))
            .bind(to_db(limit.max_wait))
            .fetch_optional(self.pool())
            .await?;
        if granted.is_some() {
            return Ok(Reservation::Granted);
        }
        let row = sqlx::query("SELECT attempts, last_at FROM attempt_limits WHERE bucket = $1")
            .bind(bucket)
            .fetch_optional(self.pool())
            .await?;
        let wait = match row {
            Some(r) => {
                let attempts = get_u64(&r, "attempts")?;
                let last_at = get_u64(&r, "last_at")?;
                (last_at + limit.wait_after(attempts)).saturating_sub(now)
            }
            // Cleared by a success in the meantime.
            None => 0,
        };
        Ok(Reservation::Wait(wait.max(1)))
    }

    /// Gives back one reserved attempt of `bucket` (it turned out not to be a failure).
    pub async fn refund_attempt(&self, bucket: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE attempt_limits SET attempts = attempts - 1 WHERE bucket = $1 AND attempts > 0",
        )
        .bind(bucket)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets the attempts of `bucket` (after a successful login).
    pub async fn clear_attempts(&self, bucket: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM attempt_limits WHERE bucket = $1")
            .bind(bucket)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Remembers a browser that logged in to `account` (a hash of the username) by its token's
    /// hash, until `expires_at`.
    pub async fn insert_known_browser(
        &self,
        token_hash: &str,
        account: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO known_browsers (token_hash, account, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(account)
        .bind(to_db(now))
        .bind(to_db(expires_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The account (hash of the username) of an unexpired known browser.
    pub async fn known_browser_account(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT account FROM known_browsers WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_db(now))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get("account")).transpose()?)
    }

    /// Counts one event in `bucket`'s fixed window and returns the window's count with it and
    /// when the window started; a window that started at or before `window_start` is over, and a
    /// new one starts at `now`.
    ///
    /// On PostgreSQL the count is committed without waiting for the WAL's flush to disk: a busy
    /// bucket (one service's, which every authorization request of it counts in) is one row, and
    /// its lock is held until the commit, so waiting for the flush would let through one request
    /// per disk flush across all instances. A count lost in a crash right after it is harmless.
    /// The setting is made by the statement itself (`set_config(…, true)` lasts until the end of
    /// its transaction, the statement's own), so the count stays one round trip.
    pub async fn count_in_window(
        &self,
        bucket: &str,
        now: u64,
        window_start: u64,
    ) -> Result<(u64, u64), StoreError> {
        let values = if self.sqlite {
            "VALUES ($1, $2, 1)"
        } else {
            "SELECT $1, $2, 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS s"
        };
        let row = sqlx::query(&format!(
            "INSERT INTO rate_limits (bucket, window_start, failures) {values} \
             ON CONFLICT (bucket) DO UPDATE SET \
               failures = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.failures + 1 ELSE 1 END, \
               window_start = CASE WHEN rate_limits.window_start > $3 THEN rate_limits.window_start ELSE $2 END \
             RETURNING failures, window_start"
        ))
        .bind(bucket)
        .bind(to_db(now))
        .bind(to_db(window_start))
        .fetch_one(self.pool())
        .await?;
        Ok((get_u64(&row, "failures")?, get_u64(&row, "window_start")?))
    }
}
