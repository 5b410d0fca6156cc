//! Logging in to the portal with an existing means (password + TOTP code), portal sessions, and
//! the failed-attempt limits that keep guessing slow without locking anyone out for good.

use civkey_proto::events::LoginMeans;
use civkey_proto::otp::{totp, Algorithm, OtpSecret};
use civkey_proto::ErrorCode;
use rand::RngCore;
use zeroize::Zeroizing;

use super::secrets::{random_token, token_hash, verify_secret, DUMMY_HASH};
use super::{ServiceError, Services};
use crate::domain::{Channel, CitizenId};
use crate::store::{AttemptLimit, Means, OutboxMessage, Reservation, WebSession};

/// How long a portal session lives.
pub const SESSION_TTL_SECS: u64 = 2 * 60 * 60;
/// A day without attempts and a bucket's count starts again.
pub const ATTEMPT_MEMORY_SECS: u64 = 24 * 60 * 60;
/// Logging in to one account (password + TOTP, e-mail code, deletion code; a clerk's password;
/// a clerk's onboarding codes): five attempts at once, then 1 s, 2 s, 4 s … up to 5 minutes
/// after the last one. At most about 300 guesses a day, and never a lock-out longer than
/// 5 minutes: the count is taken before anything is verified, and a success clears it.
pub const ACCOUNT_LIMIT: AttemptLimit = AttemptLimit {
    free: 5,
    first_wait: 1,
    max_wait: 5 * 60,
    memory: ATTEMPT_MEMORY_SECS,
};
/// Failed attempts from one client address, whatever the account (a success gives its attempt
/// back): twenty at once, then doubling waits up to 5 minutes.
pub const ADDRESS_LIMIT: AttemptLimit = AttemptLimit {
    free: 20,
    first_wait: 1,
    max_wait: 5 * 60,
    memory: ATTEMPT_MEMORY_SECS,
};
/// Asking for an e-mail code for one username (not a failed login; limited on its own, so a
/// mailbox cannot be flooded): three at once, then 30 s, 1 min, 2 min … up to 10 minutes.
pub const EMAIL_REQUEST_LIMIT: AttemptLimit = AttemptLimit {
    free: 3,
    first_wait: 30,
    max_wait: 10 * 60,
    memory: ATTEMPT_MEMORY_SECS,
};
/// Asking for e-mail codes from one client address, whatever the username.
pub const EMAIL_REQUEST_ADDRESS_LIMIT: AttemptLimit = AttemptLimit {
    free: 20,
    first_wait: 1,
    max_wait: 10 * 60,
    memory: ATTEMPT_MEMORY_SECS,
};

/// How long a browser that logged in stays known for its account (its `civkey_known` cookie).
pub const KNOWN_BROWSER_TTL_SECS: u64 = 180 * 24 * 60 * 60;

/// How long an e-mail code is valid (10 minutes).
pub const EMAIL_CODE_TTL_SECS: u64 = 10 * 60;

/// The stored form of an e-mail code: bound to the citizen, so equal codes of two citizens differ.
fn email_code_hash(citizen_id: &CitizenId, code: &str) -> String {
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
    /// A new token for the browser's `civkey_known` cookie, when it was not known for this
    /// account yet: its later attempts at the account count in a bucket of their own.
    pub known_browser: Option<Zeroizing<String>>,
}

/// How a login by a portal session's `means` is named in its notification. `None` for the mobile
/// key: the portal opens no session with it (a mobile-key login is notified at its decision).
pub(crate) fn notified_means(means: Means) -> Option<LoginMeans> {
    match means {
        Means::PasswordTotp => Some(LoginMeans::PasswordTotp),
        Means::EmailCode => Some(LoginMeans::EmailCode),
        Means::MobileKey => None,
    }
}

/// The attempt buckets of one request with their limits: its client address first (so a request
/// refused for its address never counts against the account), then the account.
pub(super) type Buckets = [(String, AttemptLimit); 2];

/// The buckets of a login attempt of `kind` ("account", "clerk", …) at the account `name` (by
/// name, hashed, so unknown names count too and the table holds no typed text) from `address`.
pub(super) fn login_buckets(kind: &str, name: &str, address: &str) -> Buckets {
    [
        (format!("address:{address}"), ADDRESS_LIMIT),
        (
            format!("{kind}:{}", token_hash(&name.to_lowercase())),
            ACCOUNT_LIMIT,
        ),
    ]
}

/// The buckets of an e-mail code request: apart from failed logins.
fn email_request_buckets(username: &str, address: &str) -> Buckets {
    [
        (
            format!("email-address:{address}"),
            EMAIL_REQUEST_ADDRESS_LIMIT,
        ),
        (
            format!("email:{}", token_hash(&username.to_lowercase())),
            EMAIL_REQUEST_LIMIT,
        ),
    ]
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
        self.login_password_totp_in(username, password, totp_code, address, None)
            .await
    }

    /// [`Services::login_password_totp`] from a browser that sent the token of its
    /// `civkey_known` cookie: if it logged in to this account before, its attempts count in a
    /// bucket of its own instead of the account's, so nobody else's attempts make it wait.
    pub async fn login_password_totp_in(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
        address: &str,
        known_browser: Option<&str>,
    ) -> Result<LoggedIn, ServiceError> {
        let result = self
            .login_password_totp_in_attempt(username, password, totp_code, address, known_browser)
            .await;
        self.metrics
            .login(crate::metrics::LoginMeans::PasswordTotp, &result);
        result
    }

    /// The attempt [`Services::login_password_totp_in`] counts in the metrics.
    async fn login_password_totp_in_attempt(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
        address: &str,
        known_browser: Option<&str>,
    ) -> Result<LoggedIn, ServiceError> {
        let (buckets, known) = self
            .account_buckets(username, address, known_browser)
            .await?;
        self.reserve_attempt(&buckets).await?;
        let citizen = self.citizen_with_password(username, password).await;
        let citizen = self.refund_if_busy(&buckets, citizen).await?;
        let code_ok = match &citizen {
            Some(c) => {
                self.accept_totp(&c.id, c.totp_secret.as_deref(), totp_code)
                    .await?
            }
            None => false,
        };
        match citizen {
            Some(c) if code_ok => {
                self.attempt_succeeded(&buckets).await?;
                let session = self.start_session(&c.id, Means::PasswordTotp).await?;
                self.remember_browser(session, username, known).await
            }
            _ => Err(ServiceError::refused(
                ErrorCode::WrongCredentials,
                "wrong username, password or code",
            )),
        }
    }

    /// Asks for a 6-digit login code (valid 10 minutes, single use) for the citizen's e-mail.
    /// The request only queues itself in the outbox: the delivery worker looks the account up,
    /// makes the code and sends it ([`Services::email_code_message`]). So a request for a known
    /// username, one without an address and an unknown one write the same rows (two attempt
    /// counts and one outbox row) and take the same time; the answer is the same too. Requests
    /// are limited per username and per address, apart from failed logins: asking for a code
    /// is not a failed login. `body_template` holds `{code}`.
    pub async fn send_email_code(
        &self,
        username: &str,
        address: &str,
        subject: &str,
        body_template: &str,
    ) -> Result<(), ServiceError> {
        let username = username.to_lowercase();
        if super::citizens::check_username(&username).is_err() {
            // No account can have this name, as anyone can tell from the rules.
            return Ok(());
        }
        self.reserve_attempt(&email_request_buckets(&username, address))
            .await?;
        let now = self.clock.now();
        let request = OutboxMessage {
            subject: subject.to_string(),
            body: body_template.to_string(),
            // Not delivered within the code's lifetime: given up (the citizen has asked again).
            expires_at: Some(now + EMAIL_CODE_TTL_SECS),
            ..OutboxMessage::new(random_token(), Channel::EmailCode, username)
        };
        self.store.enqueue(&request, now).await?;
        self.signal.notify(crate::services::delivery::OUTBOX_KEY);
        Ok(())
    }

    /// The e-mail for a queued code request (its recipient is the username): makes the code and
    /// stores its hash (valid 10 minutes from now, replacing an older one). `None` when no account
    /// has that name or it has no e-mail address: nothing is sent. The code is never stored in
    /// the outbox.
    pub(crate) async fn email_code_message(
        &self,
        request: &OutboxMessage,
    ) -> Result<Option<OutboxMessage>, ServiceError> {
        let Some(citizen) = self.store.citizen_by_username(&request.recipient).await? else {
            return Ok(None);
        };
        let Some(email) = citizen.email.clone() else {
            return Ok(None);
        };
        let code = Zeroizing::new(format!("{:06}", rand::rngs::OsRng.next_u32() % 1_000_000));
        self.store
            .set_email_code(
                &citizen.id,
                &email_code_hash(&citizen.id, &code),
                self.clock.now() + EMAIL_CODE_TTL_SECS,
            )
            .await?;
        Ok(Some(OutboxMessage {
            channel: Channel::Email,
            recipient: email,
            body: request.body.replace("{code}", &code),
            ..request.clone()
        }))
    }

    /// Logs in with the e-mail code: right code, within 10 minutes, once.
    pub async fn login_email_code(
        &self,
        username: &str,
        code: &str,
        address: &str,
    ) -> Result<LoggedIn, ServiceError> {
        self.login_email_code_in(username, code, address, None)
            .await
    }

    /// [`Services::login_email_code`] from a browser that sent its `civkey_known` token (see
    /// [`Services::login_password_totp_in`]).
    pub async fn login_email_code_in(
        &self,
        username: &str,
        code: &str,
        address: &str,
        known_browser: Option<&str>,
    ) -> Result<LoggedIn, ServiceError> {
        let result = self
            .login_email_code_in_attempt(username, code, address, known_browser)
            .await;
        self.metrics
            .login(crate::metrics::LoginMeans::EmailCode, &result);
        result
    }

    /// The attempt [`Services::login_email_code_in`] counts in the metrics.
    async fn login_email_code_in_attempt(
        &self,
        username: &str,
        code: &str,
        address: &str,
        known_browser: Option<&str>,
    ) -> Result<LoggedIn, ServiceError> {
        let (buckets, known) = self
            .account_buckets(username, address, known_browser)
            .await?;
        self.reserve_attempt(&buckets).await?;
        let now = self.clock.now();
        if let Some(citizen) = self.store.citizen_by_username(username).await? {
            let hash = email_code_hash(&citizen.id, code.trim());
            if self.store.take_email_code(&citizen.id, &hash, now).await? {
                self.attempt_succeeded(&buckets).await?;
                let session = self.start_session(&citizen.id, Means::EmailCode).await?;
                return self.remember_browser(session, username, known).await;
            }
        }
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
        let buckets = login_buckets("account", username, address);
        self.reserve_attempt(&buckets).await?;
        let citizen = self.citizen_with_password(username, password).await;
        let removed = match self.refund_if_busy(&buckets, citizen).await? {
            Some(c) => {
                let hash = token_hash(&super::citizens::normalise_code(deletion_code));
                self.store.remove_totp(&c.id, &hash).await?
            }
            None => false,
        };
        if removed {
            self.attempt_succeeded(&buckets).await?;
            return Ok(());
        }
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

    pub(super) async fn start_session(
        &self,
        citizen_id: &CitizenId,
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
            known_browser: None,
        })
    }

    /// The buckets of a login attempt at `username` from `address`, and whether the browser is
    /// known for this account: a browser whose `civkey_known` token was issued for this account
    /// counts in its own bucket (`browser:…`, same limit as the account's); any other request in
    /// the account's (by a hash of the name, so unknown names count too).
    async fn account_buckets(
        &self,
        username: &str,
        address: &str,
        known_browser: Option<&str>,
    ) -> Result<(Buckets, bool), ServiceError> {
        let mut buckets = login_buckets("account", username, address);
        let Some(token) = known_browser.filter(|t| !t.is_empty()) else {
            return Ok((buckets, false));
        };
        let hash = token_hash(token);
        let account = self
            .store
            .known_browser_account(&hash, self.clock.now())
            .await?;
        if account.as_deref() != Some(token_hash(&username.to_lowercase()).as_str()) {
            return Ok((buckets, false));
        }
        buckets[1].0 = format!("browser:{hash}");
        Ok((buckets, true))
    }

    /// After a login from a browser not known for the account yet: remembers it, and gives the
    /// session the token for its `civkey_known` cookie.
    async fn remember_browser(
        &self,
        mut session: LoggedIn,
        username: &str,
        known: bool,
    ) -> Result<LoggedIn, ServiceError> {
        if known {
            return Ok(session);
        }
        let token = Zeroizing::new(random_token());
        let now = self.clock.now();
        self.store
            .insert_known_browser(
                &token_hash(&token),
                &token_hash(&username.to_lowercase()),
                now,
                now + KNOWN_BROWSER_TTL_SECS,
            )
            .await?;
        session.known_browser = Some(token);
        Ok(session)
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
        let password_ok = verify_secret(password, hash).await?;
        Ok(citizen.filter(|_| password_ok))
    }

    /// Reserves one attempt in each bucket, in order, before anything is verified; refuses with
    /// `rate_limited` (and the seconds to wait) when a bucket must wait, giving back what it
    /// reserved in the buckets before. Refused requests count nowhere, so they cannot lengthen
    /// anyone's wait.
    pub(super) async fn reserve_attempt(&self, buckets: &Buckets) -> Result<(), ServiceError> {
        let now = self.clock.now();
        for (i, (bucket, limit)) in buckets.iter().enumerate() {
            if let Reservation::Wait(retry_after) =
                self.store.reserve_attempt(bucket, limit, now).await?
            {
                for (earlier, _) in &buckets[..i] {
                    self.store.refund_attempt(earlier).await?;
                }
                return Err(ServiceError::RateLimited { retry_after });
            }
        }
        Ok(())
    }

    /// `checked` as it is, after giving back the attempts reserved in `buckets` when it is a busy
    /// refusal: nothing was verified, so nothing counts.
    pub(super) async fn refund_if_busy<T>(
        &self,
        buckets: &Buckets,
        checked: Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        if let Err(ServiceError::Busy { .. }) = &checked {
            for (bucket, _) in buckets {
                self.store.refund_attempt(bucket).await?;
            }
        }
        checked
    }

    /// After a success: the account starts again from nothing, and the address gets its attempt
    /// back (it counts failures only).
    pub(super) async fn attempt_succeeded(&self, buckets: &Buckets) -> Result<(), ServiceError> {
        let [(address, _), (account, _)] = buckets;
        self.store.refund_attempt(address).await?;
        self.store.clear_attempts(account).await?;
        Ok(())
    }

    /// Gives back the attempt in every bucket (what was tried was no guess).
    pub(super) async fn refund_attempt(&self, buckets: &Buckets) -> Result<(), ServiceError> {
        for (bucket, _) in buckets {
            self.store.refund_attempt(bucket).await?;
        }
        Ok(())
    }

    /// Whether `code` is the TOTP code of the previous, current or next 30-second step, not used
    /// before; marks its step used.
    async fn accept_totp(
        &self,
        citizen_id: &CitizenId,
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

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;
