//! Office clerks: their accounts (`civkey-server clerk add`), logging in at the counter page with
//! the same failed-attempt limits as the portal, and counter sessions of 8 hours. Clerks are a role
//! of their own: their sessions live in another table under another cookie, so a clerk's session
//! opens no citizen page and a citizen's opens no counter page.

use civkey_proto::ErrorCode;
use zeroize::Zeroizing;

use super::auth::{random_token, LoggedIn, DUMMY_HASH};
use super::citizens::{check_username, hash_secret, random_id, token_hash, verify_secret};
use super::{ServiceError, Services};
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

/// Adds a clerk of `office_name`; returns the new clerk's id.
pub async fn add_clerk(
    store: &Store,
    now: u64,
    username: &str,
    full_name: &str,
    office_name: &str,
    password: &str,
) -> Result<String, ServiceError> {
    check_username(username)?;
    let full_name = check_label(full_name, "full name")?;
    let office_name = check_label(office_name, "office name")?;
    if password.chars().count() < MIN_CLERK_PASSWORD_CHARS {
        return Err(ServiceError::refused(
            ErrorCode::BadRequest,
            format!("the password must have at least {MIN_CLERK_PASSWORD_CHARS} characters"),
        ));
    }
    let id = random_id();
    store
        .insert_clerk(
            &NewClerk {
                id: id.clone(),
                username: username.to_string(),
                full_name: full_name.to_string(),
                office_name: office_name.to_string(),
                password_hash: hash_secret(password)?,
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
    Ok(id)
}

impl Services {
    /// A clerk logs in at the counter with username and password. Failures are limited per clerk
    /// account and per client address like the portal's logins; an unknown username costs the
    /// same Argon2id work as a wrong password.
    pub async fn login_clerk(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<LoggedIn, ServiceError> {
        let buckets = super::auth::login_buckets("clerk", username, address);
        self.reserve_attempt(&buckets).await?;
        let clerk = self.store.clerk_by_username(username).await?;
        let hash = clerk
            .as_ref()
            .map_or(DUMMY_HASH, |c| c.password_hash.as_str());
        let password_ok = verify_secret(password, hash);
        let Some(clerk) = clerk.filter(|_| password_ok) else {
            return Err(ServiceError::refused(
                ErrorCode::WrongCredentials,
                "wrong username or password",
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
