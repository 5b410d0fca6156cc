//! Login requests (OpenID Connect authorization requests answered with the mobile key), the
//! authorization codes and access tokens they lead to, and the citizen's login history.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::notify::{NewEvent, PushRows};
use super::{
    get_id, get_opt_id, get_opt_u64, get_stored, get_u64, to_db, Means, Store, StoreError,
};
use crate::domain::{CitizenId, ClientId, LoginStatus};
use civkey_proto::ids::{DeviceId, LoginRequestId};

/// A login request to create at the authorization endpoint.
#[derive(Debug, Clone)]
pub struct NewLoginRequest {
    /// The request id.
    pub id: LoginRequestId,
    /// The asking service.
    pub client_id: ClientId,
    /// Where the browser goes back (already matched exactly against the client's list).
    pub redirect_uri: String,
    /// The scopes asked for.
    pub scope: String,
    /// The service's `state`.
    pub state: Option<String>,
    /// The service's `nonce`.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// The QR secret (base64url); never leaves the server.
    pub qr_secret: String,
    /// SHA-256 of the same-device launch token.
    pub launch_token_hash: String,
    /// The challenge devices sign (base64url).
    pub challenge: String,
    /// When it started.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
    /// SHA-256 of the cookie set in the browser that asked (the request belongs to it).
    pub browser_hash: String,
    /// The service asked for a fresh authentication (`prompt=login`, `max_age=0`).
    pub fresh_login: bool,
    /// The service's `max_age`, in seconds.
    pub max_age: Option<u64>,
    /// The weakest `acr` the service accepts (from `acr_values`).
    pub min_acr: Option<String>,
}

/// A login request as stored.
#[derive(Clone)]
pub struct LoginRecord {
    /// The request id.
    pub id: LoginRequestId,
    /// The asking service.
    pub client_id: ClientId,
    /// Where the browser goes back.
    pub redirect_uri: String,
    /// The scopes.
    pub scope: String,
    /// The service's `state`.
    pub state: Option<String>,
    /// The service's `nonce`.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// The QR secret (base64url).
    pub qr_secret: String,
    /// The challenge devices sign.
    pub challenge: String,
    /// Where it stands (expiry is read from `expires_at`).
    pub status: LoginStatus,
    /// When it started.
    pub created_at: u64,
    /// When it expires.
    pub expires_at: u64,
    /// The device that opened it.
    pub device_id: Option<DeviceId>,
    /// That device's citizen.
    pub citizen_id: Option<CitizenId>,
    /// When it was approved or denied.
    pub decided_at: Option<u64>,
    /// How it was approved.
    pub means: Option<Means>,
    /// When the authorization code was exchanged.
    pub code_used_at: Option<u64>,
    /// SHA-256 of the asking browser's cookie (`None` for requests older than schema 10).
    pub browser_hash: Option<String>,
    /// The service asked for a fresh authentication.
    pub fresh_login: bool,
    /// The service's `max_age`, in seconds.
    pub max_age: Option<u64>,
    /// The weakest `acr` the service accepts.
    pub min_acr: Option<String>,
    /// When the citizen authenticated (the ID token's `auth_time`), once approved.
    pub auth_time: Option<u64>,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("status", &self.status)
            .field("expires_at", &self.expires_at)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

/// One line of the citizen's login history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginHistoryEntry {
    /// The service.
    pub service_name: String,
    /// How the citizen logged in.
    pub means: Means,
    /// The device, for the mobile key.
    pub device_id: Option<DeviceId>,
    /// When.
    pub at: u64,
}

const COLUMNS: &str = "id, client_id, redirect_uri, scope, state, nonce, code_challenge, \
     qr_secret, challenge, status, created_at, expires_at, device_id, citizen_id, decided_at, \
     means, code_used_at, browser_hash, fresh_login, max_age, min_acr, auth_time";

fn read(row: &AnyRow) -> Result<LoginRecord, StoreError> {
    Ok(LoginRecord {
        id: get_id(row, "id")?,
        client_id: get_id(row, "client_id")?,
        redirect_uri: row.try_get("redirect_uri")?,
        scope: row.try_get("scope")?,
        state: row.try_get("state")?,
        nonce: row.try_get("nonce")?,
        code_challenge: row.try_get("code_challenge")?,
        qr_secret: row.try_get("qr_secret")?,
        challenge: row.try_get("challenge")?,
        status: get_stored(row, "status")?,
        created_at: get_u64(row, "created_at")?,
        expires_at: get_u64(row, "expires_at")?,
        device_id: get_opt_id(row, "device_id")?,
        citizen_id: get_opt_id(row, "citizen_id")?,
        decided_at: get_opt_u64(row, "decided_at")?,
        means: row
            .try_get::<Option<String>, _>("means")?
            .map(|m| Means::parse(&m))
            .transpose()?,
        code_used_at: get_opt_u64(row, "code_used_at")?,
        browser_hash: row.try_get("browser_hash")?,
        fresh_login: get_u64(row, "fresh_login")? != 0,
        max_age: get_opt_u64(row, "max_age")?,
        min_acr: row.try_get("min_acr")?,
        auth_time: get_opt_u64(row, "auth_time")?,
    })
}

/// A valid access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The service it was issued to.
    pub client_id: ClientId,
    /// The citizen.
    pub citizen_id: CitizenId,
    /// The scopes granted.
    pub scope: String,
    /// The citizen's name.
    pub full_name: String,
}

/// The device holding a login request, as the decision needs it.
#[derive(Debug, Clone)]
pub struct LoginHolder {
    /// Its citizen.
    pub citizen_id: CitizenId,
    /// Its name (for the login notification).
    pub name: String,
    /// Its public key (base64url SEC1).
    pub public_key: String,
    /// When it was disconnected, if it was.
    pub disconnected_at: Option<u64>,
    /// When it was last used, if it was.
    pub last_used_at: Option<u64>,
}

/// An approval to record: the code the service will exchange, and the history line.
#[derive(Debug, Clone)]
pub struct Approval<'a> {
    /// SHA-256 of the authorization code.
    pub code_hash: &'a str,
    /// When the code expires.
    pub code_expires_at: u64,
    /// Whether to record the device's "last used" (not when it was recorded a moment ago).
    pub touch_device: bool,
    /// The login notification to write in the same transaction.
    pub notification: Option<(NewEvent<'a>, PushRows<'a>)>,
    /// The history line's id.
    pub history_id: &'a str,
    /// The service's name, as the history shows it.
    pub service_name: &'a str,
}

impl Store {
    /// Creates a login request.
    pub async fn insert_login_request(&self, r: &NewLoginRequest) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO login_requests (id, client_id, redirect_uri, scope, state, nonce, \
             code_challenge, qr_secret, launch_token_hash, challenge, status, created_at, \
             expires_at, browser_hash, fresh_login, max_age, min_acr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'waiting', $11, $12, $13, $14, $15, \
             $16)",
        )
        .bind(r.id.to_text())
        .bind(r.client_id.as_str())
        .bind(&r.redirect_uri)
        .bind(&r.scope)
        .bind(&r.state)
        .bind(&r.nonce)
        .bind(&r.code_challenge)
        .bind(&r.qr_secret)
        .bind(&r.launch_token_hash)
        .bind(&r.challenge)
        .bind(to_db(r.created_at))
        .bind(to_db(r.expires_at))
        .bind(&r.browser_hash)
        .bind(i64::from(r.fresh_login))
        .bind(r.max_age.map(to_db))
        .bind(&r.min_acr)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The login request `id`.
    pub async fn login_request(
        &self,
        id: &LoginRequestId,
    ) -> Result<Option<LoginRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM login_requests WHERE id = $1"
        ))
        .bind(id.to_text())
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(read)
        .transpose()
    }

    /// A device opens the request (it scanned the code): `waiting` → `opened`, or the same device
    /// opening it again. With `launch_token_hash`, the token must match and is used up. Returns
    /// whether this device now holds the request.
    pub async fn open_login_request(
        &self,
        id: &LoginRequestId,
        device_id: &DeviceId,
        citizen_id: &CitizenId,
        launch_token_hash: Option<&str>,
        now: u64,
    ) -> Result<bool, StoreError> {
        let done = match launch_token_hash {
            None => {
                sqlx::query(
                    "UPDATE login_requests SET status = 'opened', device_id = $2, citizen_id = $3 \
                     WHERE id = $1 AND expires_at > $4 \
                     AND (status = 'waiting' OR (status = 'opened' AND device_id = $2))",
                )
                .bind(id.to_text())
                .bind(device_id.to_text())
                .bind(citizen_id.as_str())
                .bind(to_db(now))
                .execute(self.pool())
                .await?
            }
            Some(hash) => sqlx::query(
                "UPDATE login_requests SET status = 'opened', device_id = $2, citizen_id = $3, \
                     launch_token_hash = NULL \
                     WHERE id = $1 AND expires_at > $4 AND launch_token_hash = $5 \
                     AND (status = 'waiting' OR (status = 'opened' AND device_id = $2))",
            )
            .bind(id.to_text())
            .bind(device_id.to_text())
            .bind(citizen_id.as_str())
            .bind(to_db(now))
            .bind(hash)
            .execute(self.pool())
            .await?,
        };
        Ok(done.rows_affected() == 1)
    }

    /// Records the opening device's decision, once: `opened` → `approved` (with the code, the
    /// history line, the device's last use and the login notification, in one transaction) or
    /// `denied`. `None` when it was decided already; else how many pushes were queued.
    pub async fn decide_login_request(
        &self,
        id: &LoginRequestId,
        device_id: &DeviceId,
        approval: Option<Approval<'_>>,
        now: u64,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut queued = 0;
        let done = match &approval {
            Some(a) => {
                sqlx::query(
                    "UPDATE login_requests SET status = 'approved', decided_at = $3, \
                     auth_time = $3, code_hash = $4, code_expires_at = $5, means = 'mobile_key' \
                     WHERE id = $1 AND device_id = $2 AND status = 'opened' AND expires_at > $3",
                )
                .bind(id.to_text())
                .bind(device_id.to_text())
                .bind(to_db(now))
                .bind(a.code_hash)
                .bind(to_db(a.code_expires_at))
                .execute(&mut *tx)
                .await?
            }
            None => {
                sqlx::query(
                    "UPDATE login_requests SET status = 'denied', decided_at = $3 \
                     WHERE id = $1 AND device_id = $2 AND status = 'opened' AND expires_at > $3",
                )
                .bind(id.to_text())
                .bind(device_id.to_text())
                .bind(to_db(now))
                .execute(&mut *tx)
                .await?
            }
        };
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        if let Some(a) = approval {
            sqlx::query(
                "INSERT INTO login_history (id, citizen_id, client_id, service_name, means, \
                 device_id, at) SELECT $1, citizen_id, client_id, $2, 'mobile_key', device_id, $3 \
                 FROM login_requests WHERE id = $4",
            )
            .bind(a.history_id)
            .bind(a.service_name)
            .bind(to_db(now))
            .bind(id.to_text())
            .execute(&mut *tx)
            .await?;
            if a.touch_device {
                sqlx::query("UPDATE devices SET last_used_at = $2 WHERE id = $1")
                    .bind(device_id.to_text())
                    .bind(to_db(now))
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some((event, pushes)) = &a.notification {
                queued = super::notify::insert_event_in(&mut tx, event, pushes)
                    .await?
                    .1;
            }
        }
        tx.commit().await?;
        Ok(Some(queued))
    }

    /// Approves a request that is still open (waiting, or opened by a device that has not decided)
    /// with a portal session's means instead of the mobile key: the code, the history line, the
    /// means and the login notification in one transaction. A device that opened it can no longer
    /// decide. Returns how many pushes the notification queued if this approval won, `None` if it
    /// came too late.
    #[allow(clippy::too_many_arguments)]
    pub async fn approve_login_request_with_session(
        &self,
        id: &LoginRequestId,
        citizen_id: &CitizenId,
        means: Means,
        authenticated_at: u64,
        approval: Approval<'_>,
        now: u64,
    ) -> Result<Option<u64>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE login_requests SET status = 'approved', decided_at = $3, citizen_id = $2, \
             means = $4, device_id = NULL, code_hash = $5, code_expires_at = $6, auth_time = $7 \
             WHERE id = $1 AND status IN ('waiting', 'opened') AND expires_at > $3",
        )
        .bind(id.to_text())
        .bind(citizen_id.as_str())
        .bind(to_db(now))
        .bind(means.as_str())
        .bind(approval.code_hash)
        .bind(to_db(approval.code_expires_at))
        .bind(to_db(authenticated_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO login_history (id, citizen_id, client_id, service_name, means, \
             device_id, at) SELECT $1, citizen_id, client_id, $2, $3, NULL, $4 \
             FROM login_requests WHERE id = $5",
        )
        .bind(approval.history_id)
        .bind(approval.service_name)
        .bind(means.as_str())
        .bind(to_db(now))
        .bind(id.to_text())
        .execute(&mut *tx)
        .await?;
        let mut queued = 0;
        if let Some((event, pushes)) = &approval.notification {
            queued = super::notify::insert_event_in(&mut tx, event, pushes)
                .await?
                .1;
        }
        tx.commit().await?;
        Ok(Some(queued))
    }

    /// Uses up an authorization code: returns its request if the code is known, unused and not
    /// expired at `now`; a second use finds nothing.
    pub async fn use_authorization_code(
        &self,
        code_hash: &str,
        now: u64,
    ) -> Result<Option<LoginRecord>, StoreError> {
        // One statement: the conditional update is the single use, RETURNING reads the row.
        sqlx::query(&format!(
            "UPDATE login_requests SET code_used_at = $2 \
             WHERE code_hash = $1 AND code_used_at IS NULL AND code_expires_at > $2 \
             AND status = 'approved' RETURNING {COLUMNS}"
        ))
        .bind(code_hash)
        .bind(to_db(now))
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(read)
        .transpose()
    }

    /// A second use of an authorization code: revokes the access tokens issued from it (RFC 6749
    /// section 4.1.2: the code may have been stolen). Returns whether `code_hash` is a code that
    /// was used before.
    pub async fn revoke_tokens_of_used_code(&self, code_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let used = sqlx::query(
            "SELECT id FROM login_requests WHERE code_hash = $1 AND code_used_at IS NOT NULL",
        )
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = used else {
            return Ok(false);
        };
        let id: String = row.try_get("id")?;
        sqlx::query("DELETE FROM access_tokens WHERE login_request_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Stores an access token (by hash), issued from the login request `login_request_id`.
    pub async fn insert_access_token(
        &self,
        token_hash: &str,
        login_request_id: &LoginRequestId,
        client_id: &ClientId,
        citizen_id: &CitizenId,
        scope: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, client_id, citizen_id, scope, expires_at, \
             login_request_id) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(client_id.as_str())
        .bind(citizen_id.as_str())
        .bind(scope)
        .bind(to_db(expires_at))
        .bind(login_request_id.to_text())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A valid access token, with its citizen's name.
    pub async fn access_token(
        &self,
        token_hash: &str,
        now: u64,
    ) -> Result<Option<AccessToken>, StoreError> {
        let row = sqlx::query(
            "SELECT a.client_id, a.citizen_id, a.scope, c.full_name FROM access_tokens a \
             JOIN citizens c ON c.id = a.citizen_id \
             WHERE a.token_hash = $1 AND a.expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_db(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(AccessToken {
                client_id: get_id(&r, "client_id")?,
                citizen_id: get_id(&r, "citizen_id")?,
                scope: r.try_get("scope")?,
                full_name: r.try_get("full_name")?,
            })
        })
        .transpose()
    }

    /// The login request `id` and the device holding it, if one does (one read, for the
    /// decision).
    pub async fn login_request_and_holder(
        &self,
        id: &LoginRequestId,
    ) -> Result<Option<(LoginRecord, Option<LoginHolder>)>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("r.{c}")).collect();
            format!(
                "SELECT {}, d.public_key AS holder_public_key, \
                 d.disconnected_at AS holder_disconnected_at, d.citizen_id AS holder_citizen_id, \
                 d.name AS holder_name, d.last_used_at AS holder_last_used_at \
                 FROM login_requests r LEFT JOIN devices d ON d.id = r.device_id WHERE r.id = $1",
                columns.join(", ")
            )
        });
        let Some(row) = sqlx::query(&SQL)
            .bind(id.to_text())
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let record = read(&row)?;
        let holder = row
            .try_get::<Option<String>, _>("holder_public_key")?
            .map(|public_key| {
                Ok::<_, StoreError>(LoginHolder {
                    citizen_id: get_id(&row, "holder_citizen_id")?,
                    name: row.try_get("holder_name")?,
                    public_key,
                    disconnected_at: get_opt_u64(&row, "holder_disconnected_at")?,
                    last_used_at: get_opt_u64(&row, "holder_last_used_at")?,
                })
            })
            .transpose()?;
        Ok(Some((record, holder)))
    }

    /// The citizen's most recent logins, newest first.
    pub async fn login_history(
        &self,
        citizen_id: &CitizenId,
        limit: u32,
    ) -> Result<Vec<LoginHistoryEntry>, StoreError> {
        sqlx::query(
            "SELECT service_name, means, device_id, at FROM login_history \
             WHERE citizen_id = $1 ORDER BY at DESC, id LIMIT $2",
        )
        .bind(citizen_id.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(LoginHistoryEntry {
                service_name: row.try_get("service_name")?,
                means: Means::parse(&row.try_get::<String, _>("means")?)?,
                device_id: get_opt_id(row, "device_id")?,
                at: get_u64(row, "at")?,
            })
        })
        .collect()
    }

    /// The server-wide secret `name`, made from `fresh` the first time (every instance then reads
    /// the same value).
    pub async fn server_secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        // Read first: after the first call this is a plain read, never a write transaction.
        let existing = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        if let Some(row) = existing {
            return self.unseal_secret(name, &row.try_get::<String, _>("value")?);
        }
        sqlx::query(
            "INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(self.seal("server_secrets.value", name, fresh)?)
        .execute(self.pool())
        .await?;
        let row = sqlx::query("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        self.unseal_secret(name, &row.try_get::<String, _>("value")?)
    }

    fn unseal_secret(&self, name: &str, stored: &str) -> Result<String, StoreError> {
        self.unseal("server_secrets.value", name, stored)
    }
}
