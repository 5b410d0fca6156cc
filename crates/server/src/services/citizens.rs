//! Enrolling citizens with their existing means: a password (Argon2id) and a TOTP authenticator,
//! with a deletion code shown once.

use civkey_proto::otp::{Algorithm as OtpAlgorithm, OtpAccount, OtpKind, OtpSecret};
use civkey_proto::ErrorCode;
use rand::RngCore;
use zeroize::Zeroizing;

use super::secrets::{hash_secret, token_hash};
use super::{ServiceError, Services};
use crate::domain::CitizenId;
use crate::store::{CitizenRecord, LoginHistoryEntry, NewCitizen, Store};

/// The issuer name in TOTP enrolment URIs.
pub const TOTP_ISSUER: &str = "civkey";

/// What enrolment hands out once: the authenticator URI and the deletion code. Neither is stored
/// in a form that could show them again.
pub struct Enrolment {
    /// The new citizen's id.
    pub citizen_id: CitizenId,
    /// `otpauth://totp/civkey:USERNAME?…` for the citizen's authenticator app.
    pub otpauth_uri: Zeroizing<String>,
    /// Removes the TOTP enrolment when the authenticator is lost (`XXXX-XXXX-XXXX-XXXX`).
    pub deletion_code: Zeroizing<String>,
}

/// Checks a username: 3–32 characters from `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn check_username(username: &str) -> Result<(), ServiceError> {
    let ok = (3..=32).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && username
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ServiceError::refused(
            ErrorCode::BadRequest,
            "a username has 3 to 32 characters: lower-case letters, digits, '.', '_' or '-'",
        ))
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Creates a citizen with a password and a fresh TOTP enrolment.
pub async fn add_citizen(
    store: &Store,
    now: u64,
    username: &str,
    full_name: &str,
    email: Option<&str>,
    password: &str,
) -> Result<Enrolment, ServiceError> {
    check_username(username)?;
    let full_name = full_name.trim();
    if full_name.is_empty()
        || full_name.chars().count() > 100
        || full_name.chars().any(char::is_control)
    {
        return Err(ServiceError::refused(
            ErrorCode::BadRequest,
            "the full name must be 1 to 100 characters",
        ));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServiceError::refused(
            ErrorCode::BadRequest,
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if let Some(email) = email {
        if !looks_like_email(email) {
            return Err(ServiceError::refused(
                ErrorCode::BadRequest,
                "the e-mail address is not valid",
            ));
        }
    }

    let account = new_totp_account(TOTP_ISSUER, username)?;
    let deletion_code = Zeroizing::new(new_deletion_code());
    let id = CitizenId::new_random();
    store
        .insert_citizen(
            &NewCitizen {
                id: id.clone(),
                username: username.to_string(),
                full_name: full_name.to_string(),
                email: email.map(str::to_string),
                password_hash: hash_secret(password).await?,
                totp_secret: Some(account.secret.to_base32().to_string()),
                totp_deletion_hash: Some(token_hash(&normalise_code(&deletion_code))),
            },
            now,
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Duplicate(_) => {
                ServiceError::refused(ErrorCode::BadRequest, "that username is already taken")
            }
            other => other.into(),
        })?;
    Ok(Enrolment {
        citizen_id: id,
        otpauth_uri: Zeroizing::new(account.to_uri()),
        deletion_code,
    })
}

/// A fresh TOTP enrolment for `account` at `issuer`: a random 160-bit secret, SHA-1, 6 digits,
/// 30 seconds (what every authenticator app reads).
pub(crate) fn new_totp_account(issuer: &str, account: &str) -> Result<OtpAccount, ServiceError> {
    let mut secret_bytes = Zeroizing::new(vec![0u8; 20]);
    rand::rngs::OsRng.fill_bytes(&mut secret_bytes);
    let secret = OtpSecret::from_bytes(secret_bytes.to_vec())
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(OtpAccount {
        kind: OtpKind::Totp { period: 30 },
        issuer: Some(issuer.to_string()),
        account: account.to_string(),
        secret,
        algorithm: OtpAlgorithm::Sha1,
        digits: 6,
    })
}

pub(crate) fn looks_like_email(email: &str) -> bool {
    let parts: Vec<&str> = email.split('@').collect();
    email.len() <= 254
        && parts.len() == 2
        && !parts[0].is_empty()
        && parts[1].contains('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// 16 characters of Crockford-style base32 (80 bits), grouped `XXXX-XXXX-XXXX-XXXX`.
fn new_deletion_code() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    bytes.iter_mut().for_each(|b| *b = 0);
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// A deletion code as typed: case and separators do not matter.
pub fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl Services {
    /// The citizen with this id, if any (the portal's pages show their name and means).
    pub async fn citizen(
        &self,
        citizen_id: &CitizenId,
    ) -> Result<Option<CitizenRecord>, ServiceError> {
        Ok(self.store.citizen_by_id(citizen_id).await?)
    }

    /// The citizen's most recent logins to services, newest first.
    pub async fn login_history(
        &self,
        citizen_id: &CitizenId,
        limit: u32,
    ) -> Result<Vec<LoginHistoryEntry>, ServiceError> {
        Ok(self.store.login_history(citizen_id, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::secrets::verify_secret;
    use crate::store::tests::temp_store;

    #[tokio::test]
    async fn enrolment_gives_a_working_authenticator_uri_and_a_deletion_code() {
        let (store, _dir) = temp_store().await;
        let e = add_citizen(
            &store,
            1000,
            "jana",
            "Jana Nováková",
            Some("jana@example.cz"),
            "correct horse battery",
        )
        .await
        .unwrap();
        let account = OtpAccount::parse_uri(&e.otpauth_uri).unwrap();
        assert_eq!(account.issuer.as_deref(), Some("civkey"));
        assert_eq!(account.account, "jana");
        assert_eq!(e.deletion_code.len(), 19);
        let stored = store.citizen_by_username("jana").await.unwrap().unwrap();
        assert!(
            verify_secret("correct horse battery", &stored.password_hash)
                .await
                .unwrap()
        );
        assert!(!verify_secret("wrong horse battery", &stored.password_hash)
            .await
            .unwrap());
        assert!(stored.password_hash.starts_with("$argon2id$"));
        assert_eq!(
            stored.totp_deletion_hash.unwrap(),
            token_hash(&normalise_code(&e.deletion_code))
        );
    }

    #[tokio::test]
    async fn bad_enrolments_are_refused_and_store_nothing() {
        let (store, _dir) = temp_store().await;
        for (user, name, password) in [
            ("J", "Jana", "long enough pw"),
            ("jana!", "Jana", "long enough pw"),
            ("jana", "", "long enough pw"),
            ("jana", "Jana", "short"),
        ] {
            assert!(
                add_citizen(&store, 1, user, name, None, password)
                    .await
                    .is_err(),
                "{user} {name}"
            );
        }
        assert!(store.list_citizens().await.unwrap().is_empty());
        add_citizen(&store, 1, "jana", "Jana", None, "long enough pw")
            .await
            .unwrap();
        let again = add_citizen(&store, 1, "jana", "Jana", None, "long enough pw").await;
        assert!(matches!(
            again,
            Err(ServiceError::Refused {
                code: ErrorCode::BadRequest,
                ..
            })
        ));
    }
}
