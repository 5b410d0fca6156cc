//! Office clerks: their accounts (`civkey-server clerk add`), logging in at the counter page with
//! a password and a TOTP code (clerks create identities and lift BOK blocks, so a password alone
//! is not enough) under the same failed-attempt limits as the portal, and counter sessions of 8
//! hours. Clerks from before the second factor have no TOTP secret and cannot log in until an
//! operator runs `civkey-server clerk totp-reset` ([`reset_clerk_totp`]). Clerks are a role
//! of their own: their sessions live in another table under another cookie, so a clerk's session
//! opens no citizen page and a citizen's opens no counter page.

use civkey_proto::otp::{Algorithm, OtpAccount, OtpKind, OtpSecret};
use civkey_proto::ErrorCode;
use zeroize::Zeroizing;

use super::citizens::{check_username, new_totp_account};
use super::portal_signin::{totp_step, LoggedIn};
use super::secrets::{hash_secret, random_token, token_hash, verify_secret, DUMMY_HASH};
use super::{ServiceError, Services};
use crate::domain::ClerkId;
use crate::store::{ClerkSession, NewClerk, Store};

/// How long a counter session lives: one working day.
pub const CLERK_SESSION_TTL_SECS: u64 = 8 * 60 * 60;

/// The shortest clerk password accepted (as for citizens).
pub const MIN_CLERK_PASSWORD_CHARS: usize = super::citizens::MIN_PASSWORD_CHARS;

/// Checks a name shown to people (a full name, an office): 1–100 characters after trimming, no
/// control characters. Returns it trimmed.
fn check_label<'a>(text: &'a str, what: &str) -> Result<&'a str, ServiceError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 100 || text.chars().any(char::is_control) {
        return Err(ServiceError::refused(
            ErrorCode::BadRequest,
            format!("the {what} must be 1 to 100 characters"),
        ));
    }
    Ok(text)
}

/// The issuer in clerks' TOTP enrolment URIs: not the citizens' `civkey`, so a clerk who is also
/// a citizen sees two distinct entries in one authenticator app.
pub const CLERK_TOTP_ISSUER: &str = "civkey-counter";

/// What adding a clerk hands out once: the clerk's id and the authenticator URI.
pub struct ClerkEnrolment {
    /// The new clerk's id.
    pub clerk_id: ClerkId,
    /// `otpauth://totp/civkey-counter:USERNAME?…`, for the clerk's authenticator app. A secret:
    /// printed once, never logged.
    pub otpauth_uri: Zeroizing<String>,
}

/// The authenticator URI of a clerk's stored base32 TOTP secret (the demo prints its clerk's
/// again at every start); `None` when the secret is not valid base32.
pub fn clerk_otpauth_uri(username: &str, secret: &str) -> Option<Zeroizing<String>> {
    let secret = OtpSecret::from_base32(secret).ok()?;
    let account = OtpAccount {
        kind: OtpKind::Totp { period: 30 },
        issuer: Some(CLERK_TOTP_ISSUER.to_string()),
        account: username.to_string(),
        secret,
        algorithm: Algorithm::Sha1,
        digits: 6,
    };
    Some(Zeroizing::new(account.to_uri()))
}

/// Gives the clerk `username` a new TOTP secret, for a lost authenticator or a clerk from before
/// the second factor; the old authenticator stops working and the clerk's counter sessions end.
/// Returns the new authenticator URI (shown once).
pub async fn reset_clerk_totp(
    store: &Store,
    username: &str,
) -> Result<Zeroizing<String>, ServiceError> {
    let account = new_totp_account(CLERK_TOTP_ISSUER, username)?;
    let secret = account.secret.to_base32();
    if !store.reset_clerk_totp(username, &secret).await? {
        return Err(ServiceError::refused(
            ErrorCode::NotFound,
            "no clerk with that username",
        ));
    }
    Ok(Zeroizing::new(account.to_uri()))
}

/// Adds a clerk of `office_name` with a fresh TOTP secret; returns the new clerk's id and
/// authenticator URI.
pub async fn add_clerk(
    store: &Store,
    now: u64,
    username: &str,
    full_name: &str,
    office_name: &str,
    password: &str,
) -> Result<ClerkEnrolment, ServiceError> {
    check_username(username)?;
    let full_name = check_label(full_name, "full name")?;
    let office_name = check_label(office_name, "office name")?;
    if password.chars().count() < MIN_CLERK_PASSWORD_CHARS {
        return Err(ServiceError::refused(
            ErrorCode::BadRequest,
            format!("the password must have at least {MIN_CLERK_PASSWORD_CHARS} characters"),
        ));
    }
    let account = new_totp_account(CLERK_TOTP_ISSUER, username)?;
    let id = ClerkId::new_random();
    store
        .insert_clerk(
            &NewClerk {
                id: id.clone(),
                username: username.to_string(),
                full_name: full_name.to_string(),
                office_name: office_name.to_string(),
                password_hash: hash_secret(password).await?,
                totp_secret: account.secret.to_base32().to_string(),
            },
            now,
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Duplicate(_) => ServiceError::refused(
                ErrorCode::BadRequest,
                "that clerk username is already taken",
            ),
            other => other.into(),
        })?;
    Ok(ClerkEnrolment {
        clerk_id: id,
        otpauth_uri: Zeroizing::new(account.to_uri()),
    })
}

impl Services {
    /// A clerk logs in at the counter with username, password and a current TOTP code (±1 time
    /// step, each step once). Failures are limited per clerk account and per client address like
    /// the portal's logins; an unknown username costs the same Argon2id work as a wrong password.
    /// A clerk without a TOTP secret (added before the second factor) is refused with
    /// [`ErrorCode::Forbidden`] once the password is right, until `clerk totp-reset`.
    pub async fn login_clerk(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
        address: &str,
    ) -> Result<LoggedIn, ServiceError> {
        let result = self
            .login_clerk_attempt(username, password, totp_code, address)
            .await;
        self.metrics
            .login(crate::metrics::LoginMeans::Clerk, &result);
        result
    }

    /// The attempt [`Services::login_clerk`] counts in the metrics.
    async fn login_clerk_attempt(
        &self,
        username: &str,
        password: &str,
        totp_code: &str,
        address: &str,
    ) -> Result<LoggedIn, ServiceError> {
        let buckets = super::portal_signin::login_buckets("clerk", username, address);
        self.reserve_attempt(&buckets).await?;
        let clerk = self.store.clerk_by_username(username).await?;
        let hash = clerk
            .as_ref()
            .map_or(DUMMY_HASH, |c| c.password_hash.as_str());
        let password_ok = verify_secret(password, hash).await;
        let password_ok = self.refund_if_busy(&buckets, password_ok).await?;
        let clerk = clerk.filter(|_| password_ok);
        if let Some(c) = &clerk {
            if c.totp_secret.is_none() {
                return Err(ServiceError::refused(
                    ErrorCode::Forbidden,
                    "this clerk has no authenticator yet: an operator must run \
                     `civkey-server clerk totp-reset USERNAME`",
                ));
            }
        }
        let code_ok = match &clerk {
            Some(c) => match totp_step(c.totp_secret.as_deref(), totp_code, self.clock.now()) {
                Some(step) => self.store.use_clerk_totp_step(&c.id, step).await?,
                None => false,
            },
            None => false,
        };
        let Some(clerk) = clerk.filter(|_| code_ok) else {
            return Err(ServiceError::refused(
                ErrorCode::WrongCredentials,
                "wrong username, password or code",
            ));
        };
        self.attempt_succeeded(&buckets).await?;
        let token = Zeroizing::new(random_token());
        let csrf = random_token();
        let now = self.clock.now();
        let expires_at = now + CLERK_SESSION_TTL_SECS;
        self.store
            .insert_clerk_session(&token_hash(&token), &clerk.id, &csrf, now, expires_at)
            .await?;
        Ok(LoggedIn {
            token,
            csrf,
            expires_at,
            known_browser: None,
        })
    }

    /// The live counter session for a cookie token (never a citizen's session).
    pub async fn clerk_session(&self, token: &str) -> Result<Option<ClerkSession>, ServiceError> {
        Ok(self
            .store
            .clerk_session(&token_hash(token), self.clock.now())
            .await?)
    }

    /// Ends the counter session of a cookie token.
    pub async fn logout_clerk(&self, token: &str) -> Result<(), ServiceError> {
        Ok(self
            .store
            .delete_clerk_session(&token_hash(token), self.clock.now())
            .await?)
    }
}

/// The code the authenticator of the clerk `username` shows at `at` (tests log clerks in with it).
#[cfg(test)]
pub(crate) async fn clerk_code_for_tests(store: &Store, username: &str, at: u64) -> String {
    let secret = store
        .clerk_by_username(username)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.totp_secret)
        .and_then(|s| OtpSecret::from_base32(&s).ok())
        .expect("a clerk with a TOTP secret");
    civkey_proto::otp::totp(secret.expose(), Algorithm::Sha1, 6, 30, at).code
}

#[cfg(test)]
mod tests;
