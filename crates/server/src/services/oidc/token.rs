//! The token and userinfo endpoints: a service exchanges an authorization code (its secret and
//! the PKCE verifier) for an ES256 ID token with a pairwise `sub` and an access token for
//! [`Services::userinfo`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use civkey_proto::oidc::{self as wire, IdTokenClaims, OAuthErrorBody, UserInfo, ACR_LEVELS};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::keys::ID_TOKEN_TTL_SECS;
use crate::domain::{CitizenId, ClientId};
use crate::services::secrets::{random_id, token_hash};
use crate::services::{ServiceError, Services};
use crate::store::Means;

/// How long an access token is good for `userinfo`.
pub const ACCESS_TOKEN_TTL_SECS: u64 = 300;

/// The PKCE code verifier's form (RFC 7636 section 4.1): 43 to 128 unreserved characters.
fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An OAuth error at the token or userinfo endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: u16,
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `invalid_token`, `server_error`.
    pub error: &'static str,
    /// A short explanation.
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> OAuthErrorBody {
        OAuthErrorBody {
            error: self.error.to_string(),
            error_description: self.description.clone(),
        }
    }
}

impl From<ServiceError> for OAuthError {
    fn from(e: ServiceError) -> Self {
        OAuthError::new(500, "server_error", e.to_string())
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::from(ServiceError::from(e))
    }
}

/// The ID token's `amr` (RFC 8176) and `acr` for how the citizen logged in.
pub(super) fn authentication_methods(means: Means) -> (&'static [&'static str], &'static str) {
    match means {
        Means::MobileKey => (&["hwk", "pop"], ACR_LEVELS[2]),
        Means::PasswordTotp => (&["pwd", "otp", "mfa"], ACR_LEVELS[1]),
        Means::EmailCode => (&["otp"], ACR_LEVELS[0]),
    }
}

/// What the token endpoint answers.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// The ID token (compact JWS).
    pub id_token: String,
    /// The access token for userinfo.
    pub access_token: Zeroizing<String>,
    /// Its lifetime in seconds.
    pub expires_in: u64,
    /// The scopes granted.
    pub scope: String,
}

impl TokenResponse {
    /// The JSON body.
    pub fn body(&self) -> wire::TokenResponse {
        wire::TokenResponse {
            access_token: self.access_token.to_string(),
            token_type: "Bearer".into(),
            expires_in: self.expires_in,
            id_token: self.id_token.clone(),
            scope: self.scope.clone(),
        }
    }
}

/// Whether the space-separated `scope` grants the citizen's name.
fn has_profile(scope: &str) -> bool {
    scope.split(' ').any(|s| s == "profile")
}

pub(super) fn pkce_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

impl Services {
    /// The token endpoint: the service proves itself (secret) and the code's origin (PKCE).
    pub async fn exchange_code(
        &self,
        client_id: &ClientId,
        client_secret: &str,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self
            .client(client_id)
            .await?
            .filter(|c| {
                bool::from(
                    token_hash(client_secret)
                        .as_bytes()
                        .ct_eq(c.secret_hash.as_bytes()),
                )
            })
            .ok_or_else(|| {
                OAuthError::new(401, "invalid_client", "unknown client or wrong secret")
            })?;
        let now = self.clock.now();
        let invalid = |why: &str| OAuthError::new(400, "invalid_grant", why);
        let code_hash = token_hash(code);
        let Some(record) = self.store.use_authorization_code(&code_hash, now).await? else {
            // A code used twice may have been stolen: what it gave is taken back (RFC 6749
            // section 4.1.2).
            if self.store.revoke_tokens_of_used_code(&code_hash).await? {
                tracing::warn!(client = %client.id, "an authorization code was used twice; its tokens were revoked");
                return Err(invalid(
                    "the code was already used; the tokens issued from it are revoked",
                ));
            }
            return Err(invalid("the code is unknown or expired"));
        };
        if record.client_id != client.id {
            return Err(invalid("the code was issued to another client"));
        }
        if record.redirect_uri != redirect_uri {
            return Err(invalid(
                "redirect_uri does not match the authorization request",
            ));
        }
        if !is_code_verifier(code_verifier)
            || !bool::from(
                pkce_challenge(code_verifier)
                    .as_bytes()
                    .ct_eq(record.code_challenge.as_bytes()),
            )
        {
            return Err(invalid("the PKCE code_verifier does not match"));
        }
        let citizen_id = record
            .citizen_id
            .clone()
            .ok_or_else(|| invalid("the request was not approved"))?;
        let citizen = self
            .store
            .citizen_by_id(&citizen_id)
            .await?
            .ok_or_else(|| invalid("the citizen no longer exists"))?;
        let sub = self.pairwise_sub(&client.sector, &citizen_id).await?;
        let (amr, acr) = authentication_methods(record.means.unwrap_or(Means::MobileKey));
        let claims = IdTokenClaims {
            iss: self.origin.as_str().to_string(),
            sub,
            aud: client.id.to_string(),
            iat: now,
            exp: now + ID_TOKEN_TTL_SECS,
            auth_time: record.auth_time.or(record.decided_at).unwrap_or(now),
            amr: amr.iter().map(|m| m.to_string()).collect(),
            acr: acr.to_string(),
            nonce: record.nonce.clone(),
            name: has_profile(&record.scope).then(|| citizen.full_name.clone()),
        };
        let id_token = self.sign_jwt(&claims).await?;
        let access_token = Zeroizing::new(format!("{}{}", random_id(), random_id()));
        self.store
            .insert_access_token(
                &token_hash(&access_token),
                &record.id,
                &client.id,
                &citizen_id,
                &record.scope,
                now + ACCESS_TOKEN_TTL_SECS,
            )
            .await?;
        Ok(TokenResponse {
            id_token,
            access_token,
            expires_in: ACCESS_TOKEN_TTL_SECS,
            scope: record.scope,
        })
    }

    /// The userinfo endpoint: who the access token's citizen is, to that service.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, OAuthError> {
        // The token's citizen comes with it (a token dies with its citizen: ON DELETE CASCADE).
        let token = self
            .store
            .access_token(&token_hash(access_token), self.clock.now())
            .await?
            .ok_or_else(|| OAuthError::new(401, "invalid_token", "unknown or expired token"))?;
        let client = self
            .client(&token.client_id)
            .await?
            .ok_or_else(|| OAuthError::new(401, "invalid_token", "the service was removed"))?;
        Ok(UserInfo {
            sub: self.pairwise_sub(&client.sector, &token.citizen_id).await?,
            name: has_profile(&token.scope).then_some(token.full_name),
        })
    }

    /// The citizen's subject identifier for one sector: HMAC-SHA256 under a server-wide key, so
    /// services on different hosts cannot link a citizen and nobody can reverse it.
    pub async fn pairwise_sub(
        &self,
        sector: &str,
        citizen_id: &CitizenId,
    ) -> Result<String, ServiceError> {
        let key = self.pairwise_key().await?;
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
            .map_err(|_| ServiceError::Internal("the pairwise key is unusable".into()))?;
        mac.update(sector.as_bytes());
        mac.update(&[0]);
        mac.update(citizen_id.as_str().as_bytes());
        Ok(B64.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests;
