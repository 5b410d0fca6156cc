//! Logging in to the portal with an existing means (password + TOTP code), portal sessions, and
//! the failed-attempt limits that keep guessing slow without locking anyone out for good.

use civkey_proto::events::LoginMeans;
use civkey_proto::otp::{totp, Algorithm, OtpSecret};
use civkey_proto::ErrorCode;
use rand::RngCore;
use zeroize::Zeroizing;

use super::citizens::{token_hash, verify_secret};
use super::{ServiceError, Services};
use crate::store::{Means, WebSession};

/// How long a portal session lives.
pub const SESSION_TTL_SECS: u64 = 2 * 60 * 60;
/// The window in which failed attempts are counted.
pub const FAILURE_WINDOW_SECS: u64 = 15 * 60;
/// Failed attempts per account within the window before it must wait for the window to end.
pub const MAX_FAILURES_PER_ACCOUNT: u64 = 5;
/// Failed attempts per client address within the window.
pub const MAX_FAILURES_PER_ADDRESS: u64 = 20;

/// How long an e-mail code is valid (10 minutes).
pub const EMAIL_CODE_TTL_SECS: u64 = 10 * 60;

/// The stored form of an e-mail code: bound to the citizen, so equal codes of two citizens differ.
fn email_code_hash(citizen_id: &str, code: &str) -> String {
    token_hash(&format!("{citizen_id}:{code}"))
}

/// A new portal session: the cookie's token (secret) and the session's anti-forgery token.
pub struct LoggedIn {
    /// The session cookie's value. Only its hash is stored.
    pub token: Zeroizing<String>,
    /// Put into every form of the session.
    pub csrf: String,
    /// When the session ends.
    pub expires_at: u64,
}

/// A verifiable Argon2id hash of nothing anyone knows, so an unknown username costs the same time
/// as a wrong password (no account enumeration by timing).
pub(super) const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0r3MGd4NyOqwLW1w0oz1NmgtNIF8ucxEQl0aDKcWHxo";

/// How a login by a portal session's `means` is named in its notification. `None` for the mobile
/// key: the portal opens no session with it (a mobile-key login is notified at its decision).
pub(crate) fn notified_means(means: Means) -> Option<LoginMeans> {
    match means {
        Means::PasswordTotp => Some(LoginMeans::PasswordTotp),
        Means::EmailCode => Some(LoginMeans::EmailCode),
        Means::MobileKey => None,
    }
}
#[cfg(test)]
pub(crate) const DUMMY_HASH_FOR_TESTS: &str = DUMMY_HASH;

/// The failed-attempt buckets of a request: its account (by name, so unknown names count too) and
/// its client address.
fn limit_buckets(username: &str, address: &str) -> [String; 2] {
    [
        format!("account:{}", username.to_lowercase()),
        format!("address:{address}"),
    ]
}

/// A random 128-bit token in base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    civkey_proto::ids::Nonce::from_bytes(bytes).to_text()
}

impl Services {
    /// Logs in with username, password and a current TOTP code (±1 time step, each code once).
    /// `address` is the client's address, for the per-address limit.
    pub async fn login_password_totp(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
        address: &str,
    ) -> Result<LoggedIn, ServiceError> {
        let buckets = limit_buckets(username, address);
        self.check_limits(&buckets).await?;
        let citizen = self.citizen_with_password(username, password).await?;
        let code_ok = match &citizen {
            Some(c) => {
                self.accept_totp(&c.id, c.totp_secret.as_deref(), totp_code)
                    .await?
            }
            None => false,
        };
        match citizen {
            Some(c) if code_ok => {
                self.store.clear_failures(&buckets[0]).await?;
                self.start_session(&c.id, Means::PasswordTotp).await
            }
            _ => {
                self.record_failures(&buckets).await?;
                Err(ServiceError::refused(
                    ErrorCode::WrongCredentials,
                    "wrong username, password or code",
                ))
            }
        }
    }

    /// Sends a 6-digit login code (valid 10 minutes, single use) to the citizen's e-mail through
    /// the outbox. Answers the same whether or not the account exists or has an address, so it
    /// reveals nothing; sending is limited like failed logins. `body_template` holds `{code}`.
    pub async fn send_email_code(
        &self,
        username: &str,
        address: &str,
        subject: &str,
        body_template: &str,
    ) -> Result<(), ServiceError> {
        let buckets = limit_buckets(username, address);
        self.check_limits(&buckets).await?;
        let now = self.clock.now();
        // Each request counts towards the limits, so codes cannot be requested without end.
        self.record_failures(&buckets).await?;
        let Some(citizen) = self.store.citizen_by_username(username).await? else {
            return Ok(());
        };
        let Some(email) = citizen.email.clone() else {
            return Ok(());
        };
        let code = Zeroizing::new(format!("{:06}", rand::rngs::OsRng.next_u32() % 1_000_000));
        self.store
            .set_email_code(
                &citizen.id,
                &email_code_hash(&citizen.id, &code),
                now + EMAIL_CODE_TTL_SECS,
            )
            .await?;
        let message = crate::store::OutboxMessage {
            id: random_token(),
            channel: "email".to_string(),
            recipient: email,
            subject: subject.to_string(),
            body: body_template.replace("{code}", &code),
            ..Default::default()
        };
        self.store.enqueue(&message, now).await?;
        self.signal.notify(crate::mail::OUTBOX_KEY);
        Ok(())
    }

    /// Logs in with the e-mail code: right code, within 10 minutes, once.
    pub async fn login_email_code(
        &self,
        username: &str,
        code: &str,
        address: &str,
    ) -> Result<LoggedIn, ServiceError> {
        let buckets = limit_buckets(username, address);
        self.check_limits(&buckets).await?;
        let now = self.clock.now();
        if let Some(citizen) = self.store.citizen_by_username(username).await? {
            let hash = email_code_hash(&citizen.id, code.trim());
            if self.store.take_email_code(&citizen.id, &hash, now).await? {
                self.store.clear_failures(&buckets[0]).await?;
                return self.start_session(&citizen.id, Means::EmailCode).await;
            }
        }
        self.record_failures(&buckets).await?;
        Err(ServiceError::refused(
            ErrorCode::WrongCredentials,
            "wrong or expired code",
        ))
    }

    /// Removes a lost TOTP authenticator with the deletion code shown at enrolment (and the
    /// password). Limited like failed logins; a wrong code says nothing about which part was wrong.
    pub async fn remove_totp_with_deletion_code(
        &self,
        username: &str,
        password: &str,
        deletion_code: &str,
        address: &str,
    ) -> Result<(), ServiceError> {
        let buckets = limit_buckets(username, address);
        self.check_limits(&buckets).await?;
        let removed = match self.citizen_with_password(username, password).await? {
            Some(c) => {
                let hash = token_hash(&super::citizens::normalise_code(deletion_code));
                self.store.remove_totp(&c.id, &hash).await?
            }
            None => false,
        };
        if removed {
            self.store.clear_failures(&buckets[0]).await?;
            return Ok(());
        }
        self.record_failures(&buckets).await?;
        Err(ServiceError::refused(
            ErrorCode::WrongCredentials,
            "wrong username, password or deletion code",
        ))
    }

    /// The live session for a cookie token.
    pub async fn web_session(&self, token: &str) -> Result<Option<WebSession>, ServiceError> {
        Ok(self
            .store
            .web_session(&token_hash(token), self.clock.now())
            .await?)
    }

    /// Ends the session of a cookie token.
    pub async fn logout(&self, token: &str) -> Result<(), ServiceError> {
        Ok(self.store.delete_web_session(&token_hash(token)).await?)
    }

    async fn start_session(
        &self,
        citizen_id: &str,
        means: Means,
    ) -> Result<LoggedIn, ServiceError> {
        let token = Zeroizing::new(random_token());
        let csrf = random_token();
        let now = self.clock.now();
        let expires_at = now + SESSION_TTL_SECS;
        let service_name = self.portal_service_name(citizen_id).await;
        let notification = notified_means(means)
            .map(|m| self.login_notification(citizen_id, &service_name, m))
            .transpose()?;
        let pushes_queued = self
            .store
            .insert_web_session(
                &token_hash(&token),
                citizen_id,
                means,
                &csrf,
                now,
                expires_at,
                notification.as_ref().map(|n| (n.row(), n.pushes())),
            )
            .await?;
        if notification.is_some() {
            self.event_stored(citizen_id, pushes_queued);
        }
        Ok(LoggedIn {
            token,
            csrf,
            expires_at,
        })
    }

    /// The citizen whose password `password` is, or `None`. An unknown username is checked against
    /// a dummy hash, so both cost the same Argon2id work and timing reveals no account.
    async fn citizen_with_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<crate::store::CitizenRecord>, ServiceError> {
        let citizen = self.store.citizen_by_username(username).await?;
        let hash = citizen
            .as_ref()
            .map_or(DUMMY_HASH, |c| c.password_hash.as_str());
        let password_ok = verify_secret(password, hash);
        Ok(citizen.filter(|_| password_ok))
    }

    /// Counts one failure in each bucket.
    pub(super) async fn record_failures(&self, buckets: &[String; 2]) -> Result<(), ServiceError> {
        let now = self.clock.now();
        for bucket in buckets {
            self.store
                .record_failure(bucket, now, now.saturating_sub(FAILURE_WINDOW_SECS))
                .await?;
        }
        Ok(())
    }

    /// Refuses with `rate_limited` (and the seconds to wait) when any bucket is over its limit.
    pub(super) async fn check_limits(&self, buckets: &[String; 2]) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let window_start = now.saturating_sub(FAILURE_WINDOW_SECS);
        for (bucket, limit) in buckets
            .iter()
            .zip([MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS])
        {
            let (failures, started) = self.store.failures(bucket, window_start).await?;
            if failures >= limit {
                let wait = (started + FAILURE_WINDOW_SECS).saturating_sub(now).max(1);
                return Err(ServiceError::RateLimited { retry_after: wait });
            }
        }
        Ok(())
    }

    /// Whether `code` is the TOTP code of the previous, current or next 30-second step, not used
    /// before; marks its step used.
    async fn accept_totp(
        &self,
        citizen_id: &str,
        secret: Option<&str>,
        code: &str,
    ) -> Result<bool, ServiceError> {
        match totp_step(secret, code, self.clock.now()) {
            Some(step) => Ok(self.store.use_totp_step(citizen_id, step).await?),
            None => Ok(false),
        }
    }
}

/// The time step whose code `code` is, among the previous, current and next 30-second steps at
/// `now`, under the base32 `secret`; `None` when it is none of them (or not 6 digits). Whether
/// the step was used before is for the caller to check and mark.
pub(super) fn totp_step(secret: Option<&str>, code: &str, now: u64) -> Option<u64> {
    let secret = secret.and_then(|s| OtpSecret::from_base32(s).ok())?;
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    [now.saturating_sub(30), now, now + 30]
        .into_iter()
        .map(|at| totp(secret.expose(), Algorithm::Sha1, 6, 30, at))
        .find(|expected| {
            subtle::ConstantTimeEq::ct_eq(expected.code.as_bytes(), code.as_bytes()).into()
        })
        .map(|expected| expected.step)
}
